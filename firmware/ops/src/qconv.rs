//! `QConv`: an int8 convolution run by `oar-kernels` (one op type, two kernel families).

use crate::OpId;
use oar_kernels::{Activation, Depthwise, Epilogue, Output, Pointwise};
use rayon::prelude::*;
use tract_linalg::multithread::{current_tract_executor, Executor};
use tract_nnef::internal::*;

/// Which kernel family a [`QConv`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// One `kernel`×`kernel` filter per channel (3 or 5), `stride` 1 or 2, padding `[t, l, b, r]`.
    Depthwise { kernel: usize, stride: usize, pad: [usize; 4] },
    /// 1×1, stride 1, no padding.
    Pointwise,
}

/// What a [`QConv`] writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutQuant {
    /// int8, typed `QI8(zero_point, scale)`.
    I8 { scale: f32, zero_point: i32 },
    /// int8 typed `QI8(zero_point, scale)`, channel `c` quantized with `out_scales[c]` (the op's
    /// fifth input) instead of `scale`: the tensor holds the activated output times
    /// `scale / out_scales[c]`. The compiler makes it from a per-channel multiplication then a
    /// quantizing cast (a depthwise input quantized per channel, so that narrow channels keep
    /// their precision).
    I8PerChannel { scale: f32, zero_point: i32 },
    /// Real values.
    F32,
}

/// int8 convolution with fused epilogue. Inputs: `x` (NCHW, i8/u8 or their quantized types),
/// `weights` (i8, `[O][C/group][k][k]`), `bias` (i32, `[O]`), `scale` (f32, `[O]`: real value of one
/// accumulator unit, `x_scale · w_scale[o]`), and for [`OutQuant::I8PerChannel`] `out_scales`
/// (f32, `[O]`). The maths is `oar_kernels::qconv`'s.
#[derive(Debug, Clone, PartialEq)]
pub struct QConv {
    pub family: Family,
    /// Zero point of `x` as stored (u8 inputs are shifted to i8 with it).
    pub x_zero_point: i32,
    pub activation: Activation,
    pub output: OutQuant,
}

impl Eq for QConv {}

impl QConv {
    pub fn op_id(&self) -> OpId {
        let v2 = matches!(self.output, OutQuant::I8PerChannel { .. });
        match (self.family, v2) {
            (Family::Depthwise { .. }, false) => crate::OPS[0],
            (Family::Pointwise, false) => crate::OPS[1],
            (Family::Depthwise { .. }, true) => crate::OPS[2],
            (Family::Pointwise, true) => crate::OPS[3],
        }
    }

    fn out_hw<D: DimLike>(&self, h: &D, w: &D) -> (D, D) {
        match self.family {
            Family::Depthwise { kernel, stride, pad } => dw_out_hw(h, w, kernel, stride, pad),
            Family::Pointwise => (h.clone(), w.clone()),
        }
    }

    fn output_dt(&self) -> DatumType {
        match self.output {
            OutQuant::I8 { scale, zero_point } | OutQuant::I8PerChannel { scale, zero_point } => {
                DatumType::QI8(QParams::ZpScale { zero_point, scale })
            }
            OutQuant::F32 => f32::datum_type(),
        }
    }
}

impl Op for QConv {
    fn name(&self) -> StaticName {
        self.op_id().name.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?} x0={} {:?} -> {:?}", self.family, self.x_zero_point, self.activation, self.output)])
    }

    op_as_typed_op!();
}

/// Output (height, width) of a depthwise `k`×`k` conv with stride `s` and padding `[t, l, b, r]`
/// (symbolic dims allowed).
pub(crate) fn dw_out_hw<D: DimLike>(h: &D, w: &D, k: usize, s: usize, [t, l, b, r]: [usize; 4]) -> (D, D) {
    ((h.clone() + (t + b) - k) / s + 1usize, (w.clone() + (l + r) - k) / s + 1usize)
}

/// Multiply-accumulates below which a layer runs on the calling thread (a rayon hand-off costs
/// a few µs; 256 k MACs take ~30 µs on one core).
pub(crate) const PARALLEL_MACS: usize = 1 << 18;

/// Threads of `exec`, the executor tract runs this plan with (`oar_plan` sets it from `--threads`).
pub fn pool_threads(exec: &Executor) -> usize {
    match exec {
        Executor::SingleThread => 1,
        Executor::MultiThread(pool) => pool.current_num_threads(),
        Executor::RayonGlobal => rayon::current_num_threads(),
    }
}

/// Runs `f` inside `exec`'s pool, so that rayon's parallel iterators use its threads.
pub(crate) fn in_pool<R: Send>(exec: &Executor, f: impl FnOnce() -> R + Send) -> R {
    match exec {
        Executor::MultiThread(pool) => pool.install(f),
        _ => f(),
    }
}

/// The i8 values of `t`, u8 data shifted by 128 (so `zp` becomes `zp − 128`).
fn as_i8(t: &Tensor) -> TractResult<std::borrow::Cow<'_, [i8]>> {
    let dt = t.datum_type().unquantized();
    // SAFETY: the storage of an (optionally quantized) i8/u8 tensor is bytes of that type.
    if dt == i8::datum_type() {
        Ok(std::borrow::Cow::Borrowed(unsafe { t.as_slice_unchecked::<i8>() }))
    } else if dt == u8::datum_type() {
        Ok(std::borrow::Cow::Owned(unsafe { t.as_slice_unchecked::<u8>() }.iter().map(|&v| (v as i32 - 128) as i8).collect()))
    } else {
        bail!("oar qconv: input must be int8 or uint8, got {:?}", t.datum_type())
    }
}

