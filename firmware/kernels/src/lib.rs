//! Pixel and tensor kernels for oar: camera formats to RGB, OpenCV-exact bilinear resize,
//! normalisation into NCHW f32, int8 quantization, a fused camera-frame -> tensor pass, and int8
//! depthwise / pointwise convolutions with a fused requantizing epilogue ([`qconv`]).
//!
//! | ISA | resize, colour, normalise, quantize | int8 depthwise / pointwise / epilogue |
//! |---|---|---|
//! | x86-64 | SSE4.1, AVX2 (horizontal resize scalar) | AVX2, AVX-VNNI, AVX-512 VNNI (the SSE4.1 table: scalar rows on a faster plane build) |
//! | aarch64 | NEON (horizontal resize scalar) | NEON (`vmlal`); with `dotprod`: SDOT depthwise and pointwise, NEON epilogue |
//! | armv7 with NEON | vertical resize (`asm!`), rest scalar | NEON `asm!` (`neon-armv7`): all three; f32 hard-swish and a few edge rows scalar |
//! | armv7 without NEON, riscv64, others | scalar | scalar |
//!
//! The float depthwise 3×3 / 5×5 convolution with a fused activation ([`dwconv_f32`]): AVX2+FMA on
//! x86-64, NEON on aarch64, scalar elsewhere (armv7 included); likewise the float pointwise 1×1
//! convolution with a fused activation ([`pwconv_f32`]).
//!
//! # Dispatch
//! Every kernel has a scalar reference ([`scalar`]) and SIMD versions: AVX2 and SSE4.1 on x86-64
//! (`is_x86_feature_detected!`), NEON on aarch64 (always present, still chosen by the dispatcher) and
//! NEON on armv7 (only after run-time detection: `HWCAP_NEON` read from `/proc/self/auxv`, since
//! `is_arm_feature_detected!` is unstable; NEON intrinsics and `target_feature(enable = "neon")` are
//! unstable there too, so the armv7 NEON kernels — the vertical resize pass and the int8
//! convolutions — are `asm!`, other rows scalar). The aarch64 dot-product kernels are `asm!` SDOT
//! too (`vdotq_s32` is unstable), installed only when `dotprod` is detected.
//! riscv64 and others use the scalar code.
//! Features are detected once ([`Kernels::global`], a `OnceLock`); the table of function pointers
//! it yields is used by the free functions of this crate. [`selected`] lists which implementation
//! each kernel got, for `oar-edge probe`. `OAR_KERNELS=scalar` in the environment forces the scalar
//! table (benchmarks, debugging).
//!
//! The kernels are assembled from row primitives (a colour-conversion row, a horizontal and a
//! vertical resize pass, a normalisation row, a quantization row); a SIMD table only replaces rows.
//!
//! # Exactness
//! - Integer kernels (YUYV/NV12 -> RGB, resize, quantization) are bit-exact with the scalar
//!   reference on every implementation; the proptests check it.
//! - [`resize_bilinear_u8`] is bit-exact with OpenCV 5.0 `cv2.resize(..., INTER_LINEAR)` for u8
//!   (golden files in `tests/golden`, made by `tests/gen_cv2_golden.py`), including OpenCV's switch to
//!   the INTER_AREA fast path for an exact 2x downscale and its copy for an unchanged size.
//! - Normalisation computes `(v * scale - mean) / std` in f32 as three separately rounded IEEE
//!   operations (no FMA, no reciprocal): the stated bound is 0 ulp — every table is bit-identical to
//!   the scalar reference, and the tests compare bit patterns.
//! - The fused pass gives exactly the values of the chain convert -> resize -> normalise (it runs
//!   the same row primitives), so the same bounds apply.

pub mod auxv;
mod dispatch;
pub mod dwconv_f32;
pub mod pwconv_f32;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod multiversion;
mod error;
mod resize;
pub mod qconv;
pub mod scalar;
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
mod neon;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use dispatch::{selected, Kernels};
pub use error::KernelError;
pub use scalar::Norm;
pub use dwconv_f32::{depthwise_conv_f32, FloatActivation};
pub use pwconv_f32::{pack_pointwise_f32, pointwise_conv_f32, PackedPointwise, PwOut};
pub use qconv::{depthwise_conv_i8, pointwise_conv_i8, Activation, Depthwise, Epilogue, Output, Pointwise};

use error::{area, bad, check_len};

