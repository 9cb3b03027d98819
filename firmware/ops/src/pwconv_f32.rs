//! `PwConvF32`: a float pointwise (1×1, stride 1, group 1) convolution with its BatchNorm folded in
//! and the following activation fused, run by `oar_kernels::pointwise_conv_f32`.

use crate::pool::Pool;
use crate::OpId;
use oar_kernels::{FloatActivation, PackedPointwise, PwOut};
use tract_nnef::internal::*;

/// Pointwise convolution over the channel axis `axis` of `x` with a fused activation. Inputs: `x`
/// (f32; the axes before `axis` are batch axes, the ones after it pixels: `[N…][C][P…]`, e.g. NCHW
/// with `axis` 1, CHW with 0, or `[1][C][H·W]` as tract's declutter leaves 1×1 convs),
/// `weights` (f32, `[Co][C]`), `bias` (f32, `[Co]`). Output: `x`'s shape with `Co` at `axis`.
///
/// The weights are packed for the kernel table once, when the model is optimised (`codegen`); the
/// packed copy is not serialised (a plan stores `weights`).
#[derive(Debug, Clone, PartialEq)]
pub struct PwConvF32 {
    pub axis: usize,
    pub activation: FloatActivation,
    packed: Option<Arc<PackedPointwise>>,
}

impl Eq for PwConvF32 {}

impl PwConvF32 {
    pub fn new(axis: usize, activation: FloatActivation) -> PwConvF32 {
        PwConvF32 { axis, activation, packed: None }
    }

    pub fn op_id(&self) -> OpId {
        crate::PWCONV_F32
    }

    /// Whether the weights were packed at optimisation time.
    pub fn is_packed(&self) -> bool {
        self.packed.is_some()
    }
}

/// Pixels per thread part: whole micro-kernel blocks.
const PART_ALIGN: usize = 16;

impl Op for PwConvF32 {
    fn name(&self) -> StaticName {
        self.op_id().name.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("axis {} {:?}{}", self.axis, self.activation, if self.is_packed() { " packed" } else { "" })])
    }

    op_as_typed_op!();
}

impl EvalOp for PwConvF32 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, w, bias) = args_3!(inputs);
        let axis = self.axis;
        ensure!(x.rank() > axis, "oar pwconv_f32: channel axis {axis} of an input of shape {:?}", x.shape());
        ensure!(x.datum_type() == f32::datum_type(), "oar pwconv_f32: f32 input expected, got {:?}", x.datum_type());
        let shape = x.shape();
        let n: usize = shape[..axis].iter().product();
        let ci = shape[axis];
        let px: usize = shape[axis + 1..].iter().product();
        let co = bias.len();
        ensure!(w.len() == co * ci, "oar pwconv_f32: {} weights for {ci} inputs and {co} outputs", w.len());
        let fresh;
        let packed: &PackedPointwise = match &self.packed {
            Some(p) if p.inputs() == ci && p.outputs() == co => p,
            _ => {
                let w = w.cast_to::<f32>()?;
                let b = bias.cast_to::<f32>()?;
                fresh = oar_kernels::pack_pointwise_f32(
                    w.try_as_plain_ram()?.as_slice::<f32>()?,
                    b.try_as_plain_ram()?.as_slice::<f32>()?,
                    co,
                    ci,
                )
                .map_err(|e| format_err!("oar pwconv_f32: {e}"))?;
                &fresh
            }
        };
        let xs = x.try_as_plain_ram()?.as_slice::<f32>()?;
        let mut out_shape: TVec<usize> = shape.into();
        out_shape[axis] = co;
        // SAFETY: f32 has no invalid bit patterns; the tensor is returned empty or filled by the kernel below.
        let mut out = unsafe { Tensor::uninitialized::<f32>(&out_shape)? };
        if px == 0 || n == 0 || co == 0 {
            return Ok(tvec!(out.into_tvalue()));
        }
        // SAFETY: a fresh f32 tensor; every value is written by the kernel below.
        let outs = unsafe { out.as_slice_mut_unchecked::<f32>() };
        // Pixels are independent: split them over the plan's pool when the layer pays for it.
        let pool = Pool::current();
        let parts = pool.parts(co * ci * px, px.div_ceil(PART_ALIGN));
        let chunk = px.div_ceil(parts).next_multiple_of(PART_ALIGN);
        let act = self.activation;
        for (b, dst) in outs.chunks_mut(co * px).enumerate() {
            let xb = &xs[b * ci * px..(b + 1) * ci * px];
            let pieces = split_columns(PwOut::new(dst, co, px).map_err(|e| format_err!("oar pwconv_f32: {e}"))?, chunk);
            pool.run(pieces, |o: PwOut| oar_kernels::pointwise_conv_f32(packed, xb, px, act, o))
                .map_err(|e| format_err!("oar pwconv_f32 {ci}->{co}: {e}"))?;
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

/// `out` cut into pieces of `chunk` columns (the last one shorter).
pub(crate) fn split_columns(mut rest: PwOut, chunk: usize) -> Vec<PwOut> {
    let mut pieces = Vec::with_capacity(rest.columns().len().div_ceil(chunk.max(1)));
    while rest.columns().len() > chunk {
        let (head, tail) = rest.split_at(chunk);
        pieces.push(head);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

impl TypedOp for PwConvF32 {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 3, "oar pwconv_f32 takes x, weights, bias");
        let (x, w, b) = (inputs[0], inputs[1], inputs[2]);
        ensure!(x.rank() > self.axis, "oar pwconv_f32: channel axis {} of {x:?}", self.axis);
        ensure!(x.datum_type == f32::datum_type(), "oar pwconv_f32: f32 input expected, got {x:?}");
        ensure!(w.rank() == 2 && b.rank() == 1, "oar pwconv_f32: weights [Co][C] and bias [Co] expected, got {w:?} and {b:?}");
        ensure!(w.shape[1] == x.shape[self.axis] && w.shape[0] == b.shape[0],
            "oar pwconv_f32: weights {w:?} and bias {b:?} do not fit the input {x:?} (channel axis {})", self.axis);
        let mut shape = x.shape.to_tvec();
        shape[self.axis] = w.shape[0].clone();
        Ok(tvec!(f32::fact(&shape)))
    }

    /// Packs the weights for this process's kernel table once.
    fn codegen(&self, model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
        if self.packed.is_some() {
            return Ok(None);
        }
        let konst = |i: usize| model.outlet_fact(node.inputs[i]).ok().and_then(|f| f.konst.clone());
        let (Some(w), Some(b)) = (konst(1), konst(2)) else { return Ok(None) };
        let (w, b) = (w.cast_to::<f32>()?, b.cast_to::<f32>()?);
        let (co, ci) = (w.shape()[0], w.shape()[1]);
        let packed = oar_kernels::pack_pointwise_f32(w.try_as_plain_ram()?.as_slice::<f32>()?, b.try_as_plain_ram()?.as_slice::<f32>()?, co, ci)
            .map_err(|e| format_err!("oar pwconv_f32: {e}"))?;
        let op = PwConvF32 { packed: Some(Arc::new(packed)), ..self.clone() };
        Ok(Some(TypedModelPatch::replace_single_op(model, node, &node.inputs, op)?))
    }
}
