//! `WeightsI8`: a float layer's weights stored as int8 with one scale per output channel
//! (`q · scale`, f32 out). It exists so that a plan can keep those weights at a quarter of their
//! bytes: tract's NNEF writer folds every constant subgraph it can evaluate (a `cast` then a
//! `mul` would be written back as f32), and this op does not evaluate outside a plan. When a
//! runtime optimises the plan, its declutter replaces it by the f32 constant, so the layer runs
//! exactly as a float layer does.

use crate::OpId;
use tract_nnef::internal::*;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WeightsI8;

impl WeightsI8 {
    pub fn op_id(&self) -> OpId {
        crate::WEIGHTS_I8
    }

    fn dequantize(q: &Tensor, scale: &Tensor) -> TractResult<Tensor> {
        ensure!(q.datum_type().unquantized() == i8::datum_type(), "oar weights: int8 values expected, got {:?}", q.datum_type());
        ensure!(scale.rank() == q.rank(), "oar weights: scale of rank {} for weights of rank {}", scale.rank(), q.rank());
        let q = q.cast_to::<f32>()?;
        let scale = scale.cast_to::<f32>()?;
        let w = q.to_plain_array_view::<f32>()?.to_owned() * &scale.to_plain_array_view::<f32>()?;
        Ok(w.into_tensor())
    }
}

impl Op for WeightsI8 {
    fn name(&self) -> StaticName {
        self.op_id().name.into()
    }

    op_as_typed_op!();
}

impl EvalOp for WeightsI8 {
    // Not evaluated when the graph is folded for writing: the int8 form is the point.
    not_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (q, scale) = args_2!(inputs);
        Ok(tvec!(Self::dequantize(&q, &scale)?.into_tvalue()))
    }
}

impl TypedOp for WeightsI8 {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 2, "oar weights take the int8 values and their scales");
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }

    /// A runtime's declutter turns the op into the f32 constant it stands for.
    fn declutter(&self, model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
        let facts = model.node_input_facts(node.id)?;
        let (Some(q), Some(scale)) = (facts[0].konst.clone(), facts[1].konst.clone()) else { return Ok(None) };
        let w = Self::dequantize(&q, &scale)?;
        let mut patch = TypedModelPatch::default();
        let k = patch.add_const(&node.name, w)?;
        patch.shunt_outside(model, node.id.into(), k)?;
        Ok(Some(patch))
    }
}
