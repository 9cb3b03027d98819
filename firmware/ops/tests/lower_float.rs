//! A small float net of the shapes the mobile nets are made of (depthwise 3×3 s2 → batch axis
//! dropped → BatchNorm scale/shift → hard-swish as HardSigmoid + Mul; depthwise 5×5 → ReLU6;
//! depthwise 3×3 → tract's HardSwish), lowered to `oar_dwconv_f32`, written to NNEF and read back:
//! the same outputs as tract within float rounding, at fixed and at symbolic input sizes.
use oar_ops::{lower_float, ConvF32, DwConvF32, FloatActivation, PwConvF32};
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::binary::TypedBinOp;
use tract_nnef::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_nnef::tract_core::ops::element_wise::ElementWiseOp;
use tract_nnef::tract_core::ops::math::{Add, Max, Min, Mul};
use tract_nnef::tract_core::ops::nn::{DataFormat, HardSwish};

const C: usize = 8;

fn pseudo(n: usize, seed: u64) -> Vec<f32> {
    (0..n as u64).map(|i| (((i ^ seed).wrapping_mul(0x9E3779B97F4A7C15) >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0).collect()
}

fn dw(m: &mut TypedModel, name: &str, x: OutletId, k: usize, stride: usize, padding: PaddingSpec, bias: Tensor) -> TractResult<OutletId> {
    dw_in(m, name, x, k, stride, padding, bias, DataFormat::NCHW)
}

#[allow(clippy::too_many_arguments)]
fn dw_in(m: &mut TypedModel, name: &str, x: OutletId, k: usize, stride: usize, padding: PaddingSpec, bias: Tensor, data_format: DataFormat) -> TractResult<OutletId> {
    let kt = m.add_const(format!("{name}.k"), Tensor::from_shape(&[C, 1, k, k], &pseudo(C * k * k, k as u64))?)?;
    let bt = m.add_const(format!("{name}.b"), bias)?;
    let pool_spec = PoolSpec {
        data_format,
        kernel_shape: tvec![k, k],
        padding,
        dilations: None,
        strides: Some(tvec![stride, stride]),
        input_channels: C,
        output_channels: C,
    };
    let conv = Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group: C, q_params: None };
    Ok(m.wire_node(name, conv, &[x, kt, bt])?[0])
}

fn bin(m: &mut TypedModel, name: &str, op: Box<dyn tract_nnef::tract_core::ops::binary::BinMiniOp>, a: OutletId, k: Tensor) -> TractResult<OutletId> {
    let k = m.add_const(format!("{name}.c"), k)?;
    Ok(m.wire_node(name, TypedBinOp(op, None), &[a, k])?[0])
}

fn scalar(v: f32, rank: usize) -> Tensor {
    tensor0(v).broadcast_into_rank(rank).unwrap()
}

fn net(shape: &[TDim]) -> TractResult<TypedModel> {
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact(shape))?;
    let pad1 = PaddingSpec::Explicit(tvec![1, 1], tvec![1, 1]);
    // dw 3×3 s2, scalar bias, then rank 3 with BatchNorm and hard-swish as HardSigmoid + Mul.
    let a = dw(&mut m, "dw1", x, 3, 2, pad1.clone(), tensor0(0.25f32))?;
    let a = m.wire_node("dw1.rm_n", AxisOp::Rm(0), &[a])?[0];
    let bn_s = Tensor::from_shape(&[C, 1, 1], &pseudo(C, 3).iter().map(|v| 1.0 + v * 0.5).collect::<Vec<_>>())?;
    let a = bin(&mut m, "bn1.mul", Box::new(Mul), a, bn_s)?;
    let a = bin(&mut m, "bn1.add", Box::new(Add), a, Tensor::from_shape(&[C, 1, 1], &pseudo(C, 4))?)?;
    let h = bin(&mut m, "hs1.alpha", Box::new(Mul), a, scalar(1.0 / 6.0, 3))?;
    let h = bin(&mut m, "hs1.beta", Box::new(Add), h, scalar(0.5, 3))?;
    let h = bin(&mut m, "hs1.one", Box::new(Min), h, scalar(1.0, 3))?;
    let h = bin(&mut m, "hs1.zero", Box::new(Max), h, scalar(0.0, 3))?;
    let a = m.wire_node("hs1", TypedBinOp(Box::new(Mul), None), &[h, a])?[0];
    let a = m.wire_node("dw2.add_n", AxisOp::Add(0), &[a])?[0];
    // dw 5×5 s1 with per-channel bias, then ReLU6 (max then min).
    let b = dw(&mut m, "dw2", a, 5, 1, PaddingSpec::Explicit(tvec![2, 1], tvec![2, 3]), tensor1(&pseudo(C, 5)))?;
    let b = bin(&mut m, "relu6.max", Box::new(Max), b, scalar(0.0, 4))?;
    let b = bin(&mut m, "relu6.min", Box::new(Min), b, scalar(6.0, 4))?;
    // dw 3×3 s1, tract's HardSwish.
    let c = dw(&mut m, "dw3", b, 3, 1, pad1, tensor0(-0.1f32))?;
    let c = m.wire_node("hs3", ElementWiseOp(Box::new(HardSwish {}), None), &[c])?[0];
    m.select_output_outlets(&[c])?;
    Ok(m)
}

