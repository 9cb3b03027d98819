//! A small quantized conv net built here (depthwise 3×3 s2, depthwise 5×5, pointwise 1×1), lowered to
//! oar ops, written to NNEF and read back: same outputs as tract's own int8 path, close to float.
use oar_ops::{lower, QConv};
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::binary::TypedBinOp;
use tract_nnef::tract_core::ops::cast::cast;
use tract_nnef::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_nnef::tract_core::ops::math::{Max, Mul};
use tract_nnef::tract_core::ops::nn::DataFormat;

fn pseudo(n: usize, seed: u64) -> impl Iterator<Item = i64> {
    (0..n as u64).map(move |i| ((i ^ seed).wrapping_mul(0x9E3779B97F4A7C15) >> 33) as i64)
}

struct Layer {
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    pad: usize,
    group: usize,
}

/// A quantized conv: kernel `[c_out][c_in/group][k][k]` in -6..=6 with per-channel scales
/// `(1 + c % 3) / 128` (dyadic: the f32 requantization of onnxruntime / oar and tract's fixed-point
/// one then round the same exact products, see the crate doc of oar-kernels' qconv).
fn qconv(model: &mut TypedModel, name: &str, x: OutletId, l: &Layer, x_q: (i32, f32), out: DatumType, y_q: (i32, f32)) -> TractResult<OutletId> {
    let per = l.c_in / l.group * l.k * l.k;
    let w: Vec<i8> = pseudo(l.c_out * per, l.k as u64 * 31 + l.c_out as u64).map(|v| (v % 13 - 6) as i8).collect();
    let mut kt = Tensor::from_shape(&[l.c_out, l.c_in / l.group, l.k, l.k], &w)?;
    // SAFETY: the tensor holds i8 values; QI8 has the same one-byte layout.
    unsafe { kt.set_datum_type(DatumType::QI8(QParams::ZpScale { zero_point: 0, scale: 3.0 / 128.0 })) };
    let ks: Vec<f32> = (0..l.c_out).map(|c| (1 + c % 3) as f32 / 128.0).collect();
    let bias: Vec<i32> = pseudo(l.c_out, 5).map(|v| (v % 2001 - 1000) as i32).collect();
    let mut k = |s: &str, t: Tensor| model.add_const(format!("{name}.{s}"), t);
    let inputs = [
        x,
        k("k", kt)?,
        k("b", tensor1(&bias))?,
        k("x0", tensor0(x_q.0))?,
        k("xs", tensor0(x_q.1))?,
        k("k0", tensor0(0i32))?,
        k("ks", tensor1(&ks))?,
        k("y0", tensor0(y_q.0))?,
        k("ys", tensor0(y_q.1))?,
    ];
    let pool_spec = PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec![l.k, l.k],
        padding: PaddingSpec::Explicit(tvec![l.pad, l.pad], tvec![l.pad, l.pad]),
        dilations: None,
        strides: Some(tvec![l.stride, l.stride]),
        input_channels: l.c_in,
        output_channels: l.c_out,
    };
    let conv = Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group: l.group, q_params: Some(out) };
    Ok(model.wire_node(name, conv, &inputs)?[0])
}

fn qi8(zp: i32, scale: f32) -> DatumType {
    DatumType::QI8(QParams::ZpScale { zero_point: zp, scale })
}

