//! oar's compiler: ONNX (or a TensorFlow frozen graph) → tract (decluttered) → a verified NNEF plan.
//!
//! `load ONNX / TF → pin the input shape → declutter → check against the loaded graph → emit`.
//! Calibration, int8 quantization and pruning plug in between declutter and emit.

use oar_plan::tract::*;
use oar_plan::{
    join_labels, sha256_hex, write_plan, Dim, InputSpec, LabelsInfo, Layout, Manifest, ModelInfo, ResizePolicy, TensorSpec,
    LABELS_ENTRY, MODEL_ENTRY,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tract_onnx::prelude::{InferenceFact, InferenceModelExt};

mod deform_conv;
mod inputs;
pub use inputs::{declared_inputs, seeded_inputs, ModelInput, CHECK_DIM};
mod rewrite;
pub mod prune;
mod tensorflow;
mod zoo_fixes;
pub mod int8;
pub mod quant;

/// The compiler's version string, written into every manifest.
pub const COMPILER: &str = concat!("oar ", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: cannot load the {format} model: {}", brief(.message))]
    Load { path: PathBuf, format: &'static str, message: String },
    #[error("{path}: {}", brief(.message))]
    Model { path: PathBuf, message: String },
    #[error("{path}: the compiled plan does not reproduce the source model: max abs error {error} on output {output} (allowed {allowed})")]
    Mismatch { path: PathBuf, output: usize, error: f32, allowed: f32 },
    #[error(transparent)]
    Plan(#[from] oar_plan::PlanError),
}

/// A tract error as one line: its first line, at most 600 characters. tract puts whole graphs
/// and patches (`ModelPatch { … }`) into some messages, on the lines after the cause.
fn brief(message: &str) -> String {
    let line = message.lines().next().unwrap_or("");
    match line.char_indices().nth(600) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// Where a model's labels or dictionary come from.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelsSource {
    None,
    List(Vec<String>),
    /// A key of the ONNX file's metadata (one label per line), as PaddleOCR exports keep the dictionary.
    OnnxMetadata(String),
    /// A text file, one label per line.
    File(PathBuf),
}

/// What kind of file a source model is.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SourceFormat {
    #[default]
    Onnx,
    /// A TensorFlow frozen graph, cut at these nodes: each of `inputs` becomes a model input,
    /// `outputs` are the model's outputs.
    TensorFlow { inputs: Vec<String>, outputs: Vec<String> },
}

impl SourceFormat {
    fn name(&self) -> &'static str {
        match self {
            SourceFormat::Onnx => "ONNX",
            SourceFormat::TensorFlow { .. } => "TensorFlow",
        }
    }
}

/// A model to compile and what the device needs to know about it.
#[derive(Debug, Clone)]
pub struct SourceModel {
    pub path: PathBuf,
    pub format: SourceFormat,
    pub id: String,
    pub task: oar_plan::Task,
    /// Human-readable origin (registry coordinates or a path).
    pub origin: String,
    pub input: ModelInput,
    pub post: toml::Table,
    pub labels: LabelsSource,
}

/// What was written.
#[derive(Debug)]
pub struct Compiled {
    pub manifest: Manifest,
    /// Max abs difference between the plan and the ONNX model on the check input, per output.
    pub check_error: Vec<f32>,
}

/// A model loaded and decluttered, with the manifest its plan will carry: what passes
/// (quantization, pruning) start from before [`emit`].
#[derive(Debug, Clone)]
pub struct Prepared {
    pub typed: TypedModel,
    /// `quantization` and `accuracy` are for the passes to fill.
    pub manifest: Manifest,
    pub labels: Option<Vec<String>>,
    /// The ONNX file (for messages).
    pub path: PathBuf,
    /// The inputs of the compile-time check.
    pub check: Vec<Tensor>,
}

/// Choices of [`compile_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileOptions {
    /// Replace tract ops by oar's own where it has faster ones (float depthwise and pointwise convs
    /// with their BatchNorm and activation: `oar_ops::lower_float`). Off: the plan uses tract's ops only (runs on any oar
    /// runtime, and is the baseline to compare with).
    pub oar_ops: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions { oar_ops: true }
    }
}

