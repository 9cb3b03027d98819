//! int8 lowering on tiny models: 3×3 conv 8→16 (tract's integer conv), depthwise 3×3 and 1×1
//! conv 16→4 (oar's `QConv`); and a PP-LCNet-like block whose affine ops and activations must all
//! fuse into the oar ops.

use oar_compiler::quant::{self, ActDType, Method, QuantOptions};
use oar_compiler::{max_abs_diff, seeded_input};
use oar_ops::{Activation, OutQuant, QConv};
use oar_plan::tract::tract_core::ops::math::{add, max, min, mul};
use oar_plan::tract::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use oar_plan::tract::tract_core::ops::nn::DataFormat;
use oar_plan::tract::*;

fn conv(
    model: &mut TypedModel,
    name: &str,
    x: OutletId,
    cin: usize,
    cout: usize,
    k: usize,
    group: usize,
    seed: u64,
) -> OutletId {
    let pad = k / 2;
    let op = Conv {
        pool_spec: PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![k, k],
            padding: PaddingSpec::Explicit(tvec![pad, pad], tvec![pad, pad]),
            dilations: None,
            strides: None,
            input_channels: cin,
            output_channels: cout,
        },
        kernel_fmt: KernelFormat::OIHW,
        group,
        q_params: None,
    };
    // Output channels of very different magnitudes: a single weight scale would be visible.
    let mut w = seeded_input(&[cout, cin / group, k, k], seed);
    {
        let per = w.len() / cout;
        let mut ram = w.try_as_plain_ram_mut().unwrap();
        let s = ram.as_slice_mut::<f32>().unwrap();
        for c in 0..cout {
            let f = 0.05 * (1.0 + c as f32 * 0.7) / (cin / group * k * k) as f32 * 10.0;
            s[c * per..(c + 1) * per].iter_mut().for_each(|v| *v *= f);
        }
    }
    let b: Vec<f32> = (0..cout).map(|c| 0.01 * c as f32 - 0.05).collect();
    let w = model.add_const(format!("{name}.w"), w).unwrap();
    let b = model.add_const(format!("{name}.b"), tensor1(&b)).unwrap();
    model.wire_node(name, op, &[x, w, b]).unwrap()[0]
}

fn tiny() -> TypedModel {
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 8, 16, 16])).unwrap();
    let a = conv(&mut m, "conv3x3", x, 8, 16, 3, 1, 11);
    let d = conv(&mut m, "dw3x3", a, 16, 16, 3, 16, 12);
    let y = conv(&mut m, "conv1x1", d, 16, 4, 1, 1, 13);
    m.select_output_outlets(&[y]).unwrap();
    m
}

fn run(model: &TypedModel, x: &Tensor) -> Tensor {
    let out = model.clone().into_optimized().unwrap().into_runnable().unwrap().run(tvec!(x.clone().into_tvalue())).unwrap();
    out[0].clone().into_tensor()
}

fn calib() -> Vec<Tensor> {
    (0..4).map(|s| seeded_input(&[1, 8, 16, 16], 100 + s)).collect()
}

fn absmax(t: &Tensor) -> f32 {
    t.to_plain_array_view::<f32>().unwrap().iter().fold(0f32, |a, v| a.max(v.abs()))
}

#[test]
fn int8_conv_is_close_to_float_for_every_method() {
    let float = tiny();
    let x = seeded_input(&[1, 8, 16, 16], 7);
    let reference = run(&float, &x);
    let range = absmax(&reference);
    for method in [Method::Auto, Method::MinMax, Method::Percentile, Method::Kl, Method::Pact] {
        for act in [ActDType::I8, ActDType::U8] {
            let opts = QuantOptions { method, activation: act, ..Default::default() };
            let (q, report) = quant::quantize(float.clone(), &calib(), &opts).unwrap();
            assert_eq!(report.int8_layers(), 3, "{report:?}");
            assert_eq!(qconvs(&q).len(), 2, "depthwise and 1x1 convs run on oar kernels");
            let got = run(&q, &x);
            let err = max_abs_diff(&reference, &got).unwrap();
            eprintln!("{method:?} {act:?}: max abs err {err:.5} (output range {range:.4}, {:.2}%)", 100.0 * err / range);
            // Two int8 convs on 8-bit activations: a few percent of the range at most.
            assert!(err < 0.04 * range, "{method:?} {act:?}: {err} vs range {range}");
            assert!(err > 0.0, "the int8 model should not be bit-exact with float");
        }
    }
}

