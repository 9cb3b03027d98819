//! Per-layer timings, side by side in one process: oar int8 kernels (every table this CPU has, and
//! the `QConv` op inside a tract plan) vs tract's int8 conv (`Conv` with quantization, as ONNX
//! `QLinearConv` imports) vs tract float, at 1 and 2 threads.
//!
//!     cargo run --profile profiling -p oar-ops --example layer_bench [-- --runs 200]
//!
//! Layers: depthwise 3×3, 64 channels, 56×56, stride 1, pad 1; pointwise 1×1 32 → 64 at 56×56.
//! Prints one line per (layer, engine, threads): median and p10 of `--runs` timed runs after 10
//! warm-up runs, in microseconds. `tools/bench_layers.sh` runs this and the onnxruntime script.
use oar_kernels::{Activation, Depthwise, Epilogue, Kernels, Output, Pointwise};
use std::time::Instant;
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_nnef::tract_core::ops::nn::DataFormat;

struct Layer {
    name: &'static str,
    c_in: usize,
    c_out: usize,
    k: usize,
    group: usize,
}

const LAYERS: [Layer; 2] = [
    Layer { name: "dw3x3 64ch 56x56", c_in: 64, c_out: 64, k: 3, group: 64 },
    Layer { name: "pw1x1 32->64 56x56", c_in: 32, c_out: 64, k: 1, group: 1 },
];
const HW: usize = 56;

fn pseudo(n: usize, seed: u64) -> Vec<i64> {
    (0..n as u64).map(|i| ((i ^ seed).wrapping_mul(0x9E3779B97F4A7C15) >> 33) as i64).collect()
}

fn time(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..10 {
        f();
    }
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (t[runs / 2], t[runs / 10])
}

/// A one-conv model: f32 input quantized to int8 outside the timed part (the source is already
/// QI8), conv int8 → int8 (`q`) or f32 → f32.
fn model(l: &Layer, quantized: bool) -> TractResult<TypedModel> {
    let mut m = TypedModel::default();
    let qx = DatumType::QI8(QParams::ZpScale { zero_point: 3, scale: 0.02 });
    let qy = DatumType::QI8(QParams::ZpScale { zero_point: -2, scale: 0.05 });
    let x = m.add_source("x", if quantized { qx } else { f32::datum_type() }.fact([1, l.c_in, HW, HW]))?;
    let per = l.c_in / l.group * l.k * l.k;
    let w: Vec<i8> = pseudo(l.c_out * per, 1).iter().map(|v| (v % 255 - 127) as i8).collect();
    let shape = [l.c_out, l.c_in / l.group, l.k, l.k];
    let ks: Vec<f32> = (0..l.c_out).map(|c| 0.001 + c as f32 * 1e-5).collect();
    let bias: Vec<i32> = pseudo(l.c_out, 2).iter().map(|v| (v % 2001 - 1000) as i32).collect();
    let pad = l.k / 2;
    let pool_spec = PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec![l.k, l.k],
        padding: PaddingSpec::Explicit(tvec![pad, pad], tvec![pad, pad]),
        dilations: None,
        strides: None,
        input_channels: l.c_in,
        output_channels: l.c_out,
    };
    let y = if quantized {
        let mut kt = Tensor::from_shape(&shape, &w)?;
        // SAFETY: the tensor holds i8 values; QI8 has the same one-byte layout.
        unsafe { kt.set_datum_type(DatumType::QI8(QParams::ZpScale { zero_point: 0, scale: 0.001 })) };
        let mut inputs = vec![x];
        for (n, t) in [
            ("k", kt),
            ("b", tensor1(&bias)),
            ("x0", tensor0(3i32)),
            ("xs", tensor0(0.02f32)),
            ("k0", tensor0(0i32)),
            ("ks", tensor1(&ks)),
            ("y0", tensor0(-2i32)),
            ("ys", tensor0(0.05f32)),
        ] {
            inputs.push(m.add_const(n, t)?);
        }
        let conv = Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group: l.group, q_params: Some(qy) };
        m.wire_node("conv", conv, &inputs)?[0]
    } else {
        let wf: Vec<f32> = w.iter().enumerate().map(|(i, &v)| v as f32 * ks[i / per]).collect();
        let k = m.add_const("k", Tensor::from_shape(&shape, &wf)?)?;
        let b = m.add_const("b", tensor1(&bias.iter().map(|&b| b as f32 * 2e-5).collect::<Vec<f32>>()))?;
        let conv = Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group: l.group, q_params: None };
        m.wire_node("conv", conv, &[x, k, b])?[0]
    };
    m.select_output_outlets(&[y])?;
    Ok(m)
}

