//! Structured filter pruning on the ONNX graph: whole conv filters go, and every constant that
//! reads or follows their channels shrinks with them, leaving a smaller valid ONNX model.
//!
//! `deps` finds the groups of channels that must go together, `rank` scores filters (L1, FPGM),
//! this module picks the channels and rewrites the graph, `cost` measures FLOPs and `scan` runs
//! sensitivity scans and fits a loss budget.

pub mod cost;
pub mod deps;
pub mod graph;
pub mod rank;
pub mod scan;

pub use deps::{analyse as analyse_graph, Analysis, Group};
pub use rank::Criterion;

use deps::Role;
use graph::Graph;
use std::collections::{BTreeMap, HashSet};
use tract_onnx::pb::GraphProto;
pub use tract_onnx::pb::ModelProto;

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error("cannot prune this model: {0}")]
    Model(String),
    #[error("no layer of this model can be pruned safely:\n{0}")]
    NothingPrunable(String),
    #[error("pruning ratio {0} is outside (0, 1)")]
    Ratio(f32),
    #[error("no prunable group named `{0}` (see the list of groups)")]
    UnknownGroup(String),
    #[error("{0}")]
    Budget(String),
    #[error("evaluation failed: {0}")]
    Eval(String),
}

/// Which channels to remove: one ratio for every prunable group, or one per group (by name;
/// groups not named are left alone).
#[derive(Debug, Clone, PartialEq)]
pub enum Ratios {
    Uniform(f32),
    PerGroup(BTreeMap<String, f32>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PruneOptions {
    pub criterion: Criterion,
    pub ratios: Ratios,
}

/// What happened to one group of tied convs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupReport {
    pub name: String,
    pub convs: Vec<String>,
    pub channels: usize,
    pub removed: usize,
}

/// A pruned model and what was removed.
#[derive(Debug, Clone)]
pub struct Pruned {
    pub model: ModelProto,
    pub groups: Vec<GroupReport>,
}

/// The channel groups of a model (prunable or not, with the reason).
pub fn analyse(model: &ModelProto) -> Result<Analysis, PruneError> {
    deps::analyse(graph_of(model)?)
}

/// Removes the lowest-ranked filters of each prunable group and rewrites every consumer.
pub fn prune(model: &ModelProto, opts: &PruneOptions) -> Result<Pruned, PruneError> {
    let analysis = analyse(model)?;
    let (removed, groups) = choose(model, &analysis, opts)?;
    let model = rewrite(model, &analysis, &removed, Mode::Remove)?;
    Ok(Pruned { model, groups })
}

/// The reference for pruning's correctness: the same model with the filters that `prune` would
/// remove set to zero (their weights, biases and the shifts that follow them), nothing removed.
pub fn zero_removed(model: &ModelProto, opts: &PruneOptions) -> Result<ModelProto, PruneError> {
    let analysis = analyse(model)?;
    let (removed, _) = choose(model, &analysis, opts)?;
    rewrite(model, &analysis, &removed, Mode::Zero)
}

/// The list of groups that cannot be pruned, one per line, with the reason.
pub fn blocked_list(analysis: &Analysis) -> String {
    analysis
        .groups
        .iter()
        .filter_map(|g| {
            g.blocked
                .as_ref()
                .map(|r| format!("  {} ({} channels): {r}", g.name, g.classes.len()))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn graph_of(model: &ModelProto) -> Result<&GraphProto, PruneError> {
    model
        .graph
        .as_ref()
        .ok_or_else(|| PruneError::Model("the ONNX file has no graph".into()))
}

/// Picks the channel classes to remove (by their representative channel id).
fn choose(
    model: &ModelProto,
    analysis: &Analysis,
    opts: &PruneOptions,
) -> Result<(HashSet<usize>, Vec<GroupReport>), PruneError> {
    if analysis.prunable().next().is_none() {
        return Err(PruneError::NothingPrunable(blocked_list(analysis)));
    }
    let ratio_of = |g: &Group| -> Option<f32> {
        match &opts.ratios {
            Ratios::Uniform(r) => Some(*r),
            Ratios::PerGroup(m) => m.get(&g.name).copied(),
        }
    };
    let check = |r: f32| {
        if r > 0.0 && r < 1.0 {
            Ok(())
        } else {
            Err(PruneError::Ratio(r))
        }
    };
    match &opts.ratios {
        Ratios::Uniform(r) => check(*r)?,
        Ratios::PerGroup(m) => {
            for (name, r) in m {
                check(*r)?;
                if !analysis.prunable().any(|g| &g.name == name) {
                    return Err(PruneError::UnknownGroup(name.clone()));
                }
            }
        }
    }
    let graph = Graph::new(graph_of(model)?)?;
    let mut removed = HashSet::new();
    let mut reports = vec![];
    for g in analysis.prunable() {
        let Some(ratio) = ratio_of(g) else { continue };
        let score = channel_scores(&graph, analysis, g, opts.criterion)?;
        let mut order: Vec<(f32, usize)> = g
            .classes
            .iter()
            .map(|class| (class.iter().map(|c| score[c]).sum(), class[0]))
            .collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = ((ratio * g.classes.len() as f32).floor() as usize).min(g.classes.len() - 1);
        removed.extend(order[..n].iter().map(|(_, c)| analysis.root[*c]));
        reports.push(GroupReport {
            name: g.name.clone(),
            convs: g
                .sources
                .iter()
                .map(|&s| analysis.sources[s].name.clone())
                .collect(),
            channels: g.classes.len(),
            removed: n,
        });
    }
    Ok((removed, reports))
}

/// Per-channel scores of the convs of a group.
fn channel_scores(
    graph: &Graph,
    analysis: &Analysis,
    g: &Group,
    criterion: Criterion,
) -> Result<BTreeMap<usize, f32>, PruneError> {
    let mut scores = BTreeMap::new();
    for &s in &g.sources {
        let src = &analysis.sources[s];
        let w = graph.constant(&src.weight).ok_or_else(|| {
            PruneError::Model(format!("weight `{}` is not a constant", src.weight))
        })?;
        let per_filter = rank::filter_scores(w, w.floats(&src.weight)?, src.axis, criterion);
        scores.extend(
            per_filter
                .into_iter()
                .enumerate()
                .map(|(k, v)| (src.first_channel + k, v)),
        );
    }
    Ok(scores)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Remove,
    Zero,
}

/// Applies the edits of the analysis for the removed classes.
fn rewrite(
    model: &ModelProto,
    analysis: &Analysis,
    removed: &HashSet<usize>,
    mode: Mode,
) -> Result<ModelProto, PruneError> {
    let proto = graph_of(model)?;
    let graph = Graph::new(proto)?;
    // Positions along a tensor's channel axis to keep and to drop.
    let split = |tensor: &str| -> (Vec<usize>, Vec<usize>) {
        let map = &analysis.maps[tensor];
        (0..map.len()).partition(|&p| !removed.contains(&analysis.root[map[p]]))
    };
    let mut by_input: BTreeMap<(usize, usize), Vec<&deps::Edit>> = BTreeMap::new();
    for e in &analysis.edits {
        by_input.entry((e.node, e.input)).or_default().push(e);
    }
    let mut new_graph = proto.clone();
    for ((node, input), edits) in by_input {
        let name = &proto.node[node].input[input];
        let mut c = graph
            .constant(name)
            .cloned()
            .ok_or_else(|| PruneError::Model(format!("`{name}` is not a constant")))?;
        let mut data = c.floats(name)?.to_vec();
        let mut changed = false;
        for e in edits {
            let (keep, drop) = split(&e.tensor);
            if drop.is_empty() {
                continue;
            }
            changed = true;
            match mode {
                Mode::Remove => {
                    let (shape, d) = graph::select(&c, &data, e.axis, &keep);
                    c.shape = shape;
                    data = d;
                }
                Mode::Zero if matches!(e.role, Role::OutChannel | Role::Shift) => {
                    data = graph::zero(&c, &data, e.axis, &drop)
                }
                Mode::Zero => {}
            }
        }
        if changed {
            let new_name = format!("{name}.pruned.{node}.{input}");
            new_graph
                .initializer
                .push(graph::float_tensor(&new_name, &c.shape, &data));
            new_graph.node[node].input[input] = new_name;
        }
    }
    if mode == Mode::Remove {
        for (node, tensor) in &analysis.group_attrs {
            let kept = split(tensor).0.len();
            graph::set_attr_int(&mut new_graph.node[*node], "group", kept as i64);
        }
        // Shapes recorded by the exporter no longer hold.
        new_graph.value_info.clear();
    }
    graph::drop_unused_constants(&mut new_graph);
    Ok(ModelProto {
        graph: Some(new_graph),
        ..model.clone()
    })
}
