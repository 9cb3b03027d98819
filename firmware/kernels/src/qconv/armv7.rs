//! armv7 NEON int8 convolution primitives, bit-exact with `super::scalar`. NEON intrinsics and
//! `#[target_feature(enable = "neon")]` are unstable on this target (Rust 1.95), so the loops are
//! `asm!` with `.fpu neon`; [`install`] is only called after `HWCAP_NEON` was seen (`crate::neon`).
//! Only d0–d15 are used: the target is built without `d32`, so d16–d31 cannot be named as operands.
//!
//! - Depthwise: the i16 phase-split plane of `super::dw_plane_fast` and a row of 16 (then 8, then
//!   4) outputs per step, `vmlal.s16` by a duplicated weight per tap.
//! - Pointwise: channel pairs as i16 words (`super::pack_x`, as the aarch64 block), tiles of
//!   2 outputs × 8 pixels, `vld2.16` splits the pair, `vmlal.s16` by scalar lane.
//! - Epilogues: Advanced SIMD on armv7 always flushes denormals to zero and has no float division,
//!   no `vcvtn` (round to nearest) and no `vmaxnm`; the NEON epilogue therefore covers the rows
//!   where that cannot change a bit (see [`epilogue_i8`], [`hswish_i8`], [`epilogue_f32`]) and
//!   leaves f32 hard-swish (two divisions), rows with subnormal or −0 constants and int8 hard-swish
//!   steps near a rounding tie to the scalar code.

use super::{pack_x, pw_pack_groups, scalar, Pointwise, PwWeights, RowEp};

/// Only called after `HWCAP_NEON` was read from the auxiliary vector.
pub(crate) fn install(k: &mut crate::Kernels) {
    k.dw_channel = |x, c, w, b, s, a| super::dw_channel_rows(x, c, w, b, s, a, dw_row);
    // Pairs of channels; outputs padded to an even count so that every tile is 2 outputs wide.
    k.pw_pack = |w, sh, b| pw_pack_groups(w, sh, b, 2, sh.outputs.div_ceil(2) * 2);
    k.pw_block = pw_block;
    k.ep_i8 = epilogue_i8;
    k.ep_f32 = epilogue_f32;
    for n in ["qconv_dw", "qconv_pw", "qconv_epilogue"] {
        k.set_name(n, "neon-armv7");
    }
}

/// One tap for the depthwise asm: byte offset of the tap in the plane, the i16 weight twice.
type Tap = [u32; 2];

/// `steps` blocks of 16, 8 or 4 outputs: `acc[..] = bias + Σ_t w_t · src[off_t + ..]` over `nt` taps
/// (`taps` as [`Tap`]). `$init`/`$ld`/`$mla`/`$st`/`$adv` are the block width's accumulator setup,
/// tap load, multiply-accumulates, stores and source advance (q4–q7 accumulate, q3 holds the bias).
macro_rules! dw_steps {
    ($src:expr, $taps:expr, $nt:expr, $acc:expr, $steps:expr, $bias:expr,
     [$($init:literal),*], $ld:literal, [$($mla:literal),*], [$($st:literal),*], $adv:literal) => {
        core::arch::asm!(
            ".fpu neon",
            "vdup.32 q3, {t}",
            "2:",
            $($init,)*
            "mov {p}, {taps}",
            "mov {c}, {nt}",
            "3:",
            "ldr {t}, [{p}], #4",      // byte offset of the tap
            "add {t}, {src}, {t}",
            $ld,                       // the tap's values for this block
            "vld1.32 {{d4[]}}, [{p}]!", // weight in all four i16 lanes
            $($mla,)*
            "subs {c}, {c}, #1",
            "bne 3b",
            $($st,)*
            $adv,
            "subs {n}, {n}, #1",
            "bne 2b",
            src = inout(reg) $src => _,
            taps = in(reg) $taps,
            nt = in(reg) $nt,
            acc = inout(reg) $acc => _,
            n = inout(reg) $steps => _,
            t = inout(reg) $bias => _,
            p = out(reg) _,
            c = out(reg) _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _, out("d5") _,
            out("d6") _, out("d7") _, out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            options(nostack),
        )
    };
}

