//! Post-training int8 quantization of a decluttered float [`TypedModel`].
//!
//! `calibrate` (histograms of every conv/matmul input activation over calibration inputs) →
//! thresholds (`minmax`, `percentile`, `kl`, `pact`) → `lower`: every selected float `Conv` becomes
//! tract's quantized conv (`Conv { q_params: Some(I32) }`) and every matmul (an `EinSum` with
//! constant weights: 1×1 convs after declutter) tract's quantized EinSum, int8 weights with
//! per-output-channel scales, preceded by a quantizing cast of the input and followed by a
//! dequantization to f32 — except depthwise 3×3 / 5×5 and pointwise 1×1 convs, which become
//! oar's own int8 op (`oar_ops::QConv`, module [`qconv`]) with the following affine ops and
//! activation fused in, writing int8 straight into the next int8 layer where nothing float sits
//! between them. `crate::int8` chooses layers by measured speed and accuracy. See docs/int8.md.

pub mod clip;
pub mod hist;
mod lower;
pub mod qconv;
mod storage;

use crate::CompileError;
use hist::Histogram;
use oar_plan::tract::tract_core::ops::cnn::{Conv, KernelFormat};
use oar_plan::tract::tract_core::ops::einsum::EinSum;
use oar_plan::tract::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use lower::{lower_conv, lower_matmul, matmul_shape, nnef_exact_scale, ActQuant, ConvQuant, MatMulShape};
pub use storage::store_weights_int8;

/// How activation thresholds are chosen from the calibration histograms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Per activation, the candidate of the methods below (and multiples of the best) that gives
    /// the convs reading it the smallest output error on calibration tiles ([`clip`]). The default.
    Auto,
    /// Largest |x| seen.
    MinMax,
    /// The `percentile`-th percentile of |x|.
    Percentile,
    /// TensorRT's entropy calibration (min KL divergence, 128 levels).
    Kl,
    /// The clip minimising the quantize→dequantize MSE of the tensor (offline PACT).
    Pact,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::MinMax => "minmax",
            Method::Percentile => "percentile",
            Method::Kl => "kl",
            Method::Pact => "pact",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Method::Auto),
            "minmax" | "max" => Ok(Method::MinMax),
            "percentile" => Ok(Method::Percentile),
            "kl" | "entropy" => Ok(Method::Kl),
            "pact" | "mse" => Ok(Method::Pact),
            _ => Err(format!("unknown calibration method `{s}` (auto, minmax, percentile, kl, pact)")),
        }
    }
}

/// Storage of quantized activations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ActDType {
    /// Symmetric int8, zero point 0, scale = threshold / 127.
    I8,
    /// uint8: zero point 0 and scale = threshold / 255 for tensors never negative on the
    /// calibration data, else zero point 128 and scale = threshold / 127.
    U8,
}

/// Which layers to quantize and how.
#[derive(Debug, Clone)]
pub struct QuantOptions {
    pub method: Method,
    /// For [`Method::Percentile`] (0–100).
    pub percentile: f64,
    /// Conv node names to quantize; `None`: every float, non-grouped (so non-depthwise) conv.
    pub layers: Option<Vec<String>>,
    /// Conv node names kept float whatever `layers` says.
    pub exclude: Vec<String>,
    pub activation: ActDType,
    /// Lower matmuls (EinSums with constant weights, e.g. 1×1 convs) too, not only convs.
    /// Off by default: tract's int8 matmul with a separate dequantization pass has not been
    /// timed against its float matmul yet; see docs/int8.md.
    pub matmuls: bool,
    /// Lower k×k (not depthwise) convs to tract's own int8 conv. Smaller weights, but tract runs
    /// it on its int8 matmul with im2col and separate requantization, measured ~30× slower than
    /// float on PP-OCRv4 det (docs/benchmarks.md): `false` keeps them float for speed. Depthwise
    /// and 1×1 convs use oar's `QConv` either way.
    pub kxk: bool,
    /// Subtract from each int8 conv's bias the mean output shift its int8 weights cause on the
    /// calibration tiles ([`clip::bias_shifts`]).
    pub bias_correction: bool,
}

impl Default for QuantOptions {
    fn default() -> Self {
        QuantOptions {
            method: Method::Auto,
            percentile: 99.99,
            layers: None,
            exclude: vec![],
            activation: ActDType::I8,
            matmuls: false,
            kxk: true,
            bias_correction: true,
        }
    }
}

