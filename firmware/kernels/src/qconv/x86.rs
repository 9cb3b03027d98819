//! AVX2 int8 convolution primitives (bit-exact with `super::scalar`). Tails go to the scalar code.

use super::{scalar, Pointwise, RowEp};
use std::arch::x86_64::*;

/// Installs the AVX2 primitives; only called after `avx2` was detected.
pub(crate) fn install_avx2(k: &mut crate::Kernels) {
    k.dw_row = |s, o, w, b, a| unsafe { dw_row(s, o, w, b, a) };
    k.pw_block = |x, sh, p0, w, b, s, a| unsafe { pw_block(x, sh, p0, w, b, s, a) };
    k.ep_i8 = |a, e, o| unsafe { epilogue_i8(a, e, o) };
    k.ep_f32 = |a, e, o| unsafe { epilogue_f32(a, e, o) };
    for n in ["qconv_dw", "qconv_pw", "qconv_epilogue"] {
        k.set_name(n, "avx2");
    }
}

/// 16 outputs per step, i32 lanes. `madd_epi16` of a sign-extended i16 (as the pair `(v, sign)`)
/// with the pair `(w, 0)` is `v·w` in one µop (cheaper than `mullo_epi32`).
#[target_feature(enable = "avx2")]
unsafe fn dw_row(src: &[i16], offsets: &[usize], weights: &[i16], bias: i32, acc: &mut [i32]) {
    let n = acc.len();
    let max_off = offsets.iter().copied().max().unwrap_or(0);
    assert!(src.len() >= max_off + n && weights.len() == offsets.len());
    let wv: Vec<__m256i> = weights.iter().map(|&w| _mm256_set1_epi32(w as u16 as i32)).collect();
    let b = _mm256_set1_epi32(bias);
    let sp = src.as_ptr();
    let mut i = 0;
    while i + 16 <= n {
        let (mut a0, mut a1) = (b, b);
        for (&off, &w) in offsets.iter().zip(&wv) {
            let p = sp.add(off + i);
            let x0 = _mm256_cvtepi16_epi32(_mm_loadu_si128(p as *const __m128i));
            let x1 = _mm256_cvtepi16_epi32(_mm_loadu_si128(p.add(8) as *const __m128i));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, w));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x1, w));
        }
        _mm256_storeu_si256(acc.as_mut_ptr().add(i) as *mut __m256i, a0);
        _mm256_storeu_si256(acc.as_mut_ptr().add(i + 8) as *mut __m256i, a1);
        i += 16;
    }
    while i + 8 <= n {
        let mut a0 = b;
        for (&off, &w) in offsets.iter().zip(&wv) {
            let x0 = _mm256_cvtepi16_epi32(_mm_loadu_si128(sp.add(off + i) as *const __m128i));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, w));
        }
        _mm256_storeu_si256(acc.as_mut_ptr().add(i) as *mut __m256i, a0);
        i += 8;
    }
    if i < n {
        scalar::dw_row(&src[i..], offsets, weights, bias, &mut acc[i..]);
    }
}

