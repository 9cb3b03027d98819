//! `auto` clips: for each activation, the threshold that gives the convs reading it the smallest
//! error on their *output*, not on the activation itself (the idea of ncnn's EQ search and
//! PaddleSlim's `mse` on layer outputs).
//!
//! Why not the activation's own error: KL and the histogram MSE both judge a clip by how well it
//! keeps the activation's distribution, so they clip rare large values hard. Where those values
//! carry the signal (PP-LCNetV3's hard-swish outputs feeding a learnable affine, PicoDet's ESNet),
//! the next layer's output is wrong even though the activation "looks" well kept: KL gave PP-OCRv4
//! rec 0 % line accuracy. Scoring each candidate through the real weights of the consumers catches
//! that.
//!
//! Calibration keeps a few small tiles of every conv input (all channels, at most [`TILE`]²
//! pixels, at seeded places, see [`Tiles`]). For each candidate clip the consumers are run on the
//! tiles in plain Rust — input quantized with that clip, weights int8 per output channel — and
//! compared with the float convolution at up to [`POSITIONS`] output positions. Candidates: every
//! method's threshold, then a few multiples of the best one.

use super::hist::{self, Histogram};
use super::lower::quantize_weights;
use oar_plan::tract::tract_core::ops::cnn::{Conv, KernelFormat};
use oar_plan::tract::tract_core::ops::nn::DataFormat;
use oar_plan::tract::*;
use std::collections::BTreeMap;

/// Tile side in pixels (the part of the activation kept per sample).
pub const TILE: usize = 12;
/// Tiles kept per image and per activation.
pub const TILES_PER_INPUT: usize = 4;
/// Tiles kept per activation in all.
pub const MAX_TILES: usize = 16;
/// Output positions at most per consumer and candidate.
const POSITIONS: usize = 256;
/// Multiples of the best method's threshold tried after the methods themselves.
const REFINE: [f32; 5] = [0.6, 0.75, 0.9, 1.15, 1.35];

/// Small crops of one NCHW activation: each tile is `[channels][h][w]`, row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tiles {
    pub channels: usize,
    pub h: usize,
    pub w: usize,
    pub tiles: Vec<Vec<f32>>,
}

impl Tiles {
    /// Adds up to [`TILES_PER_INPUT`] tiles of `values` (shape `[n, c, h, w]`, first image only)
    /// at places drawn from `seed`. Other ranks and shapes that change between inputs are ignored.
    pub fn add(&mut self, values: &[f32], shape: &[usize], seed: u64) {
        let [_, c, h, w] = shape else { return };
        let (c, h, w) = (*c, *h, *w);
        if c == 0 || h == 0 || w == 0 || values.len() < c * h * w || self.tiles.len() >= MAX_TILES {
            return;
        }
        let (th, tw) = (h.min(TILE), w.min(TILE));
        if self.tiles.is_empty() {
            (self.channels, self.h, self.w) = (c, th, tw);
        } else if (self.channels, self.h, self.w) != (c, th, tw) {
            return;
        }
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = |n: usize| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % n as u64) as usize
        };
        for _ in 0..TILES_PER_INPUT.min(MAX_TILES - self.tiles.len()) {
            let (y0, x0) = (next(h - th + 1), next(w - tw + 1));
            let mut tile = Vec::with_capacity(c * th * tw);
            for ch in 0..c {
                for y in y0..y0 + th {
                    let row = ch * h * w + y * w + x0;
                    tile.extend_from_slice(&values[row..row + tw]);
                }
            }
            self.tiles.push(tile);
        }
    }
}

/// A consumer conv as the search needs it: geometry and weights (float and int8-dequantized).
struct Consumer {
    group: usize,
    out_channels: usize,
    /// Input channels per group, kernel height and width.
    cin: usize,
    kh: usize,
    kw: usize,
    stride: (usize, usize),
    dilation: (usize, usize),
    /// `[o][cin·kh·kw]`.
    w: Vec<f32>,
    wq: Vec<f32>,
}

