//! NEON kernels. aarch64: hand-written intrinsics for the hot rows (NEON is part of the base ISA
//! there, but the table still goes through the dispatcher). armv7: NEON is optional, and on Rust
//! 1.95 both its intrinsics and `#[target_feature(enable = "neon")]` are unstable, so the vertical
//! resize pass (the hot loop of resize and of the fused pass) and the int8 convolutions
//! (`qconv::armv7`) are written in `asm!` with `.fpu neon` and installed only when the kernel
//! reports `HWCAP_NEON`; the other pixel rows stay scalar there.
use crate::Kernels;

#[cfg(target_arch = "arm")]
mod armv7 {
    /// OpenCV-rounded vertical mix (see `scalar::vmix`), 8 outputs per step, NEON via `asm!`.
    /// Only installed after `HWCAP_NEON` was seen. Uses d0-d15 only (the target has no d32).
    pub(super) fn vresize(r0: &[i32], r1: &[i32], b0: i16, b1: i16, dst: &mut [u8]) {
        let n = dst.len().min(r0.len()).min(r1.len());
        let steps = n / 8;
        if steps > 0 {
            let coef = (b0 as u16 as u32) | ((b1 as u16 as u32) << 16);
            // SAFETY: reads 8*steps i32 from r0 and r1 and writes 8*steps bytes, all in bounds;
            // the NEON instructions only run on CPUs that reported HWCAP_NEON.
            unsafe {
                core::arch::asm!(
                    ".fpu neon",
                    "vmov.32 d0[0], {coef}",
                    "2:",
                    "vld1.32 {{d8-d11}}, [{a}]!",
                    "vld1.32 {{d12-d15}}, [{b}]!",
                    "vqshrn.s32 d2, q4, #4",
                    "vqshrn.s32 d3, q5, #4",
                    "vqshrn.s32 d4, q6, #4",
                    "vqshrn.s32 d5, q7, #4",
                    "vmull.s16 q4, d2, d0[0]",
                    "vmull.s16 q5, d3, d0[0]",
                    "vmull.s16 q6, d4, d0[1]",
                    "vmull.s16 q7, d5, d0[1]",
                    "vshr.s32 q4, q4, #16",
                    "vshr.s32 q5, q5, #16",
                    "vshr.s32 q6, q6, #16",
                    "vshr.s32 q7, q7, #16",
                    "vadd.i32 q4, q4, q6",
                    "vadd.i32 q5, q5, q7",
                    "vqrshrn.s32 d2, q4, #2", // (t + 2) >> 2, saturated to i16
                    "vqrshrn.s32 d3, q5, #2",
                    "vqmovun.s16 d2, q1",     // saturate to 0..=255
                    "vst1.8 {{d2}}, [{d}]!",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    coef = in(reg) coef,
                    a = inout(reg) r0.as_ptr() => _,
                    b = inout(reg) r1.as_ptr() => _,
                    d = inout(reg) dst.as_mut_ptr() => _,
                    n = inout(reg) steps => _,
                    out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _, out("d5") _,
                    out("d8") _, out("d9") _, out("d10") _, out("d11") _, out("d12") _, out("d13") _,
                    out("d14") _, out("d15") _,
                    options(nostack),
                );
            }
        }
        let i = steps * 8;
        crate::scalar::vresize_row(&r0[i..], &r1[i..], b0, b1, &mut dst[i..]);
    }
}

/// `HWCAP_NEON` from the ELF auxiliary vector, because `is_arm_feature_detected!` is unstable;
/// no auxv (sandbox) means no NEON.
#[cfg(target_arch = "arm")]
fn arm_has_neon() -> bool {
    const HWCAP_NEON: u64 = 1 << 12;
    crate::auxv::get(crate::auxv::AT_HWCAP).is_some_and(|v| v & HWCAP_NEON != 0)
}

/// Tables usable on this CPU, weakest first.
pub(crate) fn variants() -> Vec<Kernels> {
    let mut out = vec![];
    #[cfg(target_arch = "arm")]
    if arm_has_neon() {
        let mut k = Kernels::scalar();
        k.vresize = armv7::vresize;
        // One name for every armv7 NEON entry, so that the table's label is "neon-armv7".
        k.set_name("resize_v", "neon-armv7");
        crate::qconv::armv7::install(&mut k);
        out.push(k);
    }
    #[cfg(target_arch = "aarch64")]
    if std::arch::is_aarch64_feature_detected!("neon") {
        let mut k = Kernels::scalar();
        a64::install(&mut k);
        crate::qconv::neon::install_neon(&mut k);
        crate::dwconv_f32::neon::install(&mut k);
        crate::pwconv_f32::neon::install(&mut k);
        // With the dot-product extension: the same table with the SDOT depthwise and pointwise
        // kernels (both are kept so that the tests compare each with the scalar reference).
        let dot = std::arch::is_aarch64_feature_detected!("dotprod").then(|| {
            let mut d = k.clone();
            crate::qconv::neon::install_dotprod(&mut d);
            d
        });
        out.push(k);
        out.extend(dot);
    }
    out
}