fn run(m: &TypedModel, x: &Tensor) -> Tensor {
    m.clone().into_runnable().unwrap().run(tvec!(x.clone().into_tvalue())).unwrap().remove(0).into_tensor()
}

fn assert_close(got: &Tensor, want: &Tensor, label: &str) {
    assert_eq!(got.shape(), want.shape(), "{label}");
    let (g, w) = (got.to_plain_array_view::<f32>().unwrap(), want.to_plain_array_view::<f32>().unwrap());
    let range = w.iter().fold(0f32, |a, &b| a.max(b.abs()));
    let max = g.iter().zip(w.iter()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(range > 0.1, "{label}: degenerate output");
    assert!(max <= 1e-5 * range, "{label}: differs from tract by {max} (range {range})");
}

fn roundtrip(m: &TypedModel) -> TractResult<(String, TypedModel)> {
    let mut nnef = tract_nnef::nnef();
    oar_ops::register(&mut nnef);
    let mut buf = vec![];
    nnef.write_to_tar(m, &mut buf)?;
    // The archive is an uncompressed tar: graph.nnef is in it as text.
    let graph = String::from_utf8_lossy(&buf).into_owned();
    Ok((graph, nnef.model_for_read(&mut &buf[..])?))
}

#[test]
fn lowered_float_net_matches_tract_through_nnef() -> TractResult<()> {
    let shape: TVec<TDim> = [1, C, 23, 20].iter().map(|&d| d.to_dim()).collect();
    let reference = net(&shape)?;
    let x = Tensor::from_shape(&[1, C, 23, 20], &pseudo(C * 23 * 20, 9))?;
    let want = run(&reference, &x);
    let mut lowered = net(&shape)?;
    assert_eq!(lower_float(&mut lowered)?, 3);
    let ops: Vec<&DwConvF32> = lowered.nodes().iter().filter_map(|n| n.op_as::<DwConvF32>()).collect();
    assert_eq!(ops.len(), 3);
    assert_eq!(ops[0].activation, FloatActivation::HardSwish { alpha: 1.0 / 6.0, beta: 0.5 });
    assert_eq!(ops[1].activation, FloatActivation::Clip { min: 0.0, max: 6.0 });
    assert_eq!(ops[1].pad, [2, 1, 2, 3]);
    assert_eq!(ops[2].activation, FloatActivation::HARD_SWISH);
    assert!(!lowered.nodes().iter().any(|n| n.op_is::<Conv>() || n.op_is::<TypedBinOp>() || n.op_is::<ElementWiseOp>()));
    assert_eq!(oar_ops::required_ops(&lowered).iter().map(|o| o.name).collect::<Vec<_>>(), ["oar_dwconv_f32"]);
    // The output keeps its name.
    assert_eq!(lowered.node(lowered.output_outlets()?[0].node).name, "hs3");

    let (graph, read) = roundtrip(&lowered)?;
    assert!(graph.contains("oar_dwconv_f32_v1("), "{graph}");
    for (label, m) in [("lowered", lowered), ("read back", read.clone()), ("read back, optimised", read.into_optimized()?)] {
        assert_close(&run(&m, &x), &want, label);
    }
    Ok(())
}

/// PP-OCR det has symbolic H and W: the op's output facts stay symbolic, and the plan runs at
/// several sizes, also split over two threads.
#[test]
fn symbolic_sizes_and_threads() -> TractResult<()> {
    use tract_linalg::multithread::{multithread_tract_scope, Executor};
    let scope = SymbolScope::default();
    let (h, w) = (scope.sym("h"), scope.sym("w"));
    let shape: TVec<TDim> = tvec![1.to_dim(), C.to_dim(), h.into(), w.into()];
    let reference = net(&shape)?;
    let mut lowered = net(&shape)?;
    assert_eq!(lower_float(&mut lowered)?, 3);
    let out = lowered.outlet_fact(lowered.output_outlets()?[0])?.clone();
    assert!(out.shape[2].to_usize().is_err() && out.shape[3].to_usize().is_err(), "{out:?}");
    let (_, read) = roundtrip(&lowered)?;
    let plan = read.into_optimized()?.into_runnable()?;
    for (hh, ww) in [(7, 9), (64, 96)] {
        let x = Tensor::from_shape(&[1, C, hh, ww], &pseudo(C * hh * ww, hh as u64))?;
        let want = run(&reference, &x);
        let one = plan.run(tvec!(x.clone().into_tvalue()))?.remove(0).into_tensor();
        assert_close(&one, &want, &format!("{hh}x{ww}"));
        let two = multithread_tract_scope(Executor::multithread(2), || plan.run(tvec!(x.into_tvalue())))?.remove(0).into_tensor();
        assert_eq!(one, two, "{hh}x{ww}: two threads");
    }
    Ok(())
}

/// SAME padding becomes explicit when the input size is known, and is left to tract otherwise;
/// dilated or grouped (not depthwise) convs are left alone.
#[test]
fn same_padding_and_unsupported_convs() -> TractResult<()> {
    for (dims, lowered) in [(Some((13usize, 10usize)), 1usize), (None, 0)] {
        let mut m = TypedModel::default();
        let shape: TVec<TDim> = match dims {
            Some((hh, ww)) => tvec![1.to_dim(), C.to_dim(), hh.to_dim(), ww.to_dim()],
            None => tvec![1.to_dim(), C.to_dim(), m.symbols.sym("h").into(), m.symbols.sym("w").into()],
        };
        let x = m.add_source("x", f32::fact(&shape))?;
        let y = dw(&mut m, "dw", x, 3, 2, PaddingSpec::SameUpper, tensor0(0f32))?;
        m.select_output_outlets(&[y])?;
        let reference = m.clone();
        assert_eq!(lower_float(&mut m)?, lowered);
        if lowered == 1 {
            let x = Tensor::from_shape(&[1, C, 13, 10], &pseudo(C * 130, 1))?;
            assert_close(&run(&m, &x), &run(&reference, &x), "same upper");
        }
    }
    Ok(())
}

/// tract's declutter leaves most depthwise convs of PP-LCNet in rank 3 (`CHW`, no batch axis).
#[test]
fn chw_convs_are_lowered() -> TractResult<()> {
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([C, 15, 12]))?;
    let y = dw_in(&mut m, "dw", x, 5, 2, PaddingSpec::Explicit(tvec![2, 2], tvec![2, 2]), tensor0(0f32), DataFormat::CHW)?;
    let y = bin(&mut m, "bn", Box::new(Mul), y, Tensor::from_shape(&[C, 1, 1], &pseudo(C, 8))?)?;
    let y = bin(&mut m, "relu", Box::new(Max), y, scalar(0.0, 3))?;
    m.select_output_outlets(&[y])?;
    let reference = m.clone();
    assert_eq!(lower_float(&mut m)?, 1);
    assert_eq!(m.nodes().iter().filter_map(|n| n.op_as::<DwConvF32>()).next().unwrap().activation, FloatActivation::Relu);
    let x = Tensor::from_shape(&[C, 15, 12], &pseudo(C * 180, 2))?;
    let (_, read) = roundtrip(&m)?;
    assert_close(&run(&read.into_optimized()?, &x), &run(&reference, &x), "chw");
    Ok(())
}

