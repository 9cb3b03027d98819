//! aarch64 NEON panel: 8 output channels × 8 pixels (16 accumulators; per input channel two pixel
//! loads, two weight loads and 16 lane-indexed `vfmaq_laneq_f32`), then 8 × 4, then the last 1..3
//! pixels one at a time (8 output channels per vector pair, the same fused multiply-adds); bias and activation
//! applied before the store (`vmaxnm`/`vminnm`: NaN handling as the scalar `f32::max`/`min`).

use super::Panel;
use crate::dwconv_f32::neon::ActNeon;
use crate::dwconv_f32::Act;
use std::arch::aarch64::*;

pub(crate) const MR: usize = 8;

pub(crate) fn install(k: &mut crate::Kernels) {
    k.pw_f32 = (MR, panel);
    k.set_name("pwconv_f32", "neon");
}

unsafe fn panel(p: &Panel, act: &Act) {
    panel_neon(p, act)
}

#[target_feature(enable = "neon")]
unsafe fn panel_neon(p: &Panel, act: &Act) {
    let fin = ActNeon::new(act);
    let finish = |acc: float32x4_t| fin.apply(acc);
    let mut bias = [vdupq_n_f32(0.0); MR];
    for (r, b) in bias.iter_mut().enumerate() {
        *b = vdupq_n_f32(*p.bias.add(r));
    }
    let rows = p.rows.min(MR);
    let mut c = 0;
    while c + 8 <= p.cols {
        let mut a0 = bias;
        let mut a1 = bias;
        let mut x = p.x.add(c);
        let mut w = p.w;
        for _ in 0..p.inputs {
            let x0 = vld1q_f32(x);
            let x1 = vld1q_f32(x.add(4));
            let w0 = vld1q_f32(w);
            let w1 = vld1q_f32(w.add(4));
            a0[0] = vfmaq_laneq_f32::<0>(a0[0], x0, w0);
            a1[0] = vfmaq_laneq_f32::<0>(a1[0], x1, w0);
            a0[1] = vfmaq_laneq_f32::<1>(a0[1], x0, w0);
            a1[1] = vfmaq_laneq_f32::<1>(a1[1], x1, w0);
            a0[2] = vfmaq_laneq_f32::<2>(a0[2], x0, w0);
            a1[2] = vfmaq_laneq_f32::<2>(a1[2], x1, w0);
            a0[3] = vfmaq_laneq_f32::<3>(a0[3], x0, w0);
            a1[3] = vfmaq_laneq_f32::<3>(a1[3], x1, w0);
            a0[4] = vfmaq_laneq_f32::<0>(a0[4], x0, w1);
            a1[4] = vfmaq_laneq_f32::<0>(a1[4], x1, w1);
            a0[5] = vfmaq_laneq_f32::<1>(a0[5], x0, w1);
            a1[5] = vfmaq_laneq_f32::<1>(a1[5], x1, w1);
            a0[6] = vfmaq_laneq_f32::<2>(a0[6], x0, w1);
            a1[6] = vfmaq_laneq_f32::<2>(a1[6], x1, w1);
            a0[7] = vfmaq_laneq_f32::<3>(a0[7], x0, w1);
            a1[7] = vfmaq_laneq_f32::<3>(a1[7], x1, w1);
            x = x.add(p.x_stride);
            w = w.add(MR);
        }
        for r in 0..rows {
            let o = p.out.add(r * p.out_stride + c);
            vst1q_f32(o, finish(a0[r]));
            vst1q_f32(o.add(4), finish(a1[r]));
        }
        c += 8;
    }
    while c + 4 <= p.cols {
        let mut a = bias;
        let mut x = p.x.add(c);
        let mut w = p.w;
        for _ in 0..p.inputs {
            let x0 = vld1q_f32(x);
            let w0 = vld1q_f32(w);
            let w1 = vld1q_f32(w.add(4));
            a[0] = vfmaq_laneq_f32::<0>(a[0], x0, w0);
            a[1] = vfmaq_laneq_f32::<1>(a[1], x0, w0);
            a[2] = vfmaq_laneq_f32::<2>(a[2], x0, w0);
            a[3] = vfmaq_laneq_f32::<3>(a[3], x0, w0);
            a[4] = vfmaq_laneq_f32::<0>(a[4], x0, w1);
            a[5] = vfmaq_laneq_f32::<1>(a[5], x0, w1);
            a[6] = vfmaq_laneq_f32::<2>(a[6], x0, w1);
            a[7] = vfmaq_laneq_f32::<3>(a[7], x0, w1);
            x = x.add(p.x_stride);
            w = w.add(MR);
        }
        for r in 0..rows {
            vst1q_f32(p.out.add(r * p.out_stride + c), finish(a[r]));
        }
        c += 4;
    }
    // The last 1..3 pixels: a column of 8 output channels per pixel.
    while c < p.cols {
        let mut a0 = vld1q_f32(p.bias);
        let mut a1 = vld1q_f32(p.bias.add(4));
        let mut x = p.x.add(c);
        let mut w = p.w;
        for _ in 0..p.inputs {
            let xv = *x;
            a0 = vfmaq_n_f32(a0, vld1q_f32(w), xv);
            a1 = vfmaq_n_f32(a1, vld1q_f32(w.add(4)), xv);
            x = x.add(p.x_stride);
            w = w.add(MR);
        }
        let mut v = [0f32; MR];
        vst1q_f32(v.as_mut_ptr(), finish(a0));
        vst1q_f32(v.as_mut_ptr().add(4), finish(a1));
        for r in 0..rows {
            *p.out.add(r * p.out_stride + c) = v[r];
        }
        c += 1;
    }
}
