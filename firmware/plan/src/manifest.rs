//! `oar.toml`: everything the device needs to use a model, besides the graph itself.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The plan format this crate writes.
pub const FORMAT_VERSION: u32 = 1;
/// The oldest plan format this crate still reads.
pub const MIN_FORMAT_VERSION: u32 = 1;

/// The manifest stored as `oar.toml`, the first entry of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Plan format version (see [`FORMAT_VERSION`]).
    pub format: u32,
    /// The compiler that wrote the plan, e.g. `oar 0.1.0`.
    pub compiler: String,
    /// Where the model came from.
    pub model: ModelInfo,
    /// How to make the input tensor from an image.
    pub input: InputSpec,
    /// The model's outputs, in order.
    #[serde(default)]
    pub outputs: Vec<TensorSpec>,
    /// Task-specific post-processing parameters (thresholds, NMS, ...), read by `oar-vision`.
    #[serde(default)]
    pub post: toml::Table,
    /// Labels or the character dictionary, when the task has them (stored as the `labels.txt` entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelsInfo>,
    /// Quantization parameters, for int8 plans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<toml::Table>,
    /// Accuracy of the plan against the float model on an evaluation set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<toml::Table>,
    /// oar's own ops the model uses (filled in by `write_plan` from the NNEF graph): a runtime
    /// lacking one refuses the plan, naming the op and the oar release that has it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_ops: Vec<RequiredOp>,
    /// sha256 of every other entry of the plan, by entry name.
    #[serde(default)]
    pub entries: BTreeMap<String, String>,
}

/// An oar op a plan needs (see `oar_ops::OPS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredOp {
    /// NNEF fragment name without its version suffix, e.g. `oar_qconv_dw`.
    pub name: String,
    pub version: u32,
    /// The first oar release whose runtime has it.
    pub oar: String,
}

/// The source model of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Registry id (`ppocr-v4-det`) or the file stem for a model given by path.
    pub id: String,
    /// What the model does; an unknown task is a load error.
    pub task: Task,
    /// Where the source model came from (registry coordinates or a path).
    pub source: String,
    /// sha256 of the source model file.
    pub sha256: String,
}

/// What a model does, written in plans and registry files in kebab case (`text-detection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Text lines as boxes (DB).
    TextDetection,
    /// The text of one line (CTC).
    TextRecognition,
    /// Whether a text line is upside down.
    TextDirection,
    /// Boxes of labelled objects (PicoDet, PP-YOLOE, SSD heads).
    ObjectDetection,
    /// One label per image.
    ImageClassification,
    /// No task adapter: the outputs are used as tensors (a bare model compiled by `oar conform`,
    /// the compiler's calibration runs). `conformance`, as older plans say, reads as this.
    #[serde(alias = "conformance")]
    Raw,
}

impl Task {
    /// Every task, in the order of the documentation.
    pub const ALL: [Task; 6] = [
        Task::TextDetection,
        Task::TextRecognition,
        Task::TextDirection,
        Task::ObjectDetection,
        Task::ImageClassification,
        Task::Raw,
    ];

    /// The tasks a registry entry may declare (every one but [`Task::Raw`]).
    pub const MODEL_TASKS: [Task; 5] = [
        Task::TextDetection,
        Task::TextRecognition,
        Task::TextDirection,
        Task::ObjectDetection,
        Task::ImageClassification,
    ];

