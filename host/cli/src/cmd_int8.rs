//! `oar compile … --int8`: calibrate on a folder of images (pre-processed as the device will),
//! quantize, optionally score float vs int8 on a held-out set and choose the layers by
//! measurement under an accuracy budget, then write the plan with its report in the manifest.

use anyhow::{bail, ensure, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use oar_compiler::quant::mixed::{self, Prefer};
use oar_compiler::quant::{self, Calibrator, Method, QuantOptions, QuantReport};
use oar_compiler::{Prepared, SourceModel};
use oar_eval::{Evaluator, Metrics};
use oar_plan::tract::TypedModel;
use oar_vision::Rgb;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct Int8Args {
    /// Quantize to int8 (weights per output channel, activations per tensor); needs --calib.
    #[arg(long)]
    pub int8: bool,
    /// Folder of calibration images (PNG, JPEG, BMP), pre-processed as the model's plan says.
    #[arg(long, requires = "int8")]
    pub calib: Option<PathBuf>,
    /// Activation thresholds: kl, percentile, minmax or pact.
    #[arg(long, default_value = "kl", requires = "int8")]
    pub method: Method,
    /// The percentile of |x| for --method percentile.
    #[arg(long, default_value_t = 99.99, requires = "int8")]
    pub percentile: f64,
    /// Also lower matmuls (EinSums: linear layers, attention projections) to tract's integer
    /// EinSum. Off by default: not yet timed against float (docs/int8.md).
    #[arg(long, requires = "int8")]
    pub int8_matmul: bool,
    /// Keep k×k convs float: tract's int8 conv makes the plan smaller but is much slower than its
    /// float conv today (depthwise and 1×1 convs stay on oar's int8 kernels).
    #[arg(long, requires = "int8")]
    pub float_kxk: bool,
    /// Keep the weights of the layers left float in f32. By default they are stored as int8
    /// with one scale per output channel (a quarter of the bytes) and turned back into f32 when
    /// the device loads the plan: same speed, weights rounded.
    #[arg(long, requires = "int8")]
    pub float_weights: bool,
    /// At most this many calibration images (sorted by name).
    #[arg(long, default_value_t = 32, requires = "int8")]
    pub calib_limit: usize,
    /// Held-out evaluation set (a labels.jsonl set of tools/gen_ocr_set.py, or an image folder for
    /// detectors and classifiers): float vs int8 accuracy goes into the report and the manifest.
    #[arg(long, requires = "int8")]
    pub eval: Option<PathBuf>,
    /// At most this many evaluation images.
    #[arg(long, default_value_t = 40, requires = "eval")]
    pub eval_limit: usize,
    /// Mixed precision: measure each layer alone in int8 and keep int8 only the layers chosen
    /// within this accuracy loss (points of the evaluation metric). Needs --eval.
    #[arg(long, requires = "eval")]
    pub budget: Option<f64>,
    /// With --budget: `speed` keeps only layers faster in int8, `size` any layer.
    #[arg(long, default_value = "speed", requires = "budget")]
    pub prefer: Prefer,
}

/// Calibration images that could not be used: (file, why).
type Skipped = Vec<(PathBuf, String)>;

fn bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} eta {eta}").expect("valid template").progress_chars("=> "));
    bar.set_message(what.to_string());
    bar
}

/// The image files of a calibration folder, sorted; errors for a missing, unreadable or empty one.
fn calibration_images(dir: &Path, limit: usize) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).with_context(|| format!("{}: cannot read the calibration folder", dir.display()))?;
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| ["png", "jpg", "jpeg", "bmp"].contains(&e.to_ascii_lowercase().as_str())))
        .collect();
    files.sort();
    files.truncate(limit.max(1));
    ensure!(!files.is_empty(), "{}: no calibration images (expected PNG, JPEG or BMP files)", dir.display());
    Ok(files)
}

