//! Every table this CPU can run against the scalar reference (bit-exact), plus the fused pass
//! against the naive chain. Under QEMU, lower the case count with `PROPTEST_CASES`.
use oar_kernels::{ColorOrder, KernelError, Kernels, Norm, PixelFormat, TensorSpec};
use proptest::prelude::*;

fn tables() -> Vec<Kernels> {
    Kernels::available().into_iter().skip(1).collect()
}

fn bytes(n: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), n)
}

/// Sizes that stress tails and edges: small and odd, or a bit over a few vector widths.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..=9, Just(17usize), 10usize..=70]
}

fn same_f32(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()) && a.len() == b.len()
}

proptest! {
    #[test]
    fn resize(cn in 1usize..=4, sw in dim(), sh in dim(), dw in dim(), dh in dim(), seed in any::<u64>(), half in any::<bool>()) {
        // Also hit OpenCV's exact-2x and same-size paths.
        let (dw, dh) = if half { (sw.div_ceil(2).max(1), sh.div_ceil(2).max(1)) } else { (dw, dh) };
        let (sw, sh) = if half { (dw * 2, dh * 2) } else { (sw, sh) };
        let src: Vec<u8> = (0..sw * sh * cn).map(|i| (i as u64 ^ seed).wrapping_mul(0x9E3779B97F4A7C15).rotate_left(17) as u8).collect();
        let mut want = vec![0; dw * dh * cn];
        Kernels::scalar().resize_bilinear_u8(&src, sw, sh, cn, &mut want, dw, dh).unwrap();
        for k in tables() {
            let mut got = vec![0; dw * dh * cn];
            k.resize_bilinear_u8(&src, sw, sh, cn, &mut got, dw, dh).unwrap();
            prop_assert_eq!(&got, &want, "{}", k.label());
        }
    }

    #[test]
    fn yuyv(w2 in 1usize..=40, h in 1usize..=5, src in bytes(2 * 2 * 40 * 5)) {
        let w = 2 * w2;
        let src = &src[..2 * w * h];
        let mut want = vec![0; 3 * w * h];
        Kernels::scalar().yuyv_to_rgb(src, w, h, &mut want).unwrap();
        for k in tables() {
            let mut got = vec![0; 3 * w * h];
            k.yuyv_to_rgb(src, w, h, &mut got).unwrap();
            prop_assert_eq!(&got, &want, "{}", k.label());
        }
    }

    #[test]
    fn nv12(w2 in 1usize..=40, h2 in 1usize..=4, src in bytes(80 * 8 * 3 / 2)) {
        let (w, h) = (2 * w2, 2 * h2);
        let src = &src[..w * h * 3 / 2];
        let mut want = vec![0; 3 * w * h];
        Kernels::scalar().nv12_to_rgb(src, w, h, &mut want).unwrap();
        for k in tables() {
            let mut got = vec![0; 3 * w * h];
            k.nv12_to_rgb(src, w, h, &mut got).unwrap();
            prop_assert_eq!(&got, &want, "{}", k.label());
        }
    }

    #[test]
    fn normalize(w in dim(), h in 1usize..=4, src in bytes(70 * 4 * 3), swap in any::<bool>(),
                 scale in 0.001f32..2.0, mean in prop::array::uniform3(-200f32..200.0), std in prop::array::uniform3(0.01f32..100.0)) {
        let src = &src[..3 * w * h];
        let n = Norm { scale, mean, std, swap_rb: swap };
        let mut want = vec![0.0; 3 * w * h];
        Kernels::scalar().normalize_hwc_to_chw(src, w, h, &n, &mut want).unwrap();
        for k in tables() {
            let mut got = vec![0.0; 3 * w * h];
            k.normalize_hwc_to_chw(src, w, h, &n, &mut got).unwrap();
            prop_assert!(same_f32(&got, &want), "{}: {:?} vs {:?}", k.label(), got, want);
        }
    }

    #[test]
    fn quantize(xs in prop::collection::vec(prop_oneof![-300f32..300.0, Just(0.5f32), Just(-0.5), Just(2.5), Just(-1.5), Just(f32::NAN), Just(f32::INFINITY), Just(-f32::INFINITY), any::<f32>()], 0..70),
                scale in prop_oneof![0.001f32..4.0, Just(1.0f32), Just(0.5)], zp in -128i32..=127) {
        let mut want = vec![0i8; xs.len()];
        Kernels::scalar().quantize_f32(&xs, scale, zp, &mut want).unwrap();
        let us: Vec<u8> = xs.iter().map(|x| (x.abs() as u32 % 256) as u8).collect();
        let mut want_u = vec![0i8; xs.len()];
        Kernels::scalar().quantize_u8(&us, scale, zp, &mut want_u).unwrap();
        for k in tables() {
            let mut got = vec![0i8; xs.len()];
            k.quantize_f32(&xs, scale, zp, &mut got).unwrap();
            prop_assert_eq!(&got, &want, "{} f32", k.label());
            k.quantize_u8(&us, scale, zp, &mut got).unwrap();
            prop_assert_eq!(&got, &want_u, "{} u8", k.label());
        }
    }

    /// The fused pass equals convert -> resize -> normalise, on every table.
    #[test]
    fn fused_equals_chain(fmt in 0usize..4, w2 in 1usize..=24, h2 in 1usize..=12, dw in dim(), dh in dim(),
                          bgr in any::<bool>(), seed in any::<u64>()) {
        let format = [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::Rgb, PixelFormat::Bgr][fmt];
        let (w, h) = (2 * w2, 2 * h2);
        let len = format.frame_len(w, h).unwrap();
        let src: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed).wrapping_mul(0x9E3779B97F4A7C15).rotate_left(29) as u8).collect();
        let spec = TensorSpec { width: dw, height: dh, order: if bgr { ColorOrder::Bgr } else { ColorOrder::Rgb },
            scale: 1.0 / 255.0, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
        for k in Kernels::available() {
            let mut rgb = vec![0u8; 3 * w * h];
            match format {
                PixelFormat::Yuyv => k.yuyv_to_rgb(&src, w, h, &mut rgb).unwrap(),
                PixelFormat::Nv12 => k.nv12_to_rgb(&src, w, h, &mut rgb).unwrap(),
                _ => rgb.copy_from_slice(&src),
            }
            let mut small = vec![0u8; 3 * dw * dh];
            k.resize_bilinear_u8(&rgb, w, h, 3, &mut small, dw, dh).unwrap();
            let src_bgr = format == PixelFormat::Bgr;
            let n = Norm { scale: spec.scale, mean: spec.mean, std: spec.std, swap_rb: src_bgr != bgr };
            let mut want = vec![0.0; 3 * dw * dh];
            k.normalize_hwc_to_chw(&small, dw, dh, &n, &mut want).unwrap();
            let mut got = vec![0.0; 3 * dw * dh];
            k.frame_to_tensor(&src, format, w, h, &spec, &mut got).unwrap();
            prop_assert!(same_f32(&got, &want), "{} {:?}", k.label(), format);
        }
    }
}

