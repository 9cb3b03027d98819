//! `DeformConv` against a naive f64 reference written from the ONNX definition (per output, per
//! tap: bilinear sample of the input at the offset position, zero outside the image, times the
//! mask and the weight), on random inputs with offsets that reach outside the image: as
//! evaluated, as tract optimises it (columns + tract's matmul) and after an NNEF round trip.
use oar_ops::{DeformConv, DeformIm2Col};
use tract_nnef::internal::*;

fn pseudo(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    (0..n as u64)
        .map(|i| ((((i + 1) ^ (seed << 32)).wrapping_mul(0x9E3779B97F4A7C15) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale)
        .collect()
}

struct Case {
    op: DeformConv,
    x: Tensor,
    w: Tensor,
    offset: Tensor,
    bias: Tensor,
    mask: Option<Tensor>,
}

fn case(op: DeformConv, n: usize, c: usize, hw: [usize; 2], oc: usize, offset_scale: f32) -> Case {
    let (oh, ow) = op.output_hw(&hw[0], &hw[1]);
    let taps = op.kernel[0] * op.kernel[1];
    let t = |shape: &[usize], seed, scale| Tensor::from_shape(shape, &pseudo(shape.iter().product(), seed, scale)).unwrap();
    let mask = op.mask.then(|| {
        let shape = [n, op.offset_group * taps, oh, ow];
        // In [0, 1] like a sigmoid's output.
        let v: Vec<f32> = pseudo(shape.iter().product(), 5, 1.0).iter().map(|v| v * 0.5 + 0.5).collect();
        Tensor::from_shape(&shape, &v).unwrap()
    });
    Case {
        x: t(&[n, c, hw[0], hw[1]], 1, 1.0),
        w: t(&[oc, c / op.group, op.kernel[0], op.kernel[1]], 2, 0.5),
        offset: t(&[n, op.offset_group * 2 * taps, oh, ow], 3, offset_scale),
        bias: t(&[oc], 4, 1.0),
        mask,
        op,
    }
}

/// The ONNX definition, in f64, one output value at a time.
fn reference(k: &Case) -> Tensor {
    let op = &k.op;
    let (xs, ws) = (k.x.shape(), k.w.shape());
    let (n, c, h, w, oc) = (xs[0], xs[1], xs[2], xs[3], ws[0]);
    let (oh, ow) = op.output_hw(&h, &w);
    let x = k.x.to_plain_array_view::<f32>().unwrap().into_dimensionality::<tract_ndarray::Ix4>().unwrap();
    let wt = k.w.to_plain_array_view::<f32>().unwrap().into_dimensionality::<tract_ndarray::Ix4>().unwrap();
    let off = k.offset.to_plain_array_view::<f32>().unwrap().into_dimensionality::<tract_ndarray::Ix4>().unwrap();
    let mask = k.mask.as_ref().map(|m| m.to_plain_array_view::<f32>().unwrap().into_dimensionality::<tract_ndarray::Ix4>().unwrap());
    let bias = k.bias.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap();
    let (cg, ocg, kh, kw) = (c / op.group, oc / op.group, op.kernel[0], op.kernel[1]);
    let per_og = c / op.offset_group;
    let pixel = |b: usize, ch: usize, y: i64, xx: i64| -> f64 {
        if y < 0 || xx < 0 || y >= h as i64 || xx >= w as i64 {
            0.0
        } else {
            x[[b, ch, y as usize, xx as usize]] as f64
        }
    };
    let mut out = vec![0f32; n * oc * oh * ow];
    for b in 0..n {
        for o in 0..oc {
            let g = o / ocg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = bias[o] as f64;
                    for ci in 0..cg {
                        let ch = g * cg + ci;
                        let og = ch / per_og;
                        for i in 0..kh {
                            for j in 0..kw {
                                let tap = i * kw + j;
                                let dy = off[[b, og * 2 * kh * kw + 2 * tap, oy, ox]] as f64;
                                let dx = off[[b, og * 2 * kh * kw + 2 * tap + 1, oy, ox]] as f64;
                                let py = (oy * op.stride[0]) as f64 - op.pad[0] as f64 + (i * op.dilation[0]) as f64 + dy;
                                let px = (ox * op.stride[1]) as f64 - op.pad[1] as f64 + (j * op.dilation[1]) as f64 + dx;
                                let (y0, x0) = (py.floor(), px.floor());
                                let (ly, lx) = (py - y0, px - x0);
                                let (y0, x0) = (y0 as i64, x0 as i64);
                                let v = (1.0 - ly) * (1.0 - lx) * pixel(b, ch, y0, x0)
                                    + (1.0 - ly) * lx * pixel(b, ch, y0, x0 + 1)
                                    + ly * (1.0 - lx) * pixel(b, ch, y0 + 1, x0)
                                    + ly * lx * pixel(b, ch, y0 + 1, x0 + 1);
                                let m = mask.as_ref().map_or(1.0, |m| m[[b, og * kh * kw + tap, oy, ox]] as f64);
                                acc += wt[[o, ci, i, j]] as f64 * m * v;
                            }
                        }
                    }
                    out[((b * oc + o) * oh + oy) * ow + ox] = acc as f32;
                }
            }
        }
    }
    Tensor::from_shape(&[n, oc, oh, ow], &out).unwrap()
}

