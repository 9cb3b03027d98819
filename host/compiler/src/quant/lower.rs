//! Lowering of one float conv to tract's integer conv.

use oar_plan::tract::tract_core::ops::cast::cast;
use oar_plan::tract::tract_core::ops::cnn::Conv;
use oar_plan::tract::tract_core::ops::math::mul;
use oar_plan::tract::*;
use oar_plan::tract::tract_core::internal::*;

/// The quantization of one lowered conv.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvQuant {
    /// Input activation: real = (q - zero_point) · scale.
    pub x_scale: f32,
    pub x_zero_point: i32,
    /// Weights: symmetric int8, one scale per output channel (max|w_c| / 127).
    pub k_scale: Vec<f32>,
    /// Scale of the conv's i32 output (dequantized by one multiplication).
    pub y_scale: f32,
    /// The quantized activation outlet (shared by the convs reading the same tensor); ids are
    /// those of the model before `quantize` compacts it.
    pub quantized_input: OutletId,
    /// The f32 outlet now standing for the conv's output (same caveat).
    pub output: OutletId,
}

/// Symmetric per-output-channel int8 quantization of an OIHW kernel: (values, scales).
pub fn quantize_weights(kernel: &Tensor) -> TractResult<(Vec<i8>, Vec<f32>)> {
    let kernel = kernel.cast_to::<f32>()?;
    let w = kernel.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    let o = kernel.shape()[0];
    let per = w.len() / o;
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(o);
    for c in 0..o {
        let ws = &w[c * per..(c + 1) * per];
        let m = ws.iter().fold(0f32, |a, v| a.max(v.abs()));
        let s = if m > 0.0 { m / 127.0 } else { 1.0 };
        scales.push(s);
        q.extend(ws.iter().map(|v| (v / s).round().clamp(-127.0, 127.0) as i8));
    }
    Ok((q, scales))
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
    let node = model.node(id).clone();
    let conv = node.op_as::<Conv>().context("not a conv")?.clone();
    ensure!(conv.q_params.is_none() && conv.group == 1);
    let name = node.name.clone();
    let kernel = model.outlet_fact(node.inputs[1])?.konst.clone().context("kernel not constant")?;
    let bias = model.outlet_fact(node.inputs[2])?.konst.clone().context("bias not constant")?;
    let (q, k_scale) = quantize_weights(&kernel)?;
    let o = k_scale.len();
    ensure!(o == conv.output_channels());
    let per = q.len() / o;

    let bias = bias.cast_to::<f32>()?;
    let bias = bias.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    ensure!(bias.len() == 1 || bias.len() == o, "bias of {} values for {o} channels", bias.len());
    let bias_i32: Vec<i32> = (0..o)
        .map(|c| {
            let b = if bias.len() == 1 { bias[0] } else { bias[c] };
            (b as f64 / (x_scale as f64 * k_scale[c] as f64)).round().clamp(-((1u64 << 30) as f64), (1u64 << 30) as f64) as i32
        })
        .collect();

    // The conv's i32 output is acc_c · (x_scale · k_scale_c / y_scale): a y_scale finer than every
    // channel's accumulator unit keeps rounding negligible, as long as the worst case fits in i32.
    let k_min = k_scale.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    let worst = (0..o)
        .map(|c| {
            let wsum: f64 = q[c * per..(c + 1) * per].iter().map(|v| (*v as f64).abs()).sum();
            (wsum * 255.0 + (bias_i32[c] as f64).abs()) * (k_scale[c] / k_min) as f64
        })
        .fold(0f64, f64::max);
    let mut factor = 64f32;
    while factor > 1.0 && worst * factor as f64 >= (1u64 << 30) as f64 {
        factor /= 2.0;
    }
    let y_scale = x_scale * k_min / factor;

    let qp = QParams::ZpScale { zero_point: x_zero_point, scale: x_scale };
    let q_dt = if act_dt == i8::datum_type() { DatumType::QI8(qp) } else { DatumType::QU8(qp) };
    let quantized_input = match existing {
        Some(o) => o,
        None => {
            let x_name = model.unique_name(format!("{}.q8", model.node(node.inputs[0].node).name)).into_owned();
            model.wire_node(x_name, cast(q_dt), &[node.inputs[0]])?[0]
        }
    };

    let kshape = kernel.shape().to_vec();
    let mut kt = Tensor::from_shape(&kshape, &q)?;
    // The kernel is stored as a quantized type so that the NNEF writer does not try to reduce the
    // per-channel scales to one (rewrite_consistent_quantized_conv); the conv reads k_scale.
    let k_max = k_scale.iter().fold(0f32, |a, &b| a.max(b));
    unsafe { kt.set_datum_type(DatumType::QI8(QParams::ZpScale { zero_point: 0, scale: k_max })) };
    fn konst_in(model: &mut TypedModel, name: &str, suffix: &str, t: Tensor) -> TractResult<OutletId> {
        let n = model.unique_name(format!("{name}.{suffix}")).into_owned();
        model.add_const(n, t)
    }
    let konst = |model: &mut TypedModel, suffix: &str, t: Tensor| konst_in(model, &name, suffix, t);
    let k = konst(model, "kernel_i8", kt)?;
    let b = konst(model, "bias_i32", tensor1(&bias_i32))?;
    let x0 = konst(model, "x0", tensor0(x_zero_point))?;
    let xs = konst(model, "x_scale", tensor0(x_scale))?;
    let k0 = konst(model, "k0", tensor0(0i32))?;
    let ks = konst(model, "k_scale", tensor1(&k_scale))?;
    let y0 = konst(model, "y0", tensor0(0i32))?;
    let ys = konst(model, "y_scale", tensor0(y_scale))?;
    let qconv = Conv { pool_spec: conv.pool_spec.clone(), kernel_fmt: conv.kernel_fmt, group: 1, q_params: Some(i32::datum_type()) };
    let acc_name = model.unique_name(format!("{name}.i8conv")).into_owned();
    let acc = model.wire_node(acc_name, qconv, &[quantized_input, k, b, x0, xs, k0, ks, y0, ys])?[0];
    let f_name = model.unique_name(format!("{name}.to_f32")).into_owned();
    let f = model.wire_node(f_name, cast(f32::datum_type()), &[acc])?[0];
    let rank = model.outlet_fact(f)?.rank();
    let s = konst(model, "y_scale_f32", tensor0(y_scale).broadcast_into_rank(rank)?)?;
    let out_name = model.unique_name(format!("{name}.dequant")).into_owned();
    let output = model.wire_node(out_name, mul(), &[f, s])?[0];

    let mut patch = TypedModelPatch::default();
    let tap = patch.tap_model(model, output)?;
    patch.shunt_outside(model, OutletId::new(id, 0), tap)?;
    patch.apply(model)?;
    // The dequantized output takes the conv's name (outputs and reports refer to it).
    model.node_mut(id).name = model.unique_name(format!("{name}.float")).into_owned();
    model.node_mut(output.node).name = name;
    Ok(ConvQuant { x_scale, x_zero_point, k_scale, y_scale, quantized_input, output })
}
