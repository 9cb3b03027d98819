//! Per-tensor activation histograms and the threshold methods that read them.
//!
//! A [`Histogram`] holds the distribution of |x| in [`BINS`] bins over `[0, absmax]`; when a later
//! batch has a larger absmax the bins are re-binned onto the wider range (as TensorRT's entropy
//! calibrator does), so calibration is one pass over the data.

/// Number of histogram bins (TensorRT uses 2048).
pub const BINS: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Counts of |x| per bin of width `absmax / BINS`.
    pub bins: Vec<f64>,
    /// Largest |x| seen.
    pub absmax: f32,
    /// Smallest and largest signed values seen.
    pub min: f32,
    pub max: f32,
    /// Values seen (NaNs are skipped).
    pub count: u64,
    /// Largest |x| per channel (axis 1 of an N×C×… tensor; empty when not recorded): depthwise
    /// convs read each channel alone, so their input can be quantized per channel.
    pub channel_absmax: Vec<f32>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { bins: vec![0.0; BINS], absmax: 0.0, min: f32::INFINITY, max: f32::NEG_INFINITY, count: 0, channel_absmax: vec![] }
    }
}

impl Histogram {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bin width.
    pub fn width(&self) -> f32 {
        self.absmax / BINS as f32
    }

    /// Adds values, re-binning the existing counts first if they widen the range.
    pub fn add(&mut self, values: &[f32]) {
        let mut m = 0f32;
        for &v in values {
            if v.is_nan() {
                continue;
            }
            m = m.max(v.abs());
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        if m > self.absmax {
            self.rebin(m);
        }
        let w = self.width();
        for &v in values {
            if v.is_nan() {
                continue;
            }
            let ix = if w > 0.0 { ((v.abs() / w) as usize).min(BINS - 1) } else { 0 };
            self.bins[ix] += 1.0;
            self.count += 1;
        }
    }

    /// [`Histogram::add`], also recording the largest |x| of each channel of `values`, laid out
    /// as `[n][channels][inner]` (NCHW). Calls with different channel counts drop the record.
    pub fn add_nchw(&mut self, values: &[f32], channels: usize) {
        let first = self.count == 0 && self.channel_absmax.is_empty();
        self.add(values);
        if channels == 0 || values.len() % channels != 0 || values.is_empty() {
            self.channel_absmax.clear();
            return;
        }
        if first {
            self.channel_absmax = vec![0.0; channels];
        } else if self.channel_absmax.len() != channels {
            self.channel_absmax.clear();
            return;
        }
        let inner = values.len() / channels;
        for (i, plane) in values.chunks(inner).enumerate() {
            let m = plane.iter().filter(|v| !v.is_nan()).fold(0f32, |m, v| m.max(v.abs()));
            let c = &mut self.channel_absmax[i % channels];
            *c = c.max(m);
        }
    }

    /// Moves the counts onto `[0, absmax]` (wider than the current range): each old bin goes to
    /// the new bin holding its centre.
    fn rebin(&mut self, absmax: f32) {
        let old_w = self.width();
        let mut bins = vec![0.0; BINS];
        if old_w > 0.0 {
            let new_w = absmax / BINS as f32;
            for (i, &c) in self.bins.iter().enumerate() {
                if c > 0.0 {
                    let centre = (i as f32 + 0.5) * old_w;
                    bins[((centre / new_w) as usize).min(BINS - 1)] += c;
                }
            }
        } else {
            // Everything seen so far was exactly 0.
            bins[0] = self.bins.iter().sum();
        }
        self.bins = bins;
        self.absmax = absmax;
    }
}

/// `minmax`: the largest |x| seen.
pub fn threshold_minmax(h: &Histogram) -> f32 {
    h.absmax
}

/// `percentile`: the `p`-th percentile (0–100) of |x|, interpolated within a bin.
pub fn threshold_percentile(h: &Histogram, p: f64) -> f32 {
    let total: f64 = h.bins.iter().sum();
    if total == 0.0 || h.absmax == 0.0 {
        return h.absmax;
    }
    let target = (p / 100.0).clamp(0.0, 1.0) * total;
    let mut cum = 0.0;
    for (i, &c) in h.bins.iter().enumerate() {
        if c > 0.0 && cum + c >= target {
            let frac = ((target - cum) / c).clamp(0.0, 1.0);
            return ((i as f64 + frac) * h.width() as f64) as f32;
        }
        cum += c;
    }
    h.absmax
}

/// `kl`: TensorRT's entropy calibration. For every candidate number of bins `i` in
/// `levels..=BINS`: P = the first `i` bins with the outliers folded into the last one; Q = those
/// bins merged into `levels` groups, each group's mass spread back evenly over the group's non-empty
/// bins. The threshold is the edge of the `i` minimising KL(P‖Q). `levels` is 128 for int8.
pub fn threshold_kl(h: &Histogram, levels: usize) -> f32 {
    let n = h.bins.len();
    let total: f64 = h.bins.iter().sum();
    if total == 0.0 || h.absmax == 0.0 || n <= levels {
        return h.absmax;
    }
    let mut best = (f64::INFINITY, n);
    let mut suffix = vec![0.0; n + 1];
    for i in (0..n).rev() {
        suffix[i] = suffix[i + 1] + h.bins[i];
    }
    let mut p = vec![0.0; n];
    let mut q = vec![0.0; n];
    for i in levels..=n {
        let bins = &h.bins[..i];
        p[..i].copy_from_slice(bins);
        p[i - 1] += suffix[i];
        // Q: `levels` groups of i/levels bins (the last group takes the remainder).
        let per = i as f64 / levels as f64;
        for j in 0..levels {
            let start = (j as f64 * per).floor() as usize;
            let end = if j == levels - 1 { i } else { ((j + 1) as f64 * per).floor() as usize };
            let group = &bins[start..end];
            let mass: f64 = group.iter().sum();
            let nonzero = group.iter().filter(|&&c| c > 0.0).count();
            for k in start..end {
                q[k] = if bins[k] > 0.0 { mass / nonzero as f64 } else { 0.0 };
            }
        }
        let d = kl_divergence(&p[..i], &q[..i]);
        if d < best.0 {
            best = (d, i);
        }
    }
    best.1 as f32 * h.width()
}

/// KL(P‖Q) of two unnormalised distributions, with the smoothing MXNet/TensorRT use so that a
/// bin where Q is empty but P is not gives a large, finite divergence.
pub fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    let p = smooth(p, 1e-4);
    let q = smooth(q, 1e-4);
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    if sp == 0.0 || sq == 0.0 {
        return f64::INFINITY;
    }
    p.iter()
        .zip(q.iter())
        .filter(|(&a, _)| a > 0.0)
        .map(|(&a, &b)| {
            let (a, b) = (a / sp, b / sq);
            a * (a / b).ln()
        })
        .sum()
}