/// The kind of a quantizable layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerKind {
    Conv,
    /// A matmul: an EinSum with constant weights (1×1 convs and linear layers after declutter).
    MatMul,
}

/// What one layer became.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerReport {
    pub name: String,
    pub kind: LayerKind,
    /// The node whose output is the layer's activation input.
    pub input: Option<String>,
    /// `None` when quantized, else why the layer stayed float.
    pub float_reason: Option<String>,
    /// Activation threshold and absmax on the calibration data (when it was calibrated).
    pub threshold: Option<f32>,
    /// With `auto`: which candidate the threshold is (e.g. `kl`, `minmax×0.9`).
    pub clip: Option<String>,
    pub absmax: Option<f32>,
    pub quant: Option<ConvQuant>,
}

/// What `quantize` did; [`QuantReport::to_toml`] is the manifest's `[quantization]` table.
#[derive(Debug, Clone)]
pub struct QuantReport {
    pub method: Method,
    pub percentile: Option<f64>,
    pub activation: ActDType,
    pub calibration_inputs: usize,
    pub layers: Vec<LayerReport>,
    /// Float layers whose weights the plan stores as int8 ([`store_weights_int8`]).
    pub weights_int8_storage: Vec<String>,
}

impl QuantReport {
    pub fn int8_layers(&self) -> usize {
        self.layers.iter().filter(|l| l.float_reason.is_none()).count()
    }

    pub fn to_toml(&self) -> toml::Table {
        let mut t = toml::Table::new();
        t.insert(
            "scheme".into(),
            "int8: weights symmetric per output channel, activations per tensor (depthwise inputs per channel where a channel's range is under 1/32 of the tensor's)".into(),
        );
        t.insert("method".into(), self.method.name().into());
        if let Some(p) = self.percentile {
            t.insert("percentile".into(), p.into());
        }
        t.insert("activation".into(), format!("{:?}", self.activation).to_lowercase().into());
        t.insert("calibration_inputs".into(), (self.calibration_inputs as i64).into());
        t.insert("int8_layers".into(), (self.int8_layers() as i64).into());
        t.insert("float_layers".into(), ((self.layers.len() - self.int8_layers()) as i64).into());
        let mut layers = vec![];
        for l in &self.layers {
            let mut e = toml::Table::new();
            e.insert("name".into(), l.name.clone().into());
            e.insert("kind".into(), if l.kind == LayerKind::Conv { "conv" } else { "matmul" }.into());
            e.insert("int8".into(), l.float_reason.is_none().into());
            if let Some(r) = &l.float_reason {
                e.insert("reason".into(), r.clone().into());
            }
            if let Some(x) = l.threshold {
                e.insert("threshold".into(), (x as f64).into());
            }
            if let Some(c) = &l.clip {
                e.insert("clip".into(), c.clone().into());
            }
            if let Some(x) = l.absmax {
                e.insert("absmax".into(), (x as f64).into());
            }
            if let Some(q) = &l.quant {
                e.insert("x_scale".into(), (q.x_scale as f64).into());
                e.insert("x_zero_point".into(), (q.x_zero_point as i64).into());
                if let Some(cs) = &q.x_channel_scales {
                    let lo = cs.iter().fold(f32::INFINITY, |a, &b| a.min(b));
                    e.insert("x_scale_per_channel_min".into(), (lo as f64).into());
                }
                e.insert("y_scale".into(), (q.y_scale as f64).into());
                let (lo, hi) = q.k_scale.iter().fold((f32::INFINITY, 0f32), |(a, b), &s| (a.min(s), b.max(s)));
                e.insert("k_scale_min".into(), (lo as f64).into());
                e.insert("k_scale_max".into(), (hi as f64).into());
                e.insert("out_channels".into(), (q.k_scale.len() as i64).into());
            }
            layers.push(toml::Value::Table(e));
        }
        t.insert("layers".into(), toml::Value::Array(layers));
        if !self.weights_int8_storage.is_empty() {
            let names: Vec<toml::Value> = self.weights_int8_storage.iter().map(|n| n.clone().into()).collect();
            t.insert("float_layers_with_int8_weights".into(), names.into());
        }
        t
    }
}

fn qerr(message: String) -> CompileError {
    CompileError::Model { path: PathBuf::from("<int8>"), message }
}

