//! `Engine`: a plan made runnable on tract (NNEF only: no ONNX parser on the device).

use crate::file::{Plan, MODEL_ENTRY};
use crate::PlanError;
use std::path::Path;
use std::sync::Arc;
use tract_nnef::prelude::*;
use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx_opl::WithOnnx;

/// The NNEF framework with every op registry oar plans may use.
pub fn nnef() -> tract_nnef::framework::Nnef {
    // tract_core's registry is in the default set; ONNX-specific ops come from tract-onnx-opl,
    // oar's own ops (int8 depthwise / pointwise convs) from oar-ops.
    let mut nnef = tract_nnef::nnef().with_onnx();
    oar_ops::register(&mut nnef);
    nnef
}

/// Sets how many threads plans use by default (process-wide): tract's own ops and oar's split
/// their larger layers over them. An engine given its own count ([`Engine::set_threads`],
/// [`Engine::choose_threads`]) keeps it.
pub fn set_threads(n: usize) {
    tract_linalg::multithread::set_default_executor(executor(n));
}

fn executor(n: usize) -> Executor {
    oar_ops::configure_tract_threading();
    if n <= 1 {
        Executor::SingleThread
    } else {
        Executor::multithread(n)
    }
}

/// How many threads a plan runs on: a fixed count, or `auto`: the count (up to the board's or the
/// machine's) that runs the plan fastest, measured when the plan is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    Auto,
    Fixed(usize),
}

impl std::str::FromStr for Threads {
    type Err = String;
    fn from_str(s: &str) -> Result<Threads, String> {
        match s.trim() {
            "auto" => Ok(Threads::Auto),
            n => match n.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(Threads::Fixed(n)),
                _ => Err(format!("expected a thread count (1, 2, …) or `auto`, got `{s}`")),
            },
        }
    }
}

impl std::fmt::Display for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Threads::Auto => f.write_str("auto"),
            Threads::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// What [`Engine::choose_threads`] measured: median ms per run for each thread count tried, and
/// the count chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadChoice {
    pub threads: usize,
    pub median_ms: Vec<(usize, f64)>,
}

/// A count of threads is only chosen over a smaller one when it is this much faster: a thread that
/// buys less is better left to the other stages (camera, tracker, OCR) of a pipeline.
const MORE_THREADS_GAIN: f64 = 0.97;

