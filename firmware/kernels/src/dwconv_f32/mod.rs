//! Float depthwise convolution, NCHW, one image per call: 3×3 or 5×5 filters, stride 1 or 2, any
//! padding, per-channel bias and a fused activation applied before the store. It replaces tract's
//! float `DepthWiseConv` and the element-wise passes after it (BatchNorm scale folded by the caller,
//! ReLU / clip / hard-swish here) in oar's float plans.
//!
//! # Layout
//! Per channel the input is copied once into a zero-padded plane (the borders are written once per
//! call, only the interior per channel). For stride 2 each padded row is stored as its even columns
//! then its odd columns, so that every tap of a row of outputs reads consecutive values: the same
//! phase-split geometry as the int8 kernels ([`crate::qconv`]'s tap offsets are reused). The row
//! primitive of the dispatch table then computes a whole output plane from that plane.
//!
//! # Arithmetic
//! `y = act(bias + Σ_t w[t]·x[t])`, taps in row-major order (padding contributes nothing). The
//! scalar reference rounds each product and each sum (no FMA); the AVX2 and NEON rows accumulate
//! with fused multiply-adds in the same order, so they differ from the reference by at most the
//! rounding of the products: ≤ 2⁻²³ · (k² + 1) · (|bias| + Σ|w·x|) per output before the activation
//! (the property tests check 1e-5 of that sum). The activation is the same IEEE operations on every
//! table: clip `min(max(v, lo), hi)`, hard-swish `v · max(min(v·α + β, 1), 0)` (mul then add).
//! armv7 and other targets use the scalar rows.

pub(crate) mod scalar;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

use crate::error::{area, bad, check_len};
use crate::qconv::{dw_offsets, Depthwise};
use crate::{KernelError, Kernels};