/// `acc[i] = bias + Σ_t weights[t] · src[offsets[t] + i]` (wrapping i32), as [`scalar::dw_row`].
fn dw_row(src: &[i16], offsets: &[usize], weights: &[i16], bias: i32, acc: &mut [i32]) {
    let n = acc.len();
    let nt = offsets.len();
    let max_off = offsets.iter().copied().max().unwrap_or(0);
    // Every asm block below reads src[off + i] only for i < n: in bounds when this holds.
    assert!(src.len() >= max_off + n && weights.len() == nt && nt <= 25);
    let mut taps = [[0u32; 2]; 25];
    for (t, (&off, &w)) in taps.iter_mut().zip(offsets.iter().zip(weights)) {
        *t = [2 * off as u32, (w as u16 as u32) * 0x1_0001];
    }
    let taps: &[Tap] = &taps[..nt];
    let (s16, mut i) = (n / 16, 0);
    if nt > 0 && s16 > 0 {
        // SAFETY: reads src[off + j] for j < 16·s16 ≤ n (bounds asserted above) and the `nt` taps;
        // writes acc[..16·s16]; NEON is present (install's precondition).
        unsafe {
            dw_steps!(src.as_ptr(), taps.as_ptr(), nt, acc.as_mut_ptr(), s16, bias,
                ["vmov q4, q3", "vmov q5, q3", "vmov q6, q3", "vmov q7, q3"],
                "vld1.16 {{d0-d3}}, [{t}]",
                ["vmlal.s16 q4, d0, d4", "vmlal.s16 q5, d1, d4", "vmlal.s16 q6, d2, d4", "vmlal.s16 q7, d3, d4"],
                ["vst1.32 {{d8-d11}}, [{acc}]!", "vst1.32 {{d12-d15}}, [{acc}]!"],
                "add {src}, {src}, #32");
        }
        i = 16 * s16;
    }
    if nt > 0 && n - i >= 8 {
        // SAFETY: as above for the 8 outputs i..i + 8 ≤ n.
        unsafe {
            dw_steps!(src.as_ptr().add(i), taps.as_ptr(), nt, acc.as_mut_ptr().add(i), 1usize, bias,
                ["vmov q4, q3", "vmov q5, q3"],
                "vld1.16 {{d0-d1}}, [{t}]",
                ["vmlal.s16 q4, d0, d4", "vmlal.s16 q5, d1, d4"],
                ["vst1.32 {{d8-d11}}, [{acc}]!"],
                "add {src}, {src}, #16");
        }
        i += 8;
    }
    // Small maps (7×7, 10×10, …) would otherwise be mostly scalar.
    if nt > 0 && n - i >= 4 {
        // SAFETY: as above for the 4 outputs i..i + 4 ≤ n.
        unsafe {
            dw_steps!(src.as_ptr().add(i), taps.as_ptr(), nt, acc.as_mut_ptr().add(i), 1usize, bias,
                ["vmov q4, q3"],
                "vld1.16 {{d0}}, [{t}]",
                ["vmlal.s16 q4, d0, d4"],
                ["vst1.32 {{d8-d9}}, [{acc}]!"],
                "add {src}, {src}, #8");
        }
        i += 4;
    }
    if i < n {
        scalar::dw_row(&src[i..], offsets, weights, bias, &mut acc[i..]);
    }
}

