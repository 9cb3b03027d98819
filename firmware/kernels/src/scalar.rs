//! Scalar reference implementations. Every SIMD path is tested against these; integer kernels
//! must match them bit for bit.
//!
//! The row functions are the building blocks; whole-image kernels in the crate root stitch rows
//! together so that the SIMD tables only have to replace rows.

/// BT.601 limited range ("studio swing", what a UVC camera delivers), 8-bit fixed point:
/// `C=Y-16, D=U-128, E=V-128; R=(298C+409E+128)>>8, G=(298C-100D-208E+128)>>8, B=(298C+516D+128)>>8`,
/// clamped to 0..=255.
#[inline(always)]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (y as i32 - 16) + 128;
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    let r = (c + 409 * e) >> 8;
    let g = (c - 100 * d - 208 * e) >> 8;
    let b = (c + 516 * d) >> 8;
    [r.clamp(0, 255) as u8, g.clamp(0, 255) as u8, b.clamp(0, 255) as u8]
}

/// One YUYV row (`2*w` bytes, Y0 U Y1 V per pixel pair, `w` even) to packed RGB (`3*w` bytes).
#[inline]
pub fn yuyv_row_to_rgb(src: &[u8], dst: &mut [u8]) {
    for (s, d) in src.chunks_exact(4).zip(dst.chunks_exact_mut(6)) {
        d[..3].copy_from_slice(&yuv_to_rgb(s[0], s[1], s[3]));
        d[3..].copy_from_slice(&yuv_to_rgb(s[2], s[1], s[3]));
    }
}

/// One NV12 row: `w` luma bytes and the `w` bytes (U V pairs) of the chroma row shared by two luma rows.
#[inline]
pub fn nv12_row_to_rgb(y: &[u8], uv: &[u8], dst: &mut [u8]) {
    for ((yy, c), d) in y.chunks_exact(2).zip(uv.chunks_exact(2)).zip(dst.chunks_exact_mut(6)) {
        d[..3].copy_from_slice(&yuv_to_rgb(yy[0], c[0], c[1]));
        d[3..].copy_from_slice(&yuv_to_rgb(yy[1], c[0], c[1]));
    }
}

/// Horizontal bilinear pass of one row: `dst[i] = src[xofs[i]]*a0 + src[xofs[i]+cn]*a1` in i32
/// (11-bit coefficients, exact). `xofs` holds element offsets; at the right edge `a1 == 0` and the
/// second tap is clamped into the row.
#[inline]
pub fn hresize_row(src: &[u8], cn: usize, xofs: &[u32], alpha: &[[i16; 2]], dst: &mut [i32]) {
    let last = src.len() - cn;
    for ((d, &o), a) in dst.iter_mut().zip(xofs).zip(alpha) {
        let o = o as usize;
        let o1 = (o + cn).min(last + o % cn);
        *d = src[o] as i32 * a[0] as i32 + src[o1] as i32 * a[1] as i32;
    }
}

/// Vertical bilinear pass with OpenCV's rounding (its SIMD `VResizeLinearVec_32s8u`, which OpenCV 5
/// uses for every element): `((r0>>4)*b0 >> 16) + ((r1>>4)*b1 >> 16) + 2 >> 2`, saturated to u8.
#[inline(always)]
pub fn vmix(r0: i32, r1: i32, b0: i16, b1: i16) -> u8 {
    let t0 = ((r0 >> 4).clamp(-32768, 32767) * b0 as i32) >> 16;
    let t1 = ((r1 >> 4).clamp(-32768, 32767) * b1 as i32) >> 16;
    ((t0 + t1 + 2) >> 2).clamp(0, 255) as u8
}

#[inline]
pub fn vresize_row(r0: &[i32], r1: &[i32], b0: i16, b1: i16, dst: &mut [u8]) {
    for ((d, &a), &b) in dst.iter_mut().zip(r0).zip(r1) {
        *d = vmix(a, b, b0, b1);
    }
}

/// Exact 2x downscale (OpenCV's INTER_AREA fast path): mean of a 2x2 block, rounded half up for
/// 1, 3 and 4 channels and half to even for 2 channels (OpenCV has no fast path for 2 channels).
#[inline]
pub fn area2_row(s0: &[u8], s1: &[u8], cn: usize, dst: &mut [u8]) {
    for (i, d) in dst.iter_mut().enumerate() {
        let x = (i / cn) * 2 * cn + i % cn;
        let sum = s0[x] as u32 + s0[x + cn] as u32 + s1[x] as u32 + s1[x + cn] as u32;
        *d = if cn == 2 { (sum as f32 * 0.25).round_ties_even() as u8 } else { ((sum + 2) >> 2) as u8 };
    }
}

/// Per-channel normalisation constants, indexed by the *destination* channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Norm {
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub swap_rb: bool,
}

#[inline(always)]
pub fn norm1(v: u8, scale: f32, mean: f32, std: f32) -> f32 {
    (v as f32 * scale - mean) / std
}

/// Packed 3-channel row -> three planar rows: `planes[c][x] = (src[x][c'] * scale - mean[c]) / std[c]`,
/// `c' = 2 - c` when `swap_rb`.
#[inline]
pub fn normalize_row(src: &[u8], n: &Norm, r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
    let (i0, i2) = if n.swap_rb { (2, 0) } else { (0, 2) };
    for (x, p) in src.chunks_exact(3).enumerate() {
        r[x] = norm1(p[i0], n.scale, n.mean[0], n.std[0]);
        g[x] = norm1(p[1], n.scale, n.mean[1], n.std[1]);
        b[x] = norm1(p[i2], n.scale, n.mean[2], n.std[2]);
    }
}

/// `q = clamp(round_half_away_from_zero(x / scale) + zero_point, -128, 127)`; NaN maps to `zero_point`.
#[inline(always)]
pub fn quant1(x: f32, scale: f32, zp: i32) -> i8 {
    let y = x / scale;
    if y.is_nan() {
        return zp.clamp(-128, 127) as i8;
    }
    // f32::round is half away from zero; clamp first so the i32 conversion cannot saturate oddly.
    let r = y.clamp(-1.0e6, 1.0e6).round() as i32;
    (r + zp).clamp(-128, 127) as i8
}

#[inline]
pub fn quantize_f32_row(src: &[f32], scale: f32, zp: i32, dst: &mut [i8]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = quant1(x, scale, zp);
    }
}

#[inline]
pub fn quantize_u8_row(src: &[u8], scale: f32, zp: i32, dst: &mut [i8]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = quant1(x as f32, scale, zp);
    }
}
