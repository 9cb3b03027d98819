//! The pass that replaces tract's quantized `Conv` nodes by [`QConv`] where an oar kernel exists.

use crate::qconv::{Family, OutQuant, QConv};
use oar_kernels::Activation;
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::binary::{BinMiniOp, TypedBinOp};
use tract_nnef::tract_core::ops::cast::Cast;
use tract_nnef::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_nnef::tract_core::ops::element_wise::ElementWiseOp;
use tract_nnef::tract_core::ops::math::{Max, Min, Mul};
use tract_nnef::tract_core::ops::nn::{DataFormat, HardSwish};

/// Replaces every quantized `Conv` (as `oar-compiler`'s int8 lowering and ONNX `QLinearConv` make
/// them) that is a depthwise 3×3 / 5×5 (stride 1 or 2, explicit padding) or a pointwise 1×1
/// (stride 1, no padding) with symmetric int8 weights by a [`QConv`]:
/// - a conv writing int8 (`QI8`) becomes a `QConv` writing int8 with the same zero point and scale;
/// - a conv writing raw i32 followed by `cast(f32)` and a multiplication by its `y_scale` (the
///   compiler's dequantized form) becomes one `QConv` writing f32 (`acc · x_scale · w_scale`, without
///   the intermediate rounding to `y_scale` units), and a following ReLU / clip (`max`, `min` with
///   constants) or hard-swish is folded into it.
///
/// Returns how many convs were replaced. Nodes left unreachable are removed (the model is compacted).
pub fn lower(model: &mut TypedModel) -> TractResult<usize> {
    let mut count = 0;
    for id in model.eval_order()? {
        let Some(conv) = model.node(id).op_as::<Conv>().cloned() else { continue };
        if let Some(plan) = plan_for(model, id, &conv)? {
            apply(model, id, plan)?;
            count += 1;
        }
    }
    if count > 0 {
        *model = std::mem::take(model).into_compact()?;
    }
    log::debug!("oar_ops::lower: {count} convs replaced");
    Ok(count)
}

struct Plan {
    op: QConv,
    weights: Tensor,
    bias: Vec<i32>,
    scale: Vec<f32>,
    /// The last node the `QConv` stands for (the conv, or its dequantization / activation).
    last: usize,
}

pub(crate) fn konst(model: &TypedModel, outlet: OutletId) -> Option<Arc<Tensor>> {
    model.outlet_fact(outlet).ok()?.konst.clone()
}

/// The one successor of `id`'s output, when it has exactly one and is not a model output.
pub(crate) fn single_successor(model: &TypedModel, id: usize) -> Option<usize> {
    let succ = &model.node(id).outputs[0].successors;
    let is_output = model.output_outlets().ok()?.contains(&OutletId::new(id, 0));
    (succ.len() == 1 && !is_output).then(|| succ[0].node)
}

/// `Some(c)` when node `id` is a binary op `op` with one constant input whose values are all `c`.
pub(crate) fn bin_with_const<B: BinMiniOp>(model: &TypedModel, id: usize) -> Option<f32> {
    let node = model.node(id);
    let bin = node.op_as::<TypedBinOp>()?;
    if !bin.0.is::<B>() || node.inputs.len() != 2 {
        return None;
    }
    let k = node.inputs.iter().find_map(|&i| konst(model, i))?;
    let k = k.cast_to::<f32>().ok()?;
    let v = k.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?;
    (!v.is_empty() && v.iter().all(|x| *x == v[0])).then(|| v[0])
}

