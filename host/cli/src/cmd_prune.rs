//! `oar prune` and `oar sensitivity`: structured filter pruning of a model, by ratio, FLOPs target
//! or accuracy budget, and the per-group sensitivity scan the budget is fitted on.

use crate::models::{self, Zoo};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use oar_compiler::prune::scan::{self, Judge, Sensitivity, SCAN_RATIOS};
use oar_compiler::prune::ModelProto;
use oar_compiler::prune::{self, Criterion, PruneError, PruneOptions, Pruned, Ratios};
use oar_compiler::{typed_model, typed_model_at, typical_input_shape, SourceModel};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct ModelArgs {
    /// Registry id, or a path to an .onnx file (then give --like).
    pub model: String,
    /// For an ONNX file: take task, input spec and post-processing from this registry model.
    #[arg(long)]
    pub like: Option<String>,
    /// How filters are ranked: l1 (weight magnitude) or fpgm (distance to the geometric median).
    #[arg(long, default_value = "l1")]
    pub criterion: Criterion,
    /// Evaluation set (labels.jsonl of scenes, a PaddleOCR label file, COCO JSON, or an image
    /// folder for detectors). Split in two halves: the scan and the budget are fitted on one,
    /// and the loss is reported on the other, which they never saw.
    #[arg(long)]
    pub eval: Option<PathBuf>,
    /// Use at most this many images of the evaluation set.
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("amount").required(true).args(["ratio", "flops", "budget"])))]
pub struct PruneArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Remove this fraction of the filters of every prunable group.
    #[arg(long)]
    pub ratio: Option<f32>,
    /// Remove at least this fraction of the FLOPs (one ratio for every group, the smallest that does).
    #[arg(long)]
    pub flops: Option<f64>,
    /// Lose at most this many metric points on --eval, removing as many FLOPs as the scan allows.
    #[arg(long)]
    pub budget: Option<f64>,
    /// With --budget: a sensitivity scan saved by `oar sensitivity -o` instead of a new scan.
    #[arg(long)]
    pub scan: Option<PathBuf>,
    /// Output files: .onnx (the pruned ONNX model) and/or .oar (compiled to a plan).
    #[arg(short, long, required = true)]
    pub out: Vec<PathBuf>,
}

#[derive(Args)]
pub struct SensitivityArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Ratios to try for each group.
    #[arg(long, value_delimiter = ',', default_values_t = SCAN_RATIOS.to_vec())]
    pub ratios: Vec<f32>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also save the scan as JSON (for `oar prune --budget --scan FILE`).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

/// Scores a candidate (not optimised yet) in points, higher is better.
type Metric = Box<dyn Fn(&oar_plan::tract::TypedModel) -> Result<f64, String>>;

/// A model ready for pruning: its source, its ONNX graph and what it is measured with.
struct Subject {
    src: SourceModel,
    proto: ModelProto,
    /// The metric's name and how to score a candidate, on the fitting half of the set.
    evaluator: Option<(String, Metric)>,
    /// The same metric on the held-out half.
    held_out: Option<Metric>,
}

/// The shared evaluator (`oar-eval`) of `--eval SET` for the registry model `id`, from its float
/// plan (task, labels and reference model).
fn evaluator(zoo: &Zoo, id: &str, set: &Path, limit: Option<usize>, part: oar_eval::Part) -> Result<(String, Metric)> {
    let plan = oar_plan::Plan::read(zoo.plan(id)?)?;
    let e = oar_eval::evaluator_for_plan_part(&plan, set, limit, part).with_context(|| format!("cannot evaluate on {}", set.display()))?;
    if e.samples() < 2 {
        bail!("{}: {} image(s) in the {part:?} half; pruning fits on one half of the set and reports on the other: give at least 4 images", set.display(), e.samples());
    }
    let name = e.metric().to_string();
    log::info!("{part:?} half of {}: {} images", set.display(), e.samples());
    Ok((name, Box::new(move |m| e.evaluate(m).map(|r| r.primary).map_err(|e| e.to_string()))))
}

