//! ONNX `DeformConv` (opset 19: deformable convolution v2, PP-YOLO's and TTFNet's DCN as
//! paddle2onnx exports them), which tract-onnx 0.23 does not parse: a parser on the loader's op
//! register whose expansion wires oar's [`oar_ops::DeformConv`] (`oar_deform_conv_v1` in plans).

use oar_ops::DeformConv;
use tract_onnx::model::{optional_inputs, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// Adds the `DeformConv` parser to `onnx`.
pub fn register(onnx: &mut tract_onnx::Onnx) {
    onnx.op_register.insert("DeformConv", parse);
}

fn parse(_ctx: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let name = &node.name;
    let pair = |attr: &str| -> TractResult<Option<[usize; 2]>> {
        let Some(v) = node.get_attr_opt_tvec::<isize>(attr)? else { return Ok(None) };
        ensure!(v.len() == 2 && v.iter().all(|&d| d >= 0), "DeformConv {name}: {attr} {v:?}: oar supports 2-D deformable convs only");
        Ok(Some([v[0] as usize, v[1] as usize]))
    };
    let kernel = pair("kernel_shape")?;
    let stride = pair("strides")?.unwrap_or([1, 1]);
    let dilation = pair("dilations")?.unwrap_or([1, 1]);
    let pad = match node.get_attr_opt_tvec::<isize>("pads")? {
        None => [0; 4],
        Some(p) => {
            ensure!(p.len() == 4 && p.iter().all(|&d| d >= 0), "DeformConv {name}: pads {p:?}: 4 non-negative values expected (2-D)");
            [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
        }
    };
    let group = node.get_attr_opt::<i64>("group")?.unwrap_or(1);
    let offset_group = node.get_attr_opt::<i64>("offset_group")?.unwrap_or(1);
    ensure!(group >= 1 && offset_group >= 1, "DeformConv {name}: group {group} and offset_group {offset_group} must be positive");
    ensure!(node.input.iter().take(3).all(|i| !i.is_empty()), "DeformConv {name}: X, W and offset are required");
    let mut opt = optional_inputs(node).skip(3);
    let (bias, mask) = (opt.next().flatten(), opt.next().flatten());
    let op = Expansion {
        kernel,
        stride,
        dilation,
        pad,
        group: group as usize,
        offset_group: offset_group as usize,
        bias,
        mask,
    };
    Ok((expand(op), vec![]))
}

/// The parsed node: attributes, and where its optional inputs are among its inputs.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Expansion {
    /// `kernel_shape` if the node has it (else W's spatial dims).
    kernel: Option<[usize; 2]>,
    stride: [usize; 2],
    dilation: [usize; 2],
    pad: [usize; 4],
    group: usize,
    offset_group: usize,
    bias: Option<usize>,
    mask: Option<usize>,
}

impl Expansion {
    fn arity(&self) -> usize {
        3 + self.bias.is_some() as usize + self.mask.is_some() as usize
    }

    fn op(&self, kernel: [usize; 2]) -> DeformConv {
        DeformConv {
            kernel,
            stride: self.stride,
            dilation: self.dilation,
            pad: self.pad,
            group: self.group,
            offset_group: self.offset_group,
            mask: self.mask.is_some(),
        }
    }
}

impl tract_onnx::tract_hir::ops::expandable::Expansion for Expansion {
    fn name(&self) -> StaticName {
        "DeformConv".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(&'s self, s: &mut Solver<'r>, inputs: &'p [TensorProxy], outputs: &'p [TensorProxy]) -> InferenceResult {
        check_input_arity(inputs, self.arity())?;
        check_output_arity(outputs, 1)?;
        for input in inputs {
            s.equals(&input.datum_type, &inputs[0].datum_type)?;
        }
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&inputs[0].rank, 4)?;
        s.equals(&inputs[1].rank, 4)?;
        s.equals(&inputs[2].rank, 4)?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], &inputs[1].shape[0])?;
        if let Some(b) = self.bias {
            s.equals(&inputs[b].rank, 1)?;
            s.equals(&inputs[b].shape[0], &inputs[1].shape[0])?;
        }
        s.given_2(&inputs[1].shape[2], &inputs[1].shape[3], move |s, kh, kw| {
            let (Ok(kh), Ok(kw)) = (kh.to_usize(), kw.to_usize()) else { return Ok(()) };
            if kh == 0 || kw == 0 {
                return Ok(()); // refused by the op when wired
            }
            let op = self.op(self.kernel.unwrap_or([kh, kw]));
            s.given_2(&inputs[0].shape[2], &inputs[0].shape[3], move |s, h, w| {
                let (oh, ow) = op.output_hw(&h, &w);
                s.equals(&outputs[0].shape[2], oh)?;
                s.equals(&outputs[0].shape[3], ow)
            })
        })
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let (x, w) = (model.outlet_fact(inputs[0])?.clone(), model.outlet_fact(inputs[1])?.clone());
        ensure!(x.datum_type == f32::datum_type(), "DeformConv {prefix}: oar runs f32 deformable convs only, got {:?}", x.datum_type);
        let ws = w.shape.as_concrete().ok_or_else(|| format_err!("DeformConv {prefix}: weights of unknown shape {:?}", w.shape))?;
        let kernel = [ws[2], ws[3]];
        if let Some(k) = self.kernel {
            ensure!(k == kernel, "DeformConv {prefix}: kernel_shape {k:?} but weights of shape {ws:?}");
        }
        let bias = match self.bias {
            Some(b) => inputs[b],
            None => model.add_const(format!("{prefix}.zero_bias"), Tensor::zero::<f32>(&[ws[0]])?)?,
        };
        let mut wires = tvec![inputs[0], inputs[1], inputs[2], bias];
        if let Some(m) = self.mask {
            wires.push(inputs[m]);
        }
        model.wire_node(prefix, self.op(kernel), &wires).with_context(|| format!("DeformConv {prefix}"))
    }
}