/// Moves `eps` of mass onto every empty bin, taken evenly from the non-empty ones.
fn smooth(d: &[f64], eps: f64) -> Vec<f64> {
    let zeros = d.iter().filter(|&&x| x == 0.0).count();
    let nonzeros = d.len() - zeros;
    if zeros == 0 || nonzeros == 0 {
        return d.to_vec();
    }
    let total: f64 = d.iter().sum();
    let eps = eps * total / d.len() as f64;
    let take = eps * zeros as f64 / nonzeros as f64;
    d.iter().map(|&x| if x == 0.0 { eps } else { (x - take).max(eps) }).collect()
}

/// Mean squared error of quantize→dequantize of the histogrammed |x| with clip `t` and `levels`
/// positive levels (scale `t / levels`): clipped values lose `|x| - t`, the others round to the
/// nearest level. Each bin is sampled at 4 points so that the rounding error is not aliased.
pub fn quantization_mse(h: &Histogram, t: f32, levels: usize) -> f64 {
    let total: f64 = h.bins.iter().sum();
    if total == 0.0 || t <= 0.0 {
        return 0.0;
    }
    let (w, t, s) = (h.width() as f64, t as f64, t as f64 / levels as f64);
    let mut err = 0.0;
    for (i, &c) in h.bins.iter().enumerate() {
        if c == 0.0 {
            continue;
        }
        let mut e = 0.0;
        for k in 0..4 {
            let x = (i as f64 + (k as f64 + 0.5) / 4.0) * w;
            let d = if x >= t { x - t } else { x - (x / s).round() * s };
            e += d * d;
        }
        err += c * e / 4.0;
    }
    err / total
}

