//! int8 convolutions of the shapes edge models are made of — depthwise 3×3 / 5×5 (any stride and
//! padding) and pointwise 1×1 — with a fused epilogue (bias, per-output-channel requantization,
//! activation) writing int8 or f32 in the same pass. NCHW layout, one image per call.
//!
//! # Arithmetic (identical on every implementation)
//! - Weights are symmetric int8 (zero point 0); activations int8 with a zero point `x_zp`.
//! - Accumulator of output channel `o` at one pixel: `acc = bias[o] + Σ w · (x − x_zp)` over the taps
//!   that fall inside the image (padding contributes nothing: it stands for the value `x_zp`), in
//!   wrapping i32 arithmetic.
//! - Requantization to int8, exactly onnxruntime's `QLinearConv` (MLAS `RequantizeOutput`):
//!   `m = (x_scale · w_scale[o]) / y_scale` in f32 (the caller passes `scale[o] = x_scale · w_scale[o]`),
//!   `v = clamp(f32(acc) · m, lo − y_zp, hi − y_zp)`, `q = round_half_even(v) + y_zp`, where
//!   `[lo, hi]` is `[-128, 127]` narrowed by the activation ([`Activation::Relu`] → `lo = y_zp`; a clip
//!   `[a, b]` → `lo = y_zp + rne(a / y_scale)`, `hi = y_zp + rne(b / y_scale)`, both kept in range).
//! - Hard-swish to int8: `r = f32(acc) · scale[o]`, `h = r · clamp(r + 3, 0, 6) / 6`,
//!   `q = round_half_even(clamp(h / y_scale, −128 − y_zp, 127 − y_zp)) + y_zp`.
//! - f32 output (a last layer): `r = f32(acc) · scale[o]`, then the activation in f32
//!   (`max(r, 0)`, `min(max(r, a), b)` or the hard-swish formula above).
//!
//! Every float step is one IEEE operation in this order (no FMA, no reciprocal), so SIMD versions
//! are bit-exact with the scalar reference; the property tests compare every table with it and the
//! scalar reference with onnxruntime (`tests/golden_qconv.rs`).

pub(crate) mod scalar;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
#[cfg(target_arch = "arm")]
pub(crate) mod armv7;

use crate::error::{area, bad, check_len};
use crate::{KernelError, Kernels};

/// Activation fused after the requantization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, min), max)` (ReLU6 is `Clip { min: 0, max: 6 }`).
    Clip { min: f32, max: f32 },
    /// `x · clamp(x + 3, 0, 6) / 6`.
    HardSwish,
}

/// What the convolution writes.
#[derive(Debug)]
pub enum Output<'a> {
    /// int8 with `real = (q − zero_point) · scale`.
    I8 { data: &'a mut [i8], scale: f32, zero_point: i32 },
    /// int8 with `real = (q − zero_point) · scales[c]` in channel `c` (`[channels][plane]`): for
    /// a consumer that reads each channel alone (a depthwise conv, whose input scales are per
    /// channel too), so that narrow channels keep their precision.
    I8PerChannel { data: &'a mut [i8], scales: &'a [f32], zero_point: i32 },
    /// Real values (for a last layer or a float consumer).
    F32(&'a mut [f32]),
}

impl<'a> Output<'a> {
    /// Consecutive pieces of `channels` channels of `plane` values each (the last may be
    /// shorter), each with its channels' quantization: lets callers hand disjoint channel ranges
    /// to different threads.
    pub fn chunks(self, channels: usize, plane: usize) -> Vec<Output<'a>> {
        let len = (channels * plane).max(1);
        match self {
            Output::I8 { data, scale, zero_point } => {
                data.chunks_mut(len).map(|data| Output::I8 { data, scale, zero_point }).collect()
            }
            Output::I8PerChannel { data, scales, zero_point } => data
                .chunks_mut(len)
                .zip(scales.chunks(channels.max(1)))
                .map(|(data, scales)| Output::I8PerChannel { data, scales, zero_point })
                .collect(),
            Output::F32(data) => data.chunks_mut(len).map(Output::F32).collect(),
        }
    }
}