#[test]
fn int8_model_round_trips_through_nnef_with_per_channel_scales() {
    let float = tiny();
    let (q, report) = quant::quantize(float.clone(), &calib(), &QuantOptions::default()).unwrap();
    let x = seeded_input(&[1, 8, 16, 16], 8);
    let before = run(&q, &x);

    let mut buf = vec![];
    oar_plan::nnef().write_to_tar(&q, &mut buf).unwrap();
    let reloaded = oar_plan::nnef().model_for_read(&mut std::io::Cursor::new(&buf)).unwrap();
    // The reloaded model still has the integer 3x3 conv with its 16 per-channel weight scales,
    // and the two oar convs (the depthwise one writing int8 for the 1x1 one).
    let mut k_scales = vec![];
    for node in reloaded.nodes() {
        if let Some(c) = node.op_as::<Conv>() {
            if c.q_params.is_some() {
                let ks = reloaded.outlet_fact(node.inputs[6]).unwrap().konst.clone().unwrap();
                k_scales.push(ks.cast_to::<f32>().unwrap().try_as_plain_ram().unwrap().as_slice::<f32>().unwrap().to_vec());
            }
        }
    }
    let expected: Vec<Vec<f32>> = report.layers.iter().filter_map(|l| l.quant.as_ref().map(|q| q.k_scale.clone())).collect();
    assert_eq!(k_scales.len(), 1);
    assert!(expected.contains(&k_scales[0]), "per-channel scales lost: {k_scales:?} vs {expected:?}");
    let oar = qconvs(&reloaded);
    assert_eq!(oar.len(), 2);
    assert!(matches!(oar[0].output, OutQuant::I8 { .. }), "{oar:?}");
    assert_eq!(oar[1].output, OutQuant::F32);
    let after = run(&reloaded, &x);
    let err = max_abs_diff(&before, &after).unwrap();
    assert!(err <= 1e-5 * absmax(&before).max(1.0), "NNEF round trip changed the output by {err}");

    // The manifest table.
    let t = report.to_toml();
    assert_eq!(t["method"].as_str(), Some("auto"));
    assert_eq!(t["int8_layers"].as_integer(), Some(3));
}

#[test]
fn optimized_int8_model_uses_integer_matmul_kernels() {
    let (q, _) = quant::quantize(tiny(), &calib(), &QuantOptions::default()).unwrap();
    let opt = q.into_optimized().unwrap();
    let mut int_kernels = 0;
    let mut f32_kernels = 0;
    for n in opt.nodes() {
        let info = n.op.info().unwrap_or_default().join(" ");
        let line = format!("{} {} {}", n.name, n.op.name(), info);
        eprintln!("{line}");
        if n.op.name().contains("MatMul") || n.op.name().contains("Mmm") {
            if info.contains("i32") || info.contains("i8") {
                int_kernels += 1;
            } else if info.contains("f32") {
                f32_kernels += 1;
            }
        }
    }
    assert_eq!(int_kernels, 1, "expected the 3x3 int8 conv on tract's integer kernels");
    assert_eq!(opt.nodes().iter().filter(|n| n.op_is::<QConv>()).count(), 2, "and two oar convs");
    let _ = f32_kernels;
}

fn qconvs(model: &TypedModel) -> Vec<QConv> {
    model.eval_order().unwrap().into_iter().filter_map(|id| model.node(id).op_as::<QConv>().cloned()).collect()
}

fn scalar(m: &mut TypedModel, name: &str, v: f32) -> OutletId {
    m.add_const(name, tensor0(v).broadcast_into_rank(4).unwrap()).unwrap()
}

/// `x · clip(x + 3, 0, 6) · c` as paddle2onnx writes hard-swish (`c` = 1/6 times a learnable scale).
fn hard_swish(m: &mut TypedModel, name: &str, x: OutletId, c: f32) -> OutletId {
    let three = scalar(m, &format!("{name}.3"), 3.0);
    let zero = scalar(m, &format!("{name}.0"), 0.0);
    let six = scalar(m, &format!("{name}.6"), 6.0);
    let k = scalar(m, &format!("{name}.c"), c);
    let a = m.wire_node(format!("{name}.add"), add(), &[x, three]).unwrap()[0];
    let lo = m.wire_node(format!("{name}.max"), max(), &[a, zero]).unwrap()[0];
    let hi = m.wire_node(format!("{name}.min"), min(), &[lo, six]).unwrap()[0];
    let y = m.wire_node(format!("{name}.mul"), mul(), &[x, hi]).unwrap()[0];
    m.wire_node(format!("{name}.scale"), mul(), &[y, k]).unwrap()[0]
}