/// x (f32) → int8 → dw 3×3 s2 (int8 out) → dw 5×5 s1 (int8 out) → pw 1×1 → i32 → f32 · y_scale → relu.
fn net() -> TractResult<TypedModel> {
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 8, 23, 20]))?;
    let q = m.wire_node("x.q8", cast(qi8(3, 1.0 / 64.0)), &[x])?[0];
    let l1 = Layer { c_in: 8, c_out: 8, k: 3, stride: 2, pad: 1, group: 8 };
    let a = qconv(&mut m, "dw3", q, &l1, (3, 1.0 / 64.0), qi8(-5, 1.0 / 32.0), (-5, 1.0 / 32.0))?;
    let l2 = Layer { c_in: 8, c_out: 8, k: 5, stride: 1, pad: 2, group: 8 };
    let b = qconv(&mut m, "dw5", a, &l2, (-5, 1.0 / 32.0), qi8(2, 1.0 / 16.0), (2, 1.0 / 16.0))?;
    let l3 = Layer { c_in: 8, c_out: 12, k: 1, stride: 1, pad: 0, group: 1 };
    let ys = 1.0 / 256.0;
    let c = qconv(&mut m, "pw", b, &l3, (2, 1.0 / 16.0), i32::datum_type(), (0, ys))?;
    let f = m.wire_node("pw.f32", cast(f32::datum_type()), &[c])?[0];
    let s = m.add_const("pw.ys", tensor0(ys).broadcast_into_rank(4)?)?;
    let y = m.wire_node("pw.dequant", TypedBinOp(Box::new(Mul), None), &[f, s])?[0];
    let zero = m.add_const("zero", tensor0(0f32).broadcast_into_rank(4)?)?;
    let r = m.wire_node("relu", TypedBinOp(Box::new(Max), None), &[y, zero])?[0];
    m.select_output_outlets(&[r, b])?;
    Ok(m)
}

fn input() -> Tensor {
    let v: Vec<f32> = pseudo(8 * 23 * 20, 11).map(|v| (v % 400) as f32 / 100.0 - 2.0).collect();
    Tensor::from_shape(&[1, 8, 23, 20], &v).unwrap()
}

fn run(m: &TypedModel) -> TVec<TValue> {
    m.clone().into_runnable().unwrap().run(tvec!(input().into_tvalue())).unwrap()
}