/// Runs the float model on each calibration image, skipping (and listing) the ones that fail.
fn calibrate(prepared: &Prepared, files: &[PathBuf]) -> Result<(quant::Calibration, usize, Skipped)> {
    let mut calibrator = Calibrator::new(&prepared.typed)?;
    let mut skipped = vec![];
    let bar = bar(files.len(), "calibrating");
    for path in files {
        let input = Rgb::open(path).map_err(anyhow::Error::from).and_then(|img| Ok(oar_vision::input::model_input(&img, &prepared.manifest.input)?));
        match input {
            Ok(x) => calibrator.add(x).with_context(|| format!("{}: the float model fails on it", path.display()))?,
            Err(e) => skipped.push((path.clone(), format!("{e:#}"))),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let (stats, used) = calibrator.finish();
    if used == 0 {
        let list: Vec<String> = skipped.iter().map(|(p, e)| format!("  {}: {e}", p.display())).collect();
        bail!("no calibration image could be used:\n{}", list.join("\n"));
    }
    Ok((stats, used, skipped))
}

/// A file or folder that is the same on disk (calibration and evaluation must not share images).
fn same_place(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a.starts_with(&b) || b.starts_with(&a),
        _ => false,
    }
}

pub fn compile(src: &SourceModel, out: &Path, args: &Int8Args) -> Result<()> {
    let calib_dir = args.calib.as_deref().context("--int8 needs --calib FOLDER (calibration images)")?;
    if let Some(eval) = &args.eval {
        ensure!(
            !same_place(eval, calib_dir),
            "the evaluation set {} overlaps the calibration folder {}: evaluate on held-out images",
            eval.display(),
            calib_dir.display()
        );
    }
    let files = calibration_images(calib_dir, args.calib_limit)?;
    let spinner = crate::models::spinner(&format!("loading {}", src.id));
    let prepared = oar_compiler::prepare_for_int8(src);
    spinner.finish_and_clear();
    let mut prepared = prepared.with_context(|| format!("cannot load {}", src.path.display()))?;
    let float = quant::float_reference(prepared.typed.clone())?;

    let (stats, used, skipped) = calibrate(&prepared, &files)?;
    for (p, e) in &skipped {
        eprintln!("warning: skipped calibration image {}: {e}", p.display());
    }
    let opts = QuantOptions { method: args.method, percentile: args.percentile, matmuls: args.int8_matmul, kxk: !args.float_kxk, ..Default::default() };
    let (mut model, mut report) = quant::quantize_with(prepared.typed.clone(), &stats, used, &opts)?;

    let evaluator = match &args.eval {
        Some(set) => {
            let s = crate::models::spinner("loading the evaluation set");
            let e = oar_eval::evaluator_with_labels(&prepared.manifest, prepared.labels.as_deref(), set, &float, Some(args.eval_limit));
            s.finish_and_clear();
            Some(e.with_context(|| format!("cannot evaluate on {}", set.display()))?)
        }
        None => None,
    };
    let mut mixed_table = None;
    if let (Some(budget), Some(ev)) = (args.budget, &evaluator) {
        let (m, r, table) = mixed_precision(&prepared, &stats, &opts, &report, &model, ev.as_ref(), budget, args.prefer)?;
        (model, report, mixed_table) = (m, r, Some(table));
    }
    if !args.float_weights {
        let stored = quant::store_weights_int8(&mut model).context("storing float layers' weights as int8")?;
        if !stored.is_empty() {
            println!("{} float layers store their weights as int8 (f32 again on load; --float-weights keeps f32)", stored.len());
        }
        report.weights_int8_storage = stored;
    }
    let mut quant_table = report.to_toml();
    if !skipped.is_empty() {
        let list: Vec<toml::Value> = skipped.iter().map(|(p, _)| p.display().to_string().into()).collect();
        quant_table.insert("skipped_calibration_images".into(), list.into());
    }
    if let Some(t) = mixed_table {
        quant_table.insert("mixed_precision".into(), t.into());
    }
    prepared.manifest.quantization = Some(quant_table);
    print_layers(&report);

    if let Some(ev) = &evaluator {
        let s = crate::models::spinner("evaluating float and int8");
        let float = ev.evaluate(&float);
        let int8 = float.and_then(|f| ev.evaluate(&model).map(|q| (f, q)));
        s.finish_and_clear();
        let (float, int8) = int8.context("evaluation failed")?;
        print_accuracy(ev.metric(), &float, &int8);
        prepared.manifest.accuracy = Some(accuracy_table(args, ev.metric(), &float, &int8));
    }

    let spinner = crate::models::spinner("writing the plan");
    let compiled = oar_compiler::emit(&prepared, &model, out);
    spinner.finish_and_clear();
    let compiled = compiled.with_context(|| format!("cannot write {}", out.display()))?;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: int8 {} plan ({}), {:.2} MB, {} of {} layers int8, NNEF round trip max abs error {:.2e}",
        out.display(),
        compiled.manifest.model.task,
        args.method.name(),
        size as f64 / 1e6,
        report.int8_layers(),
        report.layers.len(),
        compiled.check_error.iter().cloned().fold(0.0, f32::max)
    );
    Ok(())
}

