//! AVX2 int8 convolution primitives (bit-exact with `super::scalar`: integer sums in wrapping i32
//! are exact in any order), and an AVX-VNNI pointwise block when `avxvnni` is detected.

use super::{scalar, Depthwise, DwCall, DwScratch, Pointwise, PwWeights, RowEp};
use std::arch::x86_64::*;

/// Installs the AVX2 primitives; only called after `avx2` was detected.
pub(crate) fn install_avx2(k: &mut crate::Kernels) {
    // SAFETY (the closures below): installed only after the features of their `#[target_feature]`
    // rows were detected (the caller's contract, above), the rows' only precondition beyond the
    // slice lengths they `assert!` (or clamp to) before any pointer arithmetic.
    k.dw_channel = |x, c, w, b, s, a| unsafe { dw_channel(x, c, w, b, s, a) };
    k.pw_pack = |w, sh, b| pw_pack(w, sh, b, false);
    k.pw_block = |x, sh, p0, w, pk, s, a| unsafe { pw_block_avx2(x, sh, p0, w, pk, s, a) };
    k.ep_i8 = |a, e, o| unsafe { epilogue_i8(a, e, o) };
    k.ep_f32 = |a, e, o| unsafe { epilogue_f32(a, e, o) };
    for n in ["qconv_dw", "qconv_pw", "qconv_epilogue"] {
        k.set_name(n, "avx2");
    }
}

/// On top of [`install_avx2`]: the pointwise block on `vpdpbusd`; only called after `avx2` and
/// `avxvnni` were detected.
pub(crate) fn install_avxvnni(k: &mut crate::Kernels) {
    // SAFETY (the closures below): installed only after the features of their `#[target_feature]`
    // rows were detected (the caller's contract, above), the rows' only precondition beyond the
    // slice lengths they `assert!` (or clamp to) before any pointer arithmetic.
    k.dw_channel = |x, c, w, b, s, a| unsafe { dw_channel_vnni(x, c, w, b, s, a) };
    k.pw_pack = |w, sh, b| pw_pack(w, sh, b, true);
    k.pw_block = |x, sh, p0, w, pk, s, a| unsafe { pw_block_vnni(x, sh, p0, w, pk, s, a) };
    k.set_name("qconv_dw", "avxvnni");
    k.set_name("qconv_pw", "avxvnni");
}

/// On top of [`install_avx2`]: the pointwise block on 512-bit `vpdpbusd`; only called after
/// `avx512f`, `avx512bw`, `avx512vl` and `avx512vnni` were detected.
pub(crate) fn install_avx512vnni(k: &mut crate::Kernels) {
    // SAFETY (the closures below): installed only after the features of their `#[target_feature]`
    // rows were detected (the caller's contract, above), the rows' only precondition beyond the
    // slice lengths they `assert!` (or clamp to) before any pointer arithmetic.
    k.pw_pack = |w, sh, b| pw_pack(w, sh, b, true);
    k.dw_channel = |x, c, w, b, s, a| unsafe { dw_channel_512(x, c, w, b, s, a) };
    k.pw_block = |x, sh, p0, w, pk, s, a| unsafe { pw_block_vnni512(x, sh, p0, w, pk, s, a) };
    k.set_name("qconv_dw", "avx512vnni");
    k.ep_i8 = |a, e, o| unsafe { epilogue_i8_512(a, e, o) };
    k.ep_f32 = |a, e, o| unsafe { epilogue_f32_512(a, e, o) };
    k.set_name("qconv_pw", "avx512vnni");
    k.set_name("qconv_epilogue", "avx512");
}

