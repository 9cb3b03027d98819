//! TensorFlow frozen graphs (`GraphDef` protobuf) as a compiler source, through tract-tensorflow.
//!
//! A frozen detection graph carries more than the network: TF's object detection API wraps the
//! convolutional core in a pre-processor (a `map_fn` of resizes: while loops and tensor arrays)
//! and a post-processor (anchor decoding, NMS) that tract cannot load and the device does itself.
//! The graph is cut before tract sees it: each input cut point becomes a float `Placeholder`, and
//! only the nodes the output cut points depend on are kept.

use oar_plan::tract::*;
use std::collections::{HashMap, HashSet};
use tract_tensorflow::tfpb::tensorflow::{DataType, GraphDef};
use tract_onnx::prelude::InferenceModel;
use tract_tensorflow::prelude::Framework;

/// Reads a frozen graph, cuts it at `inputs` → `outputs` and loads the rest with tract.
pub(crate) fn load(bytes: &[u8], inputs: &[String], outputs: &[String]) -> TractResult<InferenceModel> {
    let tf = tract_tensorflow::tensorflow();
    let mut graph = tf.read_frozen_model(&mut std::io::Cursor::new(bytes)).map_err(|e| e.context("not a TensorFlow frozen graph (GraphDef)"))?;
    let kept = cut(&mut graph, inputs, outputs)?;
    log::info!("TensorFlow graph cut at {inputs:?} -> {outputs:?}: {kept} nodes kept");
    let mut model = tf.model_for_proto_model(&graph)?;
    model.set_input_names(inputs)?;
    model.select_outputs_by_name(outputs)?;
    Ok(model)
}

/// Turns each of `inputs` into a float placeholder and keeps only the nodes that `outputs` need
/// (data inputs; control dependencies are dropped: a frozen inference graph orders nothing the
/// kept part needs). Returns the number of nodes kept.
pub(crate) fn cut(graph: &mut GraphDef, inputs: &[String], outputs: &[String]) -> TractResult<usize> {
    let index: HashMap<&str, usize> = graph.node.iter().enumerate().map(|(i, n)| (n.name.as_str(), i)).collect();
    for name in inputs.iter().chain(outputs) {
        if !index.contains_key(name.as_str()) {
            return Err(TractError::msg(format!("the graph has no node `{name}` (cut points name nodes of the TensorFlow graph)")));
        }
    }
    let cut_in: HashSet<&str> = inputs.iter().map(|s| s.as_str()).collect();
    let mut keep = vec![false; graph.node.len()];
    let mut stack: Vec<usize> = outputs.iter().map(|o| index[o.as_str()]).collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut keep[i], true) {
            continue;
        }
        let node = &graph.node[i];
        if cut_in.contains(node.name.as_str()) {
            continue;
        }
        for input in node.input.iter().filter(|i| !i.starts_with('^')) {
            // "node:slot" or "node"
            let name = input.split(':').next().unwrap_or(input);
            match index.get(name) {
                Some(&j) => stack.push(j),
                None => return Err(TractError::msg(format!("node `{}` reads `{input}`, which the graph does not have", node.name))),
            }
        }
    }
    let used: HashSet<&str> = graph.node.iter().zip(&keep).filter(|(_, k)| **k).map(|(n, _)| n.name.as_str()).collect();
    for name in inputs {
        if !used.contains(name.as_str()) {
            return Err(TractError::msg(format!("input cut point `{name}` is not on the way to the outputs {outputs:?}")));
        }
    }
    let mut k = keep.iter();
    graph.node.retain(|_| *k.next().unwrap_or(&false));
    for node in &mut graph.node {
        if cut_in.contains(node.name.as_str()) {
            node.op = "Placeholder".into();
            node.input.clear();
            node.attr.clear();
            node.attr.insert("dtype".into(), DataType::DtFloat.into());
        } else {
            node.input.retain(|i| !i.starts_with('^'));
        }
    }
    Ok(graph.node.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_tensorflow::tfpb::{graph, node};

    /// pre-processing (a Cast) → sub → core (Relu) → out; a branch nobody reads.
    fn toy() -> GraphDef {
        graph()
            .node(node().name("image").op("Placeholder").attr("dtype", DataType::DtUint8))
            .node(node().name("cast").op("Cast").input("image").attr("SrcT", DataType::DtUint8).attr("DstT", DataType::DtFloat))
            .node(node().name("pre/sub").op("Identity").input("cast").attr("T", DataType::DtFloat))
            .node(node().name("relu").op("Relu").input("pre/sub").input("^cast").attr("T", DataType::DtFloat))
            .node(node().name("out").op("Identity").input("relu:0").attr("T", DataType::DtFloat))
            .node(node().name("unused").op("Relu").input("cast").attr("T", DataType::DtFloat))
    }

    #[test]
    fn cut_keeps_what_the_outputs_need() {
        let mut g = toy();
        let n = cut(&mut g, &["pre/sub".into()], &["out".into()]).unwrap();
        let names: Vec<_> = g.node.iter().map(|n| n.name.as_str()).collect();
        assert_eq!((n, names), (3, vec!["pre/sub", "relu", "out"]));
        assert_eq!(g.node[0].op, "Placeholder");
        assert!(g.node[0].input.is_empty());
        assert_eq!(g.node[1].input, ["pre/sub"]);
    }

    #[test]
    fn cut_graph_runs() {
        let bytes = toy().write_to_bytes().unwrap();
        let model = load(&bytes, &["pre/sub".into()], &["out".into()]).unwrap();
        use tract_onnx::prelude::{InferenceFact, InferenceModelExt};
        let model = model
            .with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), [3]))
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let out = model.run(tvec!(tensor1(&[-1f32, 0.5, 2.0]).into_tvalue())).unwrap();
        assert_eq!(*out[0], tensor1(&[0f32, 0.5, 2.0]));
    }

    #[test]
    fn bad_cut_points_are_named() {
        for (i, o, needle) in [("nope", "out", "no node `nope`"), ("pre/sub", "missing", "`missing`"), ("pre/sub", "unused", "not on the way")] {
            let err = cut(&mut toy(), &[i.into()], &[o.into()]).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