#[cfg(test)]
mod tests {
    use oar_plan::tract::*;
    use std::path::Path;
    use tract_onnx::prelude::{Framework, InferenceFact, InferenceModelExt};

    fn data(name: &str) -> std::path::PathBuf {
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../tests/data/zoo").join(name)
    }

    /// A little-endian f32 .npy (version 1, C order), as numpy writes it.
    fn npy(name: &str) -> Tensor {
        let bytes = std::fs::read(data(name)).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
        assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), "{header}");
        let dims = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
        let shape: Vec<usize> = dims.split(',').filter(|d| !d.trim().is_empty()).map(|d| d.trim().parse().unwrap()).collect();
        let values: Vec<f32> = bytes[10 + len..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Tensor::from_shape(&shape, &values).unwrap()
    }

    fn assert_close(got: &Tensor, want: &Tensor, label: &str) {
        assert_eq!(got.shape(), want.shape(), "{label}");
        let err = crate::max_abs_diff(got, want).unwrap();
        assert!(err <= 1e-5, "{label}: max abs error {err} vs onnxruntime");
    }

    /// Two DeformConvs as paddle2onnx writes them (offsets and a sigmoid mask from convs of the
    /// input; 3x3, pad 1) then one with neither bias nor mask, stride 2, uneven pads, 2 groups;
    /// offsets up to ±9 px. tract's own loader cannot read it; the compiler's runs it as
    /// onnxruntime 1.32 does (tools/zoo_fixtures.py wrote the graph and the goldens), before and
    /// after tract optimises it and through the plan's NNEF.
    #[test]
    fn deform_convs_match_onnxruntime() {
        let x = npy("deform_conv_input.npy");
        let want = [npy("deform_conv_output_0.npy"), npy("deform_conv_output_1.npy")];
        let proto = tract_onnx::onnx().proto_model_for_path(data("deform_conv.onnx")).unwrap();
        let err = tract_onnx::onnx()
            .model_for_proto_model(&proto)
            .and_then(|m| m.with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), x.shape())))
            .and_then(|m| m.into_typed());
        assert!(format!("{:#}", err.unwrap_err()).contains("DeformConv"));

        let typed = crate::onnx_loader()
            .model_for_proto_model(&proto)
            .unwrap()
            .with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), x.shape()))
            .unwrap()
            .into_typed()
            .unwrap()
            .into_decluttered()
            .unwrap();
        let ops: Vec<&oar_ops::DeformConv> = typed.nodes().iter().filter_map(|n| n.op_as::<oar_ops::DeformConv>()).collect();
        assert_eq!(ops.len(), 2);
        assert!(ops[0].mask && !ops[1].mask);
        assert_eq!((ops[1].stride, ops[1].pad, ops[1].group), ([2, 2], [1, 0, 1, 1], 2));
        assert_eq!(oar_ops::required_ops(&typed), [oar_ops::DEFORM_CONV]);

        let nnef = oar_plan::nnef().write_to_tar_with_config(&typed, Vec::new(), false, true).unwrap();
        let plan = oar_plan::nnef().model_for_read(&mut std::io::Cursor::new(nnef)).unwrap();
        for (label, m) in [("decluttered", typed.clone()), ("optimised", typed.into_optimized().unwrap()), ("plan", plan.into_optimized().unwrap())] {
            let got = m.into_runnable().unwrap().run(tvec!(x.clone().into_tvalue())).unwrap();
            assert_eq!(got.len(), 2);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_close(g, w, &format!("{label}, output {i}"));
            }
        }
    }

    #[test]
    fn unsupported_deform_convs_are_refused_by_name() {
        let mut proto = tract_onnx::onnx().proto_model_for_path(data("deform_conv.onnx")).unwrap();
        let node = proto.graph.as_mut().unwrap().node.iter_mut().find(|n| n.op_type == "DeformConv").unwrap();
        node.name = "dcn_3d".into();
        node.attribute.iter_mut().find(|a| a.name == "pads").unwrap().ints = vec![1, 1, 1, 1, 1, 1];
        let err = crate::onnx_loader().model_for_proto_model(&proto).unwrap_err();
        assert!(format!("{err:#}").contains("dcn_3d"), "{err:#}");
    }
}
