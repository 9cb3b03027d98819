//! The pass that replaces tract's float depthwise `Conv` nodes by [`DwConvF32`] and its float
//! pointwise convs (`Conv` 1×1, or the `EinSum` tract's declutter makes of them) by [`PwConvF32`],
//! with the per-channel affine ops and the activation after them.

use crate::lower::{bin_with_const, konst, replace_by, single_successor};
use crate::{ConvF32, DwConvF32, PwConvF32, CONV_MAX_DEPTH};
use oar_kernels::FloatActivation;
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::binary::TypedBinOp;
use tract_nnef::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_nnef::tract_core::ops::einsum::EinSum;
use tract_nnef::tract_core::ops::element_wise::ElementWiseOp;
use tract_nnef::tract_core::ops::math::{Add, Max, Min, Mul};
use tract_nnef::tract_core::ops::nn::{DataFormat, HardSwish};

/// Pointwise convs over fewer pixels than this are left to tract (its matrix-vector kernels are
/// better at a handful of columns, e.g. the 1×1 "last conv" of a classifier after global pooling).
pub const PW_MIN_PIXELS: usize = 8;

/// Pointwise convs over more input channels than this are left to tract too: the oar kernel streams
/// every input channel of a 16-pixel panel per block of output channels, which stops fitting the L1
/// cache past a few hundred channels, while tract's kernels block over that axis (DeepLabv3+ R50 at
/// 256², 256–2048 channels over 32×32 pixels: 1.4 s with them in oar, 0.88 s in tract).
pub const PW_MAX_INPUT_CHANNELS: usize = 256;

/// Replaces every float depthwise `Conv` (group = input channels = output channels, 3×3 or 5×5,
/// stride 1 or 2 in both axes, dilation 1, NCHW or CHW, explicit or valid padding — or SAME padding when
/// the input's spatial dims are known) by a [`DwConvF32`], and every float pointwise conv (a `Conv`
/// 1×1, stride 1, group 1, no padding, NCHW or CHW; or the `EinSum` tract's declutter turns it into:
/// `x[N…][C][P…]` times constant weights `[Co][C]` summed over `C`, at least [`PW_MIN_PIXELS`]
/// pixels when known) by a [`PwConvF32`], folding into the new op what follows the conv while each
/// node is the single consumer of the previous one:
/// - axis changes that leave the channel axis and the data order alone (removal or insertion of a
///   size-1 axis such as the batch axis, which tract's declutter puts where the graph around works
///   in rank 3; reshapes of the pixel axes): kept, in order, after the new op;
/// - multiplications and additions by per-channel or scalar constants (BatchNorm after declutter):
///   folded into the weights and bias (`(Σ w·x + b)·s + t = Σ (w·s)·x + (b·s + t)`, which only
///   changes the rounding);
/// - then one activation: ReLU (`max(·, 0)`), clip (`max(·, lo)` and/or `min(·, hi)` with constants),
///   tract's `HardSwish`, or the hard-swish as ONNX `HardSigmoid` + `Mul` decluttered (`y·α + β`,
///   `min(·, 1)`, `max(·, 0)`, then `· y`).
///
/// Returns how many convs were replaced. Nodes left unreachable are removed (the model is compacted).
pub fn lower_float(model: &mut TypedModel) -> TractResult<usize> {
    let (mut dw, mut pw, mut stem) = (0, 0, 0);
    for id in model.eval_order()? {
        let node = model.node(id);
        let plan = if let Some(conv) = node.op_as::<Conv>().cloned() {
            match dw_plan(model, id, &conv)? {
                Some(p) => Some(p),
                None => match pw_conv_plan(model, id, &conv)? {
                    Some(p) => Some(p),
                    None => stem_plan(model, id, &conv)?,
                },
            }
        } else if let Some(es) = node.op_as::<EinSum>().cloned() {
            pw_einsum_plan(model, id, &es)?
        } else {
            None
        };
        let Some(plan) = plan else { continue };
        let x = model.node(id).inputs[plan.x_input];
        log::trace!("oar_ops::lower_float: {} -> {:?}", model.node(plan.last).name, plan.op);
        match plan.kind {
            Kind::Depthwise => dw += 1,
            Kind::Pointwise => pw += 1,
            Kind::Stem => stem += 1,
        }
        replace_by(model, x, plan.last, plan.op, plan.consts, plan.post)?;
    }
    if dw + pw + stem > 0 {
        *model = std::mem::take(model).into_compact()?;
    }
    log::debug!("oar_ops::lower_float: {dw} float depthwise, {pw} pointwise and {stem} stem convs replaced");
    Ok(dw + pw + stem)
}