/// Activation statistics per outlet: histograms for the thresholds, small tiles for the `auto`
/// clip search, and the clips chosen from them ([`choose_clips`]).
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    pub hists: BTreeMap<OutletId, Histogram>,
    pub tiles: BTreeMap<OutletId, clip::Tiles>,
    /// `auto` thresholds, once chosen.
    pub clips: Option<BTreeMap<OutletId, clip::Clip>>,
}

impl Calibration {
    /// The histogram of an activation.
    pub fn get(&self, o: &OutletId) -> Option<&Histogram> {
        self.hists.get(o)
    }
}

/// Step 2 of the int8 sequence: the `auto` clip of every calibrated activation (kept in `stats`,
/// so that every later quantization of the same model reuses it).
pub fn choose_clips(model: &TypedModel, stats: &mut Calibration) {
    if stats.clips.is_none() {
        stats.clips = Some(clip::choose(model, &stats.hists, &stats.tiles));
    }
}

/// The activation outlets worth calibrating: input 0 of every float conv and the non-constant
/// inputs of every float matmul (EinSum).
pub fn calibration_outlets(model: &TypedModel) -> TractResult<Vec<OutletId>> {
    let mut outlets = vec![];
    for node in model.nodes() {
        let wanted: Vec<OutletId> = if let Some(c) = node.op_as::<Conv>() {
            if c.q_params.is_some() {
                continue;
            }
            vec![node.inputs[0]]
        } else if let Some(e) = node.op_as::<EinSum>() {
            if e.q_params.is_some() {
                continue;
            }
            node.inputs.iter().copied().filter(|o| model.outlet_fact(*o).map(|f| f.konst.is_none()).unwrap_or(false)).collect()
        } else {
            continue;
        };
        for o in wanted {
            if model.outlet_fact(o)?.datum_type == f32::datum_type() && !outlets.contains(&o) {
                outlets.push(o);
            }
        }
    }
    Ok(outlets)
}

/// Collects activation histograms one calibration input at a time (so that a caller can show
/// progress and skip inputs it cannot make). Models with symbolic input dimensions are
/// specialised per input shape by `oar_plan::Engine`.
pub struct Calibrator {
    outlets: Vec<OutletId>,
    engine: Option<oar_plan::Engine>,
    stats: Calibration,
    inputs: usize,
}

impl Calibrator {
    /// A calibrator for the float `model` (decluttered).
    pub fn new(model: &TypedModel) -> Result<Calibrator, CompileError> {
        let outlets = calibration_outlets(model).map_err(|e| qerr(format!("{e:#}")))?;
        let stats = Calibration { hists: outlets.iter().map(|o| (*o, Histogram::new())).collect(), ..Default::default() };
        let engine = if outlets.is_empty() {
            None
        } else {
            let mut probe = model.clone();
            probe.select_output_outlets(&outlets).map_err(|e| qerr(format!("{e:#}")))?;
            Some(oar_plan::Engine::from_model(probe, calibration_manifest())?)
        };
        Ok(Calibrator { outlets, engine, stats, inputs: 0 })
    }

    /// Runs one input (a tensor for input 0, preprocessed as on the device).
    pub fn add(&mut self, x: Tensor) -> Result<(), CompileError> {
        self.inputs += 1;
        let Some(engine) = &self.engine else { return Ok(()) };
        let values = engine.run_one(x)?;
        for (o, v) in self.outlets.iter().zip(values.iter()) {
            let v = v.cast_to::<f32>().map_err(|e| qerr(format!("{e:#}")))?;
            let data = v.try_as_plain_ram().and_then(|r| r.as_slice::<f32>().map(|s| s.to_vec())).map_err(|e| qerr(format!("{e:#}")))?;
            let channels = if v.rank() >= 2 { v.shape()[1] } else { 0 };
            self.stats.hists.get_mut(o).expect("one histogram per outlet").add_nchw(&data, channels);
            let seed = (self.inputs as u64) << 20 | (o.node as u64) << 4 | o.slot as u64;
            self.stats.tiles.entry(*o).or_default().add(&data, v.shape(), seed);
        }
        Ok(())
    }

    /// The histograms and how many inputs made them.
    pub fn finish(self) -> (Calibration, usize) {
        (self.stats, self.inputs)
    }
}