fn input(l: &Layer, quantized: bool) -> TValue {
    let n = l.c_in * HW * HW;
    let v = pseudo(n, 3);
    if quantized {
        let q: Vec<i8> = v.iter().map(|x| (x % 256 - 128) as i8).collect();
        let mut t = Tensor::from_shape(&[1, l.c_in, HW, HW], &q).unwrap();
        // SAFETY: the tensor holds i8 values; QI8 has the same one-byte layout.
        unsafe { t.set_datum_type(DatumType::QI8(QParams::ZpScale { zero_point: 3, scale: 0.02 })) };
        t.into_tvalue()
    } else {
        let f: Vec<f32> = v.iter().map(|x| (x % 256) as f32 / 100.0 - 1.28).collect();
        Tensor::from_shape(&[1, l.c_in, HW, HW], &f).unwrap().into_tvalue()
    }
}

fn set_threads(n: usize) {
    use tract_linalg::multithread::{set_default_executor, Executor};
    set_default_executor(if n <= 1 { Executor::SingleThread } else { Executor::multithread(n) });
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let runs = args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(200);
    println!("layer\tengine\tthreads\tmedian_us\tp10_us");
    for l in &LAYERS {
        let tract_q = model(l, true)?.into_optimized()?.into_runnable()?;
        let tract_f = model(l, false)?.into_optimized()?.into_runnable()?;
        let mut lowered = model(l, true)?;
        ensure!(oar_ops::lower(&mut lowered)? == 1, "{}: not lowered", l.name);
        let oar_plan = lowered.into_optimized()?.into_runnable()?;
        let (xq, xf) = (input(l, true), input(l, false));
        // Same outputs: the oar op against tract's int8 conv (the scales here are not dyadic, so up
        // to a few 1-LSB differences from the two roundings are expected; report them).
        let a = tract_q.run(tvec!(xq.clone()))?.remove(0);
        let b = oar_plan.run(tvec!(xq.clone()))?.remove(0);
        // SAFETY: both models end in an int8 conv: their outputs are one-byte i8 (QI8) tensors.
        let (a, b) = unsafe { (a.as_slice_unchecked::<i8>().to_vec(), b.as_slice_unchecked::<i8>().to_vec()) };
        let diff = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        let maxd = a.iter().zip(&b).map(|(x, y)| (*x as i32 - *y as i32).abs()).max().unwrap_or(0);
        eprintln!("{}: oar op vs tract int8: {diff} of {} outputs differ (max {maxd} LSB)", l.name, a.len());

        for threads in [1, 2] {
            set_threads(threads);
            let row = |engine: &str, (med, p10): (f64, f64)| println!("{}\t{engine}\t{threads}\t{med:.1}\t{p10:.1}", l.name);
            row("tract float", time(runs, || drop(tract_f.run(tvec!(xf.clone())).unwrap())));
            row("tract int8", time(runs, || drop(tract_q.run(tvec!(xq.clone())).unwrap())));
            row("oar int8 op (plan)", time(runs, || drop(oar_plan.run(tvec!(xq.clone())).unwrap())));
            if threads == 1 {
                // The bare kernels, per implementation table (single-threaded by design).
                // SAFETY: `input(l, true)` builds an i8 tensor (typed QI8, same layout).
                let xi: Vec<i8> = unsafe { xq.as_slice_unchecked::<i8>().to_vec() };
                let per = l.c_in / l.group * l.k * l.k;
                let w: Vec<i8> = pseudo(l.c_out * per, 1).iter().map(|v| (v % 255 - 127) as i8).collect();
                let bias = vec![100i32; l.c_out];
                let scale = vec![2e-5f32; l.c_out];
                let ep = Epilogue { bias: &bias, scale: &scale, activation: Activation::Identity };
                let mut out = vec![0i8; l.c_out * HW * HW];
                for k in Kernels::available() {
                    let label = format!("oar int8 kernel {}", k.names().iter().find(|n| n.0 == if l.k == 1 { "qconv_pw" } else { "qconv_dw" }).unwrap().1);
                    row(&label, time(runs, || {
                        let o = Output::I8 { data: &mut out, scale: 0.05, zero_point: -2 };
                        if l.k == 1 {
                            let s = Pointwise { inputs: l.c_in, outputs: l.c_out, pixels: HW * HW };
                            k.pointwise_conv_i8(&s, &xi, 3, &w, &ep, o).unwrap();
                        } else {
                            let s = Depthwise { channels: l.c_in, height: HW, width: HW, kernel: 3, stride: 1, pad: [1; 4] };
                            k.depthwise_conv_i8(&s, &xi, 3, &w, &ep, o).unwrap();
                        }
                    }));
                }
            }
        }
    }
    Ok(())
}
