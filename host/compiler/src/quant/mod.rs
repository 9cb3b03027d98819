//! Post-training int8 quantization of a decluttered float [`TypedModel`].
//!
//! `calibrate` (histograms of every conv/matmul input activation over calibration inputs) →
//! thresholds (`minmax`, `percentile`, `kl`, `pact`) → `lower`: every selected float `Conv` becomes
//! tract's quantized conv (`Conv { q_params: Some(I32) }`, int8 weights with per-output-channel
//! scales), preceded by a quantizing cast of its input and followed by a dequantization to f32.
//! Depthwise and grouped convs stay float by default (tract's quantized depthwise path is ~60×
//! slower than float). See docs/int8.md.

pub mod hist;
mod lower;

use crate::CompileError;
use hist::Histogram;
use oar_plan::tract::tract_core::ops::cnn::{Conv, KernelFormat};
use oar_plan::tract::tract_core::ops::einsum::EinSum;
use oar_plan::tract::*;
use oar_plan::tract::tract_core::internal::*;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use lower::{lower_conv, ConvQuant};

/// How activation thresholds are chosen from the calibration histograms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
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
            "minmax" | "max" => Ok(Method::MinMax),
            "percentile" => Ok(Method::Percentile),
            "kl" | "entropy" => Ok(Method::Kl),
            "pact" | "mse" => Ok(Method::Pact),
            _ => Err(format!("unknown calibration method `{s}` (minmax, percentile, kl, pact)")),
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
}

impl Default for QuantOptions {
    fn default() -> Self {
        QuantOptions { method: Method::Kl, percentile: 99.99, layers: None, exclude: vec![], activation: ActDType::I8 }
    }
}

/// What one layer became.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerReport {
    pub name: String,
    /// `None` when quantized, else why the layer stayed float.
    pub float_reason: Option<String>,
    /// Activation threshold and absmax on the calibration data (when it was calibrated).
    pub threshold: Option<f32>,
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
}

impl QuantReport {
    pub fn int8_layers(&self) -> usize {
        self.layers.iter().filter(|l| l.float_reason.is_none()).count()
    }

    pub fn to_toml(&self) -> toml::Table {
        let mut t = toml::Table::new();
        t.insert("scheme".into(), "int8: weights symmetric per output channel, activations per tensor".into());
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
            e.insert("int8".into(), l.float_reason.is_none().into());
            if let Some(r) = &l.float_reason {
                e.insert("reason".into(), r.clone().into());
            }
            if let Some(x) = l.threshold {
                e.insert("threshold".into(), (x as f64).into());
            }
            if let Some(x) = l.absmax {
                e.insert("absmax".into(), (x as f64).into());
            }
            if let Some(q) = &l.quant {
                e.insert("x_scale".into(), (q.x_scale as f64).into());
                e.insert("x_zero_point".into(), (q.x_zero_point as i64).into());
                e.insert("y_scale".into(), (q.y_scale as f64).into());
                let (lo, hi) = q.k_scale.iter().fold((f32::INFINITY, 0f32), |(a, b), &s| (a.min(s), b.max(s)));
                e.insert("k_scale_min".into(), (lo as f64).into());
                e.insert("k_scale_max".into(), (hi as f64).into());
                e.insert("out_channels".into(), (q.k_scale.len() as i64).into());
            }
            layers.push(toml::Value::Table(e));
        }
        t.insert("layers".into(), toml::Value::Array(layers));
        t
    }
}

fn qerr(message: String) -> CompileError {
    CompileError::Model { path: PathBuf::from("<int8>"), message }
}

/// Activation statistics per outlet.
pub type Calibration = BTreeMap<OutletId, Histogram>;

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

