//! Channel-dependency analysis: which conv filters must be removed together, and every constant
//! that must shrink with them.
//!
//! Every conv output channel gets an id. Walking the graph in order, each tensor gets the list of
//! channel ids along its channel axis (its "map"): activations, BatchNorm and pooling pass it on,
//! a concat along channels joins the maps, a depthwise conv keeps its input's, and elementwise ops
//! (residual adds, SE multiplies) unify the channels they combine. Unified channels form a class
//! (removed together or not at all); the convs whose channels meet form a group. A group is left
//! alone when any of its channels reaches something the pruner cannot rewrite (a reshape, a graph
//! output, an unknown op); the reason is kept for the report.

use super::graph::{attr_int, Graph};
use super::PruneError;
use std::collections::{BTreeMap, HashMap};
use tract_onnx::pb::GraphProto;

/// How a constant changes when channels go: sliced in both modes; in the zeroing reference, only
/// `OutChannel` and `Shift` constants are zeroed (so that a removed channel reads as 0 downstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A conv's own filters (weight slices and bias).
    OutChannel,
    /// A consumer conv's input channels.
    InChannel,
    /// A per-channel factor (depthwise filters, BatchNorm scale and variance, Mul/Div constants).
    Scale,
    /// A per-channel offset (depthwise bias, BatchNorm shift and mean, Add/Sub constants).
    Shift,
}

/// One constant input of one node to slice along `axis` with the channel map of `tensor`.
#[derive(Debug, Clone)]
pub struct Edit {
    pub node: usize,
    pub input: usize,
    pub axis: usize,
    pub tensor: String,
    pub role: Role,
}

/// A conv (or transposed conv) whose output channels are candidates for removal.
#[derive(Debug, Clone)]
pub struct Source {
    pub node: usize,
    pub name: String,
    /// The weight constant and the axis of its output channels.
    pub weight: String,
    pub axis: usize,
    pub first_channel: usize,
    pub channels: usize,
}

/// Convs whose channels are tied together, with the classes of channels removed as units.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub sources: Vec<usize>,
    /// Channel ids per class.
    pub classes: Vec<Vec<usize>>,
    /// Why the group cannot be pruned, if it cannot.
    pub blocked: Option<String>,
}

/// The result of the analysis of one graph.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub sources: Vec<Source>,
    pub groups: Vec<Group>,
    /// Channel ids along the channel axis, per tensor name.
    pub maps: HashMap<String, Vec<usize>>,
    pub edits: Vec<Edit>,
    /// Depthwise convs whose `group` attribute follows the channel count of a tensor.
    pub group_attrs: Vec<(usize, String)>,
    /// The class representative of each channel id.
    pub root: Vec<usize>,
}

impl Analysis {
    pub fn prunable(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter().filter(|g| g.blocked.is_none())
    }
}

const PASS_THROUGH: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "Clip",
    "Identity",
    "Elu",
    "Selu",
    "Softplus",
    "Softsign",
    "Exp",
    "Abs",
    "Neg",
    "Sqrt",
    "Erf",
    "Gelu",
    "Mish",
    "Dropout",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "LpPool",
];
const ELEMENTWISE: &[&str] = &[
    "Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Sum", "Mean", "PRelu",
];

struct Walk<'g> {
    graph: &'g Graph<'g>,
    /// Union-find over channel ids.
    parent: Vec<usize>,
    /// The source of each channel id.
    source_of: Vec<usize>,
    sources: Vec<Source>,
    source_blocked: Vec<Option<String>>,
    maps: HashMap<String, (Vec<usize>, usize)>, // (channel ids, rank)
    edits: Vec<Edit>,
    group_attrs: Vec<(usize, String)>,
    blocked: Vec<(usize, String)>, // (channel id, reason)
}

/// Analyses a graph; fails only on a graph that contradicts itself (e.g. a weight that does not
/// match its input's channels).
pub fn analyse(proto: &GraphProto) -> Result<Analysis, PruneError> {
    let graph = Graph::new(proto)?;
    let mut w = Walk {
        graph: &graph,
        parent: vec![],
        source_of: vec![],
        sources: vec![],
        source_blocked: vec![],
        maps: HashMap::new(),
        edits: vec![],
        group_attrs: vec![],
        blocked: vec![],
    };
    for i in 0..proto.node.len() {
        w.node(i)?;
    }
    for out in &proto.output {
        w.block_tensor(&out.name, &format!("`{}` is a graph output", out.name));
    }
    Ok(w.finish())
}