#[test]
fn yuv_reference_values() {
    // Limited range: Y=16 is black, Y=235 white; U/V=128 is grey.
    let px = |y, u, v| oar_kernels::scalar::yuv_to_rgb(y, u, v);
    assert_eq!(px(16, 128, 128), [0, 0, 0]);
    assert_eq!(px(235, 128, 128), [255, 255, 255]);
    assert_eq!(px(126, 128, 128), [128, 128, 128]);
    // BT.601 red (R'G'B' 255,0,0 -> Y 81, U 90, V 240).
    assert_eq!(px(81, 90, 240), [255, 0, 0]);
    assert_eq!(px(145, 54, 34), [0, 255, 1]); // 8-bit YUV rounding leaves B at 1
    assert_eq!(px(41, 240, 110), [0, 0, 255]);
}

#[test]
fn errors_not_panics() {
    let k = Kernels::global();
    let mut dst = vec![0u8; 10];
    let e = k.resize_bilinear_u8(&[0; 11], 4, 3, 1, &mut dst, 5, 2).unwrap_err();
    assert_eq!(e, KernelError::BufferSize { buffer: "src", expected: 12, actual: 11 });
    assert!(e.to_string().contains("`src`"));
    let e = k.resize_bilinear_u8(&[0; 12], 4, 3, 1, &mut dst, 5, 3).unwrap_err();
    assert_eq!(e, KernelError::BufferSize { buffer: "dst", expected: 15, actual: 10 });
    assert!(matches!(k.resize_bilinear_u8(&[0; 12], 4, 3, 5, &mut dst, 5, 2), Err(KernelError::BadParam { .. })));
    assert!(matches!(k.resize_bilinear_u8(&[], 0, 3, 1, &mut dst, 5, 2), Err(KernelError::BadParam { .. })));
    assert!(matches!(k.resize_bilinear_u8(&[0; 12], usize::MAX, 3, 1, &mut dst, 5, 2), Err(KernelError::BadParam { .. })));
    assert!(k.yuyv_to_rgb(&[0; 6], 3, 1, &mut [0; 9]).is_err()); // odd width
    let mut f = vec![0.0f32; 5];
    assert!(oar_kernels::normalize_hwc_to_chw(&[0; 6], 2, 1, 1.0, [0.0; 3], [1.0; 3], false, &mut f).is_err());
    assert!(oar_kernels::quantize_f32(&[1.0], 0.0, 0, &mut [0]).is_err());
    assert!(oar_kernels::quantize_f32(&[1.0], 1.0, 200, &mut [0]).is_err());
}

#[test]
fn quantize_rounds_half_away_from_zero() {
    let mut q = [0i8; 8];
    oar_kernels::quantize_f32(&[0.5, -0.5, 1.5, -2.5, 1000.0, -1000.0, f32::NAN, 0.49999997], 1.0, 3, &mut q).unwrap();
    assert_eq!(q, [4, 2, 5, 0, 127, -128, 3, 3]);
}

#[test]
fn selected_lists_every_kernel() {
    let s = oar_kernels::selected();
    assert_eq!(s.len(), 13);
    assert!(s.iter().any(|e| e.0 == "pwconv_f32"), "{s:?}");
    eprintln!("selected: {s:?}; available: {:?}", Kernels::available().iter().map(|k| k.label()).collect::<Vec<_>>());
}
