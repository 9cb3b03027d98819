//! Float depthwise convolution per layer: the shapes of PP-LCNet / MobileNetV3 / PP-OCR det, one
//! image, one thread, on every table this CPU can run (scalar first). Compared with tract's own
//! float depthwise conv in `oar-ops`' bench `dwconv_f32`. `cargo bench -p oar-kernels --bench dwconv_f32`.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use oar_kernels::{Depthwise, FloatActivation, Kernels};
use std::time::Duration;

fn data(n: usize, seed: u64) -> Vec<f32> {
    (0..n).map(|i| (((i as u64 ^ seed).wrapping_mul(0x9E3779B97F4A7C15) >> 40) as f32 / (1u64 << 24) as f32) - 0.5).collect()
}

/// (name, shape): dw 3×3 stride 1 / 2 and 5×5 at the sizes of the small nets' middle layers.
pub fn layers() -> Vec<(&'static str, Depthwise)> {
    let dw = |channels, hw, kernel, stride| Depthwise { channels, height: hw, width: hw, kernel, stride, pad: [kernel / 2; 4] };
    vec![
        ("dw3x3_s1_64ch_56x56", dw(64, 56, 3, 1)),
        ("dw3x3_s2_64ch_56x56", dw(64, 56, 3, 2)),
        ("dw3x3_s1_32ch_112x112", dw(32, 112, 3, 1)),
        ("dw5x5_s1_128ch_14x14", dw(128, 14, 5, 1)),
        ("dw5x5_s2_128ch_28x28", dw(128, 28, 5, 2)),
    ]
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("dwconv_f32");
    for (name, shape) in layers() {
        let (ch, k) = (shape.channels, shape.kernel);
        let (oh, ow) = shape.output_hw().unwrap();
        let x = data(ch * shape.height * shape.width, 1);
        let w = data(ch * k * k, 2);
        let b = data(ch, 3);
        let mut y = vec![0f32; ch * oh * ow];
        g.throughput(Throughput::Elements((ch * oh * ow) as u64));
        let mut seen = vec![];
        for kt in Kernels::available() {
            let id = kt.names().into_iter().find(|e| e.0 == "dwconv_f32").map_or("?", |e| e.1);
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            g.bench_function(BenchmarkId::new(name, id), |bn| {
                bn.iter(|| kt.depthwise_conv_f32(&shape, black_box(&x), &w, &b, FloatActivation::HARD_SWISH, &mut y).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(20);
    targets = bench
}
criterion_main!(benches);
