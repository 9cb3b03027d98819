//! `oar compile … --int8`: the arguments, the progress bars and the printed report around
//! `oar_compiler::int8` (calibrate → choose clips → lower → keep the layers that pay → guard),
//! then the plan. The accuracy guard scores the int8 candidate against the float model on a
//! quarter of the calibration images that the thresholds never saw (or on `--eval SET`).

use anyhow::{bail, ensure, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use oar_compiler::int8::{self, Int8Error, Int8Options, Int8Outcome, LayerChoice, Scorer};
use oar_compiler::quant::{self, Method, QuantOptions};
use oar_compiler::{Prepared, SourceModel};
use oar_eval::{Evaluator, Metrics};
use oar_plan::tract::{Tensor, TypedModel};
use oar_vision::Rgb;
use std::cell::RefCell;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct Int8Args {
    /// Quantize to int8 (weights per output channel, activations per tensor); needs --calib.
    #[arg(long)]
    pub int8: bool,
    /// Folder of calibration images (PNG, JPEG, BMP), pre-processed as the model's plan says.
    /// Without --eval, a quarter of them (every fourth, by name) is held apart for the accuracy
    /// guard and never used for thresholds.
    #[arg(long, requires = "int8")]
    pub calib: Option<PathBuf>,
    /// Activation thresholds: auto (per activation, the clip giving the layers reading it the
    /// smallest output error), kl, percentile, minmax or pact.
    #[arg(long, default_value = "auto", requires = "int8")]
    pub method: Method,
    /// The percentile of |x| for --method percentile.
    #[arg(long, default_value_t = 99.99, requires = "int8")]
    pub percentile: f64,
    /// Also lower matmuls (EinSums: linear layers, attention projections) to tract's integer
    /// EinSum (kept only where measured faster, like every layer).
    #[arg(long, requires = "int8")]
    pub int8_matmul: bool,
    /// Keep k×k convs float without timing them (depthwise and 1×1 convs still go to oar's int8 kernels).
    #[arg(long, requires = "int8")]
    pub float_kxk: bool,
    /// Make every lowerable layer int8, also those measured slower than float (the smallest plan).
    #[arg(long, requires = "int8")]
    pub all_layers: bool,
    /// Keep the weights of the layers left float in f32. By default they are stored as int8
    /// with one scale per output channel (a quarter of the bytes) and turned back into f32 when
    /// the device loads the plan: same speed, weights rounded.
    #[arg(long, requires = "int8")]
    pub float_weights: bool,
    /// At most this many calibration images (sorted by name), guard images included.
    #[arg(long, default_value_t = 64, requires = "int8")]
    pub calib_limit: usize,
    /// Held-out evaluation set with ground truth (labels.jsonl of tools/gen_ocr_set.py, or an
    /// image folder for detectors and classifiers): the guard scores on it instead of on held-out
    /// calibration images, and float vs int8 accuracy goes into the manifest.
    #[arg(long, requires = "int8")]
    pub eval: Option<PathBuf>,
    /// At most this many evaluation images.
    #[arg(long, default_value_t = 40, requires = "eval")]
    pub eval_limit: usize,
    /// Accuracy budget of the guard: points of the task's metric the plan may lose against the
    /// float model. Over it, layers go back to float, most damaging first.
    #[arg(long, default_value_t = 1.0, requires = "int8")]
    pub budget: f64,
    /// Write the plan even when no int8 plan fits the budget (marked `forced` in the manifest).
    #[arg(long, requires = "int8")]
    pub force: bool,
}

/// Fraction of the calibration images the guard holds apart: every `GUARD_EVERY`-th one.
const GUARD_EVERY: usize = 4;
/// The fewest guard images that give a score worth acting on.
const MIN_GUARD: usize = 4;

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = if len > 0 { ProgressBar::new(len as u64) } else { ProgressBar::new_spinner() };
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    let template = if len > 0 { "{msg} [{bar:30}] {pos}/{len} eta {eta}" } else { "{spinner} {msg} ({elapsed})" };
    bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    bar.set_message(what.to_string());
    if len == 0 {
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
    }
    bar
}

/// The compiler's progress as indicatif bars (one at a time).
struct Bars(RefCell<Option<ProgressBar>>);

