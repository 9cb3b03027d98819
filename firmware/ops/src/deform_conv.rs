//! `DeformConv`: ONNX's deformable convolution (v2, with the optional modulation mask), f32.
//!
//! Every output position samples the input at the kernel taps moved by learned offsets (bilinear,
//! zero outside the image, as ONNX and torchvision define it), scaled by the mask: a "deformable
//! im2col" column buffer, then a matrix product with the weights, plus the bias.
//!
//! [`DeformConv`] is what a plan stores (`oar_deform_conv_v1` in NNEF). Its own `eval` runs the
//! columns and a plain loop product; when tract optimises the plan (on the device), `codegen`
//! splits it into [`DeformIm2Col`] (the sampling, oar's) and tract's `EinSum` + bias `Add`, so the
//! product runs on tract's matrix kernels.

use crate::OpId;
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::einsum::EinSum;
use tract_nnef::tract_core::ops::math::add;

/// Deformable 2-D convolution. Inputs: `x` f32 `[N][C][H][W]`; `weights` `[oC][C/group][kH][kW]`;
/// `offset` `[N][offset_group·2·kH·kW][oH][oW]` (pairs (dy, dx) per tap, taps row-major);
/// `bias` `[oC]`; optionally `mask` `[N][offset_group·kH·kW][oH][oW]` (all ones when absent).
/// Output: f32 `[N][oC][oH][oW]`, `oH = (H + pad_t + pad_b − (dil_h·(kH−1) + 1)) / stride_h + 1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeformConv {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// `[top, left, bottom, right]` (ONNX `pads` order).
    pub pad: [usize; 4],
    pub group: usize,
    pub offset_group: usize,
    /// Whether the op has its fifth input, the mask.
    pub mask: bool,
}

impl DeformConv {
    pub fn op_id(&self) -> OpId {
        crate::DEFORM_CONV
    }

    fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    /// Output height and width for an input of `h`×`w` (the dilated kernel must fit in the padded
    /// input: checked by the op before it computes this for concrete sizes).
    pub fn output_hw<D: DimLike>(&self, h: &D, w: &D) -> (D, D) {
        let ext = |k: usize, d: usize| d * k.saturating_sub(1) + 1;
        let [t, l, b, r] = self.pad;
        (
            (h.clone() + (t + b) - ext(self.kernel[0], self.dilation[0])) / self.stride[0] + 1usize,
            (w.clone() + (l + r) - ext(self.kernel[1], self.dilation[1])) / self.stride[1] + 1usize,
        )
    }

    fn check(&self) -> TractResult<()> {
        ensure!(
            self.kernel.iter().chain(&self.stride).chain(&self.dilation).all(|&v| v >= 1) && self.group >= 1 && self.offset_group >= 1,
            "oar deform_conv: kernel, strides, dilations, group and offset_group must be positive, got {self:?}"
        );
        Ok(())
    }

    /// Checks the input shapes (concrete), returns `(N, C, H, W, oC, oH, oW)`.
    fn shapes(&self, inputs: &[&[usize]]) -> TractResult<[usize; 7]> {
        self.check()?;
        ensure!(inputs.len() == 4 + self.mask as usize, "oar deform_conv: {} inputs, expected {}", inputs.len(), 4 + self.mask as usize);
        let (x, w, off, b) = (inputs[0], inputs[1], inputs[2], inputs[3]);
        ensure!(x.len() == 4 && w.len() == 4, "oar deform_conv: 4-D input and weights expected, got {x:?} and {w:?}");
        let (n, c, h, wd) = (x[0], x[1], x[2], x[3]);
        let oc = w[0];
        ensure!(
            w[1] * self.group == c && oc % self.group == 0,
            "oar deform_conv: weights {w:?} do not fit {c} input channels in {} groups",
            self.group
        );
        ensure!(w[2..] == self.kernel, "oar deform_conv: weights {w:?} for a {:?} kernel", self.kernel);
        ensure!(c % self.offset_group == 0, "oar deform_conv: {c} channels in {} offset groups", self.offset_group);
        let dil_k = |k: usize, d: usize| d * (k - 1) + 1;
        ensure!(
            h + self.pad[0] + self.pad[2] >= dil_k(self.kernel[0], self.dilation[0])
                && wd + self.pad[1] + self.pad[3] >= dil_k(self.kernel[1], self.dilation[1]),
            "oar deform_conv: input {h}x{wd} padded by {:?} is smaller than the dilated kernel",
            self.pad
        );
        let (oh, ow) = self.output_hw(&h, &wd);
        let taps = self.taps();
        ensure!(
            off == [n, self.offset_group * 2 * taps, oh, ow],
            "oar deform_conv: offset of shape {off:?}, expected {:?}",
            [n, self.offset_group * 2 * taps, oh, ow]
        );
        ensure!(b.iter().product::<usize>() == oc, "oar deform_conv: bias of shape {b:?} for {oc} output channels");
        if self.mask {
            let m = inputs[4];
            ensure!(
                m == [n, self.offset_group * taps, oh, ow],
                "oar deform_conv: mask of shape {m:?}, expected {:?}",
                [n, self.offset_group * taps, oh, ow]
            );
        }
        Ok([n, c, h, wd, oc, oh, ow])
    }