/// Depthwise on a *pair plane*: i32 words of two adjacent i16 values `(v[j], v[j+1])` of a padded
/// row with the zero point removed, so that one `madd_epi16` against the weight pair
/// `(w[ky][2t], w[ky][2t+1])` applies two taps of a row to 8 outputs (an odd last tap pairs with
/// weight 0). Stride 2 reads pairs `(v[2i], v[2i+1])`: the padded i16 row itself. Stride 1 needs the
/// overlapping pairs `(v[i], v[i+1])`: built once per input row by interleaving the row with
/// itself shifted by one (straight from the input: no reload of just-stored values). 3×3: 6 madds
/// per 8 outputs (was 9 of half-used madds); 5×5: 15 (was 25); with VNNI, `vpdpwssd` fuses the
/// add (non-saturating: wrapping like the reference). 16 or 32 outputs per step; a row's last step
/// writes up to 31 values into the next row (computed after it) or the accumulator slack.
///
/// This builds the pair plane of one channel and returns the i16 distance between consecutive
/// output rows, the tap-pair offsets and the weight pairs.
#[target_feature(enable = "avx2")]
#[allow(clippy::type_complexity)]
unsafe fn dw_plane(
    x: &[i8],
    call: &DwCall,
    w: &[i8],
    scratch: &mut DwScratch,
    acc: &[i32],
) -> (usize, [usize; 15], [i32; 15]) {
    let &DwCall { shape, oh, ow, x_zp } = call;
    let &Depthwise { height: h, width: wd, kernel: k, stride: s, pad: [pt, pl, pb, pr], .. } = shape;
    let (ph, pw) = (h + pt + pb, wd + pl + pr);
    // Pair words per plane row: covers every read of whole 32-output steps (see the bounds below).
    let np = pw + 40;
    let rl = 2 * np; // i16 per plane row
    let plane_len = ph * rl + 64;
    assert!(x.len() == h * wd && w.len() == k * k && (k == 3 || k == 5) && (s == 1 || s == 2));
    // Bounds: steps (16 or 32 outputs) cover outputs < ow + 31; stride 1 reads pair `i + 2t`
    // (2t ≤ k − 1), stride 2 reads pair `i + t` (t ≤ 2): both < pw + 31 ≤ np, in rows
    // oy·s + ky < ph.
    assert!(acc.len() >= oh * ow + 31 && (oh - 1) * s + k <= ph && (ow - 1) * s + k <= pw);
    let zp = _mm256_set1_epi16(x_zp as i16);
    if scratch.plane.len() != plane_len {
        scratch.plane.clear();
        scratch.plane.resize(plane_len, 0);
    }
    let plane = scratch.plane.as_mut_ptr();
    let zp16 = x_zp as i16;
    for (y, src) in x.chunks_exact(wd).enumerate() {
        let prow = plane.add((y + pt) * rl);
        if s == 2 {
            // The padded, zero-point-removed i16 row, straight into the plane.
            let mut xi = 0;
            while xi + 16 <= wd {
                let v = _mm256_cvtepi8_epi16(_mm_loadu_si128(src.as_ptr().add(xi) as *const __m128i));
                _mm256_storeu_si256(prow.add(pl + xi) as *mut __m256i, _mm256_sub_epi16(v, zp));
                xi += 16;
            }
            for (j, &v) in src.iter().enumerate().skip(xi) {
                *prow.add(pl + j) = v as i16 - zp16;
            }
        } else {
            // Pairs P[j] = (v[j], v[j+1]) of the padded row v, straight from the input (reading
            // back just-stored values at a shifted address would stall store forwarding). P[pl + i]
            // = (x[i], x[i+1]) − zp for i + 1 < wd: 16 at a time, the last step overlapping; the
            // pairs that hold padding are written singly (all-padding pairs stay zero).
            let pairs = |i: usize| {
                let a = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128(src.as_ptr().add(i) as *const __m128i)), zp);
                let b = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128(src.as_ptr().add(i + 1) as *const __m128i)), zp);
                let (lo, hi) = (_mm256_unpacklo_epi16(a, b), _mm256_unpackhi_epi16(a, b));
                let d = prow.add(2 * (pl + i));
                _mm256_storeu_si256(d as *mut __m256i, _mm256_permute2x128_si256(lo, hi, 0x20));
                _mm256_storeu_si256(d.add(16) as *mut __m256i, _mm256_permute2x128_si256(lo, hi, 0x31));
            };
            let mut i = 0;
            if wd >= 17 {
                while i + 17 <= wd {
                    pairs(i);
                    i += 16;
                }
                if i + 1 < wd {
                    pairs(wd - 17);
                }
                i = wd - 1;
            }
            for i in i..wd {
                let b = if i + 1 < wd { src[i + 1] as i16 - zp16 } else { 0 };
                *prow.add(2 * (pl + i)) = src[i] as i16 - zp16;
                *prow.add(2 * (pl + i) + 1) = b;
            }
            if pl > 0 {
                *prow.add(2 * (pl - 1) + 1) = src[0] as i16 - zp16;
            }
        }
    }
    let step = if s == 1 { 2 } else { 1 };
    let pair = |a: i8, b: i8| (a as i16 as u16 as u32 | ((b as i16 as u16 as u32) << 16)) as i32;
    let np2 = k.div_ceil(2);
    let mut offs = [0usize; 15];
    let mut wp = [0i32; 15];
    for ky in 0..k {
        for t in 0..np2 {
            let b = if 2 * t + 1 < k { w[ky * k + 2 * t + 1] } else { 0 };
            offs[ky * np2 + t] = ky * rl + 2 * t * step;
            wp[ky * np2 + t] = pair(w[ky * k + 2 * t], b);
        }
    }
    (rl * s, offs, wp)
}