/// `acc[o][i] = bias[o] + Σ_c w[o][c] · x[c][p0 + i]` (as [`scalar::pw_block`]) on channel pairs:
/// one loop step is 2 channels × 2 outputs × 8 pixels = 8 `vmlal.s16` (32 MACs).
fn pw_block(x: &[i8], shape: &Pointwise, p0: usize, _w: &[i8], pk: &PwWeights, scratch: &mut Vec<i32>, acc: &mut [i32]) {
    let bias = &pk.bias;
    let &Pointwise { inputs: c, outputs: o, pixels: p } = shape;
    let pn = acc.len() / o;
    let pv = pn.div_ceil(8) * 8;
    let (cp, os) = (c.div_ceil(2), o.div_ceil(2) * 2);
    assert!(x.len() >= c * p && p0 + pn <= p && pk.w.len() == cp * os && bias.len() == o && cp > 0);
    pack_x(x, shape, p0, pn, pv, 2, scratch);
    let (xs, ws) = (&scratch[..], &pk.w[..]);
    for oc in (0..o).step_by(2) {
        for i in (0..pn).step_by(8) {
            // Both rows of the tile (a padded output has zero weights and bias).
            let mut t = [0i32; 16];
            t[..8].fill(bias[oc]);
            t[8..].fill(bias.get(oc + 1).copied().unwrap_or(0));
            // SAFETY: reads cp groups of 8 words at xs[k·pv + i..] (i + 8 ≤ pv) and 2 words at
            // ws[k·os + oc..] (oc + 2 ≤ os), strides as passed; reads and writes the 16 words of t;
            // NEON is present (install's precondition).
            unsafe {
                core::arch::asm!(
                    ".fpu neon",
                    "vld1.32 {{d8-d11}}, [{t}]!",
                    "vld1.32 {{d12-d15}}, [{t}]",
                    "2:",
                    "vld2.16 {{d0-d3}}, [{xp}], {xs}", // q0: even channel, q1: odd, 8 pixels
                    "vld1.32 {{d4}}, [{wp}], {ws}",    // w[oc][2k], w[oc][2k+1], w[oc+1][2k], w[oc+1][2k+1]
                    "vmlal.s16 q4, d0, d4[0]",
                    "vmlal.s16 q5, d1, d4[0]",
                    "vmlal.s16 q4, d2, d4[1]",
                    "vmlal.s16 q5, d3, d4[1]",
                    "vmlal.s16 q6, d0, d4[2]",
                    "vmlal.s16 q7, d1, d4[2]",
                    "vmlal.s16 q6, d2, d4[3]",
                    "vmlal.s16 q7, d3, d4[3]",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    "sub {t}, {t}, #32",
                    "vst1.32 {{d8-d11}}, [{t}]!",
                    "vst1.32 {{d12-d15}}, [{t}]",
                    t = inout(reg) t.as_mut_ptr() => _,
                    xp = inout(reg) xs.as_ptr().add(i) => _,
                    wp = inout(reg) ws.as_ptr().add(oc) => _,
                    xs = in(reg) 4 * pv,
                    ws = in(reg) 4 * os,
                    n = inout(reg) cp => _,
                    out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _,
                    out("d8") _, out("d9") _, out("d10") _, out("d11") _, out("d12") _, out("d13") _,
                    out("d14") _, out("d15") _,
                    options(nostack),
                );
            }
            let m = (pn - i).min(8);
            for (j, row) in t.chunks_exact(8).enumerate().take(o - oc) {
                let at = (oc + j) * pn + i;
                acc[at..at + m].copy_from_slice(&row[..m]);
            }
        }
    }
}

/// `x` is 0, ±inf or a normal number: NEON (flush-to-zero) reads it as the scalar code does.
fn neon_exact(x: f32) -> bool {
    x.to_bits() == 0 || x.is_infinite() || x.is_normal()
}

/// 1.5 · 2²³: adding and subtracting it rounds |v| ≤ 2²² to an integer, ties to even (NEON's fixed
/// rounding mode), which armv7 cannot do in one instruction.
const RNE_MAGIC: f32 = 12_582_912.0;

/// 8 accumulators per step: `f32(acc) · mult`, clamp to `[lo, hi]`, round half to even, `+ zp`,
/// narrow. Bit-exact with [`scalar::requant_i8`] for every non-hard-swish row: `lo`, `hi` are
/// integers within ±255, so the clamped value is in the magic constant's range; a subnormal product
/// (flushed to ±0 here) or a subnormal `mult` (read as 0) gives |v| < 2⁻⁹⁵, which rounds to 0 in
/// both; `v + zp` is within int8 after the clamp, so the saturating narrows equal the scalar cast.
fn epilogue_i8(acc: &[i32], ep: &RowEp, out: &mut [i8]) {
    let n = out.len().min(acc.len());
    if ep.hswish {
        return hswish_i8(&acc[..n], ep, &mut out[..n]);
    }
    let steps = n / 8;
    if steps > 0 {
        // SAFETY: reads 8·steps i32 of acc and writes 8·steps bytes of out (both ≥ n); NEON is
        // present (install's precondition).
        unsafe {
            core::arch::asm!(
                ".fpu neon",
                "vdup.32 q2, {m}",
                "vdup.32 q3, {lo}",
                "vdup.32 q4, {hi}",
                "vdup.32 q5, {mg}",
                "vdup.32 q6, {zp}",
                "2:",
                "vld1.32 {{d0-d3}}, [{a}]!",
                "vcvt.f32.s32 q0, q0",
                "vcvt.f32.s32 q1, q1",
                "vmul.f32 q0, q0, q2",
                "vmul.f32 q1, q1, q2",
                "vmax.f32 q0, q0, q3",
                "vmax.f32 q1, q1, q3",
                "vmin.f32 q0, q0, q4",
                "vmin.f32 q1, q1, q4",
                "vadd.f32 q0, q0, q5",
                "vadd.f32 q1, q1, q5",
                "vsub.f32 q0, q0, q5",
                "vsub.f32 q1, q1, q5",
                "vcvt.s32.f32 q0, q0", // exact: already an integer
                "vcvt.s32.f32 q1, q1",
                "vadd.i32 q0, q0, q6",
                "vadd.i32 q1, q1, q6",
                "vqmovn.s32 d0, q0",
                "vqmovn.s32 d1, q1",
                "vqmovn.s16 d0, q0",
                "vst1.8 {{d0}}, [{o}]!",
                "subs {n}, {n}, #1",
                "bne 2b",
                m = in(reg) ep.mult.to_bits(),
                lo = in(reg) ep.lo.to_bits(),
                hi = in(reg) ep.hi.to_bits(),
                mg = in(reg) RNE_MAGIC.to_bits(),
                zp = in(reg) ep.zp,
                a = inout(reg) acc.as_ptr() => _,
                o = inout(reg) out.as_mut_ptr() => _,
                n = inout(reg) steps => _,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _, out("d5") _,
                out("d6") _, out("d7") _, out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                out("d12") _, out("d13") _,
                options(nostack),
            );
        }
    }
    let i = 8 * steps;
    scalar::epilogue_i8(&acc[i..n], ep, &mut out[i..n]);
}