/// Compiles `src` to a float plan at `out` (written atomically), with the default options.
pub fn compile(src: &SourceModel, out: &Path) -> Result<Compiled, CompileError> {
    compile_with(src, out, &CompileOptions::default())
}

/// Compiles `src` to a float plan at `out` (written atomically). With `opts.oar_ops`, the plan is
/// still checked against the decluttered source graph (not against the lowered one).
pub fn compile_with(src: &SourceModel, out: &Path, opts: &CompileOptions) -> Result<Compiled, CompileError> {
    let prepared = prepare(src)?;
    if !opts.oar_ops {
        return emit(&prepared, &prepared.typed, out);
    }
    let mut model = prepared.typed.clone();
    let lowered = oar_ops::lower_float(&mut model).map_err(|e| CompileError::Model {
        path: prepared.path.clone(),
        message: format!("cannot lower float convs to oar ops: {e:#}"),
    })?;
    log::info!("{}: {lowered} float depthwise / pointwise / stem convs run by oar_dwconv_f32 / oar_pwconv_f32 / oar_conv_f32", prepared.path.display());
    emit_checked(&prepared, &model, &prepared.typed, out)
}

/// Loads `src`, pins its input shape and declutters it.
pub fn prepare(src: &SourceModel) -> Result<Prepared, CompileError> {
    prepare_with(src, false)
}

/// [`prepare`] for int8 quantization: 1×1 convs stay convs (tract's declutter would make them
/// matmuls) so that `quant` can give them to oar's pointwise kernel. Compare and time against
/// [`quant::float_reference`] of the result, which turns the float ones back into matmuls.
pub fn prepare_for_int8(src: &SourceModel) -> Result<Prepared, CompileError> {
    prepare_with(src, true)
}

fn prepare_with(src: &SourceModel, keep_pointwise: bool) -> Result<Prepared, CompileError> {
    let bytes = std::fs::read(&src.path).map_err(|source| CompileError::Io { path: src.path.clone(), source })?;
    let load_err =
        |e: TractError| CompileError::Load { path: src.path.clone(), format: src.format.name(), message: format!("{e:#}") };
    let inference = match &src.format {
        SourceFormat::Onnx => {
            let onnx = onnx_loader();
            let mut proto = onnx.proto_model_for_read(&mut std::io::Cursor::new(&bytes)).map_err(load_err)?;
            let rewritten = rewrite::shape_casts_to_int64(&mut proto);
            if rewritten > 0 {
                log::info!("{}: {rewritten} int32 casts of shapes kept as int64", src.path.display());
            }
            if let ModelInput::Tensors { specs, .. } = &src.input {
                inputs::declare(&mut proto, specs);
            }
            let fixed = zoo_fixes::apply(&mut proto);
            if fixed.total() > 0 {
                log::info!("{}: paddle2onnx patterns rewritten: {fixed:?}", src.path.display());
            }
            onnx.model_for_proto_model(&proto).map_err(load_err)?
        }
        SourceFormat::TensorFlow { inputs, outputs } => tensorflow::load(&bytes, inputs, outputs).map_err(load_err)?,
    };

    let labels = resolve_labels(&src.labels, &inference, &src.path)?;

    let facts = match &src.input {
        ModelInput::Image(spec) => vec![(DatumType::F32, input_shape(spec, &inference.symbols))],
        ModelInput::Tensors { specs, .. } => {
            let n = inference.input_outlets().map(|o| o.len()).unwrap_or(0);
            if n != specs.len() {
                return Err(CompileError::Model {
                    path: src.path.clone(),
                    message: format!("the model has {n} input(s), {} described", specs.len()),
                });
            }
            specs.iter().map(|t| (oar_plan::datum_type(t.dtype), inputs::fact(t, &inference.symbols))).collect()
        }
    };
    let mut typed = pin_and_declutter(inference, facts, &src.path, keep_pointwise)?;
    let sums = zoo_fixes::cumsum_over_shapes(&mut typed)
        .map_err(|e| CompileError::Model { path: src.path.clone(), message: format!("cannot rewrite CumSum over a shape: {e:#}") })?;
    if sums > 0 {
        log::info!("{}: {sums} CumSum over shape values summed in i64", src.path.display());
    }
    // The manifest carries what matters from the ONNX metadata (e.g. the dictionary); dropping the
    // properties keeps the plan small.
    typed.properties.retain(|k, _| !k.starts_with("onnx."));

    let model = ModelInfo { id: src.id.clone(), task: src.task, source: src.origin.clone(), sha256: sha256_hex(&bytes) };
    let base = match &src.input {
        ModelInput::Image(spec) => Manifest::new(COMPILER, model, spec.clone()),
        ModelInput::Tensors { specs, .. } => {
            // Named as in the graph (tract's names of the input nodes).
            let graph_name = |k: usize| typed.input_outlets().ok()?.get(k).map(|o| typed.node(o.node).name.clone());
            let specs = specs
                .iter()
                .enumerate()
                .map(|(k, s)| TensorSpec { name: graph_name(k).unwrap_or_else(|| s.name.clone()), ..s.clone() })
                .collect();
            Manifest::of_tensors(COMPILER, model, specs)
        }
    };
    let manifest = Manifest {
        outputs: output_specs(&typed).map_err(|message| CompileError::Model { path: src.path.clone(), message })?,
        post: src.post.clone(),
        labels: labels.as_ref().map(|l| LabelsInfo { entry: LABELS_ENTRY.into(), count: l.len() }),
        ..base
    };
    let check = match &src.input {
        ModelInput::Image(spec) => vec![seeded_input(&check_shape(spec), 7)],
        ModelInput::Tensors { check, .. } if !check.is_empty() => check.clone(),
        ModelInput::Tensors { specs, .. } => {
            inputs::seeded_inputs(specs, 7).map_err(|message| CompileError::Model { path: src.path.clone(), message })?
        }
    };
    Ok(Prepared { typed, manifest, labels, path: src.path.clone(), check })
}

