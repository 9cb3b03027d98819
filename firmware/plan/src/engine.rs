//! `Engine`: a plan made runnable on tract (NNEF only: no ONNX parser on the device).

use crate::file::{Plan, MODEL_ENTRY};
use crate::PlanError;
use std::path::Path;
use std::sync::Arc;
use tract_nnef::prelude::*;
use tract_onnx_opl::WithOnnx;

/// The NNEF framework with every op registry oar plans may use.
pub fn nnef() -> tract_nnef::framework::Nnef {
    // tract_core's registry is in the default set; ONNX-specific ops come from tract-onnx-opl,
    // oar's own ops (int8 depthwise / pointwise convs) from oar-ops.
    let mut nnef = tract_nnef::nnef().with_onnx();
    oar_ops::register(&mut nnef);
    nnef
}

/// Sets how many threads tract's matrix products may use (process-wide).
pub fn set_threads(n: usize) {
    use tract_linalg::multithread::{set_default_executor, Executor};
    if n <= 1 {
        set_default_executor(Executor::SingleThread);
    } else {
        set_default_executor(Executor::multithread(n));
    }
}

/// A plan loaded and optimised, ready to run.
///
/// Plans whose input has symbolic dimensions (a detector's height and width, a recogniser's width)
/// are optimised once per concrete input shape, on first use, and kept in a small cache: tract runs a
/// model with symbolic shapes through generic kernels, an order of magnitude slower.
pub struct Engine {
    pub plan: Plan,
    graph: Graph,
    by_shape: std::sync::Mutex<Vec<(Vec<usize>, Arc<TypedRunnableModel>)>>,
}

/// A concrete-shaped model is optimised once, at load; a symbolic one is kept decoded and only ever
/// optimised per concrete shape (optimising its generic form would be wasted start-up work).
enum Graph {
    Concrete(Arc<TypedRunnableModel>),
    Symbolic(TypedModel),
}

/// How many concrete shapes an engine keeps optimised plans for.
const SHAPE_CACHE: usize = 16;

impl Engine {
    /// Reads, verifies and prepares a plan file.
    pub fn load(path: impl AsRef<Path>) -> Result<Engine, PlanError> {
        Engine::from_plan(Plan::read(path)?)
    }

    /// Prepares an already-read plan.
    pub fn from_plan(plan: Plan) -> Result<Engine, PlanError> {
        let model = decode_model(&plan)?;
        Engine::prepare(plan, model)
    }

    /// Prepares a model that is not (yet) a plan file — a candidate being evaluated (int8, pruned)
    /// — with the manifest that says how to use it. The model need not be optimised.
    pub fn from_model(model: TypedModel, manifest: crate::Manifest) -> Result<Engine, PlanError> {
        Engine::prepare(Plan::in_memory(manifest), model)
    }

    fn prepare(plan: Plan, model: TypedModel) -> Result<Engine, PlanError> {
        let model_err = |e: TractError| PlanError::Model { path: plan.path.clone(), message: format!("{e:#}") };
        let symbolic = model
            .input_outlets()
            .map_err(model_err)?
            .iter()
            .any(|o| model.outlet_fact(*o).map(|f| f.shape.as_concrete().is_none()).unwrap_or(true));
        let graph = if symbolic {
            // Decoding has already type-checked the graph: bad plans still fail at load.
            Graph::Symbolic(model)
        } else {
            Graph::Concrete(model.into_optimized().map_err(model_err)?.into_runnable().map_err(model_err)?)
        };
        Ok(Engine { plan, graph, by_shape: Default::default() })
    }

    /// Runs the model on the given inputs.
    pub fn run(&self, inputs: TVec<TValue>) -> Result<TVec<TValue>, PlanError> {
        let shape: Vec<usize> = inputs.first().map(|t| t.shape().to_vec()).unwrap_or_default();
        let runnable = self.runnable_for(&shape)?;
        runnable.run(inputs).map_err(|e| self.run_err(e))
    }

    /// The optimised plan for inputs of `shape`: the generic one for concrete-shaped models, else
    /// one specialised to the shape (cached).
    fn runnable_for(&self, shape: &[usize]) -> Result<Arc<TypedRunnableModel>, PlanError> {
        let decoded = match &self.graph {
            Graph::Concrete(runnable) => return Ok(runnable.clone()),
            Graph::Symbolic(decoded) => decoded,
        };
        let mut cache = self.by_shape.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = cache.iter().position(|(s, _)| s == shape) {
            let hit = cache.remove(i);
            let plan = hit.1.clone();
            cache.insert(0, hit);
            return Ok(plan);
        }
        let input = decoded.input_outlets().and_then(|o| decoded.outlet_fact(o[0]).cloned()).map_err(|e| self.run_err(e))?;
        if input.shape.len() != shape.len() {
            return Err(PlanError::Run {
                path: self.plan.path.clone(),
                message: format!("input of rank {} given, the model takes rank {} ({:?})", shape.len(), input.shape.len(), input.shape),
            });
        }
        let mut values = std::collections::HashMap::new();
        for (dim, &v) in input.shape.iter().zip(shape) {
            for sym in dim.symbols() {
                // Dimensions are linear in one symbol (h, 32·h): solve a·s + b = v.
                let at = |x: i64| dim.eval(&SymbolValues::default().with(&sym, x)).to_i64().unwrap_or(0);
                let (b, a) = (at(0), at(1) - at(0));
                let guess = if a != 0 { (v as i64 - b) / a } else { 0 };
                if a == 0 || at(guess) != v as i64 {
                    return Err(PlanError::Run {
                        path: self.plan.path.clone(),
                        message: format!("input shape {shape:?} does not fit the model's {:?}", input.shape),
                    });
                }
                values.insert(sym, TDim::Val(guess));
            }
        }
        let plan = decoded
            .set_symbols(&values)
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| self.run_err(e))?;
        cache.insert(0, (shape.to_vec(), plan.clone()));
        cache.truncate(SHAPE_CACHE);
        Ok(plan)
    }

    /// Runs a single-input model on one f32 tensor and returns its outputs as owned tensors.
    pub fn run_one(&self, input: Tensor) -> Result<Vec<Tensor>, PlanError> {
        Ok(self.run(tvec!(input.into_tvalue()))?.into_iter().map(|v| v.into_tensor()).collect())
    }

    /// The model for inspection: optimised when its input shape is concrete, else as decoded
    /// (symbolic plans are only optimised per input shape, see [`Engine::profile`]).
    pub fn model(&self) -> &TypedModel {
        match &self.graph {
            Graph::Concrete(runnable) => runnable.model(),
            Graph::Symbolic(decoded) => decoded,
        }
    }
}