#[cfg(target_arch = "aarch64")]
mod a64 {
    use crate::scalar::{self, Norm};
    use crate::Kernels;
    use std::arch::aarch64::*;

    crate::multiversion::multiversion!("neon", mv);

    pub(super) fn install(k: &mut Kernels) {
        mv::install_all(k, "neon");
        // SAFETY (the five closures below): inside `is_aarch64_feature_detected!("neon")`; each row bounds its
        // loads and stores by its slices' lengths and hands the tail to the scalar row.
        k.yuyv = |s, d| unsafe { yuyv(s, d) };
        k.vresize = |r0, r1, b0, b1, d| unsafe { vresize(r0, r1, b0, b1, d) };
        k.normalize = |s, n, r, g, b| unsafe { normalize(s, n, r, g, b) };
        k.quant_f32 = |s, sc, zp, d| unsafe { quant_f32(s, sc, zp, d) };
        k.quant_u8 = |s, sc, zp, d| unsafe { quant_u8(s, sc, zp, d) };
        k.hresize = scalar::hresize_row; // a gather: no gain from NEON
        k.set_name("resize_h", "scalar");
    }

    /// 8 pixels of one parity (even or odd) -> r, g, b; `y`, `u`, `v` as u8x8.
    #[target_feature(enable = "neon")]
    unsafe fn yuv8(y: uint8x8_t, u: uint8x8_t, v: uint8x8_t) -> (uint8x8_t, uint8x8_t, uint8x8_t) {
        let s16 = |x: uint8x8_t, o: i16| vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(x)), vdupq_n_s16(o));
        let (c, d, e) = (s16(y, 16), s16(u, 128), s16(v, 128));
        let half = |c: int16x4_t, d: int16x4_t, e: int16x4_t| {
            let c = vmlal_n_s16(vdupq_n_s32(128), c, 298);
            let r = vmlal_n_s16(c, e, 409);
            let g = vmlsl_n_s16(vmlsl_n_s16(c, d, 100), e, 208);
            let b = vmlal_n_s16(c, d, 516);
            (vqmovn_s32(vshrq_n_s32::<8>(r)), vqmovn_s32(vshrq_n_s32::<8>(g)), vqmovn_s32(vshrq_n_s32::<8>(b)))
        };
        let lo = half(vget_low_s16(c), vget_low_s16(d), vget_low_s16(e));
        let hi = half(vget_high_s16(c), vget_high_s16(d), vget_high_s16(e));
        // Saturating narrows clamp to 0..=255 exactly like the scalar clamp.
        (vqmovun_s16(vcombine_s16(lo.0, hi.0)), vqmovun_s16(vcombine_s16(lo.1, hi.1)), vqmovun_s16(vcombine_s16(lo.2, hi.2)))
    }

    /// 16 pixels (32 bytes) per step: `vld4` splits Y0 U Y1 V, `vst3` interleaves RGB.
    #[target_feature(enable = "neon")]
    unsafe fn yuyv(src: &[u8], dst: &mut [u8]) {
        let n = (src.len() / 2).min(dst.len() / 3);
        let mut p = 0;
        while p + 16 <= n {
            let q = vld4_u8(src.as_ptr().add(2 * p));
            let (r0, g0, b0) = yuv8(q.0, q.1, q.3);
            let (r1, g1, b1) = yuv8(q.2, q.1, q.3);
            let rgb = uint8x16x3_t(
                vcombine_u8(vzip1_u8(r0, r1), vzip2_u8(r0, r1)),
                vcombine_u8(vzip1_u8(g0, g1), vzip2_u8(g0, g1)),
                vcombine_u8(vzip1_u8(b0, b1), vzip2_u8(b0, b1)),
            );
            vst3q_u8(dst.as_mut_ptr().add(3 * p), rgb);
            p += 16;
        }
        scalar::yuyv_row_to_rgb(&src[2 * p..], &mut dst[3 * p..]);
    }

    /// 8 outputs per step, OpenCV's `v_mul_hi` rounding (see `scalar::vmix`).
    #[target_feature(enable = "neon")]
    unsafe fn vresize(r0: &[i32], r1: &[i32], b0: i16, b1: i16, dst: &mut [u8]) {
        let n = dst.len().min(r0.len()).min(r1.len());
        let ld = |s: &[i32], i: usize| {
            let a = vqmovn_s32(vshrq_n_s32::<4>(vld1q_s32(s.as_ptr().add(i))));
            let b = vqmovn_s32(vshrq_n_s32::<4>(vld1q_s32(s.as_ptr().add(i + 4))));
            (a, b)
        };
        let mut i = 0;
        while i + 8 <= n {
            let (a0, a1) = ld(r0, i);
            let (c0, c1) = ld(r1, i);
            let mix = |a: int16x4_t, c: int16x4_t| {
                let t = vaddq_s32(vshrq_n_s32::<16>(vmull_n_s16(a, b0)), vshrq_n_s32::<16>(vmull_n_s16(c, b1)));
                vqmovn_s32(vshrq_n_s32::<2>(vaddq_s32(t, vdupq_n_s32(2))))
            };
            vst1_u8(dst.as_mut_ptr().add(i), vqmovun_s16(vcombine_s16(mix(a0, c0), mix(a1, c1))));
            i += 8;
        }
        scalar::vresize_row(&r0[i..], &r1[i..], b0, b1, &mut dst[i..]);
    }

    /// 8 pixels per step; mul, sub and div as separate IEEE ops, like the scalar code.
    #[target_feature(enable = "neon")]
    unsafe fn normalize(src: &[u8], n: &Norm, r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
        let len = (src.len() / 3).min(r.len()).min(g.len()).min(b.len());
        let src_c = if n.swap_rb { [2, 1, 0] } else { [0, 1, 2] };
        let outs = [r.as_mut_ptr(), g.as_mut_ptr(), b.as_mut_ptr()];
        let sc = vdupq_n_f32(n.scale);
        let mut p = 0;
        while p + 8 <= len {
            let px = vld3_u8(src.as_ptr().add(3 * p));
            let chans = [px.0, px.1, px.2];
            for c in 0..3 {
                let w = vmovl_u8(chans[src_c[c]]);
                let (m, s) = (vdupq_n_f32(n.mean[c]), vdupq_n_f32(n.std[c]));
                for (h, part) in [vget_low_u16(w), vget_high_u16(w)].into_iter().enumerate() {
                    let v = vcvtq_f32_u32(vmovl_u16(part));
                    let v = vdivq_f32(vsubq_f32(vmulq_f32(v, sc), m), s);
                    vst1q_f32(outs[c].add(p + 4 * h), v);
                }
            }
            p += 8;
        }
        scalar::normalize_row(&src[3 * p..], n, &mut r[p..], &mut g[p..], &mut b[p..]);
    }

    /// 4 values: `vrndaq` rounds half away from zero, as `f32::round` does.
    #[target_feature(enable = "neon")]
    unsafe fn quant4(x: float32x4_t, scale: float32x4_t, zp: int32x4_t) -> int16x4_t {
        let y = vdivq_f32(x, scale);
        let y = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(y), vceqq_f32(y, y))); // NaN -> 0
        let y = vminq_f32(vmaxq_f32(y, vdupq_n_f32(-1.0e6)), vdupq_n_f32(1.0e6));
        vqmovn_s32(vaddq_s32(vcvtq_s32_f32(vrndaq_f32(y)), zp))
    }

    #[target_feature(enable = "neon")]
    unsafe fn quant_f32(src: &[f32], scale: f32, zp: i32, dst: &mut [i8]) {
        let n = src.len().min(dst.len());
        let (s, z) = (vdupq_n_f32(scale), vdupq_n_s32(zp));
        let mut i = 0;
        while i + 8 <= n {
            let a = quant4(vld1q_f32(src.as_ptr().add(i)), s, z);
            let b = quant4(vld1q_f32(src.as_ptr().add(i + 4)), s, z);
            vst1_s8(dst.as_mut_ptr().add(i), vqmovn_s16(vcombine_s16(a, b)));
            i += 8;
        }
        scalar::quantize_f32_row(&src[i..], scale, zp, &mut dst[i..]);
    }

    #[target_feature(enable = "neon")]
    unsafe fn quant_u8(src: &[u8], scale: f32, zp: i32, dst: &mut [i8]) {
        let n = src.len().min(dst.len());
        let (s, z) = (vdupq_n_f32(scale), vdupq_n_s32(zp));
        let mut i = 0;
        while i + 8 <= n {
            let w = vmovl_u8(vld1_u8(src.as_ptr().add(i)));
            let f = |h: uint16x4_t| vcvtq_f32_u32(vmovl_u16(h));
            let a = quant4(f(vget_low_u16(w)), s, z);
            let b = quant4(f(vget_high_u16(w)), s, z);
            vst1_s8(dst.as_mut_ptr().add(i), vqmovn_s16(vcombine_s16(a, b)));
            i += 8;
        }
        scalar::quantize_u8_row(&src[i..], scale, zp, &mut dst[i..]);
    }
}
