//! One evaluator per task; each decodes its images once and runs candidates through
//! `oar_plan::Engine` with `oar-vision`'s pre- and post-processing.

use crate::metrics::{edit_distance, match_boxes, mean_average_precision};
use crate::set::EvalSet;
use crate::{EvalError, Evaluator, Metrics};
use oar_plan::tract::TypedModel;
use oar_plan::{Engine, Manifest, Task};
use oar_vision::classify::{classify, ClassifyParams};
use oar_vision::det::{detect as detect_text, DbParams};
use oar_vision::detect::{detect as detect_objects, DetectParams, Detection};
use oar_vision::rec::{classify_direction, recognize};
use oar_vision::Rgb;
use std::path::Path;

/// Matching threshold of boxes for hmean and mAP.
const IOU: f64 = 0.5;

pub fn for_task(
    manifest: &Manifest,
    labels: Option<&[String]>,
    dir: &Path,
    float: &TypedModel,
    limit: Option<usize>,
) -> Result<Box<dyn Evaluator>, EvalError> {
    let task = manifest.model.task.name();
    let unsupported = |message: &str| EvalError::Unsupported { task: task.to_string(), message: message.to_string() };
    let evaluator: Box<dyn Evaluator> = match manifest.model.task {
        Task::TextDetection => {
            let set = EvalSet::load(dir, Some("scene"), limit)?;
            set.require_labels(task)?;
            Box::new(TextDet { manifest: manifest.clone(), params: DbParams::from_table(&manifest.post)?, set })
        }
        Task::TextRecognition => {
            let dictionary = labels.filter(|l| !l.is_empty()).ok_or_else(|| {
                unsupported("the recogniser's character dictionary is needed (evaluator_with_labels / evaluator_for_plan)")
            })?;
            let set = EvalSet::load(dir, Some("line"), limit)?;
            set.require_labels(task)?;
            Box::new(TextRec { manifest: manifest.clone(), dictionary: dictionary.to_vec(), set })
        }
        Task::TextDirection => {
            // PaddleOCR's direction classifier: labels "0" and "180".
            let upside_down = match labels {
                Some(l) => l.iter().position(|x| x.contains("180")).ok_or_else(|| unsupported("no `180` label"))?,
                None => 1,
            };
            let set = EvalSet::load(dir, Some("line"), limit)?;
            let images = set.samples.iter().enumerate().map(|(i, s)| turn_every_second(i, &s.image)).collect();
            Box::new(Direction { manifest: manifest.clone(), upside_down, images })
        }
        Task::ObjectDetection => {
            let params = DetectParams::from_table(&manifest.post)?;
            let set = EvalSet::load(dir, Some("scene").filter(|_| dir.join("labels.jsonl").is_file()), limit)?;
            let images: Vec<Rgb> = set.samples.into_iter().map(|s| s.image).collect();
            let engine = Engine::from_model(float.clone(), manifest.clone())?;
            let reference = images.iter().map(|img| detect_objects(&engine, &manifest.input, &params, img)).collect::<Result<_, _>>()?;
            Box::new(Objects { manifest: manifest.clone(), params, images, reference })
        }
        Task::ImageClassification => {
            let params = ClassifyParams { top_k: 1, ..ClassifyParams::from_table(&manifest.post)? };
            let set = EvalSet::load(dir, None, limit)?;
            let images: Vec<Rgb> = set.samples.into_iter().map(|s| s.image).collect();
            let engine = Engine::from_model(float.clone(), manifest.clone())?;
            let reference = top1(&engine, manifest, &params, &images)?;
            Box::new(Classes { manifest: manifest.clone(), params, images, reference })
        }
        Task::Raw => return Err(unsupported("no evaluator for this task")),
    };
    Ok(evaluator)
}

fn engine(model: &TypedModel, manifest: &Manifest) -> Result<Engine, EvalError> {
    Ok(Engine::from_model(model.clone(), manifest.clone())?)
}

fn percent(num: usize, den: usize) -> f64 {
    if den == 0 { 0.0 } else { 100.0 * num as f64 / den as f64 }
}

/// Deterministic: odd-numbered images are turned upside down.
fn turn_every_second(i: usize, img: &Rgb) -> (Rgb, bool) {
    if i % 2 == 1 { (img.rotate180(), true) } else { (img.clone(), false) }
}

struct TextDet {
    manifest: Manifest,
    params: DbParams,
    set: EvalSet,
}

impl Evaluator for TextDet {
    fn metric(&self) -> &str {
        "det hmean"
    }