impl int8::Progress for Bars {
    fn begin(&self, what: &str, steps: usize) {
        if let Some(b) = self.0.replace(Some(bar(steps, what))) {
            b.finish_and_clear();
        }
    }
    fn step(&self) {
        if let Some(b) = &*self.0.borrow() {
            b.inc(1);
        }
    }
    fn end(&self) {
        if let Some(b) = self.0.take() {
            b.finish_and_clear();
        }
    }
}

/// oar-eval's evaluators as the compiler's scorer.
struct EvalScorer<'a>(&'a dyn Evaluator);

impl Scorer for EvalScorer<'_> {
    fn metric(&self) -> &str {
        self.0.metric()
    }
    fn samples(&self) -> usize {
        self.0.samples()
    }
    fn score(&self, model: &TypedModel) -> Result<f64, String> {
        self.0.evaluate(model).map(|m| m.primary).map_err(|e| format!("{e:#}"))
    }
}

/// The calibration images of `src` (a folder of images, class folders, or a label file /
/// folder in any format oar-eval reads), sorted by name unless a label file orders them.
fn calibration_images(src: &Path, limit: usize) -> Result<Vec<PathBuf>> {
    std::fs::metadata(src).with_context(|| format!("{}: cannot read the calibration folder", src.display()))?;
    let mut files = oar_eval::image_paths(src).with_context(|| format!("{}: cannot read the calibration images", src.display()))?;
    if src.is_dir() && !files.is_empty() && files.iter().all(|f| f.parent() == Some(src)) {
        files.sort();
    }
    files.truncate(limit.max(1));
    ensure!(!files.is_empty(), "{}: no calibration images (expected PNG, JPEG or BMP files, class folders or a label file)", src.display());
    Ok(files)
}

/// Splits the calibration files into (thresholds, guard): every `GUARD_EVERY`-th file is the guard's.
fn split_for_guard(dir: &Path, files: Vec<PathBuf>) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (guard, fit): (Vec<_>, Vec<_>) = files.into_iter().enumerate().partition(|(i, _)| i % GUARD_EVERY == GUARD_EVERY - 1);
    let strip = |v: Vec<(usize, PathBuf)>| v.into_iter().map(|(_, p)| p).collect::<Vec<_>>();
    let (fit, guard) = (strip(fit), strip(guard));
    let n = fit.len() + guard.len();
    ensure!(
        guard.len() >= MIN_GUARD,
        "{}: {n} calibration image(s); the accuracy guard holds every {GUARD_EVERY}th apart and needs at least {MIN_GUARD} of them: \
         give at least {} images (--calib-limit counts them all), or a held-out set with --eval",
        dir.display(),
        MIN_GUARD * GUARD_EVERY
    );
    Ok((fit, guard))
}

/// Errors when the evaluation set holds any calibration image (accuracy must be measured on
/// images the thresholds never saw).
fn check_held_out(calib: &[PathBuf], eval: &Path, calib_src: &Path) -> Result<()> {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let seen: std::collections::BTreeSet<PathBuf> = calib.iter().map(|p| canon(p)).collect();
    let eval_images = oar_eval::image_paths(eval).with_context(|| format!("cannot read the evaluation set {}", eval.display()))?;
    let shared: Vec<&PathBuf> = eval_images.iter().filter(|p| seen.contains(&canon(p))).collect();
    ensure!(
        shared.is_empty(),
        "the evaluation set {} shares {} image(s) with the calibration images of {} (e.g. {}): evaluate on held-out images",
        eval.display(),
        shared.len(),
        calib_src.display(),
        shared[0].display()
    );
    Ok(())
}

fn model_input(prepared: &Prepared, path: &Path) -> Result<Tensor, String> {
    let img = Rgb::open(path).map_err(|e| format!("{e:#}"))?;
    oar_vision::input::model_input(&img, prepared.manifest.image()?).map_err(|e| format!("{e:#}"))
}

