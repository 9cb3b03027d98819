//! Lowering of one float conv or matmul (EinSum with constant weights) to tract's integer op.
//!
//! Both become `cast(f32 → q8) → integer op (int8 weights, one scale per output channel, i32
//! output) → cast(f32) · y_scale`; the helpers below are shared, only the op differs.

use oar_plan::tract::tract_core::ops::cast::cast;
use oar_plan::tract::tract_core::ops::cnn::Conv;
use oar_plan::tract::tract_core::ops::einsum::EinSum;
use oar_plan::tract::tract_core::ops::math::mul;
use oar_plan::tract::*;
use oar_plan::tract::tract_core::internal::*;

/// The quantization of one lowered layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvQuant {
    /// Input activation: real = (q - zero_point) · scale.
    pub x_scale: f32,
    pub x_zero_point: i32,
    /// Weights: symmetric int8, one scale per output channel (max|w_c| / 127).
    pub k_scale: Vec<f32>,
    /// Scale of the op's i32 output (dequantized by one multiplication; for matmuls, whose
    /// output keeps one scale per channel, the smallest).
    pub y_scale: f32,
    /// The quantized activation outlet (shared by the layers reading the same tensor); ids are
    /// those of the model before `quantize` compacts it.
    pub quantized_input: OutletId,
    /// The f32 outlet now standing for the layer's output (same caveat).
    pub output: OutletId,
    /// Number of weights (now one byte each instead of four).
    pub weights: usize,
    /// Per-channel input scales, when the input is quantized per channel (depthwise convs whose
    /// channels' ranges differ too much for one scale; `x_scale` is then the largest of them).
    pub x_channel_scales: Option<Vec<f32>>,
}

/// How an activation is quantized.
#[derive(Debug, Clone, Copy)]
pub struct ActQuant {
    pub scale: f32,
    pub zero_point: i32,
    /// `i8` or `u8`.
    pub dt: DatumType,
}

/// `scale` as a plan will hold it: tract's NNEF writer prints the scale of a quantized tensor type
/// with 9 decimals (`graph.quant`), so a scale with more digits would come back different and
/// the plan would round some values differently from the graph the compiler checked (PP-OCRv4
/// rec's int8 plans differed by up to 0.09 on the softmax). Every type scale the compiler makes
/// goes through this.
pub fn nnef_exact_scale(scale: f32) -> f32 {
    let printed: f32 = format!("{scale:.9}").parse().unwrap_or(scale);
    if printed > 0.0 { printed } else { scale }
}

/// Symmetric per-output-channel int8 quantization of an OIHW kernel: (values, scales).
pub fn quantize_weights(kernel: &Tensor) -> TractResult<(Vec<i8>, Vec<f32>)> {
    quantize_weights_along(kernel, 0)
}