/// `x`, `offset` (and `mask`) as model inputs, weights and bias as constants.
fn model(k: &Case) -> TractResult<TypedModel> {
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact(k.x.shape()))?;
    let off = m.add_source("offset", f32::fact(k.offset.shape()))?;
    let w = m.add_const("w", k.w.clone())?;
    let b = m.add_const("b", k.bias.clone())?;
    let mut inputs = vec![x, w, off, b];
    if let Some(mask) = &k.mask {
        inputs.push(m.add_source("mask", f32::fact(mask.shape()))?);
    }
    let y = m.wire_node("dcn", k.op.clone(), &inputs)?;
    m.select_output_outlets(&y)?;
    Ok(m)
}

fn run(m: TypedModel, k: &Case) -> Tensor {
    let mut inputs = tvec![k.x.clone().into_tvalue(), k.offset.clone().into_tvalue()];
    if let Some(mask) = &k.mask {
        inputs.push(mask.clone().into_tvalue());
    }
    m.into_runnable().unwrap().run(inputs).unwrap().remove(0).into_tensor()
}

fn assert_close(got: &Tensor, want: &Tensor, label: &str) {
    assert_eq!(got.shape(), want.shape(), "{label}");
    let (g, w) = (got.to_plain_array_view::<f32>().unwrap(), want.to_plain_array_view::<f32>().unwrap());
    let range = w.iter().fold(0f32, |a, &b| a.max(b.abs()));
    let max = g.iter().zip(w.iter()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(range > 0.1, "{label}: degenerate output");
    assert!(max <= 1e-5 * range, "{label}: differs from the reference by {max} (range {range})");
}

fn check(k: &Case) -> TractResult<()> {
    let want = reference(k);
    let m = model(k)?;
    assert_eq!(m.output_fact(0)?.shape.as_concrete().unwrap(), want.shape());
    assert_close(&run(m.clone(), k), &want, "eval");
    let opt = m.clone().into_optimized()?;
    assert!(opt.nodes().iter().any(|n| n.op_is::<DeformIm2Col>()), "{opt}");
    assert!(!opt.nodes().iter().any(|n| n.op_is::<DeformConv>()), "{opt}");
    assert_close(&run(opt, k), &want, "optimised");
    assert_eq!(oar_ops::required_ops(&m).iter().map(|o| (o.name, o.version, o.since)).collect::<Vec<_>>(), [("oar_deform_conv", 1, "0.3.0")]);

    let mut nnef = tract_nnef::nnef();
    oar_ops::register(&mut nnef);
    let mut buf = vec![];
    nnef.write_to_tar(&m, &mut buf)?;
    let graph = String::from_utf8_lossy(&buf).into_owned();
    assert!(graph.contains("oar_deform_conv_v1("), "{graph}");
    let read = nnef.model_for_read(&mut &buf[..])?;
    let ops: Vec<&DeformConv> = read.nodes().iter().filter_map(|n| n.op_as::<DeformConv>()).collect();
    assert_eq!(ops, [&k.op]);
    assert_close(&run(read.clone(), k), &want, "read back");
    assert_close(&run(read.into_optimized()?, k), &want, "read back, optimised");
    Ok(())
}

#[test]
fn deform_conv_3x3_with_mask_matches_the_definition() -> TractResult<()> {
    // paddle2onnx's shape (PP-YOLO's DCN): 3x3, pad 1, stride 1, mask. Offsets up to ±3 px: many
    // taps fall partly or wholly outside the 7x9 image.
    let op = DeformConv { kernel: [3, 3], stride: [1, 1], dilation: [1, 1], pad: [1, 1, 1, 1], group: 1, offset_group: 1, mask: true };
    check(&case(op, 1, 5, [7, 9], 6, 3.0))
}

#[test]
fn deform_conv_stride_2_matches_the_definition() -> TractResult<()> {
    let op = DeformConv { kernel: [3, 3], stride: [2, 2], dilation: [1, 1], pad: [1, 1, 1, 1], group: 1, offset_group: 1, mask: true };
    check(&case(op, 1, 4, [10, 11], 3, 2.5))
}

#[test]
fn deform_conv_groups_dilation_uneven_padding_no_mask_batch_2() -> TractResult<()> {
    let op = DeformConv { kernel: [2, 3], stride: [2, 1], dilation: [2, 1], pad: [1, 0, 2, 1], group: 2, offset_group: 2, mask: false };
    check(&case(op, 2, 4, [8, 6], 6, 4.0))
}

#[test]
fn zero_offsets_and_unit_mask_are_a_plain_convolution() -> TractResult<()> {
    use tract_nnef::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
    use tract_nnef::tract_core::ops::nn::DataFormat;
    let op = DeformConv { kernel: [3, 3], stride: [2, 2], dilation: [1, 1], pad: [1, 1, 1, 1], group: 1, offset_group: 1, mask: false };
    let mut k = case(op, 1, 3, [9, 8], 4, 0.0);
    k.offset = Tensor::zero::<f32>(k.offset.shape())?;
    let got = run(model(&k)?.into_optimized()?, &k);
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact(k.x.shape()))?;
    let w = m.add_const("w", k.w.clone())?;
    let b = m.add_const("b", k.bias.clone())?;
    let pool_spec = PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec![3, 3],
        padding: PaddingSpec::Explicit(tvec![1, 1], tvec![1, 1]),
        dilations: None,
        strides: Some(tvec![2, 2]),
        input_channels: 3,
        output_channels: 4,
    };
    let y = m.wire_node("conv", Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group: 1, q_params: None }, &[x, w, b])?;
    m.select_output_outlets(&y)?;
    let want = m.into_runnable()?.run(tvec![k.x.clone().into_tvalue()])?.remove(0).into_tensor();
    assert_close(&got, &want, "vs tract's Conv");
    Ok(())
}

#[test]
fn wrong_shapes_are_refused() {
    let op = DeformConv { kernel: [3, 3], stride: [1, 1], dilation: [1, 1], pad: [1, 1, 1, 1], group: 1, offset_group: 1, mask: true };
    let mut k = case(op.clone(), 1, 4, [6, 6], 2, 1.0);
    // An offset for another output size.
    k.offset = Tensor::zero::<f32>(&[1, 18, 5, 6]).unwrap();
    assert!(model(&k).is_err());
    // Channels not divisible by the offset groups.
    let k = case(DeformConv { offset_group: 3, ..op }, 1, 4, [6, 6], 2, 1.0);
    assert!(model(&k).is_err());
}
