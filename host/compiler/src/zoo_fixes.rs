//! Rewrites of paddle2onnx export patterns that tract 0.23 mis-handles, found by the zoo
//! conformance runs (`tools/zoo_run.py`, docs/zoo.md). Each works on the ONNX protobuf before
//! tract sees it and keeps the graph's meaning exactly.

use oar_plan::tract::*;
use std::collections::HashMap;

mod control;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};

const FLOAT: i32 = 1;
const INT64: i32 = 7;
/// `AttributeProto.type` of an int and of an ints attribute.
const INT_ATTR: i32 = 2;
const INTS_ATTR: i32 = 7;

/// Counts of what [`apply`] changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fixed {
    pub ifs_inlined: usize,
    pub sequence_maps: usize,
    pub conv_bias_adds: usize,
    pub strided_slices: usize,
}

impl Fixed {
    pub fn total(&self) -> usize {
        self.ifs_inlined + self.sequence_maps + self.conv_bias_adds + self.strided_slices
    }
}

/// Applies every rewrite of this module to the model's main graph.
pub fn apply(model: &mut ModelProto) -> Fixed {
    let unrolled = control::apply(model);
    let Some(graph) = model.graph.as_mut() else { return unrolled };
    Fixed { conv_bias_adds: conv_bias_adds(graph), strided_slices: strided_slices_after_reshape(graph), ..unrolled }
}