fn plan_for(model: &TypedModel, id: usize, conv: &Conv) -> TractResult<Option<Plan>> {
    let node = model.node(id);
    let Some(qdt) = conv.q_params else { return Ok(None) };
    let ps = &conv.pool_spec;
    if ps.data_format != DataFormat::NCHW || conv.kernel_fmt != KernelFormat::OIHW || ps.rank() != 2 {
        return Ok(None);
    }
    if ps.dilations().iter().any(|&d| d != 1) || node.inputs.len() != 9 {
        return Ok(None);
    }
    let x_dt = model.outlet_fact(node.inputs[0])?.datum_type.unquantized();
    if x_dt != i8::datum_type() && x_dt != u8::datum_type() {
        return Ok(None);
    }
    let consts: Option<Vec<Arc<Tensor>>> = node.inputs[1..].iter().map(|&i| konst(model, i)).collect();
    let Some(c) = consts else { return Ok(None) };
    let (kernel, bias, x0, x_scale, k0, k_scale, y0, y_scale) = (&c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7]);
    if kernel.datum_type().unquantized() != i8::datum_type() || k0.cast_to::<i32>()?.try_as_plain_ram()?.as_slice::<i32>()?.iter().any(|&z| z != 0) {
        return Ok(None);
    }
    let ks = kernel.shape();
    let (o, i_per_g, kh, kw) = (ks[0], ks[1], ks[2], ks[3]);
    let strides = ps.strides();
    let (pad_b, pad_a): (TVec<usize>, TVec<usize>) = match &ps.padding {
        PaddingSpec::Valid => (tvec![0, 0], tvec![0, 0]),
        PaddingSpec::Explicit(b, a) | PaddingSpec::ExplicitOnnxPool(b, a, false) => (b.clone(), a.clone()),
        _ => return Ok(None),
    };
    let family = if conv.group == ps.input_channels && conv.group == o && i_per_g == 1 && kh == kw && (kh == 3 || kh == 5)
        && strides[0] == strides[1] && (strides[0] == 1 || strides[0] == 2)
    {
        Family::Depthwise { kernel: kh, stride: strides[0], pad: [pad_b[0], pad_b[1], pad_a[0], pad_a[1]] }
    } else if conv.group == 1 && kh == 1 && kw == 1 && strides.iter().all(|&s| s == 1)
        && pad_b.iter().chain(&pad_a).all(|&p| p == 0)
    {
        Family::Pointwise
    } else {
        return Ok(None);
    };

    let scalar_i32 = |t: &Tensor| -> TractResult<i32> { Ok(t.cast_to_scalar::<i32>()?) };
    let scalar_f32 = |t: &Tensor| -> TractResult<f32> { Ok(t.cast_to_scalar::<f32>()?) };
    let xs = scalar_f32(x_scale)?;
    let k_scale = k_scale.cast_to::<f32>()?;
    let k_scale = k_scale.try_as_plain_ram()?.as_slice::<f32>()?;
    // onnxruntime's order: x_scale · w_scale in f32 (then / y_scale inside the kernel).
    let scale: Vec<f32> = (0..o).map(|c| xs * k_scale[if k_scale.len() == 1 { 0 } else { c }]).collect();
    let bias_t = bias.cast_to::<i32>()?;
    let b = bias_t.try_as_plain_ram()?.as_slice::<i32>()?;
    ensure!(b.len() == 1 || b.len() == o, "conv {}: bias of {} values for {o} channels", node.name, b.len());
    let bias: Vec<i32> = (0..o).map(|c| b[if b.len() == 1 { 0 } else { c }]).collect();
    let mut weights = kernel.as_ref().clone();
    // SAFETY: the kernel of a quantized conv holds one byte per value (QI8/I8); plain i8 has the same layout.
    unsafe { weights.set_datum_type(i8::datum_type()) };

    let (y0, ys) = (scalar_i32(y0)?, scalar_f32(y_scale)?);
    let mut op = QConv { family, x_zero_point: scalar_i32(x0)?, activation: Activation::Identity, output: OutQuant::F32 };
    let mut last = id;
    if qdt.unquantized() == i8::datum_type() {
        if let DatumType::QI8(QParams::ZpScale { zero_point, scale }) = qdt {
            if zero_point != y0 || scale != ys {
                return Ok(None);
            }
        }
        op.output = OutQuant::I8 { scale: ys, zero_point: y0 };
    } else if qdt == i32::datum_type() && y0 == 0 {
        // cast(f32) then · y_scale: the compiler's dequantized conv.
        let Some(cast) = single_successor(model, id) else { return Ok(None) };
        let is_f32_cast = model.node(cast).op_as::<Cast>().is_some_and(|c| c.to == f32::datum_type());
        let Some(mul) = single_successor(model, cast).filter(|_| is_f32_cast) else { return Ok(None) };
        if bin_with_const::<Mul>(model, mul) != Some(ys) {
            return Ok(None);
        }
        last = mul;
        // A following activation.
        if let Some(next) = single_successor(model, last) {
            if bin_with_const::<Max>(model, next) == Some(0.0) {
                last = next;
                op.activation = Activation::Relu;
                if let Some(hi) = single_successor(model, next).and_then(|m| bin_with_const::<Min>(model, m)) {
                    last = single_successor(model, next).unwrap();
                    op.activation = Activation::Clip { min: 0.0, max: hi };
                }
            } else if model.node(next).op_as::<ElementWiseOp>().is_some_and(|e| e.0.is::<HardSwish>()) {
                last = next;
                op.activation = Activation::HardSwish;
            }
        }
    } else {
        return Ok(None);
    }
    Ok(Some(Plan { op, weights, bias, scale, last }))
}

fn apply(model: &mut TypedModel, id: usize, plan: Plan) -> TractResult<()> {
    let x = model.node(id).inputs[0];
    let consts = vec![("oar_weights", plan.weights), ("oar_bias", tensor1(&plan.bias)), ("oar_scale", tensor1(&plan.scale))];
    replace_by(model, x, plan.last, Box::new(plan.op), consts, vec![])
}

/// Replaces the nodes from `x`'s consumer up to `last` by `op` on `x` and `consts` (named after
/// `last` with these suffixes), followed by the ops of `post` in order. The last new node takes `last`'s name
/// (outputs and reports refer to it); `last` is renamed `….replaced` and left unreachable.
pub(crate) fn replace_by(
    model: &mut TypedModel,
    x: OutletId,
    last: usize,
    op: Box<dyn TypedOp>,
    consts: Vec<(&str, Tensor)>,
    post: Vec<Box<dyn TypedOp>>,
) -> TractResult<()> {
    let name = model.node(last).name.clone();
    let mut patch = TypedModelPatch::default();
    let mut inputs = vec![patch.tap_model(model, x)?];
    for (suffix, t) in consts {
        inputs.push(patch.add_const(format!("{name}.{suffix}"), t)?);
    }
    let new_name = model.unique_name(format!("{name}.oar")).into_owned();
    let mut out = patch.wire_node(&new_name, op, &inputs)?[0];
    let mut final_name = new_name;
    for (i, post) in post.into_iter().enumerate() {
        final_name = model.unique_name(format!("{name}.oar.post{}", if i == 0 { String::new() } else { i.to_string() })).into_owned();
        out = patch.wire_node(&final_name, post, &[out])?[0];
    }
    patch.shunt_outside(model, OutletId::new(last, 0), out)?;
    let before = model.nodes().len();
    patch.apply(model)?;
    model.node_mut(last).name = model.unique_name(format!("{name}.replaced")).into_owned();
    let new_id = (before..model.nodes().len()).find(|&n| model.node(n).name == final_name).context("patched node")?;
    model.node_mut(new_id).name = name;
    Ok(())
}
