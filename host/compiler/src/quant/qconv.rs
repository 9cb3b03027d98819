//! Lowering of float depthwise (3×3 / 5×5, stride 1 or 2) and pointwise (1×1) convs to oar's own
//! int8 op ([`oar_ops::QConv`], run by `oar-kernels`), then fusing what follows them into the op's
//! epilogue, so that runs of int8 layers pass int8 tensors to each other:
//!
//! 1. [`lower_qconv`]: `conv(x)` → `QConv(cast(x → q8))` writing f32 (one quantizing cast per
//!    activation, shared by the layers that read it).
//! 2. [`fuse_epilogues`]: per-channel affine ops after it (a BatchNorm tract did not fold, a
//!    learnable affine) go into the op's scale and bias; ReLU, clip and hard-swish (as one op or as
//!    paddle2onnx's `x · clip(x + 3, 0, 6) / 6`) into its activation; a quantizing cast of its
//!    output makes it write int8 directly.
//!
//! Pointwise convs only survive tract's declutter as convs when [`crate::prepare_for_int8`] hides
//! them from the "1×1 conv is a matmul" rule; [`restore_pointwise`] gives the float ones back.

use super::lower::{quantize_weights, ConvQuant};
use oar_ops::{Activation, Family, OutQuant, QConv};
use oar_plan::tract::tract_core::internal::*;
use oar_plan::tract::tract_core::ops::binary::{BinMiniOp, TypedBinOp};
use oar_plan::tract::tract_core::ops::cast::Cast;
use oar_plan::tract::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use oar_plan::tract::tract_core::ops::element_wise::ElementWiseOp;
use oar_plan::tract::tract_core::ops::math::{Add, Max, Min, Mul};
use oar_plan::tract::tract_core::ops::nn::{DataFormat, HardSwish};

/// The dilation given to 1×1 convs so that declutter keeps them as convs (a 1×1 kernel reads
/// the same pixel whatever its dilation, so the result is unchanged).
const HIDDEN_DILATION: usize = 2;

fn is_plain_pointwise(conv: &Conv) -> bool {
    conv.group == 1
        && conv.q_params.is_none()
        && conv.pool_spec.kernel_shape.iter().all(|&k| k == 1)
        && conv.pool_spec.strides().iter().all(|&s| s == 1)
        && match &conv.pool_spec.padding {
            PaddingSpec::Valid => true,
            PaddingSpec::Explicit(b, a) | PaddingSpec::ExplicitOnnxPool(b, a, _) => b.iter().chain(a).all(|&p| p == 0),
            _ => false,
        }
}

/// Gives every float 1×1 conv of `model` the hidden dilation (before declutter). Returns how many.
pub fn hide_pointwise(model: &mut TypedModel) -> usize {
    let mut n = 0;
    for node in model.nodes_mut() {
        if let Some(conv) = node.op_as_mut::<Conv>() {
            if is_plain_pointwise(conv) && conv.pool_spec.dilations().iter().all(|&d| d == 1) {
                let rank = conv.pool_spec.kernel_shape.len();
                conv.pool_spec.dilations = Some(tvec![HIDDEN_DILATION; rank]);
                n += 1;
            }
        }
    }
    n
}

/// Undoes [`hide_pointwise`] on the convs still float and declutters again (they become matmuls).
pub fn restore_pointwise(model: TypedModel) -> TractResult<TypedModel> {
    let mut model = model;
    let mut n = 0;
    for node in model.nodes_mut() {
        if let Some(conv) = node.op_as_mut::<Conv>() {
            if is_plain_pointwise(conv) && conv.pool_spec.dilations().iter().all(|&d| d == HIDDEN_DILATION) {
                conv.pool_spec.dilations = None;
                n += 1;
            }
        }
    }
    if n > 0 {
        model = model.into_decluttered()?;
    }
    Ok(model)
}

