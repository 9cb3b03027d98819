//! Float depthwise convolution: the scalar table against a direct implementation of the definition
//! (same summation order: equal values), and every other table (FMA) against the scalar one within
//! the rounding bound of `oar_kernels::dwconv_f32`'s module doc, over random shapes, strides,
//! paddings and activations.
use oar_kernels::{Depthwise, FloatActivation, KernelError, Kernels};
use proptest::prelude::*;

mod float_common;
use float_common::{act, activation, data};

/// The definition, one output at a time: `(act(bias + Σ w·x), |bias| + Σ |w·x|)` over the taps
/// inside the image, row-major.
fn direct(x: &[f32], sh: &Depthwise, w: &[f32], bias: &[f32], a: FloatActivation) -> (Vec<f32>, Vec<f32>) {
    let &Depthwise { channels: c, height: h, width: wd, kernel: k, stride: s, pad } = sh;
    let (oh, ow) = sh.output_hw().unwrap();
    let (mut y, mut mag) = (vec![], vec![]);
    for ch in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut acc, mut m) = (bias[ch], bias[ch].abs());
                for ky in 0..k {
                    for kx in 0..k {
                        let (iy, ix) = ((oy * s + ky) as isize - pad[0] as isize, (ox * s + kx) as isize - pad[1] as isize);
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                            continue;
                        }
                        let p = w[(ch * k + ky) * k + kx] * x[(ch * h + iy as usize) * wd + ix as usize];
                        acc += p;
                        m += p.abs();
                    }
                }
                y.push(act(a, acc));
                mag.push(m);
            }
        }
    }
    (y, mag)
}

fn shape() -> impl Strategy<Value = Depthwise> {
    (1usize..4, 1usize..14, 1usize..40, prop_oneof![Just(3usize), Just(5)], 1usize..3, any::<[u8; 4]>()).prop_filter_map(
        "padded input smaller than the kernel",
        |(channels, height, width, kernel, stride, p)| {
            let pad = p.map(|v| v as usize % kernel);
            let sh = Depthwise { channels, height, width, kernel, stride, pad };
            sh.output_hw().is_ok().then_some(sh)
        },
    )
}

fn run(kt: &Kernels, sh: &Depthwise, x: &[f32], w: &[f32], b: &[f32], a: FloatActivation) -> Vec<f32> {
    let (oh, ow) = sh.output_hw().unwrap();
    let mut y = vec![f32::NAN; sh.channels * oh * ow];
    kt.depthwise_conv_f32(sh, x, w, b, a, &mut y).unwrap();
    y
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn scalar_is_the_definition(sh in shape(), a in activation(), seed in any::<u64>()) {
        let x = data(sh.channels * sh.height * sh.width, seed);
        let w = data(sh.channels * sh.kernel * sh.kernel, seed ^ 1);
        let b = data(sh.channels, seed ^ 2);
        let (want, _) = direct(&x, &sh, &w, &b, a);
        prop_assert_eq!(run(&Kernels::scalar(), &sh, &x, &w, &b, a), want);
    }

    #[test]
    fn every_table_is_within_the_fma_bound_of_scalar(sh in shape(), a in activation(), seed in any::<u64>()) {
        let x = data(sh.channels * sh.height * sh.width, seed);
        let w = data(sh.channels * sh.kernel * sh.kernel, seed ^ 1);
        let b = data(sh.channels, seed ^ 2);
        let want = run(&Kernels::scalar(), &sh, &x, &w, &b, a);
        let (_, mag) = direct(&x, &sh, &w, &b, a);
        for kt in Kernels::available() {
            let got = run(&kt, &sh, &x, &w, &b, a);
            for (i, ((g, r), m)) in got.iter().zip(&want).zip(&mag).enumerate() {
                // The activations are at most 1.5-Lipschitz on the values that reach them.
                prop_assert!((g - r).abs() <= 2e-5 * m, "{:?} output {i}: {g} vs {r} (bound {}) {:?}", sh, 2e-5 * m, kt.names());
            }
        }
    }
}

#[test]
fn bad_arguments_are_errors() {
    let kt = Kernels::global();
    let sh = Depthwise { channels: 2, height: 4, width: 4, kernel: 3, stride: 1, pad: [1; 4] };
    let (x, w, b) = (vec![0.0; 32], vec![0.0; 18], vec![0.0; 2]);
    let mut y = vec![0.0; 32];
    assert!(kt.depthwise_conv_f32(&sh, &x, &w, &b, FloatActivation::Relu, &mut y).is_ok());
    let e = kt.depthwise_conv_f32(&sh, &x[1..], &w, &b, FloatActivation::Relu, &mut y).unwrap_err();
    assert_eq!(e, KernelError::BufferSize { buffer: "x", expected: 32, actual: 31 });
    assert!(kt.depthwise_conv_f32(&Depthwise { kernel: 4, ..sh }, &x, &w, &b, FloatActivation::Relu, &mut y).is_err());
    assert!(kt.depthwise_conv_f32(&Depthwise { stride: 3, ..sh }, &x, &w, &b, FloatActivation::Relu, &mut y).is_err());
    assert!(kt.depthwise_conv_f32(&sh, &x, &w, &b[..1], FloatActivation::Relu, &mut y).is_err());
    assert!(kt.depthwise_conv_f32(&sh, &x, &w, &b, FloatActivation::Clip { min: 1.0, max: 0.0 }, &mut y).is_err());
    let tiny = Depthwise { channels: 1, height: 1, width: 1, kernel: 5, stride: 1, pad: [0; 4] };
    assert!(kt.depthwise_conv_f32(&tiny, &[0.0], &[0.0; 25], &[0.0], FloatActivation::Identity, &mut [0.0]).is_err());
}

#[test]
fn the_table_names_its_float_depthwise_kernel() {
    float_common::assert_detected_kernel("dwconv_f32");
}