/// What the bytes of a frame are: a camera's capture format, a source's frames, the input of
/// [`frame_to_tensor`] (which takes the raw layouts; MJPEG is decoded first). Pipeline files spell
/// it in lower case, board profiles as the FourCC (`YUYV`, `NV12`, `MJPEG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum PixelFormat {
    /// Packed 4:2:2, `Y0 U Y1 V`, 2 bytes per pixel, even width; BT.601 limited range.
    #[cfg_attr(feature = "serde", serde(alias = "YUYV"))]
    Yuyv,
    /// Planar Y then interleaved UV at half resolution, even width and height; BT.601 limited range
    /// (CSI cameras through libcamera's V4L2 layer).
    #[cfg_attr(feature = "serde", serde(alias = "NV12"))]
    Nv12,
    /// Packed 8-bit RGB.
    #[cfg_attr(feature = "serde", serde(alias = "RGB"))]
    Rgb,
    /// Packed 8-bit BGR (OpenCV's order).
    #[cfg_attr(feature = "serde", serde(alias = "BGR"))]
    Bgr,
    /// One complete JPEG image per frame (less USB bandwidth at high resolutions).
    #[cfg_attr(feature = "serde", serde(alias = "MJPEG"))]
    Mjpeg,
}

impl PixelFormat {
    /// The name a pipeline file uses.
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Yuyv => "yuyv",
            PixelFormat::Nv12 => "nv12",
            PixelFormat::Rgb => "rgb",
            PixelFormat::Bgr => "bgr",
            PixelFormat::Mjpeg => "mjpeg",
        }
    }

    /// The V4L2 FourCC a camera is asked for.
    pub fn fourcc(self) -> &'static [u8; 4] {
        match self {
            PixelFormat::Yuyv => b"YUYV",
            PixelFormat::Nv12 => b"NV12",
            PixelFormat::Rgb => b"RGB3",
            PixelFormat::Bgr => b"BGR3",
            PixelFormat::Mjpeg => b"MJPG",
        }
    }

    /// Bytes of a `w`×`h` frame, or an error for sizes the format cannot hold (and for MJPEG,
    /// whose frames have no fixed size).
    pub fn frame_len(self, w: usize, h: usize) -> Result<usize, KernelError> {
        let n = area("frame", &[w, h])?;
        match self {
            PixelFormat::Yuyv if w % 2 != 0 => Err(bad("width", "YUYV needs an even width")),
            PixelFormat::Nv12 if w % 2 != 0 || h % 2 != 0 => {
                Err(bad("width/height", "NV12 needs an even width and height"))
            }
            PixelFormat::Yuyv => area("frame", &[n, 2]),
            PixelFormat::Nv12 => Ok(n + n / 2),
            PixelFormat::Rgb | PixelFormat::Bgr => area("frame", &[n, 3]),
            PixelFormat::Mjpeg => Err(bad("format", "MJPEG frames are compressed: decode them first")),
        }
    }
}

/// Channel order of a model input (and of a plan's manifest: `"RGB"` / `"BGR"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ColorOrder {
    #[cfg_attr(feature = "serde", serde(rename = "RGB"))]
    Rgb,
    #[cfg_attr(feature = "serde", serde(rename = "BGR"))]
    Bgr,
}

/// Target of [`frame_to_tensor`]: the model's input size and normalisation.
/// `dst[c][y][x] = (pixel_c * scale - mean[c]) / std[c]`, channels in `order`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorSpec {
    pub width: usize,
    pub height: usize,
    pub order: ColorOrder,
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// Bilinear resize of an interleaved u8 image (channels 1..=4), bit-exact with OpenCV's
/// `cv2.resize(src, (dst_w, dst_h), interpolation=cv2.INTER_LINEAR)` for u8 images
/// (half-pixel centres, 11-bit fixed-point coefficients, OpenCV's rounding). Like OpenCV it uses the
/// INTER_AREA fast path for an exact 2x downscale in both axes and copies when the size is unchanged.
pub fn resize_bilinear_u8(
    src: &[u8],
    src_w: usize,
    src_h: usize,
    channels: usize,
    dst: &mut [u8],
    dst_w: usize,
    dst_h: usize,
) -> Result<(), KernelError> {
    Kernels::global().resize_bilinear_u8(src, src_w, src_h, channels, dst, dst_w, dst_h)
}