/// Per-output-channel epilogue of a quantized convolution (see the module doc for the maths).
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    /// Added to the accumulator, one per output channel (int32, in accumulator units).
    pub bias: &'a [i32],
    /// Real value of one accumulator unit per output channel: `x_scale · w_scale[o]` (f32).
    pub scale: &'a [f32],
    pub activation: Activation,
}

/// A depthwise convolution: one `k`×`k` filter per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depthwise {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// 3 or 5.
    pub kernel: usize,
    /// 1 or 2 (vertical and horizontal).
    pub stride: usize,
    /// Padding `[top, left, bottom, right]`.
    pub pad: [usize; 4],
}

impl Depthwise {
    /// Output (height, width).
    /// The kernels exist for 3×3 and 5×5 filters, stride 1 or 2 (int8 and float alike).
    pub(crate) fn check_kernel(&self) -> Result<(), KernelError> {
        if self.kernel != 3 && self.kernel != 5 {
            return Err(bad("kernel", "depthwise kernels are 3x3 or 5x5"));
        }
        if self.stride != 1 && self.stride != 2 {
            return Err(bad("stride", "must be 1 or 2"));
        }
        Ok(())
    }

    pub fn output_hw(&self) -> Result<(usize, usize), KernelError> {
        let [t, l, b, r] = self.pad;
        let (ph, pw) = (self.height + t + b, self.width + l + r);
        if ph < self.kernel || pw < self.kernel {
            return Err(bad("pad", "padded input is smaller than the kernel"));
        }
        Ok(((ph - self.kernel) / self.stride + 1, (pw - self.kernel) / self.stride + 1))
    }
}

/// A pointwise (1×1, stride 1, no padding) convolution of `inputs` → `outputs` channels over
/// `pixels` positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pointwise {
    pub inputs: usize,
    pub outputs: usize,
    pub pixels: usize,
}

/// One output channel's epilogue, precomputed (see [`scalar::epilogue_i8`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RowEp {
    /// `f32(acc) · mult`: `m` for a clamped int8 output, `scale[o]` otherwise.
    pub mult: f32,
    /// Clamp of the scaled value (int8: `lo − zp`, `hi − zp`; f32: activation bounds, ±inf).
    pub lo: f32,
    pub hi: f32,
    pub zp: i32,
    /// Hard-swish: `Some(y_scale)` for int8, `Some(1.0)` unused for f32.
    pub hswish: bool,
    pub y_scale: f32,
}

impl RowEp {
    /// The factor `fl(fl(1/6) · fl(1/y_scale))` of the int8 hard-swish fast path, when it applies:
    /// a hard-swish row whose `y_scale` keeps the factor normal (the bound is argued in
    /// `x86::hswish_q8`'s doc; every SIMD epilogue uses this one test).
    pub(crate) fn fast_hswish_factor(&self) -> Option<f32> {
        (self.hswish && (7.9e-31..=1.26e30).contains(&self.y_scale)).then(|| (1.0f32 / 6.0) * (1.0 / self.y_scale))
    }
}

/// What the per-channel depthwise kernels share within one call.
pub(crate) struct DwCall<'a> {
    pub shape: &'a Depthwise,
    pub oh: usize,
    pub ow: usize,
    pub x_zp: i32,
}

/// Work buffers of one depthwise call, reused across its channels (each implementation sizes and
/// zero-fills what it uses on first use; padding stays zero because only the interior is rewritten).
#[derive(Default)]
pub(crate) struct DwScratch {
    pub plane: Vec<i16>,
    pub offsets: Vec<usize>,
    /// Raw int8 plane (aarch64 SDOT depthwise: padding holds the call's zero point).
    #[cfg(target_arch = "aarch64")]
    pub plane8: Vec<i8>,
}