    /// The columns of one image: `cols[(c·kH·kW + tap)·oH·oW + p]` is input channel `c` sampled
    /// at tap `tap` of output position `p`, times the mask. `x` is `[C][H][W]`, `offset` and `mask`
    /// this image's slices.
    #[allow(clippy::too_many_arguments)]
    pub fn im2col(&self, x: &[f32], [c, h, w]: [usize; 3], offset: &[f32], mask: Option<&[f32]>, [oh, ow]: [usize; 2], cols: &mut [f32]) {
        let taps = self.taps();
        let p_len = oh * ow;
        let per_group = c / self.offset_group;
        debug_assert_eq!(cols.len(), c * taps * p_len);
        // Per position: the four corners' indices and weights (mask folded in), shared by the
        // channels of an offset group. A corner outside the image has weight 0 (index 0).
        let mut idx = vec![[0u32; 4]; p_len];
        let mut wt = vec![[0f32; 4]; p_len];
        for g in 0..self.offset_group {
            for tap in 0..taps {
                let (ki, kj) = (tap / self.kernel[1], tap % self.kernel[1]);
                let dy = &offset[(g * 2 * taps + 2 * tap) * p_len..][..p_len];
                let dx = &offset[(g * 2 * taps + 2 * tap + 1) * p_len..][..p_len];
                let m = mask.map(|m| &m[(g * taps + tap) * p_len..][..p_len]);
                for p in 0..p_len {
                    let (oy, ox) = (p / ow, p % ow);
                    let y = (oy * self.stride[0] + ki * self.dilation[0]) as f32 - self.pad[0] as f32 + dy[p];
                    let xx = (ox * self.stride[1] + kj * self.dilation[1]) as f32 - self.pad[1] as f32 + dx[p];
                    let scale = m.map_or(1.0, |m| m[p]);
                    (idx[p], wt[p]) = bilinear_taps(y, xx, h, w, scale);
                }
                for ch in g * per_group..(g + 1) * per_group {
                    let plane = &x[ch * h * w..][..h * w];
                    let row = &mut cols[(ch * taps + tap) * p_len..][..p_len];
                    for ((dst, i), k) in row.iter_mut().zip(&idx).zip(&wt) {
                        *dst = k[0] * plane[i[0] as usize]
                            + k[1] * plane[i[1] as usize]
                            + k[2] * plane[i[2] as usize]
                            + k[3] * plane[i[3] as usize];
                    }
                }
            }
        }
    }
}

/// The corners of a bilinear sample at `(y, x)` in an `h`×`w` plane and their weights times
/// `scale`: zero outside the image (each corner on its own), as ONNX / torchvision sample.
fn bilinear_taps(y: f32, x: f32, h: usize, w: usize, scale: f32) -> ([u32; 4], [f32; 4]) {
    if !(y > -1.0 && x > -1.0 && y < h as f32 && x < w as f32) {
        return ([0; 4], [0.0; 4]);
    }
    let (y0, x0) = (y.floor(), x.floor());
    let (ly, lx) = (y - y0, x - x0);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    let (y0, x0) = (y0 as isize, x0 as isize);
    let corner = |yy: isize, xx: isize, k: f32| -> (u32, f32) {
        if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
            ((yy as usize * w + xx as usize) as u32, k * scale)
        } else {
            (0, 0.0)
        }
    };
    let c = [corner(y0, x0, hy * hx), corner(y0, x0 + 1, hy * lx), corner(y0 + 1, x0, ly * hx), corner(y0 + 1, x0 + 1, ly * lx)];
    (c.map(|c| c.0), c.map(|c| c.1))
}

fn f32_slice(t: &TValue) -> TractResult<&[f32]> {
    t.try_as_plain_ram()?.as_slice::<f32>()
}