/// Interleaved u8 (HWC, 3 channels) -> planar f32 CHW: `dst[c][y][x] = (src * scale - mean[c]) / std[c]`,
/// with channel order swapped (RGB<->BGR) when `swap_rb` (`mean`/`std` index the destination channel).
/// `dst.len() == 3*w*h`. Bit-identical to the scalar reference on every implementation (0 ulp).
pub fn normalize_hwc_to_chw(
    src: &[u8],
    w: usize,
    h: usize,
    scale: f32,
    mean: [f32; 3],
    std: [f32; 3],
    swap_rb: bool,
    dst: &mut [f32],
) -> Result<(), KernelError> {
    Kernels::global().normalize_hwc_to_chw(src, w, h, &Norm { scale, mean, std, swap_rb }, dst)
}

/// YUYV (4:2:2, BT.601 limited range, integer maths of [`scalar::yuv_to_rgb`]) -> packed RGB.
pub fn yuyv_to_rgb(src: &[u8], w: usize, h: usize, dst: &mut [u8]) -> Result<(), KernelError> {
    Kernels::global().yuyv_to_rgb(src, w, h, dst)
}

/// NV12 (BT.601 limited range) -> packed RGB.
pub fn nv12_to_rgb(src: &[u8], w: usize, h: usize, dst: &mut [u8]) -> Result<(), KernelError> {
    Kernels::global().nv12_to_rgb(src, w, h, dst)
}

/// Camera frame -> normalised NCHW f32 tensor in one pass: colour conversion, resize (as
/// [`resize_bilinear_u8`]), colour order and normalisation, streaming two source rows at a time with
/// no full-size intermediate image. `dst.len() == 3 * spec.width * spec.height`.
pub fn frame_to_tensor(
    src: &[u8],
    format: PixelFormat,
    src_w: usize,
    src_h: usize,
    spec: &TensorSpec,
    dst: &mut [f32],
) -> Result<(), KernelError> {
    Kernels::global().frame_to_tensor(src, format, src_w, src_h, spec, dst)
}

/// f32 -> int8: `q = clamp(round(x / scale) + zero_point, -128, 127)`, rounding half away from zero;
/// NaN maps to `zero_point`. Bit-exact with the scalar reference everywhere.
pub fn quantize_f32(src: &[f32], scale: f32, zero_point: i32, dst: &mut [i8]) -> Result<(), KernelError> {
    Kernels::global().quantize_f32(src, scale, zero_point, dst)
}

/// u8 -> int8 with the same formula as [`quantize_f32`] applied to `x as f32`.
pub fn quantize_u8(src: &[u8], scale: f32, zero_point: i32, dst: &mut [i8]) -> Result<(), KernelError> {
    Kernels::global().quantize_u8(src, scale, zero_point, dst)
}

impl Kernels {
    /// See [`resize_bilinear_u8`].
    pub fn resize_bilinear_u8(
        &self,
        src: &[u8],
        src_w: usize,
        src_h: usize,
        channels: usize,
        dst: &mut [u8],
        dst_w: usize,
        dst_h: usize,
    ) -> Result<(), KernelError> {
        if !(1..=4).contains(&channels) {
            return Err(bad("channels", "must be 1..=4"));
        }
        check_len("src", area("src", &[src_w, src_h, channels])?, src.len())?;
        check_len("dst", area("dst", &[dst_w, dst_h, channels])?, dst.len())?;
        let plan = resize::Plan::new(src_w, src_h, dst_w, dst_h, channels);
        let mut rows = resize::RowStream::new(&plan, self);
        let sw = src_w * channels;
        let mut fetch = |y: usize, buf: &mut [u8]| buf.copy_from_slice(&src[y * sw..(y + 1) * sw]);
        for (dy, out) in dst.chunks_exact_mut(dst_w * channels).enumerate() {
            rows.row(dy, out, &mut fetch);
        }
        Ok(())
    }

    /// See [`normalize_hwc_to_chw`].
    pub fn normalize_hwc_to_chw(
        &self,
        src: &[u8],
        w: usize,
        h: usize,
        norm: &Norm,
        dst: &mut [f32],
    ) -> Result<(), KernelError> {
        let n = area("image", &[w, h, 3])? / 3;
        check_len("src", 3 * n, src.len())?;
        check_len("dst", 3 * n, dst.len())?;
        let (r, rest) = dst.split_at_mut(n);
        let (g, b) = rest.split_at_mut(n);
        (self.normalize)(src, norm, r, g, b);
        Ok(())
    }