impl<'g> Walk<'g> {
    fn node(&mut self, i: usize) -> Result<(), PruneError> {
        let node = &self.graph.proto.node[i];
        let op = node.op_type.as_str();
        let what = format!("{op} `{}`", node_name(self.graph.proto, i));
        let input0 = node.input.first().cloned().unwrap_or_default();
        let output0 = node.output.first().cloned().unwrap_or_default();
        match op {
            "Constant" => {}
            "Conv" | "ConvTranspose" => self.conv(i, &what)?,
            "BatchNormalization" => {
                if let Some((map, rank)) = self.maps.get(&input0).cloned() {
                    let roles = [Role::Scale, Role::Shift, Role::Shift, Role::Scale];
                    for (k, role) in (1..=4).zip(roles) {
                        self.per_channel_param(i, k, 0, &input0, role, map.len(), &what);
                    }
                    self.maps.insert(output0, (map, rank));
                }
            }
            _ if PASS_THROUGH.contains(&op) => {
                self.block_inputs_after(i, 1, &what);
                if let Some(m) = self.maps.get(&input0).cloned() {
                    self.maps.insert(output0, m);
                }
            }
            _ if ELEMENTWISE.contains(&op) => self.elementwise(i, &what),
            "Concat" => self.concat(i, &what),
            "Resize" | "Upsample" => {
                let keeps_channels = self.resize_keeps_channels(i);
                match self.maps.get(&input0).cloned() {
                    Some(m) if keeps_channels => {
                        self.block_inputs_after(i, 1, &what);
                        self.maps.insert(output0, m);
                    }
                    _ => self.block_inputs_after(
                        i,
                        0,
                        &format!("{what} (resizes channels or has an explicit size)"),
                    ),
                }
            }
            _ => self.block_inputs_after(i, 0, &format!("read by {what}")),
        }
        Ok(())
    }

    fn conv(&mut self, i: usize, what: &str) -> Result<(), PruneError> {
        let node = &self.graph.proto.node[i];
        let transposed = node.op_type == "ConvTranspose";
        let input0 = node.input[0].clone();
        let output0 = node.output[0].clone();
        let Some(w) = node
            .input
            .get(1)
            .and_then(|n| self.graph.constant(n))
            .cloned()
        else {
            self.block_inputs_after(i, 0, &format!("{what} has non-constant weights"));
            return Ok(());
        };
        if w.shape.len() < 3 {
            return Err(PruneError::Model(format!(
                "{what}: weight of rank {} (expected ≥ 3)",
                w.shape.len()
            )));
        }
        let rank = w.shape.len();
        let group = attr_int(node, "group", 1).max(1) as usize;
        let in_map = self.maps.get(&input0).cloned();
        let (in_axis, out_axis) = if transposed { (0, 1) } else { (1, 0) };
        let has_bias = node.input.get(2).is_some_and(|b| !b.is_empty());

        if group == 1 {
            if let Some((map, _)) = &in_map {
                if map.len() != w.shape[in_axis] {
                    return Err(PruneError::Model(format!(
                        "{what}: weight {:?} does not match its input's {} channels",
                        w.shape,
                        map.len()
                    )));
                }
                self.edit(i, 1, in_axis, &input0, Role::InChannel);
            }
            let blocked = match (
                has_bias,
                node.input.get(2).and_then(|b| self.graph.constant(b)),
            ) {
                (true, None) => Some(format!("{what} has a non-constant bias")),
                _ => None,
            };
            let ids = self.new_source(i, &node.input[1], out_axis, w.shape[out_axis], blocked);
            self.edit(i, 1, out_axis, &output0, Role::OutChannel);
            if has_bias && self.graph.constant(&node.input[2]).is_some() {
                self.edit(i, 2, 0, &output0, Role::OutChannel);
            }
            self.maps.insert(output0, (ids, rank));
        } else if let Some((map, _)) =
            in_map.filter(|(m, _)| !transposed && m.len() == group && w.shape[0] == group)
        {
            // Depthwise: one filter per input channel, so the filters follow the input's channels.
            self.edit(i, 1, 0, &input0, Role::Scale);
            if has_bias {
                self.per_channel_param(i, 2, 0, &input0, Role::Shift, group, what);
            }
            self.group_attrs.push((i, input0.clone()));
            self.maps.insert(output0, (map, rank));
        } else {
            self.block_inputs_after(
                i,
                0,
                &format!("{what} is a grouped convolution ({group} groups)"),
            );
            let channels = w.shape[out_axis] * if transposed { group } else { 1 };
            let ids = self.new_source(
                i,
                &node.input[1],
                out_axis,
                channels,
                Some(format!("{what} is a grouped convolution")),
            );
            self.maps.insert(output0, (ids, rank));
        }
        Ok(())
    }

