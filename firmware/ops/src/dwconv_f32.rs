//! `DwConvF32`: a float depthwise convolution with its BatchNorm scale folded in and the following
//! activation fused, run by `oar_kernels::depthwise_conv_f32`.

use crate::pool::Pool;
use crate::qconv::dw_out_hw;
use crate::OpId;
use oar_kernels::{Depthwise, FloatActivation};
use tract_nnef::internal::*;

/// Depthwise `kernel`×`kernel` convolution (3 or 5), `stride` 1 or 2, padding `[t, l, b, r]`, with
/// a fused activation. Inputs: `x` (f32 NCHW, or CHW as tract's declutter leaves convs between
/// rank-3 ops), `weights` (f32, `C·k·k` values, `[C][1][k][k]`), `bias` (f32, `[C]`). Output: f32
/// `[N][C][oh][ow]` (or `[C][oh][ow]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DwConvF32 {
    pub kernel: usize,
    pub stride: usize,
    pub pad: [usize; 4],
    pub activation: FloatActivation,
}

impl Eq for DwConvF32 {}

impl DwConvF32 {
    pub fn op_id(&self) -> OpId {
        crate::DWCONV_F32
    }
}

impl Op for DwConvF32 {
    fn name(&self) -> StaticName {
        self.op_id().name.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{0}x{0} s{1} pad {2:?} {3:?}", self.kernel, self.stride, self.pad, self.activation)])
    }

    op_as_typed_op!();
}

impl EvalOp for DwConvF32 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, w, bias) = args_3!(inputs);
        let r = x.rank();
        ensure!(r == 3 || r == 4, "oar dwconv_f32: NCHW or CHW input expected, got shape {:?}", x.shape());
        ensure!(x.datum_type() == f32::datum_type(), "oar dwconv_f32: f32 input expected, got {:?}", x.datum_type());
        let n = if r == 4 { x.shape()[0] } else { 1 };
        let (c, h, wd) = (x.shape()[r - 3], x.shape()[r - 2], x.shape()[r - 1]);
        let k = self.kernel;
        let xs = x.try_as_plain_ram()?.as_slice::<f32>()?;
        let w = w.cast_to::<f32>()?;
        let ws = w.try_as_plain_ram()?.as_slice::<f32>()?;
        let bias = bias.cast_to::<f32>()?;
        let bs = bias.try_as_plain_ram()?.as_slice::<f32>()?;
        ensure!(ws.len() == c * k * k, "oar dwconv_f32: {} weights for {c} channels of {k}x{k}", ws.len());
        ensure!(bs.len() == c, "oar dwconv_f32: {} biases for {c} channels", bs.len());
        let (oh, ow) = dw_out_hw(&h, &wd, k, self.stride, self.pad);
        ensure!(h + self.pad[0] + self.pad[2] >= k && wd + self.pad[1] + self.pad[3] >= k,
            "oar dwconv_f32: input {h}x{wd} padded by {:?} is smaller than the {k}x{k} kernel", self.pad);
        let (per_in, per_ch) = (h * wd, oh * ow);
        // Channels are independent: split them over the plan's pool when the layer pays for it.
        let pool = Pool::current();
        let parts = pool.parts(c * per_ch * k * k, c);
        let chunk = c.div_ceil(parts);
        let out_shape: TVec<usize> = if r == 4 { tvec![n, c, oh, ow] } else { tvec![c, oh, ow] };
        // SAFETY: f32 has no invalid bit patterns, and the kernel below writes every value before the tensor is read.
        let mut out = unsafe { Tensor::uninitialized::<f32>(&out_shape)? };
        // SAFETY: a fresh f32 tensor; every value is written by the kernel below.
        let outs = unsafe { out.as_slice_mut_unchecked::<f32>() };
        for (b, dst) in outs.chunks_mut(c * per_ch).enumerate() {
            let xb = &xs[b * c * per_in..(b + 1) * c * per_in];
            let run = |(i, dst): (usize, &mut [f32])| {
                let (c0, c1) = (i * chunk, ((i + 1) * chunk).min(c));
                let shape = Depthwise { channels: c1 - c0, height: h, width: wd, kernel: k, stride: self.stride, pad: self.pad };
                oar_kernels::depthwise_conv_f32(&shape, &xb[c0 * per_in..c1 * per_in], &ws[c0 * k * k..c1 * k * k], &bs[c0..c1], self.activation, dst)
            };
            let pieces: Vec<(usize, &mut [f32])> = dst.chunks_mut(chunk * per_ch).enumerate().collect();
            pool.run(pieces, run).map_err(|e| format_err!("oar dwconv_f32 {k}x{k} s{}: {e}", self.stride))?;
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for DwConvF32 {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 3, "oar dwconv_f32 takes x, weights, bias");
        let x = inputs[0];
        let r = x.rank();
        ensure!(r == 3 || r == 4, "oar dwconv_f32: NCHW or CHW input expected, got {x:?}");
        ensure!(x.datum_type == f32::datum_type(), "oar dwconv_f32: f32 input expected, got {x:?}");
        ensure!(matches!(self.kernel, 3 | 5) && matches!(self.stride, 1 | 2),
            "oar dwconv_f32: kernel 3 or 5 and stride 1 or 2 expected, got {} and {}", self.kernel, self.stride);
        let (oh, ow) = dw_out_hw(&x.shape[r - 2], &x.shape[r - 1], self.kernel, self.stride, self.pad);
        let mut shape: TVec<TDim> = x.shape.iter().take(r - 2).cloned().collect();
        shape.extend([oh, ow]);
        Ok(tvec!(f32::fact(&shape)))
    }
}