impl Consumer {
    fn of(model: &TypedModel, node: &TypedNode) -> Option<Consumer> {
        let conv = node.op_as::<Conv>()?;
        if conv.q_params.is_some() || conv.kernel_fmt != KernelFormat::OIHW || conv.pool_spec.data_format != DataFormat::NCHW {
            return None;
        }
        let kernel = model.outlet_fact(node.inputs[1]).ok()?.konst.clone()?;
        let shape = kernel.shape().to_vec();
        let [o, cin, kh, kw] = shape[..] else { return None };
        let w: Vec<f32> = kernel.cast_to::<f32>().ok()?.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?.to_vec();
        let (q, scales) = quantize_weights(&kernel).ok()?;
        let k = cin * kh * kw;
        let wq = q.iter().enumerate().map(|(i, &v)| v as f32 * scales[i / k]).collect();
        let (s, d) = (conv.pool_spec.strides(), conv.pool_spec.dilations());
        Some(Consumer { group: conv.group, out_channels: o, cin, kh, kw, stride: (s[0], s[1]), dilation: (d[0], d[1]), w, wq })
    }

    /// Output positions (tile, y, x) fully inside a tile, evenly thinned to [`POSITIONS`].
    fn positions(&self, t: &Tiles) -> Vec<(usize, usize, usize)> {
        let (ext_h, ext_w) = ((self.kh - 1) * self.dilation.0 + 1, (self.kw - 1) * self.dilation.1 + 1);
        if ext_h > t.h || ext_w > t.w || t.channels != self.cin * self.group {
            return vec![];
        }
        let (oh, ow) = ((t.h - ext_h) / self.stride.0 + 1, (t.w - ext_w) / self.stride.1 + 1);
        let all = t.tiles.len() * oh * ow;
        let step = all.div_ceil(POSITIONS).max(1);
        (0..all).step_by(step).map(|i| (i / (oh * ow), (i / ow) % oh, i % ow)).collect()
    }

    /// The input patch of group `g` at output (y, x) of tile `tile`, each value through `q`.
    fn patch(&self, t: &Tiles, tile: &[f32], g: usize, y: usize, x: usize, q: &impl Fn(f32) -> f32, out: &mut Vec<f32>) {
        out.clear();
        for c in g * self.cin..(g + 1) * self.cin {
            for ky in 0..self.kh {
                let row = c * t.h * t.w + (y * self.stride.0 + ky * self.dilation.0) * t.w;
                for kx in 0..self.kw {
                    out.push(q(tile[row + x * self.stride.1 + kx * self.dilation.1]));
                }
            }
        }
    }

    /// The conv's outputs at `positions`: float weights on float input (`quantized == None`) or
    /// int8 weights on the input quantized with `scale`.
    fn outputs(&self, t: &Tiles, positions: &[(usize, usize, usize)], scale: Option<f32>) -> Vec<f32> {
        let q = |v: f32| match scale {
            Some(s) => (v / s).round().clamp(-128.0, 127.0) * s,
            None => v,
        };
        let weights = if scale.is_some() { &self.wq } else { &self.w };
        let k = self.cin * self.kh * self.kw;
        let per_group = self.out_channels / self.group.max(1);
        let mut ys = Vec::with_capacity(positions.len() * self.out_channels);
        let mut patch = Vec::with_capacity(k);
        for &(ti, y, x) in positions {
            for g in 0..self.group {
                self.patch(t, &t.tiles[ti], g, y, x, &q, &mut patch);
                for o in g * per_group..(g + 1) * per_group {
                    let w = &weights[o * k..(o + 1) * k];
                    ys.push(w.iter().zip(&patch).map(|(a, b)| a * b).sum());
                }
            }
        }
        ys
    }
}

/// A chosen clip and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    pub threshold: f32,
    /// `minmax`, `percentile`, `kl`, `mse`, or one of those scaled (`kl×0.9`); `mse (no tiles)`
    /// where no consumer could be scored.
    pub source: String,
    /// Relative squared error of the consumers' outputs with this clip (when scored).
    pub output_error: Option<f64>,
}

/// Relative squared error Σ(a−b)² / Σb².
fn relative_error(q: &[f32], f: &[f32]) -> f64 {
    let num: f64 = q.iter().zip(f).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
    let den: f64 = f.iter().map(|b| (*b as f64).powi(2)).sum();
    if den > 0.0 { num / den } else { num }
}

/// The candidates of every method for one histogram: (name, threshold).
fn method_candidates(h: &Histogram) -> Vec<(String, f32)> {
    let mut c = vec![
        ("minmax".to_string(), hist::threshold_minmax(h)),
        ("percentile 99.99".to_string(), hist::threshold_percentile(h, 99.99)),
        ("percentile 99.9".to_string(), hist::threshold_percentile(h, 99.9)),
        ("kl".to_string(), hist::threshold_kl(h, 128)),
        ("mse".to_string(), hist::threshold_mse(h, 127)),
    ];
    c.retain(|(_, t)| t.is_finite() && *t > 0.0);
    c
}