/// 1x1 conv → per-channel affine (an unfolded BatchNorm) → hard-swish → depthwise 3x3 → hard-swish
/// and a learnable affine (· 0.7 − 0.2) → 1x1 conv → ReLU: the shape of PP-LCNet(V3)'s blocks.
fn lcnet_block() -> TypedModel {
    lcnet_block_with(|c| 0.5 + 0.1 * c as f32)
}

/// [`lcnet_block`] with the BatchNorm multiplier `gamma(channel)`.
fn lcnet_block_with(gamma: impl Fn(usize) -> f32) -> TypedModel {
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 8, 16, 16])).unwrap();
    let a = conv(&mut m, "pw1", x, 8, 16, 1, 1, 21);
    let g: Vec<f32> = (0..16).map(gamma).collect();
    let g = m.add_const("bn.g", Tensor::from_shape(&[1, 16, 1, 1], &g).unwrap()).unwrap();
    let b = m.add_const("bn.b", Tensor::from_shape(&[1, 16, 1, 1], &[0.1f32; 16]).unwrap()).unwrap();
    let a = m.wire_node("bn.mul", mul(), &[a, g]).unwrap()[0];
    let a = m.wire_node("bn.add", add(), &[a, b]).unwrap()[0];
    let a = hard_swish(&mut m, "hs1", a, 1.0 / 6.0);
    let d = conv(&mut m, "dw", a, 16, 16, 3, 16, 22);
    let d = hard_swish(&mut m, "hs2", d, 0.7 / 6.0);
    let shift = scalar(&mut m, "lab.d", -0.2);
    let d = m.wire_node("lab.add", add(), &[d, shift]).unwrap()[0];
    let y = conv(&mut m, "pw2", d, 16, 4, 1, 1, 23);
    let zero = scalar(&mut m, "relu.0", 0.0);
    let y = m.wire_node("relu", max(), &[y, zero]).unwrap()[0];
    m.select_output_outlets(&[y]).unwrap();
    m
}

#[test]
fn affine_ops_and_activations_fuse_into_oar_convs() {
    let float = lcnet_block();
    let x = seeded_input(&[1, 8, 16, 16], 9);
    let reference = run(&float, &x);
    let range = absmax(&reference);
    // minmax: KL clips this synthetic block's heavy tails hard, and this test is about the fusion.
    let (q, report) = quant::quantize(float, &calib(), &QuantOptions { method: Method::MinMax, ..Default::default() }).unwrap();
    let reasons: Vec<_> = report.layers.iter().map(|l| (l.name.as_str(), l.float_reason.as_deref())).collect();
    assert_eq!(report.int8_layers(), 3, "{reasons:?}");
    let ops = qconvs(&q);
    assert_eq!(ops.len(), 3, "{q}");
    // pw1: BatchNorm and hard-swish fused, writes int8 for dw; dw: hard-swish fused and the affine
    // after it taken into its output quantization, writes int8 for pw2; pw2: ReLU fused, model output.
    assert_eq!((ops[0].activation, ops[1].activation, ops[2].activation), (Activation::HardSwish, Activation::HardSwish, Activation::Relu));
    // dw's input channels are too narrow for one scale (seeded weights): pw1 writes one per channel.
    assert!(matches!(ops[0].output, OutQuant::I8PerChannel { .. }), "{ops:?}");
    assert_eq!(ops[0].op_id().version, 2);
    assert!(matches!(ops[1].output, OutQuant::I8 { zero_point, .. } if zero_point != 0), "{ops:?}");
    assert_eq!(ops[2].output, OutQuant::F32);
    let left: Vec<String> = q.nodes().iter().filter(|n| !n.op_is::<QConv>() && !n.op_is::<oar_plan::tract::tract_core::ops::konst::Const>()).map(|n| format!("{} {}", n.name, n.op.name())).collect();
    // The source and its quantizing cast.
    assert_eq!(left.len(), 2, "{left:?}");
    let got = run(&q, &x);
    let err = max_abs_diff(&reference, &got).unwrap();
    eprintln!("lcnet block: max abs err {err:.5} (output range {range:.4})");
    assert!(err < 0.04 * range, "{err} vs range {range}");

    // Plans with oar ops name them in the manifest and round-trip through NNEF.
    let mut buf = vec![];
    oar_plan::nnef().write_to_tar(&q, &mut buf).unwrap();
    let reloaded = oar_plan::nnef().model_for_read(&mut std::io::Cursor::new(&buf)).unwrap();
    assert_eq!(qconvs(&reloaded), ops);
    assert_eq!(max_abs_diff(&got, &run(&reloaded, &x)).unwrap(), 0.0);
}


