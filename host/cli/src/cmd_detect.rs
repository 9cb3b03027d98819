//! `oar detect`: objects (or layout regions) in images, with a PicoDet or SSD plan.

use crate::images;
use crate::models::Zoo;
use anyhow::{Context, Result};
use oar_vision::object_det::{detect, DetectParams, Detection};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DetectArgs {
    /// Images (PNG, JPEG, BMP).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Detector: registry id or .oar plan.
    #[arg(long, default_value = "picodet-layout-cdla")]
    pub model: String,
    /// One JSON object per image on stdout: {"path", "detections": [{"bbox", "class", "label", "score"}]}.
    #[arg(long)]
    pub json: bool,
    /// Minimum class score (default: the plan's).
    #[arg(long)]
    pub score_thresh: Option<f32>,
    /// NMS IoU threshold (default: the plan's).
    #[arg(long)]
    pub nms_iou: Option<f32>,
    /// Threads for tract's matrix products.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

pub fn run(args: &DetectArgs) -> Result<ExitCode> {
    oar_plan::set_threads(args.threads);
    let zoo = Zoo::open()?;
    let task = zoo.task(&args.model).with_context(|| format!("detector {}", args.model))?;
    anyhow::ensure!(
        task.task == oar_plan::Task::ObjectDetection,
        "{}: a `{}` model, expected `object-detection`",
        args.model,
        task.task
    );
    let mut params = DetectParams::from_table(&task.post)?;
    match &mut params {
        DetectParams::PicoDet(p) => {
            p.score_thresh = args.score_thresh.unwrap_or(p.score_thresh);
            p.nms_iou = args.nms_iou.unwrap_or(p.nms_iou);
        }
        DetectParams::Ssd(p) => {
            p.score_thresh = args.score_thresh.unwrap_or(p.score_thresh);
            p.nms_iou = args.nms_iou.unwrap_or(p.nms_iou);
        }
    }

    Ok(images::for_each(&args.images, args.json, |path, img| {
        let dets = detect(&*task.model, &task.spec, &params, img)?;
        print_detections(path, &dets, &task.labels, args.json);
        Ok(())
    }))
}

fn label(labels: &[String], class: u32) -> String {
    labels.get(class as usize).cloned().unwrap_or_else(|| class.to_string())
}

/// Boxes rounded to 1/1000 px and scores to 1e-5 (the reference JSON's precision).
fn print_detections(path: &Path, dets: &[Detection], labels: &[String], json: bool) {
    let r = |v: f32, k: f64| ((v as f64) * k).round() / k;
    if json {
        let dets: Vec<_> = dets
            .iter()
            .map(|d| {
                serde_json::json!({
                    "bbox": d.bbox.map(|v| r(v, 1000.0)),
                    "class": d.class,
                    "label": label(labels, d.class),
                    "score": r(d.score, 1e5),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "path": path, "detections": dets }));
        return;
    }
    println!("{}", path.display());
    for d in dets {
        let [x1, y1, x2, y2] = d.bbox;
        println!("  {:<16} {:.3}  [{x1:.0},{y1:.0} {x2:.0},{y2:.0}]", label(labels, d.class), d.score);
    }
}
