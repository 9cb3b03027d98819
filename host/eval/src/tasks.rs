//! One evaluator per task; each decodes its images once and runs candidates through
//! `oar_plan::Engine` with `oar-vision`'s pre- and post-processing.

use crate::metrics::{edit_distance, match_boxes, mean_average_precision};
use crate::set::EvalSet;
use crate::Part;
use crate::{EvalError, Evaluator, Metrics};
use oar_plan::tract::TypedModel;
use oar_plan::{Engine, Manifest, Task};
use oar_vision::classify::{classify, ClassifyParams};
use oar_vision::text_det::{detect as detect_text, DbParams};
use oar_vision::object_det::{detect as detect_objects, DetectParams, Detection};
use oar_vision::rec::{classify_direction, recognize};
use oar_vision::geometry::Pt;
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
    part: Part,
) -> Result<Box<dyn Evaluator>, EvalError> {
    let task = manifest.model.task.name();
    let unsupported = |message: &str| EvalError::Unsupported { task: task.to_string(), message: message.to_string() };
    let evaluator: Box<dyn Evaluator> = match manifest.model.task {
        Task::TextDetection => {
            let set = EvalSet::load(dir, Some("scene"), limit)?.select(part);
            set.require_labels(task)?;
            let samples = set.samples.into_iter().map(|s| (s.image, s.lines.iter().map(|l| l.1).collect())).collect();
            Box::new(TextDet { manifest: manifest.clone(), params: DbParams::from_table(&manifest.post)?, samples, metric: "det hmean" })
        }
        Task::TextRecognition => {
            let dictionary = labels.filter(|l| !l.is_empty()).ok_or_else(|| {
                unsupported("the recogniser's character dictionary is needed (evaluator_with_labels / evaluator_for_plan)")
            })?;
            let set = EvalSet::load(dir, Some("line"), limit)?.select(part);
            set.require_labels(task)?;
            let samples = set.samples.into_iter().map(|s| {
                let truth = s.lines.iter().map(|l| l.0.trim()).collect::<Vec<_>>().join(" ");
                (s.image, truth)
            });
            Box::new(TextRec { manifest: manifest.clone(), dictionary: dictionary.to_vec(), samples: samples.collect(), metric: "rec line accuracy" })
        }
        Task::TextDirection => {
            // PaddleOCR's direction classifier: labels "0" and "180".
            let upside_down = match labels {
                Some(l) => l.iter().position(|x| x.contains("180")).ok_or_else(|| unsupported("no `180` label"))?,
                None => 1,
            };
            let set = EvalSet::load(dir, Some("line"), limit)?.select(part);
            let images = set.samples.iter().enumerate().map(|(i, s)| turn_every_second(i, &s.image)).collect();
            Box::new(Direction { manifest: manifest.clone(), upside_down, images, metric: "cls accuracy" })
        }
        Task::ObjectDetection => {
            let set = EvalSet::load(dir, Some("scene").filter(|_| dir.join("labels.jsonl").is_file()), limit)?.select(part);
            return against_float(manifest, labels, set.samples.into_iter().map(|s| s.image).collect(), float);
        }
        Task::ImageClassification => {
            let set = EvalSet::load(dir, None, limit)?.select(part);
            return against_float(manifest, labels, set.samples.into_iter().map(|s| s.image).collect(), float);
        }
        Task::Raw => return Err(EvalError::Unsupported { task: task.into(), message: "no evaluator for this task".into() }),
    };
    Ok(evaluator)
}