/// A depthwise row primitive: `acc[i] = bias + Σ_t weights[t] · src[offsets[t] + i]` (see
/// [`scalar::dw_row`]).
pub(crate) type DwRow = fn(src: &[i16], offsets: &[usize], weights: &[i16], bias: i32, acc: &mut [i32]);

/// One channel: `x` (`h·w` values), its `k·k` weights and bias → `acc[oy·ow + ox]` for the whole
/// output plane. `acc` holds [`DW_SLACK`] more values than `oh·ow` that a kernel may overwrite.
pub(crate) type DwChannel = fn(x: &[i8], call: &DwCall, w: &[i8], bias: i32, scratch: &mut DwScratch, acc: &mut [i32]);

/// Pointwise weights prepared once per call by a table's `pw_pack` for its `pw_block`: `w` in the
/// block's layout (empty for the scalar block, which reads the raw weights), `bias` with the
/// zero-point correction (and whatever correction the block's arithmetic needs).
#[derive(Debug, Default)]
pub(crate) struct PwWeights {
    pub w: Vec<i32>,
    pub bias: Vec<i32>,
}

/// `(raw weights, shape, bias − x_zp·Σw)` → the block's packed weights.
pub(crate) type PwPack = fn(w: &[i8], shape: &Pointwise, bias: &[i32]) -> PwWeights;
pub(crate) type PwBlock =
    fn(x: &[i8], shape: &Pointwise, p0: usize, w: &[i8], pk: &PwWeights, scratch: &mut Vec<i32>, acc: &mut [i32]);
pub(crate) type EpI8 = fn(acc: &[i32], ep: &RowEp, out: &mut [i8]);
pub(crate) type EpF32 = fn(acc: &[i32], ep: &RowEp, out: &mut [f32]);

/// Pixels per pointwise block: the i32 block (outputs × this) stays in L1/L2.
const PW_BLOCK: usize = 96;

/// Extra accumulator values after a depthwise output plane that kernels may write (whole vectors).
pub(crate) const DW_SLACK: usize = 32;

fn row_eps(ep: &Epilogue, out: &Output, n: usize) -> Result<Vec<RowEp>, KernelError> {
    check_len("bias", n, ep.bias.len())?;
    check_len("scale", n, ep.scale.len())?;
    if ep.scale.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(bad("scale", "must be finite and > 0"));
    }
    if let Activation::Clip { min, max } = ep.activation {
        if min.is_nan() || max.is_nan() || min > max {
            return Err(bad("activation", "clip needs min <= max"));
        }
    }
    let hswish = ep.activation == Activation::HardSwish;
    // One row's int8 epilogue for output scale `ys`.
    let int8_row = |s: f32, ys: f32, zp: i32| -> Result<RowEp, KernelError> {
        if !(ys.is_finite() && ys > 0.0) {
            return Err(bad("output scale", "must be finite and > 0"));
        }
        if !(-128..=127).contains(&zp) {
            return Err(bad("output zero_point", "must be in -128..=127"));
        }
        let q = |v: f32| (zp as f32 + (v / ys).round_ties_even()).clamp(-128.0, 127.0) as i32;
        let (lo, hi) = match ep.activation {
            Activation::Relu => (zp, 127),
            Activation::Clip { min, max } => (q(min), q(max)),
            Activation::Identity | Activation::HardSwish => (-128, 127),
        };
        let (lo, hi) = ((lo - zp) as f32, (hi - zp) as f32);
        Ok(RowEp { mult: if hswish { s } else { s / ys }, lo, hi, zp, hswish, y_scale: ys })
    };
    Ok(match *out {
        Output::I8 { scale: ys, zero_point: zp, .. } => ep.scale.iter().map(|&s| int8_row(s, ys, zp)).collect::<Result<_, _>>()?,
        Output::I8PerChannel { scales, zero_point: zp, .. } => {
            check_len("output scales", n, scales.len())?;
            ep.scale.iter().zip(scales).map(|(&s, &ys)| int8_row(s, ys, zp)).collect::<Result<_, _>>()?
        }
        Output::F32(_) => {
            let (lo, hi) = match ep.activation {
                Activation::Relu => (0.0, f32::INFINITY),
                Activation::Clip { min, max } => (min, max),
                Activation::Identity | Activation::HardSwish => (f32::NEG_INFINITY, f32::INFINITY),
            };
            ep.scale.iter().map(|&s| RowEp { mult: s, lo, hi, zp: 0, hswish, y_scale: 1.0 }).collect()
        }
    })
}

