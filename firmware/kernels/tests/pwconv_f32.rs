//! Float pointwise convolution: the scalar table against a direct implementation of the definition
//! (same summation order: equal values), and every other table (FMA) against the scalar one within
//! the rounding bound of `oar_kernels::pwconv_f32`'s module doc, over random channel counts and
//! pixel counts (micro-kernel tails in both), activations and column splits (threads).
use oar_kernels::{FloatActivation, KernelError, Kernels, PwOut};
use proptest::prelude::*;

mod float_common;
use float_common::{act, activation, data};

/// `(act(bias + Σ w·x), |bias| + Σ |w·x|)` per output, inputs in order.
fn direct(x: &[f32], w: &[f32], bias: &[f32], ci: usize, co: usize, px: usize, a: FloatActivation) -> (Vec<f32>, Vec<f32>) {
    let (mut y, mut mag) = (vec![], vec![]);
    for o in 0..co {
        for p in 0..px {
            let (mut acc, mut m) = (bias[o], bias[o].abs());
            for i in 0..ci {
                let v = w[o * ci + i] * x[i * px + p];
                acc += v;
                m += v.abs();
            }
            y.push(act(a, acc));
            mag.push(m);
        }
    }
    (y, mag)
}

/// Runs `kt` with the output cut at `splits` (column offsets, as threads do).
fn run(kt: &Kernels, x: &[f32], w: &[f32], b: &[f32], ci: usize, co: usize, px: usize, a: FloatActivation, splits: &[usize]) -> Vec<f32> {
    let packed = kt.pack_pointwise_f32(w, b, co, ci).unwrap();
    let mut y = vec![f32::NAN; co * px];
    let mut rest = PwOut::new(&mut y, co, px).unwrap();
    let mut parts = vec![];
    let mut at = 0;
    for &s in splits {
        let s = s.min(px);
        if s <= at {
            continue;
        }
        let (head, tail) = rest.split_at(s - at);
        parts.push(head);
        rest = tail;
        at = s;
    }
    parts.push(rest);
    for part in parts {
        kt.pointwise_conv_f32(&packed, x, px, a, part).unwrap();
    }
    y
}

fn dims() -> impl Strategy<Value = (usize, usize, usize)> {
    (1usize..70, 1usize..30, 1usize..90)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn scalar_is_the_definition((ci, co, px) in dims(), a in activation(), seed in any::<u64>()) {
        let x = data(ci * px, seed);
        let w = data(co * ci, seed ^ 1);
        let b = data(co, seed ^ 2);
        let (want, _) = direct(&x, &w, &b, ci, co, px, a);
        prop_assert_eq!(run(&Kernels::scalar(), &x, &w, &b, ci, co, px, a, &[]), want);
    }

    #[test]
    fn every_table_is_within_the_fma_bound_of_scalar((ci, co, px) in dims(), a in activation(), seed in any::<u64>(), splits in proptest::collection::vec(0usize..90, 0..3)) {
        let x = data(ci * px, seed);
        let w = data(co * ci, seed ^ 1);
        let b = data(co, seed ^ 2);
        let want = run(&Kernels::scalar(), &x, &w, &b, ci, co, px, a, &[]);
        let (_, mag) = direct(&x, &w, &b, ci, co, px, a);
        let mut splits = splits;
        splits.sort();
        for kt in Kernels::available() {
            let got = run(&kt, &x, &w, &b, ci, co, px, a, &splits);
            for (i, ((g, r), m)) in got.iter().zip(&want).zip(&mag).enumerate() {
                // ≤ 2⁻²³·(ci + 1) relative to the magnitude sum; the activations are at most
                // 1.5-Lipschitz on the values that reach them.
                let bound = 1.5 * (ci + 1) as f32 * 1.2e-7 * m;
                prop_assert!((g - r).abs() <= bound, "{ci}->{co} x {px} output {i}: {g} vs {r} (bound {bound}) {:?}", kt.names());
            }
        }
    }
}

