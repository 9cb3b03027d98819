//! aarch64 NEON int8 convolution primitives (bit-exact with `super::scalar`), plus a depthwise
//! channel and a pointwise block on the dot-product extension (`SDOT`, via `asm!`: its intrinsics
//! are unstable on Rust 1.95), installed only when `dotprod` is detected at run time.

use super::{pack_x, pw_pack_groups, scalar, Depthwise, DwCall, DwScratch, Pointwise, PwWeights, RowEp};
use std::arch::aarch64::*;

pub(crate) fn install_neon(k: &mut crate::Kernels) {
    // SAFETY (the closures below): installed only on the table made after
    // `is_aarch64_feature_detected!("neon")`; the rows assert the slice lengths their pointer arithmetic relies on.
    // The plane without a division per element, then the `vmlal` row.
    k.dw_channel = |x, c, w, b, s, a| {
        super::dw_channel_rows(x, c, w, b, s, a, |s, o, w, b, a| unsafe { dw_row(s, o, w, b, a) })
    };
    k.pw_pack = |w, sh, b| pw_pack_groups(w, sh, b, 2, sh.outputs);
    k.pw_block = |x, sh, p0, w, pk, s, a| unsafe { pw_block(x, sh, p0, w, pk, s, a) };
    k.ep_i8 = |a, e, o| unsafe { epilogue_i8(a, e, o) };
    k.ep_f32 = |a, e, o| unsafe { epilogue_f32(a, e, o) };
    for n in ["qconv_dw", "qconv_pw", "qconv_epilogue"] {
        k.set_name(n, "neon");
    }
}

/// Only called after `is_aarch64_feature_detected!("dotprod")`.
pub(crate) fn install_dotprod(k: &mut crate::Kernels) {
    // SAFETY (the closures below): `dotprod` was detected (the caller's contract); the rows assert
    // the slice lengths their pointer arithmetic relies on.
    k.pw_pack = |w, sh, b| pw_pack_groups(w, sh, b, 4, sh.outputs);
    k.pw_block = |x, sh, p0, w, pk, s, a| unsafe { pw_block_sdot(x, sh, p0, w, pk, s, a) };
    k.dw_channel = |x, c, w, b, s, a| unsafe { dw_channel_sdot(x, c, w, b, s, a) };
    k.set_name("qconv_pw", "neon-sdot");
    k.set_name("qconv_dw", "neon-sdot");
}

/// Bytes after the int8 plane that [`dw_rows_sdot`] may read.
const PLANE8_SLACK: usize = 32;

/// Depthwise channel on the dot-product extension, straight on int8 values: the padded plane holds
/// raw `x` with padding = `x_zp` (a padded tap then adds `w·(x_zp − x_zp)` = 0 once `x_zp·Σw` is
/// taken off the bias; all sums wrap like the reference's). Each kernel row's taps are one word of
/// 4 weights (5×5: two words, the second with one tap), zeros after the last tap; for 4 outputs,
/// `tbl` gathers the 4 input bytes each word multiplies (output `j`: row bytes `s·j + 4g ..+ 4`)
/// from one 16-byte load and one SDOT adds the 4 dot products. No i16 plane: the plane is a copy of
/// the int8 rows.
#[target_feature(enable = "neon,dotprod")]
unsafe fn dw_channel_sdot(x: &[i8], call: &DwCall, w: &[i8], bias: i32, scratch: &mut DwScratch, acc: &mut [i32]) {
    let &DwCall { shape, oh, ow, x_zp } = call;
    let &Depthwise { height: h, width: wd, kernel: k, stride: s, pad: [pt, pl, pb, pr], .. } = shape;
    let (ph, pw) = (h + pt + pb, wd + pl + pr);
    // What dw_rows_sdot relies on (guaranteed by depthwise_conv_i8's checks and DW_SLACK).
    assert!(x.len() == h * wd && w.len() == k * k && (k == 3 || k == 5) && (s == 1 || s == 2));
    assert!(oh > 0 && ow > 0 && acc.len() >= oh * ow + 7 && (oh - 1) * s + k <= ph && (ow - 1) * s + k <= pw);
    let plane = &mut scratch.plane8;
    let len = ph * pw + PLANE8_SLACK;
    if plane.len() != len {
        // One scratch per call, so one zero point: the padding written here stays valid.
        plane.clear();
        plane.resize(len, x_zp as i8);
    }
    for (y, row) in x.chunks_exact(wd).enumerate() {
        let at = (y + pt) * pw + pl;
        plane[at..at + wd].copy_from_slice(row);
    }
    let wsum: i32 = w.iter().map(|&v| v as i32).sum();
    let corr = bias.wrapping_sub(x_zp.wrapping_mul(wsum));
    let g = k.div_ceil(4);
    let mut wv = [vdupq_n_s8(0); 10];
    for ky in 0..k {
        for gi in 0..g {
            let b: [u8; 4] = std::array::from_fn(|j| if 4 * gi + j < k { w[ky * k + 4 * gi + j] as u8 } else { 0 });
            wv[ky * g + gi] = vreinterpretq_s8_u32(vdupq_n_u32(u32::from_le_bytes(b)));
        }
    }
    // idx[half][g]: output j of the half reads bytes s·j + 4g + b of its load; with stride 1 both
    // halves share one load (the second half 4 bytes further in), with stride 2 the second half
    // loads 8 bytes further.
    let mut idx = [[vdupq_n_u8(0); 2]; 2];
    for (half, row) in idx.iter_mut().enumerate() {
        for (gi, v) in row.iter_mut().enumerate() {
            let sh = if s == 1 { 4 * half } else { 0 };
            let b: [u8; 16] = std::array::from_fn(|e| (s * (e / 4) + 4 * gi + e % 4 + sh) as u8);
            *v = vld1q_u8(b.as_ptr());
        }
    }
    let (p, a) = (plane.as_ptr(), acc.as_mut_ptr());
    match (k, s) {
        (3, 1) => dw_rows_sdot::<3, 1, 1>(p, pw, oh, ow, &wv, &idx, corr, a),
        (3, _) => dw_rows_sdot::<3, 1, 2>(p, pw, oh, ow, &wv, &idx, corr, a),
        (_, 1) => dw_rows_sdot::<5, 2, 1>(p, pw, oh, ow, &wv, &idx, corr, a),
        _ => dw_rows_sdot::<5, 2, 2>(p, pw, oh, ow, &wv, &idx, corr, a),
    }
}

