//! `Engine`: a plan made runnable on tract (NNEF only: no ONNX parser on the device).

use crate::file::{Plan, MODEL_ENTRY};
use crate::PlanError;
use std::path::Path;
use std::sync::Arc;
use tract_nnef::prelude::*;
use tract_onnx_opl::WithOnnx;

/// The NNEF framework with every op registry oar plans may use.
pub fn nnef() -> tract_nnef::framework::Nnef {
    // tract_core's registry is in the default set; ONNX-specific ops come from tract-onnx-opl.
    tract_nnef::nnef().with_onnx()
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
pub struct Engine {
    pub plan: Plan,
    runnable: Arc<TypedRunnableModel>,
}

impl Engine {
    /// Reads, verifies and prepares a plan file.
    pub fn load(path: impl AsRef<Path>) -> Result<Engine, PlanError> {
        Engine::from_plan(Plan::read(path)?)
    }

    /// Prepares an already-read plan.
    pub fn from_plan(plan: Plan) -> Result<Engine, PlanError> {
        let model = decode_model(&plan)?;
        let model_err = |e: TractError| PlanError::Model { path: plan.path.clone(), message: format!("{e:#}") };
        let runnable = model.into_optimized().map_err(model_err)?.into_runnable().map_err(model_err)?;
        Ok(Engine { plan, runnable })
    }

    /// Runs the model on the given inputs.
    pub fn run(&self, inputs: TVec<TValue>) -> Result<TVec<TValue>, PlanError> {
        self.runnable.run(inputs).map_err(|e| PlanError::Run {
            path: self.plan.path.clone(),
            message: format!("{e:#}"),
        })
    }

    /// Runs a single-input model on one f32 tensor and returns its outputs as owned tensors.
    pub fn run_one(&self, input: Tensor) -> Result<Vec<Tensor>, PlanError> {
        Ok(self.run(tvec!(input.into_tvalue()))?.into_iter().map(|v| v.into_tensor()).collect())
    }

    /// The optimised model (for profiling and inspection).
    pub fn model(&self) -> &TypedModel {
        self.runnable.model()
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
    pub total: std::time::Duration,
}

impl Engine {
    /// Runs the model `runs` times on `input`, timing every node.
    pub fn profile(&self, input: Tensor, runs: usize) -> Result<Vec<NodeTime>, PlanError> {
        let model = self.runnable.model();
        let mut times: Vec<std::time::Duration> = vec![Default::default(); model.nodes().len()];
        let mut state = self.runnable.spawn().map_err(|e| self.run_err(e))?;
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
            .map(|n| NodeTime { node: n.name.clone(), op: n.op().name().to_string(), total: times[n.id] })
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