fn check_out(out: &Output, n: usize) -> Result<(), KernelError> {
    match out {
        Output::I8 { data, .. } | Output::I8PerChannel { data, .. } => check_len("output", n, data.len()),
        Output::F32(data) => check_len("output", n, data.len()),
    }
}

impl Kernels {
    /// Depthwise int8 convolution of one CHW image `x` with weights `w` (`[channels][k][k]`) and
    /// the fused epilogue; `out` is `[channels][oh][ow]` (see [`Depthwise::output_hw`]).
    pub fn depthwise_conv_i8(
        &self,
        shape: &Depthwise,
        x: &[i8],
        x_zero_point: i32,
        w: &[i8],
        ep: &Epilogue,
        mut out: Output,
    ) -> Result<(), KernelError> {
        let &Depthwise { channels: c, height: h, width: wd, kernel: k, .. } = shape;
        shape.check_kernel()?;
        if !(-128..=127).contains(&x_zero_point) {
            return Err(bad("x_zero_point", "must be in -128..=127"));
        }
        check_len("x", area("x", &[c, h, wd])?, x.len())?;
        check_len("w", c * k * k, w.len())?;
        let (oh, ow) = shape.output_hw()?;
        check_out(&out, area("output", &[c, oh, ow])?)?;
        let eps = row_eps(ep, &out, c)?;

        let call = DwCall { shape, oh, ow, x_zp: x_zero_point };
        let mut scratch = DwScratch::default();
        let n = oh * ow;
        let mut acc = vec![0i32; n + DW_SLACK];
        for ch in 0..c {
            let src = &x[ch * h * wd..(ch + 1) * h * wd];
            (self.dw_channel)(src, &call, &w[ch * k * k..(ch + 1) * k * k], ep.bias[ch], &mut scratch, &mut acc);
            let at = ch * n;
            match &mut out {
                Output::I8 { data, .. } | Output::I8PerChannel { data, .. } => (self.ep_i8)(&acc[..n], &eps[ch], &mut data[at..at + n]),
                Output::F32(data) => (self.ep_f32)(&acc[..n], &eps[ch], &mut data[at..at + n]),
            }
        }
        Ok(())
    }

