//! x86-64 kernels: hand-written AVX2 for the hot rows, and the scalar rows recompiled for SSE4.1 and
//! AVX2 (see `multiversion`) for the rest. Tails shorter than a vector go to the scalar rows.
use crate::multiversion::multiversion;
use crate::scalar::{self, Norm};
use crate::Kernels;
use std::arch::x86_64::*;

multiversion!("sse4.1", sse41);
multiversion!("avx2", avx2mv);

/// Tables usable on this CPU, weakest first.
pub(crate) fn variants() -> Vec<Kernels> {
    let mut out = vec![];
    if is_x86_feature_detected!("sse4.1") {
        let mut k = Kernels::scalar();
        sse41::install_all(&mut k, "sse4.1");
        // The reference depthwise row on a plane built without a division per element.
        k.dw_channel = |x, c, w, b, s, a| crate::qconv::dw_channel_rows(x, c, w, b, s, a, crate::qconv::scalar::dw_row);
        k.set_name("qconv_dw", "scalar+plane");
        k.hresize = scalar::hresize_row;
        k.set_name("resize_h", "scalar");
        out.push(k);
    }
    if is_x86_feature_detected!("avx2") {
        let mut k = Kernels::scalar();
        avx2mv::install_all(&mut k, "avx2");
        // SAFETY (the five closures below): inside `is_x86_feature_detected!("avx2")`, the only
        // precondition of these `#[target_feature]` rows, which bound every load and store by their slices.
        k.yuyv = |s, d| unsafe { yuyv_avx2(s, d) };
        k.vresize = |r0, r1, b0, b1, d| unsafe { vresize_avx2(r0, r1, b0, b1, d) };
        k.normalize = |s, n, r, g, b| unsafe { normalize_avx2(s, n, r, g, b) };
        k.quant_f32 = |s, sc, zp, d| unsafe { quant_f32_avx2(s, sc, zp, d) };
        k.quant_u8 = |s, sc, zp, d| unsafe { quant_u8_avx2(s, sc, zp, d) };
        // The horizontal pass is a gather; recompiling it buys nothing measurable, keep it honest.
        k.hresize = scalar::hresize_row;
        k.set_name("resize_h", "scalar");
        crate::qconv::x86::install_avx2(&mut k);
        if is_x86_feature_detected!("fma") {
            crate::dwconv_f32::x86::install(&mut k);
            crate::pwconv_f32::x86::install(&mut k);
        }
        if is_x86_feature_detected!("avxvnni") {
            out.push(k.clone());
            crate::qconv::x86::install_avxvnni(&mut k);
        }
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni")
        {
            out.push(k.clone());
            crate::qconv::x86::install_avx512vnni(&mut k);
        }
        out.push(k);
    }
    out
}