/// Writes `model` (the prepared graph, or one a pass made from it) as a plan at `out`, with
/// `prepared`'s manifest and labels, after checking that the NNEF written reads back and
/// computes what `model` computes.
pub fn emit(prepared: &Prepared, model: &TypedModel, out: &Path) -> Result<Compiled, CompileError> {
    emit_checked(prepared, model, model, out)
}

/// [`emit`], checking the plan against `reference` (a graph computing what `model` computes).
fn emit_checked(prepared: &Prepared, model: &TypedModel, reference: &TypedModel, out: &Path) -> Result<Compiled, CompileError> {
    let model_err = |message: String| CompileError::Model { path: prepared.path.clone(), message };
    let mut model = model.clone();
    let gelus = zoo_fixes::expand_gelu_exact(&mut model).map_err(|e| model_err(format!("cannot expand GELU: {e:#}")))?;
    if gelus > 0 {
        log::info!("{}: {gelus} GELU expanded to erf for NNEF", prepared.path.display());
    }
    let model = &model;
    let nnef = oar_plan::nnef()
        .write_to_tar_with_config(model, Vec::new(), false, true)
        .map_err(|e| model_err(format!("cannot serialise to NNEF: {e:#}")))?;

    let check_error = check_against_source(reference, &nnef, &prepared.check, &prepared.path)?;

    let labels_text = prepared.labels.as_deref().map(join_labels);
    // An older runtime must refuse a plan that uses an oar op it lacks, by name.
    let mut manifest = prepared.manifest.clone();
    manifest.required_ops = oar_ops::required_ops(model)
        .into_iter()
        .map(|o| oar_plan::RequiredOp { name: o.name.into(), version: o.version, oar: o.since.into() })
        .collect();
    let mut entries: Vec<(&str, &[u8])> = vec![(MODEL_ENTRY, &nnef)];
    if let Some(t) = &labels_text {
        entries.push((LABELS_ENTRY, t.as_bytes()));
    }
    let manifest = write_plan(out, &manifest, &entries)?;
    log::info!("wrote {} ({} bytes of NNEF)", out.display(), nnef.len());
    Ok(Compiled { manifest, check_error })
}

/// tract-onnx with the ops oar adds (`DeformConv`, run by `oar_ops::DeformConv`).
fn onnx_loader() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx()
        // paddle2onnx tags shapes with a batch symbol that conflicts with a pinned input: trust the
        // graph, not the annotations.
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true);
    deform_conv::register(&mut onnx);
    onnx
}