/// A depthwise channel on [`dw_plane`] with the multiply-accumulate `$mac` of i16 pairs into i32
/// lanes (`madd` + `add`, or the fused `vpdpwssd`), two vectors of `$lanes` outputs per step.
macro_rules! dw_channel_fn {
    ($name:ident, $rows:ident, $feat:literal, $vt:ty, $lanes:literal, $load:ident, $store:ident, $set1:ident,
     |$a:ident, $x:ident, $w:ident| $mac:expr) => {
        #[target_feature(enable = $feat)]
        unsafe fn $name(x: &[i8], call: &DwCall, w: &[i8], bias: i32, scratch: &mut DwScratch, acc: &mut [i32]) {
            let (row_step, offs, wp) = dw_plane(x, call, w, scratch, acc);
            let mut wv = [$set1(0); 15];
            for (v, &p) in wv.iter_mut().zip(&wp) {
                *v = $set1(p);
            }
            let (plane, accp) = (scratch.plane.as_ptr(), acc.as_mut_ptr());
            if call.shape.kernel == 3 {
                $rows::<6>(plane, row_step, call.oh, call.ow, &offs, &wv, bias, accp);
            } else {
                $rows::<15>(plane, row_step, call.oh, call.ow, &offs, &wv, bias, accp);
            }
        }

        #[target_feature(enable = $feat)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $rows<const NT: usize>(
            plane: *const i16,
            row_step: usize,
            oh: usize,
            ow: usize,
            offs: &[usize; 15],
            wv: &[$vt; 15],
            bias: i32,
            acc: *mut i32,
        ) {
            let b = $set1(bias);
            for oy in 0..oh {
                let src = plane.add(oy * row_step);
                let dst = acc.add(oy * ow);
                let mut i = 0;
                while i < ow {
                    let p = src.add(2 * i);
                    let (mut a0, mut a1) = (b, b);
                    for t in 0..NT {
                        let q = p.add(offs[t]);
                        let $w = wv[t];
                        let ($a, $x) = (a0, $load(q as *const $vt));
                        a0 = $mac;
                        let ($a, $x) = (a1, $load(q.add(2 * $lanes) as *const $vt));
                        a1 = $mac;
                    }
                    $store(dst.add(i) as *mut $vt, a0);
                    $store(dst.add(i + $lanes) as *mut $vt, a1);
                    i += 2 * $lanes;
                }
            }
        }
    };
}