/// Large enough for several pixel tiles (`16384 / inputs` columns each) and every tail.
#[test]
fn several_tiles() {
    let (ci, co, px) = (300, 13, 16 * 7 + 5);
    let (x, w, b) = (data(ci * px, 7), data(co * ci, 8), data(co, 9));
    let want = run(&Kernels::scalar(), &x, &w, &b, ci, co, px, FloatActivation::HARD_SWISH, &[]);
    let (_, mag) = direct(&x, &w, &b, ci, co, px, FloatActivation::HARD_SWISH);
    for kt in Kernels::available() {
        let got = run(&kt, &x, &w, &b, ci, co, px, FloatActivation::HARD_SWISH, &[37]);
        for ((g, r), m) in got.iter().zip(&want).zip(&mag) {
            assert!((g - r).abs() <= 1.5 * 301.0 * 1.2e-7 * m, "{g} vs {r} {:?}", kt.names());
        }
    }
}

#[test]
fn bad_arguments_are_errors() {
    let kt = Kernels::global();
    let (ci, co, px) = (3, 5, 7);
    let p = kt.pack_pointwise_f32(&[0.0; 15], &[0.0; 5], co, ci).unwrap();
    let x = vec![0.0; ci * px];
    let mut y = vec![0.0; co * px];
    assert!(kt.pointwise_conv_f32(&p, &x, px, FloatActivation::Relu, PwOut::new(&mut y, co, px).unwrap()).is_ok());
    let e = kt.pointwise_conv_f32(&p, &x[1..], px, FloatActivation::Relu, PwOut::new(&mut y, co, px).unwrap()).unwrap_err();
    assert_eq!(e, KernelError::BufferSize { buffer: "x", expected: 21, actual: 20 });
    assert!(PwOut::new(&mut y[1..], co, px).is_err());
    assert!(kt.pointwise_conv_f32(&p, &x, px, FloatActivation::Relu, PwOut::new(&mut y[7..], co - 1, px).unwrap()).is_err());
    let bad_clip = FloatActivation::Clip { min: 1.0, max: 0.0 };
    assert!(kt.pointwise_conv_f32(&p, &x, px, bad_clip, PwOut::new(&mut y, co, px).unwrap()).is_err());
    assert!(kt.pack_pointwise_f32(&[0.0; 14], &[0.0; 5], co, ci).is_err());
    assert!(kt.pack_pointwise_f32(&[0.0; 15], &[0.0; 4], co, ci).is_err());
    // Weights packed for one table are refused by a table of another panel height.
    for other in Kernels::available() {
        if other.pointwise_f32_rows() != kt.pointwise_f32_rows() {
            assert!(other.pointwise_conv_f32(&p, &x, px, FloatActivation::Relu, PwOut::new(&mut y, co, px).unwrap()).is_err());
        }
    }
}

#[test]
fn the_table_names_its_float_pointwise_kernel() {
    float_common::assert_detected_kernel("pwconv_f32");
}

/// `pointwise_conv_f32_cols` (an input tile holding only the output's columns, with its own row
/// stride) gives the values of the whole-image call, on every table.
#[test]
fn tiles_with_their_own_stride() {
    let (ci, co, px) = (27, 11, 61);
    let (x, w, b) = (data(ci * px, 1), data(co * ci, 2), data(co, 3));
    for kt in Kernels::available() {
        let want = run(&kt, &x, &w, &b, ci, co, px, FloatActivation::Relu, &[]);
        let packed = kt.pack_pointwise_f32(&w, &b, co, ci).unwrap();
        let mut y = vec![f32::NAN; co * px];
        let (head, tail) = PwOut::new(&mut y, co, px).unwrap().split_at(21);
        for part in [head, tail] {
            let cols = part.columns();
            let stride = cols.len() + 3;
            let mut tile = vec![f32::NAN; (ci - 1) * stride + cols.len()];
            for i in 0..ci {
                tile[i * stride..i * stride + cols.len()].copy_from_slice(&x[i * px + cols.start..i * px + cols.end]);
            }
            // A tile one value short, or a stride shorter than the columns, is refused.
            let mut scratch = vec![0.0; co * cols.len()];
            let short = &tile[..tile.len() - 1];
            assert!(kt.pointwise_conv_f32_cols(&packed, short, stride, FloatActivation::Relu, PwOut::new(&mut scratch, co, cols.len()).unwrap()).is_err());
            assert!(kt.pointwise_conv_f32_cols(&packed, &tile, cols.len() - 1, FloatActivation::Relu, PwOut::new(&mut scratch, co, cols.len()).unwrap()).is_err());
            kt.pointwise_conv_f32_cols(&packed, &tile, stride, FloatActivation::Relu, part).unwrap();
        }
        assert_eq!(y, want, "{:?}", kt.names());
    }
}
