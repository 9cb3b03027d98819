//! Mixed precision by measurement: per layer, the accuracy lost when only that layer is int8 and
//! the time it saves; then the layers to keep int8 under an accuracy budget.

use super::{quantize_with, Calibration, QuantOptions, QuantReport};
use crate::CompileError;
use oar_plan::tract::*;
use std::collections::BTreeMap;

/// What making one layer int8 costs and saves.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerCost {
    pub name: String,
    /// Points of the evaluation metric lost when only this layer is int8 (negative: gained).
    pub cost: f64,
    /// Time of the layer's nodes per run, float and int8 (quantizing cast included), in ms.
    pub float_ms: f64,
    pub int8_ms: f64,
    /// Bytes of weights saved (f32 → i8).
    pub bytes_saved: usize,
}

impl LayerCost {
    pub fn ms_saved(&self) -> f64 {
        self.float_ms - self.int8_ms
    }
}

/// What the mixed-precision choice optimises within the accuracy budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prefer {
    /// Only layers that run faster in int8, best time saved per point lost first.
    Speed,
    /// Any layer, cheapest in accuracy first (smaller plans).
    Size,
}

impl std::str::FromStr for Prefer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "speed" => Ok(Prefer::Speed),
            "size" => Ok(Prefer::Size),
            _ => Err(format!("unknown preference `{s}` (speed, size)")),
        }
    }
}

/// Time per run of each layer of `report` in `model` (optimised for `input`), by node names: the
/// layer's own node and those named `LAYER.…`, plus the quantizing cast of its input (charged to
/// the first layer reading it).
pub fn layer_times(model: &TypedModel, report: &QuantReport, input: &Tensor, runs: usize) -> Result<BTreeMap<String, f64>, CompileError> {
    let engine = oar_plan::Engine::from_model(model.clone(), super::calibration_manifest())?;
    let nodes = engine.profile(input.clone(), runs)?;
    let mut cast_owner: BTreeMap<String, String> = BTreeMap::new();
    for l in &report.layers {
        if let Some(input) = &l.input {
            cast_owner.entry(format!("{input}.q8")).or_insert_with(|| l.name.clone());
        }
    }
    let mut times: BTreeMap<String, f64> = report.layers.iter().map(|l| (l.name.clone(), 0.0)).collect();
    for n in nodes {
        let ms = n.total.as_secs_f64() * 1e3 / runs.max(1) as f64;
        let owner = cast_owner
            .iter()
            .find(|(cast, _)| n.node == **cast || n.node.starts_with(&format!("{cast}.")))
            .map(|(_, l)| l.clone())
            .or_else(|| {
                // The longest layer name that prefixes the node's (layer names may prefix each other).
                report
                    .layers
                    .iter()
                    .filter(|l| n.node == l.name || n.node.starts_with(&format!("{}.", l.name)))
                    .max_by_key(|l| l.name.len())
                    .map(|l| l.name.clone())
            });
        if let Some(o) = owner {
            *times.get_mut(&o).expect("every layer has an entry") += ms;
        }
    }
    Ok(times)
}

/// Measures every layer int8 in `full` (the report of quantizing all candidates; `float` is the
/// model it was made from, compared through [`super::float_reference`]): `score` is the
/// evaluation metric of a model (points, higher is better), `progress` is told each layer done.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    float: &TypedModel,
    full: &QuantReport,
    int8: &TypedModel,
    stats: &Calibration,
    opts: &QuantOptions,
    input: &Tensor,
    score: &mut dyn FnMut(&TypedModel) -> Result<f64, String>,
    progress: &mut dyn FnMut(&str),
) -> Result<(f64, Vec<LayerCost>), CompileError> {
    let err = |m: String| CompileError::Model { path: "<mixed precision>".into(), message: m };
    let reference = super::float_reference(float.clone())?;
    let float_score = score(&reference).map_err(|e| err(format!("evaluating the float model: {e}")))?;
    let float_times = layer_times(&reference, full, input, 5)?;
    let int8_times = layer_times(int8, full, input, 5)?;
    let mut costs = vec![];
    for l in full.layers.iter().filter(|l| l.quant.is_some()) {
        let only = QuantOptions { layers: Some(vec![l.name.clone()]), ..opts.clone() };
        let (m, _) = quantize_with(float.clone(), stats, full.calibration_inputs, &only)?;
        let s = score(&m).map_err(|e| err(format!("evaluating with only {} int8: {e}", l.name)))?;
        let weights = l.quant.as_ref().map(|q| q.weights).unwrap_or(0);
        costs.push(LayerCost {
            name: l.name.clone(),
            cost: float_score - s,
            float_ms: float_times.get(&l.name).copied().unwrap_or(0.0),
            int8_ms: int8_times.get(&l.name).copied().unwrap_or(0.0),
            bytes_saved: weights * 3,
        });
        progress(&l.name);
    }
    Ok((float_score, costs))
}

/// The layers to make int8, best first, whose summed individual costs stay within `budget`
/// points (the caller checks the combination on the evaluation set).
pub fn choose(costs: &[LayerCost], budget: f64, prefer: Prefer) -> Vec<String> {
    let mut order: Vec<&LayerCost> = match prefer {
        Prefer::Speed => costs.iter().filter(|c| c.ms_saved() > 0.0).collect(),
        Prefer::Size => costs.iter().collect(),
    };
    let merit = |c: &LayerCost| match prefer {
        Prefer::Speed => c.ms_saved() / c.cost.max(1e-3),
        Prefer::Size => c.bytes_saved as f64 / c.cost.max(1e-3),
    };
    order.sort_by(|a, b| merit(b).total_cmp(&merit(a)).then(a.name.cmp(&b.name)));
    let mut spent = 0.0;
    let mut chosen = vec![];
    for c in order {
        if spent + c.cost.max(0.0) <= budget {
            spent += c.cost.max(0.0);
            chosen.push(c.name.clone());
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, cost: f64, float_ms: f64, int8_ms: f64, bytes: usize) -> LayerCost {
        LayerCost { name: name.into(), cost, float_ms, int8_ms, bytes_saved: bytes }
    }

    #[test]
    fn speed_keeps_only_layers_that_pay_within_budget() {
        let costs = [c("slow", 0.0, 1.0, 2.0, 100), c("cheap", 0.1, 2.0, 1.0, 10), c("dear", 0.8, 3.0, 1.0, 10), c("free", 0.0, 1.0, 0.5, 10)];
        assert_eq!(choose(&costs, 0.5, Prefer::Speed), vec!["free", "cheap"]);
        assert_eq!(choose(&costs, 0.85, Prefer::Speed).len(), 2);
        assert_eq!(choose(&costs, 1.0, Prefer::Speed), vec!["free", "cheap", "dear"]);
    }

    #[test]
    fn size_takes_slow_layers_too() {
        let costs = [c("slow", 0.0, 1.0, 2.0, 100), c("dear", 5.0, 3.0, 1.0, 10)];
        assert_eq!(choose(&costs, 1.0, Prefer::Size), vec!["slow"]);
        assert!(choose(&costs, 1.0, Prefer::Speed).is_empty());
    }
}