impl EvalOp for QConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let per_channel_out = matches!(self.output, OutQuant::I8PerChannel { .. });
        ensure!(inputs.len() == 4 + per_channel_out as usize, "oar qconv: {} inputs for output {:?}", inputs.len(), self.output);
        let mut inputs = inputs;
        let out_scales = if per_channel_out { Some(inputs.pop().unwrap()) } else { None };
        let out_scales = out_scales.as_ref().map(|t| t.cast_to::<f32>()).transpose()?;
        let out_scales: &[f32] = match &out_scales {
            Some(t) => t.try_as_plain_ram()?.as_slice::<f32>()?,
            None => &[],
        };
        let (x, w, bias, scale) = args_4!(inputs);
        ensure!(x.rank() == 4, "oar qconv: NCHW input expected, got shape {:?}", x.shape());
        let (n, c, h, wd) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let xzp = if x.datum_type().unquantized() == u8::datum_type() { self.x_zero_point - 128 } else { self.x_zero_point };
        let xs = as_i8(&x)?;
        let ws = as_i8(&w)?;
        let bias = bias.cast_to::<i32>()?;
        let bias = bias.try_as_plain_ram()?.as_slice::<i32>()?;
        let scale = scale.cast_to::<f32>()?;
        let scale = scale.try_as_plain_ram()?.as_slice::<f32>()?;
        let o = bias.len();
        let (oh, ow) = self.out_hw(&h, &wd);
        let per_in = c * h * wd;
        let per_out = o * oh * ow;
        let per_ch = oh * ow;
        // Weights per output channel.
        let kk = match self.family {
            Family::Depthwise { kernel, .. } => {
                ensure!(o == c, "oar qconv: depthwise conv with {c} input and {o} output channels");
                kernel * kernel
            }
            Family::Pointwise => c,
        };
        // Output channels are independent: split them over tract's thread pool when the layer is
        // big enough to pay for the hand-off (each part is one kernel call on a channel range).
        let exec = current_tract_executor();
        let threads = pool_threads(&exec);
        let parts = if threads > 1 && o * per_ch * kk >= PARALLEL_MACS { threads.min(o) } else { 1 };
        let chunk = o.div_ceil(parts);
        // SAFETY: i8 and f32 have no invalid bit patterns, and the kernels below write every value of every batch.
        let mut out = unsafe { Tensor::uninitialized_dt(self.output_dt(), &[n, o, oh, ow])? };
        for b in 0..n {
            let xb = &xs[b * per_in..(b + 1) * per_in];
            let dst = match self.output {
                OutQuant::I8 { scale, zero_point } => {
                    // SAFETY: `output_dt` is an i8 type (one byte per value) for this output kind.
                    let all = unsafe { out.as_slice_mut_unchecked::<i8>() };
                    Output::I8 { data: &mut all[b * per_out..(b + 1) * per_out], scale, zero_point }
                }
                OutQuant::I8PerChannel { zero_point, .. } => {
                    ensure!(out_scales.len() == o, "oar qconv: {} output scales for {o} channels", out_scales.len());
                    // SAFETY: `output_dt` is an i8 type (one byte per value) for this output kind.
                    let all = unsafe { out.as_slice_mut_unchecked::<i8>() };
                    Output::I8PerChannel { data: &mut all[b * per_out..(b + 1) * per_out], scales: out_scales, zero_point }
                }
                OutQuant::F32 => {
                    // SAFETY: `output_dt` is f32 for this output kind.
                    let all = unsafe { out.as_slice_mut_unchecked::<f32>() };
                    Output::F32(&mut all[b * per_out..(b + 1) * per_out])
                }
            };
            let run = |(i, dst): (usize, Output)| {
                let (o0, o1) = (i * chunk, ((i + 1) * chunk).min(o));
                let ep = Epilogue { bias: &bias[o0..o1], scale: &scale[o0..o1], activation: self.activation };
                let w = &ws[o0 * kk..o1 * kk];
                match self.family {
                    Family::Depthwise { kernel, stride, pad } => {
                        let shape = Depthwise { channels: o1 - o0, height: h, width: wd, kernel, stride, pad };
                        oar_kernels::depthwise_conv_i8(&shape, &xb[o0 * h * wd..o1 * h * wd], xzp, w, &ep, dst)
                    }
                    Family::Pointwise => {
                        let shape = Pointwise { inputs: c, outputs: o1 - o0, pixels: h * wd };
                        oar_kernels::pointwise_conv_i8(&shape, xb, xzp, w, &ep, dst)
                    }
                }
            };
            let pieces: Vec<(usize, Output)> = dst.chunks(chunk, per_ch).into_iter().enumerate().collect();
            let res = if pieces.len() > 1 { in_pool(&exec, || pieces.into_par_iter().try_for_each(run)) } else { pieces.into_iter().try_for_each(run) };
            res.map_err(|e| format_err!("oar qconv {:?}: {e}", self.family))?;
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for QConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let per_channel_out = matches!(self.output, OutQuant::I8PerChannel { .. });
        ensure!(inputs.len() == 4 + per_channel_out as usize, "oar qconv takes x, weights, bias, scale (and out_scales for per-channel int8 output)");
        let x = inputs[0];
        ensure!(x.rank() == 4, "oar qconv: NCHW input expected, got {x:?}");
        let o = inputs[2].shape.volume();
        let (oh, ow) = self.out_hw(&x.shape[2], &x.shape[3]);
        Ok(tvec!(self.output_dt().fact(&[x.shape[0].clone(), o, oh, ow])))
    }
}