/// The output rows of [`dw_channel_sdot`], 8 outputs per step (per kernel row: one 16-byte load,
/// two with stride 2; `2·G` tbl and `2·G` SDOT). Whole steps write up to 7 values past a row, into
/// the next row (computed after it) or the accumulator slack.
///
/// SAFETY (caller): `plane` holds `ph·pw + PLANE8_SLACK` bytes with `(oh − 1)·S + K ≤ ph` and
/// `(ow − 1)·S + K ≤ pw`, `acc` holds `oh·ow + 7` values, and `dotprod` is present. The last read
/// of a row starts at byte `(oy·S + ky)·pw + S·i + 8·(S − 1)` with `S·i ≤ pw − K`: it ends before
/// `ph·pw + 23 − K`, inside the slack.
#[target_feature(enable = "neon,dotprod")]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_rows_sdot<const K: usize, const G: usize, const S: usize>(
    plane: *const i8,
    pw: usize,
    oh: usize,
    ow: usize,
    wv: &[int8x16_t; 10],
    idx: &[[uint8x16_t; 2]; 2],
    corr: i32,
    acc: *mut i32,
) {
    let b = vdupq_n_s32(corr);
    for oy in 0..oh {
        let dst = acc.add(oy * ow);
        let mut i = 0;
        while i < ow {
            let (mut a0, mut a1) = (b, b);
            for ky in 0..K {
                let r = plane.add((oy * S + ky) * pw + S * i);
                let x0 = vld1q_s8(r);
                let x1 = if S == 1 { x0 } else { vld1q_s8(r.add(8)) };
                for gi in 0..G {
                    let wk = wv[ky * G + gi];
                    a0 = sdot(a0, vqtbl1q_s8(x0, idx[0][gi]), wk);
                    a1 = sdot(a1, vqtbl1q_s8(x1, idx[1][gi]), wk);
                }
            }
            vst1q_s32(dst.add(i), a0);
            vst1q_s32(dst.add(i + 4), a1);
            i += 8;
        }
    }
}

/// 8 outputs per step: `vmlal` widens i16 × i16 into i32 lanes.
#[target_feature(enable = "neon")]
unsafe fn dw_row(src: &[i16], offsets: &[usize], weights: &[i16], bias: i32, acc: &mut [i32]) {
    let n = acc.len();
    let max_off = offsets.iter().copied().max().unwrap_or(0);
    assert!(src.len() >= max_off + n && weights.len() == offsets.len());
    let b = vdupq_n_s32(bias);
    let sp = src.as_ptr();
    let mut i = 0;
    while i + 8 <= n {
        let (mut lo, mut hi) = (b, b);
        for (&off, &w) in offsets.iter().zip(weights) {
            let x = vld1q_s16(sp.add(off + i));
            lo = vmlal_n_s16(lo, vget_low_s16(x), w);
            hi = vmlal_high_n_s16(hi, x, w);
        }
        vst1q_s32(acc.as_mut_ptr().add(i), lo);
        vst1q_s32(acc.as_mut_ptr().add(i + 4), hi);
        i += 8;
    }
    if i < n {
        scalar::dw_row(&src[i..], offsets, weights, bias, &mut acc[i..]);
    }
}

