//! The int8 compile as one sequence of passes, each a function of its own:
//!
//! 1. [`calibrate`]: the float model on each calibration input → histograms and tiles;
//! 2. [`quant::choose_clips`]: the `auto` threshold of every activation (other methods: per histogram);
//! 3. [`quant::quantize_with`]: every lowerable layer int8 (oar's `QConv` for depthwise and 1×1,
//!    tract's integer conv for k×k), epilogues fused;
//! 4. [`keep_faster`]: each layer's time float vs int8 from op profiles; a layer stays int8 only
//!    where its int8 form is measured faster (its quantizing cast included);
//! 5. [`guard`]: the candidate scored against the float model by the caller's [`Scorer`] (the
//!    task's metric on images the thresholds never saw); over the budget, layers go back to float
//!    most damaging first ([`sensitivity`]) until it fits, or the compile fails;
//! 6. [`plan_timing`]: the whole candidate vs float at 1 and 2 threads, for the report;
//!
//! then the caller writes the plan (`crate::emit`). [`run`] chains them; docs/int8.md has the why.

use crate::quant::{self, Calibration, Calibrator, QuantOptions, QuantReport};
use std::collections::BTreeMap;
use crate::CompileError;
use oar_plan::tract::*;
use std::time::Instant;

/// Scores a candidate model (not optimised yet) with its task's metric, in points (0–100, higher
/// is better): against ground truth, or against the float model's own outputs.
pub trait Scorer: Sync {
    /// What the score measures, e.g. "rec line agreement vs float".
    fn metric(&self) -> &str;
    /// Images (or samples) scored.
    fn samples(&self) -> usize;
    fn score(&self, model: &TypedModel) -> Result<f64, String>;
}

/// Progress of the long steps, for the caller to show.
pub trait Progress {
    fn begin(&self, what: &str, steps: usize);
    fn step(&self);
    fn end(&self);
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: &str, _: usize) {}
    fn step(&self) {}
    fn end(&self) {}
}

/// Which lowerable layers become int8 before the guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerChoice {
    /// Only those measured faster in int8 than in float (the default).
    Faster,
    /// Every lowerable layer (smallest plan; may be slower than float).
    All,
}

/// Options of [`run`].
#[derive(Debug, Clone)]
pub struct Int8Options {
    pub quant: QuantOptions,
    pub layers: LayerChoice,
    /// Points of the scorer's metric the plan may lose against the float model.
    pub budget: f64,
    /// Keep the candidate even when nothing fits the budget (marked `forced` in the report).
    pub force: bool,
    /// Store the float layers' weights as int8 (a quarter of the bytes, f32 again on load).
    pub weights_int8: bool,
}

impl Default for Int8Options {
    fn default() -> Self {
        Int8Options { quant: QuantOptions::default(), layers: LayerChoice::Faster, budget: 1.0, force: false, weights_int8: true }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Int8Error {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("{0}")]
    Score(String),
    #[error("no calibration input could be used")]
    NoCalibration,
    #[error("nothing to quantize: {0}")]
    NothingToQuantize(String),
    /// The guard found no int8 plan within the budget; the outcome holds what was measured.
    #[error("no int8 plan within the budget of {budget} points: {summary}")]
    OverBudget { budget: f64, summary: String, outcome: Box<Int8Outcome> },
}

/// One layer's measured time per run, float and int8 (ms), and the choice.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSpeed {
    pub name: String,
    pub float_ms: f64,
    pub int8_ms: f64,
    pub int8: bool,
}

/// A layer's damage when it alone is int8: relative squared error of the model's outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensitivity {
    pub name: String,
    pub output_error: f64,
}

/// What the accuracy guard measured and did.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardReport {
    pub metric: String,
    pub samples: usize,
    pub budget: f64,
    pub float: f64,
    /// The score with every layer of step 4 int8, before any went back to float.
    pub first: f64,
    /// The score of the plan written.
    pub int8: f64,
    pub moved_to_float: Vec<String>,
    /// Per-layer damage, worst first (empty when the first candidate fitted).
    pub sensitivity: Vec<Sensitivity>,
    pub forced: bool,
}

impl GuardReport {
    pub fn loss(&self) -> f64 {
        self.float - self.int8
    }
}

