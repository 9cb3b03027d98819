//! `oar classify`: the best classes of each image, with an image-classification plan.

use crate::images;
use crate::models::Zoo;
use anyhow::{Context, Result};
use oar_vision::classify::{classify, ClassifyParams};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ClassifyArgs {
    /// Images (PNG, JPEG, BMP).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Classifier: registry id or .oar plan.
    #[arg(long, default_value = "lcnet-orientation")]
    pub model: String,
    /// One JSON object per image on stdout: {"path", "top": [{"class", "label", "prob"}]}.
    #[arg(long)]
    pub json: bool,
    /// How many classes to report (default: the plan's).
    #[arg(long)]
    pub top: Option<usize>,
    /// Threads for tract's matrix products.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

pub fn run(args: &ClassifyArgs) -> Result<ExitCode> {
    oar_plan::set_threads(args.threads);
    let zoo = Zoo::open()?;
    let task = zoo.task(&args.model).with_context(|| format!("classifier {}", args.model))?;
    anyhow::ensure!(
        task.task == oar_plan::Task::ImageClassification,
        "{}: a `{}` model, expected `image-classification`",
        args.model,
        task.task
    );
    let mut params = ClassifyParams::from_table(&task.post)?;
    params.top_k = args.top.unwrap_or(params.top_k).max(1);

    Ok(images::for_each(&args.images, args.json, |path, img| {
        let top = classify(&*task.model, &task.spec, &params, img)?;
        print_top(path, &top, &task.labels, args.json);
        Ok(())
    }))
}

fn print_top(path: &Path, top: &[(usize, f32)], labels: &[String], json: bool) {
    let label = |c: usize| labels.get(c).cloned().unwrap_or_else(|| c.to_string());
    if json {
        let top: Vec<_> = top
            .iter()
            .map(|&(c, p)| serde_json::json!({ "class": c, "label": label(c), "prob": ((p as f64) * 1e6).round() / 1e6 }))
            .collect();
        println!("{}", serde_json::json!({ "path": path, "top": top }));
        return;
    }
    let parts: Vec<String> = top.iter().map(|&(c, p)| format!("{} {:.4}", label(c), p)).collect();
    println!("{}  {}", path.display(), parts.join("  "));
}