pub fn compile(src: &SourceModel, out: &Path, args: &Int8Args) -> Result<()> {
    // Calibration runs images through the model: say so first for a model of other tensors.
    src.input.image(&src.path)?;
    let calib_dir = args.calib.as_deref().context("--int8 needs --calib FOLDER (calibration images)")?;
    ensure!(args.budget.is_finite() && args.budget >= 0.0, "--budget {}: expected points ≥ 0", args.budget);
    let files = calibration_images(calib_dir, args.calib_limit)?;
    if let Some(eval) = &args.eval {
        check_held_out(&files, eval, calib_dir)?;
    }
    let (fit_files, guard_files) = match args.eval {
        Some(_) => (files, vec![]),
        None => split_for_guard(calib_dir, files)?,
    };
    let spinner = crate::models::spinner(&format!("loading {}", src.id));
    let prepared = oar_compiler::prepare_for_int8(src);
    spinner.finish_and_clear();
    let mut prepared = prepared.with_context(|| format!("cannot load {}", src.path.display()))?;
    let float = quant::float_reference(prepared.typed.clone())?;

    // The guard's scorer: ground truth of --eval, or the float model's outputs on the held-out images.
    let mut skipped: Vec<(String, String)> = vec![];
    let s = crate::models::spinner("loading the guard's images");
    let evaluator = match &args.eval {
        Some(set) => {
            let e = oar_eval::evaluator_with_labels(&prepared.manifest, prepared.labels.as_deref(), set, &float, Some(args.eval_limit));
            e.with_context(|| format!("cannot evaluate on {}", set.display()))?
        }
        None => {
            let mut images = vec![];
            for p in &guard_files {
                match Rgb::open(p) {
                    Ok(img) => images.push(img),
                    Err(e) => skipped.push((p.display().to_string(), format!("{e:#}"))),
                }
            }
            ensure!(images.len() >= MIN_GUARD, "{}: only {} held-out image(s) decode; the guard needs {MIN_GUARD}", calib_dir.display(), images.len());
            oar_eval::against_float(&prepared.manifest, prepared.labels.as_deref(), images, &float)?
        }
    };
    s.finish_and_clear();
    let scorer = EvalScorer(evaluator.as_ref());

    let progress = Bars(RefCell::new(None));
    let mut inputs = fit_files.iter().map(|p| (p.display().to_string(), model_input(&prepared, p)));
    let cal = match int8::calibrate(&prepared.typed, &mut inputs, &progress) {
        Err(Int8Error::NoCalibration) => {
            let list: Vec<String> = skipped.iter().map(|(p, e)| format!("  {p}: {e}")).collect();
            bail!("{}: no calibration image could be used:\n{}", calib_dir.display(), list.join("\n"))
        }
        r => r?,
    };
    skipped.extend(cal.skipped.iter().cloned());
    for (p, e) in &skipped {
        eprintln!("warning: skipped calibration image {p}: {e}");
    }
    let used = cal.used;
    let opts = Int8Options {
        quant: QuantOptions { method: args.method, percentile: args.percentile, matmuls: args.int8_matmul, kxk: !args.float_kxk, ..Default::default() },
        layers: if args.all_layers { LayerChoice::All } else { LayerChoice::Faster },
        budget: args.budget,
        force: args.force,
        weights_int8: !args.float_weights,
    };
    let outcome = match int8::run(&prepared.typed, cal, &scorer, &opts, &progress) {
        Err(Int8Error::OverBudget { budget, summary, outcome }) => {
            print_report(&outcome, used);
            bail!("no plan written: no int8 plan loses at most {budget} points ({summary}); raise --budget, or --force to write the best one anyway");
        }
        r => r?,
    };
    print_report(&outcome, used);

    let mut quant_table = outcome.to_toml();
    if !skipped.is_empty() {
        let list: Vec<toml::Value> = skipped.iter().map(|(p, _)| p.clone().into()).collect();
        quant_table.insert("skipped_calibration_images".into(), list.into());
    }
    quant_table.insert("guard_images".into(), (if args.eval.is_some() { "--eval set" } else { "every 4th calibration image, held apart" }).into());
    prepared.manifest.quantization = Some(quant_table);

    if let Some(set) = &args.eval {
        let s = crate::models::spinner("evaluating float and int8");
        let f = evaluator.evaluate(&float);
        let both = f.and_then(|f| evaluator.evaluate(&outcome.model).map(|q| (f, q)));
        s.finish_and_clear();
        let (f, q) = both.context("evaluation failed")?;
        print_accuracy(evaluator.metric(), &f, &q);
        prepared.manifest.accuracy = Some(accuracy_table(set, evaluator.metric(), &f, &q));
    }

    let spinner = crate::models::spinner("writing the plan");
    let compiled = oar_compiler::emit(&prepared, &outcome.model, out);
    spinner.finish_and_clear();
    let compiled = compiled.with_context(|| format!("cannot write {}", out.display()))?;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "{}: int8 {} plan ({}), {:.2} MB, {} of {} layers int8, {} {:.2} vs float {:.2}, NNEF round trip max abs error {:.2e}",
        out.display(),
        compiled.manifest.model.task,
        args.method.name(),
        size as f64 / 1e6,
        outcome.report.int8_layers(),
        outcome.report.layers.len(),
        outcome.guard.metric,
        outcome.guard.int8,
        outcome.guard.float,
        compiled.check_error.iter().cloned().fold(0.0, f32::max)
    );
    Ok(())
}