/// An evaluator that scores candidates against the float model's own outputs on `images` (no
/// ground truth needed): the int8 compiler's accuracy guard on held-out calibration images.
/// Text direction turns every second image, so that both answers occur.
pub fn against_float(manifest: &Manifest, labels: Option<&[String]>, images: Vec<Rgb>, float: &TypedModel) -> Result<Box<dyn Evaluator>, EvalError> {
    let task = manifest.model.task.name();
    if images.is_empty() {
        return Err(EvalError::Unsupported { task: task.into(), message: "no images to score against the float model".into() });
    }
    let reference = Engine::from_model(float.clone(), manifest.clone())?;
    let evaluator: Box<dyn Evaluator> = match manifest.model.task {
        Task::TextDetection => {
            let mut e = TextDet { manifest: manifest.clone(), params: DbParams::from_table(&manifest.post)?, samples: vec![], metric: "det hmean vs float" };
            e.samples = images.into_iter().map(|img| e.boxes(&reference, &img).map(|b| (img, b))).collect::<Result<_, _>>()?;
            Box::new(e)
        }
        Task::TextRecognition => {
            let dictionary = labels.filter(|l| !l.is_empty()).ok_or_else(|| EvalError::Unsupported {
                task: task.into(),
                message: "the recogniser's character dictionary is needed".into(),
            })?;
            let mut e = TextRec { manifest: manifest.clone(), dictionary: dictionary.to_vec(), samples: vec![], metric: "rec line agreement vs float" };
            e.samples = images.into_iter().map(|i| (i, String::new())).collect();
            let reads = e.reads(&reference)?;
            e.samples.iter_mut().zip(reads).for_each(|(s, r)| s.1 = r);
            Box::new(e)
        }
        Task::TextDirection => {
            let upside_down = labels.and_then(|l| l.iter().position(|x| x.contains("180"))).unwrap_or(1);
            let images = images.iter().enumerate().map(|(i, img)| turn_every_second(i, img)).collect();
            let mut e = Direction { manifest: manifest.clone(), upside_down, images, metric: "cls agreement vs float" };
            let answers = e.upside_down(&reference)?;
            e.images.iter_mut().zip(answers).for_each(|(i, a)| i.1 = a);
            Box::new(e)
        }
        Task::ObjectDetection => {
            let params = DetectParams::from_table(&manifest.post)?;
            let spec = image(manifest)?;
            let reference = images.iter().map(|img| detect_objects(&reference, spec, &params, img)).collect::<Result<_, _>>()?;
            Box::new(Objects { manifest: manifest.clone(), params, images, reference })
        }
        Task::ImageClassification => {
            let params = ClassifyParams { top_k: 1, ..ClassifyParams::from_table(&manifest.post)? };
            let reference = top1(&reference, manifest, &params, &images)?;
            Box::new(Classes { manifest: manifest.clone(), params, images, reference })
        }
        Task::Raw => return Err(EvalError::Unsupported { task: task.into(), message: "no evaluator for this task".into() }),
    };
    Ok(evaluator)
}