/// Stores accumulator vectors `a` (4 i32 each) for pixels `i..` of row `oc`, clipped to `pn`.
#[inline(always)]
unsafe fn store_row(acc: &mut [i32], pn: usize, oc: usize, i: usize, a: &[int32x4_t]) {
    let mut tmp = [0i32; 16];
    for (v, &q) in a.iter().enumerate() {
        vst1q_s32(tmp.as_mut_ptr().add(4 * v), q);
    }
    let n = (pn - i).min(4 * a.len());
    acc[oc * pn + i..oc * pn + i + n].copy_from_slice(&tmp[..n]);
}

/// Channel pairs as i16 (`vld2q_s16` splits them), tiles of 4 outputs × 8 pixels.
#[target_feature(enable = "neon")]
unsafe fn pw_block(
    x: &[i8],
    shape: &Pointwise,
    p0: usize,
    _w: &[i8],
    pk: &PwWeights,
    scratch: &mut Vec<i32>,
    acc: &mut [i32],
) {
    let bias = &pk.bias;
    let &Pointwise { inputs: c, outputs: o, pixels: p } = shape;
    let pn = acc.len() / o;
    let pv = pn.div_ceil(8) * 8;
    let cp = c.div_ceil(2);
    assert!(x.len() >= c * p && p0 + pn <= p && pk.w.len() == cp * o && bias.len() == o);
    pack_x(x, shape, p0, pn, pv, 2, scratch);
    let (xs, ws) = (&scratch[..], &pk.w[..]);
    let mut oc = 0;
    while oc < o {
        let on = (o - oc).min(4);
        let mut i = 0;
        while i < pn {
            let mut a = [[vdupq_n_s32(0); 2]; 4];
            for j in 0..on {
                a[j] = [vdupq_n_s32(bias[oc + j]); 2];
            }
            for k in 0..cp {
                let xv = vld2q_s16(xs.as_ptr().add(k * pv + i) as *const i16);
                for j in 0..on {
                    let wp = ws[k * o + oc + j] as u32;
                    let (w0, w1) = (wp as u16 as i16, (wp >> 16) as u16 as i16);
                    a[j][0] = vmlal_n_s16(a[j][0], vget_low_s16(xv.0), w0);
                    a[j][1] = vmlal_high_n_s16(a[j][1], xv.0, w0);
                    a[j][0] = vmlal_n_s16(a[j][0], vget_low_s16(xv.1), w1);
                    a[j][1] = vmlal_high_n_s16(a[j][1], xv.1, w1);
                }
            }
            for j in 0..on {
                store_row(acc, pn, oc + j, i, &a[j]);
            }
            i += 8;
        }
        oc += on;
    }
}

/// `acc.4s += Σ a.16b · b.16b` per 4-byte group (SDOT).
#[inline(always)]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut r = acc;
    core::arch::asm!("sdot {r:v}.4s, {a:v}.16b, {b:v}.16b", r = inout(vreg) r, a = in(vreg) a, b = in(vreg) b,
        options(pure, nomem, nostack));
    r
}

/// Channel quads as i8 words: one SDOT = 4 pixels × 4 channels for one output. Tiles of
/// 4 outputs × 8 pixels.
#[target_feature(enable = "neon,dotprod")]
unsafe fn pw_block_sdot(
    x: &[i8],
    shape: &Pointwise,
    p0: usize,
    _w: &[i8],
    pk: &PwWeights,
    scratch: &mut Vec<i32>,
    acc: &mut [i32],
) {
    let bias = &pk.bias;
    let &Pointwise { inputs: c, outputs: o, pixels: p } = shape;
    let pn = acc.len() / o;
    let pv = pn.div_ceil(8) * 8;
    let cq = c.div_ceil(4);
    assert!(x.len() >= c * p && p0 + pn <= p && pk.w.len() == cq * o && bias.len() == o);
    pack_x(x, shape, p0, pn, pv, 4, scratch);
    let (xs, ws) = (&scratch[..], &pk.w[..]);
    let mut oc = 0;
    while oc < o {
        let on = (o - oc).min(4);
        let mut i = 0;
        while i < pn {
            let mut a = [[vdupq_n_s32(0); 2]; 4];
            for j in 0..on {
                a[j] = [vdupq_n_s32(bias[oc + j]); 2];
            }
            for k in 0..cq {
                let x0 = vreinterpretq_s8_s32(vld1q_s32(xs.as_ptr().add(k * pv + i)));
                let x1 = vreinterpretq_s8_s32(vld1q_s32(xs.as_ptr().add(k * pv + i + 4)));
                for j in 0..on {
                    let wv = vreinterpretq_s8_s32(vdupq_n_s32(ws[k * o + oc + j]));
                    a[j][0] = sdot(a[j][0], x0, wv);
                    a[j][1] = sdot(a[j][1], x1, wv);
                }
            }
            for j in 0..on {
                store_row(acc, pn, oc + j, i, &a[j]);
            }
            i += 8;
        }
        oc += on;
    }
}

