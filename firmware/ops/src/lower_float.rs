//! The pass that replaces tract's float depthwise `Conv` nodes (and the per-channel affine ops and
//! activation after them) by [`DwConvF32`].

use crate::lower::{bin_with_const, konst, replace_by, single_successor};
use crate::DwConvF32;
use oar_kernels::FloatActivation;
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::binary::TypedBinOp;
use tract_nnef::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_nnef::tract_core::ops::element_wise::ElementWiseOp;
use tract_nnef::tract_core::ops::math::{Add, Max, Min, Mul};
use tract_nnef::tract_core::ops::nn::{DataFormat, HardSwish};

/// Replaces every float depthwise `Conv` (group = input channels = output channels, 3×3 or 5×5,
/// stride 1 or 2 in both axes, dilation 1, NCHW or CHW, explicit or valid padding — or SAME padding when
/// the input's spatial dims are known) by a [`DwConvF32`], folding into it what follows the conv
/// while each node is the single consumer of the previous one:
/// - a removal of the batch axis (`squeeze(axes = [0])`, tract's declutter puts one there when the
///   graph around works in rank 3): kept after the new op;
/// - multiplications and additions by per-channel or scalar constants (BatchNorm after declutter):
///   folded into the weights and bias (`(Σ w·x + b)·s + t = Σ (w·s)·x + (b·s + t)`, which only
///   changes the rounding);
/// - then one activation: ReLU (`max(·, 0)`), clip (`max(·, lo)` and/or `min(·, hi)` with constants),
///   tract's `HardSwish`, or the hard-swish as ONNX `HardSigmoid` + `Mul` decluttered (`y·α + β`,
///   `min(·, 1)`, `max(·, 0)`, then `· y`).
///
/// Returns how many convs were replaced. Nodes left unreachable are removed (the model is compacted).
pub fn lower_float(model: &mut TypedModel) -> TractResult<usize> {
    let mut count = 0;
    for id in model.eval_order()? {
        let Some(conv) = model.node(id).op_as::<Conv>().cloned() else { continue };
        if let Some(plan) = plan_for(model, id, &conv)? {
            let x = model.node(id).inputs[0];
            let c = plan.bias.len();
            let k = plan.op.kernel;
            let consts = vec![
                ("oar_weights", Tensor::from_shape(&[c, 1, k, k], &plan.weights)?),
                ("oar_bias", tensor1(&plan.bias)),
            ];
            let post: Option<Box<dyn TypedOp>> = plan.squeeze.then(|| Box::new(AxisOp::Rm(0)) as _);
            log::trace!("oar_ops::lower_float: {} -> {:?}", model.node(plan.last).name, plan.op);
            replace_by(model, x, plan.last, Box::new(plan.op), consts, post)?;
            count += 1;
        }
    }
    if count > 0 {
        *model = std::mem::take(model).into_compact()?;
    }
    log::debug!("oar_ops::lower_float: {count} float depthwise convs replaced");
    Ok(count)
}

struct Plan {
    op: DwConvF32,
    /// `[C][k][k]`, scaled.
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// Whether the batch axis is removed after the op.
    squeeze: bool,
    /// The last node the op stands for.
    last: usize,
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
    per_channel(&k, rank, rank - 3, c)
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

fn plan_for(model: &TypedModel, id: usize, conv: &Conv) -> TractResult<Option<Plan>> {
    let node = model.node(id);
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
    if xf.datum_type != f32::datum_type() || xf.rank() != rank {
        return Ok(None);
    }
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
    let b = bias.cast_to::<f32>()?;
    let b = b.try_as_plain_ram()?.as_slice::<f32>()?;
    let mut bias: Vec<f32> = match b.len() {
        1 => vec![b[0]; c],
        n if n == c => b.to_vec(),
        _ => return Ok(None),
    };

    // Per-channel affine ops, possibly after the batch axis is dropped.
    let (mut last, mut rank, mut squeeze) = (id, rank, false);
    let (mut scale, mut shift) = (vec![1f32; c], vec![0f32; c]);
    while let Some(next) = single_successor(model, last) {
        if rank == 4 && !squeeze && model.node(next).op_as::<AxisOp>() == Some(&AxisOp::Rm(0)) {
            (squeeze, rank, last) = (true, 3, next);
        } else if let Some(m) = bin_per_channel::<Mul>(model, next, last, rank, c) {
            for ch in 0..c {
                scale[ch] *= m[ch];
                shift[ch] *= m[ch];
            }
            last = next;
        } else if let Some(a) = bin_per_channel::<Add>(model, next, last, rank, c) {
            for ch in 0..c {
                shift[ch] += a[ch];
            }
            last = next;
        } else {
            break;
        }
    }
    for ch in 0..c {
        for v in &mut weights[ch * k * k..(ch + 1) * k * k] {
            *v *= scale[ch];
        }
        bias[ch] = bias[ch] * scale[ch] + shift[ch];
    }

    let (activation, end) = activation_after(model, last).unwrap_or((FloatActivation::Identity, last));
    let op = DwConvF32 { kernel: k, stride: s, pad, activation };
    Ok(Some(Plan { op, weights, bias, squeeze, last: end }))
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
