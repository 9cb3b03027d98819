//! Object detectors for the detect stage, all behind the [`Detector`] seam: the DB text detector
//! (text lines as objects), and PicoDet / SSD heads (`object-detection` plans).

use crate::StreamError;
use oar_track::Detection;
use oar_vision::det::{detect, DbParams};
use oar_vision::detect::DetectParams;
use oar_plan::{ResizePolicy, Task as PlanTask};
use oar_vision::{Rgb, Task};
use std::path::Path;

/// Finds objects in one RGB frame.
pub trait Detector: Send {
    fn detect(&mut self, frame_rgb: &Rgb) -> Result<Vec<Detection>, StreamError>;
}

/// What a pipeline may change about a plan's detector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectorOptions {
    /// Keep only these class labels (empty: all). Object detectors only.
    pub classes: Vec<String>,
    /// Override the plan's score threshold.
    pub score_thresh: Option<f32>,
    /// Text detectors: override the plan's resize limit (PP-OCR scales frames whose short side
    /// is below 736 up to it; small frames with large text detect as well and much faster at
    /// their own size).
    pub limit_side: Option<u32>,
}

/// Loads the plan at `path` and picks the detector its task calls for.
pub fn load_detector(path: &Path, opts: &DetectorOptions) -> Result<Box<dyn Detector>, StreamError> {
    let task = Task::from_engine(oar_plan::Engine::load(path)?)?;
    match task.task {
        PlanTask::TextDetection => {
            if !opts.classes.is_empty() {
                return Err(StreamError::Config("`classes` needs an object detector; a text detector has one class".into()));
            }
            let mut d = TextDetector::from_task(task)?;
            if let Some(t) = opts.score_thresh {
                d.params.box_thresh = t;
            }
            if let (Some(l), ResizePolicy::LimitSide { limit, .. }) = (opts.limit_side, &mut d.task.spec.resize) {
                *limit = l;
            }
            Ok(Box::new(d))
        }
        PlanTask::ObjectDetection if opts.limit_side.is_some() => {
            Err(StreamError::Config("`limit_side` is for text detectors; object detectors have a fixed input size".into()))
        }
        PlanTask::ObjectDetection => Ok(Box::new(ObjectDetector::from_task(task, opts)?)),
        other => Err(StreamError::Config(format!(
            "{}: a `{other}` plan cannot detect objects (expected `text-detection` or `object-detection`)",
            path.display()
        ))),
    }
}

/// A PicoDet or SSD plan (the head is named in its `[post]` table), optionally keeping only some
/// classes. Detection classes are indices into the plan's labels.
pub struct ObjectDetector {
    task: Task,
    params: DetectParams,
    /// Sorted label indices to keep (empty: all).
    keep: Vec<u32>,
}

impl ObjectDetector {
    pub fn from_task(task: Task, opts: &DetectorOptions) -> Result<Self, StreamError> {
        let mut params = DetectParams::from_table(&task.post)?;
        if let Some(t) = opts.score_thresh {
            match &mut params {
                DetectParams::PicoDet(p) => p.score_thresh = t,
                DetectParams::Ssd(p) => p.score_thresh = t,
            }
        }
        let mut keep = Vec::new();
        for c in &opts.classes {
            match task.labels.iter().position(|l| l == c) {
                Some(i) => keep.push(i as u32),
                None => {
                    return Err(StreamError::Config(format!(
                        "class `{c}` is not a label of this detector (labels: {})",
                        task.labels.join(", ")
                    )))
                }
            }
        }
        keep.sort_unstable();
        Ok(ObjectDetector { task, params, keep })
    }

    /// The plan's class labels.
    pub fn labels(&self) -> &[String] {
        &self.task.labels
    }
}

impl Detector for ObjectDetector {
    fn detect(&mut self, img: &Rgb) -> Result<Vec<Detection>, StreamError> {
        let dets = oar_vision::detect::detect(&*self.task.model, &self.task.spec, &self.params, img)?;
        Ok(dets
            .into_iter()
            .filter(|d| self.keep.is_empty() || self.keep.binary_search(&d.class).is_ok())
            .collect())
    }
}

/// The DB text detector used as an object detector: each text box becomes a detection whose box
/// is the axis-aligned bounds of the (rotated) text box, whose score is the box score.
pub struct TextDetector {
    task: Task,
    params: DbParams,
}

impl TextDetector {
    /// `engine` must hold a `text-detection` plan; DB parameters come from its post-processing table.
    pub fn from_engine(engine: oar_plan::Engine) -> Result<Self, StreamError> {
        Self::from_task(Task::from_engine(engine)?)
    }

    pub fn from_task(task: Task) -> Result<Self, StreamError> {
        if task.task != PlanTask::TextDetection {
            return Err(StreamError::Config(format!("the detector plan is a `{}` model, expected `text-detection`", task.task)));
        }
        let params = DbParams::from_table(&task.post)?;
        Ok(TextDetector { task, params })
    }

    pub fn load(path: &std::path::Path) -> Result<Self, StreamError> {
        Self::from_engine(oar_plan::Engine::load(path)?)
    }
}

impl Detector for TextDetector {
    fn detect(&mut self, img: &Rgb) -> Result<Vec<Detection>, StreamError> {
        let boxes = detect(&*self.task.model, &self.task.spec, &self.params, img)?;
        Ok(boxes
            .into_iter()
            .map(|b| {
                let (mut x1, mut y1, mut x2, mut y2) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
                for [x, y] in b.points {
                    x1 = x1.min(x);
                    y1 = y1.min(y);
                    x2 = x2.max(x);
                    y2 = y2.max(y);
                }
                Detection { bbox: [x1 as f32, y1 as f32, x2 as f32, y2 as f32], score: b.score, class: 0 }
            })
            .collect())
    }
}

/// A detector that returns fixed boxes after an optional delay: for tests and soak runs.
pub struct FixedDetector {
    pub boxes: Vec<Detection>,
    pub delay: std::time::Duration,
}

impl Detector for FixedDetector {
    fn detect(&mut self, _img: &Rgb) -> Result<Vec<Detection>, StreamError> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        Ok(self.boxes.clone())
    }
}
