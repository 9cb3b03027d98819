//! aarch64 NEON rows: 4 outputs per vector (two vectors per step), all taps accumulated in
//! registers with `vfmaq_f32`, the activation applied before the store (`vmaxnm`/`vminnm`: NaN
//! handling as the scalar `f32::max`/`min`).

use super::{Act, Rows};
use std::arch::aarch64::*;

pub(crate) fn install(k: &mut crate::Kernels) {
    // SAFETY: NEON is present (this is installed only on a NEON table); `dw_rows` asserts the
    // lengths and offsets (`Rows::fits`) its loads and stores rely on.
    k.dw_f32 = |r, w, b, a, o| unsafe {
        match w.len() {
            9 => dw_rows::<9>(r, w, b, a, o),
            _ => dw_rows::<25>(r, w, b, a, o),
        }
    };
    k.set_name("dwconv_f32", "neon");
}

#[target_feature(enable = "neon")]
unsafe fn dw_rows<const T: usize>(r: &Rows, w: &[f32], bias: f32, act: &Act, out: &mut [f32]) {
    const L: usize = 4;
    let (oh, ow) = (r.oh, r.ow);
    assert!(w.len() == T && r.offsets.len() == T && out.len() == oh * ow && r.fits(L));
    let mut off = [0usize; T];
    off.copy_from_slice(r.offsets);
    let wp = w.as_ptr();
    let b = vdupq_n_f32(bias);
    let fin = ActNeon::new(act);
    let finish = |acc: float32x4_t| fin.apply(acc);
    // Two independent accumulators per step hide the FMA latency on in-order cores (A53/A55).
    let compute2 = |src: *const f32| {
        let (mut a0, mut a1) = (b, b);
        for t in 0..T {
            let wt = vdupq_n_f32(*wp.add(t));
            a0 = vfmaq_f32(a0, vld1q_f32(src.add(off[t])), wt);
            a1 = vfmaq_f32(a1, vld1q_f32(src.add(off[t] + L)), wt);
        }
        (finish(a0), finish(a1))
    };
    let compute = |src: *const f32| {
        let mut a0 = b;
        for t in 0..T {
            a0 = vfmaq_f32(a0, vld1q_f32(src.add(off[t])), vdupq_n_f32(*wp.add(t)));
        }
        finish(a0)
    };
    let plane = r.plane.as_ptr();
    for oy in 0..oh {
        let src = plane.add(oy * r.row_step);
        let dst = out.as_mut_ptr().add(oy * ow);
        if ow >= L {
            let mut ox = 0;
            while ox + 2 * L <= ow {
                let (v0, v1) = compute2(src.add(ox));
                vst1q_f32(dst.add(ox), v0);
                vst1q_f32(dst.add(ox + L), v1);
                ox += 2 * L;
            }
            while ox + L <= ow {
                vst1q_f32(dst.add(ox), compute(src.add(ox)));
                ox += L;
            }
            // The last partial vector: recompute the overlapping last L outputs (same values).
            if ox < ow {
                vst1q_f32(dst.add(ow - L), compute(src.add(ow - L)));
            }
        } else {
            let mut tmp = [0f32; L];
            vst1q_f32(tmp.as_mut_ptr(), compute(src));
            std::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, ow);
        }
    }
}

/// The activation of [`Act`] on 4 lanes, its constants broadcast once (the float depthwise rows
/// and the pointwise panels apply it the same way).
#[derive(Clone, Copy)]
pub(crate) struct ActNeon {
    lo: float32x4_t,
    hi: float32x4_t,
    al: float32x4_t,
    be: float32x4_t,
    one: float32x4_t,
    zero: float32x4_t,
    hswish: bool,
}

impl ActNeon {
    #[inline]
    #[target_feature(enable = "neon")]
    pub(crate) unsafe fn new(act: &Act) -> Self {
        ActNeon {
            lo: vdupq_n_f32(act.lo),
            hi: vdupq_n_f32(act.hi),
            al: vdupq_n_f32(act.alpha),
            be: vdupq_n_f32(act.beta),
            one: vdupq_n_f32(1.0),
            zero: vdupq_n_f32(0.0),
            hswish: act.hswish,
        }
    }

    #[inline]
    #[target_feature(enable = "neon")]
    pub(crate) unsafe fn apply(&self, acc: float32x4_t) -> float32x4_t {
        let v = vminnmq_f32(vmaxnmq_f32(acc, self.lo), self.hi);
        if self.hswish {
            let g = vaddq_f32(vmulq_f32(v, self.al), self.be);
            vmulq_f32(v, vmaxnmq_f32(vminnmq_f32(g, self.one), self.zero))
        } else {
            v
        }
    }
}
