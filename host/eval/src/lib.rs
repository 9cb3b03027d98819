//! Scores a candidate model — float, int8 or pruned, as a `TypedModel` not yet written to a plan —
//! on a held-out set with its task's own metric, so that quantization and pruning decisions are
//! made on accuracy, not on tensor errors.
//!
//! - `text-detection`: hmean of the DB boxes against the ground-truth boxes of the `scene` images
//!   of a `labels.jsonl` set (tools/gen_ocr_set.py), one-to-one matching at IoU ≥ 0.5;
//! - `text-recognition`: line accuracy (exact text) and CER on the `line` images;
//! - `text-direction`: accuracy on the `line` images, every second one turned 180°;
//! - `object-detection`: mAP@0.5 against the float model's own boxes, on any images;
//! - `image-classification`: top-1 agreement with the float model, on any images.
//!
//! Candidates run through `oar_plan::Engine` and `oar-vision`'s pre/post-processing, exactly as
//! on the device.

mod metrics;
mod set;
mod tasks;

pub use metrics::{average_precision, edit_distance, match_boxes, mean_average_precision, rect_iou};
pub use set::{image_paths, EvalSet, Sample};
pub use tasks::against_float;

use oar_plan::tract::TypedModel;
use oar_plan::Manifest;
use std::path::{Path, PathBuf};

/// A candidate's score: `primary` in points, 0..100, higher is better; `values` holds it first
/// and then the task's other figures (e.g. CER in %, precision, recall).
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    pub primary: f64,
    pub values: Vec<(String, f64)>,
}

impl Metrics {
    /// The value called `name`, if reported.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// A TOML table of the values (for manifests' `[accuracy]`).
    pub fn to_toml(&self) -> toml::Table {
        self.values.iter().map(|(k, v)| (k.clone(), toml::Value::Float(*v))).collect()
    }
}

impl std::fmt::Display for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.values.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
        f.write_str(&parts.join(", "))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {message}")]
    Set { path: PathBuf, message: String },
    #[error("evaluation of a `{task}` model: {message}")]
    Unsupported { task: String, message: String },
    #[error(transparent)]
    Image(#[from] oar_io::ImageError),
    #[error(transparent)]
    Vision(#[from] oar_vision::VisionError),
    #[error(transparent)]
    Plan(#[from] oar_plan::PlanError),
}

/// Which images of a set an evaluator scores: all of them, or one of two disjoint halves, so
/// that a choice fitted on one half (a pruning budget) is reported on images it never saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    All,
    /// Even positions of the set.
    Fit,
    /// Odd positions.
    HeldOut,
}

/// Scores candidates of one model on one set.
pub trait Evaluator: Send + Sync {
    /// What `Metrics::primary` measures, e.g. "det hmean".
    fn metric(&self) -> &str;
    /// How many images (or crops) it scores.
    fn samples(&self) -> usize;
    /// Runs `model` (not optimised yet) on the set.
    fn evaluate(&self, model: &TypedModel) -> Result<Metrics, EvalError>;
}

/// Picks the task's evaluator from the manifest (see the crate docs). `float` is the reference
/// model (used by the tasks scored against it); `limit` caps the images. A recogniser needs its
/// dictionary: use [`evaluator_with_labels`] (or [`evaluator_for_plan`]) for `text-recognition`.
pub fn evaluator(manifest: &Manifest, set: &Path, float: &TypedModel, limit: Option<usize>) -> Result<Box<dyn Evaluator>, EvalError> {
    evaluator_with_labels(manifest, None, set, float, limit)
}

/// [`evaluator`] with the plan's labels / character dictionary.
pub fn evaluator_with_labels(
    manifest: &Manifest,
    labels: Option<&[String]>,
    set: &Path,
    float: &TypedModel,
    limit: Option<usize>,
) -> Result<Box<dyn Evaluator>, EvalError> {
    tasks::for_task(manifest, labels, set, float, limit, Part::All)
}

/// The evaluator for a float plan file's model (labels and reference model read from the plan).
pub fn evaluator_for_plan(plan: &oar_plan::Plan, set: &Path, limit: Option<usize>) -> Result<Box<dyn Evaluator>, EvalError> {
    evaluator_for_plan_part(plan, set, limit, Part::All)
}

/// [`evaluator_for_plan`] on one part of the set (`limit` applies before the split).
pub fn evaluator_for_plan_part(plan: &oar_plan::Plan, set: &Path, limit: Option<usize>, part: Part) -> Result<Box<dyn Evaluator>, EvalError> {
    let float = oar_plan::decode_model(plan)?;
    let labels = plan.labels()?;
    tasks::for_task(&plan.manifest, labels.as_deref(), set, &float, limit, part)
}
