//! `ConvF32`: a float k×k convolution with few input channels (a network's stem: 3×3 stride 2 on
//! the RGB image), its BatchNorm folded in and the activation fused: the zero-padded im2col of a
//! tile of output pixels, then `oar_kernels`' pointwise GEMM on that tile.

use crate::pool::Pool;
use crate::pwconv_f32::split_columns;
use crate::OpId;
use oar_kernels::{FloatActivation, PackedPointwise, PwOut};
use tract_nnef::internal::*;

/// Largest `C·kh·kw` (GEMM depth) `lower_float` gives this op: beyond, tract's im2col and
/// packing pay off.
pub const CONV_MAX_DEPTH: usize = 32;

/// Convolution `kernel` = `[kh, kw]`, `stride` = `[sh, sw]`, padding `[t, l, b, r]`, group 1, with a
/// fused activation. Inputs: `x` (f32 NCHW, or CHW), `weights` (f32, `[Co][C][kh][kw]`), `bias`
/// (f32, `[Co]`). Output: f32 `[N][Co][oh][ow]` (or `[Co][oh][ow]`). The weights are packed when the
/// model is optimised (`codegen`), not serialised packed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvF32 {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 4],
    pub activation: FloatActivation,
    packed: Option<Arc<PackedPointwise>>,
}

impl Eq for ConvF32 {}

/// Output pixels per im2col tile (a multiple of the micro-kernels' widths).
const TILE: usize = 256;

impl ConvF32 {
    pub fn new(kernel: [usize; 2], stride: [usize; 2], pad: [usize; 4], activation: FloatActivation) -> ConvF32 {
        ConvF32 { kernel, stride, pad, activation, packed: None }
    }

    pub fn op_id(&self) -> OpId {
        crate::CONV_F32
    }

    pub fn is_packed(&self) -> bool {
        self.packed.is_some()
    }

    fn out_hw<D: DimLike>(&self, h: &D, w: &D) -> (D, D) {
        let ([kh, kw], [sh, sw], [t, l, b, r]) = (self.kernel, self.stride, self.pad);
        ((h.clone() + (t + b) - kh) / sh + 1usize, (w.clone() + (l + r) - kw) / sw + 1usize)
    }

    /// Writes the im2col tile of output pixels `[p0, p0 + n)`: row `(c, ky, kx)` holds
    /// `x[c][oy·sh + ky − t][ox·sw + kx − l]` (0 in the padding), `n` values per row.
    #[allow(clippy::too_many_arguments)]
    fn im2col(&self, x: &[f32], c: usize, h: usize, w: usize, ow: usize, p0: usize, n: usize, tile: &mut [f32]) {
        let ([kh, kw], [sh, sw], [t, l, _, _]) = (self.kernel, self.stride, self.pad);
        let mut row = 0;
        for ch in 0..c {
            let plane = &x[ch * h * w..(ch + 1) * h * w];
            for ky in 0..kh {
                for kx in 0..kw {
                    let dst = &mut tile[row * n..(row + 1) * n];
                    row += 1;
                    let mut j = 0;
                    while j < n {
                        let (oy, ox0) = ((p0 + j) / ow, (p0 + j) % ow);
                        let run = (ow - ox0).min(n - j);
                        let seg = &mut dst[j..j + run];
                        j += run;
                        let iy = (oy * sh + ky) as isize - t as isize;
                        if iy < 0 || iy >= h as isize {
                            seg.fill(0.0);
                            continue;
                        }
                        let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                        for (k, d) in seg.iter_mut().enumerate() {
                            let ix = ((ox0 + k) * sw + kx) as isize - l as isize;
                            *d = if ix >= 0 && (ix as usize) < w { src[ix as usize] } else { 0.0 };
                        }
                    }
                }
            }
        }
    }
}

impl Op for ConvF32 {
    fn name(&self) -> StaticName {
        self.op_id().name.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}x{} s{:?} pad {:?} {:?}{}",
            self.kernel[0],
            self.kernel[1],
            self.stride,
            self.pad,
            self.activation,
            if self.is_packed() { " packed" } else { "" }
        )])
    }

    op_as_typed_op!();
}

fn pack(w: &Tensor, bias: &Tensor) -> TractResult<PackedPointwise> {
    let (w, b) = (w.cast_to::<f32>()?, bias.cast_to::<f32>()?);
    let co = w.shape()[0];
    let depth = w.len() / co.max(1);
    oar_kernels::pack_pointwise_f32(w.try_as_plain_ram()?.as_slice::<f32>()?, b.try_as_plain_ram()?.as_slice::<f32>()?, co, depth)
        .map_err(|e| format_err!("oar conv_f32: {e}"))
}