/// The `auto` clip of every activation with statistics in `hists`, scored on `tiles` through the
/// convs of `model` reading it; activations without tiles or scorable consumers fall back to the
/// histogram MSE clip.
pub fn choose(model: &TypedModel, hists: &BTreeMap<OutletId, Histogram>, tiles: &BTreeMap<OutletId, Tiles>) -> BTreeMap<OutletId, Clip> {
    let mut consumers: BTreeMap<OutletId, Vec<Consumer>> = BTreeMap::new();
    for node in model.nodes() {
        if let Some(c) = Consumer::of(model, node) {
            consumers.entry(node.inputs[0]).or_default().push(c);
        }
    }
    let jobs: Vec<(&OutletId, &Histogram)> = hists.iter().filter(|(_, h)| h.count > 0 && h.absmax > 0.0).collect();
    let choose_one = |(o, h): (&OutletId, &Histogram)| -> (OutletId, Clip) {
        let fallback = || Clip { threshold: hist::threshold_mse(h, 127), source: "mse (no tiles)".into(), output_error: None };
        let (Some(t), Some(cs)) = (tiles.get(o), consumers.get(o)) else { return (*o, fallback()) };
        let scored: Vec<(&Consumer, Vec<(usize, usize, usize)>, Vec<f32>)> = cs
            .iter()
            .map(|c| (c, c.positions(t)))
            .filter(|(_, p)| !p.is_empty())
            .map(|(c, p)| {
                let f = c.outputs(t, &p, None);
                (c, p, f)
            })
            .collect();
        if scored.is_empty() {
            return (*o, fallback());
        }
        let error = |threshold: f32| -> f64 {
            let s = threshold / 127.0;
            scored.iter().map(|(c, p, f)| relative_error(&c.outputs(t, p, Some(s)), f)).sum::<f64>() / scored.len() as f64
        };
        let consider = |best: &mut Option<Clip>, source: String, threshold: f32| {
            let e = error(threshold);
            if best.as_ref().is_none_or(|b| e < b.output_error.unwrap_or(f64::INFINITY)) {
                *best = Some(Clip { threshold, source, output_error: Some(e) });
            }
        };
        let mut best: Option<Clip> = None;
        for (name, t) in method_candidates(h) {
            consider(&mut best, name, t);
        }
        let Some(base) = best.clone() else { return (*o, fallback()) };
        for f in REFINE {
            let t = (base.threshold * f).min(h.absmax);
            if t > 0.0 && t != base.threshold {
                consider(&mut best, format!("{}×{f}", base.source), t);
            }
        }
        (*o, best.unwrap_or(base))
    };
    // Two halves on two threads: the search is plain arithmetic over independent activations.
    let (a, b) = jobs.split_at(jobs.len() / 2);
    std::thread::scope(|s| {
        let left = s.spawn(|| a.iter().map(|j| choose_one(*j)).collect::<Vec<_>>());
        let mut out: BTreeMap<OutletId, Clip> = b.iter().map(|j| choose_one(*j)).collect();
        out.extend(left.join().expect("the clip search does not panic"));
        out
    })
}