#[test]
fn kxk_convs_can_stay_float() {
    let (q, report) = quant::quantize(tiny(), &calib(), &QuantOptions { kxk: false, ..Default::default() }).unwrap();
    assert_eq!(report.int8_layers(), 2, "only the two oar convs: {report:?}");
    let kept = report.layers.iter().find(|l| l.float_reason.is_some()).expect("the 3x3 conv is listed");
    assert!(kept.float_reason.as_deref().is_some_and(|r| r.contains("k×k")), "{kept:?}");
    assert_eq!(q.nodes().iter().filter(|n| n.op_is::<QConv>()).count(), 2);
}

#[test]
fn negative_batchnorm_multipliers_fuse_by_flipping_the_channels() {
    // PicoDet's layout model has BatchNorms with negative gammas: they cannot go into the
    // (positive) requantization scale, so the channel's weights and bias change sign.
    let float = lcnet_block_with(|c| if c % 3 == 1 { -(0.5 + 0.1 * c as f32) } else { 0.5 + 0.1 * c as f32 });
    let x = seeded_input(&[1, 8, 16, 16], 9);
    let reference = run(&float, &x);
    let range = absmax(&reference);
    let (q, report) = quant::quantize(float, &calib(), &QuantOptions { method: Method::MinMax, ..Default::default() }).unwrap();
    assert_eq!(report.int8_layers(), 3);
    let ops = qconvs(&q);
    assert_eq!(ops.len(), 3, "{q}");
    assert_eq!(ops[0].activation, Activation::HardSwish, "the BatchNorm and hard-swish fused into pw1");
    let got = run(&q, &x);
    let err = max_abs_diff(&reference, &got).unwrap();
    assert!(err < 0.04 * range, "{err} vs range {range}");
}

#[test]
fn depthwise_inputs_with_narrow_channels_are_quantized_per_channel() {
    // PicoDet's ESNet: one channel of a depthwise input reaches ~117 while others stay under 0.2,
    // and the BatchNorm after the conv multiplies the narrow ones by up to ~200. One scale for the
    // tensor would round the narrow channels to 0.
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 4, 16, 16])).unwrap();
    let per_channel = |m: &mut TypedModel, name: &str, v: [f32; 4]| m.add_const(name, Tensor::from_shape(&[1, 4, 1, 1], &v).unwrap()).unwrap();
    let ranges = per_channel(&mut m, "ranges", [100.0, 1.0, 0.2, 1.0]);
    let wide = m.wire_node("wide", mul(), &[x, ranges]).unwrap()[0];
    let d = conv(&mut m, "dw3x3", wide, 4, 4, 3, 4, 21);
    let bn = per_channel(&mut m, "bn", [1.0, 1.0, 200.0, 1.0]);
    let y = m.wire_node("bn_mul", mul(), &[d, bn]).unwrap()[0];
    m.select_output_outlets(&[y]).unwrap();
    let calib: Vec<Tensor> = (0..4).map(|s| seeded_input(&[1, 4, 16, 16], 300 + s)).collect();
    let x = seeded_input(&[1, 4, 16, 16], 7);
    let reference = run(&m, &x);
    let (q, report) = quant::quantize(m, &calib, &QuantOptions { method: Method::MinMax, ..Default::default() }).unwrap();
    let layer = report.layers.iter().find(|l| l.name == "dw3x3").and_then(|l| l.quant.as_ref()).expect("dw3x3 is int8");
    let scales = layer.x_channel_scales.as_ref().expect("per-channel input scales");
    assert!(scales[2] < scales[0] / 100.0, "{scales:?}");
    assert_eq!(qconvs(&q).len(), 1);
    let got = run(&q, &x);
    let channel = |t: &Tensor, c: usize| t.to_plain_array_view::<f32>().unwrap().index_axis(tract_ndarray::Axis(1), c).to_owned();
    for c in 0..4 {
        let (r, g) = (channel(&reference, c), channel(&got, c));
        let range = r.iter().fold(0f32, |a, v| a.max(v.abs()));
        let err = (&r - &g).iter().fold(0f32, |a, v| a.max(v.abs()));
        assert!(err < 0.03 * range, "channel {c}: error {err} vs range {range}");
    }
}