/// `f32(acc) · mult`, then hard-swish (`/ y_scale` for int8) or the clamp: the scalar order.
#[inline(always)]
unsafe fn scaled4(a: int32x4_t, ep: &RowEp, int8: bool) -> float32x4_t {
    let r = vmulq_f32(vcvtq_f32_s32(a), vdupq_n_f32(ep.mult));
    let v = if ep.hswish {
        let t = vminq_f32(vmaxq_f32(vaddq_f32(r, vdupq_n_f32(3.0)), vdupq_n_f32(0.0)), vdupq_n_f32(6.0));
        let h = vdivq_f32(vmulq_f32(r, t), vdupq_n_f32(6.0));
        if int8 {
            vdivq_f32(h, vdupq_n_f32(ep.y_scale))
        } else {
            return h;
        }
    } else {
        r
    };
    // maxNum/minNum like the scalar `max`/`min`: a NaN (hard-swish of r = −inf: −inf · 0) clamps to
    // `lo`, where `fmax` would keep the NaN.
    vminnmq_f32(vmaxnmq_f32(v, vdupq_n_f32(ep.lo)), vdupq_n_f32(ep.hi))
}

/// int8 hard-swish of 4 accumulators without the two divisions when they cannot change the result
/// (the argument is in `super::x86::hswish_q8`'s doc): `v' = p · fl(fl(1/6) · fl(1/y_scale))`,
/// clamped, rounded; lanes within 2⁻¹¹ of a half-integer, and NaN, take the exact path.
#[inline(always)]
unsafe fn hswish_q4(a: int32x4_t, ep: &RowEp, k: float32x4_t) -> int32x4_t {
    let r = vmulq_f32(vcvtq_f32_s32(a), vdupq_n_f32(ep.mult));
    let t = vminq_f32(vmaxq_f32(vaddq_f32(r, vdupq_n_f32(3.0)), vdupq_n_f32(0.0)), vdupq_n_f32(6.0));
    let v = vmulq_f32(vmulq_f32(r, t), k);
    let vc = vminq_f32(vmaxq_f32(v, vdupq_n_f32(ep.lo)), vdupq_n_f32(ep.hi));
    let n = vrndnq_f32(vc);
    let d = vabsq_f32(vsubq_f32(vc, n));
    if vminvq_u32(vcltq_f32(d, vdupq_n_f32(0.5 - 1.0 / 2048.0))) == u32::MAX {
        vcvtnq_s32_f32(n)
    } else {
        vcvtnq_s32_f32(scaled4(a, ep, true))
    }
}

#[target_feature(enable = "neon")]
unsafe fn epilogue_i8(acc: &[i32], ep: &RowEp, out: &mut [i8]) {
    let n = out.len().min(acc.len());
    let zp = vdupq_n_s32(ep.zp);
    let fast = ep.fast_hswish_factor();
    let k = vdupq_n_f32(fast.unwrap_or(0.0));
    let mut i = 0;
    while i + 8 <= n {
        let a0 = vld1q_s32(acc.as_ptr().add(i));
        let a1 = vld1q_s32(acc.as_ptr().add(i + 4));
        // vcvtn: round to nearest, ties to even.
        let (q0, q1) = if fast.is_some() {
            (hswish_q4(a0, ep, k), hswish_q4(a1, ep, k))
        } else {
            (vcvtnq_s32_f32(scaled4(a0, ep, true)), vcvtnq_s32_f32(scaled4(a1, ep, true)))
        };
        let (q0, q1) = (vaddq_s32(q0, zp), vaddq_s32(q1, zp));
        let h = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
        vst1_s8(out.as_mut_ptr().add(i), vqmovn_s16(h));
        i += 8;
    }
    scalar::epilogue_i8(&acc[i..n], ep, &mut out[i..n]);
}

#[target_feature(enable = "neon")]
unsafe fn epilogue_f32(acc: &[i32], ep: &RowEp, out: &mut [f32]) {
    let n = out.len().min(acc.len());
    let mut i = 0;
    while i + 4 <= n {
        let a = vld1q_s32(acc.as_ptr().add(i));
        vst1q_f32(out.as_mut_ptr().add(i), scaled4(a, ep, false));
        i += 4;
    }
    scalar::epilogue_f32(&acc[i..n], ep, &mut out[i..n]);
}
