//! Scalar reference primitives of the int8 convolutions (the definition SIMD versions must match).

use super::{Depthwise, DwCall, DwScratch, PwWeights, Pointwise, RowEp};

/// One depthwise channel, the reference way: the padded plane with the zero point removed
/// (padding = 0), each row split into `s` column phases so that every tap reads consecutive values
/// for consecutive outputs, then [`dw_row`] per output row.
pub(crate) fn dw_channel(x: &[i8], call: &DwCall, w: &[i8], bias: i32, scratch: &mut DwScratch, acc: &mut [i32]) {
    let &DwCall { shape, oh, ow, x_zp: x_zero_point } = call;
    let &Depthwise { height: h, width: wd, kernel: k, stride: s, pad, .. } = shape;
    let [pt, pl, pb, pr] = pad;
    let (ph, pw) = (h + pt + pb, wd + pl + pr);
    let phase_start: Vec<usize> = (0..s).map(|p| (0..p).map(|q| (pw - q).div_ceil(s)).sum()).collect();
    let plane = &mut scratch.plane;
    if plane.len() != ph * pw {
        plane.clear();
        plane.resize(ph * pw, 0);
    }
    let offsets: Vec<usize> = (0..k * k).map(|t| (t / k) * pw + phase_start[(t % k) % s] + (t % k) / s).collect();
    for (y, row) in x.chunks_exact(wd).enumerate() {
        let dst = &mut plane[(y + pt) * pw..(y + pt + 1) * pw];
        for (xi, &v) in row.iter().enumerate() {
            let px = xi + pl;
            dst[phase_start[px % s] + px / s] = v as i16 - x_zero_point as i16;
        }
    }
    let weights: Vec<i16> = w.iter().map(|&v| v as i16).collect();
    for oy in 0..oh {
        dw_row(&plane[oy * s * pw..], &offsets, &weights, bias, &mut acc[oy * ow..(oy + 1) * ow]);
    }
}

/// `acc[i] = bias + Σ_t weights[t] · src[offsets[t] + i]` (wrapping i32).
pub(crate) fn dw_row(src: &[i16], offsets: &[usize], weights: &[i16], bias: i32, acc: &mut [i32]) {
    acc.fill(bias);
    let n = acc.len();
    for (&off, &w) in offsets.iter().zip(weights) {
        for (a, &v) in acc.iter_mut().zip(&src[off..off + n]) {
            *a = a.wrapping_add(v as i32 * w as i32);
        }
    }
}

/// The scalar block reads the raw weights: nothing to pack.
pub(crate) fn pw_pack(_w: &[i8], _shape: &Pointwise, bias: &[i32]) -> PwWeights {
    PwWeights { w: Vec::new(), bias: bias.to_vec() }
}

/// `acc[o][i] = bias[o] + Σ_c w[o][c] · x[c][p0 + i]` for `i < acc.len() / outputs` (wrapping i32).
pub(crate) fn pw_block(
    x: &[i8],
    shape: &Pointwise,
    p0: usize,
    w: &[i8],
    pk: &PwWeights,
    _scratch: &mut Vec<i32>,
    acc: &mut [i32],
) {
    let bias = &pk.bias;
    let &Pointwise { inputs: c, outputs: o, pixels: p } = shape;
    let pn = acc.len() / o;
    for (oc, row) in acc.chunks_exact_mut(pn).enumerate() {
        row.fill(bias[oc]);
        for ic in 0..c {
            let wv = w[oc * c + ic] as i32;
            let xs = &x[ic * p + p0..ic * p + p0 + pn];
            for (a, &v) in row.iter_mut().zip(xs) {
                *a = a.wrapping_add(v as i32 * wv);
            }
        }
    }
}

/// The hard-swish of a real value: `r · clamp(r + 3, 0, 6) / 6`, in this order.
#[inline(always)]
pub(crate) fn hswish(r: f32) -> f32 {
    r * (r + 3.0).max(0.0).min(6.0) / 6.0
}

/// One accumulator to int8 (module doc, "Requantization").
#[inline(always)]
pub(crate) fn requant_i8(a: i32, ep: &RowEp) -> i8 {
    let v = if ep.hswish { hswish(a as f32 * ep.mult) / ep.y_scale } else { a as f32 * ep.mult };
    (v.max(ep.lo).min(ep.hi).round_ties_even() as i32 + ep.zp) as i8
}

/// One accumulator to f32.
#[inline(always)]
pub(crate) fn dequant_f32(a: i32, ep: &RowEp) -> f32 {
    let r = a as f32 * ep.mult;
    if ep.hswish {
        hswish(r)
    } else {
        r.max(ep.lo).min(ep.hi)
    }
}

pub(crate) fn epilogue_i8(acc: &[i32], ep: &RowEp, out: &mut [i8]) {
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = requant_i8(a, ep);
    }
}

pub(crate) fn epilogue_f32(acc: &[i32], ep: &RowEp, out: &mut [f32]) {
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = dequant_f32(a, ep);
    }
}