/// A strided `Slice` (steps ≠ 1) of a `Reshape` output — LeViT's `x[:, ::2, ::2]` of its token
/// grid — becomes a `Downsample` in tract, which its optimiser then tries to move above the
/// Reshape and fails on ("Invalid axis") when the sliced axis was made by the Reshape. A `Gather`
/// of the same indices per axis computes the same values and is not moved. Only the sliced axes'
/// sizes need be known: the Reshape target may hold 0 ("copy") or -1 ("infer") elsewhere, as
/// dynamic-batch exports write it.
fn strided_slices_after_reshape(graph: &mut GraphProto) -> usize {
    let consts = int_constants(graph);
    let producer: HashMap<String, usize> =
        graph.node.iter().enumerate().flat_map(|(i, n)| n.output.iter().map(move |o| (o.clone(), i))).collect();
    let mut rewrites: Vec<(usize, Vec<(i64, Vec<i64>)>)> = vec![];
    for (ix, node) in graph.node.iter().enumerate() {
        if node.op_type != "Slice" || node.input.len() != 5 {
            continue;
        }
        let Some(reshape) = producer.get(&node.input[0]).map(|&p| &graph.node[p]) else { continue };
        if reshape.op_type != "Reshape" {
            continue;
        }
        let arg = |i: usize| consts.get(&node.input[i]);
        let (Some(shape), Some(starts), Some(ends), Some(axes), Some(steps)) =
            (shape_vector(graph, &producer, &consts, &reshape.input[1], 0), arg(1), arg(2), arg(3), arg(4))
        else {
            continue;
        };
        if steps.iter().all(|&s| s == 1) {
            continue;
        }
        let rank = shape.len() as i64;
        let gathers: Option<Vec<(i64, Vec<i64>)>> = (0..axes.len())
            .map(|k| {
                let axis = if axes[k] < 0 { axes[k] + rank } else { axes[k] };
                // Unknown (computed from the input's shape), 0 and -1 are sizes known only when the
                // graph runs.
                let dim = (*shape.get(usize::try_from(axis).ok()?)?)?;
                (dim > 0).then_some(())?;
                let step = *steps.get(k)?;
                (step > 0).then_some(())?;
                let clamp = |v: i64| (if v < 0 { v + dim } else { v }).clamp(0, dim);
                let indices: Vec<i64> = (clamp(*starts.get(k)?)..clamp(*ends.get(k)?)).step_by(step as usize).collect();
                (!indices.is_empty()).then_some((axis, indices))
            })
            .collect();
        if let Some(g) = gathers {
            rewrites.push((ix, g));
        }
    }
    let count = rewrites.len();
    // Replace from the back so that earlier indices stay valid.
    for (ix, gathers) in rewrites.into_iter().rev() {
        let slice = graph.node.remove(ix);
        let mut wire = slice.input[0].clone();
        let mut nodes = vec![];
        for (k, (axis, indices)) in gathers.iter().enumerate() {
            let name = format!("{}.oar_gather{k}", slice.output[0]);
            graph.initializer.push(TensorProto {
                name: format!("{name}.indices"),
                dims: vec![indices.len() as i64],
                data_type: INT64,
                int64_data: indices.clone(),
                ..Default::default()
            });
            let out = if k + 1 == gathers.len() { slice.output[0].clone() } else { name.clone() };
            nodes.push(NodeProto {
                name: name.clone(),
                op_type: "Gather".into(),
                input: vec![wire, format!("{name}.indices")],
                output: vec![out.clone()],
                attribute: vec![AttributeProto { name: "axis".into(), r#type: INT_ATTR, i: *axis, ..Default::default() }],
                ..Default::default()
            });
            wire = out;
        }
        graph.node.splice(ix..ix, nodes);
    }
    count
}

/// The elements of a 1-D shape tensor, each known (a constant) or not (`None`, e.g. the batch read
/// from the input's `Shape`): a constant, or a `Concat` of constants and `Unsqueeze`d scalars, through
/// `Identity` and `Cast` — how paddle2onnx writes a Reshape target with a dynamic batch.
fn shape_vector(
    graph: &GraphProto,
    producer: &HashMap<String, usize>,
    consts: &HashMap<String, Vec<i64>>,
    name: &str,
    depth: usize,
) -> Option<Vec<Option<i64>>> {
    if let Some(v) = consts.get(name) {
        return Some(v.iter().map(|&d| Some(d)).collect());
    }
    let node = &graph.node[*producer.get(name)?];
    // Bounded: a shape is a short chain of nodes; a cycle or a deep graph is not one.
    if depth > 16 {
        return None;
    }
    match node.op_type.as_str() {
        "Identity" | "Cast" => shape_vector(graph, producer, consts, &node.input[0], depth + 1),
        "Concat" => {
            let mut out = vec![];
            for input in &node.input {
                match shape_vector(graph, producer, consts, input, depth + 1) {
                    Some(v) => out.extend(v),
                    // A scalar made 1-D: one element, its value known only when the graph runs.
                    None if producer.get(input).is_some_and(|&p| graph.node[p].op_type == "Unsqueeze") => out.push(None),
                    None => return None,
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// Int64 tensors known before running: initializers and `Constant` nodes.
fn int_constants(graph: &GraphProto) -> HashMap<String, Vec<i64>> {
    let mut out = HashMap::new();
    let as_ints = |t: &TensorProto| -> Option<Vec<i64>> {
        if t.data_type != INT64 {
            return None;
        }
        if !t.raw_data.is_empty() {
            return Some(t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect());
        }
        Some(t.int64_data.clone())
    };
    for t in &graph.initializer {
        if let Some(v) = as_ints(t) {
            out.insert(t.name.clone(), v);
        }
    }
    for n in graph.node.iter().filter(|n| n.op_type == "Constant") {
        if let Some(v) = n.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref()).and_then(as_ints) {
            out.insert(n.output[0].clone(), v);
        }
    }
    out
}

/// Paddle's `conv2d` with a bias exports as `Conv(x, W)` followed by `Add(·, B)` with `B` a
/// `[1, C, 1, 1]` initializer (SqueezeNet, VGG, GoogLeNet, the SE blocks of many nets). tract
/// folds such an Add into the convolution but leaves the bias in that 4-D shape, which its Conv
/// then rejects ("Bias should be scalar or a vector…"). Giving the Conv its bias as the `[C]`
/// vector ONNX defines removes the Add before tract sees it.
fn conv_bias_adds(graph: &mut GraphProto) -> usize {
    let consumers = consumer_counts(graph);
    let outputs: std::collections::HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let inits: HashMap<String, usize> = graph.initializer.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
    let producer: HashMap<String, usize> =
        graph.node.iter().enumerate().flat_map(|(i, n)| n.output.iter().map(move |o| (o.clone(), i))).collect();

    // (conv node, add node, bias values)
    let mut folds: Vec<(usize, usize, Vec<f32>)> = vec![];
    for (add_ix, add) in graph.node.iter().enumerate() {
        if add.op_type != "Add" || add.input.len() != 2 {
            continue;
        }
        for (slot, other) in [(0, 1), (1, 0)] {
            let Some(&conv_ix) = producer.get(&add.input[slot]) else { continue };
            let conv = &graph.node[conv_ix];
            let Some(&b_ix) = inits.get(&add.input[other]) else { continue };
            if conv.op_type != "Conv"
                || conv.input.len() != 2
                || consumers.get(&add.input[slot]).copied() != Some(1)
                || outputs.contains(add.input[slot].as_str())
            {
                continue;
            }
            let Some(&w_ix) = inits.get(&conv.input[1]) else { continue };
            let out_channels = graph.initializer[w_ix].dims.first().copied().unwrap_or(-1);
            let b = &graph.initializer[b_ix];
            let per_channel = b.dims.len() >= 2
                && b.dims[1] == out_channels
                && b.dims.iter().enumerate().all(|(i, &d)| i == 1 || d == 1);
            if !per_channel || b.data_type != FLOAT {
                continue;
            }
            if let Some(values) = f32_values(b) {
                folds.push((conv_ix, add_ix, values));
                break;
            }
        }
    }
    let mut removed = vec![];
    for (conv_ix, add_ix, values) in &folds {
        let bias_name = format!("{}.oar_bias", graph.node[*conv_ix].output[0]);
        graph.initializer.push(TensorProto {
            name: bias_name.clone(),
            dims: vec![values.len() as i64],
            data_type: FLOAT,
            float_data: values.clone(),
            ..Default::default()
        });
        let add_out = graph.node[*add_ix].output[0].clone();
        let conv = &mut graph.node[*conv_ix];
        conv.input.push(bias_name);
        conv.output[0] = add_out;
        removed.push(*add_ix);
    }
    removed.sort_unstable();
    for ix in removed.into_iter().rev() {
        graph.node.remove(ix);
    }
    folds.len()
}

/// How many node inputs read each value.
fn consumer_counts(graph: &GraphProto) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for n in &graph.node {
        for i in &n.input {
            *counts.entry(i.clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// The values of an f32 initializer (raw little-endian bytes or `float_data`).
fn f32_values(t: &TensorProto) -> Option<Vec<f32>> {
    if !t.raw_data.is_empty() {
        if t.raw_data.len() % 4 != 0 {
            return None;
        }
        return Some(t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
    }
    (!t.float_data.is_empty()).then(|| t.float_data.clone())
}

/// tract's declutter fuses `0.5·x·(1 + erf(x/√2))` (paddle2onnx's GELU, in Swin, ViT, DeiT...)
/// into a `GeluExact` op that tract-nnef 0.23 cannot serialise. Writes the chain back out of
/// tract's own ops (each has an NNEF form) before the plan is written; tract fuses it again when
/// the device optimises the plan. Returns how many were expanded.
pub fn expand_gelu_exact(model: &mut TypedModel) -> TractResult<usize> {
    use tract_core::ops::element_wise::ElementWiseOp;
    use tract_core::ops::math::{add, erf, mul};
    use tract_core::ops::nn::GeluExact;

    let gelus: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|n| n.op_as::<ElementWiseOp>().is_some_and(|op| op.0.is::<GeluExact>()))
        .map(|n| n.id)
        .collect();
    for &id in &gelus {
        let node = model.node(id);
        let name = node.name.clone();
        let fact = model.outlet_fact(node.inputs[0])?.clone();
        let mut patch = TypedModelPatch::default();
        let x = patch.tap_model(model, node.inputs[0])?;
        let mut konst = |suffix: &str, v: f32| -> TractResult<OutletId> {
            let t = tensor0(v).cast_to_dt(fact.datum_type)?.into_owned().broadcast_into_rank(fact.rank())?;
            patch.add_const(format!("{name}.{suffix}"), t)
        };
        let (c, one, half) = (konst("inv_sqrt2", std::f32::consts::FRAC_1_SQRT_2)?, konst("one", 1.0)?, konst("half", 0.5)?);
        let scaled = patch.wire_node(format!("{name}.scale"), mul(), &[x, c])?[0];
        let e = patch.wire_node(format!("{name}.erf"), erf(), &[scaled])?[0];
        let one_plus = patch.wire_node(format!("{name}.add_one"), add(), &[e, one])?[0];
        let half_x = patch.wire_node(format!("{name}.half_x"), mul(), &[x, half])?[0];
        let out = patch.wire_node(format!("{name}.gelu"), mul(), &[half_x, one_plus])?[0];
        patch.shunt_outside(model, id.into(), out)?;
        patch.apply(model)?;
    }
    if !gelus.is_empty() {
        model.compact()?;
    }
    Ok(gelus.len())
}

/// paddle2onnx writes a sequence's position ids as `CumSum(Cast(Expand(1, Shape(ids))))` (ERNIE,
/// BERT and their kin: `ones_like(ids).cumsum(-1) - 1`). tract types values computed from a shape
/// as `TDim`, which its CumSum cannot sum ("TDim is not a number"): each such CumSum sums in i64
/// between two casts. Returns how many were rewritten.
pub fn cumsum_over_shapes(model: &mut TypedModel) -> TractResult<usize> {
    use tract_core::ops::array::CumSum;
    use tract_core::ops::cast::cast;

    let found: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|n| n.op_is::<CumSum>())
        .filter(|n| model.outlet_fact(n.inputs[0]).is_ok_and(|f| f.datum_type == DatumType::TDim))
        .map(|n| n.id)
        .collect();
    for &id in &found {
        let node = model.node(id);
        let name = node.name.clone();
        let mut patch = TypedModelPatch::default();
        let mut inputs = patch.taps(model, &node.inputs)?;
        inputs[0] = patch.wire_node(format!("{name}.i64"), cast(DatumType::I64), &[inputs[0]])?[0];
        let sum = patch.wire_node(format!("{name}.sum"), node.op.clone(), &inputs)?[0];
        let out = patch.wire_node(format!("{name}.tdim"), cast(DatumType::TDim), &[sum])?[0];
        patch.shunt_outside(model, id.into(), out)?;
        patch.apply(model)?;
    }
    if !found.is_empty() {
        model.compact()?;
    }
    Ok(found.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::prelude::{Framework, InferenceFact, InferenceModelExt};

    fn fixture(name: &str) -> ModelProto {
        let path = std::path::Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../tests/data/zoo").join(name);
        tract_onnx::onnx().proto_model_for_path(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
    }

    /// The forms of one pattern that tools/zoo_fixtures.py writes: symbolic batch (`dyn`, and
    /// `dyn0` where a Reshape target copies it with 0) and batch 1 (`fixed`), at each opset.
    fn forms(name: &str, forms: &[&str], opsets: &[u32]) -> Vec<(String, ModelProto)> {
        let mut out = vec![];
        for form in forms {
            for opset in opsets {
                let file = format!("{name}.{form}.op{opset}.onnx");
                out.push((file.clone(), fixture(&file)));
            }
        }
        out
    }

    /// Loads a proto as `compile` does, runs it on `x`, returns the first output.
    fn run(proto: &ModelProto, x: Tensor) -> TractResult<Vec<f32>> {
        let onnx = tract_onnx::onnx().with_ignore_output_shapes(true).with_ignore_value_info(true);
        let model = onnx
            .model_for_proto_model(proto)?
            .with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), x.shape().to_vec()))?
            .into_typed()?
            .into_decluttered()?
            .into_optimized()?
            .into_runnable()?;
        let y = model.run(tvec!(x.into_tvalue()))?.remove(0).into_tensor();
        Ok(y.to_plain_array_view::<f32>()?.iter().copied().collect())
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-5, "element {i}: {g} vs onnxruntime's {w}");
        }
    }

    #[test]
    fn conv_bias_adds_become_conv_biases_and_match_onnxruntime() {
        for (file, mut proto) in forms("conv_bias_add", &["dyn", "fixed"], &[11, 13]) {
            assert_eq!(apply(&mut proto), Fixed { conv_bias_adds: 1, ..Default::default() }, "{file}");
            let g = proto.graph.as_ref().unwrap();
            assert_eq!(g.node.iter().map(|n| n.op_type.as_str()).collect::<Vec<_>>(), ["Conv"], "{file}");
            assert_eq!(g.node[0].output, ["y"]);
            let x: Vec<f32> = (0..18).map(|i| i as f32 / 10.0 - 0.8).collect();
            let x = Tensor::from_shape(&[1, 2, 3, 3], &x).unwrap();
            // onnxruntime 1.32 on the same graph and input, every form (tools/zoo_fixtures.py).
            let mut want = vec![0.87, 0.79, 0.71, 0.63, 0.55, 0.47, 0.39, 0.31, 0.23];
            want.extend([-0.91; 9]);
            want.extend([1.81, 1.89, 1.97, 2.05, 2.13, 2.21, 2.29, 2.37, 2.45]);
            assert_close(&run(&proto, x).unwrap(), &want);
        }
    }

    #[test]
    fn strided_slices_after_reshapes_become_gathers_and_match_onnxruntime() {
        // dyn / dyn0: the Reshape targets' batch is -1 / 0; dynshape: the grid target computed
        // from the input's shape, as paddle2onnx writes dynamic-batch exports (LeViT).
        for (file, mut proto) in forms("strided_slice_after_reshape", &["dyn", "dyn0", "dynshape", "fixed"], &[11, 13]) {
            let x: Vec<f32> = (0..48).map(|i| i as f32 / 8.0 - 3.0).collect();
            let x = Tensor::from_shape(&[1, 16, 3], &x).unwrap();
            assert_eq!(apply(&mut proto), Fixed { strided_slices: 1, ..Default::default() }, "{file}");
            let ops: Vec<_> = proto.graph.as_ref().unwrap().node.iter().map(|n| n.op_type.clone()).collect();
            let ops: Vec<&str> = ops.iter().map(String::as_str).skip_while(|o| *o != "Reshape").collect();
            assert_eq!(ops, ["Reshape", "Constant", "Gather", "Gather", "Reshape"], "{file}");
            // onnxruntime 1.32 on the same graph and input, every form (tools/zoo_fixtures.py).
            let want = [-3.0, -2.875, -2.75, -2.25, -2.125, -2.0, 0.0, 0.125, 0.25, 0.75, 0.875, 1.0];
            assert_close(&run(&proto, x).unwrap(), &want);
        }
    }

    #[test]
    fn strided_slices_of_an_axis_whose_size_is_unknown_stay() {
        let (_, mut proto) = forms("strided_slice_after_reshape", &["dyn"], &[13]).remove(0);
        // The sliced axis 1 given as -1 (inferred): its indices are not known before the run.
        let grid = proto.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name == "grid").unwrap();
        let dims = [0i64, -1, 4, 3];
        if grid.raw_data.is_empty() {
            grid.int64_data = dims.to_vec();
        } else {
            grid.raw_data = dims.iter().flat_map(|v| v.to_le_bytes()).collect();
        }
        assert_eq!(apply(&mut proto).strided_slices, 0);
    }

    fn op_types(proto: &ModelProto) -> Vec<String> {
        proto.graph.as_ref().unwrap().node.iter().map(|n| n.op_type.clone()).collect()
    }

    #[test]
    fn constant_ifs_over_sequence_maps_are_inlined_and_unrolled_and_match_onnxruntime() {
        // SequenceMap exists from opset 17: there is no opset 11 or 13 form of this pattern.
        for (file, mut proto) in forms("if_sequence_map", &["dyn", "fixed"], &[17]) {
            let x = || Tensor::from_shape(&[1, 4], &[-0.5f32, -0.25, 0.0, 0.25]).unwrap();
            // As exported, tract cannot load the else branch (no SequenceMap).
            assert!(run(&proto, x()).is_err(), "{file}");
            let fixed = apply(&mut proto);
            assert_eq!((fixed.ifs_inlined, fixed.sequence_maps), (1, 1), "{file}");
            let ops = op_types(&proto);
            for gone in ["If", "SplitToSequence", "SequenceMap", "ConcatFromSequence"] {
                assert!(!ops.iter().any(|o| o == gone), "{file}: {gone} left in {ops:?}");
            }
            // The body once per piece of the split (two), each with its own Range.
            assert_eq!(ops.iter().filter(|o| *o == "Range").count(), 2);
            // onnxruntime 1.32 on the same graph and input, every form (tools/zoo_fixtures.py).
            assert_close(&run(&proto, x()).unwrap(), &[2.5, 3.75, 5.0, 6.25]);
        }
    }

    #[test]
    fn ifs_on_the_input_stay() {
        let mut proto = fixture("if_sequence_map.dyn.op17.onnx");
        let g = proto.graph.as_mut().unwrap();
        g.node.iter_mut().find(|n| n.op_type == "Shape").unwrap().input[0] = "x".into();
        assert_eq!(apply(&mut proto).total(), 0);
        assert!(op_types(&proto).iter().any(|o| o == "If"));
    }

    #[test]
    fn exact_gelu_is_expanded_for_nnef_and_matches_onnxruntime() {
        use tract_core::ops::element_wise::ElementWiseOp;
        use tract_core::ops::nn::GeluExact;
        let is_gelu = |n: &TypedNode| n.op_as::<ElementWiseOp>().is_some_and(|op| op.0.is::<GeluExact>());
        for (file, proto) in forms("gelu", &["dyn", "fixed"], &[11, 13]) {
            let onnx = tract_onnx::onnx().with_ignore_output_shapes(true).with_ignore_value_info(true);
            let mut model = onnx
                .model_for_proto_model(&proto)
                .unwrap()
                .with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), [1, 8]))
                .unwrap()
                .into_typed()
                .unwrap()
                .into_decluttered()
                .unwrap();
            // tract fuses the chain, and cannot write the fused op as NNEF.
            assert!(model.nodes().iter().any(is_gelu), "{file}");
            assert!(oar_plan::nnef().write_to_tar_with_config(&model, Vec::new(), false, true).is_err());
            assert_eq!(expand_gelu_exact(&mut model).unwrap(), 1);
            assert!(!model.nodes().iter().any(is_gelu));
            let nnef = oar_plan::nnef().write_to_tar_with_config(&model, Vec::new(), false, true).unwrap();
            let plan = oar_plan::nnef().model_for_read(&mut std::io::Cursor::new(nnef)).unwrap();
            let x: Vec<f32> = (0..8).map(|i| i as f32 / 2.0 - 2.0).collect();
            let x = Tensor::from_shape(&[1, 8], &x).unwrap();
            let y = plan.into_optimized().unwrap().into_runnable().unwrap().run(tvec!(x.into_tvalue())).unwrap();
            let got: Vec<f32> = y[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect();
            // onnxruntime 1.32 on the same graph and input, every form (tools/zoo_fixtures.py).
            let want = [-0.0455, -0.100211, -0.158655, -0.154269, 0.0, 0.345731, 0.841345, 1.399789];
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() <= 1e-5, "{file}: {g} vs onnxruntime's {w}");
            }
        }
    }

    #[test]
    fn adds_that_are_not_a_conv_bias_stay() {
        let mut proto = fixture("conv_bias_add.dyn.op13.onnx");
        let g = proto.graph.as_mut().unwrap();
        // The conv output read twice: folding would change the other reader's value.
        g.node.push(identity("c", "c2"));
        assert_eq!(apply(&mut proto).total(), 0);
        let mut proto = fixture("conv_bias_add.dyn.op13.onnx");
        // A per-element (not per-channel) addend.
        let b = proto.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name == "B").unwrap();
        b.dims = vec![1, 1, 1, 3];
        assert_eq!(apply(&mut proto).total(), 0);
    }

    fn identity(input: &str, output: &str) -> tract_onnx::pb::NodeProto {
        tract_onnx::pb::NodeProto {
            op_type: "Identity".into(),
            input: vec![input.into()],
            output: vec![output.into()],
            ..Default::default()
        }
    }
}