/// The oar kernel family that can run float conv `conv` (input shape from `model`), or why none.
pub fn family(conv: &Conv) -> Result<Family, String> {
    let ps = &conv.pool_spec;
    if ps.data_format != DataFormat::NCHW || conv.kernel_fmt != KernelFormat::OIHW || ps.rank() != 2 {
        return Err(format!("layout {:?}/{:?} (oar kernels are NCHW/OIHW 2-D)", ps.data_format, conv.kernel_fmt));
    }
    if is_plain_pointwise(conv) {
        return Ok(Family::Pointwise);
    }
    if ps.dilations().iter().any(|&d| d != 1) {
        return Err("dilated conv".into());
    }
    let (k, s) = (ps.kernel_shape.to_vec(), ps.strides().to_vec());
    let depthwise = conv.group > 1 && conv.group == ps.input_channels && conv.group == ps.output_channels;
    if !depthwise {
        return Err(if conv.group == 1 {
            format!("{}×{} conv (oar kernels: depthwise 3×3/5×5, pointwise 1×1)", k[0], k[1])
        } else {
            format!("grouped conv ({} groups)", conv.group)
        });
    }
    if k[0] != k[1] || !(k[0] == 3 || k[0] == 5) || s[0] != s[1] || !(s[0] == 1 || s[0] == 2) {
        return Err(format!("depthwise {}×{} stride {:?} (oar kernels: 3×3/5×5, stride 1 or 2)", k[0], k[1], s));
    }
    let pad = match &ps.padding {
        PaddingSpec::Valid => [0; 4],
        PaddingSpec::Explicit(b, a) | PaddingSpec::ExplicitOnnxPool(b, a, false) => [b[0], b[1], a[0], a[1]],
        p => return Err(format!("padding {p:?}")),
    };
    Ok(Family::Depthwise { kernel: k[0], stride: s[0], pad })
}