/// A plan loaded and optimised, ready to run.
///
/// Plans whose input has symbolic dimensions (a detector's height and width, a recogniser's width)
/// are optimised once per concrete input shape, on first use, and kept in a small cache: tract runs a
/// model with symbolic shapes through generic kernels, an order of magnitude slower.
pub struct Engine {
    pub plan: Plan,
    graph: Graph,
    by_shape: std::sync::Mutex<Vec<(Vec<usize>, Arc<TypedRunnableModel>)>>,
    /// This plan's thread pool; `None`: the process default ([`set_threads`]).
    executor: Option<(usize, Executor)>,
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
        Ok(Engine { plan, graph, by_shape: Default::default(), executor: None })
    }

    /// Runs the model on the given inputs.
    pub fn run(&self, inputs: TVec<TValue>) -> Result<TVec<TValue>, PlanError> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
        let runnable = self.runnable_for(&shapes)?;
        self.in_pool(|| runnable.run(inputs)).map_err(|e| self.run_err(e))
    }

    /// Runs this plan on `n` threads from now on (its own pool; 1: on the calling thread).
    pub fn set_threads(&mut self, n: usize) {
        self.executor = Some((n.max(1), executor(n)));
    }

    /// The threads this plan runs on.
    pub fn threads(&self) -> usize {
        match &self.executor {
            Some((n, _)) => *n,
            None => oar_ops::pool_threads(&tract_linalg::multithread::current_tract_executor()),
        }
    }

    /// Applies a thread setting: a fixed count, or `auto`, measured on `inputs` with up to `max`
    /// threads (see [`Engine::choose_threads`]). Returns the measurement when there was one.
    pub fn apply_threads(&mut self, threads: Threads, max: usize, inputs: &[Tensor]) -> Result<Option<ThreadChoice>, PlanError> {
        match threads {
            Threads::Fixed(n) => {
                self.set_threads(n);
                Ok(None)
            }
            Threads::Auto => self.choose_threads(inputs, max).map(Some),
        }
    }

    /// Measures this plan on `input` at 1 to `max` threads (interleaved rounds, a few runs each,
    /// ~0.3 s per count for fast plans, 4 runs per count for slow ones) and keeps the fastest count;
    /// a larger count must be at least 3 % faster than a smaller one to be chosen.
    pub fn choose_threads(&mut self, inputs: &[Tensor], max: usize) -> Result<ThreadChoice, PlanError> {
        let counts: Vec<usize> = (1..=max.max(1)).collect();
        let pools: Vec<(usize, Executor)> = counts.iter().map(|&n| (n, executor(n))).collect();
        // One untimed run per count (optimisation for a new shape, first touches), then the first
        // timing says how many runs a round can afford.
        let mut first = f64::MAX;
        for (n, exec) in &pools {
            self.executor = Some((*n, exec.clone()));
            self.run(inputs.iter().map(|t| t.clone().into_tvalue()).collect())?;
            let start = std::time::Instant::now();
            self.run(inputs.iter().map(|t| t.clone().into_tvalue()).collect())?;
            first = first.min(start.elapsed().as_secs_f64());
        }
        let per_round = ((0.1 / first.max(1e-6)).ceil() as usize).clamp(1, 20);
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); pools.len()];
        for _ in 0..3 {
            for (i, (n, exec)) in pools.iter().enumerate() {
                self.executor = Some((*n, exec.clone()));
                for _ in 0..per_round {
                    let start = std::time::Instant::now();
                    self.run(inputs.iter().map(|t| t.clone().into_tvalue()).collect())?;
                    samples[i].push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        let median_ms: Vec<(usize, f64)> = counts
            .iter()
            .zip(&mut samples)
            .map(|(&n, s)| {
                s.sort_by(f64::total_cmp);
                (n, s[s.len() / 2])
            })
            .collect();
        let mut best = median_ms[0];
        for &(n, ms) in &median_ms[1..] {
            if ms < best.1 * MORE_THREADS_GAIN {
                best = (n, ms);
            }
        }
        let chosen = pools.into_iter().find(|(n, _)| *n == best.0).unwrap_or((1, Executor::SingleThread));
        self.executor = Some(chosen);
        log::info!("{}: threads auto: {median_ms:?} ms, chose {}", self.plan.path.display(), best.0);
        Ok(ThreadChoice { threads: best.0, median_ms })
    }

    /// Runs `f` with this plan's pool as tract's executor.
    fn in_pool<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.executor {
            Some((_, exec)) => multithread_tract_scope(exec.clone(), f),
            None => f(),
        }
    }

    /// The optimised plan for inputs of these shapes: the generic one for concrete-shaped models,
    /// else one specialised to the shapes (cached).
    fn runnable_for(&self, shapes: &[&[usize]]) -> Result<Arc<TypedRunnableModel>, PlanError> {
        let decoded = match &self.graph {
            Graph::Concrete(runnable) => return Ok(runnable.clone()),
            Graph::Symbolic(decoded) => decoded,
        };
        let key: Vec<usize> = shapes.iter().flat_map(|s| s.iter().copied().chain([usize::MAX])).collect();
        let mut cache = self.by_shape.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = cache.iter().position(|(s, _)| *s == key) {
            let hit = cache.remove(i);
            let plan = hit.1.clone();
            cache.insert(0, hit);
            return Ok(plan);
        }
        let facts: Vec<(&str, TypedFact)> = decoded
            .input_outlets()
            .and_then(|o| o.iter().map(|o| Ok((&*decoded.node(o.node).name, decoded.outlet_fact(*o)?.clone()))).collect())
            .map_err(|e| self.run_err(e))?;
        let fail = |message: String| PlanError::Run { path: self.plan.path.clone(), message };
        if facts.len() != shapes.len() {
            return Err(fail(format!("{} input(s) given, the model takes {}", shapes.len(), facts.len())));
        }
        let mut values: std::collections::HashMap<Symbol, i64> = Default::default();
        for ((name, fact), &shape) in facts.iter().zip(shapes) {
            let what = || format!("input `{name}` of shape {shape:?} does not fit the model's {:?}", fact.shape);
            if fact.shape.len() != shape.len() {
                return Err(fail(format!("input `{name}` of rank {} given, the model takes rank {} ({:?})", shape.len(), fact.shape.len(), fact.shape)));
            }
            for (dim, &v) in fact.shape.iter().zip(shape) {
                for sym in dim.symbols() {
                    // Dimensions are linear in one symbol (h, 32·h): solve a·s + b = v.
                    let at = |x: i64| dim.eval(&SymbolValues::default().with(&sym, x)).to_i64().unwrap_or(0);
                    let (b, a) = (at(0), at(1) - at(0));
                    let guess = if a != 0 { (v as i64 - b) / a } else { 0 };
                    if a == 0 || at(guess) != v as i64 {
                        return Err(fail(what()));
                    }
                    match values.insert(sym.clone(), guess) {
                        Some(before) if before != guess => {
                            return Err(fail(format!("{}: `{sym}` is {guess} here and {before} in an earlier input", what())))
                        }
                        _ => {}
                    }
                }
                if dim.symbols().is_empty() && dim.to_i64().ok() != Some(v as i64) {
                    return Err(fail(what()));
                }
            }
        }
        let values = values.into_iter().map(|(s, v)| (s, TDim::Val(v))).collect();
        let plan = decoded
            .set_symbols(&values)
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| self.run_err(e))?;
        cache.insert(0, (key, plan.clone()));
        cache.truncate(SHAPE_CACHE);
        Ok(plan)
    }

    /// Runs a single-input model on one f32 tensor and returns its outputs as owned tensors.
    pub fn run_one(&self, input: Tensor) -> Result<Vec<Tensor>, PlanError> {
        Ok(self.run(tvec!(input.into_tvalue()))?.into_iter().map(|v| v.into_tensor()).collect())
    }

    /// Runs the plan on tensors as a caller made them (`oar infer`: from `.npy` files), each
    /// checked against the manifest's inputs first ([`accept_input`]); that a named dimension
    /// (`seq`) has one value across inputs is checked where the plan is specialised to the shapes.
    /// The errors name the input.
    pub fn infer(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, PlanError> {
        let specs = self.plan.manifest.input_specs();
        let fail = |message: String| PlanError::Run { path: self.plan.path.clone(), message };
        if inputs.len() != specs.len() {
            let names = specs.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("; ");
            return Err(fail(format!("{} input(s) given, the plan takes {}: {names}", inputs.len(), specs.len())));
        }
        let ready = inputs.into_iter().zip(&specs).map(|(t, spec)| Ok(accept_input(spec, t).map_err(fail)?.into_tvalue()));
        Ok(self.run(ready.collect::<Result<_, PlanError>>()?)?.into_iter().map(|v| v.into_tensor()).collect())
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

/// `t` as the input `spec` takes it: its rank and fixed dimensions checked, its type the spec's.
/// f64 is narrowed to f32, and any integer type converted to i64 or i32, where the spec says so
/// (numpy's defaults); other types are refused. The error names the input and says what it takes.
pub fn accept_input(spec: &crate::TensorSpec, t: Tensor) -> Result<Tensor, String> {
    let bad = |why: String| format!("input `{}` (the plan takes {spec}): {why}", spec.name);
    if t.rank() != spec.shape.len() {
        return Err(bad(format!("shape {:?} has rank {}", t.shape(), t.rank())));
    }
    for (i, (d, &v)) in spec.shape.iter().zip(t.shape()).enumerate() {
        if let crate::Dim::Fixed(n) = d {
            if *n != v as u64 {
                return Err(bad(format!("shape {:?}: dimension {i} is {v}, not {n}", t.shape())));
            }
        }
    }
    let (have, want) = (t.datum_type(), crate::datum_type(spec.dtype));
    if have == want {
        return Ok(t);
    }
    let castable = (have == DatumType::F64 && want == DatumType::F32)
        || (have.is_integer() && matches!(want, DatumType::I64 | DatumType::I32));
    if !castable {
        return Err(bad(format!("type {have:?}, expected {}", spec.dtype)));
    }
    t.cast_to_dt(want).map(|c| c.into_owned()).map_err(|e| bad(format!("{e:#}")))
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
    /// Runs the model `runs` times on `inputs`, timing every node.
    pub fn profile(&self, inputs: &[Tensor], runs: usize) -> Result<Vec<NodeTime>, PlanError> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
        let runnable = self.runnable_for(&shapes)?;
        let model = runnable.model();
        let mut times: Vec<std::time::Duration> = vec![Default::default(); model.nodes().len()];
        let mut state = runnable.spawn().map_err(|e| self.run_err(e))?;
        for _ in 0..runs.max(1) {
            self.in_pool(|| {
                state.run_plan_with_eval(inputs.iter().map(|t| t.clone().into_tvalue()).collect(), |ctx, op_state, node, inputs| {
                    let start = std::time::Instant::now();
                    let r = tract_nnef::tract_core::plan::eval(ctx, op_state, node, inputs);
                    times[node.id] += start.elapsed();
                    r
                })
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