/// Decodes the NNEF graph of a plan into a tract model (not optimised).
pub fn decode_model(plan: &Plan) -> Result<TypedModel, PlanError> {
    let data = plan
        .entry(MODEL_ENTRY)
        .ok_or_else(|| PlanError::MissingEntry { path: plan.path.clone(), entry: MODEL_ENTRY.into() })?;
    nnef()
        .model_for_read(&mut std::io::Cursor::new(data))
        .map_err(|e| PlanError::Model { path: plan.path.clone(), message: format!("{e:#}") })
}

/// Time spent in one node of the optimised model, summed over profiled runs.
#[derive(Debug, Clone)]
pub struct NodeTime {
    pub node: String,
    pub op: String,
    /// The matrix-multiplication kernel a matmul node runs (e.g. `avx512vnni_mmm_i32_16x16`: an
    /// integer kernel), from the op's description.
    pub kernel: Option<String>,
    pub total: std::time::Duration,
}

/// The first tract-linalg kernel name (`…mmm_…`) in an op's description.
fn kernel_name(info: &str) -> Option<String> {
    info.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.contains("mmm_"))
        .map(str::to_string)
}

impl Engine {
    /// Runs the model `runs` times on `input`, timing every node.
    pub fn profile(&self, input: Tensor, runs: usize) -> Result<Vec<NodeTime>, PlanError> {
        let runnable = self.runnable_for(input.shape())?;
        let model = runnable.model();
        let mut times: Vec<std::time::Duration> = vec![Default::default(); model.nodes().len()];
        let mut state = runnable.spawn().map_err(|e| self.run_err(e))?;
        for _ in 0..runs.max(1) {
            state
                .run_plan_with_eval(tvec!(input.clone().into_tvalue()), |ctx, op_state, node, inputs| {
                    let start = std::time::Instant::now();
                    let r = tract_nnef::tract_core::plan::eval(ctx, op_state, node, inputs);
                    times[node.id] += start.elapsed();
                    r
                })
                .map_err(|e| self.run_err(e))?;
        }
        Ok(model
            .nodes()
            .iter()
            .map(|n| NodeTime {
                node: n.name.clone(),
                op: n.op().name().to_string(),
                kernel: n.op().info().ok().and_then(|i| kernel_name(&i.join(" "))),
                total: times[n.id],
            })
            .collect())
    }

    fn run_err(&self, e: TractError) -> PlanError {
        PlanError::Run { path: self.plan.path.clone(), message: format!("{e:#}") }
    }
}

/// Size facts of a model graph.
#[derive(Debug, Clone, Default)]
pub struct ModelStats {
    /// Number of nodes per op name.
    pub ops: std::collections::BTreeMap<String, usize>,
    /// Number of values in constant tensors (weights, biases, ...).
    pub params: usize,
    /// Bytes of constant tensors, per datum type.
    pub param_bytes: std::collections::BTreeMap<String, usize>,
}

/// Counts ops and parameters of a model.
pub fn model_stats(model: &TypedModel) -> ModelStats {
    let mut stats = ModelStats::default();
    for node in model.nodes() {
        *stats.ops.entry(node.op().name().to_string()).or_default() += 1;
        if let Some(k) = node.op_as::<tract_nnef::tract_core::ops::konst::Const>() {
            let t = k.val();
            stats.params += t.len();
            *stats.param_bytes.entry(format!("{:?}", t.datum_type()).to_lowercase()).or_default() +=
                t.len() * t.datum_type().size_of();
        }
    }
    stats
}

/// The layers of a (decoded, not optimised) model that compute in integers: quantized convs and
/// matmuls, as (node name, `conv` or `matmul`).
pub fn integer_layers(model: &TypedModel) -> Vec<(String, &'static str)> {
    use tract_nnef::tract_core::ops::{cnn::Conv, einsum::EinSum};
    model
        .nodes()
        .iter()
        .filter_map(|n| {
            if n.op_as::<Conv>().is_some_and(|c| c.q_params.is_some()) {
                Some((n.name.clone(), "conv"))
            } else if n.op_as::<EinSum>().is_some_and(|e| e.q_params.is_some()) {
                Some((n.name.clone(), "matmul"))
            } else if let Some(q) = n.op_as::<oar_ops::QConv>() {
                Some((n.name.clone(), q.op_id().name))
            } else {
                None
            }
        })
        .collect()
}