/// Replaces float conv `id` by `QConv(xq)` writing f32, `xq` the quantized input (made here as
/// `cast(x → q_dt)` unless `existing`). The conv is left unreachable (call `into_compact`).
///
/// With `channel_scales` (depthwise only: each output channel reads one input channel), input
/// channel `c` is quantized with its own scale: `xq = cast(x · act.scale / s_c)` (a cast of its
/// own, never shared), and the op's scale for channel `c` is `s_c · w_scale_c`, so the kernel is
/// the same.
pub fn lower_qconv(
    model: &mut TypedModel,
    id: usize,
    family: Family,
    act: super::lower::ActQuant,
    existing: Option<OutletId>,
    channel_scales: Option<Vec<f32>>,
) -> TractResult<ConvQuant> {
    let node = model.node(id).clone();
    let name = node.name.clone();
    let kernel = model.outlet_fact(node.inputs[1])?.konst.clone().context("kernel not constant")?;
    let bias = model.outlet_fact(node.inputs[2])?.konst.clone().context("bias not constant")?;
    let (q, k_scale) = quantize_weights(&kernel)?;
    let o = k_scale.len();
    let bias = bias.cast_to::<f32>()?;
    let bias = bias.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    ensure!(bias.len() == 1 || bias.len() == o, "bias of {} values for {o} channels", bias.len());
    if let Some(cs) = &channel_scales {
        ensure!(matches!(family, Family::Depthwise { .. }) && cs.len() == o, "per-channel input scales: depthwise conv of {o} channels expected, got {} scales", cs.len());
    }
    let x_scale = |c: usize| channel_scales.as_ref().map_or(act.scale, |cs| cs[c]);
    let scale: Vec<f32> = k_scale.iter().enumerate().map(|(c, k)| x_scale(c) * k).collect();
    if let Some(c) = scale.iter().position(|s| !(s.is_normal() && *s > 0.0)) {
        bail!("conv {name}: channel {c}'s scale {} (input scale {} × weight scale {}) is not a positive normal number", scale[c], act.scale, k_scale[c]);
    }
    let bias_i32: Vec<i32> = (0..o).map(|c| to_acc_units(if bias.len() == 1 { bias[0] } else { bias[c] }, scale[c])).collect();

    let xq = match &channel_scales {
        None => super::lower::quantized_input(model, node.inputs[0], act, existing)?,
        Some(cs) => {
            let x = node.inputs[0];
            let rank = model.outlet_fact(x)?.rank();
            let mut shape = vec![1; rank];
            shape[1] = o;
            let r: Vec<f32> = cs.iter().map(|s| act.scale / s).collect();
            let r = model.add_const(model.unique_name(format!("{name}.x_rescale")).into_owned(), Tensor::from_shape(&shape, &r)?)?;
            let mul_name = model.unique_name(format!("{name}.x_per_channel")).into_owned();
            let scaled = model.wire_node(mul_name, oar_plan::tract::tract_core::ops::math::mul(), &[x, r])?[0];
            super::lower::quantized_input(model, scaled, act, None)?
        }
    };
    let konst = |model: &mut TypedModel, suffix: &str, t: Tensor| {
        let n = model.unique_name(format!("{name}.{suffix}")).into_owned();
        model.add_const(n, t)
    };
    let w = konst(model, "weights_i8", Tensor::from_shape(kernel.shape(), &q)?)?;
    let b = konst(model, "bias_i32", tensor1(&bias_i32))?;
    let s = konst(model, "scale", tensor1(&scale))?;
    let op = QConv { family, x_zero_point: act.zero_point, activation: Activation::Identity, output: OutQuant::F32 };
    let qname = model.unique_name(format!("{name}.oar")).into_owned();
    let out = model.wire_node(qname, op, &[xq, w, b, s])?[0];
    let mut patch = TypedModelPatch::default();
    let tap = patch.tap_model(model, out)?;
    patch.shunt_outside(model, OutletId::new(id, 0), tap)?;
    patch.apply(model)?;
    model.node_mut(id).name = model.unique_name(format!("{name}.float")).into_owned();
    model.node_mut(out.node).name = name;
    let y_scale = scale.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    Ok(ConvQuant {
        x_scale: act.scale,
        x_zero_point: act.zero_point,
        k_scale,
        y_scale,
        quantized_input: xq,
        output: out,
        weights: q.len(),
        x_channel_scales: channel_scales,
    })
}

/// A real value in accumulator units of a channel whose unit is worth `scale`, as an i32.
fn to_acc_units(v: f32, scale: f32) -> i32 {
    let lim = (1u64 << 30) as f64;
    (v as f64 / scale as f64).round().clamp(-lim, lim) as i32
}

fn konst_of(model: &TypedModel, outlet: OutletId) -> Option<Arc<Tensor>> {
    model.outlet_fact(outlet).ok()?.konst.clone()
}

/// The one successor of `id`'s output when it has exactly one and is not a model output.
fn single_successor(model: &TypedModel, id: usize) -> Option<usize> {
    let succ = &model.node(id).outputs[0].successors;
    let is_output = model.output_outlets().ok()?.contains(&OutletId::new(id, 0));
    (succ.len() == 1 && !is_output).then(|| succ[0].node)
}

/// When node `id` is binary op `B` between `from`'s output and a constant holding one value per
/// channel of `from`'s NCHW output (or one value): those values, one per channel.
fn per_channel_const<B: BinMiniOp>(model: &TypedModel, id: usize, from: usize, channels: usize) -> Option<Vec<f32>> {
    let node = model.node(id);
    let bin = node.op_as::<TypedBinOp>()?;
    if !bin.0.is::<B>() || node.inputs.len() != 2 {
        return None;
    }
    let slot = node.inputs.iter().position(|i| i.node == from)?;
    let k = konst_of(model, node.inputs[1 - slot])?;
    let shape = k.shape();
    let rank = model.outlet_fact(node.inputs[slot]).ok()?.rank();
    // Scalar-like, or [.., C, 1, 1] aligned on the output's channel axis (axis 1 of NCHW).
    let ok = shape.iter().all(|&d| d == 1)
        || (shape.len() >= 3 && shape.len() <= rank && shape[shape.len() - 3] == channels && shape[shape.len() - 2..] == [1, 1]
            && shape[..shape.len() - 3].iter().all(|&d| d == 1));
    if !ok {
        return None;
    }
    let k = k.cast_to::<f32>().ok()?;
    let v = k.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?.to_vec();
    Some(if v.len() == 1 { vec![v[0]; channels] } else { v })
}

