//! `oar.toml`: everything the device needs to use a model, besides the graph itself.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The plan format this crate writes. 2: the manifest lists the model's inputs (`inputs`), and the
/// image pre-processing (`input`) is optional (plans of token ids, audio frames, any tensors).
pub const FORMAT_VERSION: u32 = 2;
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
    /// How to make the input tensor from an image; absent when the inputs are tensors the caller
    /// makes (token ids, audio features ...: `oar infer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputSpec>,
    /// The model's inputs, in order (empty in format-1 plans: see [`Manifest::input_specs`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<TensorSpec>,
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

/// One input or output tensor of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<Dim>,
    pub dtype: DType,
}

impl TensorSpec {
    /// The tensor `name` of type `dtype` and shape `shape`.
    pub fn new(name: &str, dtype: DType, shape: Vec<Dim>) -> TensorSpec {
        TensorSpec { name: name.into(), shape, dtype }
    }
}

impl std::fmt::Display for TensorSpec {
    /// `input_ids: i64[1, seq]`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        write!(f, "{}: {}[{}]", self.name, self.dtype, dims.join(", "))
    }
}

/// The element type of a tensor, as plans write it (`f32`, `i64` ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F64,
    F16,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
}

impl DType {
    /// Every type, as written in files.
    pub const ALL: [DType; 12] =
        [DType::F32, DType::F64, DType::F16, DType::I8, DType::U8, DType::I16, DType::U16, DType::I32, DType::U32, DType::I64, DType::U64, DType::Bool];

