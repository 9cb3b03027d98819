//! NNEF form of the oar ops: `oar_qconv_dw_v1(x, weights, bias, scale, kernel, stride, padding, …)`
//! and `oar_qconv_pw_v1(x, weights, bias, scale, …)`; `_v2` of both adds `out_scales` (int8
//! output with one scale per channel); `oar_dwconv_f32_v1(x, weights, bias, kernel, stride, padding,
//! activation, …)`; `oar_pwconv_f32_v1(x, weights, bias, axis, activation, …)`;
//! `oar_conv_f32_v1(x, weights, bias, kernel, stride, padding, activation, …)`;
//! `oar_deform_conv_v1(input, weights, offset, bias, mask, kernel, stride, dilation,
//! padding, group, offset_group, masked)` (ONNX `DeformConv`; `mask` is a scalar 1 when the ONNX node
//! has none and `masked` is false). The fragment name carries the op version; a
//! change of meaning gets a new name (and a new entry in [`crate::OPS`]).

use crate::qconv::{Family, OutQuant, QConv};
use crate::weights::WeightsI8;
use crate::{ConvF32, DeformConv, DwConvF32, OpId, PwConvF32};
use oar_kernels::{Activation, FloatActivation};
use tract_nnef::internal::*;
use tract_nnef::ser::{ints, invocation, numeric, string};

fn fragment(family: &str, version: u32) -> String {
    let id = crate::OPS.iter().find(|o| o.name.ends_with(family) && o.version == version).expect("op listed in OPS");
    fragment_of(*id)
}

fn fragment_of(id: OpId) -> String {
    format!("{}_v{}", id.name, id.version)
}

/// Adds the oar ops (and their writer) to an NNEF framework, in a registry named `oar`.
pub fn register(nnef: &mut tract_nnef::framework::Nnef) {
    let mut registry = Registry::new("oar")
        .with_doc("Extension `oar`: oar's int8 depthwise / pointwise and float depthwise / pointwise / stem convolutions, deformable convolution (oar-ops).");
    registry.register_dumper(dump);
    registry.register_dumper(dump_dwconv_f32);
    registry.register_dumper(dump_weights);
    registry.register_dumper(dump_pwconv_f32);
    registry.register_dumper(dump_conv_f32);
    registry.register_dumper(dump_deform_conv);
    registry.register_primitive(
        &fragment_of(crate::DEFORM_CONV),
        &deform_conv_parameters(),
        &[("output", TypeName::Scalar.tensor())],
        load_deform_conv,
    );
    registry.register_primitive(
        &fragment_of(crate::WEIGHTS_I8),
        &[TypeName::Scalar.tensor().named("values"), TypeName::Scalar.tensor().named("scale")],
        &[("output", TypeName::Scalar.tensor())],
        load_weights,
    );
    for family in ["dw", "pw"] {
        for version in [1, 2] {
            registry.register_primitive(&fragment(family, version), &parameters(version), &[("output", TypeName::Scalar.tensor())], load);
        }
    }
    registry.register_primitive(
        &fragment_of(crate::DWCONV_F32),
        &dwconv_f32_parameters(),
        &[("output", TypeName::Scalar.tensor())],
        load_dwconv_f32,
    );
    registry.register_primitive(
        &fragment_of(crate::PWCONV_F32),
        &pwconv_f32_parameters(),
        &[("output", TypeName::Scalar.tensor())],
        load_pwconv_f32,
    );
    registry.register_primitive(
        &fragment_of(crate::CONV_F32),
        &conv_f32_parameters(),
        &[("output", TypeName::Scalar.tensor())],
        load_conv_f32,
    );
    nnef.registries.push(registry);
}

/// Version 2 adds `out_scales` (per-channel int8 output, `output = "i8_per_channel"`).
fn parameters(version: u32) -> Vec<Parameter> {
    let mut tensors = vec![
        TypeName::Scalar.tensor().named("input"),
        TypeName::Scalar.tensor().named("weights"),
        TypeName::Scalar.tensor().named("bias"),
        TypeName::Scalar.tensor().named("scale"),
    ];
    if version >= 2 {
        tensors.push(TypeName::Scalar.tensor().named("out_scales"));
    }
    tensors.extend(attributes());
    tensors
}

