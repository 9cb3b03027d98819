//! int8 lowering on a tiny model: 3×3 conv 8→16, depthwise 3×3, 1×1 conv 16→4.

use oar_compiler::quant::{self, ActDType, Method, QuantOptions};
use oar_compiler::{max_abs_diff, seeded_input};
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
    for method in [Method::MinMax, Method::Percentile, Method::Kl, Method::Pact] {
        for act in [ActDType::I8, ActDType::U8] {
            let opts = QuantOptions { method, activation: act, ..Default::default() };
            let (q, report) = quant::quantize(float.clone(), &calib(), &opts).unwrap();
            assert_eq!(report.int8_layers(), 2, "{report:?}");
            let dw = report.layers.iter().find(|l| l.name == "dw3x3").unwrap();
            assert!(dw.float_reason.as_deref().unwrap().contains("depthwise"));
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
    // The reloaded model still has two integer convs with 16 and 4 per-channel weight scales.
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
    assert_eq!(k_scales.len(), 2);
    for e in &expected {
        assert!(k_scales.contains(e), "per-channel scales lost: {k_scales:?} vs {expected:?}");
    }
    let after = run(&reloaded, &x);
    let err = max_abs_diff(&before, &after).unwrap();
    assert!(err <= 1e-5 * absmax(&before).max(1.0), "NNEF round trip changed the output by {err}");

    // The manifest table.
    let t = report.to_toml();
    assert_eq!(t["method"].as_str(), Some("kl"));
    assert_eq!(t["int8_layers"].as_integer(), Some(2));
    let text = toml::to_string(&t).unwrap();
    assert!(text.contains("depthwise"), "{text}");
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
    assert_eq!(int_kernels, 2, "expected the two int8 convs on integer kernels");
    let _ = f32_kernels;
}
