//! paddle2onnx's control flow over constants. Paddle's `set_value` (`x[:, a:b, c:d] = v`, used by
//! Swin's shifted-window mask and by `F.pad`) exports as an `If` whose condition depends on shapes
//! only, with an else branch that builds scatter indices through `SplitToSequence →
//! SequenceMap → ConcatFromSequence`. tract 0.23 has no `SequenceMap`, so the model does not load.
//! Here the `If` is replaced by the branch its (foldable) condition selects, and each sequence
//! built from a split into known pieces is unrolled: `Split` → one copy of the map's body per
//! piece → `Concat`. Both keep the graph's meaning exactly.

use std::collections::{HashMap, HashSet};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto,
};

use super::{Fixed, INTS_ATTR, INT_ATTR};
/// Rounds of "unroll sequences, fold conditions, inline branches": an inlined branch may make
/// the condition of the next `If` foldable (Swin chains 9 per stage).
const MAX_ROUNDS: usize = 256;

/// Inlines every `If` of the main graph whose condition folds to a constant and unrolls the
/// sequence patterns it exposes, until neither applies. Fills `ifs_inlined` and `sequence_maps`.
pub fn apply(model: &mut ModelProto) -> Fixed {
    let opset = onnx_opset(model);
    let mut done = Fixed::default();
    let Some(mut graph) = model.graph.take() else { return done };
    for round in 0.. {
        let maps = unroll_sequences(&mut graph, opset, round);
        let inlined = inline_constant_ifs(&mut graph, model, round);
        done.sequence_maps += maps;
        done.ifs_inlined += inlined;
        if (maps == 0 && inlined == 0) || round + 1 == MAX_ROUNDS {
            break;
        }
    }
    model.graph = Some(graph);
    done
}

fn onnx_opset(model: &ModelProto) -> i64 {
    model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version).unwrap_or(13)
}

/// Replaces each `If` whose condition folds by the nodes of the branch it selects.
fn inline_constant_ifs(graph: &mut GraphProto, model: &ModelProto, round: usize) -> usize {
    let mut count = 0;
    let mut ix = 0;
    while ix < graph.node.len() {
        if graph.node[ix].op_type != "If" {
            ix += 1;
            continue;
        }
        let Some(cond) = fold_bool(graph, model, &graph.node[ix].input[0]) else {
            ix += 1;
            continue;
        };
        let node = graph.node[ix].clone();
        let branch = if cond { "then_branch" } else { "else_branch" };
        let Some(body) = node.attribute.iter().find(|a| a.name == branch).and_then(|a| a.g.as_ref()) else {
            ix += 1;
            continue;
        };
        let suffix = format!(".oar_if{round}_{ix}");
        let (mut nodes, inits, outputs) = instantiate(body, &HashMap::new(), &suffix);
        if outputs.len() != node.output.len() {
            ix += 1;
            continue;
        }
        for (k, (inner, outer)) in outputs.iter().zip(&node.output).enumerate() {
            nodes.push(NodeProto {
                name: format!("{}{suffix}.out{k}", node.name),
                op_type: "Identity".into(),
                input: vec![inner.clone()],
                output: vec![outer.clone()],
                ..Default::default()
            });
        }
        graph.initializer.extend(inits);
        let n = nodes.len();
        graph.node.splice(ix..=ix, nodes);
        ix += n;
        count += 1;
    }
    count
}