fn pw(m: &mut TypedModel, name: &str, x: OutletId, ci: usize, co: usize, bias: Tensor) -> TractResult<OutletId> {
    let kt = m.add_const(format!("{name}.k"), Tensor::from_shape(&[co, ci, 1, 1], &pseudo(co * ci, (ci * 31 + co) as u64))?)?;
    let bt = m.add_const(format!("{name}.b"), bias)?;
    let pool_spec = PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec![1, 1],
        padding: PaddingSpec::Valid,
        dilations: None,
        strides: None,
        input_channels: ci,
        output_channels: co,
    };
    let conv = Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group: 1, q_params: None };
    Ok(m.wire_node(name, conv, &[x, kt, bt])?[0])
}

/// BatchNorm (per-channel scale then shift) after a conv of `c` channels, NCHW.
fn bn(m: &mut TypedModel, name: &str, x: OutletId, c: usize) -> TractResult<OutletId> {
    let s = Tensor::from_shape(&[1, c, 1, 1], &pseudo(c, c as u64 + 40).iter().map(|v| 1.0 + v * 0.5).collect::<Vec<_>>())?;
    let x = bin(m, &format!("{name}.mul"), Box::new(Mul), x, s)?;
    bin(m, &format!("{name}.add"), Box::new(Add), x, Tensor::from_shape(&[1, c, 1, 1], &pseudo(c, c as u64 + 41))?)
}

