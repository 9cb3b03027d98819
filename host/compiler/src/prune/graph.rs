//! Read and write access to an ONNX graph as the pruner needs it: who produces and consumes each
//! tensor, the constant tensors (initializers or `Constant` nodes, as paddle2onnx writes them) and
//! their float data.

use super::PruneError;
use std::collections::HashMap;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto, TensorProto};

/// A constant tensor: its shape and, for float tensors, its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    pub shape: Vec<usize>,
    /// Row-major values; `None` for non-float tensors.
    pub data: Option<Vec<f32>>,
}

impl Const {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The float values, or an error naming the tensor.
    pub fn floats(&self, name: &str) -> Result<&[f32], PruneError> {
        self.data
            .as_deref()
            .ok_or_else(|| PruneError::Model(format!("constant `{name}` is not a float tensor")))
    }
}

/// Index of a graph: producers, consumers and constants by tensor name.
pub struct Graph<'a> {
    pub proto: &'a GraphProto,
    consts: HashMap<&'a str, Const>,
    consumers: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Graph<'a> {
    pub fn new(proto: &'a GraphProto) -> Result<Graph<'a>, PruneError> {
        let mut consts = HashMap::new();
        for t in &proto.initializer {
            consts.insert(t.name.as_str(), read_tensor(t)?);
        }
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, node) in proto.node.iter().enumerate() {
            if node.op_type == "Constant" {
                if let (Some(out), Some(c)) = (node.output.first(), constant_node_value(node)?) {
                    consts.insert(out.as_str(), c);
                }
            }
            for input in node.input.iter().filter(|s| !s.is_empty()) {
                consumers.entry(input.as_str()).or_default().push(i);
            }
        }
        Ok(Graph {
            proto,
            consts,
            consumers,
        })
    }

    pub fn constant(&self, name: &str) -> Option<&Const> {
        self.consts.get(name)
    }

    /// Indices of the nodes reading `name`.
    pub fn consumers(&self, name: &str) -> &[usize] {
        self.consumers
            .get(name)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }
}

/// The integer attribute `name` of a node, or `default`.
pub fn attr_int(node: &NodeProto, name: &str, default: i64) -> i64 {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.i)
        .unwrap_or(default)
}

/// Sets (or adds) an integer attribute.
pub fn set_attr_int(node: &mut NodeProto, name: &str, value: i64) {
    match node.attribute.iter_mut().find(|a| a.name == name) {
        Some(a) => a.i = value,
        None => node.attribute.push(AttributeProto {
            name: name.into(),
            r#type: AttributeType::Int as i32,
            i: value,
            ..Default::default()
        }),
    }
}

fn constant_node_value(node: &NodeProto) -> Result<Option<Const>, PruneError> {
    for a in &node.attribute {
        match a.name.as_str() {
            "value" => return a.t.as_ref().map(read_tensor).transpose(),
            "value_float" => {
                return Ok(Some(Const {
                    shape: vec![],
                    data: Some(vec![a.f]),
                }))
            }
            "value_int" => {
                return Ok(Some(Const {
                    shape: vec![],
                    data: None,
                }))
            }
            "value_floats" => {
                return Ok(Some(Const {
                    shape: vec![a.floats.len()],
                    data: Some(a.floats.clone()),
                }))
            }
            "value_ints" => {
                return Ok(Some(Const {
                    shape: vec![a.ints.len()],
                    data: None,
                }))
            }
            _ => {}
        }
    }
    Ok(None)
}

fn read_tensor(t: &TensorProto) -> Result<Const, PruneError> {
    let shape = t
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                PruneError::Model(format!("tensor `{}` has a negative dimension {d}", t.name))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let len: usize = shape.iter().product();
    if t.data_type != DataType::Float as i32 {
        return Ok(Const { shape, data: None });
    }
    let data: Vec<f32> = if !t.raw_data.is_empty() {
        t.raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        t.float_data.clone()
    };
    if data.len() != len {
        return Err(PruneError::Model(format!(
            "tensor `{}`: {} float values for shape {shape:?} (external data is not supported)",
            t.name,
            data.len()
        )));
    }
    Ok(Const {
        shape,
        data: Some(data),
    })
}

/// A float tensor proto named `name`.
pub fn float_tensor(name: &str, shape: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// The values of `c` keeping only the indices `keep` along `axis`.
pub fn select(c: &Const, data: &[f32], axis: usize, keep: &[usize]) -> (Vec<usize>, Vec<f32>) {
    let outer: usize = c.shape[..axis].iter().product();
    let inner: usize = c.shape[axis + 1..].iter().product();
    let n = c.shape[axis];
    let mut out = Vec::with_capacity(outer * keep.len() * inner);
    for o in 0..outer {
        for &k in keep {
            let start = (o * n + k) * inner;
            out.extend_from_slice(&data[start..start + inner]);
        }
    }
    let mut shape = c.shape.clone();
    shape[axis] = keep.len();
    (shape, out)
}

/// The values of `c` with the indices `zero` along `axis` set to 0.
pub fn zero(c: &Const, data: &[f32], axis: usize, zero: &[usize]) -> Vec<f32> {
    let outer: usize = c.shape[..axis].iter().product();
    let inner: usize = c.shape[axis + 1..].iter().product();
    let n = c.shape[axis];
    let mut out = data.to_vec();
    for o in 0..outer {
        for &k in zero {
            let start = (o * n + k) * inner;
            out[start..start + inner].fill(0.0);
        }
    }
    out
}

/// Removes initializers and `Constant` nodes that nothing reads any more.
pub fn drop_unused_constants(graph: &mut GraphProto) {
    let used = |g: &GraphProto| -> std::collections::HashSet<String> {
        g.node
            .iter()
            .flat_map(|n| n.input.iter().cloned())
            .chain(g.output.iter().map(|o| o.name.clone()))
            .collect()
    };
    let read = used(graph);
    graph.initializer.retain(|t| read.contains(&t.name));
    graph
        .node
        .retain(|n| n.op_type != "Constant" || n.output.iter().any(|o| read.contains(o)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_and_zero_work_along_any_axis() {
        let c = Const {
            shape: vec![2, 3, 2],
            data: None,
        };
        let data: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let (shape, kept) = select(&c, &data, 1, &[0, 2]);
        assert_eq!(shape, vec![2, 2, 2]);
        assert_eq!(kept, vec![0., 1., 4., 5., 6., 7., 10., 11.]);
        let (shape, kept) = select(&c, &data, 0, &[1]);
        assert_eq!(shape, vec![1, 3, 2]);
        assert_eq!(kept, (6..12).map(|v| v as f32).collect::<Vec<_>>());
        assert_eq!(zero(&c, &data, 2, &[0])[..4], [0., 1., 0., 3.]);
    }

    #[test]
    fn float_tensors_round_trip() {
        let t = float_tensor("w", &[2, 2], &[1.0, -2.0, 3.5, 0.0]);
        assert_eq!(
            read_tensor(&t).unwrap(),
            Const {
                shape: vec![2, 2],
                data: Some(vec![1.0, -2.0, 3.5, 0.0])
            }
        );
    }
}