enum Kind {
    Depthwise,
    Pointwise,
    Stem,
}

struct Plan {
    op: Box<dyn TypedOp>,
    consts: Vec<(&'static str, Tensor)>,
    /// Axis ops applied after the new op.
    post: Vec<Box<dyn TypedOp>>,
    /// Which input of the conv node is `x`.
    x_input: usize,
    kind: Kind,
    /// The last node the op stands for.
    last: usize,
}

/// What follows a conv whose output channel axis is `axis` with `c` channels and that the new op
/// takes over: the per-channel affine `y·scale + shift`, axis ops, the activation and the last node.
struct Tail {
    scale: Vec<f32>,
    shift: Vec<f32>,
    post: Vec<Box<dyn TypedOp>>,
    activation: FloatActivation,
    last: usize,
}

/// The fusable tail after node `id` (see [`lower_float`]).
fn tail_after(model: &TypedModel, id: usize, mut axis: usize, c: usize) -> TractResult<Tail> {
    let mut last = id;
    let mut post: Vec<Box<dyn TypedOp>> = vec![];
    let (mut scale, mut shift) = (vec![1f32; c], vec![0f32; c]);
    while let Some(next) = single_successor(model, last) {
        let rank = model.outlet_fact(OutletId::new(last, 0))?.rank();
        if let Some(op) = model.node(next).op_as::<AxisOp>() {
            let Some(moved) = channel_axis_after(op, axis) else { break };
            axis = moved;
            post.push(Box::new(op.clone()));
            last = next;
        } else if let Some(m) = bin_per_channel::<Mul>(model, next, last, rank, axis, c) {
            for ch in 0..c {
                scale[ch] *= m[ch];
                shift[ch] *= m[ch];
            }
            last = next;
        } else if let Some(a) = bin_per_channel::<Add>(model, next, last, rank, axis, c) {
            for ch in 0..c {
                shift[ch] += a[ch];
            }
            last = next;
        } else {
            break;
        }
    }
    let (activation, last) = activation_after(model, last).unwrap_or((FloatActivation::Identity, last));
    Ok(Tail { scale, shift, post, activation, last })
}

/// Where channel axis `axis` is after `op`, when `op` keeps the channels and the data order.
fn channel_axis_after(op: &AxisOp, axis: usize) -> Option<usize> {
    match op {
        AxisOp::Rm(a) if *a < axis => Some(axis - 1),
        AxisOp::Rm(a) if *a > axis => Some(axis),
        AxisOp::Add(a) if *a <= axis => Some(axis + 1),
        AxisOp::Add(_) => Some(axis),
        AxisOp::Reshape(start, _, _) if *start > axis => Some(axis),
        AxisOp::Reshape(start, from, to) if start + from.len() <= axis => Some(axis + to.len() - from.len()),
        _ => None,
    }
}

/// Folds `tail`'s affine into `weights` (`[c][per]`) and `bias`.
fn fold_affine(tail: &Tail, weights: &mut [f32], bias: &mut [f32]) {
    let per = weights.len() / bias.len();
    for (ch, b) in bias.iter_mut().enumerate() {
        for v in &mut weights[ch * per..(ch + 1) * per] {
            *v *= tail.scale[ch];
        }
        *b = *b * tail.scale[ch] + tail.shift[ch];
    }
}

/// Per-channel values of constant `t` broadcast against a tensor of `rank` whose channel axis is
/// `axis` with `c` channels: `Some` when `t` is a scalar or varies along that axis only.
fn per_channel(t: &Tensor, rank: usize, axis: usize, c: usize) -> Option<Vec<f32>> {
    if t.rank() > rank {
        return None;
    }
    let lead = rank - t.rank();
    let mut along = 1;
    for (i, &d) in t.shape().iter().enumerate() {
        if i + lead == axis {
            along = d;
        } else if d != 1 {
            return None;
        }
    }
    if along != 1 && along != c {
        return None;
    }
    let t = t.cast_to::<f32>().ok()?;
    let v = t.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?.to_vec();
    Some(if along == 1 { vec![v[0]; c] } else { v })
}

/// Node `id` as a binary op `B` of the output of `from` and a per-channel constant.
fn bin_per_channel<B: tract_nnef::tract_core::ops::binary::BinMiniOp>(
    model: &TypedModel,
    id: usize,
    from: usize,
    rank: usize,
    axis: usize,
    c: usize,
) -> Option<Vec<f32>> {
    let node = model.node(id);
    let bin = node.op_as::<TypedBinOp>()?;
    if !bin.0.is::<B>() || node.inputs.len() != 2 || !node.inputs.contains(&OutletId::new(from, 0)) {
        return None;
    }
    let k = node.inputs.iter().find_map(|&i| konst(model, i))?;
    // The output keeps the shape of `from` (no broadcast to a bigger tensor).
    if model.outlet_fact(OutletId::new(id, 0)).ok()?.shape != model.outlet_fact(OutletId::new(from, 0)).ok()?.shape {
        return None;
    }
    per_channel(&k, rank, axis, c)
}

/// The explicit `[t, l, b, r]` padding of `ps` for an input of `h`×`w` (only for SAME padding).
fn explicit_pad(ps: &PaddingSpec, k: usize, s: usize, hw: [Option<usize>; 2]) -> Option<[usize; 4]> {
    let same = |n: usize, upper: bool| {
        let total = ((n.div_ceil(s) - 1) * s + k).saturating_sub(n);
        let small = total / 2;
        if upper { (small, total - small) } else { (total - small, small) }
    };
    match ps {
        PaddingSpec::Valid => Some([0; 4]),
        PaddingSpec::Explicit(b, a) | PaddingSpec::ExplicitOnnxPool(b, a, false) => Some([b[0], b[1], a[0], a[1]]),
        PaddingSpec::SameUpper | PaddingSpec::SameLower => {
            let upper = matches!(ps, PaddingSpec::SameUpper);
            let (t, b) = same(hw[0]?, upper);
            let (l, r) = same(hw[1]?, upper);
            Some([t, l, b, r])
        }
        _ => None,
    }
}

/// The convs' bias as `c` values (a scalar is broadcast).
fn bias_values(bias: &Tensor, c: usize) -> TractResult<Option<Vec<f32>>> {
    let b = bias.cast_to::<f32>()?;
    let b = b.try_as_plain_ram()?.as_slice::<f32>()?;
    Ok(match b.len() {
        1 => Some(vec![b[0]; c]),
        n if n == c => Some(b.to_vec()),
        _ => None,
    })
}

/// The rank of a float `Conv`'s input (NCHW 4, CHW 3) when the conv is one oar may take (2D, OIHW,
/// not quantized, dilation 1, constant kernel and bias).
fn float_conv_rank(model: &TypedModel, node: &TypedNode, conv: &Conv) -> TractResult<Option<usize>> {
    let ps = &conv.pool_spec;
    let rank = match ps.data_format {
        DataFormat::NCHW => 4,
        DataFormat::CHW => 3,
        _ => return Ok(None),
    };
    if conv.q_params.is_some() || conv.kernel_fmt != KernelFormat::OIHW || ps.rank() != 2 {
        return Ok(None);
    }
    if ps.dilations().iter().any(|&d| d != 1) || node.inputs.len() != 3 {
        return Ok(None);
    }
    let xf = model.outlet_fact(node.inputs[0])?;
    if xf.datum_type != f32::datum_type() || xf.rank() != rank || konst(model, node.inputs[1]).is_none() || konst(model, node.inputs[2]).is_none() {
        return Ok(None);
    }
    Ok(Some(rank))
}

fn dw_plan(model: &TypedModel, id: usize, conv: &Conv) -> TractResult<Option<Plan>> {
    let node = model.node(id);
    let Some(rank) = float_conv_rank(model, node, conv)? else { return Ok(None) };
    let ps = &conv.pool_spec;
    let xf = model.outlet_fact(node.inputs[0])?;
    let (Some(kernel), Some(bias)) = (konst(model, node.inputs[1]), konst(model, node.inputs[2])) else { return Ok(None) };
    let ks = kernel.shape();
    let (c, i_per_g, kh, kw) = (ks[0], ks[1], ks[2], ks[3]);
    let strides = ps.strides();
    if !(conv.group == ps.input_channels && conv.group == c && i_per_g == 1 && kh == kw && (kh == 3 || kh == 5)
        && strides[0] == strides[1] && (strides[0] == 1 || strides[0] == 2))
    {
        return Ok(None);
    }
    let (k, s) = (kh, strides[0]);
    let hw = [xf.shape[rank - 2].to_usize().ok(), xf.shape[rank - 1].to_usize().ok()];
    let Some(pad) = explicit_pad(&ps.padding, k, s, hw) else { return Ok(None) };
    let kernel = kernel.cast_to::<f32>()?;
    let mut weights = kernel.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    let Some(mut bias) = bias_values(&bias, c)? else { return Ok(None) };
    let tail = tail_after(model, id, rank - 3, c)?;
    fold_affine(&tail, &mut weights, &mut bias);
    let op = DwConvF32 { kernel: k, stride: s, pad, activation: tail.activation };
    let consts = vec![("oar_weights", Tensor::from_shape(&[c, 1, k, k], &weights)?), ("oar_bias", tensor1(&bias))];
    Ok(Some(Plan { op: Box::new(op), consts, post: tail.post, x_input: 0, last: tail.last, kind: Kind::Depthwise }))
}

/// A float k×k conv (group 1, not 1×1, square kernel and stride, dilation 1) over few input
/// channels (`C·k·k` ≤ [`CONV_MAX_DEPTH`]): a network's stem.
fn stem_plan(model: &TypedModel, id: usize, conv: &Conv) -> TractResult<Option<Plan>> {
    let node = model.node(id);
    let Some(rank) = float_conv_rank(model, node, conv)? else { return Ok(None) };
    let ps = &conv.pool_spec;
    let (Some(kernel), Some(bias)) = (konst(model, node.inputs[1]), konst(model, node.inputs[2])) else { return Ok(None) };
    let ks = kernel.shape();
    let (co, ci, kh, kw) = (ks[0], ks[1], ks[2], ks[3]);
    let strides = ps.strides();
    if conv.group != 1 || ps.input_channels != ci || kh != kw || kh == 1 || strides[0] != strides[1] || ci * kh * kw > CONV_MAX_DEPTH {
        return Ok(None);
    }
    let xf = model.outlet_fact(node.inputs[0])?;
    let hw = [xf.shape[rank - 2].to_usize().ok(), xf.shape[rank - 1].to_usize().ok()];
    let Some(pad) = explicit_pad(&ps.padding, kh, strides[0], hw) else { return Ok(None) };
    let kernel = kernel.cast_to::<f32>()?;
    let mut weights = kernel.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    let Some(mut bias) = bias_values(&bias, co)? else { return Ok(None) };
    let tail = tail_after(model, id, rank - 3, co)?;
    fold_affine(&tail, &mut weights, &mut bias);
    let op = ConvF32::new([kh, kw], [strides[0], strides[1]], pad, tail.activation);
    let consts = vec![("oar_weights", Tensor::from_shape(&[co, ci, kh, kw], &weights)?), ("oar_bias", tensor1(&bias))];
    Ok(Some(Plan { op: Box::new(op), consts, post: tail.post, x_input: 0, last: tail.last, kind: Kind::Stem }))
}

/// Whether a pointwise conv over `pixels` (when known) from `ci` input channels is worth taking
/// from tract.
fn worth_taking(pixels: &TDim, ci: usize) -> bool {
    ci <= PW_MAX_INPUT_CHANNELS && pixels.to_usize().map_or(true, |p| p >= PW_MIN_PIXELS)
}

/// A float 1×1 `Conv` (stride 1, group 1, no padding): not decluttered yet.
fn pw_conv_plan(model: &TypedModel, id: usize, conv: &Conv) -> TractResult<Option<Plan>> {
    let node = model.node(id);
    let Some(rank) = float_conv_rank(model, node, conv)? else { return Ok(None) };
    let ps = &conv.pool_spec;
    let (Some(kernel), Some(bias)) = (konst(model, node.inputs[1]), konst(model, node.inputs[2])) else { return Ok(None) };
    let ks = kernel.shape();
    let (co, ci) = (ks[0], ks[1]);
    let pad_free = match &ps.padding {
        PaddingSpec::Valid | PaddingSpec::SameUpper | PaddingSpec::SameLower => true,
        PaddingSpec::Explicit(b, a) | PaddingSpec::ExplicitOnnxPool(b, a, _) => b.iter().chain(a).all(|&p| p == 0),
    };
    if conv.group != 1 || ks[2] != 1 || ks[3] != 1 || ps.strides().iter().any(|&s| s != 1) || !pad_free || ps.input_channels != ci {
        return Ok(None);
    }
    let xf = model.outlet_fact(node.inputs[0])?;
    if !worth_taking(&(xf.shape[rank - 2].clone() * &xf.shape[rank - 1]), ci) {
        return Ok(None);
    }
    let kernel = kernel.cast_to::<f32>()?;
    let weights = kernel.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    let Some(bias) = bias_values(&bias, co)? else { return Ok(None) };
    Ok(Some(pw_plan(model, id, 0, rank - 3, weights, bias, vec![])?))
}

/// `x[N…][C][P…]` (non-constant input) times constant weights with axes `[Co]` and `[C]` (and
/// size-1 axes) summed over `C` into `out[N…][Co][P…]`, in f32.
fn pw_einsum_plan(model: &TypedModel, id: usize, es: &EinSum) -> TractResult<Option<Plan>> {
    let node = model.node(id);
    if es.q_params.is_some() || es.operating_dt != f32::datum_type() || node.inputs.len() != 2 {
        return Ok(None);
    }
    let (xi, wi) = match (konst(model, node.inputs[0]), konst(model, node.inputs[1])) {
        (None, Some(_)) => (0, 1),
        (Some(_), None) => (1, 0),
        _ => return Ok(None),
    };
    let w = konst(model, node.inputs[wi]).unwrap();
    let xf = model.outlet_fact(node.inputs[xi])?;
    if xf.datum_type != f32::datum_type() || w.datum_type() != f32::datum_type() {
        return Ok(None);
    }
    let ws = w.shape();
    // Every axis by its position in x, in w and in the output (at most one each).
    let one = |v: &TVec<usize>| -> Option<Option<usize>> {
        match v.len() {
            0 => Some(None),
            1 => Some(Some(v[0])),
            _ => None,
        }
    };
    let (mut k_axis, mut o_axis) = (None, None);
    let (mut shared, mut x_only, mut out_only) = (vec![], vec![], vec![]);
    for axis in es.axes.iter_all_axes() {
        let (Some(px), Some(pw), Some(po)) = (one(&axis.inputs[xi]), one(&axis.inputs[wi]), one(&axis.outputs[0])) else { return Ok(None) };
        match (px, pw, po) {
            (Some(x), Some(w), None) if k_axis.is_none() => k_axis = Some((x, w)),
            (None, Some(w), Some(o)) if o_axis.is_none() => o_axis = Some((w, o)),
            // Batch or pixel axes: in x and the output, absent from w or of size 1 there.
            (Some(x), w, Some(o)) if w.map_or(true, |w| ws[w] == 1) => shared.push((x, o)),
            // Size-1 axes the einsum drops or adds (tract's declutter moves the batch axis so).
            (Some(x), None, None) if xf.shape[x] == 1.to_dim() => x_only.push(x),
            (None, None, Some(o)) => out_only.push(o),
            (None, Some(w), None) if ws[w] == 1 => {}
            _ => return Ok(None),
        }
    }
    let (Some((kx, kw)), Some((ow, oo))) = (k_axis, o_axis) else { return Ok(None) };
    // The shared axes in the same order on both sides, the channels at the same place among them.
    shared.sort();
    if shared.windows(2).any(|p| p[0].1 > p[1].1)
        || shared.iter().filter(|a| a.0 < kx).count() != shared.iter().filter(|a| a.1 < oo).count()
    {
        return Ok(None);
    }
    // From x's layout (channels replaced) to the einsum's: drop then add the size-1 axes.
    x_only.sort();
    out_only.sort();
    let mut post: Vec<AxisOp> = x_only.iter().rev().map(|&a| AxisOp::Rm(a)).collect();
    post.extend(out_only.iter().map(|&a| AxisOp::Add(a)));
    let mut axis = kx;
    for op in &post {
        axis = channel_axis_after(op, axis).context("channel axis")?;
    }
    ensure!(axis == oo, "oar_ops::lower_float: einsum channel axis {kx} -> {axis}, expected {oo}");
    let (ci, co) = (ws[kw], ws[ow]);
    if xf.shape[kx] != ci.to_dim() {
        return Ok(None);
    }
    let pixels = xf.shape.iter().skip(kx + 1).fold(TDim::from(1), |a, d| a * d);
    if !worth_taking(&pixels, ci) {
        return Ok(None);
    }
    // W[o][i] from the weights' strides (the other axes have size 1).
    let w = w.cast_to::<f32>()?;
    let wv = w.try_as_plain_ram()?.as_slice::<f32>()?;
    let strides: Vec<usize> = (0..ws.len()).map(|a| ws[a + 1..].iter().product()).collect();
    let weights: Vec<f32> = (0..co).flat_map(|o| (0..ci).map(move |i| (o, i))).map(|(o, i)| wv[o * strides[ow] + i * strides[kw]]).collect();
    Ok(Some(pw_plan(model, id, xi, kx, weights, vec![0.0; co], post)?))
}

/// The [`PwConvF32`] for node `id` (input `x_input`, channel axis `axis` of x), weights `[Co][C]`;
/// `pre` turns the op's output (x's layout) into node `id`'s.
#[allow(clippy::too_many_arguments)]
fn pw_plan(model: &TypedModel, id: usize, x_input: usize, axis: usize, mut weights: Vec<f32>, mut bias: Vec<f32>, pre: Vec<AxisOp>) -> TractResult<Plan> {
    let (co, ci) = (bias.len(), weights.len() / bias.len());
    let mut out_axis = axis;
    for op in &pre {
        out_axis = channel_axis_after(op, out_axis).context("channel axis")?;
    }
    let mut tail = tail_after(model, id, out_axis, co)?;
    let mut post: Vec<Box<dyn TypedOp>> = pre.into_iter().map(|op| Box::new(op) as _).collect();
    post.append(&mut tail.post);
    tail.post = post;
    fold_affine(&tail, &mut weights, &mut bias);
    let op = PwConvF32::new(axis, tail.activation);
    let consts = vec![("oar_weights", Tensor::from_shape(&[co, ci], &weights)?), ("oar_bias", tensor1(&bias))];
    Ok(Plan { op: Box::new(op), consts, post: tail.post, x_input, last: tail.last, kind: Kind::Pointwise })
}

/// The activation applied to node `y`'s output and the node that ends it, if there is one.
fn activation_after(model: &TypedModel, y: usize) -> Option<(FloatActivation, usize)> {
    let is_output = model.output_outlets().ok()?.contains(&OutletId::new(y, 0));
    if is_output {
        return None;
    }
    let succ: Vec<usize> = model.node(y).outputs[0].successors.iter().map(|s| s.node).collect();
    if let [next] = succ[..] {
        if model.node(next).op_as::<ElementWiseOp>().is_some_and(|e| e.0.is::<HardSwish>()) {
            return Some((FloatActivation::HARD_SWISH, next));
        }
        // max(·, lo) and/or min(·, hi) in either order.
        let clamp = |id: usize| (bin_with_const::<Max>(model, id), bin_with_const::<Min>(model, id));
        let (lo, hi) = clamp(next);
        if lo.is_none() && hi.is_none() {
            return None;
        }
        let (mut lo, mut hi, mut end) = (lo, hi, next);
        if let Some(second) = single_successor(model, next) {
            match clamp(second) {
                (Some(l), None) if lo.is_none() => (lo, end) = (Some(l), second),
                (None, Some(h)) if hi.is_none() => (hi, end) = (Some(h), second),
                _ => {}
            }
        }
        let (lo, hi) = (lo.unwrap_or(f32::NEG_INFINITY), hi.unwrap_or(f32::INFINITY));
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return None;
        }
        let act = if lo == 0.0 && hi == f32::INFINITY { FloatActivation::Relu } else { FloatActivation::Clip { min: lo, max: hi } };
        return Some((act, end));
    }
    // y · clamp(y·α + β, 0, 1): HardSigmoid then Mul, as tract declutters them.
    if let [a, b] = succ[..] {
        for (first, fin) in [(a, b), (b, a)] {
            let Some(alpha) = bin_with_const::<Mul>(model, first) else { continue };
            let Some(add) = single_successor(model, first) else { continue };
            let Some(beta) = bin_with_const::<Add>(model, add) else { continue };
            let Some(c1) = single_successor(model, add) else { continue };
            let Some(c2) = single_successor(model, c1) else { continue };
            let ok = matches!(
                (bin_with_const::<Min>(model, c1), bin_with_const::<Max>(model, c2), bin_with_const::<Max>(model, c1), bin_with_const::<Min>(model, c2)),
                (Some(1.0), Some(0.0), _, _) | (_, _, Some(0.0), Some(1.0))
            );
            if !ok || single_successor(model, c2) != Some(fin) {
                continue;
            }
            let node = model.node(fin);
            let is_mul = node.op_as::<TypedBinOp>().is_some_and(|op| op.0.is::<Mul>());
            let ins = &node.inputs;
            if is_mul && ins.len() == 2 && ins.contains(&OutletId::new(y, 0)) && ins.contains(&OutletId::new(c2, 0)) {
                return Some((FloatActivation::HardSwish { alpha, beta }, fin));
            }
        }
    }
    None
}