/// Five pointwise convs, 6 → 10 → 7 → 12 → 9 → 8 channels, each with BatchNorm and one of the
/// activations `lower_float` recognises: none, ReLU, ReLU6, tract's HardSwish, HardSigmoid + Mul.
fn pw_net(shape: &[TDim]) -> TractResult<TypedModel> {
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact(shape))?;
    let a = pw(&mut m, "pw1", x, 6, 10, tensor1(&pseudo(10, 1)))?;
    let a = bn(&mut m, "bn1", a, 10)?;
    let b = pw(&mut m, "pw2", a, 10, 7, tensor0(0.1f32))?;
    let b = bn(&mut m, "bn2", b, 7)?;
    let b = bin(&mut m, "relu2", Box::new(Max), b, scalar(0.0, 4))?;
    let c = pw(&mut m, "pw3", b, 7, 12, tensor1(&pseudo(12, 3)))?;
    let c = bn(&mut m, "bn3", c, 12)?;
    let c = bin(&mut m, "relu6.max", Box::new(Max), c, scalar(0.0, 4))?;
    let c = bin(&mut m, "relu6.min", Box::new(Min), c, scalar(6.0, 4))?;
    let d = pw(&mut m, "pw4", c, 12, 9, tensor0(0f32))?;
    let d = bn(&mut m, "bn4", d, 9)?;
    let d = m.wire_node("hs4", ElementWiseOp(Box::new(HardSwish {}), None), &[d])?[0];
    let e = pw(&mut m, "pw5", d, 9, 8, tensor1(&pseudo(8, 5)))?;
    let e = bn(&mut m, "bn5", e, 8)?;
    let h = bin(&mut m, "hs5.alpha", Box::new(Mul), e, scalar(0.2, 4))?;
    let h = bin(&mut m, "hs5.beta", Box::new(Add), h, scalar(0.5, 4))?;
    let h = bin(&mut m, "hs5.one", Box::new(Min), h, scalar(1.0, 4))?;
    let h = bin(&mut m, "hs5.zero", Box::new(Max), h, scalar(0.0, 4))?;
    let e = m.wire_node("hs5", TypedBinOp(Box::new(Mul), None), &[h, e])?[0];
    m.select_output_outlets(&[e])?;
    Ok(m)
}

fn pw_activations(m: &TypedModel) -> Vec<FloatActivation> {
    m.nodes().iter().filter_map(|n| n.op_as::<PwConvF32>()).map(|op| op.activation).collect()
}