/// Whole-model median time per run (ms), float vs int8, at a thread count.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanTiming {
    pub threads: usize,
    pub float_ms: f64,
    pub int8_ms: f64,
}

impl PlanTiming {
    pub fn speedup(&self) -> f64 {
        self.float_ms / self.int8_ms
    }
}

/// The result of [`run`]: the int8 model and everything measured on the way.
#[derive(Debug, Clone)]
pub struct Int8Outcome {
    pub model: TypedModel,
    pub report: QuantReport,
    pub speed: Vec<LayerSpeed>,
    pub guard: GuardReport,
    pub timing: Vec<PlanTiming>,
    /// What the user should know (slower than float, ...), one line each.
    pub warnings: Vec<String>,
}

impl Int8Outcome {
    /// The manifest's `[quantization]` table: the quantization report plus the speed choice, the
    /// guard and the timings.
    pub fn to_toml(&self) -> toml::Table {
        let mut t = self.report.to_toml();
        let speed: Vec<toml::Value> = self
            .speed
            .iter()
            .map(|s| {
                let mut e = toml::Table::new();
                e.insert("name".into(), s.name.clone().into());
                e.insert("float_ms".into(), s.float_ms.into());
                e.insert("int8_ms".into(), s.int8_ms.into());
                e.insert("int8".into(), s.int8.into());
                toml::Value::Table(e)
            })
            .collect();
        if !speed.is_empty() {
            t.insert("layer_speed".into(), speed.into());
        }
        let g = &self.guard;
        let mut guard = toml::Table::new();
        guard.insert("metric".into(), g.metric.clone().into());
        guard.insert("samples".into(), (g.samples as i64).into());
        guard.insert("budget".into(), g.budget.into());
        guard.insert("float".into(), g.float.into());
        guard.insert("first".into(), g.first.into());
        guard.insert("int8".into(), g.int8.into());
        guard.insert("loss".into(), g.loss().into());
        guard.insert("forced".into(), g.forced.into());
        guard.insert("moved_to_float".into(), g.moved_to_float.iter().map(|n| toml::Value::from(n.as_str())).collect::<Vec<_>>().into());
        let sens: Vec<toml::Value> = g
            .sensitivity
            .iter()
            .map(|s| {
                let mut e = toml::Table::new();
                e.insert("name".into(), s.name.clone().into());
                e.insert("output_error".into(), s.output_error.into());
                toml::Value::Table(e)
            })
            .collect();
        if !sens.is_empty() {
            guard.insert("sensitivity".into(), sens.into());
        }
        t.insert("guard".into(), guard.into());
        let timing: Vec<toml::Value> = self
            .timing
            .iter()
            .map(|p| {
                let mut e = toml::Table::new();
                e.insert("threads".into(), (p.threads as i64).into());
                e.insert("float_ms".into(), p.float_ms.into());
                e.insert("int8_ms".into(), p.int8_ms.into());
                toml::Value::Table(e)
            })
            .collect();
        if !timing.is_empty() {
            t.insert("timing".into(), timing.into());
        }
        t
    }
}

/// What [`calibrate`] made: the statistics, how many inputs made them, the inputs that failed
/// (name, why) and the first few inputs (kept for the speed and sensitivity measurements).
pub struct Calibrated {
    pub stats: Calibration,
    pub used: usize,
    pub skipped: Vec<(String, String)>,
    pub probes: Vec<Tensor>,
}

/// Inputs kept by [`calibrate`] for measurements.
const PROBES: usize = 4;

/// Step 1: runs the float `model` (decluttered) on each calibration input; inputs that could not
/// be made are listed, not fatal. `inputs` yields (name, tensor or why not).
pub fn calibrate(
    model: &TypedModel,
    inputs: &mut dyn ExactSizeIterator<Item = (String, Result<Tensor, String>)>,
    progress: &dyn Progress,
) -> Result<Calibrated, Int8Error> {
    let mut calibrator = Calibrator::new(model)?;
    let (mut skipped, mut probes) = (vec![], vec![]);
    progress.begin("calibrating", inputs.len());
    for (name, input) in inputs {
        match input {
            Ok(x) => {
                if probes.len() < PROBES {
                    probes.push(x.clone());
                }
                calibrator.add(x).map_err(|e| Int8Error::Score(format!("{name}: the float model fails on it: {e}")))?;
            }
            Err(e) => skipped.push((name, e)),
        }
        progress.step();
    }
    progress.end();
    let (stats, used) = calibrator.finish();
    if used == 0 {
        return Err(Int8Error::NoCalibration);
    }
    Ok(Calibrated { stats, used, skipped, probes })
}

