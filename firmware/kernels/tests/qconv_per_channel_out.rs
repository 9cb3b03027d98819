//! int8 output with one scale per channel (`Output::I8PerChannel`): channel `c` must be exactly
//! what a call writing only that channel with `Output::I8 { scale: scales[c] }` writes, for every
//! table, both kernel families and every activation.
use oar_kernels::{Activation, Depthwise, Epilogue, Kernels, Output, Pointwise};

fn data(n: usize, seed: u64) -> Vec<i8> {
    (0..n).map(|i| ((i as u64 ^ seed).wrapping_mul(0x9E3779B97F4A7C15) >> 40) as i8).collect()
}

const ACTIVATIONS: [Activation; 4] =
    [Activation::Identity, Activation::Relu, Activation::Clip { min: 0.0, max: 6.0 }, Activation::HardSwish];

#[test]
fn per_channel_output_scales_equal_one_call_per_channel() {
    let (c, h, w, o) = (6, 9, 11, 5);
    let x = data(c * h * w, 3);
    let bias: Vec<i32> = (0..c as i32).map(|i| 40 * i - 100).collect();
    let scale: Vec<f32> = (0..c).map(|i| 0.002 * (1.0 + i as f32)).collect();
    // Channel scales 60× apart, as PicoDet's narrow and wide channels.
    let ys: Vec<f32> = (0..c).map(|i| 0.3 / (1.0 + 12.0 * i as f32)).collect();
    for k in Kernels::available() {
        for act in ACTIVATIONS {
            // Depthwise 3×3, stride 2, asymmetric padding.
            let dw = Depthwise { channels: c, height: h, width: w, kernel: 3, stride: 2, pad: [1, 0, 1, 1] };
            let (oh, ow) = dw.output_hw().unwrap();
            let wt = data(c * 9, 5);
            let ep = Epilogue { bias: &bias, scale: &scale, activation: act };
            let mut got = vec![0i8; c * oh * ow];
            k.depthwise_conv_i8(&dw, &x, -3, &wt, &ep, Output::I8PerChannel { data: &mut got, scales: &ys, zero_point: 2 }).unwrap();
            for ch in 0..c {
                let one = Depthwise { channels: 1, ..dw };
                let ep1 = Epilogue { bias: &bias[ch..=ch], scale: &scale[ch..=ch], activation: act };
                let mut want = vec![0i8; oh * ow];
                let xs = &x[ch * h * w..(ch + 1) * h * w];
                k.depthwise_conv_i8(&one, xs, -3, &wt[ch * 9..(ch + 1) * 9], &ep1, Output::I8 { data: &mut want, scale: ys[ch], zero_point: 2 }).unwrap();
                assert_eq!(&got[ch * oh * ow..(ch + 1) * oh * ow], &want[..], "{:?} dw {act:?} channel {ch}", k.names());
            }
            // Pointwise c → o.
            let pw = Pointwise { inputs: c, outputs: o, pixels: h * w };
            let wt = data(o * c, 7);
            let ep = Epilogue { bias: &bias[..o], scale: &scale[..o], activation: act };
            let mut got = vec![0i8; o * h * w];
            k.pointwise_conv_i8(&pw, &x, 1, &wt, &ep, Output::I8PerChannel { data: &mut got, scales: &ys[..o], zero_point: -4 }).unwrap();
            for oc in 0..o {
                let one = Pointwise { outputs: 1, ..pw };
                let ep1 = Epilogue { bias: &bias[oc..=oc], scale: &scale[oc..=oc], activation: act };
                let mut want = vec![0i8; h * w];
                k.pointwise_conv_i8(&one, &x, 1, &wt[oc * c..(oc + 1) * c], &ep1, Output::I8 { data: &mut want, scale: ys[oc], zero_point: -4 }).unwrap();
                assert_eq!(&got[oc * h * w..(oc + 1) * h * w], &want[..], "{:?} pw {act:?} channel {oc}", k.names());
            }
        }
    }
}

#[test]
fn per_channel_output_scales_are_checked() {
    let dw = Depthwise { channels: 2, height: 4, width: 4, kernel: 3, stride: 1, pad: [1; 4] };
    let ep = Epilogue { bias: &[0; 2], scale: &[1.0; 2], activation: Activation::Identity };
    let mut y = [0i8; 32];
    let k = Kernels::scalar();
    let short = k.depthwise_conv_i8(&dw, &[0; 32], 0, &[0; 18], &ep, Output::I8PerChannel { data: &mut y, scales: &[1.0], zero_point: 0 });
    assert!(short.is_err(), "one scale for two channels");
    let zero = k.depthwise_conv_i8(&dw, &[0; 32], 0, &[0; 18], &ep, Output::I8PerChannel { data: &mut y, scales: &[1.0, 0.0], zero_point: 0 });
    assert!(zero.is_err(), "a zero scale");
}
