//! `oar ocr`: read the text in images.

use crate::models::Zoo;
use anyhow::{Context, Result};
use oar_plan::Engine;
use oar_vision::{Ocr, OcrOptions, Rgb, Task};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct OcrArgs {
    /// Images (PNG, JPEG, BMP).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// One JSON object per image on stdout.
    #[arg(long)]
    json: bool,
    /// Detector: registry id or .oar plan.
    #[arg(long, default_value = "ppocr-v4-det")]
    det: String,
    /// Direction classifier: registry id or .oar plan.
    #[arg(long, default_value = "ppocr-v2-cls")]
    cls: String,
    /// Recogniser: registry id or .oar plan.
    #[arg(long, default_value = "ppocr-v4-rec")]
    rec: String,
    /// Read each whole image as one text line (no detection).
    #[arg(long)]
    no_det: bool,
    /// Skip the direction classifier.
    #[arg(long)]
    no_cls: bool,
    /// Binarisation threshold of the detector's probability map (default: the plan's, 0.3).
    #[arg(long)]
    thresh: Option<f32>,
    /// Minimum mean probability inside a box (default: the plan's, 0.5).
    #[arg(long)]
    box_thresh: Option<f32>,
    /// Box growth ratio (default: the plan's, 1.6).
    #[arg(long)]
    unclip_ratio: Option<f64>,
    /// Minimum box short side, in probability-map pixels (default: the plan's, 3).
    #[arg(long)]
    min_size: Option<f64>,
    /// Drop lines read with less confidence than this.
    #[arg(long, default_value_t = 0.5)]
    text_score: f32,
    /// Threads for tract's matrix products.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn task(zoo: &Zoo, what: &str) -> Result<Task> {
    let path = zoo.plan(what)?;
    let engine = Engine::load(&path)?;
    Ok(Task::from_engine(engine)?)
}

pub fn run(args: &OcrArgs) -> Result<ExitCode> {
    oar_plan::set_threads(args.threads);
    let zoo = Zoo::open()?;
    let det = if args.no_det { None } else { Some(task(&zoo, &args.det).context("detector")?) };
    let cls = if args.no_cls { None } else { Some(task(&zoo, &args.cls).context("direction classifier")?) };
    let rec = task(&zoo, &args.rec).context("recogniser")?;
    let options = OcrOptions { text_score: args.text_score, ..OcrOptions::default() };
    let mut ocr = Ocr::new(det, cls, rec, options)?;
    let p = &mut ocr.options.det;
    p.thresh = args.thresh.unwrap_or(p.thresh);
    p.box_thresh = args.box_thresh.unwrap_or(p.box_thresh);
    p.unclip_ratio = args.unclip_ratio.unwrap_or(p.unclip_ratio);
    p.min_size = args.min_size.unwrap_or(p.min_size);

    let mut failed = 0;
    for path in &args.images {
        let result = Rgb::open(path).map_err(anyhow::Error::from).and_then(|img| Ok(ocr.read(&img)?));
        match result {
            Ok(lines) => print_lines(path, &lines, args.json),
            Err(e) => {
                failed += 1;
                eprintln!("error: {e:#}");
                if args.json {
                    println!("{}", serde_json::json!({ "path": path, "error": format!("{e:#}") }));
                }
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} images failed", args.images.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_lines(path: &std::path::Path, lines: &[oar_vision::TextLine], json: bool) {
    if json {
        let lines: Vec<_> = lines
            .iter()
            .map(|l| serde_json::json!({ "box": l.points, "text": l.text, "score": l.score }))
            .collect();
        println!("{}", serde_json::json!({ "path": path, "lines": lines }));
        return;
    }
    println!("{}", path.display());
    for l in lines {
        let b: Vec<String> = l.points.iter().map(|p| format!("{:.0},{:.0}", p[0], p[1])).collect();
        println!("  [{}] {:.3} {}", b.join(" "), l.score, l.text);
    }
}
