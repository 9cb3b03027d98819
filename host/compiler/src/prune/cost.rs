//! What a model costs: parameters and FLOPs at a concrete input shape, as tract counts them.

use oar_plan::tract::tract_core::ops::Cost;
use oar_plan::tract::*;

/// Size of a model at one input shape.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ModelCost {
    /// Values in constant tensors.
    pub params: usize,
    /// Floating-point operations of one inference: 2 × the multiply-adds tract reports per op
    /// (convs, matmuls), plus its divisions.
    pub flops: f64,
}

/// Counts the parameters and FLOPs of a typed model whose input shape is concrete.
pub fn model_cost(model: &TypedModel) -> TractResult<ModelCost> {
    let mut flops = 0.0;
    for node in model.nodes() {
        let inputs = model.node_input_facts(node.id)?;
        for (cost, n) in node.op.cost(&inputs)? {
            let n = n.to_i64().map_err(|_| {
                TractError::msg(format!("{}: cost {n} depends on the input size", node.name))
            })? as f64;
            flops += match cost {
                Cost::FMA(_) => 2.0 * n,
                Cost::Div(_) => n,
                _ => 0.0,
            };
        }
    }
    Ok(ModelCost {
        params: oar_plan::model_stats(model).params,
        flops,
    })
}