/// 8 YUYV pixels (16 bytes) per step, i32 lanes: the same integer formula as the scalar code.
#[target_feature(enable = "avx2")]
unsafe fn yuyv_avx2(src: &[u8], dst: &mut [u8]) {
    let n = src.len() / 2; // pixels
    let my = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
    let mu = _mm_setr_epi8(1, 1, 5, 5, 9, 9, 13, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    let mv = _mm_setr_epi8(3, 3, 7, 7, 11, 11, 15, 15, -1, -1, -1, -1, -1, -1, -1, -1);
    // Per 128-bit lane: r0-3 g0-3 b0-3 b0-3 -> r0 g0 b0 r1 g1 b1 ... (12 bytes), 4 junk bytes.
    let il = _mm256_setr_epi8(
        0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1, 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1,
    );
    let (k16, k128) = (_mm256_set1_epi32(16), _mm256_set1_epi32(128));
    let mut p = 0;
    // Each step writes 28 bytes (two overlapping 16-byte stores), so keep 4 bytes of slack.
    while p + 8 <= n && 3 * p + 28 <= dst.len() {
        let v = _mm_loadu_si128(src.as_ptr().add(2 * p) as *const __m128i);
        let y = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(v, my));
        let u = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_shuffle_epi8(v, mu)), k128);
        let w = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_shuffle_epi8(v, mv)), k128);
        let c = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_sub_epi32(y, k16), _mm256_set1_epi32(298)), k128);
        let r = _mm256_srai_epi32(_mm256_add_epi32(c, _mm256_mullo_epi32(w, _mm256_set1_epi32(409))), 8);
        let g = _mm256_srai_epi32(
            _mm256_sub_epi32(
                _mm256_sub_epi32(c, _mm256_mullo_epi32(u, _mm256_set1_epi32(100))),
                _mm256_mullo_epi32(w, _mm256_set1_epi32(208)),
            ),
            8,
        );
        let b = _mm256_srai_epi32(_mm256_add_epi32(c, _mm256_mullo_epi32(u, _mm256_set1_epi32(516))), 8);
        // Saturating packs clamp to 0..=255 exactly like the scalar clamp.
        let rg = _mm256_packus_epi32(r, g);
        let bb = _mm256_packus_epi32(b, b);
        let rgb = _mm256_shuffle_epi8(_mm256_packus_epi16(rg, bb), il);
        let o = dst.as_mut_ptr().add(3 * p);
        _mm_storeu_si128(o as *mut __m128i, _mm256_castsi256_si128(rgb));
        _mm_storeu_si128(o.add(12) as *mut __m128i, _mm256_extracti128_si256(rgb, 1));
        p += 8;
    }
    scalar::yuyv_row_to_rgb(&src[2 * p..], &mut dst[3 * p..]);
}

/// 16 outputs per step with OpenCV's `v_mul_hi` rounding (see `scalar::vmix`).
#[target_feature(enable = "avx2")]
unsafe fn vresize_avx2(r0: &[i32], r1: &[i32], b0: i16, b1: i16, dst: &mut [u8]) {
    let n = dst.len().min(r0.len()).min(r1.len());
    let (vb0, vb1, two) = (_mm256_set1_epi16(b0), _mm256_set1_epi16(b1), _mm256_set1_epi16(2));
    let ld = |s: &[i32], i: usize| {
        let a = _mm256_srai_epi32(_mm256_loadu_si256(s.as_ptr().add(i) as *const __m256i), 4);
        let b = _mm256_srai_epi32(_mm256_loadu_si256(s.as_ptr().add(i + 8) as *const __m256i), 4);
        _mm256_packs_epi32(a, b) // a0-3 b0-3 | a4-7 b4-7
    };
    let mut i = 0;
    while i + 16 <= n {
        let t = _mm256_adds_epi16(_mm256_mulhi_epi16(ld(r0, i), vb0), _mm256_mulhi_epi16(ld(r1, i), vb1));
        let t = _mm256_srai_epi16(_mm256_adds_epi16(t, two), 2);
        let t = _mm256_permute4x64_epi64(t, 0b11_01_10_00); // back to element order
        let out = _mm_packus_epi16(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        _mm_storeu_si128(dst.as_mut_ptr().add(i) as *mut __m128i, out);
        i += 16;
    }
    scalar::vresize_row(&r0[i..], &r1[i..], b0, b1, &mut dst[i..]);
}

/// 8 packed RGB pixels per step: byte shuffles split the channels, then `(v*scale - mean) / std`
/// with separate mul, sub and div (no FMA), as the scalar code does.
#[target_feature(enable = "avx2")]
unsafe fn normalize_avx2(src: &[u8], n: &Norm, r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
    let len = (src.len() / 3).min(r.len()).min(g.len()).min(b.len());
    // Channel c of pixels 0..8 from bytes [0,16) (lo) and [8,24) (hi).
    let mask = |c: i8| {
        let mut lo = [-1i8; 16];
        let mut hi = [-1i8; 16];
        for p in 0..8i8 {
            let at = 3 * p + c;
            if at < 16 { lo[p as usize] = at } else { hi[p as usize] = at - 8 }
        }
        (_mm_loadu_si128(lo.as_ptr() as *const __m128i), _mm_loadu_si128(hi.as_ptr() as *const __m128i))
    };
    let masks = [mask(0), mask(1), mask(2)];
    let src_c = if n.swap_rb { [2, 1, 0] } else { [0, 1, 2] };
    let sc = _mm256_set1_ps(n.scale);
    let mean = n.mean.map(|m| _mm256_set1_ps(m));
    let std = n.std.map(|s| _mm256_set1_ps(s));
    let outs = [r.as_mut_ptr(), g.as_mut_ptr(), b.as_mut_ptr()];
    let mut p = 0;
    while p + 8 <= len {
        let lo = _mm_loadu_si128(src.as_ptr().add(3 * p) as *const __m128i);
        let hi = _mm_loadu_si128(src.as_ptr().add(3 * p + 8) as *const __m128i);
        for c in 0..3 {
            let (ml, mh) = masks[src_c[c]];
            let bytes = _mm_or_si128(_mm_shuffle_epi8(lo, ml), _mm_shuffle_epi8(hi, mh));
            let v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
            let v = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(v, sc), mean[c]), std[c]);
            _mm256_storeu_ps(outs[c].add(p), v);
        }
        p += 8;
    }
    scalar::normalize_row(&src[3 * p..], n, &mut r[p..], &mut g[p..], &mut b[p..]);
}