    fn elementwise(&mut self, i: usize, what: &str) {
        let node = &self.graph.proto.node[i];
        let mapped: Vec<(usize, Vec<usize>, usize)> = node
            .input
            .iter()
            .enumerate()
            .filter_map(|(k, n)| self.maps.get(n).map(|(m, r)| (k, m.clone(), *r)))
            .collect();
        // A one-channel tensor broadcast over many channels cannot lose its channel.
        let c = mapped.iter().map(|(_, m, _)| m.len()).max().unwrap_or(0);
        let Some((_, first, rank)) = mapped.iter().find(|(_, m, _)| m.len() == c).cloned() else {
            return;
        };
        for (k, m, _) in &mapped {
            if m.len() != c {
                let name = node.input[*k].clone();
                self.block_tensor(&name, &format!("{what} broadcasts it over {c} channels"));
            } else {
                for (&a, &b) in first.iter().zip(m) {
                    self.union(a, b);
                }
            }
        }
        for (k, name) in node.input.iter().enumerate() {
            if name.is_empty() || self.maps.contains_key(name) {
                continue;
            }
            let role = if matches!(node.op_type.as_str(), "Mul" | "Div" | "PRelu" | "Pow") {
                Role::Scale
            } else {
                Role::Shift
            };
            match self.graph.constant(name) {
                Some(k_const) => {
                    let r = k_const.shape.len();
                    // Broadcasting aligns shapes on the right: the channel axis (1 of `rank`) is
                    // axis `r - (rank - 1)` of the constant, if it has one.
                    let axis = r as isize - (rank as isize - 1);
                    if k_const.len() > 1 && axis >= 0 && k_const.shape[axis as usize] != 1 {
                        self.per_channel_param(
                            i,
                            k,
                            axis as usize,
                            &first_name(node, &self.maps),
                            role,
                            c,
                            what,
                        );
                    }
                }
                None => {
                    for (k2, _, _) in &mapped {
                        let n = node.input[*k2].clone();
                        self.block_tensor(
                            &n,
                            &format!("{what} combines it with a tensor of unknown channels"),
                        );
                    }
                }
            }
        }
        self.maps.insert(node.output[0].clone(), (first, rank));
    }

    fn concat(&mut self, i: usize, what: &str) {
        let node = &self.graph.proto.node[i];
        let maps: Option<Vec<(Vec<usize>, usize)>> = node
            .input
            .iter()
            .map(|n| self.maps.get(n).cloned())
            .collect();
        let Some(maps) = maps.filter(|m| !m.is_empty()) else {
            self.block_inputs_after(
                i,
                0,
                &format!("{what} joins it with a tensor of unknown channels"),
            );
            return;
        };
        let rank = maps[0].1;
        let axis = attr_int(node, "axis", 1);
        let axis = if axis < 0 { axis + rank as i64 } else { axis };
        if axis == 1 {
            let joined = maps.iter().flat_map(|(m, _)| m.iter().copied()).collect();
            self.maps.insert(node.output[0].clone(), (joined, rank));
        } else if maps.iter().all(|(m, _)| m.len() == maps[0].0.len()) {
            for (m, _) in &maps[1..] {
                for (&a, &b) in maps[0].0.iter().zip(m) {
                    self.union(a, b);
                }
            }
            self.maps.insert(node.output[0].clone(), maps[0].clone());
        } else {
            self.block_inputs_after(i, 0, &format!("{what} joins tensors of different channels"));
        }
    }

    /// A resize whose scales leave batch and channels alone and that has no explicit sizes.
    fn resize_keeps_channels(&self, i: usize) -> bool {
        let node = &self.graph.proto.node[i];
        let scales_at = if node.op_type == "Upsample" || node.input.len() == 2 {
            1
        } else {
            2
        };
        if node.input.get(3).is_some_and(|s| !s.is_empty()) {
            return false;
        }
        match node
            .input
            .get(scales_at)
            .and_then(|s| self.graph.constant(s))
            .and_then(|c| c.data.as_ref())
        {
            Some(s) => s.len() >= 2 && s[1] == 1.0,
            None => false,
        }
    }

    /// A per-channel constant parameter `k` of node `i`, sliced along `axis` with `tensor`'s map;
    /// anything else there (not a constant, or the wrong size) blocks the channels.
    #[allow(clippy::too_many_arguments)]
    fn per_channel_param(
        &mut self,
        i: usize,
        k: usize,
        axis: usize,
        tensor: &str,
        role: Role,
        c: usize,
        what: &str,
    ) {
        let name = &self.graph.proto.node[i]
            .input
            .get(k)
            .cloned()
            .unwrap_or_default();
        match self.graph.constant(name) {
            Some(p) if p.shape.get(axis) == Some(&c) && p.data.is_some() => {
                self.edit(i, k, axis, tensor, role)
            }
            _ => self.block_tensor(
                tensor,
                &format!("{what} has a parameter `{name}` that is not a per-channel constant"),
            ),
        }
    }

