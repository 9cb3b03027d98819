//! The OCR pipeline: detect text boxes (DB), crop them, fix upside-down lines (direction
//! classifier), recognise (CTC) — the same steps and parameters as RapidOCR / PaddleOCR.

use crate::text_det::{detect, sort_reading_order, DbParams};
use crate::geometry::Pt;
use oar_io::Rgb;
use crate::rec::{classify_direction, recognize};
use crate::tensor::Model;
use crate::VisionError;
use oar_plan::{Engine, InputSpec};

/// A plan made ready for one task: the engine, its input spec, post-processing and labels.
pub struct Task {
    /// `Send` so that a pipeline stage can own it on its own thread.
    pub model: Box<dyn Model + Send>,
    pub spec: InputSpec,
    pub post: toml::Table,
    pub labels: Vec<String>,
    pub task: oar_plan::Task,
}

impl Task {
    pub fn from_engine(engine: Engine) -> Result<Task, VisionError> {
        let labels = engine.plan.labels()?.unwrap_or_default();
        let m = &engine.plan.manifest;
        let spec = m.image().map_err(|e| VisionError::Config(format!("{}: {e}", engine.plan.path.display())))?.clone();
        let (post, task) = (m.post.clone(), m.model.task);
        Ok(Task { model: Box::new(engine), spec, post, labels, task })
    }

    fn expect(&self, task: oar_plan::Task, role: &str) -> Result<(), VisionError> {
        if self.task != task {
            return Err(VisionError::Config(format!("the {role} plan is a `{}` model, expected `{task}`", self.task)));
        }
        Ok(())
    }
}

/// Pipeline settings (RapidOCR's defaults).
#[derive(Debug, Clone)]
pub struct OcrOptions {
    /// Lines whose recognition confidence is below this are dropped (with detection only).
    pub text_score: f32,
    /// Rotate a crop by 180° when the classifier says so with at least this probability.
    pub cls_thresh: f32,
    pub rec_batch: usize,
    pub cls_batch: usize,
    /// Images are scaled down so that their long side is at most this.
    pub max_side_len: usize,
    /// ... and up so that their short side is at least this.
    pub min_side_len: usize,
    /// Very flat images (height ≤ this, or width/height > `width_height_ratio`) get black bands
    /// above and below before detection.
    pub min_height: usize,
    pub width_height_ratio: f64,
    pub det: DbParams,
}

impl Default for OcrOptions {
    fn default() -> Self {
        OcrOptions {
            text_score: 0.5,
            cls_thresh: 0.9,
            rec_batch: 6,
            cls_batch: 6,
            max_side_len: 2000,
            min_side_len: 30,
            min_height: 30,
            width_height_ratio: 8.0,
            det: DbParams::default(),
        }
    }
}

/// One line of text: its box in the source image (tl, tr, br, bl), text and confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    pub points: [Pt; 4],
    pub text: String,
    pub score: f32,
}

/// Detector (optional), direction classifier (optional) and recogniser.
pub struct Ocr {
    pub det: Option<Task>,
    pub cls: Option<Task>,
    pub rec: Task,
    pub options: OcrOptions,
}

impl Ocr {
    /// Checks each plan has the expected task; DB parameters come from the detector plan.
    pub fn new(det: Option<Task>, cls: Option<Task>, rec: Task, mut options: OcrOptions) -> Result<Ocr, VisionError> {
        if let Some(d) = &det {
            d.expect(oar_plan::Task::TextDetection, "detector")?;
            options.det = DbParams::from_table(&d.post)?;
        }
        if let Some(c) = &cls {
            c.expect(oar_plan::Task::TextDirection, "direction classifier")?;
        }
        rec.expect(oar_plan::Task::TextRecognition, "recogniser")?;
        if rec.labels.is_empty() {
            return Err(VisionError::Config("the recogniser plan has no character dictionary".into()));
        }
        Ok(Ocr { det, cls, rec, options })
    }

    /// Reads the text of an image, in reading order.
    pub fn read(&self, image: &Rgb) -> Result<Vec<TextLine>, VisionError> {
        let o = &self.options;
        let (img, ratio_w, ratio_h) = fit_side_limits(image, o.max_side_len, o.min_side_len);
        let Some(det) = &self.det else {
            // Recognition only: the whole image is one line.
            let crops = self.fix_direction(vec![img])?;
            let (text, score) = recognize(&*self.rec.model, &self.rec.spec, &self.rec.labels, &crops, o.rec_batch)?
                .pop()
                .unwrap_or_default();
            let (w, h) = (image.width as f64, image.height as f64);
            return Ok(vec![TextLine { points: [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]], text, score }]);
        };
        let pad = letterbox_padding(img.width, img.height, o.min_height, o.width_height_ratio);
        let img = if pad > 0 { img.pad_vertical(pad, pad) } else { img };
        let mut boxes = detect(&*det.model, &det.spec, &o.det, &img)?;
        sort_reading_order(&mut boxes);
        let crops = self.fix_direction(boxes.iter().map(|b| crop_line(&img, &b.points)).collect())?;
        let reads = recognize(&*self.rec.model, &self.rec.spec, &self.rec.labels, &crops, o.rec_batch)?;
        let (raw_w, raw_h) = (image.width as f64, image.height as f64);
        Ok(boxes
            .iter()
            .zip(reads)
            .filter(|(_, (_, score))| *score >= o.text_score)
            .map(|(b, (text, score))| TextLine {
                points: b.points.map(|[x, y]| {
                    [(x * ratio_w).clamp(0.0, raw_w), ((y - pad as f64) * ratio_h).clamp(0.0, raw_h)]
                }),
                text,
                score,
            })
            .collect())
    }

    fn fix_direction(&self, mut crops: Vec<Rgb>) -> Result<Vec<Rgb>, VisionError> {
        let Some(cls) = &self.cls else { return Ok(crops) };
        let dirs = classify_direction(&*cls.model, &cls.spec, &crops, self.options.cls_batch)?;
        for (crop, (label, p)) in crops.iter_mut().zip(dirs) {
            let upside_down = cls.labels.get(label).is_some_and(|l| l.contains("180"));
            if upside_down && p > self.options.cls_thresh {
                *crop = crop.rotate180();
            }
        }
        Ok(crops)
    }
}