/// Runs the float model on every calibration input (one tensor for input 0 each) and histograms
/// every activation of [`calibration_outlets`].
pub fn calibrate(model: &TypedModel, calib: &[Tensor]) -> TractResult<Calibration> {
    let outlets = calibration_outlets(model)?;
    let mut stats: Calibration = outlets.iter().map(|o| (*o, Histogram::new())).collect();
    if outlets.is_empty() {
        return Ok(stats);
    }
    let mut probe = model.clone();
    probe.select_output_outlets(&outlets)?;
    let plan = probe.into_optimized()?.into_runnable()?;
    for (i, x) in calib.iter().enumerate() {
        let values = plan.run(tvec!(x.clone().into_tvalue())).with_context(|| format!("calibration input {i}"))?;
        for (o, v) in outlets.iter().zip(values.iter()) {
            let v = v.cast_to::<f32>()?;
            stats.get_mut(o).unwrap().add(v.try_as_plain_ram()?.as_slice::<f32>()?);
        }
        log::info!("calibration: {}/{} inputs", i + 1, calib.len());
    }
    Ok(stats)
}

/// The threshold for one histogram under `opts`.
pub fn threshold(h: &Histogram, opts: &QuantOptions) -> f32 {
    let levels = if opts.activation == ActDType::U8 && h.min >= 0.0 { 255 } else { 127 };
    match opts.method {
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
    let stats = calibrate(&model, calib).map_err(|e| qerr(format!("calibration failed: {e:#}")))?;
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
    };
    let convs: Vec<usize> =
        model.nodes().iter().filter(|n| n.op_as::<Conv>().is_some_and(|c| c.q_params.is_none())).map(|n| n.id).collect();
    let mut quantized_inputs: BTreeMap<OutletId, OutletId> = BTreeMap::new();
    for id in convs {
        let node = model.node(id).clone();
        let conv = node.op_as::<Conv>().unwrap().clone();
        let hist = stats.get(&node.inputs[0]);
        let mut layer = LayerReport {
            name: node.name.clone(),
            float_reason: None,
            threshold: None,
            absmax: hist.map(|h| h.absmax),
            quant: None,
        };
        let selected = opts.layers.as_ref().map(|l| l.contains(&node.name)).unwrap_or(true) && !opts.exclude.contains(&node.name);
        let facts: Vec<TypedFact> =
            model.node_input_facts(id).map_err(|e| qerr(format!("{e:#}")))?.into_iter().cloned().collect();
        let reason = if !selected {
            Some("not selected".to_string())
        } else if conv.group != 1 {
            Some(if conv.group == conv.input_channels() {
                "depthwise: tract's int8 depthwise path is ~60x slower than float".to_string()
            } else {
                format!("grouped conv ({} groups)", conv.group)
            })
        } else if conv.kernel_fmt != KernelFormat::OIHW {
            Some(format!("kernel format {:?}", conv.kernel_fmt))
        } else if facts[0].datum_type != f32::datum_type() {
            Some(format!("input is {:?}", facts[0].datum_type))
        } else if facts[1].konst.is_none() || facts[2].konst.is_none() {
            Some("weights or bias not constant".to_string())
        } else if hist.is_none_or(|h| h.count == 0) {
            Some("no calibration statistics".to_string())
        } else {
            None
        };
        if let Some(r) = reason {
            layer.float_reason = Some(r);
            report.layers.push(layer);
            continue;
        }
        let h = hist.unwrap();
        let t = threshold(h, opts);
        layer.threshold = Some(t);
        let (x_zero_point, x_scale, act_dt) = activation_params(h, t, opts.activation);
        let existing = quantized_inputs.get(&node.inputs[0]).copied();
        let q = lower_conv(&mut model, id, x_scale, x_zero_point, act_dt, existing)
            .map_err(|e| qerr(format!("{}: cannot lower to int8: {e:#}", node.name)))?;
        quantized_inputs.insert(node.inputs[0], q.quantized_input);
        layer.quant = Some(q);
        report.layers.push(layer);
    }
    let model = model.into_compact().map_err(|e| qerr(format!("{e:#}")))?;
    Ok((model, report))
}

/// (zero point, scale, storage type) of an activation with threshold `t`.
fn activation_params(h: &Histogram, t: f32, dt: ActDType) -> (i32, f32, DatumType) {
    let t = if t > 0.0 { t } else { 1e-6 };
    match dt {
        ActDType::I8 => (0, t / 127.0, i8::datum_type()),
        ActDType::U8 if h.min >= 0.0 => (0, t / 255.0, u8::datum_type()),
        ActDType::U8 => (128, t / 127.0, u8::datum_type()),
    }
}