fn attributes() -> Vec<Parameter> {
    vec![
        TypeName::Integer.named("kernel"),
        TypeName::Integer.named("stride"),
        TypeName::Integer.array().named("padding"),
        TypeName::Integer.named("x_zero_point"),
        TypeName::String.named("activation"),
        TypeName::Scalar.named("clip_min").default(0.0),
        TypeName::Scalar.named("clip_max").default(0.0),
        TypeName::String.named("output"),
        TypeName::Scalar.named("y_scale").default(1.0),
        TypeName::Integer.named("y_zero_point").default(0),
    ]
}

fn dump(ast: &mut IntoAst, node: &TypedNode, op: &QConv) -> TractResult<Option<Arc<RValue>>> {
    let inputs: TVec<Arc<RValue>> = node.inputs.iter().map(|i| ast.mapping[i].clone()).collect();
    let (act, lo, hi) = match op.activation {
        Activation::Identity => ("identity", 0.0, 0.0),
        Activation::Relu => ("relu", 0.0, 0.0),
        Activation::Clip { min, max } => ("clip", min, max),
        Activation::HardSwish => ("hard_swish", 0.0, 0.0),
    };
    let version = op.op_id().version;
    let (name, kernel, stride, pad) = match op.family {
        Family::Depthwise { kernel, stride, pad } => (fragment("dw", version), kernel, stride, pad),
        Family::Pointwise => (fragment("pw", version), 1, 1, [0; 4]),
    };
    let mut args: Vec<(&str, RValue)> =
        vec![("kernel", numeric(kernel)), ("stride", numeric(stride)), ("padding", ints(&pad))];
    args.push(("x_zero_point", numeric(op.x_zero_point)));
    args.push(("activation", string(act)));
    args.push(("clip_min", numeric(lo)));
    args.push(("clip_max", numeric(hi)));
    match op.output {
        OutQuant::I8 { scale, zero_point } => {
            args.push(("output", string("i8")));
            args.push(("y_scale", numeric(scale)));
            args.push(("y_zero_point", numeric(zero_point)));
        }
        OutQuant::I8PerChannel { scale, zero_point } => {
            args.push(("output", string("i8_per_channel")));
            args.push(("y_scale", numeric(scale)));
            args.push(("y_zero_point", numeric(zero_point)));
        }
        OutQuant::F32 => args.push(("output", string("f32"))),
    }
    Ok(Some(invocation(&name, &inputs, &args)))
}

fn load(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let name = &inv.invocation.id.0;
    let v2 = name.ends_with("_v2");
    let tensors: &[&str] = if v2 { &["input", "weights", "bias", "scale", "out_scales"] } else { &["input", "weights", "bias", "scale"] };
    let inputs: TVec<OutletId> = tensors.iter().map(|n| inv.named_arg_as(builder, n)).collect::<TractResult<_>>()?;
    let family = if name.starts_with("oar_qconv_dw") {
        let pad: TVec<usize> = inv.named_arg_as(builder, "padding")?;
        ensure!(pad.len() == 4, "{name}: padding needs 4 values [top, left, bottom, right]");
        Family::Depthwise {
            kernel: inv.named_arg_as::<i64>(builder, "kernel")? as usize,
            stride: inv.named_arg_as::<i64>(builder, "stride")? as usize,
            pad: [pad[0], pad[1], pad[2], pad[3]],
        }
    } else {
        Family::Pointwise
    };
    let activation = match &*inv.named_arg_as::<String>(builder, "activation")? {
        "identity" => Activation::Identity,
        "relu" => Activation::Relu,
        "clip" => Activation::Clip {
            min: inv.named_arg_as(builder, "clip_min")?,
            max: inv.named_arg_as(builder, "clip_max")?,
        },
        "hard_swish" => Activation::HardSwish,
        other => bail!("{name}: unknown activation `{other}`"),
    };
    let output = match &*inv.named_arg_as::<String>(builder, "output")? {
        "i8" => OutQuant::I8 {
            scale: inv.named_arg_as(builder, "y_scale")?,
            zero_point: inv.named_arg_as::<i64>(builder, "y_zero_point")? as i32,
        },
        "i8_per_channel" if v2 => OutQuant::I8PerChannel {
            scale: inv.named_arg_as(builder, "y_scale")?,
            zero_point: inv.named_arg_as::<i64>(builder, "y_zero_point")? as i32,
        },
        "f32" => OutQuant::F32,
        other => bail!("{name}: unknown output `{other}` (i8, f32{})", if v2 { ", i8_per_channel" } else { "" }),
    };
    let x_zero_point = inv.named_arg_as::<i64>(builder, "x_zero_point")? as i32;
    builder.wire(QConv { family, x_zero_point, activation, output }, &inputs)
}