/// Pixels are packed as channel pairs (`[c/2][pixel]`, one i32 = two i16), weights as pairs too;
/// `madd_epi16` then sums two channels per lane. Tiles of 4 outputs × 16 pixels (8 accumulators).
#[target_feature(enable = "avx2")]
unsafe fn pw_block(
    x: &[i8],
    shape: &Pointwise,
    p0: usize,
    w: &[i8],
    bias: &[i32],
    scratch: &mut Vec<i32>,
    acc: &mut [i32],
) {
    let &Pointwise { inputs: c, outputs: o, pixels: p } = shape;
    let pn = acc.len() / o;
    let pv = pn.div_ceil(8) * 8; // packed row length: whole vectors, zero tail
    let cp = c.div_ceil(2);
    assert!(x.len() >= c * p && p0 + pn <= p && w.len() >= o * c && bias.len() == o);
    let pair = |a: i8, b: i8| (a as i16 as u16 as u32 | ((b as i16 as u16 as u32) << 16)) as i32;
    scratch.clear();
    scratch.resize(cp * pv + cp * o, 0);
    let (xs, ws) = scratch.split_at_mut(cp * pv);
    for k in 0..cp {
        let r0 = &x[2 * k * p + p0..2 * k * p + p0 + pn];
        let row = &mut xs[k * pv..k * pv + pn];
        if 2 * k + 1 < c {
            let r1 = &x[(2 * k + 1) * p + p0..(2 * k + 1) * p + p0 + pn];
            for ((d, &a), &b) in row.iter_mut().zip(r0).zip(r1) {
                *d = pair(a, b);
            }
        } else {
            for (d, &a) in row.iter_mut().zip(r0) {
                *d = pair(a, 0);
            }
        }
    }
    // Weights as [pair][output] so that a tile's 4 outputs are adjacent.
    for oc in 0..o {
        for k in 0..cp {
            let b = if 2 * k + 1 < c { w[oc * c + 2 * k + 1] } else { 0 };
            ws[k * o + oc] = pair(w[oc * c + 2 * k], b);
        }
    }
    let xp = xs.as_ptr();
    let mut tmp = [0i32; 16];
    let mut oc = 0;
    while oc < o {
        let on = (o - oc).min(4);
        let mut i = 0;
        while i < pn {
            let mut a = [[_mm256_setzero_si256(); 2]; 4];
            if on == 4 {
                // Full tile: eight named accumulators stay in registers (a dynamically indexed
                // array of them lives on the stack: a load and a store per madd).
                let b = |j: usize| _mm256_set1_epi32(bias[oc + j]);
                let (mut a00, mut a01, mut a10, mut a11) = (b(0), b(0), b(1), b(1));
                let (mut a20, mut a21, mut a30, mut a31) = (b(2), b(2), b(3), b(3));
                for k in 0..cp {
                    let x0 = _mm256_loadu_si256(xp.add(k * pv + i) as *const __m256i);
                    let x1 = if i + 8 < pv { _mm256_loadu_si256(xp.add(k * pv + i + 8) as *const __m256i) } else { x0 };
                    let wr = &ws[k * o + oc..k * o + oc + 4];
                    let (w0, w1) = (_mm256_set1_epi32(wr[0]), _mm256_set1_epi32(wr[1]));
                    let (w2, w3) = (_mm256_set1_epi32(wr[2]), _mm256_set1_epi32(wr[3]));
                    a00 = _mm256_add_epi32(a00, _mm256_madd_epi16(x0, w0));
                    a01 = _mm256_add_epi32(a01, _mm256_madd_epi16(x1, w0));
                    a10 = _mm256_add_epi32(a10, _mm256_madd_epi16(x0, w1));
                    a11 = _mm256_add_epi32(a11, _mm256_madd_epi16(x1, w1));
                    a20 = _mm256_add_epi32(a20, _mm256_madd_epi16(x0, w2));
                    a21 = _mm256_add_epi32(a21, _mm256_madd_epi16(x1, w2));
                    a30 = _mm256_add_epi32(a30, _mm256_madd_epi16(x0, w3));
                    a31 = _mm256_add_epi32(a31, _mm256_madd_epi16(x1, w3));
                }
                a = [[a00, a01], [a10, a11], [a20, a21], [a30, a31]];
            } else {
                for (j, aj) in a.iter_mut().enumerate().take(on) {
                    *aj = [_mm256_set1_epi32(bias[oc + j]); 2];
                }
                for k in 0..cp {
                    let x0 = _mm256_loadu_si256(xp.add(k * pv + i) as *const __m256i);
                    let x1 = if i + 8 < pv { _mm256_loadu_si256(xp.add(k * pv + i + 8) as *const __m256i) } else { x0 };
                    let wrow = &ws[k * o + oc..k * o + oc + on];
                    for (j, &wp) in wrow.iter().enumerate() {
                        let wv = _mm256_set1_epi32(wp);
                        a[j][0] = _mm256_add_epi32(a[j][0], _mm256_madd_epi16(x0, wv));
                        a[j][1] = _mm256_add_epi32(a[j][1], _mm256_madd_epi16(x1, wv));
                    }
                }
            }
            let n = (pn - i).min(16);
            for (j, aj) in a.iter().enumerate().take(on) {
                let row = &mut acc[(oc + j) * pn + i..(oc + j) * pn + i + n];
                if n == 16 {
                    _mm256_storeu_si256(row.as_mut_ptr() as *mut __m256i, aj[0]);
                    _mm256_storeu_si256(row.as_mut_ptr().add(8) as *mut __m256i, aj[1]);
                } else {
                    _mm256_storeu_si256(tmp.as_mut_ptr() as *mut __m256i, aj[0]);
                    _mm256_storeu_si256(tmp.as_mut_ptr().add(8) as *mut __m256i, aj[1]);
                    row.copy_from_slice(&tmp[..n]);
                }
            }
            i += 16;
        }
        oc += on;
    }
}

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

#[target_feature(enable = "avx2")]
unsafe fn epilogue_i8(acc: &[i32], ep: &RowEp, out: &mut [i8]) {
    let n = out.len().min(acc.len());
    let zp = _mm256_set1_epi32(ep.zp);
    let mut i = 0;
    while i + 16 <= n {
        let a0 = _mm256_loadu_si256(acc.as_ptr().add(i) as *const __m256i);
        let a1 = _mm256_loadu_si256(acc.as_ptr().add(i + 8) as *const __m256i);
        // cvtps rounds half to even (default MXCSR), like `round_ties_even`.
        let q0 = _mm256_add_epi32(_mm256_cvtps_epi32(scaled8(a0, ep, true)), zp);
        let q1 = _mm256_add_epi32(_mm256_cvtps_epi32(scaled8(a1, ep, true)), zp);
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