/// `Some(v)` when node `id` is binary op `B` with `from` and a constant of one value `v`.
fn scalar_const<B: BinMiniOp>(model: &TypedModel, id: usize, from: usize) -> Option<f32> {
    let v = per_channel_const::<B>(model, id, from, 1)?;
    v.iter().all(|x| *x == v[0]).then(|| v[0])
}

/// Fuses into every f32-writing `QConv` of `model` what follows it (see the module documentation).
/// Returns how many nodes were absorbed.
pub fn fuse_epilogues(model: &mut TypedModel) -> TractResult<usize> {
    let mut absorbed = 0;
    loop {
        let mut changed = false;
        for id in model.eval_order()? {
            if let Some(n) = fuse_one(model, id)? {
                absorbed += n;
                changed = true;
                break;
            }
        }
        if !changed {
            break;
        }
        *model = std::mem::take(model).into_compact()?;
    }
    Ok(absorbed)
}

/// Negates the weights (a new constant wired into `id`) and the `bias` of every output channel
/// whose multiplier in `m` is negative.
fn flip_channels(model: &mut TypedModel, id: usize, m: &[f32], bias: &mut [i32]) -> TractResult<()> {
    let w = konst_of(model, model.node(id).inputs[1]).context("QConv weights")?;
    let mut w = w.as_ref().clone();
    let per = w.len() / m.len();
    {
        let mut view = w.try_as_plain_ram_mut()?;
        let ws = view.as_slice_mut::<i8>()?;
        for o in (0..m.len()).filter(|&o| m[o] < 0.0) {
            ws[o * per..(o + 1) * per].iter_mut().for_each(|v| *v = v.saturating_neg());
            bias[o] = bias[o].saturating_neg();
        }
    }
    let name = model.unique_name(format!("{}.weights_i8.signed", model.node(id).name)).into_owned();
    let k = model.add_const(name, w)?;
    model.add_edge(k, InletId::new(id, 1))?;
    Ok(())
}

