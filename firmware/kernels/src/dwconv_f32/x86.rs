//! AVX2 + FMA rows: 8 outputs per vector, all taps accumulated in a register (weights broadcast
//! once per channel), the activation applied before the store.

use super::{Act, Rows};
use std::arch::x86_64::*;

/// Only called after `avx2` and `fma` were detected.
pub(crate) fn install(k: &mut crate::Kernels) {
    // SAFETY: `avx2` and `fma` were detected (the caller's contract); `dw_rows` asserts the lengths
    // and offsets (`Rows::fits`) its loads and stores rely on.
    k.dw_f32 = |r, w, b, a, o| unsafe {
        match w.len() {
            9 => dw_rows::<9>(r, w, b, a, o),
            _ => dw_rows::<25>(r, w, b, a, o),
        }
    };
    k.set_name("dwconv_f32", "avx2");
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dw_rows<const T: usize>(r: &Rows, w: &[f32], bias: f32, act: &Act, out: &mut [f32]) {
    const L: usize = 8;
    let (oh, ow) = (r.oh, r.ow);
    assert!(w.len() == T && r.offsets.len() == T && out.len() == oh * ow && r.fits(L));
    let mut wv = [_mm256_setzero_ps(); T];
    let mut off = [0usize; T];
    for t in 0..T {
        wv[t] = _mm256_set1_ps(w[t]);
        off[t] = r.offsets[t];
    }
    let b = _mm256_set1_ps(bias);
    let fin = ActAvx2::new(act);
    let compute = |src: *const f32| {
        let mut acc = b;
        for t in 0..T {
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(src.add(off[t])), wv[t], acc);
        }
        fin.apply(acc)
    };
    let plane = r.plane.as_ptr();
    for oy in 0..oh {
        let src = plane.add(oy * r.row_step);
        let dst = out.as_mut_ptr().add(oy * ow);
        if ow >= L {
            let mut ox = 0;
            while ox + L <= ow {
                _mm256_storeu_ps(dst.add(ox), compute(src.add(ox)));
                ox += L;
            }
            // The last partial vector: recompute the overlapping last L outputs (same values).
            if ox < ow {
                _mm256_storeu_ps(dst.add(ow - L), compute(src.add(ow - L)));
            }
        } else {
            // Narrow planes: lanes past `ow` read the plane's slack or the next row, and are dropped.
            let mut tmp = [0f32; L];
            _mm256_storeu_ps(tmp.as_mut_ptr(), compute(src));
            std::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, ow);
        }
    }
}

/// The activation of [`Act`] on 8 lanes, its constants broadcast once (the float depthwise rows
/// and the pointwise panels apply it the same way).
#[derive(Clone, Copy)]
pub(crate) struct ActAvx2 {
    lo: __m256,
    hi: __m256,
    al: __m256,
    be: __m256,
    one: __m256,
    zero: __m256,
    hswish: bool,
}

impl ActAvx2 {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn new(act: &Act) -> Self {
        ActAvx2 {
            lo: _mm256_set1_ps(act.lo),
            hi: _mm256_set1_ps(act.hi),
            al: _mm256_set1_ps(act.alpha),
            be: _mm256_set1_ps(act.beta),
            one: _mm256_set1_ps(1.0),
            zero: _mm256_setzero_ps(),
            hswish: act.hswish,
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn apply(&self, acc: __m256) -> __m256 {
        let v = _mm256_min_ps(_mm256_max_ps(acc, self.lo), self.hi);
        if self.hswish {
            let g = _mm256_add_ps(_mm256_mul_ps(v, self.al), self.be);
            _mm256_mul_ps(v, _mm256_max_ps(_mm256_min_ps(g, self.one), self.zero))
        } else {
            v
        }
    }
}