/// `pact`: the clip minimising [`quantization_mse`] among the bin edges (every 4th edge from
/// 16 bins up, plus absmax): the offline counterpart of PACT's learned clip.
pub fn threshold_mse(h: &Histogram, levels: usize) -> f32 {
    if h.absmax == 0.0 {
        return 0.0;
    }
    let mut best = (quantization_mse(h, h.absmax, levels), h.absmax);
    for i in (16..h.bins.len()).step_by(4) {
        let t = i as f32 * h.width();
        let e = quantization_mse(h, t, levels);
        if e < best.0 {
            best = (e, t);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers: uniform in [0, 1).
    fn uniforms(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 + 0.5) / (1u64 << 24) as f32
            })
            .collect()
    }

    /// Laplace(0, 1) samples plus a few far outliers.
    fn laplace_with_outliers(n: usize) -> Vec<f32> {
        let u = uniforms(n, 3);
        let mut v: Vec<f32> = u
            .iter()
            .enumerate()
            .map(|(i, &u)| {
                let m = -(1.0 - u).ln();
                if i % 2 == 0 { m } else { -m }
            })
            .collect();
        v.extend([60.0, -80.0, 100.0]);
        v
    }

    #[test]
    fn histogram_rebins_when_range_grows() {
        let mut h = Histogram::new();
        h.add(&[0.5, -1.0]);
        assert_eq!(h.absmax, 1.0);
        assert_eq!(h.bins[BINS - 1], 1.0);
        assert_eq!(h.bins[BINS / 2], 1.0);
        h.add(&[4.0]);
        assert_eq!(h.absmax, 4.0);
        assert_eq!(h.count, 3);
        assert_eq!(h.bins.iter().sum::<f64>(), 3.0);
        // 0.5 and 1.0 are now in the first quarter, 4.0 in the last bin.
        assert_eq!(h.bins[BINS / 8], 1.0);
        assert_eq!(h.bins[BINS / 4 - 1], 1.0);
        assert_eq!(h.bins[BINS - 1], 1.0);
        assert_eq!((h.min, h.max), (-1.0, 4.0));
    }

    #[test]
    fn minmax_and_percentile() {
        let mut h = Histogram::new();
        let v: Vec<f32> = (0..10000).map(|i| i as f32 / 10000.0).collect();
        h.add(&v);
        assert_eq!(threshold_minmax(&h), 0.9999);
        let p50 = threshold_percentile(&h, 50.0);
        assert!((p50 - 0.5).abs() < 2e-3, "{p50}");
        let p99 = threshold_percentile(&h, 99.0);
        assert!((p99 - 0.99).abs() < 2e-3, "{p99}");
        assert!((threshold_percentile(&h, 100.0) - 0.9999).abs() < 1e-3);
    }

    #[test]
    fn kl_clips_outliers_of_a_peaked_distribution() {
        let mut h = Histogram::new();
        h.add(&laplace_with_outliers(200_000));
        let t = threshold_kl(&h, 128);
        // Laplace(1): |x| above ~15 is 3e-7 of the mass; KL should clip far below the 100 outlier
        // but keep the body (TensorRT's thresholds for such tensors are a few scale units).
        assert!(t > 3.0 && t < 30.0, "kl threshold {t}");
    }

    #[test]
    fn kl_keeps_the_range_of_a_uniform_distribution() {
        let mut h = Histogram::new();
        h.add(&uniforms(200_000, 5));
        let t = threshold_kl(&h, 128);
        assert!(t > 0.9 && t <= 1.0, "kl threshold {t}");
    }

    #[test]
    fn kl_divergence_basics() {
        assert!(kl_divergence(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).abs() < 1e-12);
        assert!(kl_divergence(&[1.0, 0.0], &[0.5, 0.5]) > 0.5);
        assert!(kl_divergence(&[1.0, 1.0], &[1.0, 0.0]).is_finite());
    }

    #[test]
    fn mse_threshold_balances_clipping_and_rounding() {
        // Laplace(1) without outliers: the MSE-optimal 8-bit clip is ≈ 9.9 (Banner et al., ACIQ),
        // below the largest sample (~12 for 200k samples).
        let mut v = laplace_with_outliers(200_000);
        v.truncate(200_000);
        let mut h = Histogram::new();
        h.add(&v);
        let t = threshold_mse(&h, 127);
        assert!(t > 7.0 && t < 12.0 && t < h.absmax, "mse threshold {t}, absmax {}", h.absmax);
        // It is the minimum of the error over the candidates, in particular better than minmax.
        assert!(quantization_mse(&h, t, 127) < quantization_mse(&h, h.absmax, 127));
        // Uniform data: no clipping pays.
        let mut u = Histogram::new();
        u.add(&uniforms(100_000, 9));
        let t = threshold_mse(&u, 127);
        assert!(t > 0.95, "{t}");
    }

    #[test]
    fn mse_of_a_clean_grid_is_small() {
        let mut h = Histogram::new();
        h.add(&uniforms(50_000, 1));
        let s = 1.0 / 127.0;
        let e = quantization_mse(&h, 1.0, 127);
        // Uniform rounding error: s²/12.
        assert!((e - s * s / 12.0).abs() < 0.2 * s * s / 12.0, "{e} vs {}", s * s / 12.0);
    }
}
