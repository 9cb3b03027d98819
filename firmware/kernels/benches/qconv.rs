//! int8 convolution kernels per layer (issue 8): the depthwise and pointwise shapes of PP-OCRv4 det,
//! one image, one thread, on every table this CPU can run (scalar first: the reference in the same
//! run). Only the public API is used, so the same file benches an older commit for before/after
//! tables. `cargo bench -p oar-kernels --bench qconv [-- FILTER]`.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use oar_kernels::{Activation, Depthwise, Epilogue, Kernels, Output, Pointwise};
use std::time::Duration;

/// The table's name, with the conv kernel's own implementation when it differs (e.g. the SSE4.1
/// table runs the scalar conv primitives: "sse4.1:scalar"), and the epilogue's when it differs from
/// the kernel's ("+ep:avx512").
fn label(k: &Kernels, kernel: &str) -> String {
    let name = |n: &str| k.names().into_iter().find(|e| e.0 == n).map_or("?", |e| e.1);
    let (imp, ep) = (name(kernel), name("qconv_epilogue"));
    let base = if imp == k.label() { imp.to_string() } else { format!("{}:{imp}", k.label()) };
    if ep == imp || ep == k.label() || ep == "scalar" { base } else { format!("{base}+ep:{ep}") }
}

fn data(n: usize, seed: u64) -> Vec<i8> {
    (0..n).map(|i| ((i as u64 ^ seed).wrapping_mul(0x9E3779B97F4A7C15) >> 40) as i8).collect()
}

fn depthwise(c: &mut Criterion) {
    let layers = [
        ("dw3x3_64ch_56x56_s1", Depthwise { channels: 64, height: 56, width: 56, kernel: 3, stride: 1, pad: [1; 4] }),
        ("dw3x3_64ch_56x56_s2", Depthwise { channels: 64, height: 56, width: 56, kernel: 3, stride: 2, pad: [1; 4] }),
        ("dw5x5_64ch_56x56_s1", Depthwise { channels: 64, height: 56, width: 56, kernel: 5, stride: 1, pad: [2; 4] }),
        ("dw5x5_64ch_56x56_s2", Depthwise { channels: 64, height: 56, width: 56, kernel: 5, stride: 2, pad: [2; 4] }),
    ];
    const KERNEL: &str = "qconv_dw";
    let mut g = c.benchmark_group("qconv");
    for (name, shape) in layers {
        let (ch, k) = (shape.channels, shape.kernel);
        let (oh, ow) = shape.output_hw().unwrap();
        let x = data(ch * shape.height * shape.width, 1);
        let w = data(ch * k * k, 2);
        let bias: Vec<i32> = (0..ch as i32).map(|i| i * 37 - 900).collect();
        let scale: Vec<f32> = (0..ch).map(|i| 1e-4 * (1.0 + i as f32 * 0.01)).collect();
        let ep = Epilogue { bias: &bias, scale: &scale, activation: Activation::Relu };
        let mut y = vec![0i8; ch * oh * ow];
        g.throughput(Throughput::Elements((ch * oh * ow) as u64));
        for (id, kt) in distinct_tables(KERNEL) {
            g.bench_function(BenchmarkId::new(name, id), |b| {
                b.iter(|| {
                    let out = Output::I8 { data: &mut y, scale: 0.02, zero_point: -5 };
                    kt.depthwise_conv_i8(&shape, black_box(&x), 3, &w, &ep, out).unwrap()
                })
            });
        }
    }
    g.finish();
}

/// The kernel tables this CPU can run, each named by its implementation of `kernel`; tables that
/// share it (e.g. AVX2 with and without VNNI for the depthwise) appear once.
fn distinct_tables(kernel: &str) -> Vec<(String, Kernels)> {
    let mut tables: Vec<(String, Kernels)> = vec![];
    for kt in Kernels::available() {
        let id = label(&kt, kernel);
        if !tables.iter().any(|(seen, _)| *seen == id) {
            tables.push((id, kt));
        }
    }
    tables
}

fn pointwise(c: &mut Criterion) {
    // Hard-swish (two IEEE divisions per output in the epilogue) as in PP-OCRv4's backbone, and one
    // layer with ReLU to show the epilogue's share.
    let layers = [
        ("pw1x1_32to64_56x56", Pointwise { inputs: 32, outputs: 64, pixels: 56 * 56 }, Activation::HardSwish),
        ("pw1x1_96to96_40x40", Pointwise { inputs: 96, outputs: 96, pixels: 40 * 40 }, Activation::HardSwish),
        ("pw1x1_96to96_40x40_relu", Pointwise { inputs: 96, outputs: 96, pixels: 40 * 40 }, Activation::Relu),
    ];
    const KERNEL: &str = "qconv_pw";
    let mut g = c.benchmark_group("qconv");
    for (name, shape, activation) in layers {
        let (ci, co, p) = (shape.inputs, shape.outputs, shape.pixels);
        let x = data(ci * p, 3);
        let w = data(co * ci, 4);
        let bias: Vec<i32> = (0..co as i32).map(|i| i * 101 - 3000).collect();
        let scale: Vec<f32> = (0..co).map(|i| 2e-5 * (1.0 + i as f32 * 0.01)).collect();
        let ep = Epilogue { bias: &bias, scale: &scale, activation };
        let mut y = vec![0i8; co * p];
        g.throughput(Throughput::Elements((co * p) as u64));
        for (id, kt) in distinct_tables(KERNEL) {
            g.bench_function(BenchmarkId::new(name, id), |b| {
                b.iter(|| {
                    let out = Output::I8 { data: &mut y, scale: 0.03, zero_point: 7 };
                    kt.pointwise_conv_i8(&shape, black_box(&x), -4, &w, &ep, out).unwrap()
                })
            });
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(30).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = depthwise, pointwise }
criterion_main!(benches);