/// One fusion step at node `id`, if any applies: the number of nodes it absorbed.
fn fuse_one(model: &mut TypedModel, id: usize) -> TractResult<Option<usize>> {
    let Some(op) = model.node(id).op_as::<QConv>().cloned() else { return Ok(None) };
    if op.output != OutQuant::F32 {
        return Ok(None);
    }
    let channels = model.outlet_fact(model.node(id).inputs[2])?.shape.volume().to_usize()?;
    let scale_outlet = model.node(id).inputs[3];
    let bias_outlet = model.node(id).inputs[2];
    let scale_t = konst_of(model, scale_outlet).context("QConv scale")?;
    let mut scale = scale_t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    let bias_t = konst_of(model, bias_outlet).context("QConv bias")?;
    let mut bias = bias_t.try_as_plain_ram()?.as_slice::<i32>()?.to_vec();
    let identity = op.activation == Activation::Identity;
    if identity {
        if let Some(n) = fuse_decomposed_hard_swish(model, id, &op)? {
            return Ok(Some(n));
        }
    }
    let Some(next) = single_successor(model, id) else {
        return Ok(None);
    };

    // Affine before the activation: scale and bias of the epilogue.
    if identity {
        if let Some(m) = per_channel_const::<Mul>(model, next, id, channels) {
            if m.iter().all(|v| v.is_finite() && *v != 0.0) {
                if m.iter().any(|v| *v < 0.0) {
                    // A negative multiplier (a BatchNorm with a negative gamma) cannot go into the
                    // requantization scale, which must be > 0: that channel's weights and bias
                    // change sign instead (int8 weights are within ±127, so exactly).
                    flip_channels(model, id, &m, &mut bias)?;
                }
                scale.iter_mut().zip(&m).for_each(|(s, m)| *s *= m.abs());
                return replace(model, id, next, op, Some(bias), Some(scale), 1).map(Some);
            }
        }
        if let Some(a) = per_channel_const::<Add>(model, next, id, channels) {
            bias.iter_mut().zip(a.iter().zip(&scale)).for_each(|(b, (a, s))| *b = b.saturating_add(to_acc_units(*a, *s)));
            return replace(model, id, next, op, Some(bias), None, 1).map(Some);
        }
    }
    // Activations.
    if identity {
        if scalar_const::<Max>(model, next, id) == Some(0.0) {
            let mut op = op.clone();
            op.activation = Activation::Relu;
            if let Some(hi) = single_successor(model, next).and_then(|m| scalar_const::<Min>(model, m, next)) {
                let last = single_successor(model, next).unwrap();
                op.activation = Activation::Clip { min: 0.0, max: hi };
                return replace(model, id, last, op, None, None, 2).map(Some);
            }
            return replace(model, id, next, op, None, None, 1).map(Some);
        }
        if model.node(next).op_as::<ElementWiseOp>().is_some_and(|e| e.0.is::<HardSwish>()) {
            let op = QConv { activation: Activation::HardSwish, ..op.clone() };
            return replace(model, id, next, op, None, None, 1).map(Some);
        }
    }
    // A per-channel multiplication by r_c > 0 then a quantizing cast (`lower_qconv`'s per-channel
    // input of a depthwise conv): write int8 with channel c in units of s / r_c, the same integers.
    if let (Some(r), Some(cast)) = (per_channel_const::<Mul>(model, next, id, channels), single_successor(model, next)) {
        if let Some(DatumType::QI8(QParams::ZpScale { zero_point, scale: ys })) = model.node(cast).op_as::<Cast>().map(|c| c.to) {
            let out_scales: Vec<f32> = r.iter().map(|r| ys / r).collect();
            let uniform = r.iter().all(|v| *v == r[0]); // fuse_affine_requant's case
            if !uniform && r.iter().all(|r| r.is_finite() && *r > 0.0) && out_scales.iter().all(|s| s.is_normal()) {
                let op = QConv { output: OutQuant::I8PerChannel { scale: ys, zero_point }, ..op.clone() };
                return replace_with(model, id, cast, op, None, None, Some(out_scales), 2).map(Some);
            }
        }
    }
    // A quantizing cast of the output: write int8.
    if let Some(cast_op) = model.node(next).op_as::<Cast>() {
        if let DatumType::QI8(QParams::ZpScale { zero_point, scale: ys }) = cast_op.to {
            let op = QConv { output: OutQuant::I8 { scale: ys, zero_point }, ..op.clone() };
            return replace(model, id, next, op, None, None, 1).map(Some);
        }
    }
    fuse_affine_requant(model, id, &op)
}

