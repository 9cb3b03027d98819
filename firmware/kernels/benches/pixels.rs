//! 640×480 frame: every kernel on every table this CPU can run (scalar first), and the fused
//! camera-frame -> tensor pass against the naive chain (convert, resize, normalise as separate
//! passes over full images) and a NumPy-style chain (float conversion, mean/std and transpose as
//! three more passes). `cargo bench -p oar-kernels --bench pixels`.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use oar_kernels::{ColorOrder, Kernels, Norm, PixelFormat, TensorSpec};
use std::time::Duration;

const W: usize = 640;
const H: usize = 480;
const DW: usize = 320;
const DH: usize = 320;

fn frame(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()
}

fn spec() -> TensorSpec {
    TensorSpec { width: DW, height: DH, order: ColorOrder::Rgb, scale: 1.0 / 255.0,
        mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }
}

fn kernels(c: &mut Criterion) {
    let yuyv = frame(W * H * 2);
    let nv12 = frame(W * H * 3 / 2);
    let rgb = frame(W * H * 3);
    let f32s: Vec<f32> = rgb.iter().map(|&b| b as f32 * 0.1 - 12.0).collect();
    let norm = Norm { scale: 1.0 / 255.0, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], swap_rb: false };
    let mut out_rgb = vec![0u8; W * H * 3];
    let mut out_small = vec![0u8; DW * DH * 3];
    let mut out_f = vec![0f32; W * H * 3];
    let mut out_q = vec![0i8; W * H * 3];

    let mut g = c.benchmark_group("640x480");
    g.throughput(Throughput::Elements((W * H) as u64));
    for k in Kernels::available() {
        let l = k.label();
        g.bench_function(BenchmarkId::new("yuyv_to_rgb", l), |b| b.iter(|| k.yuyv_to_rgb(black_box(&yuyv), W, H, &mut out_rgb).unwrap()));
        g.bench_function(BenchmarkId::new("nv12_to_rgb", l), |b| b.iter(|| k.nv12_to_rgb(black_box(&nv12), W, H, &mut out_rgb).unwrap()));
        g.bench_function(BenchmarkId::new("resize_to_320x320", l), |b| {
            b.iter(|| k.resize_bilinear_u8(black_box(&rgb), W, H, 3, &mut out_small, DW, DH).unwrap())
        });
        g.bench_function(BenchmarkId::new("normalize", l), |b| b.iter(|| k.normalize_hwc_to_chw(black_box(&rgb), W, H, &norm, &mut out_f).unwrap()));
        g.bench_function(BenchmarkId::new("quantize_u8", l), |b| b.iter(|| k.quantize_u8(black_box(&rgb), 0.5, 3, &mut out_q).unwrap()));
        g.bench_function(BenchmarkId::new("quantize_f32", l), |b| b.iter(|| k.quantize_f32(black_box(&f32s), 0.05, -3, &mut out_q).unwrap()));
    }
    g.finish();
}

fn fused(c: &mut Criterion) {
    let yuyv = frame(W * H * 2);
    let s = spec();
    let norm = Norm { scale: s.scale, mean: s.mean, std: s.std, swap_rb: false };
    let mut rgb = vec![0u8; W * H * 3];
    let mut small = vec![0u8; DW * DH * 3];
    let mut tensor = vec![0f32; DW * DH * 3];
    let mut g = c.benchmark_group("yuyv640x480_to_tensor320");
    g.throughput(Throughput::Elements((W * H) as u64));
    for k in Kernels::available() {
        let l = k.label();
        g.bench_function(BenchmarkId::new("fused", l), |b| {
            b.iter(|| k.frame_to_tensor(black_box(&yuyv), PixelFormat::Yuyv, W, H, &s, &mut tensor).unwrap())
        });
        g.bench_function(BenchmarkId::new("naive_chain", l), |b| {
            b.iter(|| {
                k.yuyv_to_rgb(black_box(&yuyv), W, H, &mut rgb).unwrap();
                k.resize_bilinear_u8(&rgb, W, H, 3, &mut small, DW, DH).unwrap();
                k.normalize_hwc_to_chw(&small, DW, DH, &norm, &mut tensor).unwrap();
            })
        });
        // The chain as NumPy code writes it: after convert and resize, to-float, mean/std and
        // the HWC -> CHW transpose are three more passes, each with its own buffer.
        let mut f = vec![0f32; DW * DH * 3];
        let mut g2 = vec![0f32; DW * DH * 3];
        g.bench_function(BenchmarkId::new("numpy_style_chain", l), |b| {
            b.iter(|| {
                k.yuyv_to_rgb(black_box(&yuyv), W, H, &mut rgb).unwrap();
                k.resize_bilinear_u8(&rgb, W, H, 3, &mut small, DW, DH).unwrap();
                for (o, &p) in f.iter_mut().zip(&small) {
                    *o = p as f32 * s.scale;
                }
                for (i, (o, &v)) in g2.iter_mut().zip(&f).enumerate() {
                    *o = (v - s.mean[i % 3]) / s.std[i % 3];
                }
                for (i, &v) in g2.iter().enumerate() {
                    tensor[(i % 3) * DW * DH + i / 3] = v;
                }
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1))
}

criterion_group! { name = benches; config = config(); targets = kernels, fused }
criterion_main!(benches);
