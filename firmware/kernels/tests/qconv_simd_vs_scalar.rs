//! int8 convolutions: the scalar table against a direct implementation of the definition (module
//! doc of `oar_kernels::qconv`), and every other table bit-exact against the scalar one, over random
//! shapes, channels, strides, paddings, zero points, activations and output types.
use oar_kernels::{Activation, Depthwise, Epilogue, Kernels, Output, Pointwise};
use proptest::prelude::*;

fn data(n: usize, seed: u64) -> Vec<i8> {
    (0..n).map(|i| ((i as u64 ^ seed).wrapping_mul(0x9E3779B97F4A7C15) >> 40) as i8).collect()
}

fn activation() -> impl Strategy<Value = Activation> {
    prop_oneof![
        Just(Activation::Identity),
        Just(Activation::Relu),
        Just(Activation::Clip { min: 0.0, max: 6.0 }),
        Just(Activation::HardSwish),
    ]
}

/// The definition, one output at a time: taps inside the image, then the epilogue.
#[allow(clippy::too_many_arguments)]
fn direct(
    x: &[i8], (c, h, w): (usize, usize, usize), zp: i32, wt: &[i8], o: usize, k: usize, s: usize, pad: [usize; 4],
    depthwise: bool, bias: &[i32], scale: &[f32], act: Activation, y: Option<(f32, i32)>,
) -> (Vec<i8>, Vec<f32>) {
    let oh = (h + pad[0] + pad[2] - k) / s + 1;
    let ow = (w + pad[1] + pad[3] - k) / s + 1;
    let (mut q, mut f) = (vec![], vec![]);
    for oc in 0..o {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = bias[oc];
                let chans: Vec<usize> = if depthwise { vec![oc] } else { (0..c).collect() };
                for (ci, &ic) in chans.iter().enumerate() {
                    for ky in 0..k {
                        for kx in 0..k {
                            let (iy, ix) = ((oy * s + ky) as isize - pad[0] as isize, (ox * s + kx) as isize - pad[1] as isize);
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let xv = x[(ic * h + iy as usize) * w + ix as usize] as i32 - zp;
                            let wi = if depthwise { (oc * k + ky) * k + kx } else { ((oc * c + ci) * k + ky) * k + kx };
                            acc = acc.wrapping_add(xv * wt[wi] as i32);
                        }
                    }
                }
                let r = acc as f32 * scale[oc];
                let hs = |r: f32| r * (r + 3.0).max(0.0).min(6.0) / 6.0;
                match y {
                    Some((ys, yz)) => {
                        let rq = |v: f32| (yz as f32 + (v / ys).round_ties_even()).clamp(-128.0, 127.0) as i32;
                        let (lo, hi) = match act {
                            Activation::Relu => (yz, 127),
                            Activation::Clip { min, max } => (rq(min), rq(max)),
                            _ => (-128, 127),
                        };
                        let v = if act == Activation::HardSwish { hs(r) / ys } else { acc as f32 * (scale[oc] / ys) };
                        q.push((v.max((lo - yz) as f32).min((hi - yz) as f32).round_ties_even() as i32 + yz) as i8);
                    }
                    None => f.push(match act {
                        Activation::Identity => r,
                        Activation::Relu => r.max(0.0),
                        Activation::Clip { min, max } => r.max(min).min(max),
                        Activation::HardSwish => hs(r),
                    }),
                }
            }
        }
    }
    (q, f)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