dw_channel_fn!(dw_channel, dw_rows, "avx2", __m256i, 8, _mm256_loadu_si256, _mm256_storeu_si256, _mm256_set1_epi32,
    |a, x, w| _mm256_add_epi32(a, _mm256_madd_epi16(x, w)));
dw_channel_fn!(dw_channel_vnni, dw_rows_vnni, "avx2,avxvnni", __m256i, 8, _mm256_loadu_si256, _mm256_storeu_si256,
    _mm256_set1_epi32, |a, x, w| _mm256_dpwssd_avx_epi32(a, x, w));
dw_channel_fn!(dw_channel_512, dw_rows_512, "avx2,avx512f,avx512bw,avx512vl,avx512vnni", __m512i, 16, _mm512_loadu_si512,
    _mm512_storeu_si512, _mm512_set1_epi32, |a, x, w| _mm512_dpwssd_epi32(a, x, w));

/// Weights packed once per call as `[output / 4][group][4]` words (`group`: a channel pair as two
/// i16 for `madd`, a channel quad as four i8 for `vpdpbusd`), outputs padded to a multiple of 4
/// with zero weights so that every tile is full. `vpdpbusd` multiplies unsigned bytes: the pixels
/// go in as `x + 128` (`x ^ 0x80`), and `Σ w·(x + 128) − 128·Σ w = Σ w·x` moves into the bias.
fn pw_pack(w: &[i8], shape: &Pointwise, bias: &[i32], vnni: bool) -> PwWeights {
    let &Pointwise { inputs: c, outputs: o, .. } = shape;
    let g = if vnni { 4 } else { 2 };
    let (cg, o4) = (c.div_ceil(g), o.div_ceil(4));
    let mut ws = vec![0i32; o4 * cg * 4];
    let mut b = vec![0i32; o4 * 4];
    for (oc, row) in w.chunks_exact(c).take(o).enumerate() {
        let dst = &mut ws[(oc / 4) * cg * 4 + oc % 4..];
        let sum: i32 = row.iter().map(|&v| v as i32).sum();
        for (k, grp) in row.chunks(g).enumerate() {
            let mut q = [0u8; 4];
            for (d, &x) in q.iter_mut().zip(grp) {
                *d = x as u8;
            }
            dst[4 * k] = if vnni {
                i32::from_le_bytes(q)
            } else {
                (q[0] as i8 as i16 as u16 as u32 | ((q[1] as i8 as i16 as u16 as u32) << 16)) as i32
            };
        }
        b[oc] = if vnni { bias[oc].wrapping_sub(sum.wrapping_mul(128)) } else { bias[oc] };
    }
    PwWeights { w: ws, bias: b }
}