impl Op for DeformConv {
    fn name(&self) -> StaticName {
        self.op_id().name.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}x{} stride {:?} dilation {:?} pad {:?} group {} offset_group {}{}",
            self.kernel[0],
            self.kernel[1],
            self.stride,
            self.dilation,
            self.pad,
            self.group,
            self.offset_group,
            if self.mask { " masked" } else { "" }
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for DeformConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        for (i, t) in inputs.iter().enumerate() {
            ensure!(t.datum_type() == f32::datum_type(), "oar deform_conv: input {i} is {:?}, f32 expected", t.datum_type());
        }
        let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
        let [n, c, h, w, oc, oh, ow] = self.shapes(&shapes)?;
        let (x, wts, off, bias) = (f32_slice(&inputs[0])?, f32_slice(&inputs[1])?, f32_slice(&inputs[2])?, f32_slice(&inputs[3])?);
        let mask = if self.mask { Some(f32_slice(&inputs[4])?) } else { None };
        let (taps, p_len) = (self.taps(), oh * ow);
        let (off_len, mask_len) = (self.offset_group * 2 * taps * p_len, self.offset_group * taps * p_len);
        let (kg, ocg) = (c / self.group * taps, oc / self.group);
        let mut cols = vec![0f32; c * taps * p_len];
        let mut out = vec![0f32; n * oc * p_len];
        for b in 0..n {
            let m = mask.map(|m| &m[b * mask_len..][..mask_len]);
            self.im2col(&x[b * c * h * w..][..c * h * w], [c, h, w], &off[b * off_len..][..off_len], m, [oh, ow], &mut cols);
            // out[o][p] = bias[o] + Σ_k weights[o][k] · cols[g·kg + k][p], one output row at a time
            // (the reference path: optimised plans use tract's matmul, see `codegen`).
            let y = &mut out[b * oc * p_len..][..oc * p_len];
            for (o, row) in y.chunks_mut(p_len).enumerate() {
                row.fill(bias[o]);
                let g = o / ocg;
                let wrow = &wts[o * kg..][..kg];
                for (k, &a) in wrow.iter().enumerate() {
                    if a == 0.0 {
                        continue;
                    }
                    let col = &cols[(g * kg + k) * p_len..][..p_len];
                    for (d, &v) in row.iter_mut().zip(col) {
                        *d += a * v;
                    }
                }
            }
        }
        Ok(tvec!(Tensor::from_shape(&[n, oc, oh, ow], &out)?.into_tvalue()))
    }
}

impl TypedOp for DeformConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.check()?;
        ensure!(inputs.len() == 4 + self.mask as usize, "oar deform_conv: {} inputs, expected {}", inputs.len(), 4 + self.mask as usize);
        ensure!(inputs.iter().all(|f| f.datum_type == f32::datum_type()), "oar deform_conv: f32 inputs expected, got {inputs:?}");
        let (x, w) = (inputs[0], inputs[1]);
        ensure!(x.rank() == 4 && w.rank() == 4, "oar deform_conv: 4-D input and weights expected, got {x:?} and {w:?}");
        // Concrete shapes are checked in full; symbolic ones only give the output shape.
        if let Some(shapes) = inputs.iter().map(|f| f.shape.as_concrete().map(|s| s.to_vec())).collect::<Option<Vec<Vec<usize>>>>() {
            let refs: Vec<&[usize]> = shapes.iter().map(|s| s.as_slice()).collect();
            self.shapes(&refs)?;
        }
        let (oh, ow) = self.output_hw(&x.shape[2], &x.shape[3]);
        Ok(tvec!(f32::fact([x.shape[0].clone(), w.shape[0].clone(), oh, ow])))
    }

    /// Columns by [`DeformIm2Col`], then tract's `EinSum` (its matrix kernels) and the bias.
    fn codegen(&self, model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
        let facts: TVec<&TypedFact> = model.node_input_facts(node.id)?;
        let Some(xs) = facts[0].shape.as_concrete() else { return Ok(None) };
        let Some(ws) = facts[1].shape.as_concrete() else { return Ok(None) };
        let (c, oc) = (xs[1], ws[0]);
        let (oh, ow) = self.output_hw(&xs[2], &xs[3]);
        let (g, taps) = (self.group, self.taps());
        let (kg, ocg, p_len) = (c / g * taps, oc / g, oh * ow);
        let name = &node.name;
        let mut patch = TypedModelPatch::new(format!("{name}: columns and matmul"));
        let ins = patch.taps(model, &node.inputs)?;
        let mut col_inputs = tvec![ins[0], ins[2]];
        if self.mask {
            col_inputs.push(ins[4]);
        }
        let cols = patch.wire_node(format!("{name}.columns"), DeformIm2Col { conv: self.clone() }, &col_inputs)?[0];
        // weights [oC][C/g][kH][kW] → [g][oC/g][kg]
        let mut w = ins[1];
        w = patch.wire_node(format!("{name}.weights_groups"), AxisOp::Reshape(0, tvec![oc.to_dim()], tvec![g.to_dim(), ocg.to_dim()]), &[w])?[0];
        let kdims: TVec<TDim> = ws[1..].iter().map(|d| d.to_dim()).collect();
        w = patch.wire_node(format!("{name}.weights_rows"), AxisOp::Reshape(2, kdims, tvec![kg.to_dim()]), &[w])?[0];
        let axes: AxesMapping = "gok,ngkp->ngop".parse()?;
        let mut y = patch.wire_node(format!("{name}.matmul"), EinSum::new(axes, f32::datum_type()), &[w, cols])?[0];
        y = patch.wire_node(format!("{name}.channels"), AxisOp::Reshape(1, tvec![g.to_dim(), ocg.to_dim()], tvec![oc.to_dim()]), &[y])?[0];
        y = patch.wire_node(format!("{name}.spatial"), AxisOp::Reshape(2, tvec![p_len.to_dim()], tvec![oh.to_dim(), ow.to_dim()]), &[y])?[0];
        // bias [oC] → [1][oC][1][1]
        let bias_shape = model.outlet_fact(node.inputs[3])?.shape.to_tvec();
        let b = patch.wire_node(format!("{name}.bias_shape"), AxisOp::Reshape(0, bias_shape, tvec![1.to_dim(), oc.to_dim(), 1.to_dim(), 1.to_dim()]), &[ins[3]])?[0];
        let out = patch.wire_node(format!("{name}.bias"), add(), &[y, b])?[0];
        patch.shunt_outside(model, node.id.into(), out)?;
        Ok(Some(patch))
    }
}