proptest! {
    #[test]
    fn depthwise(c in 1usize..=5, h in 1usize..=19, w in 1usize..=40, big in any::<bool>(), s in 1usize..=2,
                 pad in prop::array::uniform4(0usize..=2), zp in -128i32..=127, yzp in -128i32..=127,
                 act in activation(), f32_out in any::<bool>(), seed in any::<u64>()) {
        let k: usize = if big { 5 } else { 3 };
        let (h, w) = (h.max(k.saturating_sub(pad[0] + pad[2])), w.max(k.saturating_sub(pad[1] + pad[3])));
        let shape = Depthwise { channels: c, height: h, width: w, kernel: k, stride: s, pad };
        let (oh, ow) = shape.output_hw().unwrap();
        let x = data(c * h * w, seed);
        let wt = data(c * k * k, seed ^ 1);
        let bias: Vec<i32> = (0..c as i32).map(|i| (i * 977 - 1500) ^ (seed as i32 & 0x3ff)).collect();
        let scale: Vec<f32> = (0..c).map(|i| 1e-4 * (1.0 + i as f32 * 0.37)).collect();
        let ep = Epilogue { bias: &bias, scale: &scale, activation: act };
        let y = (!f32_out).then_some((0.02f32, yzp));
        let (wq, wf) = direct(&x, (c, h, w), zp, &wt, c, k, s, pad, true, &bias, &scale, act, y);
        for kt in Kernels::available() {
            let n = c * oh * ow;
            let (mut q, mut f) = (vec![0i8; n], vec![0f32; n]);
            let out = match y { Some((ys, yz)) => Output::I8 { data: &mut q, scale: ys, zero_point: yz }, None => Output::F32(&mut f) };
            kt.depthwise_conv_i8(&shape, &x, zp, &wt, &ep, out).unwrap();
            if f32_out { prop_assert_eq!(bits(&f), bits(&wf), "{:?}", kt.names()); } else { prop_assert_eq!(&q, &wq, "{:?}", kt.names()); }
        }
    }

    #[test]
    fn pointwise(c in 1usize..=40, o in 1usize..=13, h in 1usize..=9, w in 1usize..=23, zp in -128i32..=127,
                 yzp in -128i32..=127, act in activation(), f32_out in any::<bool>(), seed in any::<u64>()) {
        let shape = Pointwise { inputs: c, outputs: o, pixels: h * w };
        let x = data(c * h * w, seed);
        let wt = data(o * c, seed ^ 7);
        let bias: Vec<i32> = (0..o as i32).map(|i| (i * 3001 - 9000) ^ (seed as i32 & 0xfff)).collect();
        let scale: Vec<f32> = (0..o).map(|i| 2e-5 * (1.0 + i as f32 * 0.21)).collect();
        let ep = Epilogue { bias: &bias, scale: &scale, activation: act };
        let y = (!f32_out).then_some((0.03f32, yzp));
        let (wq, wf) = direct(&x, (c, h, w), zp, &wt, o, 1, 1, [0; 4], false, &bias, &scale, act, y);
        for kt in Kernels::available() {
            let n = o * h * w;
            let (mut q, mut f) = (vec![0i8; n], vec![0f32; n]);
            let out = match y { Some((ys, yz)) => Output::I8 { data: &mut q, scale: ys, zero_point: yz }, None => Output::F32(&mut f) };
            kt.pointwise_conv_i8(&shape, &x, zp, &wt, &ep, out).unwrap();
            if f32_out { prop_assert_eq!(bits(&f), bits(&wf), "{:?}", kt.names()); } else { prop_assert_eq!(&q, &wq, "{:?}", kt.names()); }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Wide rows (several 16-value SIMD steps and every tail length), both strides, odd and even
    /// widths, every padding: each table against the scalar one.
    #[test]
    fn depthwise_wide(c in 1usize..=3, h in 1usize..=9, w in 1usize..=90, big in any::<bool>(), s in 1usize..=2,
                      pad in prop::array::uniform4(0usize..=2), zp in -128i32..=127, seed in any::<u64>()) {
        let k: usize = if big { 5 } else { 3 };
        let (h, w) = (h.max(k.saturating_sub(pad[0] + pad[2])), w.max(k.saturating_sub(pad[1] + pad[3])));
        let shape = Depthwise { channels: c, height: h, width: w, kernel: k, stride: s, pad };
        let (oh, ow) = shape.output_hw().unwrap();
        let x = data(c * h * w, seed);
        let wt = data(c * k * k, seed ^ 5);
        let bias: Vec<i32> = (0..c as i32).map(|i| i * 31 - 700).collect();
        let scale: Vec<f32> = (0..c).map(|i| 3e-4 * (1.0 + i as f32 * 0.5)).collect();
        let ep = Epilogue { bias: &bias, scale: &scale, activation: Activation::Identity };
        let mut want = vec![0i8; c * oh * ow];
        Kernels::scalar().depthwise_conv_i8(&shape, &x, zp, &wt, &ep, Output::I8 { data: &mut want, scale: 0.05, zero_point: 1 }).unwrap();
        for kt in Kernels::available() {
            let mut got = vec![0i8; c * oh * ow];
            kt.depthwise_conv_i8(&shape, &x, zp, &wt, &ep, Output::I8 { data: &mut got, scale: 0.05, zero_point: 1 }).unwrap();
            prop_assert_eq!(&got, &want, "{:?}", kt.names());
        }
    }

    /// Several pixel blocks with every tail length, channel counts around multiples of 2 and 4,
    /// output counts around multiples of 4: f32 output (no clamping hides a wrong sum).
    #[test]
    fn pointwise_blocks(c in 1usize..=37, o in 1usize..=11, p in 1usize..=400, zp in -128i32..=127, seed in any::<u64>()) {
        let shape = Pointwise { inputs: c, outputs: o, pixels: p };
        let x = data(c * p, seed);
        let wt = data(o * c, seed ^ 9);
        let bias: Vec<i32> = (0..o as i32).map(|i| i * 1001 - 5000).collect();
        let scale = vec![1e-3f32; o];
        let ep = Epilogue { bias: &bias, scale: &scale, activation: Activation::Identity };
        let mut want = vec![0f32; o * p];
        Kernels::scalar().pointwise_conv_i8(&shape, &x, zp, &wt, &ep, Output::F32(&mut want)).unwrap();
        for kt in Kernels::available() {
            let mut got = vec![0f32; o * p];
            kt.pointwise_conv_i8(&shape, &x, zp, &wt, &ep, Output::F32(&mut got)).unwrap();
            prop_assert_eq!(bits(&got), bits(&want), "{:?}", kt.names());
        }
    }
}

/// Hard-swish to int8 on exact ties: scale 0.5 and odd accumulators make `r = n + 0.5`, and for
/// `r ≥ 3` `h = r` exactly, so `h / y_scale` lands on half-integers (round half to even decides),
/// plus the curved part `-3 < r < 3`; every table vs the scalar one and the definition.
#[test]
fn hardswish_ties() {
    for ys in [1.0f32, 2.0, 0.5, 3.0, 0.1, 1e-3] {
        for scale in [0.5f32, 0.25, 1.5, 0.0625] {
            for yzp in [-128, -3, 0, 77] {
                let p = 256;
                let shape = Pointwise { inputs: 1, outputs: 3, pixels: p };
                let x: Vec<i8> = (0..p).map(|i| (i as i32 - 128) as i8).collect();
                let wt = [1i8, -1, 3];
                let bias = [1, 0, -7];
                let sc = [scale; 3];
                let ep = Epilogue { bias: &bias, scale: &sc, activation: Activation::HardSwish };
                let mut want = vec![0i8; 3 * p];
                Kernels::scalar().pointwise_conv_i8(&shape, &x, 0, &wt, &ep, Output::I8 { data: &mut want, scale: ys, zero_point: yzp }).unwrap();
                let (d, _) = direct(&x, (1, 1, p), 0, &wt, 3, 1, 1, [0; 4], false, &bias, &sc, Activation::HardSwish, Some((ys, yzp)));
                assert_eq!(want, d, "scalar vs definition, ys {ys} scale {scale}");
                for kt in Kernels::available() {
                    let mut got = vec![0i8; 3 * p];
                    kt.pointwise_conv_i8(&shape, &x, 0, &wt, &ep, Output::I8 { data: &mut got, scale: ys, zero_point: yzp }).unwrap();
                    assert_eq!(got, want, "ys {ys} scale {scale} yzp {yzp} {:?}", kt.names());
                }
            }
        }
    }
}

/// Extreme values: x and w at -128 / 127 with zero points at both ends (|x − zp| = 255, the
/// largest pair and quad sums), f32 output so the raw sums show.
#[test]
fn extremes() {
    for (xv, wv, zp) in [(-128i8, -128i8, 127), (127, -128, -128), (127, 127, -128), (-128, 127, 127), (-128, -128, -128)] {
        for s in 1..=2 {
            for k in [3, 5] {
                let shape = Depthwise { channels: 2, height: 11, width: 37, kernel: k, stride: s, pad: [1, 2, 0, 1] };
                let (oh, ow) = shape.output_hw().unwrap();
                let x = vec![xv; 2 * 11 * 37];
                let wt = vec![wv; 2 * k * k];
                let ep = Epilogue { bias: &[i32::MAX - 5, i32::MIN + 5], scale: &[1.0, 1.0], activation: Activation::Identity };
                let mut want = vec![0f32; 2 * oh * ow];
                Kernels::scalar().depthwise_conv_i8(&shape, &x, zp, &wt, &ep, Output::F32(&mut want)).unwrap();
                for kt in Kernels::available() {
                    let mut got = vec![0f32; 2 * oh * ow];
                    kt.depthwise_conv_i8(&shape, &x, zp, &wt, &ep, Output::F32(&mut got)).unwrap();
                    assert_eq!(bits(&got), bits(&want), "dw k{k} s{s} {xv} {wv} {zp} {:?}", kt.names());
                }
            }
        }
        let shape = Pointwise { inputs: 45, outputs: 6, pixels: 130 };
        let x = vec![xv; 45 * 130];
        let wt = vec![wv; 6 * 45];
        let bias = [i32::MAX - 5, i32::MIN + 5, 0, 1, -1, 7];
        let ep = Epilogue { bias: &bias, scale: &[1.0; 6], activation: Activation::Identity };
        let mut want = vec![0f32; 6 * 130];
        Kernels::scalar().pointwise_conv_i8(&shape, &x, zp, &wt, &ep, Output::F32(&mut want)).unwrap();
        let (_, f) = direct(&x, (45, 1, 130), zp, &wt, 6, 1, 1, [0; 4], false, &bias, &[1.0; 6], Activation::Identity, None);
        assert_eq!(bits(&want), bits(&f), "pw scalar vs definition");
        for kt in Kernels::available() {
            let mut got = vec![0f32; 6 * 130];
            kt.pointwise_conv_i8(&shape, &x, zp, &wt, &ep, Output::F32(&mut got)).unwrap();
            assert_eq!(bits(&got), bits(&want), "pw {xv} {wv} {zp} {:?}", kt.names());
        }
    }
}

/// Pixel counts over one block (64) with many channels: the block loop and long sums.
#[test]
fn pointwise_large_blocks() {
    let shape = Pointwise { inputs: 67, outputs: 9, pixels: 200 };
    let x = data(67 * 200, 3);
    let wt = data(9 * 67, 4);
    let bias = vec![100i32; 9];
    let scale = vec![1e-5f32; 9];
    let ep = Epilogue { bias: &bias, scale: &scale, activation: Activation::Identity };
    let mut want = vec![0i8; 9 * 200];
    Kernels::scalar().pointwise_conv_i8(&shape, &x, -3, &wt, &ep, Output::I8 { data: &mut want, scale: 0.01, zero_point: 5 }).unwrap();
    let (wq, _) = direct(&x, (67, 1, 200), -3, &wt, 9, 1, 1, [0; 4], false, &bias, &scale, Activation::Identity, Some((0.01, 5)));
    assert_eq!(want, wq);
    for kt in Kernels::available() {
        let mut got = vec![0i8; 9 * 200];
        kt.pointwise_conv_i8(&shape, &x, -3, &wt, &ep, Output::I8 { data: &mut got, scale: 0.01, zero_point: 5 }).unwrap();
        assert_eq!(got, want, "{:?}", kt.names());
    }
}

#[test]
fn bad_arguments_are_errors() {
    let k = Kernels::scalar();
    let ep = Epilogue { bias: &[0; 2], scale: &[1.0; 2], activation: Activation::Identity };
    let mut y = vec![0i8; 2 * 4 * 4];
    let shape = Depthwise { channels: 2, height: 4, width: 4, kernel: 3, stride: 1, pad: [1; 4] };
    let e = k.depthwise_conv_i8(&shape, &[0; 31], 0, &[0; 18], &ep, Output::I8 { data: &mut y, scale: 1.0, zero_point: 0 });
    assert!(e.unwrap_err().to_string().contains("`x`"));
    let seven = Depthwise { kernel: 7, ..shape };
    assert!(k.depthwise_conv_i8(&seven, &[0; 32], 0, &[0; 98], &ep, Output::I8 { data: &mut y, scale: 1.0, zero_point: 0 }).is_err());
    let bad_scale = Epilogue { scale: &[1.0, 0.0], ..ep };
    assert!(k.depthwise_conv_i8(&shape, &[0; 32], 0, &[0; 18], &bad_scale, Output::I8 { data: &mut y, scale: 1.0, zero_point: 0 }).is_err());
    let pw = Pointwise { inputs: 3, outputs: 2, pixels: 16 };
    assert!(k.pointwise_conv_i8(&pw, &[0; 48], 0, &[0; 6], &ep, Output::F32(&mut [0.0; 31])).is_err());
}

/// The SIMD tables this CPU should get are in `Kernels::available()`, so the comparisons above
/// really ran them (under QEMU: `-cpu cortex-a15` gives the armv7 NEON table, `-cpu cortex-a53`
/// the aarch64 NEON one only, `-cpu max` also the SDOT depthwise and pointwise kernels).
#[test]
fn expected_qconv_tables_are_available() {
    let tables: Vec<Vec<(&str, &str)>> = Kernels::available()
        .iter()
        .map(|k| k.names().into_iter().filter(|e| e.0.starts_with("qconv")).collect())
        .collect();
    eprintln!("qconv tables: {tables:?}");
    let has = |kernel: &str, imp: &str| tables.iter().any(|t| t.contains(&(kernel, imp)));
    #[cfg(target_arch = "arm")]
    {
        // HWCAP_NEON (bit 12 of AT_HWCAP) from the auxiliary vector, as the library reads it.
        let neon = oar_kernels::auxv::get(oar_kernels::auxv::AT_HWCAP).is_some_and(|v| v & (1 << 12) != 0);
        for kernel in ["qconv_dw", "qconv_pw", "qconv_epilogue"] {
            assert_eq!(has(kernel, "neon-armv7"), neon, "{kernel}: NEON detected = {neon}");
        }
        if neon {
            assert_eq!(Kernels::detected().label(), "neon-armv7");
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        assert!(has("qconv_dw", "neon") && has("qconv_pw", "neon") && has("qconv_epilogue", "neon"));
        let dot = std::arch::is_aarch64_feature_detected!("dotprod");
        assert_eq!(has("qconv_pw", "neon-sdot"), dot, "dotprod detected = {dot}");
        assert_eq!(has("qconv_dw", "neon-sdot"), dot, "dotprod detected = {dot}");
    }
    let _ = has;
}

/// Epilogue constants at the edges of float arithmetic — subnormal scales and clip bounds, a −0
/// bound, products that overflow to ±inf — where a SIMD unit that flushes subnormals (armv7 NEON)
/// or orders ±0 differently could differ: every table bit-exact with the scalar one.
#[test]
fn epilogue_float_edges() {
    let p = 256;
    let x: Vec<i8> = (0..p).map(|i| (i as i32 - 128) as i8).collect();
    let shape = Pointwise { inputs: 1, outputs: 4, pixels: p };
    let wt = [1i8, -1, 127, -128];
    let bias = [0, 1, -5, 3];
    let acts = [
        Activation::Identity,
        Activation::Relu,
        Activation::HardSwish,
        Activation::Clip { min: 1e-40, max: 2e-40 },
        Activation::Clip { min: -1e-40, max: 0.0 },
        // A −0 bound: `f32::max(+0, −0)` may return either zero, so this is only held on the
        // targets where every table agrees (the x86-64 AVX2 f32 epilogue differs from scalar here).
        #[cfg(not(target_arch = "x86_64"))]
        Activation::Clip { min: -0.0, max: 6.0 },
        #[cfg(not(target_arch = "x86_64"))]
        Activation::Clip { min: -3.0, max: -0.0 },
    ];
    for scale in [[1e-39f32, 1.0, 1e36, 3e-3], [1e-45, 1e-38, 2e-38, 3e38], [0.5, 0.25, 1e-3, 1e-30]] {
        for act in acts {
            let ep = Epilogue { bias: &bias, scale: &scale, activation: act };
            let mut want = vec![0f32; 4 * p];
            Kernels::scalar().pointwise_conv_i8(&shape, &x, 0, &wt, &ep, Output::F32(&mut want)).unwrap();
            let mut want_q = vec![0i8; 4 * p];
            Kernels::scalar().pointwise_conv_i8(&shape, &x, 0, &wt, &ep, Output::I8 { data: &mut want_q, scale: 0.05, zero_point: 3 }).unwrap();
            for kt in Kernels::available() {
                let mut got = vec![0f32; 4 * p];
                kt.pointwise_conv_i8(&shape, &x, 0, &wt, &ep, Output::F32(&mut got)).unwrap();
                assert_eq!(bits(&got), bits(&want), "f32 {act:?} {scale:?} {:?}", kt.names());
                let mut got_q = vec![0i8; 4 * p];
                kt.pointwise_conv_i8(&shape, &x, 0, &wt, &ep, Output::I8 { data: &mut got_q, scale: 0.05, zero_point: 3 }).unwrap();
                assert_eq!(got_q, want_q, "i8 {act:?} {scale:?} {:?}", kt.names());
            }
        }
    }
}