/// The value of a boolean scalar that depends on constants only, computed by tract on the
/// subgraph that produces it. `None` where it reads an input or a control-flow op.
fn fold_bool(graph: &GraphProto, model: &ModelProto, name: &str) -> Option<bool> {
    let producer: HashMap<&str, usize> =
        graph.node.iter().enumerate().flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i))).collect();
    let inits: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut cone = HashSet::new();
    let mut used_inits = HashSet::new();
    let mut todo = vec![name];
    while let Some(n) = todo.pop() {
        if n.is_empty() {
            continue;
        }
        if inits.contains(n) {
            used_inits.insert(n);
            continue;
        }
        let &p = producer.get(n)?;
        let node = &graph.node[p];
        if node.attribute.iter().any(|a| a.g.is_some() || !a.graphs.is_empty()) {
            return None;
        }
        if cone.insert(p) {
            todo.extend(node.input.iter().map(|s| s.as_str()));
        }
    }
    let mut cone: Vec<usize> = cone.into_iter().collect();
    cone.sort_unstable();
    let sub = ModelProto {
        ir_version: model.ir_version,
        opset_import: model.opset_import.clone(),
        graph: Some(GraphProto {
            name: "oar_fold".into(),
            node: cone.iter().map(|&i| graph.node[i].clone()).collect(),
            initializer: graph.initializer.iter().filter(|t| used_inits.contains(t.name.as_str())).cloned().collect(),
            output: vec![ValueInfoProto { name: name.into(), ..Default::default() }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let run = || -> tract_onnx::prelude::TractResult<bool> {
        use tract_onnx::prelude::*;
        let m = tract_onnx::onnx().with_ignore_output_shapes(true).model_for_proto_model(&sub)?;
        let out = m.into_typed()?.into_runnable()?.run(tvec!())?;
        out[0].cast_to_scalar::<bool>()
    };
    match run() {
        Ok(v) => Some(v),
        Err(e) => {
            log::debug!("condition {name} of an If does not fold: {e:#}");
            None
        }
    }
}

/// The nodes and initializers of `body` with its inputs replaced as `subst` says and every name
/// it defines suffixed (so that copies coexist in one graph), and its outputs' new names.
fn instantiate(body: &GraphProto, subst: &HashMap<String, String>, suffix: &str) -> (Vec<NodeProto>, Vec<TensorProto>, Vec<String>) {
    let mut map = subst.clone();
    for name in body.node.iter().flat_map(|n| n.output.iter()).chain(body.initializer.iter().map(|t| &t.name)) {
        if !name.is_empty() {
            map.insert(name.clone(), format!("{name}{suffix}"));
        }
    }
    let nodes = body
        .node
        .iter()
        .map(|n| {
            let mut n = n.clone();
            if !n.name.is_empty() {
                n.name = format!("{}{suffix}", n.name);
            }
            rename_node(&mut n, &map);
            n
        })
        .collect();
    let inits = body
        .initializer
        .iter()
        .map(|t| TensorProto { name: map[&t.name].clone(), ..t.clone() })
        .collect();
    let outputs = body.output.iter().map(|o| map.get(&o.name).cloned().unwrap_or_else(|| o.name.clone())).collect();
    (nodes, inits, outputs)
}

/// Renames a node's inputs and outputs, and the names its subgraphs read from outside themselves.
fn rename_node(node: &mut NodeProto, map: &HashMap<String, String>) {
    for s in node.input.iter_mut().chain(node.output.iter_mut()) {
        if let Some(new) = map.get(s.as_str()) {
            *s = new.clone();
        }
    }
    for a in node.attribute.iter_mut() {
        for g in a.g.iter_mut().chain(a.graphs.iter_mut()) {
            rename_free_names(g, map);
        }
    }
}

fn rename_free_names(graph: &mut GraphProto, map: &HashMap<String, String>) {
    let mut inner = map.clone();
    // Names the subgraph defines itself shadow the outer ones.
    for name in graph
        .input
        .iter()
        .map(|i| &i.name)
        .chain(graph.initializer.iter().map(|t| &t.name))
        .chain(graph.node.iter().flat_map(|n| n.output.iter()))
    {
        inner.remove(name);
    }
    for n in graph.node.iter_mut() {
        rename_node(n, &inner);
    }
    for o in graph.output.iter_mut() {
        if let Some(new) = inner.get(&o.name) {
            o.name = new.clone();
        }
    }
}

/// Unrolls `SplitToSequence` (into constant split sizes) → `SequenceMap` → `ConcatFromSequence`.
/// All or nothing: if a sequence made here is read by anything else, the graph is left as it was.
fn unroll_sequences(graph: &mut GraphProto, opset: i64, round: usize) -> usize {
    if !graph.node.iter().any(|n| n.op_type == "SequenceMap") {
        return 0;
    }
    let consts = super::int_constants(graph);
    // Sequence name -> the names of its pieces.
    let mut seqs: HashMap<String, Vec<String>> = HashMap::new();
    let mut nodes = Vec::with_capacity(graph.node.len());
    let mut inits = vec![];
    let mut maps = 0;
    for (ix, node) in graph.node.iter().enumerate() {
        match node.op_type.as_str() {
            "SplitToSequence" if node.input.len() == 2 => {
                let Some(split) = consts.get(&node.input[1]).filter(|s| !s.is_empty()) else {
                    nodes.push(node.clone());
                    continue;
                };
                let axis = int_attr(node, "axis").unwrap_or(0);
                let pieces: Vec<String> = (0..split.len()).map(|k| format!("{}.oar_piece{k}", node.output[0])).collect();
                let mut split_node = NodeProto {
                    name: format!("{}.oar_split", node.output[0]),
                    op_type: "Split".into(),
                    input: vec![node.input[0].clone()],
                    output: pieces.clone(),
                    attribute: vec![AttributeProto { name: "axis".into(), r#type: INT_ATTR, i: axis, ..Default::default() }],
                    ..Default::default()
                };
                if opset >= 13 {
                    split_node.input.push(node.input[1].clone());
                } else {
                    split_node.attribute.push(AttributeProto {
                        name: "split".into(),
                        r#type: INTS_ATTR,
                        ints: split.clone(),
                        ..Default::default()
                    });
                }
                nodes.push(split_node);
                seqs.insert(node.output[0].clone(), pieces);
            }
            "SequenceMap" => {
                let Some(n) = node.input.first().and_then(|i| seqs.get(i)).map(|p| p.len()) else {
                    nodes.push(node.clone());
                    continue;
                };
                let Some(body) = node.attribute.iter().find(|a| a.name == "body").and_then(|a| a.g.as_ref()) else {
                    return 0;
                };
                if body.input.len() != node.input.len() || body.output.len() != node.output.len() {
                    return 0;
                }
                let mut outs: Vec<Vec<String>> = vec![vec![]; node.output.len()];
                for k in 0..n {
                    let mut subst = HashMap::new();
                    for (formal, actual) in body.input.iter().zip(&node.input) {
                        let value = match seqs.get(actual) {
                            Some(pieces) if pieces.len() == n => pieces[k].clone(),
                            Some(_) => return 0,
                            None => actual.clone(),
                        };
                        subst.insert(formal.name.clone(), value);
                    }
                    let (body_nodes, body_inits, body_outs) = instantiate(body, &subst, &format!(".oar_map{round}_{ix}_{k}"));
                    nodes.extend(body_nodes);
                    inits.extend(body_inits);
                    for (j, o) in body_outs.into_iter().enumerate() {
                        outs[j].push(o);
                    }
                }
                for (name, pieces) in node.output.iter().zip(outs) {
                    seqs.insert(name.clone(), pieces);
                }
                maps += 1;
            }
            "ConcatFromSequence" if seqs.contains_key(&node.input[0]) => {
                let pieces = &seqs[&node.input[0]];
                let axis = int_attr(node, "axis").unwrap_or(0);
                let mut inputs = pieces.clone();
                if int_attr(node, "new_axis").unwrap_or(0) == 1 {
                    // Each piece gains the axis it is stacked along.
                    let axes = format!("{}.oar_axes", node.output[0]);
                    inits.push(TensorProto { name: axes.clone(), dims: vec![1], data_type: super::INT64, int64_data: vec![axis], ..Default::default() });
                    inputs = pieces.iter().map(|p| format!("{p}.oar_unsqueezed")).collect();
                    for (p, u) in pieces.iter().zip(&inputs) {
                        let mut un = NodeProto { name: u.clone(), op_type: "Unsqueeze".into(), input: vec![p.clone()], output: vec![u.clone()], ..Default::default() };
                        if opset >= 13 {
                            un.input.push(axes.clone());
                        } else {
                            un.attribute.push(AttributeProto { name: "axes".into(), r#type: INTS_ATTR, ints: vec![axis], ..Default::default() });
                        }
                        nodes.push(un);
                    }
                }
                nodes.push(NodeProto {
                    name: format!("{}.oar_concat", node.output[0]),
                    op_type: "Concat".into(),
                    input: inputs,
                    output: node.output.clone(),
                    attribute: vec![AttributeProto { name: "axis".into(), r#type: INT_ATTR, i: axis, ..Default::default() }],
                    ..Default::default()
                });
            }
            _ => nodes.push(node.clone()),
        }
    }
    if maps == 0 {
        return 0;
    }
    // Every sequence made here must have been consumed by the rewrites above.
    let reads_a_sequence = |n: &NodeProto| n.input.iter().any(|i| seqs.contains_key(i));
    if nodes.iter().any(reads_a_sequence) || graph.output.iter().any(|o| seqs.contains_key(&o.name)) {
        log::debug!("a sequence is read by an op oar cannot unroll; SequenceMap left as is");
        return 0;
    }
    graph.node = nodes;
    graph.initializer.extend(inits);
    maps
}

fn int_attr(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}