impl EvalOp for ConvF32 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, w, bias) = args_3!(inputs);
        let r = x.rank();
        ensure!(r == 3 || r == 4, "oar conv_f32: NCHW or CHW input expected, got shape {:?}", x.shape());
        ensure!(x.datum_type() == f32::datum_type(), "oar conv_f32: f32 input expected, got {:?}", x.datum_type());
        let n = if r == 4 { x.shape()[0] } else { 1 };
        let (c, h, wd) = (x.shape()[r - 3], x.shape()[r - 2], x.shape()[r - 1]);
        let ([kh, kw], co) = (self.kernel, bias.len());
        ensure!(w.len() == co * c * kh * kw, "oar conv_f32: {} weights for {c} -> {co} channels of {kh}x{kw}", w.len());
        ensure!(h + self.pad[0] + self.pad[2] >= kh && wd + self.pad[1] + self.pad[3] >= kw,
            "oar conv_f32: input {h}x{wd} padded by {:?} is smaller than the {kh}x{kw} kernel", self.pad);
        let fresh;
        let packed: &PackedPointwise = match &self.packed {
            Some(p) if p.inputs() == c * kh * kw && p.outputs() == co => p,
            _ => {
                fresh = pack(&w, &bias)?;
                &fresh
            }
        };
        let depth = c * kh * kw;
        let (oh, ow) = self.out_hw(&h, &wd);
        let px = oh * ow;
        let xs = x.try_as_plain_ram()?.as_slice::<f32>()?;
        let out_shape: TVec<usize> = if r == 4 { tvec![n, co, oh, ow] } else { tvec![co, oh, ow] };
        // SAFETY: f32 has no invalid bit patterns, and the kernel below writes every value before the tensor is read.
        let mut out = unsafe { Tensor::uninitialized::<f32>(&out_shape)? };
        // SAFETY: a fresh f32 tensor; every value is written by the kernel below.
        let outs = unsafe { out.as_slice_mut_unchecked::<f32>() };
        let pool = Pool::current();
        let tiles = px.div_ceil(TILE);
        let parts = pool.parts(co * depth * px, tiles);
        let chunk = tiles.div_ceil(parts) * TILE;
        let act = self.activation;
        for (b, dst) in outs.chunks_mut(co * px).enumerate() {
            let xb = &xs[b * c * h * wd..(b + 1) * c * h * wd];
            let pieces = split_columns(PwOut::new(dst, co, px).map_err(|e| format_err!("oar conv_f32: {e}"))?, chunk);
            let run = |mut o: PwOut| -> TractResult<()> {
                let mut tile = vec![0f32; depth * TILE];
                while !o.columns().is_empty() {
                    let cols = o.columns();
                    let (head, tail) = o.split_at(TILE);
                    let n = head.columns().len();
                    self.im2col(xb, c, h, wd, ow, cols.start, n, &mut tile[..depth * n]);
                    oar_kernels::Kernels::global()
                        .pointwise_conv_f32_cols(packed, &tile[..depth * n], n, act, head)
                        .map_err(|e| format_err!("oar conv_f32: {e}"))?;
                    o = tail;
                }
                Ok(())
            };
            pool.run(pieces, run)?;
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for ConvF32 {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 3, "oar conv_f32 takes x, weights, bias");
        let (x, w) = (inputs[0], inputs[1]);
        let r = x.rank();
        ensure!(r == 3 || r == 4, "oar conv_f32: NCHW or CHW input expected, got {x:?}");
        ensure!(x.datum_type == f32::datum_type(), "oar conv_f32: f32 input expected, got {x:?}");
        ensure!(self.kernel.iter().chain(&self.stride).all(|&v| v >= 1), "oar conv_f32: kernel and stride must be >= 1");
        ensure!(w.rank() == 4 && w.shape[1] == x.shape[r - 3], "oar conv_f32: weights {w:?} do not fit the input {x:?}");
        let (oh, ow) = self.out_hw(&x.shape[r - 2], &x.shape[r - 1]);
        let mut shape: TVec<TDim> = x.shape.iter().take(r - 3).cloned().collect();
        shape.extend([w.shape[0].clone(), oh, ow]);
        Ok(tvec!(f32::fact(&shape)))
    }

    /// Packs the weights for this process's kernel table once.
    fn codegen(&self, model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
        if self.packed.is_some() {
            return Ok(None);
        }
        let konst = |i: usize| model.outlet_fact(node.inputs[i]).ok().and_then(|f| f.konst.clone());
        let (Some(w), Some(b)) = (konst(1), konst(2)) else { return Ok(None) };
        let op = ConvF32 { packed: Some(Arc::new(pack(&w, &b)?)), ..self.clone() };
        Ok(Some(TypedModelPatch::replace_single_op(model, node, &node.inputs, op)?))
    }
}