/// Engines need a manifest; calibration only uses the graph.
pub(crate) fn calibration_manifest() -> oar_plan::Manifest {
    let model = oar_plan::ModelInfo { id: "calibration".into(), task: oar_plan::Task::Raw, source: String::new(), sha256: String::new() };
    let input = oar_plan::InputSpec::raw("input", oar_plan::ResizePolicy::Stretch { width: 0, height: 0 });
    oar_plan::Manifest::new(crate::COMPILER, model, input)
}

/// Runs the float model on every calibration input (one tensor for input 0 each) and histograms
/// every activation of [`calibration_outlets`].
pub fn calibrate(model: &TypedModel, calib: &[Tensor]) -> Result<Calibration, CompileError> {
    let mut c = Calibrator::new(model)?;
    for (i, x) in calib.iter().enumerate() {
        c.add(x.clone()).map_err(|e| qerr(format!("calibration input {i}: {e}")))?;
    }
    Ok(c.finish().0)
}

/// The threshold for one histogram under `opts` (`auto` without chosen clips: the MSE clip).
pub fn threshold(h: &Histogram, opts: &QuantOptions) -> f32 {
    let levels = if opts.activation == ActDType::U8 && h.min >= 0.0 { 255 } else { 127 };
    match opts.method {
        Method::Auto => hist::threshold_mse(h, levels),
        Method::MinMax => hist::threshold_minmax(h),
        Method::Percentile => hist::threshold_percentile(h, opts.percentile),
        Method::Kl => hist::threshold_kl(h, 128),
        Method::Pact => hist::threshold_mse(h, levels),
    }
}

/// Quantizes `model` (decluttered, float) with statistics from `calib` (inputs for input 0,
/// already preprocessed as the device will): see the module documentation.
pub fn quantize(model: TypedModel, calib: &[Tensor], opts: &QuantOptions) -> Result<(TypedModel, QuantReport), CompileError> {
    if calib.is_empty() {
        return Err(qerr("int8 needs at least one calibration input".into()));
    }
    let mut stats = calibrate(&model, calib)?;
    if opts.method == Method::Auto {
        choose_clips(&model, &mut stats);
    }
    quantize_with(model, &stats, calib.len(), opts)
}

