//! `oar eval PLAN --set SET`: a plan's score on a held-out set with its task's metric, beside the
//! float plan's (against ground truth, or against the float model's outputs where the task has
//! no ground truth here: detectors and classifiers).

use crate::models::Zoo;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The plan to score (float, int8 or pruned), or a registry id (its float plan).
    pub plan: String,
    /// Evaluation set: labels.jsonl, a PaddleOCR label file, COCO JSON, class folders or an image folder.
    #[arg(long)]
    pub set: PathBuf,
    /// The float plan to compare with (default: the registry model the plan was made from).
    #[arg(long)]
    pub float: Option<String>,
    /// At most this many images of the set.
    #[arg(long)]
    pub limit: Option<usize>,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &EvalArgs) -> Result<ExitCode> {
    let zoo = Zoo::open()?;
    let path = zoo.plan(&args.plan)?;
    let plan = oar_plan::Plan::read(&path)?;
    let float_path = zoo.plan(args.float.as_deref().unwrap_or(&plan.manifest.model.id)).context("the float plan to compare with (--float)")?;
    let float_plan = oar_plan::Plan::read(&float_path)?;
    let evaluator = oar_eval::evaluator_for_plan(&float_plan, &args.set, args.limit).with_context(|| format!("cannot evaluate on {}", args.set.display()))?;
    let spinner = crate::models::spinner("evaluating");
    let float = evaluator.evaluate(&oar_plan::decode_model(&float_plan)?);
    let candidate = float.and_then(|f| Ok((f, evaluator.evaluate(&oar_plan::decode_model(&plan)?)?)));
    spinner.finish_and_clear();
    let (f, c) = candidate.with_context(|| format!("evaluating {} on {}", path.display(), args.set.display()))?;
    if args.json {
        let obj = |m: &oar_eval::Metrics| m.values.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>();
        let v = serde_json::json!({
            "plan": path, "float_plan": float_path, "set": args.set, "samples": evaluator.samples(),
            "metric": evaluator.metric(), "float": obj(&f), "plan_metrics": obj(&c), "loss": f.primary - c.primary,
        });
        println!("{}", serde_json::to_string(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("# {} on {} ({} samples; {})", path.display(), args.set.display(), evaluator.samples(), evaluator.metric());
    println!("{:28} {:>9} {:>9} {:>9}", "", "float", "plan", "delta");
    for (name, fv) in &f.values {
        let cv = c.get(name).unwrap_or(f64::NAN);
        println!("{name:28} {fv:>9.2} {cv:>9.2} {:>+9.2}", cv - fv);
    }
    Ok(ExitCode::SUCCESS)
}