/// A candidate: the layers `layers` int8 (None: every lowerable one), float layers' weights
/// stored int8 when asked.
fn candidate(
    float: &TypedModel,
    cal: &Calibrated,
    opts: &Int8Options,
    layers: Option<Vec<String>>,
) -> Result<(TypedModel, QuantReport), CompileError> {
    let q = QuantOptions { layers, ..opts.quant.clone() };
    let (mut model, mut report) = quant::quantize_with(float.clone(), &cal.stats, cal.used, &q)?;
    if opts.weights_int8 {
        report.weights_int8_storage = quant::store_weights_int8(&mut model)
            .map_err(|e| CompileError::Model { path: "<int8>".into(), message: format!("storing float layers' weights as int8: {e:#}") })?;
    }
    Ok((model, report))
}

/// Time per run of each layer of `report` in `model` (optimised for `input`), by node names: the
/// layer's own node and those named `LAYER.…`, plus the quantizing cast of its input (charged to
/// the first layer reading it).
pub fn layer_times(model: &TypedModel, report: &QuantReport, input: &Tensor, runs: usize) -> Result<BTreeMap<String, f64>, CompileError> {
    let engine = oar_plan::Engine::from_model(model.clone(), quant::calibration_manifest())?;
    let nodes = engine.profile(std::slice::from_ref(input), runs)?;
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

/// Step 4: each int8 layer of `all` (the report of `int8`, every lowerable layer int8) timed in
/// `int8` and in `float_ref` on `input`; the layers to keep int8 are those faster in int8.
pub fn keep_faster(float_ref: &TypedModel, int8: &TypedModel, all: &QuantReport, input: &Tensor) -> Result<Vec<LayerSpeed>, CompileError> {
    // Two rounds, interleaved, and the smaller of each: a layer's time is a few ms at most and
    // the machine may be busy.
    let mut f = layer_times(float_ref, all, input, 3)?;
    let mut q = layer_times(int8, all, input, 3)?;
    for (mine, again) in [(&mut f, layer_times(float_ref, all, input, 3)?), (&mut q, layer_times(int8, all, input, 3)?)] {
        for (k, v) in again {
            mine.entry(k).and_modify(|m| *m = m.min(v));
        }
    }
    Ok(all
        .layers
        .iter()
        .filter(|l| l.quant.is_some())
        .map(|l| {
            let (float_ms, int8_ms) = (f.get(&l.name).copied().unwrap_or(0.0), q.get(&l.name).copied().unwrap_or(0.0));
            LayerSpeed { name: l.name.clone(), float_ms, int8_ms, int8: int8_ms < float_ms }
        })
        .collect())
}

/// Relative squared error of `got`'s outputs against `want`'s, each output normalised by its
/// own energy (so that box coordinates do not drown scores), summed over outputs.
fn output_error(got: &[Tensor], want: &[Tensor]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(g, w)| {
            let (Ok(g), Ok(w)) = (g.cast_to::<f32>(), w.cast_to::<f32>()) else { return f64::INFINITY };
            let (Ok(g), Ok(w)) = (g.try_as_plain_ram().and_then(|r| r.as_slice::<f32>().map(|s| s.to_vec())), w.try_as_plain_ram().and_then(|r| r.as_slice::<f32>().map(|s| s.to_vec()))) else {
                return f64::INFINITY;
            };
            if g.len() != w.len() {
                return f64::INFINITY;
            }
            let num: f64 = g.iter().zip(&w).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
            let den: f64 = w.iter().map(|b| (*b as f64).powi(2)).sum();
            if den > 0.0 { num / den } else { num }
        })
        .sum()
}

fn engine(model: &TypedModel) -> Result<oar_plan::Engine, CompileError> {
    Ok(oar_plan::Engine::from_model(model.clone(), quant::calibration_manifest())?)
}