/// [`quantize`] with statistics already collected (e.g. to try several methods on one calibration).
pub fn quantize_with(
    mut model: TypedModel,
    stats: &Calibration,
    calibration_inputs: usize,
    opts: &QuantOptions,
) -> Result<(TypedModel, QuantReport), CompileError> {
    let mut report = QuantReport {
        method: opts.method,
        percentile: (opts.method == Method::Percentile).then_some(opts.percentile),
        activation: opts.activation,
        calibration_inputs,
        layers: vec![],
        weights_int8_storage: vec![],
    };
    let layers: Vec<usize> = model
        .eval_order()
        .map_err(|e| qerr(format!("{e:#}")))?
        .into_iter()
        .filter(|&id| {
            let n = model.node(id);
            n.op_as::<Conv>().is_some_and(|c| c.q_params.is_none()) || n.op_as::<EinSum>().is_some_and(|e| e.q_params.is_none())
        })
        .collect();
    if opts.bias_correction {
        correct_biases(&mut model, &layers, stats, opts).map_err(|e| qerr(format!("bias correction: {e:#}")))?;
    }
    // Statistics were collected on the model as it was: look each layer's input up there, as
    // lowering earlier layers rewires the later ones' inputs.
    let original: BTreeMap<usize, TypedNode> = layers.iter().map(|&id| (id, model.node(id).clone())).collect();
    let names: Vec<String> = model.nodes().iter().map(|n| n.name.clone()).collect();
    let mut quantized_inputs: BTreeMap<OutletId, OutletId> = BTreeMap::new();
    for id in layers {
        let node = original[&id].clone();
        let is_conv = node.op_as::<Conv>().is_some();
        let reason = float_reason(&model, id, opts);
        // The activation input: a conv's input 0, a matmul's non-constant operand.
        let x = match (is_conv, &reason) {
            (true, _) => Some(node.inputs[0]),
            (false, None) => lower::matmul_shape(&model, id).ok().map(|s| node.inputs[1 - s.weight_slot]),
            (false, Some(_)) => node.inputs.iter().copied().find(|o| model.outlet_fact(*o).is_ok_and(|f| f.konst.is_none())),
        };
        let hist = x.and_then(|x| stats.get(&x));
        let mut layer = LayerReport {
            name: node.name.clone(),
            kind: if is_conv { LayerKind::Conv } else { LayerKind::MatMul },
            input: x.map(|x| names[x.node].clone()),
            float_reason: None,
            threshold: None,
            clip: None,
            absmax: hist.map(|h| h.absmax),
            quant: None,
        };
        let reason = reason.or_else(|| hist.is_none_or(|h| h.count == 0).then(|| "no calibration statistics".to_string()));
        if let Some(r) = reason {
            layer.float_reason = Some(r);
            report.layers.push(layer);
            continue;
        }
        let (x, h) = (x.unwrap(), hist.unwrap());
        let auto = stats.clips.as_ref().filter(|_| opts.method == Method::Auto).and_then(|c| c.get(&x));
        let t = auto.map_or_else(|| threshold(h, opts), |c| c.threshold);
        layer.threshold = Some(t);
        layer.clip = auto.map(|c| c.source.clone());
        let (x_zero_point, x_scale, act_dt) = activation_params(h, t, opts.activation);
        let existing = quantized_inputs.get(&x).copied();
        let oar_family = node.op_as::<Conv>().and_then(|c| qconv::family(c).ok());
        let lowered = if let Some(family) = oar_family {
            let act = ActQuant { scale: x_scale, zero_point: x_zero_point, dt: act_dt };
            let per_channel = match family {
                oar_ops::Family::Depthwise { .. } => depthwise_input_scales(h, t, x_scale),
                oar_ops::Family::Pointwise => None,
            };
            qconv::lower_qconv(&mut model, id, family, act, existing, per_channel)
        } else if is_conv {
            lower_conv(&mut model, id, x_scale, x_zero_point, act_dt, existing)
        } else {
            lower::lower_matmul(&mut model, id, x_scale, x_zero_point, act_dt, existing)
        };
        let q = lowered.map_err(|e| qerr(format!("{}: cannot lower to int8: {e:#}", node.name)))?;
        if q.x_channel_scales.is_none() {
            quantized_inputs.insert(x, q.quantized_input);
        }
        layer.quant = Some(q);
        report.layers.push(layer);
    }
    let mut model = model.into_compact().map_err(|e| qerr(format!("{e:#}")))?;
    let fused = qconv::fuse_epilogues(&mut model).map_err(|e| qerr(format!("fusing int8 epilogues: {e:#}")))?;
    log::debug!("{fused} nodes fused into oar int8 convs");
    let model = float_reference(model)?;
    Ok((model, report))
}

/// Rewires the bias of every conv among `layers` that will be lowered to `b − shift` (see
/// [`clip::bias_shifts`]).
fn correct_biases(model: &mut TypedModel, layers: &[usize], stats: &Calibration, opts: &QuantOptions) -> TractResult<()> {
    let shifts = clip::bias_shifts(model, &stats.tiles);
    for &id in layers {
        let Some(shift) = shifts.get(&id) else { continue };
        if float_reason(model, id, opts).is_some() {
            continue;
        }
        let node = model.node(id).clone();
        let Some(bias) = model.outlet_fact(node.inputs[2])?.konst.clone() else { continue };
        let bias = bias.cast_to::<f32>()?;
        let b = bias.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
        if b.len() != 1 && b.len() != shift.len() {
            continue;
        }
        let corrected: Vec<f32> = shift.iter().enumerate().map(|(c, s)| b[if b.len() == 1 { 0 } else { c }] - s).collect();
        let name = model.unique_name(format!("{}.bias_corrected", node.name)).into_owned();
        let k = model.add_const(name, tensor1(&corrected))?;
        model.add_edge(k, InletId::new(id, 2))?;
    }
    Ok(())
}

/// `model` with the float 1×1 convs that [`crate::prepare_for_int8`] kept as convs turned back
/// into tract's matmuls: the float model to compare and time against (and what a float layer of
/// an int8 plan becomes).
pub fn float_reference(model: TypedModel) -> Result<TypedModel, CompileError> {
    qconv::restore_pointwise(model).map_err(|e| qerr(format!("restoring float 1x1 convs: {e:#}")))
}

/// Why layer `id` (a float conv or EinSum) stays float, or None when it is lowered. Structural
/// reasons come first, so that a report made with a selection still says why the others could
/// not be int8 at all.
fn float_reason(model: &TypedModel, id: usize, opts: &QuantOptions) -> Option<String> {
    let node = model.node(id);
    let structural = structural_reason(model, id, opts);
    let selected = opts.layers.as_ref().map(|l| l.contains(&node.name)).unwrap_or(true) && !opts.exclude.contains(&node.name);
    structural.or_else(|| (!selected).then(|| "not selected".to_string()))
}