#[test]
fn float_layers_can_store_their_weights_as_int8() {
    // The k×k conv stays float (kxk: false); its weights become cast(int8) · scale in the graph,
    // a quarter of the bytes, and an optimised model folds them back into one f32 constant.
    let (mut q, _) = quant::quantize(tiny(), &calib(), &QuantOptions { kxk: false, ..Default::default() }).unwrap();
    let x = seeded_input(&[1, 8, 16, 16], 9);
    let before = run(&q, &x);
    let stored = quant::store_weights_int8(&mut q).unwrap();
    assert_eq!(stored, vec!["conv3x3".to_string()]);
    let nnef_bytes = |m: &TypedModel| {
        let mut buf = vec![];
        oar_plan::nnef().write_to_tar(m, &mut buf).unwrap();
        buf
    };
    let buf = nnef_bytes(&q);
    let reloaded = oar_plan::nnef().model_for_read(&mut std::io::Cursor::new(&buf)).unwrap();
    let optimized = reloaded.clone().into_optimized().unwrap();
    assert!(optimized.nodes().iter().all(|n| !n.op_is::<oar_ops::WeightsI8>()), "weights folded back to a constant on load: {optimized}");
    let after = run(&reloaded, &x);
    let err = max_abs_diff(&before, &after).unwrap();
    let range = absmax(&before);
    assert!(err > 0.0 && err < 0.02 * range, "weights rounded, not changed: {err} vs range {range}");
    // The plan holds the 16·8·3·3 weights as int8, and no f32 copy of them.
    let consts: Vec<(DatumType, Vec<usize>)> = reloaded
        .nodes()
        .iter()
        .filter_map(|n| n.op_as::<oar_plan::tract::tract_core::ops::konst::Const>())
        .map(|c| (c.val().datum_type(), c.val().shape().to_vec()))
        .collect();
    assert!(consts.contains(&(i8::datum_type(), vec![16, 8, 3, 3])), "{consts:?}");
    assert!(!consts.contains(&(f32::datum_type(), vec![16, 8, 3, 3])), "{consts:?}");
}

#[test]
fn type_scales_survive_the_nnef_text() {
    // tract writes quantized types' scales with 9 decimals: the compiler's scales must be those.
    for s in [0.002988846_f32, 1.0 / 127.0, 3.3e-5 / 127.0, 0.7 / 255.0, 117.0 / 127.0] {
        let e = quant::nnef_exact_scale(s);
        assert!(e > 0.0 && (e - s).abs() <= 5e-10 + s * 1e-6, "{s} -> {e}");
        assert_eq!(format!("{e:.9}").parse::<f32>().unwrap(), e, "{s}");
    }
}

/// The int8 sequence of `oar_compiler::int8` on the tiny model, with a scorer that stands for a
/// task metric: it loses `penalty` points whenever one of `layers` is int8.
struct Penalise {
    layers: Vec<String>,
    penalty: f64,
}

impl oar_compiler::int8::Scorer for Penalise {
    fn metric(&self) -> &str {
        "test score"
    }
    fn samples(&self) -> usize {
        1
    }
    fn score(&self, model: &TypedModel) -> Result<f64, String> {
        let int8 = |l: &String| model.nodes().iter().any(|n| (n.name == *l && n.op_as::<QConv>().is_some()) || n.name == format!("{l}.i8conv"));
        Ok(100.0 - if self.layers.iter().any(int8) { self.penalty } else { 0.0 })
    }
}

/// Calibrated statistics of the tiny model with the auto clips chosen, and the layers worst first.
fn calibrated() -> (oar_compiler::int8::Calibrated, Vec<String>) {
    use oar_compiler::int8;
    let mut inputs = calib().into_iter().enumerate().map(|(i, t)| (format!("input {i}"), Ok(t)));
    let mut cal = int8::calibrate(&tiny(), &mut inputs, &int8::Quiet).unwrap();
    assert_eq!((cal.used, cal.probes.len()), (4, 4));
    quant::choose_clips(&tiny(), &mut cal.stats);
    let layers: Vec<String> = ["conv3x3", "dw3x3", "conv1x1"].map(String::from).to_vec();
    let float_ref = quant::float_reference(tiny()).unwrap();
    let order = int8::sensitivity(&tiny(), &float_ref, &cal, &all_layers(1.0, false), &layers, &int8::Quiet).unwrap();
    assert_eq!(order.len(), 3);
    assert!(order.windows(2).all(|w| w[0].output_error >= w[1].output_error), "{order:?}");
    assert!(order.iter().all(|s| s.output_error > 0.0 && s.output_error < 0.05), "{order:?}");
    (cal, order.into_iter().map(|s| s.name).collect())
}

