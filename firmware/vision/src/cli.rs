//! What the host `oar` and the device `oar-edge` binaries share on the command line (feature
//! `cli`): the per-image loop and the `ocr` subcommand (arguments, pipeline set-up, output). The
//! two binaries differ only in how a plan name becomes a loaded plan (`load` below): the host
//! fetches and compiles registry models, the device only opens plan files.

use crate::text_det::DbParams;
use crate::{Ocr, OcrOptions, Rgb, Task, TextLine, VisionError};
use std::fmt::Display;
use std::path::{Path, PathBuf};

/// Decodes each image and hands it to `work`. A failure is reported on stderr (and, with `json`,
/// as `{"path", "error"}` on stdout) and the other images are still processed. Returns the number
/// of images that failed.
pub fn for_each_image<E>(images: &[PathBuf], json: bool, mut work: impl FnMut(&Path, &Rgb) -> Result<(), E>) -> usize
where
    E: From<VisionError> + Display,
{
    let mut failed = 0;
    for path in images {
        let result = Rgb::open(path).map_err(|e| E::from(e.into())).and_then(|img| work(path, &img));
        if let Err(e) = result {
            failed += 1;
            eprintln!("error: {e:#}");
            if json {
                println!("{}", serde_json::json!({ "path": path, "error": format!("{e:#}") }));
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} images failed", images.len());
    }
    failed
}

/// `ocr`: detect (DB) → direction (cls) → recognise (CTC).
#[derive(clap::Args, Debug)]
pub struct OcrArgs {
    /// Images (PNG, JPEG, BMP).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// One JSON object per image on stdout.
    #[arg(long)]
    pub json: bool,
    /// Detector: model id (host: registry id; device: $OAR_HOME/plans/ID.oar) or .oar plan file.
    #[arg(long, default_value = "ppocr-v4-det")]
    pub det: String,
    /// Direction classifier: model id or .oar plan file.
    #[arg(long, default_value = "ppocr-v2-cls")]
    pub cls: String,
    /// Recogniser: model id or .oar plan file.
    #[arg(long, default_value = "ppocr-v4-rec")]
    pub rec: String,
    /// Read each whole image as one text line (no detection).
    #[arg(long)]
    pub no_det: bool,
    /// Skip the direction classifier.
    #[arg(long)]
    pub no_cls: bool,
    /// Binarisation threshold of the detector's probability map (default: the plan's, 0.3).
    #[arg(long)]
    pub thresh: Option<f32>,
    /// Minimum mean probability inside a box (default: the plan's, 0.5).
    #[arg(long)]
    pub box_thresh: Option<f32>,
    /// Box growth ratio (default: the plan's, 1.6).
    #[arg(long)]
    pub unclip_ratio: Option<f64>,
    /// Minimum box short side, in probability-map pixels (default: the plan's, 3).
    #[arg(long)]
    pub min_size: Option<f64>,
    /// Drop lines read with less confidence than this.
    #[arg(long, default_value_t = 0.5)]
    pub text_score: f32,
    /// Threads for tract's matrix products.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

impl OcrArgs {
    /// Loads the plans with `load(name, role)` (role: "detector", "direction classifier",
    /// "recogniser"), reads every image and prints its lines. Returns the number of images that failed.
    pub fn run<E>(&self, load: impl Fn(&str, &str) -> Result<Task, E>) -> Result<usize, E>
    where
        E: From<VisionError> + Display,
    {
        oar_plan::set_threads(self.threads);
        let det = if self.no_det { None } else { Some(load(&self.det, "detector")?) };
        let cls = if self.no_cls { None } else { Some(load(&self.cls, "direction classifier")?) };
        let rec = load(&self.rec, "recogniser")?;
        let options = OcrOptions { text_score: self.text_score, ..OcrOptions::default() };
        let mut ocr = Ocr::new(det, cls, rec, options)?;
        self.override_db(&mut ocr.options.det);
        ocr.options.det.check()?;
        Ok(for_each_image(&self.images, self.json, |path, img| -> Result<(), E> {
            println!("{}", format_lines(path, &ocr.read(img)?, self.json));
            Ok(())
        }))
    }

    /// Command-line thresholds win over the detector plan's.
    fn override_db(&self, p: &mut DbParams) {
        p.thresh = self.thresh.unwrap_or(p.thresh);
        p.box_thresh = self.box_thresh.unwrap_or(p.box_thresh);
        p.unclip_ratio = self.unclip_ratio.unwrap_or(p.unclip_ratio);
        p.min_size = self.min_size.unwrap_or(p.min_size);
    }
}

/// One image's lines: `{"path", "lines": [{"box": [[x,y]×4], "text", "score"}]}` with `json`,
/// else the path then one `  [x,y ×4] score text` row per line.
pub fn format_lines(path: &Path, lines: &[TextLine], json: bool) -> String {
    if json {
        let lines: Vec<_> =
            lines.iter().map(|l| serde_json::json!({ "box": l.points, "text": l.text, "score": l.score })).collect();
        return serde_json::json!({ "path": path, "lines": lines }).to_string();
    }
    let mut out = path.display().to_string();
    for l in lines {
        let b: Vec<String> = l.points.iter().map(|p| format!("{:.0},{:.0}", p[0], p[1])).collect();
        out += &format!("\n  [{}] {:.3} {}", b.join(" "), l.score, l.text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ocr: OcrArgs,
    }

    fn line() -> TextLine {
        TextLine { points: [[1.0, 2.0], [30.4, 2.0], [30.4, 12.6], [1.0, 12.6]], text: "Hi \"x\"".into(), score: 0.75 }
    }

    #[test]
    fn json_has_the_documented_schema() {
        let s = format_lines(Path::new("a/b.png"), &[line()], true);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["path"], "a/b.png");
        assert_eq!(v["lines"][0]["text"], "Hi \"x\"");
        assert_eq!(v["lines"][0]["box"][2], serde_json::json!([30.4, 12.6]));
        assert!((v["lines"][0]["score"].as_f64().unwrap() - 0.75).abs() < 1e-9);
    }

    #[test]
    fn text_output_rounds_corners() {
        assert_eq!(format_lines(Path::new("x.jpg"), &[line()], false), "x.jpg\n  [1,2 30,2 30,13 1,13] 0.750 Hi \"x\"");
        assert_eq!(format_lines(Path::new("x.jpg"), &[], false), "x.jpg");
    }

    #[test]
    fn thresholds_override_only_when_given() {
        let cli = Cli::parse_from(["t", "--thresh", "0.2", "--min-size", "5", "img.png"]);
        let mut p = DbParams { box_thresh: 0.6, ..DbParams::default() };
        cli.ocr.override_db(&mut p);
        assert_eq!((p.thresh, p.box_thresh, p.min_size), (0.2, 0.6, 5.0));
        assert_eq!(cli.ocr.rec, "ppocr-v4-rec");
    }

    #[test]
    fn unreadable_images_are_counted_and_the_rest_processed() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.png");
        std::fs::write(&bad, b"not an image").unwrap();
        let good = dir.path().join("good.png");
        ::image::RgbImage::new(4, 3).save(&good).unwrap();
        let mut seen = vec![];
        let failed = for_each_image(&[bad, dir.path().join("missing.png"), good], false, |_, img| -> Result<(), VisionError> {
            seen.push((img.width, img.height));
            Ok(())
        });
        assert_eq!((failed, seen), (2, vec![(4, 3)]));
    }
}