/// Measures each layer alone, chooses within the budget, checks the combination (dropping the
/// last-chosen layers while it exceeds the budget) and quantizes the chosen layers.
#[allow(clippy::too_many_arguments)]
fn mixed_precision(
    prepared: &Prepared,
    stats: &quant::Calibration,
    opts: &QuantOptions,
    full: &QuantReport,
    int8: &TypedModel,
    ev: &dyn Evaluator,
    budget: f64,
    prefer: Prefer,
) -> Result<(TypedModel, QuantReport, toml::Table)> {
    let input = oar_compiler::seeded_input(&oar_compiler::typical_input_shape(&prepared.manifest.input), 1);
    let bar = bar(full.int8_layers(), "measuring layers");
    let mut score = |m: &TypedModel| ev.evaluate(m).map(|x| x.primary).map_err(|e| format!("{e:#}"));
    let mut progress = |_: &str| bar.inc(1);
    let (float_score, costs) =
        mixed::measure(&prepared.typed, full, int8, stats, opts, &input, &mut score, &mut progress)?;
    bar.finish_and_clear();
    let mut chosen = mixed::choose(&costs, budget, prefer);
    let (model, report, loss) = loop {
        let o = QuantOptions { layers: Some(chosen.clone()), ..opts.clone() };
        let (m, r) = quant::quantize_with(prepared.typed.clone(), stats, full.calibration_inputs, &o)?;
        let loss = if chosen.is_empty() { 0.0 } else { float_score - ev.evaluate(&m)?.primary };
        if loss <= budget || chosen.is_empty() {
            break (m, r, loss);
        }
        log::info!("{} layers together lose {loss:.2} points > {budget}: dropping {}", chosen.len(), chosen.last().unwrap());
        chosen.pop();
    };
    println!("\n# mixed precision ({} {:.2} float; budget {budget} points, prefer {prefer:?})", ev.metric(), float_score);
    println!("{:40} {:>8} {:>9} {:>9} {:>6}", "layer", "cost", "float ms", "int8 ms", "int8");
    for c in &costs {
        println!("{:40} {:>8.2} {:>9.3} {:>9.3} {:>6}", c.name, c.cost, c.float_ms, c.int8_ms, if chosen.contains(&c.name) { "yes" } else { "no" });
    }
    println!("chosen: {} layers int8, measured loss together {loss:.2} points\n", chosen.len());
    let mut t = toml::Table::new();
    t.insert("budget".into(), budget.into());
    t.insert("prefer".into(), format!("{prefer:?}").to_lowercase().into());
    t.insert("metric".into(), ev.metric().into());
    t.insert("float".into(), float_score.into());
    t.insert("measured_loss".into(), loss.into());
    t.insert("chosen".into(), chosen.iter().map(|c| toml::Value::from(c.as_str())).collect::<Vec<_>>().into());
    let per_layer: Vec<toml::Value> = costs
        .iter()
        .map(|c| {
            let mut e = toml::Table::new();
            e.insert("name".into(), c.name.clone().into());
            e.insert("cost".into(), c.cost.into());
            e.insert("float_ms".into(), c.float_ms.into());
            e.insert("int8_ms".into(), c.int8_ms.into());
            e.insert("int8".into(), chosen.contains(&c.name).into());
            toml::Value::Table(e)
        })
        .collect();
    t.insert("layers".into(), per_layer.into());
    Ok((model, report, t))
}

fn print_layers(report: &QuantReport) {
    let float: Vec<_> = report.layers.iter().filter(|l| l.float_reason.is_some()).collect();
    println!("{} layers int8, {} kept float", report.int8_layers(), float.len());
    let mut reasons: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for l in &float {
        reasons.entry(l.float_reason.as_deref().unwrap_or("")).or_default().push(&l.name);
    }
    for (why, names) in reasons {
        let shown: Vec<&str> = names.iter().take(6).copied().collect();
        let more = if names.len() > 6 { format!(" … (+{})", names.len() - 6) } else { String::new() };
        println!("  float ({why}): {} layers: {}{more}", names.len(), shown.join(", "));
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

fn accuracy_table(args: &Int8Args, metric: &str, float: &Metrics, int8: &Metrics) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("set".into(), args.eval.as_ref().map(|p| p.display().to_string()).unwrap_or_default().into());
    t.insert("metric".into(), metric.into());
    t.insert("float".into(), float.to_toml().into());
    t.insert("int8".into(), int8.to_toml().into());
    t.insert("loss".into(), (float.primary - int8.primary).into());
    t
}
