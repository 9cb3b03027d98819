//! `oar ocr`: read the text in images.

use crate::images;
use crate::models::Zoo;
use anyhow::{Context, Result};
use oar_vision::{Ocr, OcrOptions};
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

pub fn run(args: &OcrArgs) -> Result<ExitCode> {
    oar_plan::set_threads(args.threads);
    let zoo = Zoo::open()?;
    let det = if args.no_det { None } else { Some(zoo.task(&args.det).context("detector")?) };
    let cls = if args.no_cls { None } else { Some(zoo.task(&args.cls).context("direction classifier")?) };
    let rec = zoo.task(&args.rec).context("recogniser")?;
    let options = OcrOptions { text_score: args.text_score, ..OcrOptions::default() };
    let mut ocr = Ocr::new(det, cls, rec, options)?;
    let p = &mut ocr.options.det;
    p.thresh = args.thresh.unwrap_or(p.thresh);
    p.box_thresh = args.box_thresh.unwrap_or(p.box_thresh);
    p.unclip_ratio = args.unclip_ratio.unwrap_or(p.unclip_ratio);
    p.min_size = args.min_size.unwrap_or(p.min_size);

    Ok(images::for_each(&args.images, args.json, |path, img| {
        print_lines(path, &ocr.read(img)?, args.json);
        Ok(())
    }))
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