fn dump_weights(ast: &mut IntoAst, node: &TypedNode, op: &WeightsI8) -> TractResult<Option<Arc<RValue>>> {
    let inputs: TVec<Arc<RValue>> = node.inputs.iter().map(|i| ast.mapping[i].clone()).collect();
    Ok(Some(invocation(&fragment_of(op.op_id()), &inputs, &[])))
}

fn load_weights(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let inputs: TVec<OutletId> = ["values", "scale"].iter().map(|n| inv.named_arg_as(builder, n)).collect::<TractResult<_>>()?;
    builder.wire(WeightsI8, &inputs)
}

fn dwconv_f32_parameters() -> Vec<Parameter> {
    let mut p = vec![
        TypeName::Scalar.tensor().named("input"),
        TypeName::Scalar.tensor().named("weights"),
        TypeName::Scalar.tensor().named("bias"),
        TypeName::Integer.named("kernel"),
        TypeName::Integer.named("stride"),
        TypeName::Integer.array().named("padding"),
    ];
    p.extend(float_activation_parameters());
    p
}

/// The fused activation of the float convs: `activation` names it, `clip_*` and `alpha`/`beta`
/// hold its constants.
fn float_activation_parameters() -> Vec<Parameter> {
    vec![
        TypeName::String.named("activation"),
        TypeName::Scalar.named("clip_min").default(0.0),
        TypeName::Scalar.named("clip_max").default(0.0),
        TypeName::Scalar.named("alpha").default(0.0),
        TypeName::Scalar.named("beta").default(0.0),
    ]
}

fn float_activation_args(a: FloatActivation) -> Vec<(&'static str, RValue)> {
    let (act, lo, hi, alpha, beta) = match a {
        FloatActivation::Identity => ("identity", 0.0, 0.0, 0.0, 0.0),
        FloatActivation::Relu => ("relu", 0.0, 0.0, 0.0, 0.0),
        FloatActivation::Clip { min, max } => ("clip", min, max, 0.0, 0.0),
        FloatActivation::HardSwish { alpha, beta } => ("hard_swish", 0.0, 0.0, alpha, beta),
    };
    vec![
        ("activation", string(act)),
        ("clip_min", numeric(lo)),
        ("clip_max", numeric(hi)),
        ("alpha", numeric(alpha)),
        ("beta", numeric(beta)),
    ]
}