/// Reads an ONNX file as a protobuf, with the compiler's rewrites applied (for graph surgery such
/// as pruning before [`typed_model`]).
pub fn read_onnx(path: &Path) -> Result<tract_onnx::pb::ModelProto, CompileError> {
    let bytes = std::fs::read(path).map_err(|source| CompileError::Io { path: path.to_path_buf(), source })?;
    let mut proto = onnx_loader()
        .proto_model_for_read(&mut std::io::Cursor::new(&bytes))
        .map_err(|e| CompileError::Load { path: path.to_path_buf(), format: "ONNX", message: format!("{e:#}") })?;
    rewrite::shape_casts_to_int64(&mut proto);
    Ok(proto)
}

/// Writes an ONNX protobuf atomically (temporary file, then rename).
pub fn write_onnx(proto: &tract_onnx::pb::ModelProto, path: &Path) -> Result<(), CompileError> {
    use prost::Message;
    let io = |source| CompileError::Io { path: path.to_path_buf(), source };
    let tmp = path.with_extension("onnx.tmp");
    std::fs::write(&tmp, proto.encode_to_vec()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// The decluttered tract model of an ONNX protobuf, with the input pinned as `compile` pins it
/// (symbolic where the image decides). `path` only names the model in errors.
pub fn typed_model(proto: &tract_onnx::pb::ModelProto, input: &InputSpec, path: &Path) -> Result<TypedModel, CompileError> {
    let inference = onnx_loader()
        .model_for_proto_model(proto)
        .map_err(|e| CompileError::Load { path: path.to_path_buf(), format: "ONNX", message: format!("{e:#}") })?;
    let shape = input_shape(input, &inference.symbols);
    pin_and_declutter(inference, vec![(DatumType::F32, shape)], path, false)
}

/// Like [`typed_model`], at one concrete input shape (for FLOPs counts).
pub fn typed_model_at(proto: &tract_onnx::pb::ModelProto, shape: &[usize], path: &Path) -> Result<TypedModel, CompileError> {
    let inference = onnx_loader()
        .model_for_proto_model(proto)
        .map_err(|e| CompileError::Load { path: path.to_path_buf(), format: "ONNX", message: format!("{e:#}") })?;
    pin_and_declutter(inference, vec![(DatumType::F32, shape.iter().map(|&d| TDim::from(d as i64)).collect())], path, false)
}

fn pin_and_declutter(
    inference: tract_onnx::prelude::InferenceModel,
    facts: Vec<(DatumType, Vec<TDim>)>,
    path: &Path,
    keep_pointwise: bool,
) -> Result<TypedModel, CompileError> {
    let model_err = |message: String| CompileError::Model { path: path.to_path_buf(), message };
    let mut inference = inference;
    for (i, (dt, shape)) in facts.into_iter().enumerate() {
        inference = inference
            .with_input_fact(i, InferenceFact::dt_shape(dt, shape))
            .map_err(|e| model_err(format!("cannot set the shape of input {i}: {e:#}")))?;
    }
    inference
        .into_typed()
        .and_then(|mut m| {
            if keep_pointwise {
                quant::qconv::hide_pointwise(&mut m);
            }
            m.into_decluttered()
        })
        .map_err(|e| model_err(format!("cannot analyse the graph: {e:#}")))
}

/// The input shape to pin, from the resize policy: symbols where the image decides.
fn input_shape(input: &InputSpec, symbols: &SymbolScope) -> Vec<TDim> {
    let (n, h, w): (TDim, TDim, TDim) = match &input.resize {
        // Both sides are multiples of `multiple`: saying so lets tract prove that the feature maps
        // of an FPN line up (h/8 == 2·h/16 ...).
        ResizePolicy::LimitSide { multiple, .. } => {
            let m = (*multiple).max(1) as i64;
            // tract simplifies (m·h + c)/m only for h it can prove non-negative.
            for a in ["h >= 1", "w >= 1"] {
                let _ = symbols.add_assertion(a);
            }
            (1.into(), TDim::from(symbols.sym("h")) * m, TDim::from(symbols.sym("w")) * m)
        }
        ResizePolicy::FixedHeight { height, min_width, max_width } => {
            let w = match max_width {
                Some(m) if m == min_width => (*m as i64).into(),
                _ => {
                    let _ = symbols.add_assertion("w >= 1");
                    symbols.sym("w").into()
                }
            };
            // Batch 1: paddle2onnx's reshapes of a symbolic batch defeat tract's analysis, and the
            // device reads one line at a time anyway (the pipeline keeps PaddleOCR's batch widths).
            (1.into(), (*height as i64).into(), w)
        }
        ResizePolicy::Stretch { width, height } => (1.into(), (*height as i64).into(), (*width as i64).into()),
        ResizePolicy::ShortSideCrop { crop, .. } => (1.into(), (*crop as i64).into(), (*crop as i64).into()),
    };
    match input.layout {
        Layout::NCHW => vec![n, 3.into(), h, w],
        Layout::NHWC => vec![n, h, w, 3.into()],
    }
}

/// A concrete input shape for checks and benchmarks: the policy's typical size.
pub fn typical_input_shape(input: &InputSpec) -> Vec<usize> {
    let (h, w) = match &input.resize {
        ResizePolicy::LimitSide { limit, multiple, .. } => {
            let m = (*multiple).max(1) as usize;
            let h = (*limit as usize).div_ceil(m) * m;
            (h, h * 4 / 3 / m * m)
        }
        ResizePolicy::FixedHeight { height, min_width, .. } => (*height as usize, *min_width as usize),
        ResizePolicy::Stretch { width, height } => (*height as usize, *width as usize),
        ResizePolicy::ShortSideCrop { crop, .. } => (*crop as usize, *crop as usize),
    };
    match input.layout {
        Layout::NCHW => vec![1, 3, h, w],
        Layout::NHWC => vec![1, h, w, 3],
    }
}

/// A concrete shape for the compile-time check: small, and for symbolic widths deliberately not a
/// multiple of anything, so that a plan that only works for "round" sizes is caught here.
fn check_shape(input: &InputSpec) -> Vec<usize> {
    let (h, w) = match &input.resize {
        ResizePolicy::LimitSide { multiple, .. } => {
            let m = (*multiple).max(1) as usize;
            (m * 4, m * 6)
        }
        ResizePolicy::FixedHeight { height, min_width, max_width } if max_width != &Some(*min_width) => {
            (*height as usize, *min_width as usize + 13)
        }
        _ => return typical_input_shape(input),
    };
    match input.layout {
        Layout::NCHW => vec![1, 3, h, w],
        Layout::NHWC => vec![1, h, w, 3],
    }
}

/// A deterministic pseudo-random input in [-1, 1].
pub fn seeded_input(shape: &[usize], seed: u64) -> Tensor {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let len: usize = shape.iter().product();
    let data: Vec<f32> = (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_shape(shape, &data).expect("shape and data agree")
}

/// Runs the decluttered source graph (from ONNX or TensorFlow) and the NNEF plan on the same input
/// and compares their outputs: the plan is only written if it reproduces the model.
fn check_against_source(typed: &TypedModel, nnef: &[u8], inputs: &[Tensor], path: &Path) -> Result<Vec<f32>, CompileError> {
    let model_err = |message: String| CompileError::Model { path: path.to_path_buf(), message };
    let x: TVec<TValue> = inputs.iter().map(|t| t.clone().into_tvalue()).collect();
    let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
    // An int8 graph is checked against itself optimised: this check is about the NNEF round trip,
    // and tract's unoptimised quantized ops need not round like its optimised kernels (±1 in an
    // int8 tensor can move a softmax by 1e-2); the int8 plan's accuracy is the evaluation's job.
    // (Type scales survive the round trip exactly: `quant::nnef_exact_scale`.)
    let quantized = typed.nodes().iter().any(|n| n.outputs.iter().any(|o| o.fact.datum_type.is_quantized()));
    let reference = if quantized { typed.clone().into_optimized() } else { Ok(typed.clone()) }
        .and_then(|m| m.into_runnable())
        .and_then(|p| p.run(x.clone()))
        .map_err(|e| model_err(format!("the model does not run on inputs of shape {shapes:?}: {e:#}")))?;
    let reloaded = oar_plan::nnef()
        .model_for_read(&mut std::io::Cursor::new(nnef))
        .map_err(|e| model_err(format!("the NNEF written does not read back: {e:#}")))?;
    if quantized {
        // Also the layers, by kind: a lost or changed op must show even where the input misses it.
        let (want, got) = (op_histogram(typed), op_histogram(&reloaded));
        if want != got {
            return Err(model_err(format!("the NNEF read back has other ops: {got:?}, written {want:?}")));
        }
    }
    let got = reloaded
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .and_then(|p| p.run(x))
        .map_err(|e| model_err(format!("the plan does not run: {e:#}")))?;
    let mut errors = vec![];
    for (i, (a, b)) in reference.iter().zip(got.iter()).enumerate() {
        let err = max_abs_diff(a, b).map_err(|e| model_err(format!("output {i}: {e:#}")))?;
        let allowed = check_tolerance(a).map_err(|e| model_err(format!("output {i}: {e:#}")))?;
        if !(err <= allowed) {
            return Err(CompileError::Mismatch { path: path.to_path_buf(), output: i, error: err, allowed });
        }
        errors.push(err);
    }
    Ok(errors)
}

/// The layers (convs, matmuls, oar's ops) and how many of each: what an NNEF round trip must
/// keep (shape and cast ops may be written and read back in other forms).
fn op_histogram(model: &TypedModel) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for n in model.nodes() {
        let name = n.op.name();
        if name.starts_with("oar_") || ["Conv", "EinSum", "Softmax"].contains(&&*name) {
            *h.entry(name.to_string()).or_insert(0) += 1;
        }
    }
    h
}

/// The error the compile-time check allows on an output: 1e-3 of its largest magnitude, never
/// below 1e-3. The plan may sum in another order than the ONNX graph (fused or re-tiled kernels),
/// and that rounding grows with the values: outputs of seeded-weight nets reach 1e3 and more.
pub fn check_tolerance(reference: &Tensor) -> TractResult<f32> {
    const TOLERANCE: f32 = 1e-3;
    let r = reference.cast_to::<f32>()?;
    let scale = r.to_plain_array_view::<f32>()?.iter().fold(1f32, |m, v| if v.is_finite() { m.max(v.abs()) } else { m });
    Ok(TOLERANCE * scale)
}

/// Max abs difference of two tensors of the same shape (compared as f32).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> TractResult<f32> {
    if a.shape() != b.shape() {
        return Err(TractError::msg(format!("shapes differ: {:?} vs {:?}", a.shape(), b.shape())));
    }
    let a = a.cast_to::<f32>()?;
    let b = b.cast_to::<f32>()?;
    let a = a.to_plain_array_view::<f32>()?;
    let b = b.to_plain_array_view::<f32>()?;
    // A NaN on one side only is an infinite error (f32::max would drop it); NaN on both sides and
    // equal infinities agree.
    let diff = |x: f32, y: f32| {
        if x == y || (x.is_nan() && y.is_nan()) {
            0.0
        } else {
            let d = (x - y).abs();
            if d.is_nan() { f32::INFINITY } else { d }
        }
    };
    Ok(a.iter().zip(b.iter()).map(|(x, y)| diff(*x, *y)).fold(0.0, f32::max))
}

fn output_specs(model: &TypedModel) -> Result<Vec<TensorSpec>, String> {
    model
        .output_outlets()
        .unwrap_or(&[])
        .iter()
        .map(|o| {
            // The ONNX output's name where tract kept it (declutter may rename the node).
            let name = model.outlet_label(*o).map(str::to_string).unwrap_or_else(|| model.node(o.node).name.clone());
            let fact = model.outlet_fact(*o).map_err(|e| format!("output `{name}`: {e:#}"))?;
            let dtype = oar_plan::dtype_of(fact.datum_type)
                .ok_or_else(|| format!("output `{name}` has type {:?}, which a plan cannot describe", fact.datum_type))?;
            let shape = fact
                .shape
                .iter()
                .map(|d| match d.to_i64() {
                    Ok(n) if n >= 0 => Dim::Fixed(n as u64),
                    _ => Dim::Symbol(d.to_string()),
                })
                .collect();
            Ok(TensorSpec { name, shape, dtype })
        })
        .collect()
}

fn resolve_labels(
    source: &LabelsSource,
    model: &tract_onnx::prelude::InferenceModel,
    path: &Path,
) -> Result<Option<Vec<String>>, CompileError> {
    match source {
        LabelsSource::None => Ok(None),
        LabelsSource::List(l) => Ok(Some(l.clone())),
        LabelsSource::File(f) => {
            let text = std::fs::read_to_string(f).map_err(|source| CompileError::Io { path: f.clone(), source })?;
            Ok(Some(oar_plan::split_labels(&text)))
        }
        LabelsSource::OnnxMetadata(key) => {
            let prop = model.properties.get(&format!("onnx.metadata_props.{key}")).ok_or_else(|| CompileError::Model {
                path: path.to_path_buf(),
                message: format!("the ONNX metadata has no `{key}` entry (expected the labels there)"),
            })?;
            let text = prop.try_as_plain_ram().and_then(|v| v.to_scalar::<String>().cloned()).map_err(|e| CompileError::Model {
                path: path.to_path_buf(),
                message: format!("metadata `{key}` is not text: {e}"),
            })?;
            Ok(Some(text.lines().map(|s| s.to_string()).collect()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tract_errors_are_shown_as_one_bounded_line() {
        let e = CompileError::Model { path: "m.onnx".into(), message: "cannot analyse the graph: bad EinSum.\nModelPatch { huge }".into() };
        assert_eq!(e.to_string(), "m.onnx: cannot analyse the graph: bad EinSum.");
        let long = CompileError::Load { path: "m.onnx".into(), format: "ONNX", message: "é".repeat(1000) };
        let shown = long.to_string();
        assert!(shown.ends_with('…') && shown.chars().count() < 700, "{}", shown.len());
    }

    #[test]
    fn seeded_input_is_deterministic_and_bounded() {
        let a = seeded_input(&[2, 3], 1);
        assert_eq!(a, seeded_input(&[2, 3], 1));
        assert_ne!(a, seeded_input(&[2, 3], 2));
        assert!(a.to_plain_array_view::<f32>().unwrap().iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn max_abs_diff_does_not_hide_nans() {
        let t = |v: &[f32]| Tensor::from_shape(&[v.len()], v).unwrap();
        assert_eq!(max_abs_diff(&t(&[1.0, f32::NAN]), &t(&[1.5, 2.0])).unwrap(), f32::INFINITY);
        assert_eq!(max_abs_diff(&t(&[1.0, f32::NAN]), &t(&[1.5, f32::NAN])).unwrap(), 0.5);
        assert_eq!(max_abs_diff(&t(&[f32::INFINITY]), &t(&[f32::INFINITY])).unwrap(), 0.0);
    }

    #[test]
    fn check_tolerance_grows_with_the_output_and_has_a_floor() {
        let small = Tensor::from_shape(&[3], &[0.1f32, -0.5, 0.0]).unwrap();
        assert_eq!(check_tolerance(&small).unwrap(), 1e-3);
        let big = Tensor::from_shape(&[3], &[10.0f32, -4000.0, 2.0]).unwrap();
        assert!((check_tolerance(&big).unwrap() - 4.0).abs() < 1e-6);
        // A non-finite value does not make everything pass.
        let inf = Tensor::from_shape(&[2], &[f32::INFINITY, 2.0]).unwrap();
        assert!((check_tolerance(&inf).unwrap() - 2e-3).abs() < 1e-9);
    }

    #[test]
    fn typical_shapes_follow_the_policy() {
        let mut spec = InputSpec {
            name: "x".into(),
            layout: Layout::NCHW,
            color: oar_plan::ColorOrder::Bgr,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            resize: ResizePolicy::FixedHeight { height: 48, min_width: 320, max_width: None },
        };
        assert_eq!(typical_input_shape(&spec), vec![1, 3, 48, 320]);
        spec.resize = ResizePolicy::LimitSide { limit: 736, mode: oar_plan::LimitMode::Min, multiple: 32 };
        assert_eq!(typical_input_shape(&spec), vec![1, 3, 736, 960]);
        spec.layout = Layout::NHWC;
        spec.resize = ResizePolicy::Stretch { width: 128, height: 96 };
        assert_eq!(typical_input_shape(&spec), vec![1, 96, 128, 3]);
    }
}