/// The image pre-processing of a vision plan (every evaluator scores images).
fn image(manifest: &Manifest) -> Result<&oar_plan::InputSpec, EvalError> {
    manifest.image().map_err(|message| EvalError::Unsupported { task: manifest.model.task.name().into(), message })
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

/// Text detection: hmean of the candidate's boxes against the truth boxes of each image (ground
/// truth, or the float model's boxes).
struct TextDet {
    manifest: Manifest,
    params: DbParams,
    samples: Vec<(Rgb, Vec<[Pt; 4]>)>,
    metric: &'static str,
}

impl TextDet {
    fn boxes(&self, engine: &Engine, img: &Rgb) -> Result<Vec<[Pt; 4]>, EvalError> {
        Ok(detect_text(engine, image(&self.manifest)?, &self.params, img)?.iter().map(|b| b.points).collect())
    }
}

impl Evaluator for TextDet {
    fn samples(&self) -> usize {
        self.samples.len()
    }

    fn metric(&self) -> &str {
        self.metric
    }

    fn evaluate(&self, model: &TypedModel) -> Result<Metrics, EvalError> {
        let engine = engine(model, &self.manifest)?;
        let (mut matched, mut gt_total, mut pred_total) = (0, 0, 0);
        for (image, gt) in &self.samples {
            let pred = self.boxes(&engine, image)?;
            matched += match_boxes(gt, &pred, IOU).len();
            gt_total += gt.len();
            pred_total += pred.len();
        }
        let (p, r) = (percent(matched, pred_total), percent(matched, gt_total));
        // Nothing to find and nothing found is a perfect score.
        let hmean = if gt_total == 0 && pred_total == 0 { 100.0 } else if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
        Ok(Metrics { primary: hmean, values: vec![(self.metric.into(), hmean), ("precision".into(), p), ("recall".into(), r)] })
    }
}

/// Text recognition: exact-line rate and CER against each crop's truth text (ground truth, or
/// the float model's reading).
struct TextRec {
    manifest: Manifest,
    dictionary: Vec<String>,
    samples: Vec<(Rgb, String)>,
    metric: &'static str,
}

impl TextRec {
    fn reads(&self, engine: &Engine) -> Result<Vec<String>, EvalError> {
        // One batch: every line padded to the widest, so that the candidate is optimised for one
        // input shape only (as PaddleOCR pads a batch; evaluations stay cheap enough to run per layer).
        let crops: Vec<Rgb> = self.samples.iter().map(|s| s.0.clone()).collect();
        let reads = recognize(engine, image(&self.manifest)?, &self.dictionary, &crops, crops.len())?;
        Ok(reads.into_iter().map(|r| r.0.trim().to_string()).collect())
    }
}

impl Evaluator for TextRec {
    fn samples(&self) -> usize {
        self.samples.len()
    }

    fn metric(&self) -> &str {
        self.metric
    }

    fn evaluate(&self, model: &TypedModel) -> Result<Metrics, EvalError> {
        let engine = engine(model, &self.manifest)?;
        let (mut right, mut edits, mut chars) = (0, 0, 0);
        for ((_, truth), text) in self.samples.iter().zip(self.reads(&engine)?) {
            right += (text == *truth) as usize;
            edits += edit_distance(&text, truth);
            chars += truth.chars().count();
        }
        let acc = percent(right, self.samples.len());
        Ok(Metrics { primary: acc, values: vec![(self.metric.into(), acc), ("CER".into(), percent(edits, chars.max(1)))] })
    }
}

/// Text direction: whether each crop is read as upside down, against the truth (how it was
/// turned, or the float model's answer).
struct Direction {
    manifest: Manifest,
    upside_down: usize,
    /// Line images, with whether each is (taken as) upside down.
    images: Vec<(Rgb, bool)>,
    metric: &'static str,
}

impl Direction {
    fn upside_down(&self, engine: &Engine) -> Result<Vec<bool>, EvalError> {
        let crops: Vec<Rgb> = self.images.iter().map(|i| i.0.clone()).collect();
        Ok(classify_direction(engine, image(&self.manifest)?, &crops, 6)?.iter().map(|(label, _)| *label == self.upside_down).collect())
    }
}

impl Evaluator for Direction {
    fn samples(&self) -> usize {
        self.images.len()
    }

    fn metric(&self) -> &str {
        self.metric
    }

    fn evaluate(&self, model: &TypedModel) -> Result<Metrics, EvalError> {
        let engine = engine(model, &self.manifest)?;
        let right = self.upside_down(&engine)?.iter().zip(&self.images).filter(|(got, (_, truth))| *got == truth).count();
        let acc = percent(right, self.images.len());
        Ok(Metrics { primary: acc, values: vec![(self.metric.into(), acc)] })
    }
}

/// Object detection: mAP@0.5 against the float model's boxes.
struct Objects {
    manifest: Manifest,
    params: DetectParams,
    images: Vec<Rgb>,
    /// The float model's detections per image: the ground truth of this score.
    reference: Vec<Vec<Detection>>,
}

impl Evaluator for Objects {
    fn samples(&self) -> usize {
        self.images.len()
    }

    fn metric(&self) -> &str {
        "mAP@0.5 vs float"
    }

    fn evaluate(&self, model: &TypedModel) -> Result<Metrics, EvalError> {
        let engine = engine(model, &self.manifest)?;
        let (mut pred, mut gt) = (vec![], vec![]);
        for (i, (img, reference)) in self.images.iter().zip(&self.reference).enumerate() {
            for d in detect_objects(&engine, image(&self.manifest)?, &self.params, img)? {
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
        .map(|img| Ok(classify(engine, image(manifest)?, params, img)?.first().map(|c| c.0).unwrap_or(usize::MAX)))
        .collect()
}

struct Classes {
    manifest: Manifest,
    params: ClassifyParams,
    images: Vec<Rgb>,
    reference: Vec<usize>,
}

impl Evaluator for Classes {
    fn samples(&self) -> usize {
        self.images.len()
    }

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