/// `clamp(round_half_away(x / scale) + zp)` for 8 floats; exact: trunc, then add ±1 when the
/// fraction is ≥ 0.5 in magnitude.
#[target_feature(enable = "avx2")]
unsafe fn quant8(x: __m256, scale: __m256, zp: __m256i) -> __m128i {
    let y = _mm256_div_ps(x, scale);
    let y = _mm256_and_ps(y, _mm256_cmp_ps(y, y, _CMP_ORD_Q)); // NaN -> 0
    let y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(-1.0e6)), _mm256_set1_ps(1.0e6));
    let t = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    let frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_sub_ps(y, t));
    let sign_one = _mm256_or_ps(_mm256_and_ps(y, _mm256_set1_ps(-0.0)), _mm256_set1_ps(1.0));
    let up = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5), _CMP_GE_OQ), sign_one);
    let q = _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_add_ps(t, up)), zp);
    let q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    _mm_packs_epi16(q16, q16)
}

#[target_feature(enable = "avx2")]
unsafe fn quant_f32_avx2(src: &[f32], scale: f32, zp: i32, dst: &mut [i8]) {
    let n = src.len().min(dst.len());
    let (s, z) = (_mm256_set1_ps(scale), _mm256_set1_epi32(zp));
    let mut i = 0;
    while i + 8 <= n {
        let q = quant8(_mm256_loadu_ps(src.as_ptr().add(i)), s, z);
        _mm_storel_epi64(dst.as_mut_ptr().add(i) as *mut __m128i, q);
        i += 8;
    }
    scalar::quantize_f32_row(&src[i..], scale, zp, &mut dst[i..]);
}

#[target_feature(enable = "avx2")]
unsafe fn quant_u8_avx2(src: &[u8], scale: f32, zp: i32, dst: &mut [i8]) {
    let n = src.len().min(dst.len());
    let (s, z) = (_mm256_set1_ps(scale), _mm256_set1_epi32(zp));
    let mut i = 0;
    while i + 8 <= n {
        let b = _mm_loadl_epi64(src.as_ptr().add(i) as *const __m128i);
        let q = quant8(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), s, z);
        _mm_storel_epi64(dst.as_mut_ptr().add(i) as *mut __m128i, q);
        i += 8;
    }
    scalar::quantize_u8_row(&src[i..], scale, zp, &mut dst[i..]);
}
