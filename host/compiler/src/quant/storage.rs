//! int8 storage of the weights of layers an int8 plan keeps float (k×k convs under `--float-kxk`,
//! matmuls): the plan holds `oar_weights_i8(w_i8, scale_c)` ([`WeightsI8`]) instead of the f32
//! weights, a quarter of their bytes. The device's declutter folds it back into an f32 weight
//! when it optimises the plan, so these layers run exactly as fast as float ones; only the
//! per-channel rounding of the weights (≤ ½ of max|w_c| / 127) changes their results.

use super::lower::{matmul_shape, quantize_weights_along};
use oar_plan::tract::tract_core::internal::*;
use oar_plan::tract::tract_core::ops::cnn::{Conv, KernelFormat};
use oar_plan::tract::tract_core::ops::einsum::EinSum;
use oar_ops::WeightsI8;

/// Weights smaller than this stay f32 (a bias-sized tensor saves nothing worth two more nodes).
const MIN_WEIGHTS: usize = 256;

/// Rewires every float conv (OIHW) and float matmul with constant f32 weights of `model` to read
/// its weights through a [`WeightsI8`] (int8 values, per-output-channel scales). Returns the
/// layers' names. Do not declutter the model afterwards: that folds the weights back to f32
/// (which is what the device does, at load).
pub fn store_weights_int8(model: &mut TypedModel) -> TractResult<Vec<String>> {
    let mut done = vec![];
    for id in model.eval_order()? {
        let node = model.node(id);
        let (slot, axis) = if let Some(c) = node.op_as::<Conv>() {
            if c.q_params.is_some() || c.kernel_fmt != KernelFormat::OIHW {
                continue;
            }
            (1, 0)
        } else if node.op_as::<EinSum>().is_some_and(|e| e.q_params.is_none()) {
            match matmul_shape(model, id) {
                Ok(s) => (s.weight_slot, s.channel_axis),
                Err(_) => continue,
            }
        } else {
            continue;
        };
        let w_outlet = model.node(id).inputs[slot];
        let Some(w) = model.outlet_fact(w_outlet)?.konst.clone() else { continue };
        if w.datum_type() != f32::datum_type() || w.len() < MIN_WEIGHTS || w.rank() <= axis {
            continue;
        }
        let (q, scales) = quantize_weights_along(&w, axis)?;
        let name = model.node(id).name.clone();
        let mut shape = vec![1; w.rank()];
        shape[axis] = scales.len();
        let qw = model.add_const(model.unique_name(format!("{name}.weights_i8_stored")).into_owned(), Tensor::from_shape(w.shape(), &q)?)?;
        let sc = model.add_const(model.unique_name(format!("{name}.weights_scale")).into_owned(), Tensor::from_shape(&shape, &scales)?)?;
        let wf = model.wire_node(model.unique_name(format!("{name}.weights")).into_owned(), WeightsI8, &[qw, sc])?[0];
        model.add_edge(wf, InletId::new(id, slot))?;
        done.push(name);
    }
    if !done.is_empty() {
        *model = std::mem::take(model).into_compact()?;
    }
    Ok(done)
}