/// Scales an image so its long side is ≤ `max_side` and its short side ≥ `min_side`, both sides
/// rounded to multiples of 32 (RapidOCR's `reduce_max_side` / `increase_min_side`). Returns the
/// image and the factors that map its coordinates back.
fn fit_side_limits(img: &Rgb, max_side: usize, min_side: usize) -> (Rgb, f64, f64) {
    let rescale = |img: &Rgb, ratio: f64| {
        let round32 = |v: usize| ((((v as f64 * ratio).trunc()) / 32.0).round_ties_even() * 32.0).max(32.0) as usize;
        let (w, h) = (round32(img.width), round32(img.height));
        (img.resize(w, h), img.width as f64 / w as f64, img.height as f64 / h as f64)
    };
    let (mut out, mut rw, mut rh) = (img.clone(), 1.0, 1.0);
    let long = out.width.max(out.height);
    if long > max_side {
        (out, rw, rh) = rescale(&out, max_side as f64 / long as f64);
    }
    let short = out.width.min(out.height);
    if short < min_side {
        // A thin image (1×1000) is scaled up only as far as the long side's limit allows: it
        // stays thin, instead of becoming a 30×30000 image the detector then scales up again.
        let long = out.width.max(out.height) as f64;
        (out, rw, rh) = rescale(&out, (min_side as f64 / short as f64).min(max_side as f64 / long));
    }
    (out, rw, rh)
}

/// Black rows to add above and below a flat image before detection (RapidOCR's letterbox).
fn letterbox_padding(w: usize, h: usize, min_height: usize, ratio: f64) -> usize {
    if h <= min_height || w as f64 / h as f64 > ratio {
        let new_h = ((w as f64 / ratio) as usize).max(min_height) * 2;
        new_h.abs_diff(h) / 2
    } else {
        0
    }
}

/// Cuts a text box out of the image, straightened; tall crops are turned to lie flat.
pub fn crop_line(img: &Rgb, quad: &[Pt; 4]) -> Rgb {
    let d = |a: Pt, b: Pt| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let w = d(quad[0], quad[1]).max(d(quad[2], quad[3])) as usize;
    let h = d(quad[0], quad[3]).max(d(quad[1], quad[2])) as usize;
    let crop = crate::warp::warp_quad(img, quad, w, h);
    if crop.height as f64 / crop.width as f64 >= 1.5 {
        crop.rotate90_ccw()
    } else {
        crop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_limits_follow_rapidocr() {
        let (img, rw, rh) = fit_side_limits(&Rgb::new(4000, 1000), 2000, 30);
        // 2000/32 = 62.5 rounds to even, as Python's round().
        assert_eq!((img.width, img.height), (1984, 512));
        assert!((rw - 4000.0 / 1984.0).abs() < 1e-12 && (rh - 1000.0 / 512.0).abs() < 1e-12);
        let (img, ..) = fit_side_limits(&Rgb::new(200, 20), 2000, 30);
        assert_eq!((img.width, img.height), (288, 32));
        let (img, rw, _) = fit_side_limits(&Rgb::new(640, 480), 2000, 30);
        assert_eq!((img.width, img.height, rw), (640, 480, 1.0));
        // Thin images stay within the long-side limit instead of growing 30× (1×1000 was 32×30016).
        for (w, h, want) in [(1, 1000, (32, 1984)), (1000, 1, (1984, 32)), (1, 60000, (32, 1984)), (4, 25000, (32, 1984))] {
            let (img, ..) = fit_side_limits(&Rgb::new(w, h), 2000, 30);
            assert_eq!((img.width, img.height), want, "{w}x{h}");
        }
    }

    #[test]
    fn letterbox_for_flat_images() {
        assert_eq!(letterbox_padding(640, 480, 30, 8.0), 0);
        assert_eq!(letterbox_padding(288, 32, 30, 8.0), 20); // 288/32 > 8: max(36, 30)*2 = 72 → (72-32)/2
        assert_eq!(letterbox_padding(100, 20, 30, 8.0), 20); // max(12,30)*2 = 60 → 20
    }

    #[test]
    fn tall_crops_are_turned() {
        let img = Rgb::new(100, 100);
        let c = crop_line(&img, &[[10.0, 10.0], [20.0, 10.0], [20.0, 60.0], [10.0, 60.0]]);
        assert_eq!((c.width, c.height), (50, 10));
    }
}