fn all_layers(budget: f64, force: bool) -> oar_compiler::int8::Int8Options {
    oar_compiler::int8::Int8Options { layers: oar_compiler::int8::LayerChoice::All, budget, force, ..Default::default() }
}

#[test]
fn the_guard_moves_the_fewest_most_damaging_layers_back_to_float() {
    use oar_compiler::int8;
    for (bad, moved) in [(0, 1), (1, 2)] {
        let (cal, order) = calibrated();
        let scorer = Penalise { layers: vec![order[bad].clone()], penalty: 50.0 };
        let out = int8::run(&tiny(), cal, &scorer, &all_layers(1.0, false), &int8::Quiet).unwrap();
        let g = &out.guard;
        assert_eq!((g.float, g.first, g.int8), (100.0, 50.0, 100.0), "{g:?}");
        assert_eq!(g.moved_to_float, order[..moved].to_vec(), "{g:?}");
        assert_eq!(out.report.int8_layers(), 3 - moved, "the other layers stay int8");
        let t = out.to_toml();
        assert_eq!(t["guard"]["int8"].as_float(), Some(100.0));
        assert_eq!(t["guard"]["moved_to_float"].as_array().unwrap().len(), moved);
        assert_eq!(t["guard"]["sensitivity"].as_array().unwrap().len(), 3);
        assert_eq!(t["timing"].as_array().unwrap().len(), 2, "1 and 2 threads timed: {t}");
    }
    // Within the budget from the start: nothing measured, nothing moved.
    let (cal, _) = calibrated();
    let out = int8::run(&tiny(), cal, &Penalise { layers: vec![], penalty: 50.0 }, &all_layers(1.0, false), &int8::Quiet).unwrap();
    assert!(out.guard.moved_to_float.is_empty() && out.guard.sensitivity.is_empty());
    assert_eq!(out.report.int8_layers(), 3);
}

#[test]
fn no_plan_within_the_budget_is_an_error_unless_forced() {
    use oar_compiler::int8::{self, Int8Error};
    let every = || Penalise { layers: ["conv3x3", "dw3x3", "conv1x1"].map(String::from).to_vec(), penalty: 80.0 };
    let (cal, _) = calibrated();
    match int8::run(&tiny(), cal, &every(), &all_layers(1.0, false), &int8::Quiet) {
        Err(Int8Error::OverBudget { budget, summary, outcome }) => {
            assert_eq!(budget, 1.0);
            assert!(summary.contains("float 100.00") && summary.contains("20.00"), "{summary}");
            assert_eq!(outcome.guard.first, 20.0);
        }
        other => panic!("expected OverBudget, got {:?}", other.map(|o| o.guard)),
    }
    let (cal, _) = calibrated();
    let forced = int8::run(&tiny(), cal, &every(), &all_layers(1.0, true), &int8::Quiet).unwrap();
    assert!(forced.guard.forced && forced.warnings.iter().any(|w| w.contains("--force")), "{:?}", forced.warnings);
    assert_eq!(forced.to_toml()["guard"]["forced"].as_bool(), Some(true));
}

#[test]
fn auto_clips_say_which_candidate_they_are() {
    let (_, report) = quant::quantize(tiny(), &calib(), &QuantOptions::default()).unwrap();
    assert_eq!(report.method, Method::Auto);
    for l in report.layers.iter().filter(|l| l.quant.is_some()) {
        let clip = l.clip.as_deref().unwrap_or_else(|| panic!("{} has no clip source", l.name));
        assert!(["minmax", "percentile", "kl", "mse"].iter().any(|m| clip.starts_with(m)), "{}: {clip}", l.name);
        assert!(l.threshold.unwrap() <= l.absmax.unwrap() * 1.0001, "{l:?}");
    }
    assert!(report.to_toml()["layers"].as_array().unwrap().iter().any(|l| l.get("clip").is_some()));
}
