//! The plan-backed stages of a pipeline: the detectors (DB text lines as objects, PicoDet / SSD
//! objects) and the OCR reader, behind oar-stream's `Detector` and `Reader` seams; and the wiring
//! of a pipeline file into a running [`Pipeline`] (plans resolved, loaded and handed to the
//! stream core, which itself knows no engine).

use anyhow::{anyhow, bail, Result};
use oar_io::Rgb;
use oar_plan::{ResizePolicy, Task as PlanTask};
use oar_stream::config::{is_plan_path, PipelineFile};
use oar_stream::setup::Built;
use oar_stream::{Detection, Detector, Reader, StreamError};
use oar_vision::object_det::DetectParams;
use oar_vision::text_det::DbParams;
use oar_vision::{Ocr, OcrOptions, Task};
use std::path::{Path, PathBuf};

/// A plan path or registry id → a plan file that must exist. Paths are relative to `base`; ids
/// are `$OAR_HOME/plans/<id>.oar` (the device does not download).
pub fn resolve_plan(spec: &str, base: &Path) -> Result<PathBuf> {
    let path = if is_plan_path(spec) { base.join(spec) } else { oar_io::oar_home().join("plans").join(format!("{spec}.oar")) };
    if !path.is_file() {
        bail!(
            "plan {spec:?}: {} does not exist (the device does not download; copy the plan or run `oar pull` on a host)",
            path.display()
        );
    }
    Ok(path)
}

/// Loads the plans `file` names, then opens its source and sinks (`base`: the pipeline file's
/// folder; `serve`: an extra HTTP address; `frames`: overrides `[pipeline] frames`).
pub fn build(file: &PipelineFile, base: &Path, serve: Option<&str>, frames: Option<u64>) -> Result<Built> {
    // Settings that are missing fail before any plan is loaded or device opened.
    file.check_ready()?;
    let d = &file.detector;
    let opts = DetectorOptions { classes: d.classes.clone(), score_thresh: d.score_thresh, limit_side: d.limit_side };
    let detector = load_detector(&resolve_plan(&d.plan, base)?, &opts)?;
    let reader = match &file.ocr {
        Some(o) => {
            let rec = resolve_plan(&o.rec, base)?;
            let cls = o.cls.as_deref().map(|c| resolve_plan(c, base)).transpose()?;
            let mut reader = OcrReader::load(&rec, cls.as_deref())?;
            reader.pad = o.pad;
            Some(Box::new(reader) as Box<dyn Reader>)
        }
        None => None,
    };
    Ok(file.build(base, serve, frames, detector, reader)?)
}

/// Loads the plan at `path` as the task its manifest names.
pub fn load_task(path: &Path) -> Result<Task> {
    Ok(Task::from_engine(oar_plan::Engine::load(path)?)?)
}

/// A failure inside a plan-backed stage, as the stream core reports it.
fn stage_err(e: oar_vision::VisionError) -> StreamError {
    StreamError::Stage(Box::new(e))
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
pub fn load_detector(path: &Path, opts: &DetectorOptions) -> Result<Box<dyn Detector>> {
    let task = load_task(path)?;
    match task.task {
        PlanTask::TextDetection => {
            if !opts.classes.is_empty() {
                bail!("`classes` needs an object detector; a text detector has one class");
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
            bail!("`limit_side` is for text detectors; object detectors have a fixed input size")
        }
        PlanTask::ObjectDetection => Ok(Box::new(ObjectDetector::from_task(task, opts)?)),
        other => bail!(
            "{}: a `{other}` plan cannot detect objects (expected `text-detection` or `object-detection`)",
            path.display()
        ),
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
    pub fn from_task(task: Task, opts: &DetectorOptions) -> Result<Self> {
        let mut params = DetectParams::from_table(&task.post)?;
        if let Some(t) = opts.score_thresh {
            match &mut params {
                DetectParams::PicoDet(p) => p.score_thresh = t,
                DetectParams::Ssd(p) => p.score_thresh = t,
            }
        }
        let mut keep = Vec::new();
        for c in &opts.classes {
            let i = task.labels.iter().position(|l| l == c).ok_or_else(|| {
                anyhow!("class `{c}` is not a label of this detector (labels: {})", task.labels.join(", "))
            })?;
            keep.push(i as u32);
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
        let dets = oar_vision::object_det::detect(&*self.task.model, &self.task.spec, &self.params, img).map_err(stage_err)?;
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
    /// `task` must be a `text-detection` plan; DB parameters come from its post-processing table.
    pub fn from_task(task: Task) -> Result<Self> {
        if task.task != PlanTask::TextDetection {
            bail!("the detector plan is a `{}` model, expected `text-detection`", task.task);
        }
        let params = DbParams::from_table(&task.post)?;
        Ok(TextDetector { task, params })
    }
}

impl Detector for TextDetector {
    fn detect(&mut self, img: &Rgb) -> Result<Vec<Detection>, StreamError> {
        let boxes = oar_vision::text_det::detect(&*self.task.model, &self.task.spec, &self.params, img).map_err(stage_err)?;
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

/// Recogniser (and optional direction classifier) on the box, padded by `pad` × its height.
pub struct OcrReader {
    ocr: Ocr,
    pub pad: f32,
}

impl OcrReader {
    pub fn load(rec: &Path, cls: Option<&Path>) -> Result<Self> {
        let rec = load_task(rec)?;
        let cls = cls.map(load_task).transpose()?;
        Ok(OcrReader { ocr: Ocr::new(None, cls, rec, OcrOptions::default())?, pad: 0.0 })
    }
}

impl Reader for OcrReader {
    fn read(&mut self, frame: &Rgb, bbox: [f32; 4]) -> Result<(String, f32), StreamError> {
        let Some(c) = oar_stream::reader::crop(frame, bbox, self.pad) else { return Ok((String::new(), 0.0)) };
        let line = self.ocr.read(&c).map_err(stage_err)?.pop();
        Ok(line.map(|l| (l.text.trim().to_string(), l.score)).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_ids_resolve_under_oar_home() {
        let e = resolve_plan("no-such-plan", Path::new(".")).unwrap_err().to_string();
        assert!(e.contains("plans/no-such-plan.oar"), "{e}");
    }
}