/// The sampling half of [`DeformConv`] after `codegen`: inputs `x`, `offset`, and `mask` if the
/// conv has one; output the columns `[N][group][C/group·kH·kW][oH·oW]`. Not stored in plans (it
/// only exists in optimised graphs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeformIm2Col {
    pub conv: DeformConv,
}

impl Op for DeformIm2Col {
    fn name(&self) -> StaticName {
        "oar_deform_im2col".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        self.conv.info()
    }

    op_as_typed_op!();
}

impl EvalOp for DeformIm2Col {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, off) = (&inputs[0], &inputs[1]);
        let xs = x.shape();
        ensure!(xs.len() == 4, "oar deform_im2col: 4-D input expected, got {xs:?}");
        let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
        let (oh, ow) = self.conv.output_hw(&h, &w);
        let (taps, p_len) = (self.conv.taps(), oh * ow);
        let (off_len, mask_len) = (self.conv.offset_group * 2 * taps * p_len, self.conv.offset_group * taps * p_len);
        ensure!(off.len() == n * off_len, "oar deform_im2col: offset of shape {:?} for a {oh}x{ow} output", off.shape());
        let (x, off) = (f32_slice(x)?, f32_slice(off)?);
        let mask = if self.conv.mask { Some(f32_slice(&inputs[2])?) } else { None };
        if let Some(m) = mask {
            ensure!(m.len() == n * mask_len, "oar deform_im2col: mask of {} values for a {oh}x{ow} output", m.len());
        }
        let per = c * taps * p_len;
        // SAFETY: f32 has no invalid bit patterns, and im2col below writes every value before the tensor is read.
        let mut out = unsafe { Tensor::uninitialized::<f32>(&[n, self.conv.group, c / self.conv.group * taps, p_len])? };
        // SAFETY: a fresh f32 tensor; im2col writes every value.
        let cols = unsafe { out.as_slice_mut_unchecked::<f32>() };
        for b in 0..n {
            let m = mask.map(|m| &m[b * mask_len..][..mask_len]);
            self.conv.im2col(&x[b * c * h * w..][..c * h * w], [c, h, w], &off[b * off_len..][..off_len], m, [oh, ow], &mut cols[b * per..][..per]);
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for DeformIm2Col {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        ensure!(x.rank() == 4, "oar deform_im2col: 4-D input expected, got {x:?}");
        let (oh, ow) = self.conv.output_hw(&x.shape[2], &x.shape[3]);
        let kg = x.shape[1].clone() / self.conv.group * self.conv.taps();
        Ok(tvec!(f32::fact([x.shape[0].clone(), self.conv.group.to_dim(), kg, oh * ow])))
    }
}