    fn evaluate(&self, model: &TypedModel) -> Result<Metrics, EvalError> {
        let engine = engine(model, &self.manifest)?;
        let (mut matched, mut gt_total, mut pred_total) = (0, 0, 0);
        for s in &self.set.samples {
            let boxes = detect_text(&engine, &self.manifest.input, &self.params, &s.image)?;
            let gt: Vec<_> = s.lines.iter().map(|l| l.1).collect();
            let pred: Vec<_> = boxes.iter().map(|b| b.points).collect();
            matched += match_boxes(&gt, &pred, IOU).len();
            gt_total += gt.len();
            pred_total += pred.len();
        }
        let (p, r) = (percent(matched, pred_total), percent(matched, gt_total));
        let hmean = if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
        Ok(Metrics { primary: hmean, values: vec![("det hmean".into(), hmean), ("precision".into(), p), ("recall".into(), r)] })
    }
}

struct TextRec {
    manifest: Manifest,
    dictionary: Vec<String>,
    set: EvalSet,
}

impl Evaluator for TextRec {
    fn metric(&self) -> &str {
        "rec line accuracy"
    }

    fn evaluate(&self, model: &TypedModel) -> Result<Metrics, EvalError> {
        let engine = engine(model, &self.manifest)?;
        // One batch: every line padded to the widest, so that the candidate is optimised for one
        // input shape only (as PaddleOCR pads a batch; evaluations stay cheap enough to run per layer).
        let crops: Vec<Rgb> = self.set.samples.iter().map(|s| s.image.clone()).collect();
        let reads = recognize(&engine, &self.manifest.input, &self.dictionary, &crops, crops.len())?;
        let (mut right, mut edits, mut chars) = (0, 0, 0);
        for (s, read) in self.set.samples.iter().zip(reads) {
            let truth: String = s.lines.iter().map(|l| l.0.trim()).collect::<Vec<_>>().join(" ");
            let text = read.0.trim().to_string();
            right += (text == truth) as usize;
            edits += edit_distance(&text, &truth);
            chars += truth.chars().count();
        }
        let acc = percent(right, self.set.samples.len());
        Ok(Metrics { primary: acc, values: vec![("rec line accuracy".into(), acc), ("CER".into(), percent(edits, chars))] })
    }
}

struct Direction {
    manifest: Manifest,
    upside_down: usize,
    /// Line images, with whether each was turned.
    images: Vec<(Rgb, bool)>,
}

impl Evaluator for Direction {
    fn metric(&self) -> &str {
        "cls accuracy"
    }

    fn evaluate(&self, model: &TypedModel) -> Result<Metrics, EvalError> {
        let engine = engine(model, &self.manifest)?;
        let crops: Vec<Rgb> = self.images.iter().map(|i| i.0.clone()).collect();
        let dirs = classify_direction(&engine, &self.manifest.input, &crops, 6)?;
        let right = dirs.iter().zip(&self.images).filter(|((label, _), (_, turned))| (*label == self.upside_down) == *turned).count();
        let acc = percent(right, self.images.len());
        Ok(Metrics { primary: acc, values: vec![("cls accuracy".into(), acc)] })
    }
}

struct Objects {
    manifest: Manifest,
    params: DetectParams,
    images: Vec<Rgb>,
    /// The float model's detections per image: the ground truth of this score.
    reference: Vec<Vec<Detection>>,
}

impl Evaluator for Objects {
    fn metric(&self) -> &str {
        "mAP@0.5 vs float"
    }

    fn evaluate(&self, model: &TypedModel) -> Result<Metrics, EvalError> {
        let engine = engine(model, &self.manifest)?;
        let (mut pred, mut gt) = (vec![], vec![]);
        for (i, (img, reference)) in self.images.iter().zip(&self.reference).enumerate() {
            for d in detect_objects(&engine, &self.manifest.input, &self.params, img)? {
                pred.push((i, d.class as usize, d.score, d.bbox));
            }
            gt.extend(reference.iter().map(|d| (i, d.class as usize, d.bbox)));
        }
        let map = 100.0 * mean_average_precision(&pred, &gt, IOU as f32);
        Ok(Metrics {
            primary: map,
            values: vec![("mAP@0.5 vs float".into(), map), ("boxes".into(), pred.len() as f64), ("float boxes".into(), gt.len() as f64)],
        })
    }
}

fn top1(engine: &Engine, manifest: &Manifest, params: &ClassifyParams, images: &[Rgb]) -> Result<Vec<usize>, EvalError> {
    images
        .iter()
        .map(|img| Ok(classify(engine, &manifest.input, params, img)?.first().map(|c| c.0).unwrap_or(usize::MAX)))
        .collect()
}

struct Classes {
    manifest: Manifest,
    params: ClassifyParams,
    images: Vec<Rgb>,
    reference: Vec<usize>,
}

impl Evaluator for Classes {
    fn metric(&self) -> &str {
        "top-1 agreement vs float"
    }

    fn evaluate(&self, model: &TypedModel) -> Result<Metrics, EvalError> {
        let engine = engine(model, &self.manifest)?;
        let got = top1(&engine, &self.manifest, &self.params, &self.images)?;
        let same = got.iter().zip(&self.reference).filter(|(a, b)| a == b).count();
        let agree = percent(same, self.images.len());
        Ok(Metrics { primary: agree, values: vec![("top-1 agreement vs float".into(), agree)] })
    }
}
