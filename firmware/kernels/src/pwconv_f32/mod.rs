//! Float pointwise (1×1, stride 1, group 1) convolution on CHW data with a per-channel bias and a
//! fused activation: `out[o][p] = act(bias[o] + Σ_i w[o][i] · x[i][p])`. It replaces tract's matrix
//! product for 1×1 convs and the element-wise passes after it (BatchNorm folded by the caller,
//! ReLU / clip / hard-swish here) in oar's float plans.
//!
//! # Layout
//! `x` is `[inputs][pixels]` (one image, channels first): the `pixels` values of an input channel
//! are contiguous, so a block of pixels of every input channel is read in place (no packing of that
//! side). The weights are packed once ([`Kernels::pack_pointwise_f32`]) into panels of `mr` output
//! channels, `[o / mr][i][mr]` (the last panel zero-padded), `mr` being the table's micro-kernel
//! height; the bias is padded the same way. A micro-kernel computes `mr` output channels × a few
//! pixel vectors with all accumulators in registers, applies bias and activation on them and stores.
//! Pixels are walked in tiles whose input columns stay in L1/L2 while every panel passes over them.
//!
//! # Arithmetic
//! The scalar reference rounds each product and each sum (no FMA), inputs in order; the AVX2 and
//! NEON micro-kernels accumulate with fused multiply-adds in the same order: they differ from the
//! reference by at most the rounding of the products, ≤ 2⁻²³ · (inputs + 1) · (|bias| + Σ|w·x|)
//! per output before the activation. The activation is [`FloatActivation`]'s, applied as in
//! [`crate::dwconv_f32`].
//!
//! # Threads
//! [`PwOut::split_at`] cuts an output into disjoint pixel ranges that can be written from several
//! threads (each call computes its own columns of every output channel).

pub(crate) mod scalar;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

use crate::dwconv_f32::Act;
use crate::error::{area, bad, check_len};
use crate::{FloatActivation, KernelError, Kernels};
use std::marker::PhantomData;

/// One micro-kernel call: `mr` output channels (a packed panel) × pixel columns `[0, cols)` of
/// `x` (row `i` at `x + i·x_stride`), written to `out` (row `r` at `out + r·out_stride`), only
/// the first `rows` (≤ `mr`) rows stored.
pub(crate) struct Panel {
    pub x: *const f32,
    pub x_stride: usize,
    pub inputs: usize,
    /// `[inputs][mr]`.
    pub w: *const f32,
    /// `[mr]`.
    pub bias: *const f32,
    pub out: *mut f32,
    pub out_stride: usize,
    pub rows: usize,
    pub cols: usize,
}

/// Computes one [`Panel`]. Safety: every pointer covers what the panel describes.
pub(crate) type PwF32Panel = unsafe fn(p: &Panel, act: &Act);

/// Weights and bias of a pointwise conv packed for one kernel table ([`Kernels::pack_pointwise_f32`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PackedPointwise {
    inputs: usize,
    outputs: usize,
    mr: usize,
    /// `[outputs.div_ceil(mr)][inputs][mr]`.
    w: Vec<f32>,
    /// `[outputs.div_ceil(mr) · mr]`.
    bias: Vec<f32>,
}

impl PackedPointwise {
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }
}

/// The columns `[start, end)` of a `[rows][pixels]` f32 output, writable while other column ranges
/// of the same buffer are written elsewhere (from [`PwOut::new`] then [`PwOut::split_at`]).
pub struct PwOut<'a> {
    ptr: *mut f32,
    rows: usize,
    pixels: usize,
    start: usize,
    end: usize,
    _buf: PhantomData<&'a mut [f32]>,
}

// SAFETY: a `PwOut` only writes its own columns, disjoint from any other `PwOut` split from the
// same buffer, which it borrows mutably for its lifetime.
unsafe impl Send for PwOut<'_> {}