/// Constants of [`hswish_i8`]'s loop, read from memory (d0–d15 cannot hold them all).
#[repr(C, align(16))]
struct HswishConsts {
    lo: [f32; 4],
    hi: [f32; 4],
    magic: [f32; 4],
    /// Largest distance to the nearest integer that cannot hide a different rounding.
    near: [f32; 4],
    mult_k: [f32; 2],
    zp: [i16; 4],
}

/// int8 hard-swish, 4 accumulators per step, with the fast path of the other SIMD epilogues (the
/// argument is in `super::x86::hswish_q8`'s doc): `v' = r · clamp(r + 3, 0, 6) · k` with
/// `k = RowEp::fast_hswish_factor`, clamped, rounded; a step with a lane within 2⁻¹¹ of a
/// half-integer, or NaN, leaves the loop and takes the scalar code. Flush-to-zero cannot change a
/// result: with `mult` normal, a non-zero `r` is normal and `r · t` is too (`t ≥ 2⁻²²` when
/// `|r| ≈ 3`, `t ≈ 3` when `r` is tiny); only `v'` may underflow, and then `|v| < 2⁻¹²⁵`, which
/// rounds to 0 like the flushed `v'`. Rows outside the fast path's range stay scalar.
fn hswish_i8(acc: &[i32], ep: &RowEp, out: &mut [i8]) {
    let n = acc.len().min(out.len());
    let Some(k) = ep.fast_hswish_factor().filter(|_| ep.mult.is_normal()) else {
        return scalar::epilogue_i8(acc, ep, out);
    };
    let c = HswishConsts {
        lo: [ep.lo; 4],
        hi: [ep.hi; 4],
        magic: [RNE_MAGIC; 4],
        near: [0.5 - 1.0 / 2048.0; 4],
        mult_k: [ep.mult, k],
        zp: [ep.zp as i16; 4],
    };
    let mut i = 0;
    while n - i >= 4 {
        let steps = (n - i) / 4;
        let left: usize;
        // SAFETY: reads 4·steps i32 from acc[i..] and writes 4·steps bytes to out[i..] (both have
        // n − i ≥ 4·steps), reads the 80 bytes of `c`; NEON is present (install's precondition).
        // The loop stops before a step that fails the test, with `left` steps not done.
        unsafe {
            core::arch::asm!(
                ".fpu neon",
                "add {t}, {c}, #32",
                "vld1.32 {{d12-d15}}, [{t}]!", // q6 magic, q7 near
                "vld1.32 {{d6-d7}}, [{t}]",    // d6 = [mult, k], d7 = zp (i16)
                "vmov.f32 q4, #3.0",
                "vmov.f32 q5, #6.0",
                "2:",
                "vld1.32 {{d0-d1}}, [{a}]!",
                "vcvt.f32.s32 q0, q0",
                "vmul.f32 q0, q0, d6[0]",   // r
                "vadd.f32 q1, q0, q4",
                "vmov.i32 q2, #0",
                "vmax.f32 q1, q1, q2",
                "vmin.f32 q1, q1, q5",      // t = clamp(r + 3, 0, 6)
                "vmul.f32 q0, q0, q1",
                "vmul.f32 q0, q0, d6[1]",   // v' = r·t·k
                "vld1.32 {{d2-d5}}, [{c}]", // q1 = lo, q2 = hi
                "vmax.f32 q0, q0, q1",
                "vmin.f32 q0, q0, q2",
                "vadd.f32 q1, q0, q6",
                "vsub.f32 q1, q1, q6",      // rounded, ties to even
                "vabd.f32 q2, q0, q1",
                "vclt.f32 q2, q2, q7",      // all ones where safe (false for NaN)
                "vand d4, d4, d5",
                "vpmin.u32 d4, d4, d4",
                "vmov.32 {t}, d4[0]",
                "cmn {t}, #1",
                "bne 3f",
                "vcvt.s32.f32 q1, q1",
                "vqmovn.s32 d2, q1",
                "vadd.i16 d2, d2, d7",      // |q| ≤ 255 and zp: no overflow
                "vqmovn.s16 d2, q1",        // within int8 after the clamp: exact
                "vst1.32 {{d2[0]}}, [{o}]!",
                "subs {n}, {n}, #1",
                "bne 2b",
                "3:",
                c = in(reg) &c as *const HswishConsts,
                t = out(reg) _,
                a = inout(reg) acc.as_ptr().add(i) => _,
                o = inout(reg) out.as_mut_ptr().add(i) => _,
                n = inout(reg) steps => left,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _, out("d5") _,
                out("d6") _, out("d7") _, out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                out("d12") _, out("d13") _, out("d14") _, out("d15") _,
                options(nostack),
            );
        }
        i += 4 * (steps - left);
        if left > 0 {
            scalar::epilogue_i8(&acc[i..i + 4], ep, &mut out[i..i + 4]);
            i += 4;
        }
    }
    scalar::epilogue_i8(&acc[i..n], ep, &mut out[i..n]);
}