/// `pw_block` on AVX2 (`madd_epi16`: channel pairs) or AVX-VNNI (`vpdpbusd`: channel quads): the
/// block's pixels are packed as `[group][pixel]` words (rows of `pv` words, whole vectors), then
/// tiles of 4 outputs × `$nv` vectors run over the groups (ymm: 4 × 16 pixels, 8 accumulators — 4 × 24
/// spilled with 16 registers; zmm: 4 × 48 pixels in 32 registers). Outputs are padded to 4 with zero
/// weights in `pw_pack`, so every tile is full; stores are clipped to the real outputs and pixels.
macro_rules! pw_block_fn {
    ($block:ident, $tile:ident, $feat:literal, $vnni:literal, $nv:literal,
     $vt:ty, $lanes:literal, $load:ident, $store:ident, $set1:ident, $zero:ident,
     |$a:ident, $x:ident, $w:ident| $mac:expr) => {
        #[target_feature(enable = $feat)]
        unsafe fn $block(
            x: &[i8],
            shape: &Pointwise,
            p0: usize,
            _w: &[i8],
            pk: &PwWeights,
            scratch: &mut Vec<i32>,
            acc: &mut [i32],
        ) {
            let &Pointwise { inputs: c, outputs: o, pixels: p } = shape;
            let g = if $vnni { 4 } else { 2 };
            let cg = c.div_ceil(g);
            let pn = acc.len() / o;
            let pv = pn.div_ceil($lanes) * $lanes;
            assert!(x.len() >= c * p && p0 + pn <= p && pk.w.len() == o.div_ceil(4) * cg * 4 && pk.bias.len() >= o);
            scratch.clear();
            scratch.resize(cg * pv, 0);
            // Missing channels (past `c`) read zeros: their weights are zero.
            let zero = vec![0i8; pn];
            for k in 0..cg {
                let mut rows: [&[i8]; 4] = [&zero[..]; 4];
                for (j, row) in rows.iter_mut().enumerate().take(g) {
                    let ch = k * g + j;
                    if ch < c {
                        *row = &x[ch * p + p0..ch * p + p0 + pn];
                    }
                }
                let dst = scratch.as_mut_ptr().add(k * pv);
                let mut i = 0;
                while i + 16 <= pn {
                    let r0 = _mm_loadu_si128(rows[0].as_ptr().add(i) as *const __m128i);
                    let r1 = _mm_loadu_si128(rows[1].as_ptr().add(i) as *const __m128i);
                    let (ab0, ab1) = (_mm_unpacklo_epi8(r0, r1), _mm_unpackhi_epi8(r0, r1));
                    if $vnni {
                        let r2 = _mm_loadu_si128(rows[2].as_ptr().add(i) as *const __m128i);
                        let r3 = _mm_loadu_si128(rows[3].as_ptr().add(i) as *const __m128i);
                        let (cd0, cd1) = (_mm_unpacklo_epi8(r2, r3), _mm_unpackhi_epi8(r2, r3));
                        let m = _mm_set1_epi8(-128);
                        let q = [
                            _mm_unpacklo_epi16(ab0, cd0),
                            _mm_unpackhi_epi16(ab0, cd0),
                            _mm_unpacklo_epi16(ab1, cd1),
                            _mm_unpackhi_epi16(ab1, cd1),
                        ];
                        for (j, &v) in q.iter().enumerate() {
                            _mm_storeu_si128(dst.add(i + 4 * j) as *mut __m128i, _mm_xor_si128(v, m));
                        }
                    } else {
                        // Sign-extending the byte pairs gives the i16 pairs.
                        _mm256_storeu_si256(dst.add(i) as *mut __m256i, _mm256_cvtepi8_epi16(ab0));
                        _mm256_storeu_si256(dst.add(i + 8) as *mut __m256i, _mm256_cvtepi8_epi16(ab1));
                    }
                    i += 16;
                }
                for i in i..pn {
                    let mut v = 0u32;
                    for (j, r) in rows.iter().enumerate().take(g) {
                        let b = r[i];
                        v |= if $vnni { ((b as u8 ^ 0x80) as u32) << (8 * j) } else { (b as i16 as u16 as u32) << (16 * j) };
                    }
                    *dst.add(i) = v as i32;
                }
            }
            let xs = scratch.as_ptr();
            for o4 in 0..o.div_ceil(4) {
                let on = (o - 4 * o4).min(4);
                let ws = pk.w.as_ptr().add(o4 * cg * 4);
                let bias = pk.bias.as_ptr().add(4 * o4);
                let out = acc.as_mut_ptr().add(4 * o4 * pn);
                let mut i = 0;
                while i < pn {
                    match (pn - i).div_ceil($lanes).min($nv) {
                        1 => $tile::<1>(xs, pv, ws, cg, bias, out, pn, on, i),
                        2 => $tile::<2>(xs, pv, ws, cg, bias, out, pn, on, i),
                        _ => $tile::<3>(xs, pv, ws, cg, bias, out, pn, on, i),
                    }
                    i += $lanes * $nv;
                }
            }
        }

        /// 4 outputs × `NV` vectors of `$lanes` pixels from pixel `i`; stores `on` rows, clipped to `pn`.
        #[target_feature(enable = $feat)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $tile<const NV: usize>(
            xs: *const i32,
            pv: usize,
            ws: *const i32,
            ng: usize,
            bias: *const i32,
            out: *mut i32,
            pn: usize,
            on: usize,
            i: usize,
        ) {
            let mut acc = [[$zero(); NV]; 4];
            for (j, aj) in acc.iter_mut().enumerate() {
                *aj = [$set1(*bias.add(j)); NV];
            }
            for k in 0..ng {
                let mut xv = [$zero(); NV];
                for (v, xr) in xv.iter_mut().enumerate() {
                    *xr = $load(xs.add(k * pv + i + $lanes * v) as *const $vt);
                }
                for (j, aj) in acc.iter_mut().enumerate() {
                    let $w = $set1(*ws.add(4 * k + j));
                    for (av, &xr) in aj.iter_mut().zip(&xv) {
                        let ($a, $x) = (*av, xr);
                        *av = $mac;
                    }
                }
            }
            let n = (pn - i).min($lanes * NV);
            let mut tmp = [0i32; 48];
            for (j, aj) in acc.iter().enumerate().take(on) {
                let row = out.add(j * pn + i);
                if n == $lanes * NV {
                    for (v, &a) in aj.iter().enumerate() {
                        $store(row.add($lanes * v) as *mut $vt, a);
                    }
                } else {
                    for (v, &a) in aj.iter().enumerate() {
                        $store(tmp.as_mut_ptr().add($lanes * v) as *mut $vt, a);
                    }
                    std::ptr::copy_nonoverlapping(tmp.as_ptr(), row, n);
                }
            }
        }
    };
}

