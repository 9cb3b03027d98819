//! Integer results are exact across machines: a small int8 net (3×3 conv, then a 1×1 conv as a
//! matmul) with fixed quantization parameters, written as NNEF and read back as a plan would be;
//! its raw i32 accumulators are pinned (recorded on x86-64, 2026-12-03). This covers tract's own
//! integer kernels on the host; the cross-machine counterpart, run under qemu-aarch64 and
//! qemu-arm by tests/qemu.sh, is oar-plan's `int8_plan_integer_outputs_are_pinned` (oar's int8
//! convs through NNEF and the device engine).

use oar_compiler::quant::{lower_conv, lower_matmul};
use oar_compiler::seeded_input;
use oar_plan::tract::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use oar_plan::tract::tract_core::ops::einsum::EinSum;
use oar_plan::tract::tract_core::ops::nn::DataFormat;
use oar_plan::tract::*;

fn net() -> (TypedModel, Vec<String>) {
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 8, 6, 7])).unwrap();
    let conv = Conv {
        pool_spec: PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![3, 3],
            padding: PaddingSpec::Explicit(tvec![1, 1], tvec![1, 1]),
            dilations: None,
            strides: None,
            input_channels: 8,
            output_channels: 16,
        },
        kernel_fmt: KernelFormat::OIHW,
        group: 1,
        q_params: None,
    };
    let w = m.add_const("conv.w", seeded_input(&[16, 8, 3, 3], 21)).unwrap();
    let b = m.add_const("conv.b", seeded_input(&[16], 22)).unwrap();
    let c = m.wire_node("conv", conv, &[x, w, b]).unwrap()[0];
    let pw = m.add_const("pw.w", seeded_input(&[5, 16], 23)).unwrap();
    let y = m.wire_node("pw", EinSum::new("bchw,oc->bohw".parse().unwrap(), f32::datum_type()), &[c, pw]).unwrap()[0];
    m.select_output_outlets(&[y]).unwrap();
    let conv_id = m.node_id_by_name("conv").unwrap();
    lower_conv(&mut m, conv_id, 1.0 / 127.0, 0, i8::datum_type(), None).unwrap();
    let pw_id = m.node_id_by_name("pw").unwrap();
    lower_matmul(&mut m, pw_id, 0.1, 0, i8::datum_type(), None).unwrap();
    // Expose the integer ops' raw outputs.
    let acc: Vec<String> = m.nodes().iter().filter(|n| n.name.ends_with(".i8conv") || n.name.ends_with(".i8matmul")).map(|n| n.name.clone()).collect();
    let outs: Vec<OutletId> = acc.iter().map(|n| OutletId::new(m.node_id_by_name(n).unwrap(), 0)).collect();
    m.select_output_outlets(&outs).unwrap();
    (m.into_compact().unwrap(), acc)
}

/// (count, sum, position-weighted sum mod 2^32, first values) of an i32 tensor.
fn digest(t: &Tensor) -> (usize, i64, u32, [i32; 6]) {
    let v = t.to_plain_array_view::<i32>().unwrap();
    let v: Vec<i32> = v.iter().copied().collect();
    let sum = v.iter().map(|&x| x as i64).sum();
    let weighted = v.iter().enumerate().fold(0u32, |a, (i, &x)| a.wrapping_add((x as u32).wrapping_mul(i as u32 + 1)));
    (v.len(), sum, weighted, v[..6].try_into().unwrap())
}

#[test]
fn int8_plan_integer_outputs_are_pinned() {
    let (model, names) = net();
    assert_eq!(names.len(), 2, "{names:?}");
    let mut nnef = vec![];
    oar_plan::nnef().write_to_tar(&model, &mut nnef).unwrap();
    let reloaded = oar_plan::nnef().model_for_read(&mut std::io::Cursor::new(&nnef)).unwrap();
    let plan = reloaded.into_optimized().unwrap().into_runnable().unwrap();
    let out = plan.run(tvec!(seeded_input(&[1, 8, 6, 7], 5).into_tvalue())).unwrap();
    let got: Vec<_> = out.iter().map(|t| digest(&t.clone().into_tensor())).collect();
    for (n, d) in names.iter().zip(&got) {
        eprintln!("{n}: {d:?}");
    }
    assert_eq!(got[0], PINNED_CONV, "3x3 int8 conv");
    assert_eq!(got[1], PINNED_MATMUL, "1x1 int8 matmul");
}

const PINNED_CONV: (usize, i64, u32, [i32; 6]) = (672, -68767889, 1216062871, [-2199265, -2628517, -471042, -713506, 4677578, 706163]);
const PINNED_MATMUL: (usize, i64, u32, [i32; 6]) = (210, -111635, 4277390930, [3033, 669, -6645, 5304, 605, -3283]);