    /// The name written in files.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::I64 => "i64",
            DType::U64 => "u64",
            DType::Bool => "bool",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::F16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One dimension of a tensor: a number, or a name fixed when the model runs (`seq`, `h`; for an
/// output, an expression of them such as `2*h`). Written as `1` or `"seq"`; format-1 plans wrote
/// `-1` for a dimension that depends on the input, read as `"?"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "DimRepr", into = "DimRepr")]
pub enum Dim {
    Fixed(u64),
    Symbol(String),
}

impl Dim {
    /// The symbol's name, if the dimension is a plain symbol (not a number or an expression).
    pub fn symbol(&self) -> Option<&str> {
        match self {
            Dim::Symbol(s) if is_identifier(s) => Some(s),
            _ => None,
        }
    }
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbol(s) => f.write_str(s),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum DimRepr {
    Int(i64),
    Name(String),
}

impl TryFrom<DimRepr> for Dim {
    type Error = String;
    fn try_from(r: DimRepr) -> Result<Dim, String> {
        match r {
            DimRepr::Int(-1) => Ok(Dim::Symbol("?".into())),
            DimRepr::Int(n) if n >= 0 => Ok(Dim::Fixed(n as u64)),
            DimRepr::Int(n) => Err(format!("dimension {n}: expected a size, a name, or -1")),
            DimRepr::Name(s) if !s.is_empty() && s.len() <= 64 => Ok(Dim::Symbol(s)),
            DimRepr::Name(s) => Err(format!("dimension {s:?}: expected a name of 1 to 64 characters")),
        }
    }
}

impl From<Dim> for DimRepr {
    fn from(d: Dim) -> DimRepr {
        match d {
            Dim::Fixed(n) => DimRepr::Int(n as i64),
            Dim::Symbol(s) => DimRepr::Name(s),
        }
    }
}

/// `seq`, `h`, `batch_size`: what a symbolic input dimension may be called.
pub fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// At most this many dimensions per input.
pub const MAX_RANK: usize = 8;

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
    /// The tensor this image input becomes: f32, batch 1, 3 channels, height and width named `h`
    /// and `w` where the resize policy leaves them to the image.
    pub fn tensor(&self) -> TensorSpec {
        let (h, w) = match &self.resize {
            ResizePolicy::LimitSide { .. } => (Dim::Symbol("h".into()), Dim::Symbol("w".into())),
            ResizePolicy::FixedHeight { height, min_width, max_width } => (
                Dim::Fixed(*height as u64),
                if max_width == &Some(*min_width) { Dim::Fixed(*min_width as u64) } else { Dim::Symbol("w".into()) },
            ),
            ResizePolicy::Stretch { width, height } => (Dim::Fixed(*height as u64), Dim::Fixed(*width as u64)),
            ResizePolicy::ShortSideCrop { crop, .. } => (Dim::Fixed(*crop as u64), Dim::Fixed(*crop as u64)),
        };
        let shape = match self.layout {
            Layout::NCHW => vec![Dim::Fixed(1), Dim::Fixed(3), h, w],
            Layout::NHWC => vec![Dim::Fixed(1), h, w, Dim::Fixed(3)],
        };
        TensorSpec::new(&self.name, DType::F32, shape)
    }

    /// An NCHW RGB input fed the pixel values as they are (scale 1, mean 0, std 1).
    pub fn raw(name: &str, resize: ResizePolicy) -> InputSpec {
        InputSpec { name: name.into(), layout: Layout::NCHW, color: ColorOrder::Rgb, scale: 1.0, mean: [0.0; 3], std: [1.0; 3], resize }
    }
}

impl Manifest {
    /// A manifest of this format for `model` and `input`, with nothing else (no outputs, post
    /// parameters, labels, quantization or accuracy): the rest is filled in by the caller.
    pub fn new(compiler: &str, model: ModelInfo, input: InputSpec) -> Manifest {
        Manifest { inputs: vec![input.tensor()], input: Some(input), ..Manifest::of_tensors(compiler, model, vec![]) }
    }

    /// A manifest for a model whose inputs are the given tensors (no image pre-processing).
    pub fn of_tensors(compiler: &str, model: ModelInfo, inputs: Vec<TensorSpec>) -> Manifest {
        Manifest {
            format: FORMAT_VERSION,
            compiler: compiler.into(),
            model,
            input: None,
            inputs,
            outputs: vec![],
            post: toml::Table::new(),
            labels: None,
            quantization: None,
            accuracy: None,
            required_ops: vec![],
            entries: BTreeMap::new(),
        }
    }

    /// The image pre-processing, or an error saying that this plan takes tensors, not images.
    pub fn image(&self) -> Result<&InputSpec, String> {
        self.input.as_ref().ok_or_else(|| {
            let inputs: Vec<String> = self.inputs.iter().map(|t| t.to_string()).collect();
            format!("the plan takes tensors ({}), not an image: run it with `oar infer`", inputs.join("; "))
        })
    }

    /// The model's inputs: as listed, or (format-1 plans) the one tensor the image input becomes.
    pub fn input_specs(&self) -> Vec<TensorSpec> {
        match (&self.inputs[..], &self.input) {
            ([], Some(image)) => vec![image.tensor()],
            (inputs, _) => inputs.to_vec(),
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
        if self.input.is_none() && self.inputs.is_empty() {
            return Err("the manifest describes no input: expected `input` (an image) or `inputs`".into());
        }
        for (k, t) in self.inputs.iter().enumerate() {
            if t.shape.len() > MAX_RANK {
                return Err(format!("inputs[{k}] ({}): rank {}, expected at most {MAX_RANK}", t.name, t.shape.len()));
            }
            for d in &t.shape {
                match d {
                    Dim::Fixed(n) if *n > MAX_DIM => return Err(format!("inputs[{k}] ({t}): dimension {n}, expected at most {MAX_DIM}")),
                    Dim::Symbol(s) if !is_identifier(s) => {
                        return Err(format!("inputs[{k}] ({t}): dimension {s:?}, expected a number or a name (letters, digits, _)"))
                    }
                    _ => {}
                }
            }
        }
        let Some(i) = &self.input else { return finite_floats("post", &self.post) };
        if self.inputs.len() > 1 {
            return Err(format!("an image plan has one input, the manifest lists {}", self.inputs.len()));
        }
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

/// No fixed input dimension is larger than this.
pub const MAX_DIM: u64 = 1 << 24;
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

    fn tokens() -> Manifest {
        let model = ModelInfo { id: "tiny-bert".into(), task: Task::Raw, source: "test".into(), sha256: "00".repeat(32) };
        let seq = || Dim::Symbol("seq".into());
        Manifest::of_tensors(
            "oar test",
            model,
            vec![
                TensorSpec::new("input_ids", DType::I64, vec![Dim::Fixed(1), seq()]),
                TensorSpec::new("token_type_ids", DType::I64, vec![Dim::Fixed(1), seq()]),
            ],
        )
    }

    #[test]
    fn plans_of_tensors_round_trip_and_say_they_are_not_images() {
        let m = tokens();
        let text = m.to_toml().unwrap();
        assert!(text.contains("shape = [\n    1,\n    \"seq\",\n]") || text.contains("shape = [1, \"seq\"]"), "{text}");
        assert!(text.contains("dtype = \"i64\""), "{text}");
        assert!(!text.contains("[input]"), "{text}");
        assert_eq!(Manifest::from_toml(&text).unwrap(), m);
        m.validate().unwrap();
        let e = m.image().unwrap_err();
        assert!(e.contains("input_ids: i64[1, seq]; token_type_ids: i64[1, seq]") && e.contains("oar infer"), "{e}");
        assert_eq!(m.input_specs(), m.inputs);
        // An image plan lists its one tensor too.
        assert_eq!(sample().input_specs()[0].to_string(), "x: f32[1, 3, h, w]");
    }

    #[test]
    fn format_1_manifests_still_read() {
        // As a format-1 compiler wrote them: no `inputs`, outputs with -1 for input-dependent dims.
        let mut text = sample().to_toml().unwrap().replace("format = 2", "format = 1");
        let start = text.find("[[inputs]]").unwrap();
        let end = text[start..].find("\n\n").map(|e| start + e + 2).unwrap_or(text.len());
        text.replace_range(start..end, "");
        text = text.replace("outputs = []\n", "");
        text.push_str("\n[[outputs]]\nname = \"sigmoid_0\"\nshape = [1, 1, -1, -1]\ndtype = \"f32\"\n");
        let m = Manifest::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(m.inputs.is_empty());
        assert_eq!(m.input_specs(), vec![sample().input.unwrap().tensor()]);
        assert_eq!(m.outputs[0].shape, [Dim::Fixed(1), Dim::Fixed(1), Dim::Symbol("?".into()), Dim::Symbol("?".into())]);
        assert_eq!(m.outputs[0].dtype, DType::F32);
    }

    #[test]
    fn bad_tensor_inputs_are_refused_naming_them() {
        let with = |f: fn(&mut Manifest)| {
            let mut m = tokens();
            f(&mut m);
            m
        };
        for (m, want) in [
            (with(|m| m.inputs.clear()), "describes no input"),
            (with(|m| m.inputs[1].shape[1] = Dim::Symbol("2*seq".into())), "inputs[1] (token_type_ids: i64[1, 2*seq]): dimension \"2*seq\""),
            (with(|m| m.inputs[0].shape[0] = Dim::Fixed(1 << 40)), "inputs[0] (input_ids: i64[1099511627776, seq]): dimension 1099511627776"),
            (with(|m| m.inputs[0].shape = vec![Dim::Fixed(1); 9]), "rank 9"),
        ] {
            let e = m.validate().unwrap_err();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
        for bad in ["dtype = \"i64\"", "shape = [1, -2]"] {
            let text = tokens().to_toml().unwrap();
            let text = if bad.starts_with("dtype") { text.replacen(bad, "dtype = \"complex64\"", 1) } else { text.replacen("1,\n    \"seq\"", "1, -2", 1) };
            let e = Manifest::from_toml(&text).unwrap_err().to_string();
            assert!(e.contains("complex64") || e.contains("-2"), "{e}\n{text}");
        }
    }

    #[test]
    fn rejects_unknown_fields_by_name() {
        let text = sample().to_toml().unwrap().replace("format = 2", "format = 2\ncolour = 3");
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
            (with(|m| m.input.as_mut().unwrap().scale = f32::NAN), "input.scale = NaN"),
            (with(|m| m.input.as_mut().unwrap().std[1] = 0.0), "input.std[1] = 0"),
            (with(|m| m.input.as_mut().unwrap().mean[2] = f32::INFINITY), "input.mean[2] = inf"),
            (
                with(|m| m.input.as_mut().unwrap().resize = ResizePolicy::LimitSide { limit: u32::MAX, mode: LimitMode::Min, multiple: 32 }),
                "input.resize.limit = 4294967295: expected 1 to 4096",
            ),
            (
                with(|m| m.input.as_mut().unwrap().resize = ResizePolicy::LimitSide { limit: 736, mode: LimitMode::Min, multiple: 0 }),
                "input.resize.multiple = 0: expected 1 to 256",
            ),
            (with(|m| m.input.as_mut().unwrap().resize = ResizePolicy::Stretch { width: 100_000, height: 8 }), "input.resize.width = 100000"),
            (
                with(|m| m.input.as_mut().unwrap().resize = ResizePolicy::FixedHeight { height: 48, min_width: 320, max_width: Some(10) }),
                "input.resize.max_width = 10: expected 320 to 4096",
            ),
            (with(|m| m.input.as_mut().unwrap().resize = ResizePolicy::ShortSideCrop { short_side: 100, crop: 224 }), "input.resize.crop = 224"),
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