#[test]
fn lowered_net_matches_tract_int8_through_nnef() -> TractResult<()> {
    let reference = net()?;
    let want = run(&reference);
    let mut lowered = net()?;
    assert_eq!(lower(&mut lowered)?, 3);
    let oar_nodes = lowered.nodes().iter().filter(|n| n.op_is::<QConv>()).count();
    assert_eq!(oar_nodes, 3);
    assert!(!lowered.nodes().iter().any(|n| n.op_is::<Conv>()));
    assert_eq!(oar_ops::required_ops(&lowered).len(), 2);

    let mut nnef = tract_nnef::nnef();
    oar_ops::register(&mut nnef);
    let mut buf = vec![];
    nnef.write_to_tar(&lowered, &mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    assert!(text.contains("oar_qconv_dw_v1") && text.contains("oar_qconv_pw_v1"));
    let read = nnef.model_for_read(&mut &buf[..])?.into_decluttered()?;
    assert_eq!(read.nodes().iter().filter(|n| n.op_is::<QConv>()).count(), 3);

    for (label, m) in [("lowered", lowered), ("read back", read.clone()), ("read back, optimised", read.into_optimized()?)] {
        let got = run(&m);
        // The int8 tensor after two depthwise convs: bit-exact with tract's int8 path.
        let (gi, wi) = (got[1].to_plain_array_view::<i8>()?, want[1].to_plain_array_view::<i8>()?);
        assert_eq!(got[1].shape(), want[1].shape());
        assert_eq!(gi, wi, "{label}: depthwise int8 outputs differ");
        // The dequantized pointwise conv + ReLU: tract rounds to y_scale units first, oar does not.
        let (g, w) = (got[0].to_plain_array_view::<f32>()?, want[0].to_plain_array_view::<f32>()?);
        let max = g.iter().zip(w.iter()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(max <= 0.5 / 256.0 + 1e-6, "{label}: pointwise differs from tract int8 by {max}");
        assert!(g.iter().any(|&v| v > 0.0) && g.iter().all(|&v| v >= 0.0), "{label}: relu not applied");
    }
    Ok(())
}

/// The same net in float (the weights dequantized): the int8 result stays close.
#[test]
fn lowered_net_is_close_to_float() -> TractResult<()> {
    let mut lowered = net()?;
    lower(&mut lowered)?;
    let got = run(&lowered);
    // Float reference: every quantized tensor dequantized, conv in f32.
    let mut f = TypedModel::default();
    let x = f.add_source("x", f32::fact([1, 8, 23, 20]))?;
    let q = net()?;
    let mut wire = x;
    for name in ["dw3", "dw5", "pw"] {
        let node = q.node(q.node_by_name(name)?.id);
        let conv = node.op_as::<Conv>().unwrap();
        let konst = |i: usize| q.outlet_fact(node.inputs[i]).unwrap().konst.clone().unwrap();
        let k = konst(1);
        let ks = konst(6);
        let ks = ks.try_as_plain_ram()?.as_slice::<f32>()?;
        // SAFETY: input 1 of a quantized conv is its int8 kernel (QI8, one byte per value).
        let kv = unsafe { k.as_slice_unchecked::<i8>() };
        let per = kv.len() / ks.len();
        let kf: Vec<f32> = kv.iter().enumerate().map(|(i, &v)| v as f32 * ks[i / per]).collect();
        let xs = konst(4).cast_to_scalar::<f32>()?;
        let b = konst(2);
        let bf: Vec<f32> = b.try_as_plain_ram()?.as_slice::<i32>()?.iter().enumerate().map(|(c, &v)| v as f32 * xs * ks[c]).collect();
        let kt = f.add_const(format!("{name}.k"), Tensor::from_shape(k.shape(), &kf)?)?;
        let bt = f.add_const(format!("{name}.b"), tensor1(&bf))?;
        let fc = Conv { q_params: None, ..conv.clone() };
        wire = f.wire_node(name, fc, &[wire, kt, bt])?[0];
    }
    let zero = f.add_const("zero", tensor0(0f32).broadcast_into_rank(4)?)?;
    let r = f.wire_node("relu", TypedBinOp(Box::new(Max), None), &[wire, zero])?[0];
    f.select_output_outlets(&[r])?;
    let want = run(&f);
    let (g, w) = (got[0].to_plain_array_view::<f32>()?, want[0].to_plain_array_view::<f32>()?);
    let range = w.iter().fold(0f32, |a, &b| a.max(b.abs()));
    let max = g.iter().zip(w.iter()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(range > 0.1, "degenerate float output (max {range})");
    assert!(max < 0.05 * range, "int8 net differs from float by {max} (output range {range})");
    Ok(())
}

/// Layers big enough to be split over tract's thread pool give the same int8 values as on one
/// thread (each thread runs the kernels on its own range of output channels).
#[test]
fn threaded_layers_match_single_thread() -> TractResult<()> {
    use tract_linalg::multithread::{multithread_tract_scope, Executor};
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 32, 40, 40]))?;
    let q = m.wire_node("x.q8", cast(qi8(3, 1.0 / 64.0)), &[x])?[0];
    let dw = Layer { c_in: 32, c_out: 32, k: 3, stride: 1, pad: 1, group: 32 };
    let a = qconv(&mut m, "dw3", q, &dw, (3, 1.0 / 64.0), qi8(-5, 1.0 / 32.0), (-5, 1.0 / 32.0))?;
    let pw = Layer { c_in: 32, c_out: 48, k: 1, stride: 1, pad: 0, group: 1 };
    let b = qconv(&mut m, "pw", a, &pw, (-5, 1.0 / 32.0), qi8(1, 1.0 / 8.0), (1, 1.0 / 8.0))?;
    m.select_output_outlets(&[a, b])?;
    assert_eq!(lower(&mut m)?, 2);
    let plan = m.into_optimized()?.into_runnable()?;
    let v: Vec<f32> = pseudo(32 * 40 * 40, 7).map(|v| (v % 400) as f32 / 100.0 - 2.0).collect();
    let input = Tensor::from_shape(&[1, 32, 40, 40], &v)?;
    let one = plan.run(tvec!(input.clone().into_tvalue()))?;
    let two = multithread_tract_scope(Executor::multithread(2), || plan.run(tvec!(input.into_tvalue())))?;
    for (o, t) in one.iter().zip(&two) {
        assert_eq!(o.to_plain_array_view::<i8>()?, t.to_plain_array_view::<i8>()?);
        assert!(o.to_plain_array_view::<i8>()?.iter().any(|&v| v != o.to_plain_array_view::<i8>().unwrap()[[0, 0, 0, 0]]));
    }
    Ok(())
}