pw_block_fn!(pw_block_avx2, pw_tile_avx2, "avx2", false, 2,
    __m256i, 8, _mm256_loadu_si256, _mm256_storeu_si256, _mm256_set1_epi32, _mm256_setzero_si256, |a, x, w| _mm256_add_epi32(a, _mm256_madd_epi16(x, w)));
pw_block_fn!(pw_block_vnni, pw_tile_vnni, "avx2,avxvnni", true, 2,
    __m256i, 8, _mm256_loadu_si256, _mm256_storeu_si256, _mm256_set1_epi32, _mm256_setzero_si256,
    |a, x, w| _mm256_dpbusd_avx_epi32(a, x, w));
// 32 zmm registers: 4 outputs × 3 vectors of 16 pixels (12 accumulators) without spills.
pw_block_fn!(pw_block_vnni512, pw_tile_vnni512, "avx2,avx512f,avx512bw,avx512vl,avx512vnni", true, 3,
    __m512i, 16, _mm512_loadu_si512, _mm512_storeu_si512, _mm512_set1_epi32, _mm512_setzero_si512,
    |a, x, w| _mm512_dpbusd_epi32(a, x, w));

/// `f32(acc) · mult`, then hard-swish (`/ y_scale` for int8) or the clamp: the scalar order.
#[target_feature(enable = "avx2")]
unsafe fn scaled8(a: __m256i, ep: &RowEp, int8: bool) -> __m256 {
    let r = _mm256_mul_ps(_mm256_cvtepi32_ps(a), _mm256_set1_ps(ep.mult));
    let v = if ep.hswish {
        let t = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, _mm256_set1_ps(3.0)), _mm256_setzero_ps()), _mm256_set1_ps(6.0));
        let h = _mm256_div_ps(_mm256_mul_ps(r, t), _mm256_set1_ps(6.0));
        if int8 {
            _mm256_div_ps(h, _mm256_set1_ps(ep.y_scale))
        } else {
            return h;
        }
    } else {
        r
    };
    _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(ep.lo)), _mm256_set1_ps(ep.hi))
}