fn structural_reason(model: &TypedModel, id: usize, opts: &QuantOptions) -> Option<String> {
    let node = model.node(id);
    let Some(conv) = node.op_as::<Conv>() else {
        if !opts.matmuls {
            return Some("matmul kept float (int8 matmuls: --int8-matmul)".to_string());
        }
        return lower::matmul_shape(model, id).err();
    };
    let facts = match model.node_input_facts(id) {
        Ok(f) => f,
        Err(e) => return Some(format!("{e}")),
    };
    let oar = qconv::family(conv);
    if conv.group != 1 && oar.is_err() {
        Some(if conv.group == conv.input_channels() {
            format!("depthwise conv without an oar kernel ({}); tract's int8 depthwise path is ~60x slower than float", oar.unwrap_err())
        } else {
            format!("grouped conv ({} groups)", conv.group)
        })
    } else if oar.is_err() && !opts.kxk {
        Some("k×k conv kept float: tract's int8 conv is slower than its float one (--float-kxk)".to_string())
    } else if conv.kernel_fmt != KernelFormat::OIHW {
        Some(format!("kernel format {:?}", conv.kernel_fmt))
    } else if facts[0].datum_type != f32::datum_type() {
        Some(format!("input is {:?}", facts[0].datum_type))
    } else if facts[1].konst.is_none() || facts[2].konst.is_none() {
        Some("weights or bias not constant".to_string())
    } else {
        None
    }
}

/// A channel whose range is below this fraction of the tensor's threshold gets its own scale
/// (depthwise inputs only): under one scale it would use fewer than 4 of the 127 int8 levels. On
/// PicoDet's ESNet, one channel of a depthwise input reaches 117 while others stay under 0.2:
/// one scale rounds those to 0, and the BatchNorm after the conv (multipliers up to 195) turns
/// the lost signal into a wrong detector (mAP 0 with that one layer int8). Not higher: a
/// per-channel input costs a float rescale and cast where its producer is not an oar conv (1/4
/// gave PP-OCRv4 det 29 casts instead of 20, ~25 % of its int8 time, and no accuracy).
const CHANNEL_RANGE_FRACTION: f32 = 1.0 / 32.0;

/// Headroom of a channel's own scale over its calibration range: one channel's range is seen on
/// far fewer values than the tensor's, so new inputs exceed it more often (clipped at ±127).
const CHANNEL_HEADROOM: f32 = 2.0;

/// Per-channel scales for the input of a depthwise conv (`s_c = scale · min(1, 2 · absmax_c / t)`,
/// the tensor's scale for channels that come near the threshold `t`), or `None` when every
/// channel reaches [`CHANNEL_RANGE_FRACTION`] of `t` (one scale serves them all, and no
/// rescaling is needed) or the calibration did not record channels.
fn depthwise_input_scales(h: &Histogram, t: f32, scale: f32) -> Option<Vec<f32>> {
    let narrowest = h.channel_absmax.iter().filter(|&&m| m > 0.0).fold(f32::INFINITY, |a, &m| a.min(m));
    log::debug!("depthwise input: threshold {t}, narrowest channel {narrowest} ({:.4} of it)", narrowest / t);
    let narrow = narrowest < CHANNEL_RANGE_FRACTION * t;
    if !narrow || !(t > 0.0) {
        return None;
    }
    let scales: Vec<f32> = h.channel_absmax.iter().map(|&m| if m > 0.0 { scale * (CHANNEL_HEADROOM * m / t).min(1.0) } else { scale }).collect();
    scales.iter().all(|s| s.is_normal()).then_some(scales)
}

/// (zero point, scale, storage type) of an activation with threshold `t`.
fn activation_params(h: &Histogram, t: f32, dt: ActDType) -> (i32, f32, DatumType) {
    let t = if t > 0.0 { t } else { 1e-6 };
    let (zp, scale, dt) = match dt {
        ActDType::I8 => (0, t / 127.0, i8::datum_type()),
        ActDType::U8 if h.min >= 0.0 => (0, t / 255.0, u8::datum_type()),
        ActDType::U8 => (128, t / 127.0, u8::datum_type()),
    };
    (zp, lower::nnef_exact_scale(scale), dt)
}
