//! The scalar row bodies recompiled with a target feature enabled, so that LLVM vectorises them for
//! that instruction set. Used where no hand-written intrinsics exist (SSE4.1, armv7 NEON whose
//! intrinsics are unstable in Rust 1.95, and the gather-bound horizontal resize). Bit-exact by
//! construction: the same Rust code, and LLVM does not reassociate or contract float maths.

/// `multiversion!("feature", module)` defines `module::{yuyv, nv12, hresize, vresize, area2,
/// normalize, quant_f32, quant_u8}` as safe wrappers over `#[target_feature]` copies of the scalar
/// rows. Safety: the caller puts them into a table only after detecting the feature.
macro_rules! multiversion {
    ($feat:literal, $m:ident) => {
        #[allow(dead_code)]
        pub(crate) mod $m {
            use crate::scalar::{self, Norm};
            mod tf {
                use super::*;
                #[target_feature(enable = $feat)]
                pub unsafe fn yuyv(s: &[u8], d: &mut [u8]) { scalar::yuyv_row_to_rgb(s, d) }
                #[target_feature(enable = $feat)]
                pub unsafe fn nv12(y: &[u8], uv: &[u8], d: &mut [u8]) { scalar::nv12_row_to_rgb(y, uv, d) }
                #[target_feature(enable = $feat)]
                pub unsafe fn hresize(s: &[u8], cn: usize, xo: &[u32], a: &[[i16; 2]], d: &mut [i32]) {
                    scalar::hresize_row(s, cn, xo, a, d)
                }
                #[target_feature(enable = $feat)]
                pub unsafe fn vresize(r0: &[i32], r1: &[i32], b0: i16, b1: i16, d: &mut [u8]) {
                    scalar::vresize_row(r0, r1, b0, b1, d)
                }
                #[target_feature(enable = $feat)]
                pub unsafe fn area2(s0: &[u8], s1: &[u8], cn: usize, d: &mut [u8]) { scalar::area2_row(s0, s1, cn, d) }
                #[target_feature(enable = $feat)]
                pub unsafe fn normalize(s: &[u8], n: &Norm, r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
                    scalar::normalize_row(s, n, r, g, b)
                }
                #[target_feature(enable = $feat)]
                pub unsafe fn quant_f32(s: &[f32], sc: f32, zp: i32, d: &mut [i8]) { scalar::quantize_f32_row(s, sc, zp, d) }
                #[target_feature(enable = $feat)]
                pub unsafe fn quant_u8(s: &[u8], sc: f32, zp: i32, d: &mut [i8]) { scalar::quantize_u8_row(s, sc, zp, d) }
            }
            // SAFETY (each wrapper below): the feature is the `tf` copies' only precondition (they are the
            // safe scalar rows), and these wrappers go into a table only after it was detected.
            pub fn yuyv(s: &[u8], d: &mut [u8]) { unsafe { tf::yuyv(s, d) } }
            pub fn nv12(y: &[u8], uv: &[u8], d: &mut [u8]) { unsafe { tf::nv12(y, uv, d) } }
            pub fn hresize(s: &[u8], cn: usize, xo: &[u32], a: &[[i16; 2]], d: &mut [i32]) {
                unsafe { tf::hresize(s, cn, xo, a, d) }
            }
            pub fn vresize(r0: &[i32], r1: &[i32], b0: i16, b1: i16, d: &mut [u8]) { unsafe { tf::vresize(r0, r1, b0, b1, d) } }
            pub fn area2(s0: &[u8], s1: &[u8], cn: usize, d: &mut [u8]) { unsafe { tf::area2(s0, s1, cn, d) } }
            pub fn normalize(s: &[u8], n: &Norm, r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
                unsafe { tf::normalize(s, n, r, g, b) }
            }
            pub fn quant_f32(s: &[f32], sc: f32, zp: i32, d: &mut [i8]) { unsafe { tf::quant_f32(s, sc, zp, d) } }
            pub fn quant_u8(s: &[u8], sc: f32, zp: i32, d: &mut [i8]) { unsafe { tf::quant_u8(s, sc, zp, d) } }

            /// Installs every row of this module into `k` under the implementation name `name`.
            pub fn install_all(k: &mut crate::Kernels, name: &'static str) {
                k.yuyv = yuyv;
                k.nv12 = nv12;
                k.hresize = hresize;
                k.vresize = vresize;
                k.area2 = area2;
                k.normalize = normalize;
                k.quant_f32 = quant_f32;
                k.quant_u8 = quant_u8;
                for e in k.names.iter_mut().filter(|e| !e.0.starts_with("qconv_") && !e.0.starts_with("dwconv_") && !e.0.starts_with("pwconv_")) {
                    e.1 = name;
                }
            }
        }
    };
}
pub(crate) use multiversion;