    /// Pointwise (1×1) int8 convolution of one `[inputs][pixels]` image with weights
    /// `[outputs][inputs]` and the fused epilogue; `out` is `[outputs][pixels]`.
    pub fn pointwise_conv_i8(
        &self,
        shape: &Pointwise,
        x: &[i8],
        x_zero_point: i32,
        w: &[i8],
        ep: &Epilogue,
        mut out: Output,
    ) -> Result<(), KernelError> {
        let &Pointwise { inputs: c, outputs: o, pixels: p } = shape;
        if !(-128..=127).contains(&x_zero_point) {
            return Err(bad("x_zero_point", "must be in -128..=127"));
        }
        check_len("x", area("x", &[c, p])?, x.len())?;
        check_len("w", area("w", &[o, c])?, w.len())?;
        check_out(&out, area("output", &[o, p])?)?;
        let eps = row_eps(ep, &out, o)?;
        // Σ w·(x − zp) = Σ w·x − zp·Σ w: the kernels multiply raw int8 values.
        let bias: Vec<i32> = (0..o)
            .map(|oc| {
                let ws: i32 = w[oc * c..(oc + 1) * c].iter().map(|&v| v as i32).sum();
                ep.bias[oc].wrapping_sub(x_zero_point.wrapping_mul(ws))
            })
            .collect();
        let pk = (self.pw_pack)(w, shape, &bias);
        let mut scratch = Vec::new();
        let mut acc = vec![0i32; o * PW_BLOCK];
        for p0 in (0..p).step_by(PW_BLOCK) {
            let pn = PW_BLOCK.min(p - p0);
            let acc = &mut acc[..o * pn];
            (self.pw_block)(x, shape, p0, w, &pk, &mut scratch, acc);
            for oc in 0..o {
                let row = &acc[oc * pn..(oc + 1) * pn];
                let at = oc * p + p0;
                match &mut out {
                    Output::I8 { data, .. } | Output::I8PerChannel { data, .. } => (self.ep_i8)(row, &eps[oc], &mut data[at..at + pn]),
                    Output::F32(data) => (self.ep_f32)(row, &eps[oc], &mut data[at..at + pn]),
                }
            }
        }
        Ok(())
    }
}

/// See [`Kernels::depthwise_conv_i8`] (process-wide table).
pub fn depthwise_conv_i8(
    shape: &Depthwise,
    x: &[i8],
    x_zero_point: i32,
    w: &[i8],
    ep: &Epilogue,
    out: Output,
) -> Result<(), KernelError> {
    Kernels::global().depthwise_conv_i8(shape, x, x_zero_point, w, ep, out)
}

/// See [`Kernels::pointwise_conv_i8`] (process-wide table).
pub fn pointwise_conv_i8(
    shape: &Pointwise,
    x: &[i8],
    x_zero_point: i32,
    w: &[i8],
    ep: &Epilogue,
    out: Output,
) -> Result<(), KernelError> {
    Kernels::global().pointwise_conv_i8(shape, x, x_zero_point, w, ep, out)
}

/// The phase-split plane of the scalar reference (see [`scalar::dw_channel`]) built with one
/// straight widening copy per row (stride 1) or an even/odd split (stride 2) instead of a division
/// per element: same plane, so the same results; for tables whose row primitive reads that plane.
pub(crate) fn dw_plane_fast(x: &[i8], call: &DwCall, plane: &mut Vec<i16>) -> [usize; 2] {
    let &Depthwise { height: h, width: wd, stride: s, pad: [pt, pl, pb, pr], .. } = call.shape;
    let (ph, pw) = (h + pt + pb, wd + pl + pr);
    if plane.len() != ph * pw {
        plane.clear();
        plane.resize(ph * pw, 0);
    }
    let zp = call.x_zp as i16;
    // Phase 1 starts after phase 0's ceil(pw / 2) values.
    let p1 = if s == 2 { pw.div_ceil(2) } else { pw };
    for (y, row) in x.chunks_exact(wd).enumerate() {
        let dst = &mut plane[(y + pt) * pw..(y + pt + 1) * pw];
        if s == 1 {
            for (d, &v) in dst[pl..pl + wd].iter_mut().zip(row) {
                *d = v as i16 - zp;
            }
        } else {
            // Padded column `pl + xi` goes to phase `(pl + xi) % 2` at `(pl + xi) / 2`.
            let a = pl % 2; // first xi of phase 0
            let (e, o) = dst.split_at_mut(p1);
            for (d, &v) in e[(pl + a) / 2..].iter_mut().zip(row[a.min(wd)..].iter().step_by(2)) {
                *d = v as i16 - zp;
            }
            let b = 1 - a; // first xi of phase 1
            if b < wd {
                for (d, &v) in o[(pl + b) / 2..].iter_mut().zip(row[b..].iter().step_by(2)) {
                    *d = v as i16 - zp;
                }
            }
        }
    }
    [pw, p1]
}