/// Symmetric int8 quantization with one scale per index of `axis`: (values in the tensor's
/// order, scales).
pub fn quantize_weights_along(w: &Tensor, axis: usize) -> TractResult<(Vec<i8>, Vec<f32>)> {
    let w = w.cast_to::<f32>()?;
    let view = w.to_plain_array_view::<f32>()?;
    let n = w.shape()[axis];
    let scales: Vec<f32> = (0..n)
        .map(|c| {
            let m = view.index_axis(tract_ndarray::Axis(axis), c).iter().fold(0f32, |a, v| a.max(v.abs()));
            // A channel of (near-)zero weights (e.g. switched off in training) is all zeros: its
            // scale times an activation scale would underflow to 0, which the kernels refuse.
            if m > 1e-20 { m / 127.0 } else { 1.0 }
        })
        .collect();
    let q = view
        .indexed_iter()
        .map(|(ix, v)| (v / scales[ix[axis]]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    Ok((q, scales))
}

/// The output scale of an integer layer: acc_c · (x_scale · k_scale_c / y_scale) must fit in i32
/// in the worst case; within that, y_scale = x_scale · min(k_scale) / f with f ≤ 64 a power of
/// two keeps ~6 extra bits, so rounding the per-channel rescale is negligible.
/// `abs_sum[c]` = Σ|q| over channel c's weights.
fn output_scale(x_scale: f32, k_scale: &[f32], abs_sum: &[f64], bias_i32: &[i32]) -> f32 {
    let k_min = k_scale.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    let worst = (0..k_scale.len())
        .map(|c| (abs_sum[c] * 255.0 + bias_i32.get(c).map_or(0.0, |b| (*b as f64).abs())) * (k_scale[c] / k_min) as f64)
        .fold(0f64, f64::max);
    let mut factor = 64f32;
    while factor > 1.0 && worst * factor as f64 >= (1u64 << 30) as f64 {
        factor /= 2.0;
    }
    x_scale * k_min / factor
}

/// The quantized version of an activation (a new cast, or the one already made for it).
pub(super) fn quantized_input(model: &mut TypedModel, x: OutletId, act: ActQuant, existing: Option<OutletId>) -> TractResult<OutletId> {
    if let Some(o) = existing {
        return Ok(o);
    }
    let qp = QParams::ZpScale { zero_point: act.zero_point, scale: act.scale };
    let q_dt = if act.dt == i8::datum_type() { DatumType::QI8(qp) } else { DatumType::QU8(qp) };
    let name = model.unique_name(format!("{}.q8", model.node(x.node).name)).into_owned();
    Ok(model.wire_node(name, cast(q_dt), &[x])?[0])
}

fn konst(model: &mut TypedModel, layer: &str, suffix: &str, t: Tensor) -> TractResult<OutletId> {
    let n = model.unique_name(format!("{layer}.{suffix}")).into_owned();
    model.add_const(n, t)
}

/// Wires `acc · y_scale` in f32 after the integer op's i32 output and makes it replace float
/// node `id`; the dequantized output takes the layer's name (outputs and reports refer to it).
fn dequantize_in_place(model: &mut TypedModel, id: usize, acc: OutletId, y_scale: Tensor) -> TractResult<OutletId> {
    let name = model.node(id).name.clone();
    let f_name = model.unique_name(format!("{name}.to_f32")).into_owned();
    let f = model.wire_node(f_name, cast(f32::datum_type()), &[acc])?[0];
    let rank = model.outlet_fact(f)?.rank();
    let s = konst(model, &name, "y_scale_f32", y_scale.broadcast_into_rank(rank)?)?;
    let out_name = model.unique_name(format!("{name}.dequant")).into_owned();
    let output = model.wire_node(out_name, mul(), &[f, s])?[0];
    let mut patch = TypedModelPatch::default();
    let tap = patch.tap_model(model, output)?;
    patch.shunt_outside(model, OutletId::new(id, 0), tap)?;
    patch.apply(model)?;
    model.node_mut(id).name = model.unique_name(format!("{name}.float")).into_owned();
    model.node_mut(output.node).name = name;
    Ok(output)
}

/// Σ|q| per output channel of weights quantized along `axis`.
fn abs_sums(q: &[i8], shape: &[usize], axis: usize) -> Vec<f64> {
    let inner: usize = shape[axis + 1..].iter().product();
    let n = shape[axis];
    let mut sums = vec![0f64; n];
    for (i, v) in q.iter().enumerate() {
        sums[(i / inner) % n] += (*v as f64).abs();
    }
    sums
}

/// Replaces float conv `id` of `model` (group 1, OIHW, constant kernel and bias) by
/// `cast(f32 → q8) → Conv{q_params: Some(I32)} → cast(f32) · y_scale`. The old conv is left
/// unreachable (call `into_compact`). `existing` is an already quantized version of the input.
pub fn lower_conv(
    model: &mut TypedModel,
    id: usize,
    x_scale: f32,
    x_zero_point: i32,
    act_dt: DatumType,
    existing: Option<OutletId>,
) -> TractResult<ConvQuant> {
    let act = ActQuant { scale: x_scale, zero_point: x_zero_point, dt: act_dt };
    let node = model.node(id).clone();
    let conv = node.op_as::<Conv>().context("not a conv")?.clone();
    ensure!(conv.q_params.is_none() && conv.group == 1);
    let name = node.name.clone();
    let kernel = model.outlet_fact(node.inputs[1])?.konst.clone().context("kernel not constant")?;
    let bias = model.outlet_fact(node.inputs[2])?.konst.clone().context("bias not constant")?;
    let (q, k_scale) = quantize_weights(&kernel)?;
    let o = k_scale.len();
    ensure!(o == conv.output_channels());

    let bias = bias.cast_to::<f32>()?;
    let bias = bias.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    ensure!(bias.len() == 1 || bias.len() == o, "bias of {} values for {o} channels", bias.len());
    let bias_i32: Vec<i32> = (0..o)
        .map(|c| {
            let b = if bias.len() == 1 { bias[0] } else { bias[c] };
            (b as f64 / (x_scale as f64 * k_scale[c] as f64)).round().clamp(-((1u64 << 30) as f64), (1u64 << 30) as f64) as i32
        })
        .collect();
    let y_scale = output_scale(x_scale, &k_scale, &abs_sums(&q, kernel.shape(), 0), &bias_i32);
    let xq = quantized_input(model, node.inputs[0], act, existing)?;

    let weights = q.len();
    let mut kt = Tensor::from_shape(kernel.shape(), &q)?;
    // The kernel is stored as a quantized type so that the NNEF writer does not try to reduce the
    // per-channel scales to one (rewrite_consistent_quantized_conv); the conv reads k_scale.
    let k_max = k_scale.iter().fold(0f32, |a, &b| a.max(b));
    // SAFETY: the tensor holds the i8 weights `q`; QI8 has the same one-byte layout.
    unsafe { kt.set_datum_type(DatumType::QI8(QParams::ZpScale { zero_point: 0, scale: k_max })) };
    let k = konst(model, &name, "kernel_i8", kt)?;
    let b = konst(model, &name, "bias_i32", tensor1(&bias_i32))?;
    let x0 = konst(model, &name, "x0", tensor0(x_zero_point))?;
    let xs = konst(model, &name, "x_scale", tensor0(x_scale))?;
    let k0 = konst(model, &name, "k0", tensor0(0i32))?;
    let ks = konst(model, &name, "k_scale", tensor1(&k_scale))?;
    let y0 = konst(model, &name, "y0", tensor0(0i32))?;
    let ys = konst(model, &name, "y_scale", tensor0(y_scale))?;
    let qconv = Conv { pool_spec: conv.pool_spec.clone(), kernel_fmt: conv.kernel_fmt, group: 1, q_params: Some(i32::datum_type()) };
    let acc_name = model.unique_name(format!("{name}.i8conv")).into_owned();
    let acc = model.wire_node(acc_name, qconv, &[xq, k, b, x0, xs, k0, ks, y0, ys])?[0];
    let output = dequantize_in_place(model, id, acc, tensor0(y_scale))?;
    Ok(ConvQuant { x_scale, x_zero_point, k_scale, y_scale, quantized_input: xq, output, weights, x_channel_scales: None })
}

/// The shape of a matmul EinSum worth lowering: which input holds the constant weights, and the
/// weight axis that is the output channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatMulShape {
    pub weight_slot: usize,
    /// Position of the output-channel axis in the weight tensor.
    pub channel_axis: usize,
    /// Its letter in the EinSum expression.
    pub channel: char,
}

/// Why a float EinSum cannot become an integer matmul, or how it can.
pub fn matmul_shape(model: &TypedModel, id: usize) -> Result<MatMulShape, String> {
    let node = model.node(id);
    let op = node.op_as::<EinSum>().ok_or("not an EinSum")?;
    if op.q_params.is_some() || node.inputs.len() != 2 {
        return Err("already quantized".into());
    }
    let facts: Vec<TypedFact> = node.inputs.iter().map(|i| model.outlet_fact(*i).cloned()).collect::<TractResult<_>>().map_err(|e| format!("{e}"))?;
    let consts: Vec<bool> = facts.iter().map(|f| f.konst.is_some()).collect();
    let weight_slot = match consts[..] {
        [false, true] => 1,
        [true, false] => 0,
        [false, false] => return Err("matmul of two activations (no constant weights)".into()),
        _ => return Err("both operands constant".into()),
    };
    let x_slot = 1 - weight_slot;
    if facts[x_slot].datum_type != f32::datum_type() {
        return Err(format!("input is {:?}", facts[x_slot].datum_type));
    }
    let axes = &op.axes;
    let k_axes = axes.iter_all_axes().filter(|a| a.inputs[0].len() == 1 && a.inputs[1].len() == 1 && a.outputs[0].is_empty()).count();
    if k_axes != 1 {
        return Err(format!("{k_axes} contracted axes (expected 1)"));
    }
    // Weight axes that reach the output without touching the activation: output channels.
    let shape = facts[weight_slot].shape.as_concrete().ok_or("symbolic weight shape")?.to_vec();
    let channels: Vec<(usize, char)> = axes
        .iter_all_axes()
        .filter(|a| a.inputs[weight_slot].len() == 1 && a.inputs[x_slot].is_empty() && !a.outputs[0].is_empty())
        .map(|a| (a.inputs[weight_slot][0], a.repr))
        .filter(|(pos, _)| shape[*pos] > 1)
        .collect();
    match channels[..] {
        [(channel_axis, channel)] => Ok(MatMulShape { weight_slot, channel_axis, channel }),
        [] => Err("no output-channel axis".into()),
        _ => Err("several output-channel axes".into()),
    }
}

/// Replaces float matmul `id` (an EinSum with one constant operand, see [`matmul_shape`]) by
/// `cast(f32 → q8) → EinSum{q_params: Some(I32)} → cast(f32) · (x_scale · k_scale_c)`, weights
/// int8 per output channel. The integer EinSum is given unit scales, so it returns the raw i32
/// accumulators (exact) and the per-channel scales are applied once, in f32, by the
/// dequantizing multiplication: tract's quantized EinSum is not relied on for vector scales.
pub fn lower_matmul(
    model: &mut TypedModel,
    id: usize,
    x_scale: f32,
    x_zero_point: i32,
    act_dt: DatumType,
    existing: Option<OutletId>,
) -> TractResult<ConvQuant> {
    let act = ActQuant { scale: x_scale, zero_point: x_zero_point, dt: act_dt };
    let shape = matmul_shape(model, id).map_err(|e| format_err!("{e}"))?;
    let node = model.node(id).clone();
    let op = node.op_as::<EinSum>().context("not an EinSum")?.clone();
    let name = node.name.clone();
    let (ws, xs_slot) = (shape.weight_slot, 1 - shape.weight_slot);
    let w = model.outlet_fact(node.inputs[ws])?.konst.clone().context("weights not constant")?;
    let (q, k_scale) = quantize_weights_along(&w, shape.channel_axis)?;
    let xq = quantized_input(model, node.inputs[xs_slot], act, existing)?;
    let wq = konst(model, &name, "weights_i8", Tensor::from_shape(w.shape(), &q)?)?;

    // Quantized EinSum inputs: a, b, bias, a0, a_scale, b0, b_scale, c0, c_scale (all scalars
    // here). The activation's scale must match its QI8/QU8 type (tract reads either), so it is
    // x_scale, and c_scale = x_scale makes the requantization a multiplication by 1.
    let (ins, outs) = op.axes.to_strs();
    let axes: AxesMapping = format!("{},{},,,,,,,->{}", ins[0], ins[1], outs[0]).parse()?;
    let i32_konst = |model: &mut TypedModel, s: &str, v: i32| konst(model, &name, s, tensor0(v));
    let f32_konst = |model: &mut TypedModel, s: &str, v: f32| konst(model, &name, s, tensor0(v));
    let bias = i32_konst(model, "bias_i32", 0)?;
    let x0 = i32_konst(model, "x0", x_zero_point)?;
    let w0 = i32_konst(model, "w0", 0)?;
    let y0 = i32_konst(model, "y0", 0)?;
    let xs = f32_konst(model, "x_scale", x_scale)?;
    let ws_one = f32_konst(model, "w_scale", 1.0)?;
    let cs = f32_konst(model, "c_scale", x_scale)?;
    let (a, a0, a_s, b, b0, b_s) = if ws == 0 { (wq, w0, ws_one, xq, x0, xs) } else { (xq, x0, xs, wq, w0, ws_one) };
    let qop = EinSum { axes, operating_dt: i32::datum_type(), q_params: Some(i32::datum_type()) };
    let acc_name = model.unique_name(format!("{name}.i8matmul")).into_owned();
    let acc = model.wire_node(acc_name, qop, &[a, b, bias, a0, a_s, b0, b_s, y0, cs])?[0];

    // Per-channel dequantization along the output's channel axis.
    let out_rank = model.outlet_fact(acc)?.rank();
    let out_axis = op.axes.axis(shape.channel)?.outputs[0][0];
    let mut dims = vec![1usize; out_rank];
    dims[out_axis] = k_scale.len();
    let per_channel: Vec<f32> = k_scale.iter().map(|k| x_scale * k).collect();
    let output = dequantize_in_place(model, id, acc, Tensor::from_shape(&dims, &per_channel)?)?;
    let y_scale = per_channel.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    Ok(ConvQuant { x_scale, x_zero_point, k_scale, y_scale, quantized_input: xq, output, weights: q.len(), x_channel_scales: None })
}