/// Activation fused after a float depthwise convolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FloatActivation {
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, min), max)` (ReLU6 is `Clip { min: 0, max: 6 }`).
    Clip { min: f32, max: f32 },
    /// `x · clamp(x·alpha + beta, 0, 1)`: ONNX `HardSwish` is alpha = 1/6, beta = 0.5 (also
    /// Paddle's `x · relu6(x + 3) / 6`); `HardSigmoid(alpha, beta)` then `Mul` by `x` in general.
    HardSwish { alpha: f32, beta: f32 },
}

impl FloatActivation {
    /// ONNX `HardSwish` (tract's `HardSwish` element-wise op).
    pub const HARD_SWISH: FloatActivation = FloatActivation::HardSwish { alpha: 1.0 / 6.0, beta: 0.5 };

    pub(crate) fn check(&self) -> Result<Act, KernelError> {
        let (lo, hi, hswish, alpha, beta) = match *self {
            FloatActivation::Identity => (f32::NEG_INFINITY, f32::INFINITY, false, 0.0, 0.0),
            FloatActivation::Relu => (0.0, f32::INFINITY, false, 0.0, 0.0),
            FloatActivation::Clip { min, max } => {
                if min.is_nan() || max.is_nan() || min > max {
                    return Err(bad("activation", "clip needs min <= max"));
                }
                (min, max, false, 0.0, 0.0)
            }
            FloatActivation::HardSwish { alpha, beta } => {
                if !(alpha.is_finite() && beta.is_finite()) {
                    return Err(bad("activation", "hard-swish alpha and beta must be finite"));
                }
                (f32::NEG_INFINITY, f32::INFINITY, true, alpha, beta)
            }
        };
        Ok(Act { lo, hi, hswish, alpha, beta })
    }
}

/// The activation as the rows apply it: a clamp to `[lo, hi]`, then the hard-swish if `hswish`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Act {
    pub lo: f32,
    pub hi: f32,
    pub hswish: bool,
    pub alpha: f32,
    pub beta: f32,
}

impl Act {
    /// The reference (SIMD rows do these operations in this order).
    #[inline(always)]
    pub fn apply(&self, v: f32) -> f32 {
        let v = v.max(self.lo).min(self.hi);
        if self.hswish {
            v * (v * self.alpha + self.beta).min(1.0).max(0.0)
        } else {
            v
        }
    }
}

/// One channel's padded plane and where each output row and tap reads in it.
pub(crate) struct Rows<'a> {
    /// The plane, with at least [`PLANE_SLACK`] readable values after its last row.
    pub plane: &'a [f32],
    /// Plane values between consecutive output rows (`stride · padded width`).
    pub row_step: usize,
    /// Offset of each of the `k·k` taps (row-major) from an output row's start.
    pub offsets: &'a [usize],
    pub oh: usize,
    pub ow: usize,
}

impl Rows<'_> {
    /// Whether reading `lanes` values at every output position rounded up to whole vectors stays in
    /// the plane (the SIMD rows check it once per channel).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    pub fn fits(&self, lanes: usize) -> bool {
        let max_off = self.offsets.iter().copied().max().unwrap_or(0);
        self.oh >= 1 && (self.oh - 1) * self.row_step + max_off + self.ow.max(lanes) <= self.plane.len()
    }
}

/// Computes one channel's `oh·ow` outputs: `out[oy·ow + ox] = act(bias + Σ_t w[t] · plane[oy·row_step
/// + offsets[t] + ox])`.
pub(crate) type DwF32Rows = fn(rows: &Rows, w: &[f32], bias: f32, act: &Act, out: &mut [f32]);

/// Zeros after the plane: a vector at the last output may read past the last valid value.
pub(crate) const PLANE_SLACK: usize = 16;

/// Copies one channel into the (phase-split for stride 2) padded plane; returns `[pw, p1]`, the
/// padded row length and where phase 1 starts in a row (as `qconv::dw_offsets` takes them).
fn fill_plane(x: &[f32], shape: &Depthwise, plane: &mut Vec<f32>) -> [usize; 2] {
    let &Depthwise { height: h, width: wd, stride: s, pad: [pt, pl, pb, pr], .. } = shape;
    let (ph, pw) = (h + pt + pb, wd + pl + pr);
    let len = ph * pw + PLANE_SLACK;
    if plane.len() != len {
        plane.clear();
        plane.resize(len, 0.0);
    }
    let p1 = if s == 2 { pw.div_ceil(2) } else { pw };
    for (y, row) in x.chunks_exact(wd).enumerate() {
        let dst = &mut plane[(y + pt) * pw..(y + pt + 1) * pw];
        if s == 1 {
            dst[pl..pl + wd].copy_from_slice(row);
        } else {
            // Padded column `pl + xi` goes to phase `(pl + xi) % 2`, index `(pl + xi) / 2`: from
            // the first xi with an even column `a`, pairs (even, odd) land at the same index.
            let (even, odd) = dst.split_at_mut(p1);
            let a = pl % 2;
            if a == 1 {
                odd[pl / 2] = row[0];
            }
            let base = (pl + a) / 2;
            let pairs = row[a.min(wd)..].chunks_exact(2);
            if let [v] = pairs.remainder() {
                even[(pl + wd - 1) / 2] = *v;
            }
            for ((e, o), p) in even[base..].iter_mut().zip(odd[base..].iter_mut()).zip(pairs) {
                *e = p[0];
                *o = p[1];
            }
        }
    }
    [pw, p1]
}

impl Kernels {
    /// Float depthwise convolution of one CHW image `x` (`[channels][height][width]`) with weights
    /// `w` (`[channels][k][k]`), `bias` (`[channels]`) and the fused activation; `out` is
    /// `[channels][oh][ow]` (see [`Depthwise::output_hw`]).
    pub fn depthwise_conv_f32(
        &self,
        shape: &Depthwise,
        x: &[f32],
        w: &[f32],
        bias: &[f32],
        activation: FloatActivation,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        let &Depthwise { channels: c, height: h, width: wd, kernel: k, stride: s, .. } = shape;
        shape.check_kernel()?;
        check_len("x", area("x", &[c, h, wd])?, x.len())?;
        check_len("w", c * k * k, w.len())?;
        check_len("bias", c, bias.len())?;
        let (oh, ow) = shape.output_hw()?;
        check_len("output", area("output", &[c, oh, ow])?, out.len())?;
        let act = activation.check()?;
        let mut plane = Vec::new();
        let mut offsets = Vec::new();
        let n = oh * ow;
        for ch in 0..c {
            let geo = fill_plane(&x[ch * h * wd..(ch + 1) * h * wd], shape, &mut plane);
            if offsets.is_empty() {
                dw_offsets(k, s, geo, &mut offsets);
            }
            let rows = Rows { plane: &plane, row_step: s * geo[0], offsets: &offsets, oh, ow };
            (self.dw_f32)(&rows, &w[ch * k * k..(ch + 1) * k * k], bias[ch], &act, &mut out[ch * n..(ch + 1) * n]);
        }
        Ok(())
    }
}

/// See [`Kernels::depthwise_conv_f32`] (process-wide table).
pub fn depthwise_conv_f32(
    shape: &Depthwise,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    activation: FloatActivation,
    out: &mut [f32],
) -> Result<(), KernelError> {
    Kernels::global().depthwise_conv_f32(shape, x, w, bias, activation, out)
}