    fn edit(&mut self, node: usize, input: usize, axis: usize, tensor: &str, role: Role) {
        self.edits.push(Edit {
            node,
            input,
            axis,
            tensor: tensor.to_string(),
            role,
        });
    }

    fn new_source(
        &mut self,
        node: usize,
        weight: &str,
        axis: usize,
        channels: usize,
        blocked: Option<String>,
    ) -> Vec<usize> {
        let first = self.parent.len();
        let s = self.sources.len();
        self.sources.push(Source {
            node,
            name: node_name(self.graph.proto, node),
            weight: weight.to_string(),
            axis,
            first_channel: first,
            channels,
        });
        self.source_blocked.push(blocked);
        self.parent.extend(first..first + channels);
        self.source_of.extend(std::iter::repeat(s).take(channels));
        (first..first + channels).collect()
    }

    /// Blocks the channels of every mapped input of node `i` from input `from` on.
    fn block_inputs_after(&mut self, i: usize, from: usize, reason: &str) {
        let inputs = self.graph.proto.node[i].input.clone();
        for name in inputs.iter().skip(from) {
            self.block_tensor(name, reason);
        }
    }

    fn block_tensor(&mut self, name: &str, reason: &str) {
        if let Some((m, _)) = self.maps.get(name) {
            let m = m.clone();
            self.blocked
                .extend(m.into_iter().map(|c| (c, reason.to_string())));
        }
    }

    fn find(&mut self, mut c: usize) -> usize {
        while self.parent[c] != c {
            self.parent[c] = self.parent[self.parent[c]];
            c = self.parent[c];
        }
        c
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }

    fn finish(mut self) -> Analysis {
        let n = self.parent.len();
        let root: Vec<usize> = (0..n).map(|c| self.find(c)).collect();
        // Sources meet when their channels do.
        let mut src_parent: Vec<usize> = (0..self.sources.len()).collect();
        fn sfind(p: &mut [usize], mut s: usize) -> usize {
            while p[s] != s {
                p[s] = p[p[s]];
                s = p[s];
            }
            s
        }
        for c in 0..n {
            let (a, b) = (
                sfind(&mut src_parent, self.source_of[c]),
                sfind(&mut src_parent, self.source_of[root[c]]),
            );
            if a != b {
                src_parent[a.max(b)] = a.min(b);
            }
        }
        let mut by_root: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for s in 0..self.sources.len() {
            let r = sfind(&mut src_parent, s);
            by_root.entry(r).or_default().push(s);
        }
        let mut group_of_source = vec![0; self.sources.len()];
        let mut groups: Vec<Group> = by_root
            .into_values()
            .enumerate()
            .map(|(g, sources)| {
                for &s in &sources {
                    group_of_source[s] = g;
                }
                let mut classes: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
                for &s in &sources {
                    let src = &self.sources[s];
                    for c in src.first_channel..src.first_channel + src.channels {
                        classes.entry(root[c]).or_default().push(c);
                    }
                }
                let blocked = sources.iter().find_map(|&s| self.source_blocked[s].clone());
                Group {
                    name: self.sources[sources[0]].name.clone(),
                    sources,
                    classes: classes.into_values().collect(),
                    blocked,
                }
            })
            .collect();
        for (c, reason) in &self.blocked {
            let g = &mut groups[group_of_source[self.source_of[*c]]];
            g.blocked.get_or_insert_with(|| reason.clone());
        }
        for g in groups
            .iter_mut()
            .filter(|g| g.blocked.is_none() && g.classes.len() < 2)
        {
            g.blocked = Some("a single channel".into());
        }
        Analysis {
            sources: self.sources,
            groups,
            maps: self.maps.into_iter().map(|(k, (m, _))| (k, m)).collect(),
            edits: self.edits,
            group_attrs: self.group_attrs,
            root,
        }
    }
}

/// The name of the first mapped input of an elementwise node (the tensor whose channels a
/// per-channel constant follows).
fn first_name(
    node: &tract_onnx::pb::NodeProto,
    maps: &HashMap<String, (Vec<usize>, usize)>,
) -> String {
    let c = node
        .input
        .iter()
        .filter_map(|n| maps.get(n).map(|(m, _)| m.len()))
        .max()
        .unwrap_or(0);
    node.input
        .iter()
        .find(|n| maps.get(*n).is_some_and(|(m, _)| m.len() == c))
        .cloned()
        .unwrap_or_default()
}

/// A node's name, or its first output's when the exporter left it empty.
pub fn node_name(graph: &GraphProto, i: usize) -> String {
    let node = &graph.node[i];
    if !node.name.is_empty() {
        node.name.clone()
    } else {
        node.output
            .first()
            .cloned()
            .unwrap_or_else(|| format!("node {i}"))
    }
}