    /// The name written in files.
    pub fn name(self) -> &'static str {
        match self {
            Task::TextDetection => "text-detection",
            Task::TextRecognition => "text-recognition",
            Task::TextDirection => "text-direction",
            Task::ObjectDetection => "object-detection",
            Task::ImageClassification => "image-classification",
            Task::Raw => "raw",
        }
    }
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A task name that is not one of [`Task::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task {0:?}: expected one of text-detection, text-recognition, text-direction, object-detection, image-classification, raw")]
pub struct UnknownTask(pub String);

impl std::str::FromStr for Task {
    type Err = UnknownTask;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Task::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| UnknownTask(s.to_string()))
    }
}

/// Labels (class names or a character dictionary), one per line in the `labels.txt` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsInfo {
    /// Entry name inside the plan.
    pub entry: String,
    /// Number of labels.
    pub count: usize,
}

/// One output tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    /// Dimensions; -1 where the dimension depends on the input.
    pub shape: Vec<i64>,
    /// `f32`, `i8`, ...
    pub dtype: String,
}

/// Tensor layout of an image input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    NCHW,
    NHWC,
}

/// Channel order the model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColorOrder {
    RGB,
    BGR,
}

/// How an image is resized before it becomes the input tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ResizePolicy {
    /// Scale so that the min (or max) side reaches `limit`, then round both sides to `multiple`
    /// (DB text detection).
    LimitSide { limit: u32, mode: LimitMode, multiple: u32 },
    /// Fixed height, width from the aspect ratio, at least `min_width`, right-padded
    /// (text recognition, direction classification). `max_width` caps the width when set.
    FixedHeight {
        height: u32,
        min_width: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_width: Option<u32>,
    },
    /// Plain resize to a fixed size, ignoring the aspect ratio.
    Stretch { width: u32, height: u32 },
    /// Scale the short side to `short_side`, then centre-crop a `crop`×`crop` square.
    ShortSideCrop { short_side: u32, crop: u32 },
}

/// Which side `LimitSide` limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitMode {
    /// Scale up so that the short side is at least `limit`.
    Min,
    /// Scale down so that the long side is at most `limit`.
    Max,
}

/// How to turn an image into the model's input tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Input tensor name in the model.
    pub name: String,
    pub layout: Layout,
    pub color: ColorOrder,
    /// Pixel values are multiplied by `scale`, then normalised with `mean` and `std` per channel.
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub resize: ResizePolicy,
}

impl Manifest {
    /// Parses `oar.toml`; unknown fields are rejected with their name.
    pub fn from_toml(text: &str) -> Result<Manifest, toml::de::Error> {
        toml::from_str(text)
    }

    /// Serialises to `oar.toml`.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            format: FORMAT_VERSION,
            compiler: "oar test".into(),
            model: ModelInfo {
                id: "m".into(),
                task: Task::TextDetection,
                source: "test".into(),
                sha256: "00".repeat(32),
            },
            input: InputSpec {
                name: "x".into(),
                layout: Layout::NCHW,
                color: ColorOrder::BGR,
                scale: 1.0 / 255.0,
                mean: [0.5; 3],
                std: [0.5; 3],
                resize: ResizePolicy::LimitSide { limit: 736, mode: LimitMode::Min, multiple: 32 },
            },
            outputs: vec![],
            post: toml::Table::new(),
            labels: None,
            quantization: None,
            accuracy: None,
            required_ops: vec![],
            entries: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trips_through_toml() {
        let m = sample();
        let text = m.to_toml().unwrap();
        assert_eq!(Manifest::from_toml(&text).unwrap(), m);
    }

    #[test]
    fn rejects_unknown_fields_by_name() {
        let text = sample().to_toml().unwrap().replace("format = 1", "format = 1\ncolour = 3");
        let err = Manifest::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn reads_each_resize_policy() {
        for (text, want) in [
            (
                "policy = \"fixed-height\"\nheight = 48\nmin_width = 320",
                ResizePolicy::FixedHeight { height: 48, min_width: 320, max_width: None },
            ),
            ("policy = \"stretch\"\nwidth = 608\nheight = 800", ResizePolicy::Stretch { width: 608, height: 800 }),
            (
                "policy = \"short-side-crop\"\nshort_side = 256\ncrop = 224",
                ResizePolicy::ShortSideCrop { short_side: 256, crop: 224 },
            ),
        ] {
            assert_eq!(toml::from_str::<ResizePolicy>(text).unwrap(), want);
        }
    }

    #[test]
    fn task_names_round_trip_and_unknown_tasks_are_refused() {
        for t in Task::ALL {
            assert_eq!(t.name().parse::<Task>().unwrap(), t);
            let m = Manifest { model: ModelInfo { task: t, ..sample().model }, ..sample() };
            let text = m.to_toml().unwrap();
            assert!(text.contains(&format!("task = \"{t}\"")), "{text}");
        }
        let text = sample().to_toml().unwrap().replace("task = \"text-detection\"", "task = \"text-segmentation\"");
        let err = toml::from_str::<Manifest>(&text).unwrap_err().to_string();
        assert!(err.contains("text-segmentation") && err.contains("text-detection"), "{err}");
        assert!("detection".parse::<Task>().unwrap_err().to_string().contains("expected one of"));
        let old = sample().to_toml().unwrap().replace("task = \"text-detection\"", "task = \"conformance\"");
        assert_eq!(toml::from_str::<Manifest>(&old).unwrap().model.task, Task::Raw);
    }
}