/// The pointwise net lowered as built (`Conv` 1×1) and after tract's declutter (which turns the
/// convs into `EinSum` between reshapes and moves the BatchNorm around): every conv, its BatchNorm
/// and activation become one `oar_pwconv_f32`, which matches tract through NNEF and, once
/// optimised (weights packed), at one and two threads.
#[test]
fn pointwise_convs_are_lowered_with_their_activation() -> TractResult<()> {
    let shape: TVec<TDim> = [1, 6, 17, 21].iter().map(|&d| d.to_dim()).collect();
    let reference = pw_net(&shape)?;
    let x = Tensor::from_shape(&[1, 6, 17, 21], &pseudo(6 * 17 * 21, 11))?;
    let want = run(&reference, &x);
    let acts = [
        FloatActivation::Identity,
        FloatActivation::Relu,
        FloatActivation::Clip { min: 0.0, max: 6.0 },
        FloatActivation::HARD_SWISH,
        FloatActivation::HardSwish { alpha: 0.2, beta: 0.5 },
    ];
    for decluttered in [false, true] {
        let mut lowered = if decluttered { pw_net(&shape)?.into_decluttered()? } else { pw_net(&shape)? };
        assert_eq!(lower_float(&mut lowered)?, 5, "decluttered: {decluttered}\n{lowered}");
        assert_eq!(pw_activations(&lowered), acts, "decluttered: {decluttered}");
        assert!(!lowered.nodes().iter().any(|n| n.op_is::<Conv>() || n.op_is::<TypedBinOp>() || n.op_is::<ElementWiseOp>()), "{lowered}");
        assert_eq!(oar_ops::required_ops(&lowered).iter().map(|o| (o.name, o.since)).collect::<Vec<_>>(), [("oar_pwconv_f32", "0.3.0")]);
        assert_eq!(lowered.node(lowered.output_outlets()?[0].node).name, "hs5");
        let (graph, read) = roundtrip(&lowered)?;
        assert!(graph.contains("oar_pwconv_f32_v1("), "{graph}");
        assert_eq!(pw_activations(&read), acts);
        let optimised = read.clone().into_optimized()?;
        let packed: Vec<bool> = optimised.nodes().iter().filter_map(|n| n.op_as::<PwConvF32>()).map(|op| op.is_packed()).collect();
        assert_eq!(packed, [true; 5]);
        for (label, m) in [("lowered", lowered), ("read back", read), ("read back, optimised", optimised)] {
            assert_close(&run(&m, &x), &want, &format!("{label}, decluttered: {decluttered}"));
        }
    }
    Ok(())
}

/// A layer big enough to be split over two threads (by pixel ranges): the same values as one
/// thread; a pointwise conv over a handful of pixels (a classifier's last conv) stays tract's.
#[test]
fn pointwise_threads_and_small_layers() -> TractResult<()> {
    use tract_linalg::multithread::{multithread_tract_scope, Executor};
    for (hw, lowered_count) in [(37usize, 1usize), (2, 0)] {
        let mut m = TypedModel::default();
        let x = m.add_source("x", f32::fact([1, 40, hw, hw]))?;
        let y = pw(&mut m, "pw", x, 40, 50, tensor1(&pseudo(50, 2)))?;
        let y = bin(&mut m, "relu", Box::new(Max), y, scalar(0.0, 4))?;
        m.select_output_outlets(&[y])?;
        let m = m.into_decluttered()?;
        let x = Tensor::from_shape(&[1, 40, hw, hw], &pseudo(40 * hw * hw, 3))?;
        let want = run(&m, &x);
        let mut lowered = m.clone();
        assert_eq!(lower_float(&mut lowered)?, lowered_count);
        let plan = lowered.into_optimized()?.into_runnable()?;
        let one = plan.run(tvec!(x.clone().into_tvalue()))?.remove(0).into_tensor();
        assert_close(&one, &want, "one thread");
        let two = multithread_tract_scope(Executor::multithread(2), || plan.run(tvec!(x.into_tvalue())))?.remove(0).into_tensor();
        assert_eq!(one, two, "two threads");
    }
    Ok(())
}