fn float_activation(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<FloatActivation> {
    let name = &inv.invocation.id.0;
    Ok(match &*inv.named_arg_as::<String>(builder, "activation")? {
        "identity" => FloatActivation::Identity,
        "relu" => FloatActivation::Relu,
        "clip" => FloatActivation::Clip {
            min: inv.named_arg_as(builder, "clip_min")?,
            max: inv.named_arg_as(builder, "clip_max")?,
        },
        "hard_swish" => FloatActivation::HardSwish {
            alpha: inv.named_arg_as(builder, "alpha")?,
            beta: inv.named_arg_as(builder, "beta")?,
        },
        other => bail!("{name}: unknown activation `{other}`"),
    })
}

fn pwconv_f32_parameters() -> Vec<Parameter> {
    let mut p = vec![
        TypeName::Scalar.tensor().named("input"),
        TypeName::Scalar.tensor().named("weights"),
        TypeName::Scalar.tensor().named("bias"),
        TypeName::Integer.named("axis"),
    ];
    p.extend(float_activation_parameters());
    p
}

fn dump_pwconv_f32(ast: &mut IntoAst, node: &TypedNode, op: &PwConvF32) -> TractResult<Option<Arc<RValue>>> {
    let inputs: TVec<Arc<RValue>> = node.inputs.iter().map(|i| ast.mapping[i].clone()).collect();
    let mut args: Vec<(&str, RValue)> = vec![("axis", numeric(op.axis))];
    args.extend(float_activation_args(op.activation));
    Ok(Some(invocation(&fragment_of(op.op_id()), &inputs, &args)))
}

fn load_pwconv_f32(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let inputs: TVec<OutletId> =
        ["input", "weights", "bias"].iter().map(|n| inv.named_arg_as(builder, n)).collect::<TractResult<_>>()?;
    let axis = inv.named_arg_as::<i64>(builder, "axis")?;
    ensure!(axis >= 0, "{}: axis must be >= 0, got {axis}", inv.invocation.id.0);
    let activation = float_activation(builder, inv)?;
    builder.wire(PwConvF32::new(axis as usize, activation), &inputs)
}

fn dump_dwconv_f32(ast: &mut IntoAst, node: &TypedNode, op: &DwConvF32) -> TractResult<Option<Arc<RValue>>> {
    let inputs: TVec<Arc<RValue>> = node.inputs.iter().map(|i| ast.mapping[i].clone()).collect();
    let mut args: Vec<(&str, RValue)> =
        vec![("kernel", numeric(op.kernel)), ("stride", numeric(op.stride)), ("padding", ints(&op.pad))];
    args.extend(float_activation_args(op.activation));
    Ok(Some(invocation(&fragment_of(op.op_id()), &inputs, &args)))
}

fn load_dwconv_f32(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let inputs: TVec<OutletId> =
        ["input", "weights", "bias"].iter().map(|n| inv.named_arg_as(builder, n)).collect::<TractResult<_>>()?;
    let name = &inv.invocation.id.0;
    let pad: TVec<usize> = inv.named_arg_as(builder, "padding")?;
    ensure!(pad.len() == 4, "{name}: padding needs 4 values [top, left, bottom, right]");
    let activation = float_activation(builder, inv)?;
    let kernel = inv.named_arg_as::<i64>(builder, "kernel")?;
    let stride = inv.named_arg_as::<i64>(builder, "stride")?;
    ensure!(matches!(kernel, 3 | 5) && matches!(stride, 1 | 2), "{name}: kernel 3 or 5 and stride 1 or 2, got {kernel} and {stride}");
    let op = DwConvF32 { kernel: kernel as usize, stride: stride as usize, pad: [pad[0], pad[1], pad[2], pad[3]], activation };
    builder.wire(op, &inputs)
}

fn conv_f32_parameters() -> Vec<Parameter> {
    let mut p = vec![
        TypeName::Scalar.tensor().named("input"),
        TypeName::Scalar.tensor().named("weights"),
        TypeName::Scalar.tensor().named("bias"),
        TypeName::Integer.array().named("kernel"),
        TypeName::Integer.array().named("stride"),
        TypeName::Integer.array().named("padding"),
    ];
    p.extend(float_activation_parameters());
    p
}

fn dump_conv_f32(ast: &mut IntoAst, node: &TypedNode, op: &ConvF32) -> TractResult<Option<Arc<RValue>>> {
    let inputs: TVec<Arc<RValue>> = node.inputs.iter().map(|i| ast.mapping[i].clone()).collect();
    let mut args: Vec<(&str, RValue)> =
        vec![("kernel", ints(&op.kernel)), ("stride", ints(&op.stride)), ("padding", ints(&op.pad))];
    args.extend(float_activation_args(op.activation));
    Ok(Some(invocation(&fragment_of(op.op_id()), &inputs, &args)))
}

fn load_conv_f32(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let inputs: TVec<OutletId> =
        ["input", "weights", "bias"].iter().map(|n| inv.named_arg_as(builder, n)).collect::<TractResult<_>>()?;
    let name = &inv.invocation.id.0;
    let kernel: TVec<usize> = inv.named_arg_as(builder, "kernel")?;
    let stride: TVec<usize> = inv.named_arg_as(builder, "stride")?;
    let pad: TVec<usize> = inv.named_arg_as(builder, "padding")?;
    ensure!(kernel.len() == 2 && stride.len() == 2 && pad.len() == 4, "{name}: kernel [kh, kw], stride [sh, sw] and padding [t, l, b, r] expected");
    let activation = float_activation(builder, inv)?;
    let op = ConvF32::new([kernel[0], kernel[1]], [stride[0], stride[1]], [pad[0], pad[1], pad[2], pad[3]], activation);
    builder.wire(op, &inputs)
}

fn deform_conv_parameters() -> Vec<Parameter> {
    vec![
        TypeName::Scalar.tensor().named("input"),
        TypeName::Scalar.tensor().named("weights"),
        TypeName::Scalar.tensor().named("offset"),
        TypeName::Scalar.tensor().named("bias"),
        TypeName::Scalar.tensor().named("mask"),
        TypeName::Integer.array().named("kernel"),
        TypeName::Integer.array().named("stride"),
        TypeName::Integer.array().named("dilation"),
        TypeName::Integer.array().named("padding"),
        TypeName::Integer.named("group").default(1),
        TypeName::Integer.named("offset_group").default(1),
        TypeName::Logical.named("masked"),
    ]
}

fn dump_deform_conv(ast: &mut IntoAst, node: &TypedNode, op: &DeformConv) -> TractResult<Option<Arc<RValue>>> {
    let mut inputs: TVec<Arc<RValue>> = node.inputs.iter().map(|i| ast.mapping[i].clone()).collect();
    if !op.mask {
        inputs.push(Arc::new(numeric(1.0f32)));
    }
    let args: Vec<(&str, RValue)> = vec![
        ("kernel", ints(&op.kernel)),
        ("stride", ints(&op.stride)),
        ("dilation", ints(&op.dilation)),
        ("padding", ints(&op.pad)),
        ("group", numeric(op.group)),
        ("offset_group", numeric(op.offset_group)),
        ("masked", tract_nnef::ser::logical(op.mask)),
    ];
    Ok(Some(invocation(&fragment_of(op.op_id()), &inputs, &args)))
}

fn load_deform_conv(builder: &mut ModelBuilder, inv: &ResolvedInvocation) -> TractResult<Value> {
    let name = &inv.invocation.id.0;
    let mask: bool = inv.named_arg_as(builder, "masked")?;
    let tensors: &[&str] = if mask { &["input", "weights", "offset", "bias", "mask"] } else { &["input", "weights", "offset", "bias"] };
    let inputs: TVec<OutletId> = tensors.iter().map(|n| inv.named_arg_as(builder, n)).collect::<TractResult<_>>()?;
    let mut pair = |key: &str| -> TractResult<[usize; 2]> {
        let v: TVec<usize> = inv.named_arg_as(builder, key)?;
        ensure!(v.len() == 2, "{name}: {key} needs 2 values [h, w], got {v:?}");
        Ok([v[0], v[1]])
    };
    let (kernel, stride, dilation) = (pair("kernel")?, pair("stride")?, pair("dilation")?);
    let pad: TVec<usize> = inv.named_arg_as(builder, "padding")?;
    ensure!(pad.len() == 4, "{name}: padding needs 4 values [top, left, bottom, right]");
    let group = inv.named_arg_as::<i64>(builder, "group")?;
    let offset_group = inv.named_arg_as::<i64>(builder, "offset_group")?;
    ensure!(group >= 1 && offset_group >= 1, "{name}: group {group} and offset_group {offset_group} must be positive");
    let op = DeformConv {
        kernel,
        stride,
        dilation,
        pad: [pad[0], pad[1], pad[2], pad[3]],
        group: group as usize,
        offset_group: offset_group as usize,
        mask,
    };
    builder.wire(op, &inputs)
}
