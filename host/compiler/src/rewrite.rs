//! Rewrites of the ONNX graph before tract sees it, for export patterns tract cannot analyse.

use tract_onnx::pb::{GraphProto, ModelProto};

const INT32: i64 = 6;
const INT64: i64 = 7;

/// paddle2onnx casts `Shape` outputs to int32 before slicing and concatenating them into the
/// target of a `Reshape`. tract keeps shapes as symbolic dimensions only in int64 tensors, so the
/// int32 detour turns a computable shape into an unknown one ("shape input is variable") as soon as
/// an input dimension is symbolic. Casting to int64 instead keeps the values (shapes fit either
/// way) and keeps them symbolic. Returns how many casts were changed.
pub fn shape_casts_to_int64(model: &mut ModelProto) -> usize {
    model.graph.as_mut().map(shape_casts_in_graph).unwrap_or(0)
}

fn shape_casts_in_graph(graph: &mut GraphProto) -> usize {
    let shape_outputs: std::collections::HashSet<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Shape")
        .flat_map(|n| n.output.iter().cloned())
        .collect();
    let mut changed = 0;
    for node in graph.node.iter_mut() {
        if node.op_type != "Cast" || !node.input.first().is_some_and(|i| shape_outputs.contains(i)) {
            continue;
        }
        for attr in node.attribute.iter_mut() {
            if attr.name == "to" && attr.i == INT32 {
                attr.i = INT64;
                changed += 1;
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{AttributeProto, NodeProto};

    fn node(op: &str, inputs: &[&str], outputs: &[&str], to: Option<i64>) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute: to.map(|i| vec![AttributeProto { name: "to".into(), i, ..Default::default() }]).unwrap_or_default(),
            ..Default::default()
        }
    }

    #[test]
    fn only_casts_of_shapes_to_int32_change() {
        let mut model = ModelProto {
            graph: Some(GraphProto {
                node: vec![
                    node("Shape", &["x"], &["s"], None),
                    node("Cast", &["s"], &["s32"], Some(INT32)),
                    node("Cast", &["x"], &["x32"], Some(INT32)),
                    node("Cast", &["s"], &["sf"], Some(1)),
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(shape_casts_to_int64(&mut model), 1);
        let g = model.graph.unwrap();
        assert_eq!(g.node[1].attribute[0].i, INT64);
        assert_eq!(g.node[2].attribute[0].i, INT32);
        assert_eq!(g.node[3].attribute[0].i, 1);
    }
}