/// One depthwise channel on [`dw_plane_fast`]'s plane with a row primitive `row` (the signature of
/// [`scalar::dw_row`]) per output row.
pub(crate) fn dw_channel_rows(
    x: &[i8],
    call: &DwCall,
    w: &[i8],
    bias: i32,
    scratch: &mut DwScratch,
    acc: &mut [i32],
    row: DwRow,
) {
    let (k, s, ow) = (call.shape.kernel, call.shape.stride, call.ow);
    let geo = dw_plane_fast(x, call, &mut scratch.plane);
    if scratch.offsets.len() != k * k {
        dw_offsets(k, s, geo, &mut scratch.offsets);
    }
    let mut weights = [0i16; 25];
    for (d, &v) in weights.iter_mut().zip(w) {
        *d = v as i16;
    }
    for oy in 0..call.oh {
        row(&scratch.plane[oy * s * geo[0]..], &scratch.offsets, &weights[..k * k], bias, &mut acc[oy * ow..(oy + 1) * ow]);
    }
}

/// Offsets of the `k·k` taps in the phase-split plane (row length `pw`, phase 1 at `p1`).
pub(crate) fn dw_offsets(k: usize, s: usize, [pw, p1]: [usize; 2], offsets: &mut Vec<usize>) {
    offsets.clear();
    offsets.extend((0..k * k).map(|t| (t / k) * pw + if (t % k) % s == 1 { p1 } else { 0 } + (t % k) / s));
}

/// Packs `pn` pixels from `p0` of `x` as `[c/g][pixel]` words of `g` channels (`g` = 2: two i16,
/// `g` = 4: four i8), rows padded to `pv` words with zeros. Returns the number of groups.
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
pub(crate) fn pack_x(x: &[i8], shape: &Pointwise, p0: usize, pn: usize, pv: usize, g: usize, scratch: &mut Vec<i32>) -> usize {
    let &Pointwise { inputs: c, pixels: p, .. } = shape;
    let cg = c.div_ceil(g);
    scratch.clear();
    scratch.resize(cg * pv, 0);
    // Channel by channel into its lane of the words (as `pack_word`): a straight loop per channel
    // row instead of a gather across the group's rows per pixel.
    let (bits, mask) = if g == 2 { (16, 0xffff) } else { (8, 0xff) };
    for (k, dst) in scratch.chunks_exact_mut(pv).enumerate() {
        for j in 0..g.min(c - k * g) {
            let row = &x[(k * g + j) * p + p0..][..pn];
            for (d, &v) in dst.iter_mut().zip(row) {
                *d |= (v as i32 & mask) << (bits * j);
            }
        }
    }
    cg
}

#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
fn pack_word(g: usize, vals: &mut dyn Iterator<Item = i8>) -> i32 {
    let mut v = 0u32;
    for (j, b) in vals.enumerate() {
        v |= if g == 2 { (b as i16 as u16 as u32) << (16 * j) } else { (b as u8 as u32) << (8 * j) };
    }
    v as i32
}

/// The weights as `[c/g][os]` words of `g` channels (see [`pack_x`]), once per call; `os ≥ outputs`
/// is the row stride (words of outputs past `outputs` stay zero, so a block may compute whole tiles).
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
pub(crate) fn pw_pack_groups(w: &[i8], shape: &Pointwise, bias: &[i32], g: usize, os: usize) -> PwWeights {
    let &Pointwise { inputs: c, outputs: o, .. } = shape;
    let cg = c.div_ceil(g);
    let mut ws = vec![0i32; cg * os];
    for oc in 0..o {
        for k in 0..cg {
            ws[k * os + oc] = pack_word(g, &mut w[oc * c + k * g..oc * c + (k * g + g).min(c)].iter().copied());
        }
    }
    PwWeights { w: ws, bias: bias.to_vec() }
}
