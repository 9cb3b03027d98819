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

/// Channel order the model expects (one definition, the kernels' own).
pub use oar_kernels::ColorOrder;

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

impl InputSpec {
    /// An NCHW RGB input fed the pixel values as they are (scale 1, mean 0, std 1).
    pub fn raw(name: &str, resize: ResizePolicy) -> InputSpec {
        InputSpec { name: name.into(), layout: Layout::NCHW, color: ColorOrder::Rgb, scale: 1.0, mean: [0.0; 3], std: [1.0; 3], resize }
    }
}

impl Manifest {
    /// A manifest of this format for `model` and `input`, with nothing else (no outputs, post
    /// parameters, labels, quantization or accuracy): the rest is filled in by the caller.
    pub fn new(compiler: &str, model: ModelInfo, input: InputSpec) -> Manifest {
        Manifest {
            format: FORMAT_VERSION,
            compiler: compiler.into(),
            model,
            input,
            outputs: vec![],
            post: toml::Table::new(),
            labels: None,
            quantization: None,
            accuracy: None,
            required_ops: vec![],
            entries: BTreeMap::new(),
        }
    }

    /// Parses `oar.toml`; unknown fields are rejected with their name.
    pub fn from_toml(text: &str) -> Result<Manifest, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks the values a reader would otherwise trust: every size within a stated bound
    /// ([`oar_io::MAX_SIDE`], [`MAX_LABELS`]), scale and std finite and non-zero, mean finite,
    /// every float in `[post]` finite. The message names the key and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        let i = &self.input;
        finite_nonzero("input.scale", i.scale)?;
        for (k, v) in i.mean.iter().enumerate() {
            if !v.is_finite() {
                return Err(format!("input.mean[{k}] = {v}: expected a finite number"));
            }
        }
        for (k, v) in i.std.iter().enumerate() {
            finite_nonzero(&format!("input.std[{k}]"), *v)?;
        }
        match &i.resize {
            ResizePolicy::LimitSide { limit, multiple, .. } => {
                side("input.resize.limit", *limit)?;
                in_range("input.resize.multiple", *multiple, 1, (*limit).min(MAX_MULTIPLE))?;
            }
            ResizePolicy::FixedHeight { height, min_width, max_width } => {
                side("input.resize.height", *height)?;
                side("input.resize.min_width", *min_width)?;
                if let Some(m) = max_width {
                    in_range("input.resize.max_width", *m, *min_width, oar_io::MAX_SIDE)?;
                }
            }
            ResizePolicy::Stretch { width, height } => {
                side("input.resize.width", *width)?;
                side("input.resize.height", *height)?;
            }
            ResizePolicy::ShortSideCrop { short_side, crop } => {
                side("input.resize.short_side", *short_side)?;
                in_range("input.resize.crop", *crop, 1, *short_side)?;
            }
        }
        if let Some(l) = &self.labels {
            if l.count > MAX_LABELS {
                return Err(format!("labels.count = {}: expected at most {MAX_LABELS}", l.count));
            }
        }
        finite_floats("post", &self.post)
    }

    /// Serialises to `oar.toml`.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

/// `limit-side` rounds sides to a multiple of at most this.
const MAX_MULTIPLE: u32 = 256;
/// At most this many labels (a CJK dictionary has ~20k).
pub const MAX_LABELS: usize = 1 << 20;

fn in_range(key: &str, v: u32, lo: u32, hi: u32) -> Result<(), String> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!("{key} = {v}: expected {lo} to {hi}"))
    }
}

fn side(key: &str, v: u32) -> Result<(), String> {
    in_range(key, v, 1, oar_io::MAX_SIDE)
}

fn finite_nonzero(key: &str, v: f32) -> Result<(), String> {
    if v.is_finite() && v != 0.0 {
        Ok(())
    } else {
        Err(format!("{key} = {v}: expected a finite, non-zero number"))
    }
}

/// Every float in a table (post-processing thresholds, ratios ...) must be finite.
fn finite_floats(key: &str, t: &toml::Table) -> Result<(), String> {
    fn check(key: &str, v: &toml::Value) -> Result<(), String> {
        match v {
            toml::Value::Float(f) if !f.is_finite() => Err(format!("{key} = {f}: expected a finite number")),
            toml::Value::Array(a) => a.iter().enumerate().try_for_each(|(i, v)| check(&format!("{key}[{i}]"), v)),
            toml::Value::Table(t) => finite_floats(key, t),
            _ => Ok(()),
        }
    }
    t.iter().try_for_each(|(k, v)| check(&format!("{key}.{k}"), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        let model = ModelInfo { id: "m".into(), task: Task::TextDetection, source: "test".into(), sha256: "00".repeat(32) };
        let input = InputSpec {
            name: "x".into(),
            layout: Layout::NCHW,
            color: ColorOrder::Bgr,
            scale: 1.0 / 255.0,
            mean: [0.5; 3],
            std: [0.5; 3],
            resize: ResizePolicy::LimitSide { limit: 736, mode: LimitMode::Min, multiple: 32 },
        };
        Manifest::new("oar test", model, input)
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
    fn refuses_values_that_make_no_sense_naming_the_key() {
        let mut nan_post = sample();
        nan_post.post.insert("thresh".into(), toml::Value::Float(f64::NAN));
        let mut nested = sample();
        nested.post.insert("strides".into(), toml::Value::Array(vec![8.into(), toml::Value::Float(f64::INFINITY)]));
        let with = |f: fn(&mut Manifest)| {
            let mut m = sample();
            f(&mut m);
            m
        };
        for (m, want) in [
            (with(|m| m.input.scale = f32::NAN), "input.scale = NaN"),
            (with(|m| m.input.std[1] = 0.0), "input.std[1] = 0"),
            (with(|m| m.input.mean[2] = f32::INFINITY), "input.mean[2] = inf"),
            (
                with(|m| m.input.resize = ResizePolicy::LimitSide { limit: u32::MAX, mode: LimitMode::Min, multiple: 32 }),
                "input.resize.limit = 4294967295: expected 1 to 4096",
            ),
            (
                with(|m| m.input.resize = ResizePolicy::LimitSide { limit: 736, mode: LimitMode::Min, multiple: 0 }),
                "input.resize.multiple = 0: expected 1 to 256",
            ),
            (with(|m| m.input.resize = ResizePolicy::Stretch { width: 100_000, height: 8 }), "input.resize.width = 100000"),
            (
                with(|m| m.input.resize = ResizePolicy::FixedHeight { height: 48, min_width: 320, max_width: Some(10) }),
                "input.resize.max_width = 10: expected 320 to 4096",
            ),
            (with(|m| m.input.resize = ResizePolicy::ShortSideCrop { short_side: 100, crop: 224 }), "input.resize.crop = 224"),
            (with(|m| m.labels = Some(LabelsInfo { entry: "labels.txt".into(), count: usize::MAX })), "labels.count"),
            (nan_post, "post.thresh = NaN"),
            (nested, "post.strides[1] = inf"),
        ] {
            let e = m.validate().unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
        sample().validate().unwrap();
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