/// A scalar affine after the activation (PP-LCNetV3's learnable affine: `· k + d`, `k > 0`), then
/// a quantizing cast `QI8(zp, s)` read only by oar convs: the op writes int8 with scale `s / k`
/// and zero point `zp + n`, `n = rne(d / s)`. The consumers see every value shifted by
/// `δ = n − d/s` (|δ| ≤ ½) units, which their biases take back (`− rne(δ · Σw)` per channel; exact
/// for 1×1 convs, exact but at the border for padded depthwise ones).
fn fuse_affine_requant(model: &mut TypedModel, id: usize, op: &QConv) -> TractResult<Option<usize>> {
    let (mut k, mut d, mut at, mut steps) = (1f32, 0f32, id, 0);
    let cast = loop {
        let Some(next) = single_successor(model, at) else { return Ok(None) };
        if let Some(m) = scalar_const::<Mul>(model, next, at) {
            k *= m;
            d *= m;
        } else if let Some(a) = scalar_const::<Add>(model, next, at) {
            d += a;
        } else if model.node(next).op_is::<Cast>() {
            break next;
        } else {
            return Ok(None);
        }
        (at, steps) = (next, steps + 1);
        if steps > 4 {
            return Ok(None);
        }
    };
    let DatumType::QI8(QParams::ZpScale { zero_point: zp, scale: s }) = model.node(cast).op_as::<Cast>().unwrap().to else {
        return Ok(None);
    };
    if steps == 0 || !(k > 0.0 && k.is_finite() && d.is_finite()) {
        return Ok(None);
    }
    let consumers: Vec<InletId> = model.node(cast).outputs[0].successors.to_vec();
    let all_oar = !model.output_outlets()?.contains(&OutletId::new(cast, 0))
        && consumers.iter().all(|i| i.slot == 0 && model.node(i.node).op_as::<QConv>().is_some_and(|c| c.x_zero_point == zp));
    if consumers.is_empty() || !all_oar {
        return Ok(None);
    }
    let n = (d / s).round_ties_even();
    if (zp as f32 + n).abs() > 100.0 {
        return Ok(None); // the shifted zero point would eat the int8 range
    }
    let delta = n - d / s;
    for inlet in &consumers {
        let c = inlet.node;
        let w = konst_of(model, model.node(c).inputs[1]).context("QConv weights")?;
        let w = w.cast_to::<i32>()?;
        let w = w.try_as_plain_ram()?.as_slice::<i32>()?.to_vec();
        let b = konst_of(model, model.node(c).inputs[2]).context("QConv bias")?;
        let mut b = b.try_as_plain_ram()?.as_slice::<i32>()?.to_vec();
        let per = w.len() / b.len();
        for (o, b) in b.iter_mut().enumerate() {
            let sum: i32 = w[o * per..(o + 1) * per].iter().sum();
            *b -= (delta * sum as f32).round_ties_even() as i32;
        }
        let name = model.unique_name(format!("{}.bias_i32.shifted", model.node(c).name)).into_owned();
        let k = model.add_const(name, tensor1(&b))?;
        model.add_edge(k, InletId::new(c, 2))?;
    }
    let new = QConv { output: OutQuant::I8 { scale: super::lower::nnef_exact_scale(s / k), zero_point: zp + n as i32 }, ..op.clone() };
    // Its type (scale s/k) differs from the cast's, so the consumers are rewired one by one.
    let name = model.node(id).name.clone();
    let inputs = model.node(id).inputs.clone();
    model.node_mut(id).name = model.unique_name(format!("{name}.unfused")).into_owned();
    let out = model.wire_node(name, new, &inputs)?[0];
    for inlet in consumers {
        model.add_edge(out, inlet)?;
    }
    Ok(Some(steps + 1))
}