/// 8 accumulators per step: `f32(acc) · mult` clamped to `[lo, hi]`, as [`scalar::dequant_f32`].
/// Taken when `mult` is normal (then a non-zero product is at least `mult`, never subnormal, and
/// a zero accumulator gives +0 in both) and the bounds are +0, ±inf or normal (a subnormal bound
/// would be flushed, and −0 against +0 is where NEON `vmax` and the scalar `max` may differ).
fn epilogue_f32(acc: &[i32], ep: &RowEp, out: &mut [f32]) {
    let n = out.len().min(acc.len());
    let fits = !ep.hswish && ep.mult.is_normal() && neon_exact(ep.lo) && neon_exact(ep.hi);
    let steps = if fits { n / 8 } else { 0 };
    if steps > 0 {
        // SAFETY: reads 8·steps i32 of acc and writes 8·steps f32 of out (both ≥ n); NEON is
        // present (install's precondition).
        unsafe {
            core::arch::asm!(
                ".fpu neon",
                "vdup.32 q2, {m}",
                "vdup.32 q3, {lo}",
                "vdup.32 q4, {hi}",
                "2:",
                "vld1.32 {{d0-d3}}, [{a}]!",
                "vcvt.f32.s32 q0, q0",
                "vcvt.f32.s32 q1, q1",
                "vmul.f32 q0, q0, q2",
                "vmul.f32 q1, q1, q2",
                "vmax.f32 q0, q0, q3",
                "vmax.f32 q1, q1, q3",
                "vmin.f32 q0, q0, q4",
                "vmin.f32 q1, q1, q4",
                "vst1.32 {{d0-d3}}, [{o}]!",
                "subs {n}, {n}, #1",
                "bne 2b",
                m = in(reg) ep.mult.to_bits(),
                lo = in(reg) ep.lo.to_bits(),
                hi = in(reg) ep.hi.to_bits(),
                a = inout(reg) acc.as_ptr() => _,
                o = inout(reg) out.as_mut_ptr() => _,
                n = inout(reg) steps => _,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _, out("d5") _,
                out("d6") _, out("d7") _, out("d8") _, out("d9") _,
                options(nostack),
            );
        }
    }
    let i = 8 * steps;
    scalar::epilogue_f32(&acc[i..n], ep, &mut out[i..n]);
}
