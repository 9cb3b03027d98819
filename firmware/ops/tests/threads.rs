//! oar's float ops split over the plan's pool: every split (forced with a split size of 0, at 2 and
//! 3 threads, on shapes with channel and pixel tails) gives the one-thread values bit for bit.

use oar_ops::{ConvF32, DwConvF32, FloatActivation, PwConvF32};
use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_nnef::internal::*;

fn pseudo(n: usize, seed: u64) -> Vec<f32> {
    (0..n as u64).map(|i| (((i ^ seed).wrapping_mul(0x9E3779B97F4A7C15) >> 40) as f32 / (1u64 << 24) as f32) - 0.5).collect()
}

/// One op over `x` with constant weights and bias, optimised (weights packed).
fn model(op: Box<dyn TypedOp>, x: &[usize], w: &[usize], co: usize) -> TractResult<Arc<TypedSimplePlan>> {
    let mut m = TypedModel::default();
    let src = m.add_source("x", f32::fact(x))?;
    let wt = m.add_const("w", Tensor::from_shape(w, &pseudo(w.iter().product(), 1))?)?;
    let bt = m.add_const("b", tensor1(&pseudo(co, 2)))?;
    let y = m.wire_node("op", op, &[src, wt, bt])?;
    m.select_output_outlets(&y)?;
    m.into_optimized()?.into_runnable()
}

fn check(name: &str, plan: &Arc<TypedSimplePlan>, shape: &[usize]) -> TractResult<()> {
    let x = Tensor::from_shape(shape, &pseudo(shape.iter().product(), 3))?;
    let one = plan.run(tvec!(x.clone().into_tvalue()))?.remove(0).into_tensor();
    for threads in [2, 3] {
        let many = multithread_tract_scope(Executor::multithread(threads), || plan.run(tvec!(x.clone().into_tvalue())))?
            .remove(0)
            .into_tensor();
        assert_eq!(one, many, "{name}: {threads} threads");
    }
    Ok(())
}

#[test]
fn every_split_gives_the_one_thread_values() -> TractResult<()> {
    // Process-wide, but every split gives the same values, so other tests are not affected.
    oar_ops::set_split_threshold(0);
    let hs = FloatActivation::HardSwish { alpha: 1.0 / 6.0, beta: 0.5 };
    for (ci, co, h, w) in [(24usize, 40usize, 13usize, 29usize), (8, 3, 5, 7), (40, 50, 37, 37)] {
        let plan = model(Box::new(PwConvF32::new(1, hs)), &[1, ci, h, w], &[co, ci], co)?;
        check(&format!("pw {ci}->{co} {h}x{w}"), &plan, &[1, ci, h, w])?;
    }
    for (c, h, w, k, s) in [(7usize, 30usize, 31usize, 3usize, 1usize), (33, 17, 16, 5, 2), (2, 9, 9, 3, 2)] {
        let op = DwConvF32 { kernel: k, stride: s, pad: [k / 2; 4], activation: FloatActivation::Relu };
        let plan = model(Box::new(op), &[1, c, h, w], &[c, 1, k, k], c)?;
        check(&format!("dw {k}x{k} s{s} {c}ch {h}x{w}"), &plan, &[1, c, h, w])?;
    }
    for (h, w) in [(67usize, 64usize), (9, 11)] {
        let op = ConvF32::new([3, 3], [2, 2], [1, 1, 1, 1], hs);
        let plan = model(Box::new(op), &[1, 3, h, w], &[16, 3, 3, 3], 16)?;
        check(&format!("stem {h}x{w}"), &plan, &[1, 3, h, w])?;
    }
    oar_ops::set_split_threshold(oar_ops::DEFAULT_SPLIT_MACS);
    Ok(())
}
