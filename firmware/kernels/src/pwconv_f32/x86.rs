//! AVX2 + FMA panel: 6 output channels × 16 pixels (12 accumulators; per input channel two pixel
//! loads and six weight broadcasts), then 6 × 8, then a masked 6 × 1..7 tail; bias and activation
//! applied on the accumulators before the store.

use super::Panel;
use crate::dwconv_f32::x86::ActAvx2;
use crate::dwconv_f32::Act;
use std::arch::x86_64::*;

pub(crate) const MR: usize = 6;

/// Only called after `avx2` and `fma` were detected.
pub(crate) fn install(k: &mut crate::Kernels) {
    k.pw_f32 = (MR, panel);
    k.set_name("pwconv_f32", "avx2");
}

unsafe fn panel(p: &Panel, act: &Act) {
    panel_avx2(p, act)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn panel_avx2(p: &Panel, act: &Act) {
    let fin = ActAvx2::new(act);
    let mut bias = [_mm256_setzero_ps(); MR];
    for (r, b) in bias.iter_mut().enumerate() {
        *b = _mm256_set1_ps(*p.bias.add(r));
    }
    let mut c = 0;
    while c + 16 <= p.cols {
        block16(p, c, &bias, &fin);
        c += 16;
    }
    while c < p.cols {
        let n = (p.cols - c).min(8);
        block8(p, c, n, &bias, &fin);
        c += n;
    }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn block16(p: &Panel, c: usize, bias: &[__m256; MR], fin: &ActAvx2) {
    let mut a0 = *bias;
    let mut a1 = *bias;
    let mut x = p.x.add(c);
    let mut w = p.w;
    for _ in 0..p.inputs {
        let x0 = _mm256_loadu_ps(x);
        let x1 = _mm256_loadu_ps(x.add(8));
        for r in 0..MR {
            let wr = _mm256_broadcast_ss(&*w.add(r));
            a0[r] = _mm256_fmadd_ps(wr, x0, a0[r]);
            a1[r] = _mm256_fmadd_ps(wr, x1, a1[r]);
        }
        x = x.add(p.x_stride);
        w = w.add(MR);
    }
    for r in 0..p.rows.min(MR) {
        let o = p.out.add(r * p.out_stride + c);
        _mm256_storeu_ps(o, fin.apply(a0[r]));
        _mm256_storeu_ps(o.add(8), fin.apply(a1[r]));
    }
}

/// `n` (1..=8) pixels from column `c`; lanes past `n` are neither read nor written.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn block8(p: &Panel, c: usize, n: usize, bias: &[__m256; MR], fin: &ActAvx2) {
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx);
    let mut a = *bias;
    let mut x = p.x.add(c);
    let mut w = p.w;
    for _ in 0..p.inputs {
        let x0 = _mm256_maskload_ps(x, mask);
        for r in 0..MR {
            a[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&*w.add(r)), x0, a[r]);
        }
        x = x.add(p.x_stride);
        w = w.add(MR);
    }
    for r in 0..p.rows.min(MR) {
        _mm256_maskstore_ps(p.out.add(r * p.out_stride + c), mask, fin.apply(a[r]));
    }
}