impl Subject {
    fn open(args: &ModelArgs) -> Result<Subject> {
        let zoo = Zoo::open()?;
        let src = models::source(&zoo, &args.model, args.like.as_deref())?;
        let proto = onnx_proto(&src)?;
        let id = args.like.as_deref().unwrap_or(&args.model);
        let fit = args
            .eval
            .as_deref()
            .map(|set| evaluator(&zoo, id, set, args.limit, oar_eval::Part::Fit))
            .transpose()?;
        let held_out = args
            .eval
            .as_deref()
            .map(|set| evaluator(&zoo, id, set, args.limit, oar_eval::Part::HeldOut).map(|e| e.1))
            .transpose()?;
        let evaluator = fit;
        Ok(Subject {
            src,
            proto,
            evaluator,
            held_out,
        })
    }

    fn metric_name(&self) -> &str {
        self.evaluator
            .as_ref()
            .map(|(name, _)| name.as_str())
            .unwrap_or("metric")
    }

    fn cost(&self, model: &ModelProto) -> Result<prune::cost::ModelCost, PruneError> {
        let typed = typed_model_at(model, &typical_input_shape(self.src.input.image(&self.src.path).map_err(|e| PruneError::Model(e.to_string()))?), &self.src.path)
            .map_err(|e| PruneError::Model(e.to_string()))?;
        prune::cost::model_cost(&typed).map_err(|e| PruneError::Model(format!("{e:#}")))
    }
}

impl Judge for Subject {
    fn metric(&self, model: &ModelProto) -> Result<f64, PruneError> {
        let (_, score) = self
            .evaluator
            .as_ref()
            .ok_or_else(|| PruneError::Eval("no evaluation set (--eval)".into()))?;
        let typed = typed_model(model, self.src.input.image(&self.src.path).map_err(|e| PruneError::Eval(e.to_string()))?, &self.src.path)
            .map_err(|e| PruneError::Eval(e.to_string()))?;
        score(&typed).map_err(PruneError::Eval)
    }

    fn flops(&self, model: &ModelProto) -> Result<f64, PruneError> {
        Ok(self.cost(model)?.flops)
    }
}

fn progress_bar(what: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

fn run_scan(subject: &Subject, criterion: Criterion, ratios: &[f32]) -> Result<Sensitivity> {
    let bar = progress_bar("sensitivity");
    let scan = scan::sensitivity(
        &subject.proto,
        criterion,
        ratios,
        subject,
        &mut |done, total, what| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(what.to_string());
        },
    );
    bar.finish_and_clear();
    Ok(scan?)
}