/// int8 hard-swish of 8 accumulators, rounded and clamped, before the zero point: the two IEEE
/// divisions of the definition (`h = p / 6`, `v = h / y_scale`, `p = r · clamp(r + 3, 0, 6)`) only
/// run when they could change the result. `v' = p · fl(fl(1/6) · fl(1/y_scale))` is `v` within 5
/// roundings, `|v' − v| < 2⁻²⁰·|v'|` (y_scale in [2⁻¹⁰⁰, 2¹⁰⁰] keeps the factor normal; underflow
/// adds < 2⁻⁴⁰ absolute). The result is `round_half_even(clamp(v, lo, hi))` with integer bounds
/// `|lo|, |hi| ≤ 255`, and equals `round(clamp(v', lo, hi))` when `clamp(v', lo, hi)` is at least
/// 2⁻¹¹ away from every half-integer: inside the bounds `|v − v'| < 2⁻¹²`, so `v` rounds the same
/// way; outside them (`v' < lo`, say) `v < lo + 2⁻¹²` or `v < lo`, both give `lo`. NaN and ±inf
/// behave alike in both (`max` returns `lo` for NaN). Otherwise the vector takes the exact path
/// (about one vector in a thousand on real data).
#[target_feature(enable = "avx2")]
unsafe fn hswish_q8(a: __m256i, ep: &RowEp, k: __m256) -> __m256i {
    let r = _mm256_mul_ps(_mm256_cvtepi32_ps(a), _mm256_set1_ps(ep.mult));
    let t = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(r, _mm256_set1_ps(3.0)), _mm256_setzero_ps()), _mm256_set1_ps(6.0));
    let v = _mm256_mul_ps(_mm256_mul_ps(r, t), k);
    let vc = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(ep.lo)), _mm256_set1_ps(ep.hi));
    let n = _mm256_round_ps(vc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    let d = _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_sub_ps(vc, n));
    if _mm256_movemask_ps(_mm256_cmp_ps(d, _mm256_set1_ps(0.5 - 1.0 / 2048.0), _CMP_LT_OQ)) == 0xff {
        _mm256_cvtps_epi32(n)
    } else {
        _mm256_cvtps_epi32(scaled8(a, ep, true))
    }
}

#[target_feature(enable = "avx2")]
unsafe fn epilogue_i8(acc: &[i32], ep: &RowEp, out: &mut [i8]) {
    let n = out.len().min(acc.len());
    let zp = _mm256_set1_epi32(ep.zp);
    let fast = ep.fast_hswish_factor();
    let k = _mm256_set1_ps(fast.unwrap_or(0.0));
    let mut i = 0;
    while i + 16 <= n {
        let a0 = _mm256_loadu_si256(acc.as_ptr().add(i) as *const __m256i);
        let a1 = _mm256_loadu_si256(acc.as_ptr().add(i + 8) as *const __m256i);
        // cvtps rounds half to even (default MXCSR), like `round_ties_even`.
        let (q0, q1) = if fast.is_some() {
            (hswish_q8(a0, ep, k), hswish_q8(a1, ep, k))
        } else {
            (_mm256_cvtps_epi32(scaled8(a0, ep, true)), _mm256_cvtps_epi32(scaled8(a1, ep, true)))
        };
        let (q0, q1) = (_mm256_add_epi32(q0, zp), _mm256_add_epi32(q1, zp));
        // Values are already in -128..=127: the saturating packs only narrow.
        let w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0b11_01_10_00);
        let b = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
        _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut __m128i, b);
        i += 16;
    }
    scalar::epilogue_i8(&acc[i..n], ep, &mut out[i..n]);
}