    /// See [`yuyv_to_rgb`].
    pub fn yuyv_to_rgb(&self, src: &[u8], w: usize, h: usize, dst: &mut [u8]) -> Result<(), KernelError> {
        check_len("src", PixelFormat::Yuyv.frame_len(w, h)?, src.len())?;
        check_len("dst", 3 * w * h, dst.len())?;
        (self.yuyv)(src, dst);
        Ok(())
    }

    /// See [`nv12_to_rgb`].
    pub fn nv12_to_rgb(&self, src: &[u8], w: usize, h: usize, dst: &mut [u8]) -> Result<(), KernelError> {
        check_len("src", PixelFormat::Nv12.frame_len(w, h)?, src.len())?;
        check_len("dst", 3 * w * h, dst.len())?;
        for (y, out) in dst.chunks_exact_mut(3 * w).enumerate() {
            self.source_row(src, PixelFormat::Nv12, w, h, y, out);
        }
        Ok(())
    }

    /// Source row `y` of a frame as packed 3-channel bytes (RGB for YUV formats, as stored otherwise).
    fn source_row(&self, src: &[u8], format: PixelFormat, w: usize, h: usize, y: usize, out: &mut [u8]) {
        match format {
            PixelFormat::Yuyv => (self.yuyv)(&src[2 * w * y..2 * w * (y + 1)], out),
            PixelFormat::Nv12 => {
                let uv = w * h + (y / 2) * w;
                (self.nv12)(&src[w * y..w * (y + 1)], &src[uv..uv + w], out)
            }
            PixelFormat::Rgb | PixelFormat::Bgr => out.copy_from_slice(&src[3 * w * y..3 * w * (y + 1)]),
            PixelFormat::Mjpeg => unreachable!("frame_len refuses MJPEG before any row is read"),
        }
    }

    /// See [`frame_to_tensor`].
    pub fn frame_to_tensor(
        &self,
        src: &[u8],
        format: PixelFormat,
        src_w: usize,
        src_h: usize,
        spec: &TensorSpec,
        dst: &mut [f32],
    ) -> Result<(), KernelError> {
        check_len("src", format.frame_len(src_w, src_h)?, src.len())?;
        let n = area("dst", &[spec.width, spec.height, 3])? / 3;
        check_len("dst", 3 * n, dst.len())?;
        let src_order = if format == PixelFormat::Bgr { ColorOrder::Bgr } else { ColorOrder::Rgb };
        let norm = Norm { scale: spec.scale, mean: spec.mean, std: spec.std, swap_rb: src_order != spec.order };
        let plan = resize::Plan::new(src_w, src_h, spec.width, spec.height, 3);
        let mut rows = resize::RowStream::new(&plan, self);
        let mut fetch = |y: usize, buf: &mut [u8]| self.source_row(src, format, src_w, src_h, y, buf);
        let mut line = vec![0u8; 3 * spec.width];
        let (r, rest) = dst.split_at_mut(n);
        let (g, b) = rest.split_at_mut(n);
        let w = spec.width;
        for dy in 0..spec.height {
            rows.row(dy, &mut line, &mut fetch);
            let span = dy * w..(dy + 1) * w;
            (self.normalize)(&line, &norm, &mut r[span.clone()], &mut g[span.clone()], &mut b[span]);
        }
        Ok(())
    }

    /// See [`quantize_f32`].
    pub fn quantize_f32(&self, src: &[f32], scale: f32, zp: i32, dst: &mut [i8]) -> Result<(), KernelError> {
        check_quant(scale, zp)?;
        check_len("dst", src.len(), dst.len())?;
        (self.quant_f32)(src, scale, zp, dst);
        Ok(())
    }

    /// See [`quantize_u8`].
    pub fn quantize_u8(&self, src: &[u8], scale: f32, zp: i32, dst: &mut [i8]) -> Result<(), KernelError> {
        check_quant(scale, zp)?;
        check_len("dst", src.len(), dst.len())?;
        (self.quant_u8)(src, scale, zp, dst);
        Ok(())
    }
}

fn check_quant(scale: f32, zp: i32) -> Result<(), KernelError> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(bad("scale", "must be finite and > 0"));
    }
    if !(-128..=127).contains(&zp) {
        return Err(bad("zero_point", "must be in -128..=127"));
    }
    Ok(())
}
