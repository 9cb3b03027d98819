//! What the float kernel tests share: seeded data, the activations they draw from, and the
//! activation's definition. Each test crate uses only part of it.
#![allow(dead_code)]
use oar_kernels::{FloatActivation, Kernels};
use proptest::prelude::*;

/// Seeded values in [-2, 2).
pub fn data(n: usize, seed: u64) -> Vec<f32> {
    (0..n).map(|i| (((i as u64 ^ seed).wrapping_mul(0x9E3779B97F4A7C15) >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0).collect()
}

/// The activations a float layer can fuse, with non-default parameters too.
pub fn activation() -> impl Strategy<Value = FloatActivation> {
    prop_oneof![
        Just(FloatActivation::Identity),
        Just(FloatActivation::Relu),
        Just(FloatActivation::Clip { min: 0.0, max: 6.0 }),
        Just(FloatActivation::Clip { min: -0.5, max: 0.75 }),
        Just(FloatActivation::HARD_SWISH),
        Just(FloatActivation::HardSwish { alpha: 0.2, beta: 0.5 }),
    ]
}

/// The activation by its definition.
pub fn act(a: FloatActivation, v: f32) -> f32 {
    match a {
        FloatActivation::Identity => v,
        FloatActivation::Relu => v.max(0.0),
        FloatActivation::Clip { min, max } => v.max(min).min(max),
        FloatActivation::HardSwish { alpha, beta } => v * (v * alpha + beta).min(1.0).max(0.0),
    }
}

/// The detected table names its kernel for `entry`: NEON on aarch64, AVX2 on x86-64 with AVX2+FMA.
pub fn assert_detected_kernel(entry: &str) {
    let names = Kernels::detected().names();
    let imp = names.iter().find(|e| e.0 == entry).map(|e| e.1);
    assert!(imp.is_some(), "{names:?}");
    #[cfg(target_arch = "aarch64")]
    assert_eq!(imp, Some("neon"));
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        assert_eq!(imp, Some("avx2"));
    }
}
