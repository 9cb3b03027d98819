//! Float depthwise and pointwise layers side by side in one process: tract's plan (`Conv` +
//! hard-swish, as tract optimises it: `DepthWiseConv` or a matrix product, then an element-wise
//! pass) vs the same decluttered graph lowered by `oar_ops::lower_float` (one `oar_dwconv_f32` or
//! `oar_pwconv_f32`), at 1 and 2 threads.
//!
//!     cargo run --profile profiling -p oar-ops --example float_layer_bench [-- --runs 300]
//!
//! Prints one line per (layer, engine, threads): median and p10 of `--runs` timed runs after 20
//! warm-up runs, in microseconds, and the ratio tract / oar.
use std::time::Instant;
use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_nnef::tract_core::ops::element_wise::ElementWiseOp;
use tract_nnef::tract_core::ops::nn::{DataFormat, HardSwish};

/// (name, input channels, output channels, input side, kernel, stride): depthwise when the
/// channel counts are equal and the kernel is not 1×1, pointwise otherwise.
const LAYERS: [(&str, usize, usize, usize, usize, usize); 12] = [
    ("dw3x3 s1 32ch 112x112", 32, 32, 112, 3, 1),
    ("dw3x3 s1 64ch 56x56", 64, 64, 56, 3, 1),
    ("dw3x3 s2 64ch 56x56", 64, 64, 56, 3, 2),
    ("dw3x3 s1 128ch 28x28", 128, 128, 28, 3, 1),
    ("dw5x5 s1 128ch 14x14", 128, 128, 14, 5, 1),
    ("dw5x5 s2 128ch 28x28", 128, 128, 28, 5, 2),
    ("pw 8->16 112x112", 8, 16, 112, 1, 1),
    ("pw 16->32 56x56", 16, 32, 56, 1, 1),
    ("pw 32->64 28x28", 32, 64, 28, 1, 1),
    ("pw 64->128 14x14", 64, 128, 14, 1, 1),
    ("pw 128->128 14x14", 128, 128, 14, 1, 1),
    ("pw 256->256 7x7", 256, 256, 7, 1, 1),
];

fn pseudo(n: usize, seed: u64) -> Vec<f32> {
    (0..n as u64).map(|i| (((i ^ seed).wrapping_mul(0x9E3779B97F4A7C15) >> 40) as f32 / (1u64 << 24) as f32) - 0.5).collect()
}

fn layer(c: usize, co: usize, hw: usize, k: usize, s: usize) -> TractResult<TypedModel> {
    let mut m = TypedModel::default();
    let group = if k == 1 { 1 } else { c };
    let x = m.add_source("x", f32::fact([1, c, hw, hw]))?;
    let kt = m.add_const("k", Tensor::from_shape(&[co, c / group, k, k], &pseudo(co * c / group * k * k, 1))?)?;
    let bt = m.add_const("b", tensor1(&pseudo(co, 2)))?;
    let pool_spec = PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec![k, k],
        padding: PaddingSpec::Explicit(tvec![k / 2, k / 2], tvec![k / 2, k / 2]),
        dilations: None,
        strides: Some(tvec![s, s]),
        input_channels: c,
        output_channels: co,
    };
    let y = m.wire_node("conv", Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group, q_params: None }, &[x, kt, bt])?[0];
    let y = m.wire_node("hswish", ElementWiseOp(Box::new(HardSwish {}), None), &[y])?[0];
    m.select_output_outlets(&[y])?;
    Ok(m)
}

fn time(plan: &Arc<TypedSimplePlan>, x: &Tensor, runs: usize, threads: usize) -> TractResult<(f64, f64)> {
    let exec = if threads > 1 { Executor::multithread(threads) } else { Executor::SingleThread };
    multithread_tract_scope(exec, || {
        for _ in 0..20 {
            plan.run(tvec!(x.clone().into_tvalue()))?;
        }
        let mut t: Vec<f64> = (0..runs)
            .map(|_| {
                let x = x.clone().into_tvalue();
                let start = Instant::now();
                plan.run(tvec!(x)).unwrap();
                start.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        t.sort_by(|a, b| a.partial_cmp(b).unwrap());
        Ok((t[runs / 2], t[runs / 10]))
    })
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let runs = args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(300);
    println!("kernel table: {:?}", oar_kernels::selected().iter().filter(|e| e.0.ends_with("conv_f32")).collect::<Vec<_>>());
    for (name, c, co, hw, k, s) in LAYERS {
        let tract = layer(c, co, hw, k, s)?.into_optimized()?.into_runnable()?;
        let mut lowered = layer(c, co, hw, k, s)?.into_decluttered()?;
        assert_eq!(oar_ops::lower_float(&mut lowered)?, 1);
        let oar = lowered.into_optimized()?.into_runnable()?;
        let x = Tensor::from_shape(&[1, c, hw, hw], &pseudo(c * hw * hw, 3))?;
        for threads in [1, 2] {
            let (tm, tp) = time(&tract, &x, runs, threads)?;
            let (om, op) = time(&oar, &x, runs, threads)?;
            println!("{name:24} threads {threads}  tract {tm:8.1} µs (p10 {tp:8.1})  oar {om:8.1} µs (p10 {op:8.1})  tract/oar {:.2}", tm / om);
        }
    }
    Ok(())
}