/// Bias correction: for each conv of `model` whose input has tiles, the mean shift of its
/// outputs that int8 weights cause, E[(W_q − W)·x] per output channel, measured on the tiles;
/// subtracting it from the bias removes the systematic part of the weights' rounding error.
/// Keyed by node id.
pub fn bias_shifts(model: &TypedModel, tiles: &BTreeMap<OutletId, Tiles>) -> BTreeMap<usize, Vec<f32>> {
    let mut out = BTreeMap::new();
    for node in model.nodes() {
        let Some(c) = Consumer::of(model, node) else { continue };
        let Some(t) = tiles.get(&node.inputs[0]) else { continue };
        let positions = c.positions(t);
        if positions.is_empty() {
            continue;
        }
        let k = c.cin * c.kh * c.kw;
        let mut mean = vec![0f64; c.group * k];
        let mut patch = Vec::with_capacity(k);
        for &(ti, y, x) in &positions {
            for g in 0..c.group {
                c.patch(t, &t.tiles[ti], g, y, x, &|v| v, &mut patch);
                mean[g * k..(g + 1) * k].iter_mut().zip(&patch).for_each(|(m, v)| *m += *v as f64);
            }
        }
        let n = positions.len() as f64;
        let per_group = c.out_channels / c.group.max(1);
        let shift: Vec<f32> = (0..c.out_channels)
            .map(|o| {
                let g = o / per_group.max(1);
                let (w, wq) = (&c.w[o * k..(o + 1) * k], &c.wq[o * k..(o + 1) * k]);
                (0..k).map(|i| (wq[i] - w[i]) as f64 * mean[g * k + i] / n).sum::<f64>() as f32
            })
            .collect();
        out.insert(node.id, shift);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiles_of(values: &[f32], c: usize, h: usize, w: usize) -> Tiles {
        let mut t = Tiles::default();
        t.add(values, &[1, c, h, w], 7);
        t
    }

    #[test]
    fn tiles_keep_all_channels_of_a_crop() {
        let (c, h, w) = (3, 20, 30);
        let v: Vec<f32> = (0..c * h * w).map(|i| i as f32).collect();
        let t = tiles_of(&v, c, h, w);
        assert_eq!((t.channels, t.h, t.w, t.tiles.len()), (3, TILE, TILE, TILES_PER_INPUT));
        for tile in &t.tiles {
            // Each channel's crop is the same place shifted by one plane.
            let first = tile[0] as usize;
            let (y0, x0) = ((first / w) % h, first % w);
            assert!(y0 + TILE <= h && x0 + TILE <= w);
            assert_eq!(tile[TILE * TILE] as usize, first + h * w);
            assert_eq!(tile[TILE + 1] as usize, first + w + 1);
        }
        // Small activations are kept whole.
        let small = tiles_of(&v[..2 * 3 * 4], 2, 3, 4);
        assert_eq!((small.h, small.w), (3, 4));
    }

    #[test]
    fn consumer_outputs_match_a_direct_convolution() {
        // 2 groups of 2 input channels, 4 outputs, 3x3, stride 1: check one output by hand.
        let c = Consumer {
            group: 2,
            out_channels: 4,
            cin: 2,
            kh: 3,
            kw: 3,
            stride: (1, 1),
            dilation: (1, 1),
            w: (0..4 * 18).map(|i| (i % 7) as f32 - 3.0).collect(),
            wq: vec![],
        };
        let t = tiles_of(&(0..4 * 5 * 5).map(|i| (i % 11) as f32 * 0.5).collect::<Vec<_>>(), 4, 5, 5);
        let p = c.positions(&t);
        assert_eq!(p.len(), t.tiles.len() * 9);
        let ys = c.outputs(&t, &p[..1], None);
        let tile = &t.tiles[0];
        let mut want = 0.0;
        for ci in 0..2 {
            for ky in 0..3 {
                for kx in 0..3 {
                    // Output channel 3 is in group 1: input channels 2 and 3.
                    want += c.w[3 * 18 + ci * 9 + ky * 3 + kx] * tile[(2 + ci) * 25 + ky * 5 + kx];
                }
            }
        }
        assert!((ys[3] - want).abs() < 1e-4, "{} vs {want}", ys[3]);
    }

    #[test]
    fn a_clip_that_cuts_signal_carrying_outliers_loses_to_one_that_keeps_them() {
        // Most values are small noise; channel 0 carries rare large values that the weights amplify.
        let (c, h, w) = (4, 12, 12);
        let mut v = vec![0f32; c * h * w];
        let mut s = 1u32;
        for (i, x) in v.iter_mut().enumerate() {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            *x = ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.2;
            if i < h * w && i % 17 == 0 {
                *x = 8.0;
            }
        }
        let mut h_ = Histogram::new();
        h_.add(&v);
        let _ = &h_;
        let t = tiles_of(&v, c, h, w);
        // A clip at 1.0 keeps the noise's resolution and cuts the outliers (what KL and the
        // activation's own MSE do with outliers rare enough).
        let cut = 1.0;
        let c1 = Consumer { group: 1, out_channels: 2, cin: 4, kh: 1, kw: 1, stride: (1, 1), dilation: (1, 1), w: vec![5.0, 0.1, 0.1, 0.1, 0.1, 1.0, 1.0, 1.0], wq: vec![] };
        let c1 = Consumer { wq: c1.w.clone(), ..c1 };
        let p = c1.positions(&t);
        let f = c1.outputs(&t, &p, None);
        let err = |th: f32| relative_error(&c1.outputs(&t, &p, Some(th / 127.0)), &f);
        assert!(err(8.0) < err(cut) / 10.0, "keeping the outliers: {} vs cutting them {}", err(8.0), err(cut));
    }
}