/// paddle2onnx's hard-swish: `y · min(max(y + 3, 0), 6)` then a multiplication by a constant `c`
/// (1/6, or 1/6 times a learnable scale). Becomes the op's hard-swish (which divides by 6) and,
/// unless `6c` is 1, a multiplication by `6c`.
fn fuse_decomposed_hard_swish(model: &mut TypedModel, id: usize, op: &QConv) -> TractResult<Option<usize>> {
    let succ: Vec<usize> = model.node(id).outputs[0].successors.iter().map(|i| i.node).collect();
    if succ.len() != 2 || model.output_outlets()?.contains(&OutletId::new(id, 0)) {
        return Ok(None);
    }
    for (&add, &mul) in [(&succ[0], &succ[1]), (&succ[1], &succ[0])] {
        if scalar_const::<Add>(model, add, id) != Some(3.0) {
            continue;
        }
        let Some(max) = single_successor(model, add).filter(|&m| scalar_const::<Max>(model, m, add) == Some(0.0)) else { continue };
        let Some(min) = single_successor(model, max).filter(|&m| scalar_const::<Min>(model, m, max) == Some(6.0)) else { continue };
        let mul_node = model.node(mul);
        let is_mul = mul_node.op_as::<TypedBinOp>().is_some_and(|b| b.0.is::<Mul>());
        let ins: Vec<usize> = mul_node.inputs.iter().map(|i| i.node).collect();
        if !is_mul || ins.len() != 2 || !(ins.contains(&id) && ins.contains(&min)) {
            continue;
        }
        if model.node(min).outputs[0].successors.len() != 1 {
            continue;
        }
        let Some(c_node) = single_successor(model, mul) else { continue };
        let Some(c) = scalar_const::<Mul>(model, c_node, mul) else { continue };
        let new = QConv { activation: Activation::HardSwish, ..op.clone() };
        let factor = 6.0 * c;
        if (factor - 1.0).abs() <= 1e-6 {
            return replace(model, id, c_node, new, None, None, 5).map(Some);
        }
        // Keep `· 6c` after the fused op: rewire the multiplication to read the fused op.
        let c_slot = model.node(c_node).inputs.iter().position(|i| i.node != mul).context("mul by constant")?;
        replace(model, id, mul, new, None, None, 4)?;
        let fused = model.nodes().len() - 1;
        let k_name = model.unique_name(format!("{}.x6", model.node(c_node).name)).into_owned();
        let rank = model.outlet_fact(OutletId::new(fused, 0))?.rank();
        let k = model.add_const(k_name, tensor0(factor).broadcast_into_rank(rank)?)?;
        model.add_edge(k, InletId::new(c_node, c_slot))?;
        return Ok(Some(4));
    }
    Ok(None)
}

/// Rewires `QConv` node `id` as `op` (with new bias / scale constants when given) standing for
/// node `last` (whose output it takes over); `absorbed` is returned for counting.
fn replace(
    model: &mut TypedModel,
    id: usize,
    last: usize,
    op: QConv,
    bias: Option<Vec<i32>>,
    scale: Option<Vec<f32>>,
    absorbed: usize,
) -> TractResult<usize> {
    replace_with(model, id, last, op, bias, scale, None, absorbed)
}

/// [`replace`], with the fifth input of an [`OutQuant::I8PerChannel`] op.
#[allow(clippy::too_many_arguments)]
fn replace_with(
    model: &mut TypedModel,
    id: usize,
    last: usize,
    op: QConv,
    bias: Option<Vec<i32>>,
    scale: Option<Vec<f32>>,
    out_scales: Option<Vec<f32>>,
    absorbed: usize,
) -> TractResult<usize> {
    let name = model.node(id).name.clone();
    let inputs = model.node(id).inputs.clone();
    let mut patch = TypedModelPatch::default();
    let mut taps = patch.taps(model, &inputs)?;
    if let Some(b) = bias {
        taps[2] = patch.add_const(format!("{name}.bias_i32.fused"), tensor1(&b))?;
    }
    if let Some(s) = scale {
        taps[3] = patch.add_const(format!("{name}.scale.fused"), tensor1(&s))?;
    }
    if let Some(s) = out_scales {
        taps.push(patch.add_const(format!("{name}.out_scales"), tensor1(&s))?);
    }
    let out = patch.wire_node(format!("{name}.fused"), op, &taps)?[0];
    patch.shunt_outside(model, OutletId::new(last, 0), out)?;
    patch.apply(model)?;
    // The fused op keeps the layer's name (reports and timing find it by that name).
    model.node_mut(id).name = model.unique_name(format!("{name}.unfused")).into_owned();
    let new_id = model.nodes().len() - 1;
    debug_assert!(model.node(new_id).op_is::<QConv>());
    model.node_mut(new_id).name = name;
    Ok(absorbed)
}