/// Step 5a: the damage of each of `layers` alone in int8, on the calibration `probes` (never the
/// guard's images), worst first.
pub fn sensitivity(
    float: &TypedModel,
    float_ref: &TypedModel,
    cal: &Calibrated,
    opts: &Int8Options,
    layers: &[String],
    progress: &dyn Progress,
) -> Result<Vec<Sensitivity>, CompileError> {
    let reference = engine(float_ref)?;
    let want: Vec<Vec<Tensor>> = cal.probes.iter().map(|x| reference.run_one(x.clone())).collect::<Result<_, _>>()?;
    progress.begin("measuring each layer's damage", layers.len());
    let mut out = vec![];
    for name in layers {
        let (m, _) = candidate(float, cal, opts, Some(vec![name.clone()]))?;
        let e = engine(&m)?;
        let mut err = 0.0;
        for (x, w) in cal.probes.iter().zip(&want) {
            err += output_error(&e.run_one(x.clone())?, w);
        }
        out.push(Sensitivity { name: name.clone(), output_error: err / cal.probes.len().max(1) as f64 });
        progress.step();
    }
    progress.end();
    out.sort_by(|a, b| b.output_error.total_cmp(&a.output_error).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// Step 5: scores `chosen` int8; over the budget, moves the most damaging layers back to float —
/// 1, 2, 4, … of them, then the fewest between the last two tries that fits. Returns the model,
/// its report and the guard's record; `Err(OverBudget)` (with the measurements) when no plan
/// with an int8 layer left fits and `force` is off.
#[allow(clippy::too_many_arguments)]
pub fn guard(
    float: &TypedModel,
    float_ref: &TypedModel,
    cal: &Calibrated,
    opts: &Int8Options,
    chosen: Vec<String>,
    scorer: &dyn Scorer,
    progress: &dyn Progress,
) -> Result<(TypedModel, QuantReport, GuardReport), Int8Error> {
    let score = |m: &TypedModel| scorer.score(m).map_err(Int8Error::Score);
    let float_score = score(float_ref)?;
    let (model, report) = candidate(float, cal, opts, Some(chosen.clone()))?;
    let first = score(&model)?;
    let mut g = GuardReport {
        metric: scorer.metric().to_string(),
        samples: scorer.samples(),
        budget: opts.budget,
        float: float_score,
        first,
        int8: first,
        moved_to_float: vec![],
        sensitivity: vec![],
        forced: false,
    };
    let fits = |s: f64| float_score - s <= opts.budget;
    if fits(first) || chosen.is_empty() {
        return Ok((model, report, g));
    }
    log::info!("all {} layers int8: {} {first:.2} vs float {float_score:.2}, over the budget of {}", chosen.len(), g.metric, opts.budget);
    g.sensitivity = sensitivity(float, float_ref, cal, opts, &chosen, progress)?;
    let order: Vec<String> = g.sensitivity.iter().map(|s| s.name.clone()).collect();
    let mut tried: std::collections::BTreeMap<usize, (f64, TypedModel, QuantReport)> = Default::default();
    let mut try_k = |k: usize| -> Result<f64, Int8Error> {
        let keep: Vec<String> = chosen.iter().filter(|n| !order[..k].contains(n)).cloned().collect();
        let (m, r) = candidate(float, cal, opts, Some(keep))?;
        let s = score(&m)?;
        log::info!("{k} most damaging layers float: {s:.2}");
        tried.insert(k, (s, m, r));
        Ok(s)
    };
    let n = chosen.len();
    progress.begin("moving layers back to float", 0);
    // Doubling, then bisection between the last failing and the first fitting count.
    let (mut lo, mut hi) = (0usize, None);
    let mut k = 1;
    while k < n {
        let s = try_k(k)?;
        progress.step();
        if fits(s) {
            hi = Some(k);
            break;
        }
        lo = k;
        k = (k * 2).min(n - 1).max(k + 1);
    }
    if let Some(mut h) = hi {
        while h - lo > 1 {
            let mid = (lo + h) / 2;
            if fits(try_k(mid)?) {
                h = mid;
            } else {
                lo = mid;
            }
            progress.step();
        }
        progress.end();
        let (s, m, r) = tried.remove(&h).expect("the fitting count was tried");
        g.int8 = s;
        g.moved_to_float = order[..h].to_vec();
        return Ok((m, r, g));
    }
    progress.end();
    let best = tried.iter().max_by(|a, b| a.1 .0.total_cmp(&b.1 .0)).map(|(k, (s, _, _))| (*k, *s));
    let summary = format!(
        "float {float_score:.2}, every chosen layer int8 {first:.2}{} ({} on {} held-out samples)",
        best.map(|(k, s)| format!(", best with {k} of {n} layers moved back to float {s:.2}")).unwrap_or_default(),
        g.metric,
        g.samples
    );
    if opts.force {
        g.forced = true;
        return Ok((model, report, g));
    }
    let outcome = Int8Outcome { model, report, speed: vec![], guard: g, timing: vec![], warnings: vec![] };
    Err(Int8Error::OverBudget { budget: opts.budget, summary, outcome: Box::new(outcome) })
}

/// Median time per run (ms) of `model` on `input`.
fn median_ms(e: &oar_plan::Engine, input: &Tensor, runs: usize) -> Result<f64, CompileError> {
    let mut t = vec![];
    e.run_one(input.clone())?;
    for _ in 0..runs {
        let start = Instant::now();
        e.run_one(input.clone())?;
        t.push(start.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// Step 6: the float and the int8 model, whole, at 1 and 2 threads, interleaved.
pub fn plan_timing(float_ref: &TypedModel, int8: &TypedModel, input: &Tensor) -> Result<Vec<PlanTiming>, CompileError> {
    let (f, q) = (engine(float_ref)?, engine(int8)?);
    let mut out = vec![];
    for threads in [1, 2] {
        oar_plan::set_threads(threads);
        let (mut fs, mut qs) = (vec![], vec![]);
        for _ in 0..3 {
            fs.push(median_ms(&f, input, 3)?);
            qs.push(median_ms(&q, input, 3)?);
        }
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        out.push(PlanTiming { threads, float_ms: min(&fs), int8_ms: min(&qs) });
    }
    oar_plan::set_threads(1);
    Ok(out)
}

/// Steps 2–6 after [`calibrate`]: see the module documentation.
pub fn run(
    float: &TypedModel,
    mut cal: Calibrated,
    scorer: &dyn Scorer,
    opts: &Int8Options,
    progress: &dyn Progress,
) -> Result<Int8Outcome, Int8Error> {
    let float_ref = quant::float_reference(float.clone())?;
    if opts.quant.method == quant::Method::Auto {
        progress.begin("choosing clips", 0);
        quant::choose_clips(float, &mut cal.stats);
        progress.end();
    }
    let (all, all_report) = candidate(float, &cal, opts, None)?;
    if all_report.int8_layers() == 0 {
        let reasons: std::collections::BTreeSet<&str> = all_report.layers.iter().filter_map(|l| l.float_reason.as_deref()).collect();
        let why = if reasons.is_empty() { "the model has no conv or matmul".to_string() } else { reasons.into_iter().collect::<Vec<_>>().join("; ") };
        return Err(Int8Error::NothingToQuantize(why));
    }
    let probe = cal.probes.first().cloned().ok_or(Int8Error::NoCalibration)?;
    let (speed, chosen) = match opts.layers {
        LayerChoice::All => (vec![], all_report.layers.iter().filter(|l| l.quant.is_some()).map(|l| l.name.clone()).collect()),
        LayerChoice::Faster => {
            progress.begin("timing layers float vs int8", 0);
            let speed = keep_faster(&float_ref, &all, &all_report, &probe)?;
            progress.end();
            let chosen: Vec<String> = speed.iter().filter(|s| s.int8).map(|s| s.name.clone()).collect();
            (speed, chosen)
        }
    };
    let mut warnings = vec![];
    if chosen.is_empty() {
        warnings.push("no layer is faster in int8 than in float on this machine: the plan keeps every layer float (weights stored as int8)".to_string());
    }
    let (model, report, guard) = guard(float, &float_ref, &cal, opts, chosen, scorer, progress)?;
    progress.begin("timing the plan float vs int8", 0);
    let timing = plan_timing(&float_ref, &model, &probe)?;
    progress.end();
    for t in &timing {
        if t.int8_ms > t.float_ms {
            warnings.push(format!("the int8 plan is slower than float at {} thread(s): {:.1} vs {:.1} ms", t.threads, t.int8_ms, t.float_ms));
        }
    }
    if guard.forced {
        warnings.push(format!("--force: the plan loses {:.2} points of {} (budget {})", guard.loss(), guard.metric, guard.budget));
    }
    Ok(Int8Outcome { model, report, speed, guard, timing, warnings })
}
