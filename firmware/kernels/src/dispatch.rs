//! Run-time selection of kernel implementations.

use crate::scalar::{self, Norm};
use std::sync::OnceLock;

pub(crate) type HResize = fn(&[u8], usize, &[u32], &[[i16; 2]], &mut [i32]);

/// A table of row primitives, one implementation per kernel, chosen from the CPU's features.
/// All fields are safe function pointers: SIMD entries are wrappers that are only put into a table
/// after their feature was detected.
#[derive(Clone)]
pub struct Kernels {
    pub(crate) yuyv: fn(&[u8], &mut [u8]),
    pub(crate) nv12: fn(&[u8], &[u8], &mut [u8]),
    pub(crate) hresize: HResize,
    pub(crate) vresize: fn(&[i32], &[i32], i16, i16, &mut [u8]),
    pub(crate) area2: fn(&[u8], &[u8], usize, &mut [u8]),
    pub(crate) normalize: fn(&[u8], &Norm, &mut [f32], &mut [f32], &mut [f32]),
    pub(crate) quant_f32: fn(&[f32], f32, i32, &mut [i8]),
    pub(crate) quant_u8: fn(&[u8], f32, i32, &mut [i8]),
    pub(crate) dw_channel: crate::qconv::DwChannel,
    pub(crate) pw_pack: crate::qconv::PwPack,
    pub(crate) pw_block: crate::qconv::PwBlock,
    pub(crate) ep_i8: crate::qconv::EpI8,
    pub(crate) ep_f32: crate::qconv::EpF32,
    pub(crate) dw_f32: crate::dwconv_f32::DwF32Rows,
    /// (output channels per panel, panel kernel).
    pub(crate) pw_f32: (usize, crate::pwconv_f32::PwF32Panel),
    /// (kernel, implementation) for every entry above.
    pub(crate) names: Vec<(&'static str, &'static str)>,
}

impl std::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.names.iter().copied()).finish()
    }
}

pub(crate) const KERNELS: [&str; 13] = [
    "yuyv_to_rgb", "nv12_to_rgb", "resize_h", "resize_v", "resize_area2", "normalize", "quantize_f32", "quantize_u8",
    "qconv_dw", "qconv_pw", "qconv_epilogue", "dwconv_f32", "pwconv_f32",
];

impl Kernels {
    /// The scalar reference table.
    pub fn scalar() -> Kernels {
        Kernels {
            yuyv: scalar::yuyv_row_to_rgb,
            nv12: scalar::nv12_row_to_rgb,
            hresize: scalar::hresize_row,
            vresize: scalar::vresize_row,
            area2: scalar::area2_row,
            normalize: scalar::normalize_row,
            quant_f32: scalar::quantize_f32_row,
            quant_u8: scalar::quantize_u8_row,
            dw_channel: crate::qconv::scalar::dw_channel,
            pw_pack: crate::qconv::scalar::pw_pack,
            pw_block: crate::qconv::scalar::pw_block,
            ep_i8: crate::qconv::scalar::epilogue_i8,
            ep_f32: crate::qconv::scalar::epilogue_f32,
            dw_f32: crate::dwconv_f32::scalar::dw_rows,
            pw_f32: (crate::pwconv_f32::scalar::MR, crate::pwconv_f32::scalar::panel),
            names: KERNELS.iter().map(|&k| (k, "scalar")).collect(),
        }
    }

    /// The best table for this CPU, ignoring `OAR_KERNELS`.
    pub fn detected() -> Kernels {
        Kernels::available().pop().unwrap_or_else(Kernels::scalar)
    }

    /// Every table this CPU can run, scalar first and the best last (tests and benchmarks
    /// compare them all).
    pub fn available() -> Vec<Kernels> {
        #[allow(unused_mut)]
        let mut v = vec![Kernels::scalar()];
        #[cfg(target_arch = "x86_64")]
        v.extend(crate::x86::variants());
        #[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
        v.extend(crate::neon::variants());
        v
    }

    /// Name of the implementation used for most kernels of this table (e.g. "avx2").
    pub fn label(&self) -> &'static str {
        self.names.iter().map(|e| e.1).find(|&n| n != "scalar").unwrap_or("scalar")
    }

    /// The process-wide table: [`Kernels::detected`], or [`Kernels::scalar`] when the environment
    /// variable `OAR_KERNELS` is `scalar`. Computed once.
    pub fn global() -> &'static Kernels {
        static GLOBAL: OnceLock<Kernels> = OnceLock::new();
        GLOBAL.get_or_init(|| match std::env::var("OAR_KERNELS") {
            Ok(v) if v.eq_ignore_ascii_case("scalar") => Kernels::scalar(),
            _ => Kernels::detected(),
        })
    }

    /// (kernel, implementation) pairs of this table.
    pub fn names(&self) -> Vec<(&'static str, &'static str)> {
        self.names.clone()
    }

    pub(crate) fn set_name(&mut self, kernel: &'static str, imp: &'static str) {
        if let Some(e) = self.names.iter_mut().find(|e| e.0 == kernel) {
            e.1 = imp;
        }
    }
}

/// Which implementation each kernel uses in this process, e.g. `("resize_v", "avx2")`.
pub fn selected() -> Vec<(&'static str, &'static str)> {
    Kernels::global().names()
}