fn print_report(o: &Int8Outcome, used: usize) {
    let report = &o.report;
    let float: Vec<_> = report.layers.iter().filter(|l| l.float_reason.is_some()).collect();
    println!("calibrated on {used} images ({}); {} layers int8, {} kept float", report.method.name(), report.int8_layers(), float.len());
    let mut reasons: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for l in &float {
        reasons.entry(l.float_reason.as_deref().unwrap_or("")).or_default().push(&l.name);
    }
    for (why, names) in reasons {
        let shown: Vec<&str> = names.iter().take(6).copied().collect();
        let more = if names.len() > 6 { format!(" … (+{})", names.len() - 6) } else { String::new() };
        println!("  float ({why}): {} layers: {}{more}", names.len(), shown.join(", "));
    }
    if report.method == Method::Auto {
        let mut sources: std::collections::BTreeMap<String, usize> = Default::default();
        for l in report.layers.iter().filter_map(|l| l.clip.as_deref()) {
            let base = l.split('×').next().unwrap_or(l).to_string();
            *sources.entry(base).or_default() += 1;
        }
        let list: Vec<String> = sources.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("  auto clips chosen from: {}", list.join(", "));
    }
    if !o.speed.is_empty() {
        let faster = o.speed.iter().filter(|s| s.int8).count();
        let (f, q): (f64, f64) = o.speed.iter().map(|s| (s.float_ms, s.int8_ms)).fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        println!("  speed: {faster} of {} lowerable layers faster in int8 (their layers {f:.1} ms float, {q:.1} ms all int8; 1 thread)", o.speed.len());
    }
    let g = &o.guard;
    println!("\n# accuracy guard ({} on {} held-out samples, budget {} points)", g.metric, g.samples, g.budget);
    println!("  float {:.2}, first int8 candidate {:.2}, plan {:.2} (loss {:.2}){}", g.float, g.first, g.int8, g.loss(), if g.forced { ", FORCED" } else { "" });
    if !g.moved_to_float.is_empty() {
        println!("  moved back to float ({}, most damaging first): {}", g.moved_to_float.len(), g.moved_to_float.join(", "));
    }
    for t in &o.timing {
        println!("  {} thread(s): float {:.2} ms, int8 {:.2} ms ({:.2}×)", t.threads, t.float_ms, t.int8_ms, t.speedup());
    }
}

fn print_accuracy(metric: &str, float: &Metrics, int8: &Metrics) {
    println!("\n# accuracy on the evaluation set ({metric})");
    println!("{:28} {:>9} {:>9} {:>9}", "", "float", "int8", "delta");
    for (name, f) in &float.values {
        let q = int8.get(name).unwrap_or(f64::NAN);
        println!("{name:28} {f:>9.2} {q:>9.2} {:>+9.2}", q - f);
    }
}

fn accuracy_table(set: &Path, metric: &str, float: &Metrics, int8: &Metrics) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("set".into(), set.display().to_string().into());
    t.insert("metric".into(), metric.into());
    t.insert("float".into(), float.to_toml().into());
    t.insert("int8".into(), int8.to_toml().into());
    t.insert("loss".into(), (float.primary - int8.primary).into());
    t
}