/// A network's stem: 3×3 stride 2 over the 3 image channels with BatchNorm and hard-swish
/// (HardSigmoid + Mul), padding 1 (odd and even sizes: the last row / column reads padding or
/// not), and a 5×5 stride 1 with asymmetric padding and ReLU: one `oar_conv_f32` each (the
/// padding in its im2col), matching tract through NNEF, at one and two threads.
#[test]
fn stem_convs_are_lowered() -> TractResult<()> {
    use tract_linalg::multithread::{multithread_tract_scope, Executor};
    for (h, w, k, s, pad, act) in [
        (67usize, 64usize, 3usize, 2usize, [1usize, 1, 1, 1], FloatActivation::HardSwish { alpha: 1.0 / 6.0, beta: 0.5 }),
        (30, 33, 5, 1, [2, 1, 2, 3], FloatActivation::Relu),
    ] {
        let mut m = TypedModel::default();
        // C·k·k: 27 and 25.
        let ci = if k == 3 { 3 } else { 1 };
        let x = m.add_source("x", f32::fact([1, ci, h, w]))?;
        let kt = m.add_const("stem.k", Tensor::from_shape(&[8, ci, k, k], &pseudo(8 * ci * k * k, 5))?)?;
        let bt = m.add_const("stem.b", tensor1(&pseudo(8, 6)))?;
        let pool_spec = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![k, k],
            padding: PaddingSpec::Explicit(tvec![pad[0], pad[1]], tvec![pad[2], pad[3]]),
            dilations: None,
            strides: Some(tvec![s, s]),
            input_channels: ci,
            output_channels: 8,
        };
        let y = m.wire_node("stem", Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group: 1, q_params: None }, &[x, kt, bt])?[0];
        let y = bn(&mut m, "bn", y, 8)?;
        let y = if act == FloatActivation::Relu {
            bin(&mut m, "relu", Box::new(Max), y, scalar(0.0, 4))?
        } else {
            let g = bin(&mut m, "hs.alpha", Box::new(Mul), y, scalar(1.0 / 6.0, 4))?;
            let g = bin(&mut m, "hs.beta", Box::new(Add), g, scalar(0.5, 4))?;
            let g = bin(&mut m, "hs.one", Box::new(Min), g, scalar(1.0, 4))?;
            let g = bin(&mut m, "hs.zero", Box::new(Max), g, scalar(0.0, 4))?;
            m.wire_node("hs", TypedBinOp(Box::new(Mul), None), &[g, y])?[0]
        };
        m.select_output_outlets(&[y])?;
        let m = m.into_decluttered()?;
        let xv = Tensor::from_shape(&[1, ci, h, w], &pseudo(ci * h * w, 12))?;
        let want = run(&m, &xv);
        let mut lowered = m.clone();
        assert_eq!(lower_float(&mut lowered)?, 1, "{k}x{k}\n{lowered}");
        let ops: Vec<&ConvF32> = lowered.nodes().iter().filter_map(|n| n.op_as::<ConvF32>()).collect();
        assert_eq!((ops.len(), ops[0].activation, ops[0].pad), (1, act, pad));
        assert!(!lowered.nodes().iter().any(|n| n.op_is::<Conv>() || n.op_is::<TypedBinOp>()), "{lowered}");
        assert_eq!(oar_ops::required_ops(&lowered).iter().map(|o| (o.name, o.since)).collect::<Vec<_>>(), [("oar_conv_f32", "0.3.0")]);
        let (graph, read) = roundtrip(&lowered)?;
        assert!(graph.contains("oar_conv_f32_v1("), "{graph}");
        let plan = read.into_optimized()?.into_runnable()?;
        let one = plan.run(tvec!(xv.clone().into_tvalue()))?.remove(0).into_tensor();
        assert_close(&one, &want, &format!("{k}x{k} s{s} on {h}x{w}"));
        let two = multithread_tract_scope(Executor::multithread(2), || plan.run(tvec!(xv.into_tvalue())))?.remove(0).into_tensor();
        assert_eq!(one, two, "two threads");
    }
    Ok(())
}