pub fn sensitivity(args: &SensitivityArgs) -> Result<ExitCode> {
    if args.model.eval.is_none() {
        bail!("a sensitivity scan measures the metric: give --eval SET");
    }
    if let Some(r) = args.ratios.iter().find(|r| !(**r > 0.0 && **r < 1.0)) {
        bail!("ratio {r} is outside (0, 1)");
    }
    let subject = Subject::open(&args.model)?;
    let scan = run_scan(&subject, args.model.criterion, &args.ratios)?;
    let json = serde_json::to_string_pretty(&scan)?;
    if let Some(out) = &args.out {
        write_atomic(out, json.as_bytes())?;
    }
    if args.json {
        println!("{json}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {} {:.2} before pruning, {:.2} GFLOPs; loss in points when each group alone loses a ratio of its filters ({})\n",
        args.model.model,
        subject.metric_name(),
        scan.baseline,
        scan.flops / 1e9,
        scan.criterion
    );
    print!("{:32} {:>5} {:>5}", "group", "convs", "ch");
    for r in &args.ratios {
        print!(" {:>7}", format!("{r}"));
    }
    println!(" {:>9}", "FLOPs@max");
    for g in &scan.groups {
        print!(
            "{:32} {:>5} {:>5}",
            truncate(&g.name, 32),
            g.convs.len(),
            g.channels
        );
        for p in &g.points {
            print!(" {:>7.2}", p.loss);
        }
        let saved = g
            .points
            .last()
            .map(|p| p.flops_saved / scan.flops * 100.0)
            .unwrap_or(0.0);
        println!(" {:>8.1}%", saved);
    }
    let analysis = prune::analyse(&subject.proto)?;
    let blocked = prune::blocked_list(&analysis);
    if !blocked.is_empty() {
        println!("\nleft alone:\n{blocked}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn prune(args: &PruneArgs) -> Result<ExitCode> {
    for out in &args.out {
        match out.extension().and_then(|e| e.to_str()) {
            Some("onnx") | Some("oar") => {}
            _ => bail!(
                "{}: the output must be an .onnx or an .oar file",
                out.display()
            ),
        }
    }
    if args.budget.is_some() && args.model.eval.is_none() {
        bail!("--budget is in points of the evaluation metric: give --eval SET");
    }
    if let Some(r) = args.ratio {
        if !(r > 0.0 && r < 1.0) {
            bail!("--ratio {r} is outside (0, 1)");
        }
    }
    let subject = Subject::open(&args.model)?;
    let criterion = args.model.criterion;
    let ratios = if let Some(r) = args.ratio {
        Ratios::Uniform(r)
    } else if let Some(f) = args.flops {
        Ratios::Uniform(scan::ratio_for_flops(
            &subject.proto,
            criterion,
            f,
            &subject,
        )?)
    } else {
        let budget = args
            .budget
            .expect("clap requires one of ratio, flops, budget");
        let sens = match &args.scan {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let s: Sensitivity = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a sensitivity scan", path.display()))?;
                if s.criterion != criterion.to_string() {
                    bail!(
                        "{}: a scan for criterion {}, not {criterion}",
                        path.display(),
                        s.criterion
                    );
                }
                s
            }
            None => run_scan(&subject, criterion, &SCAN_RATIOS)?,
        };
        Ratios::PerGroup(fit_and_check(&subject, &sens, budget)?)
    };
    let opts = PruneOptions { criterion, ratios };
    let pruned = prune::prune(&subject.proto, &opts)?;
    report(&subject, &pruned, args.budget)?;
    write_outputs(&subject.src, &pruned.model, &args.out)?;
    Ok(ExitCode::SUCCESS)
}

/// The source model's ONNX protobuf: pruning rewrites ONNX graphs only.
fn onnx_proto(src: &SourceModel) -> Result<ModelProto> {
    if src.format != oar_compiler::SourceFormat::Onnx {
        bail!("model `{}` is a TensorFlow graph; pruning works on ONNX models only", src.id);
    }
    Ok(oar_compiler::read_onnx(&src.path)?)
}

/// `oar compile --prune RATIO`: the source model pruned, in a temporary ONNX file that must live
/// while the source is compiled (int8 or float, whatever follows).
pub fn pruned_source(src: SourceModel, ratio: f32, criterion: Criterion) -> Result<(SourceModel, tempfile::NamedTempFile)> {
    let proto = onnx_proto(&src)?;
    let pruned = prune::prune(&proto, &PruneOptions { criterion, ratios: Ratios::Uniform(ratio) })?;
    let removed: usize = pruned.groups.iter().map(|g| g.removed).sum();
    let total: usize = pruned.groups.iter().map(|g| g.channels).sum();
    eprintln!("pruned {removed} of {total} prunable channels in {} groups ({criterion})", pruned.groups.len());
    let file = tempfile::Builder::new().suffix(".onnx").tempfile().context("cannot create a temporary file")?;
    oar_compiler::write_onnx(&pruned.model, file.path())?;
    let mut src = src;
    src.origin = format!("{} pruned ({criterion}, ratio {ratio})", src.origin);
    src.path = file.path().to_path_buf();
    Ok((src, file))
}

/// Fits the budget on the scan and checks it on the evaluation set (see [`scan::fit_measured`]).
fn fit_and_check(
    subject: &Subject,
    sens: &Sensitivity,
    budget: f64,
) -> Result<std::collections::BTreeMap<String, f32>> {
    let criterion: Criterion = sens.criterion.parse().map_err(anyhow::Error::msg)?;
    let bar = progress_bar("budget fit");
    let mut measure = |ratios: &std::collections::BTreeMap<String, f32>| -> Result<f64, PruneError> {
        let opts = PruneOptions { criterion, ratios: Ratios::PerGroup(ratios.clone()) };
        let pruned = prune::prune(&subject.proto, &opts)?;
        Ok(sens.baseline - subject.metric(&pruned.model)?)
    };
    let fitted = scan::fit_measured(sens, budget, &mut measure, &mut |done, total, what| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(what.to_string());
    });
    bar.finish_and_clear();
    let (chosen, loss) = fitted?;
    eprintln!("{} groups pruned; measured loss {loss:.2} points (budget {budget})", chosen.len());
    Ok(chosen)
}

fn report(subject: &Subject, pruned: &Pruned, budget: Option<f64>) -> Result<()> {
    let before = subject.cost(&subject.proto)?;
    let after = subject.cost(&pruned.model)?;
    println!("{:32} {:>5} {:>8}", "group", "convs", "channels");
    for g in &pruned.groups {
        println!(
            "{:32} {:>5} {:>4} → {:<4}",
            truncate(&g.name, 32),
            g.convs.len(),
            g.channels,
            g.channels - g.removed
        );
    }
    let shape = typical_input_shape(subject.src.input.image(&subject.src.path)?);
    println!(
        "params {} → {} ({:+.1}%), GFLOPs at {:?} {:.3} → {:.3} ({:+.1}%)",
        before.params,
        after.params,
        pct(after.params as f64, before.params as f64),
        shape,
        before.flops / 1e9,
        after.flops / 1e9,
        pct(after.flops, before.flops)
    );
    if let Some(held) = &subject.held_out {
        let (m0, m1) = (
            subject.metric(&subject.proto)?,
            subject.metric(&pruned.model)?,
        );
        let typed = |m: &ModelProto| typed_model(m, subject.src.input.image(&subject.src.path)?, &subject.src.path).map_err(|e| anyhow::anyhow!("{e}"));
        let (h0, h1) = (
            held(&typed(&subject.proto)?).map_err(anyhow::Error::msg)?,
            held(&typed(&pruned.model)?).map_err(anyhow::Error::msg)?,
        );
        println!(
            "{}: fitting half {m0:.2} → {m1:.2} ({:+.2} points); held-out half {h0:.2} → {h1:.2} ({:+.2} points)",
            subject.metric_name(),
            m1 - m0,
            h1 - h0
        );
        if let Some(b) = budget {
            if h0 - h1 > b + 0.5 {
                eprintln!(
                    "warning: the held-out half loses {:.2} points, more than the budget of {b} (+0.5): the set is too small for the \
                     scan to tell groups apart at this budget; give more images (--eval, --limit) or a lower --budget",
                    h0 - h1
                );
            }
        }
    }
    Ok(())
}

/// Writes the pruned model to each output; plans go through the compiler (and its check).
fn write_outputs(src: &SourceModel, model: &ModelProto, outs: &[PathBuf]) -> Result<()> {
    let onnx_out = outs
        .iter()
        .find(|o| o.extension().is_some_and(|e| e == "onnx"));
    let tmp;
    let onnx_path: &Path = match onnx_out {
        Some(p) => {
            oar_compiler::write_onnx(model, p)?;
            println!("{}: pruned ONNX model", p.display());
            p
        }
        None => {
            let dir = outs[0]
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            tmp = tempfile::Builder::new()
                .suffix(".onnx")
                .tempfile_in(dir)
                .context("cannot create a temporary file")?;
            oar_compiler::write_onnx(model, tmp.path())?;
            tmp.path()
        }
    };
    for out in outs
        .iter()
        .filter(|o| o.extension().is_some_and(|e| e == "oar"))
    {
        let mut s = src.clone();
        s.path = onnx_path.to_path_buf();
        s.origin = format!("{} pruned", src.origin);
        let compiled = oar_compiler::compile(&s, out)
            .with_context(|| format!("cannot compile the pruned model to {}", out.display()))?;
        println!(
            "{}: plan, checked against the pruned ONNX graph (max abs error {:.2e})",
            out.display(),
            compiled.check_error.iter().cloned().fold(0.0, f32::max)
        );
    }
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

fn pct(after: f64, before: f64) -> f64 {
    (after / before - 1.0) * 100.0
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}