#[target_feature(enable = "avx2")]
unsafe fn epilogue_f32(acc: &[i32], ep: &RowEp, out: &mut [f32]) {
    let n = out.len().min(acc.len());
    let mut i = 0;
    while i + 8 <= n {
        let a = _mm256_loadu_si256(acc.as_ptr().add(i) as *const __m256i);
        _mm256_storeu_ps(out.as_mut_ptr().add(i), scaled8(a, ep, false));
        i += 8;
    }
    scalar::epilogue_f32(&acc[i..n], ep, &mut out[i..n]);
}

/// [`scaled8`] on 16 lanes.
#[target_feature(enable = "avx512f")]
unsafe fn scaled16(a: __m512i, ep: &RowEp, int8: bool) -> __m512 {
    let r = _mm512_mul_ps(_mm512_cvtepi32_ps(a), _mm512_set1_ps(ep.mult));
    let v = if ep.hswish {
        let t = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, _mm512_set1_ps(3.0)), _mm512_setzero_ps()), _mm512_set1_ps(6.0));
        let h = _mm512_div_ps(_mm512_mul_ps(r, t), _mm512_set1_ps(6.0));
        if int8 {
            _mm512_div_ps(h, _mm512_set1_ps(ep.y_scale))
        } else {
            return h;
        }
    } else {
        r
    };
    _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(ep.lo)), _mm512_set1_ps(ep.hi))
}

/// [`hswish_q8`] on 16 lanes (same argument).
#[target_feature(enable = "avx512f")]
unsafe fn hswish_q16(a: __m512i, ep: &RowEp, k: __m512) -> __m512i {
    let r = _mm512_mul_ps(_mm512_cvtepi32_ps(a), _mm512_set1_ps(ep.mult));
    let t = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, _mm512_set1_ps(3.0)), _mm512_setzero_ps()), _mm512_set1_ps(6.0));
    let v = _mm512_mul_ps(_mm512_mul_ps(r, t), k);
    let vc = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(ep.lo)), _mm512_set1_ps(ep.hi));
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(vc);
    let d = _mm512_abs_ps(_mm512_sub_ps(vc, n));
    if _mm512_cmp_ps_mask::<_CMP_LT_OQ>(d, _mm512_set1_ps(0.5 - 1.0 / 2048.0)) == 0xffff {
        _mm512_cvtps_epi32(n)
    } else {
        _mm512_cvtps_epi32(scaled16(a, ep, true))
    }
}

/// [`epilogue_i8`] on 16 lanes: `vpmovsdb` narrows (values are already in range).
#[target_feature(enable = "avx512f")]
unsafe fn epilogue_i8_512(acc: &[i32], ep: &RowEp, out: &mut [i8]) {
    let n = out.len().min(acc.len());
    let zp = _mm512_set1_epi32(ep.zp);
    let fast = ep.fast_hswish_factor();
    let k = _mm512_set1_ps(fast.unwrap_or(0.0));
    let mut i = 0;
    while i + 16 <= n {
        let a = _mm512_loadu_si512(acc.as_ptr().add(i) as *const __m512i);
        // cvtps rounds half to even (default MXCSR), like `round_ties_even`.
        let q = if fast.is_some() { hswish_q16(a, ep, k) } else { _mm512_cvtps_epi32(scaled16(a, ep, true)) };
        _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut __m128i, _mm512_cvtsepi32_epi8(_mm512_add_epi32(q, zp)));
        i += 16;
    }
    if i < n {
        epilogue_i8(&acc[i..n], ep, &mut out[i..n]);
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn epilogue_f32_512(acc: &[i32], ep: &RowEp, out: &mut [f32]) {
    let n = out.len().min(acc.len());
    let mut i = 0;
    while i + 16 <= n {
        let a = _mm512_loadu_si512(acc.as_ptr().add(i) as *const __m512i);
        _mm512_storeu_ps(out.as_mut_ptr().add(i), scaled16(a, ep, false));
        i += 16;
    }
    if i < n {
        epilogue_f32(&acc[i..n], ep, &mut out[i..n]);
    }
}
