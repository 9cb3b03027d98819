//! aarch64 NEON int8 convolution primitives (bit-exact with `super::scalar`), plus a pointwise
//! block on the dot-product extension (`SDOT`, via `asm!`: its intrinsics are unstable on Rust
//! 1.95), installed only when `dotprod` is detected at run time.

use super::{pack_x, pw_pack_groups, scalar, Pointwise, PwWeights, RowEp};
use std::arch::aarch64::*;

pub(crate) fn install_neon(k: &mut crate::Kernels) {
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
    k.pw_pack = |w, sh, b| pw_pack_groups(w, sh, b, 4, sh.outputs);
    k.pw_block = |x, sh, p0, w, pk, s, a| unsafe { pw_block_sdot(x, sh, p0, w, pk, s, a) };
    k.set_name("qconv_pw", "neon-sdot");
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
    vminq_f32(vmaxq_f32(v, vdupq_n_f32(ep.lo)), vdupq_n_f32(ep.hi))
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