impl<'a> PwOut<'a> {
    /// All columns of `data`, `[rows][pixels]`.
    pub fn new(data: &'a mut [f32], rows: usize, pixels: usize) -> Result<PwOut<'a>, KernelError> {
        check_len("output", area("output", &[rows, pixels])?, data.len())?;
        Ok(PwOut { ptr: data.as_mut_ptr(), rows, pixels, start: 0, end: pixels, _buf: PhantomData })
    }

    /// Columns `[start, start + at)` and `[start + at, end)` (`at` is clamped to the range).
    pub fn split_at(self, at: usize) -> (PwOut<'a>, PwOut<'a>) {
        let mid = (self.start + at).min(self.end);
        (PwOut { end: mid, ..self }, PwOut { start: mid, ..self })
    }

    /// The columns this view writes.
    pub fn columns(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

impl Kernels {
    /// Micro-kernel height of this table's pointwise float kernel (output channels per panel).
    pub fn pointwise_f32_rows(&self) -> usize {
        self.pw_f32.0
    }

    /// Packs `w` (`[outputs][inputs]`) and `bias` (`[outputs]`) for [`Kernels::pointwise_conv_f32`]
    /// of this table.
    pub fn pack_pointwise_f32(&self, w: &[f32], bias: &[f32], outputs: usize, inputs: usize) -> Result<PackedPointwise, KernelError> {
        check_len("w", area("w", &[outputs, inputs])?, w.len())?;
        check_len("bias", outputs, bias.len())?;
        let mr = self.pw_f32.0;
        let panels = outputs.div_ceil(mr);
        let mut pw = vec![0f32; panels * inputs * mr];
        for (o, row) in w.chunks_exact(inputs).enumerate() {
            let (panel, r) = (o / mr, o % mr);
            for (i, &v) in row.iter().enumerate() {
                pw[(panel * inputs + i) * mr + r] = v;
            }
        }
        let mut pb = bias.to_vec();
        pb.resize(panels * mr, 0.0);
        Ok(PackedPointwise { inputs, outputs, mr, w: pw, bias: pb })
    }

    /// Pointwise convolution of one CHW image `x` (`[inputs][pixels]`) with packed weights `w`
    /// (from this table) and the fused activation, writing `out`'s columns of `[outputs][pixels]`.
    pub fn pointwise_conv_f32(
        &self,
        w: &PackedPointwise,
        x: &[f32],
        pixels: usize,
        activation: FloatActivation,
        out: PwOut,
    ) -> Result<(), KernelError> {
        check_len("x", area("x", &[w.inputs, pixels])?, x.len())?;
        self.check_pw(w, &out)?;
        if out.pixels != pixels {
            return Err(bad("output", "not [outputs][pixels] of this conv"));
        }
        // SAFETY: `x` holds every column of every input row.
        unsafe { self.pw_run(w, x.as_ptr().add(out.start), pixels, activation, out) }
    }

    /// As [`Kernels::pointwise_conv_f32`], with `x` holding only the input columns of `out`'s
    /// columns: input `i` of output column `out.columns().start + j` is `x[i·x_stride + j]` (an
    /// im2col tile, for instance).
    pub fn pointwise_conv_f32_cols(
        &self,
        w: &PackedPointwise,
        x: &[f32],
        x_stride: usize,
        activation: FloatActivation,
        out: PwOut,
    ) -> Result<(), KernelError> {
        self.check_pw(w, &out)?;
        let n = out.end - out.start;
        if n == 0 {
            return Ok(());
        }
        if x_stride < n {
            return Err(bad("x_stride", "shorter than the output's columns"));
        }
        let need = (w.inputs - 1) * x_stride + n;
        if x.len() < need {
            return Err(KernelError::BufferSize { buffer: "x", expected: need, actual: x.len() });
        }
        // SAFETY: `x` holds `n` columns of every input row, checked above.
        unsafe { self.pw_run(w, x.as_ptr(), x_stride, activation, out) }
    }

    fn check_pw(&self, w: &PackedPointwise, out: &PwOut) -> Result<(), KernelError> {
        if w.mr != self.pw_f32.0 {
            return Err(bad("w", "packed for another kernel table"));
        }
        if out.rows != w.outputs {
            return Err(bad("output", "not [outputs][pixels] of this conv"));
        }
        Ok(())
    }

    /// Safety: `x` (the input column of `out`'s first column) covers `w.inputs` rows of `x_stride`
    /// values, of which `out`'s column count are read.
    unsafe fn pw_run(&self, w: &PackedPointwise, x: *const f32, x_stride: usize, activation: FloatActivation, out: PwOut) -> Result<(), KernelError> {
        let (mr, panel) = self.pw_f32;
        let act = activation.check()?;
        let ci = w.inputs;
        // Pixel tiles: the tile's input columns (≈ 64 KiB) stay in cache across all panels.
        let tile = ((16384 / ci) & !15).max(16);
        let mut p0 = out.start;
        while p0 < out.end {
            let p1 = (p0 + tile).min(out.end);
            for pn in 0..w.outputs.div_ceil(mr) {
                let call = Panel {
                    x: x.add(p0 - out.start),
                    x_stride,
                    inputs: ci,
                    w: w.w.as_ptr().add(pn * ci * mr),
                    bias: w.bias.as_ptr().add(pn * mr),
                    out: out.ptr.add(pn * mr * out.pixels + p0),
                    out_stride: out.pixels,
                    rows: mr.min(w.outputs - pn * mr),
                    cols: p1 - p0,
                };
                panel(&call, &act);
            }
            p0 = p1;
        }
        Ok(())
    }
}

/// See [`Kernels::pack_pointwise_f32`] (process-wide table).
pub fn pack_pointwise_f32(w: &[f32], bias: &[f32], outputs: usize, inputs: usize) -> Result<PackedPointwise, KernelError> {
    Kernels::global().pack_pointwise_f32(w, bias, outputs, inputs)
}

/// See [`Kernels::pointwise_conv_f32`] (process-wide table).
pub fn pointwise_conv_f32(w: &PackedPointwise, x: &[f32], pixels: usize, activation: FloatActivation, out: PwOut) -> Result<(), KernelError> {
    Kernels::global().pointwise_conv_f32(w, x, pixels, activation, out)
}
