//! What a model takes: an image (pre-processed as an [`InputSpec`] says) or tensors the caller
//! makes (token ids, masks, audio features), each pinned to the facts the compiler gives tract.

use crate::CompileError;
use oar_plan::tract::*;
use oar_plan::{DType, Dim, InputSpec, TensorSpec};
use std::path::Path;
use tract_onnx::pb::{tensor_shape_proto::dimension, type_proto, ModelProto};

/// The inputs of a model to compile.
#[derive(Debug, Clone)]
pub enum ModelInput {
    /// One f32 image tensor, made from an image as the spec says.
    Image(InputSpec),
    /// Tensors, in the model's input order: fixed dimensions are pinned, named ones (`seq`) stay
    /// symbolic in the plan. `check` holds inputs for the compile-time check (one per spec); empty:
    /// seeded ones, each named dimension at [`CHECK_DIM`].
    Tensors { specs: Vec<TensorSpec>, check: Vec<Tensor> },
}

/// The size a named dimension has in the compile-time check when no check input is given:
/// deliberately not a round number.
pub const CHECK_DIM: usize = 7;

impl ModelInput {
    /// The image spec, or an error naming `path`: the caller (int8 calibration, pruning, the
    /// vision tasks) needs images.
    pub fn image(&self, path: &Path) -> Result<&InputSpec, CompileError> {
        match self {
            ModelInput::Image(spec) => Ok(spec),
            ModelInput::Tensors { specs, .. } => Err(CompileError::Model {
                path: path.to_path_buf(),
                message: format!(
                    "this needs an image model; the model takes tensors ({})",
                    specs.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("; ")
                ),
            }),
        }
    }
}

/// The inputs an ONNX file declares (initialisers left out), with ONNX's own types and shapes:
/// `dim_param` names become named dimensions (made identifiers: `p2o.DynamicDimension.0` →
/// `p2o_DynamicDimension_0`), unknown or negative ones `d{input}_{axis}`.
pub fn declared_inputs(proto: &ModelProto, path: &Path) -> Result<Vec<TensorSpec>, CompileError> {
    let err = |message: String| CompileError::Model { path: path.to_path_buf(), message };
    let graph = proto.graph.as_ref().ok_or_else(|| err("the ONNX file has no graph".into()))?;
    let initialisers: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    graph
        .input
        .iter()
        .filter(|i| !initialisers.contains(i.name.as_str()))
        .enumerate()
        .map(|(k, i)| {
            let Some(type_proto::Value::TensorType(t)) = i.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
                return Err(err(format!("input `{}` is not a tensor", i.name)));
            };
            let dtype = onnx_dtype(t.elem_type)
                .ok_or_else(|| err(format!("input `{}` has ONNX element type {}, which oar plans do not take", i.name, t.elem_type)))?;
            let dims = t.shape.as_ref().map(|s| &s.dim[..]).unwrap_or(&[]);
            let shape = dims
                .iter()
                .enumerate()
                .map(|(axis, d)| match &d.value {
                    Some(dimension::Value::DimValue(v)) if *v >= 0 => Dim::Fixed(*v as u64),
                    Some(dimension::Value::DimParam(p)) if !p.is_empty() => Dim::Symbol(identifier(p)),
                    _ => Dim::Symbol(format!("d{k}_{axis}")),
                })
                .collect();
            Ok(TensorSpec::new(&i.name, dtype, shape))
        })
        .collect()
}

/// Writes the specs' dimensions into the ONNX file's declared inputs (a number, or the symbol's
/// name): tract makes symbols of the declared names as it loads the graph, and a name left there
/// (`DynamicDimension.1` for a length the specs call `DynamicDimension_0`) survives in the facts of
/// nodes computed from it, although the input is pinned afterwards.
pub(crate) fn declare(proto: &mut ModelProto, specs: &[TensorSpec]) {
    use tract_onnx::pb::tensor_shape_proto::Dimension;
    let Some(graph) = proto.graph.as_mut() else { return };
    let initialisers: std::collections::HashSet<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let inputs = graph.input.iter_mut().filter(|i| !initialisers.contains(&i.name));
    for (i, spec) in inputs.zip(specs) {
        let Some(type_proto::Value::TensorType(t)) = i.r#type.as_mut().and_then(|t| t.value.as_mut()) else { continue };
        let dims = spec
            .shape
            .iter()
            .map(|d| Dimension {
                denotation: String::new(),
                value: Some(match d {
                    Dim::Fixed(n) => dimension::Value::DimValue(*n as i64),
                    Dim::Symbol(s) => dimension::Value::DimParam(s.clone()),
                }),
            })
            .collect();
        t.shape = Some(tract_onnx::pb::TensorShapeProto { dim: dims });
    }
}

/// ONNX `TensorProto.DataType` codes.
fn onnx_dtype(code: i32) -> Option<DType> {
    Some(match code {
        1 => DType::F32,
        2 => DType::U8,
        3 => DType::I8,
        4 => DType::U16,
        5 => DType::I16,
        6 => DType::I32,
        7 => DType::I64,
        9 => DType::Bool,
        10 => DType::F16,
        11 => DType::F64,
        12 => DType::U32,
        13 => DType::U64,
        _ => return None,
    })
}

fn identifier(name: &str) -> String {
    let mut s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, '_');
    }
    s.truncate(64);
    s
}

/// The tract fact a spec pins: its type, fixed dims as numbers, named ones as symbols of `symbols`.
pub(crate) fn fact(spec: &TensorSpec, symbols: &SymbolScope) -> Vec<TDim> {
    spec.shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => TDim::from(*n as i64),
            Dim::Symbol(s) => {
                // Sizes are positive: tract simplifies more when it knows.
                let _ = symbols.add_assertion(&format!("{s} >= 1"));
                symbols.sym(s).into()
            }
        })
        .collect()
}

/// Seeded inputs for the specs: each named dimension at [`CHECK_DIM`]; floats in [-1, 1], integers
/// 0 and 1 in turn (valid ids for any vocabulary, and for masks), booleans true.
pub fn seeded_inputs(specs: &[TensorSpec], seed: u64) -> Result<Vec<Tensor>, String> {
    specs
        .iter()
        .enumerate()
        .map(|(k, spec)| {
            let shape: Vec<usize> =
                spec.shape.iter().map(|d| if let Dim::Fixed(n) = d { *n as usize } else { CHECK_DIM }).collect();
            let x = crate::seeded_input(&shape, seed + k as u64);
            let t = match spec.dtype {
                DType::F32 => x,
                DType::Bool => {
                    let n = x.len();
                    Tensor::from_shape(&shape, &vec![true; n]).map_err(|e| e.to_string())?
                }
                d @ (DType::F64 | DType::F16) => x.cast_to_dt(oar_plan::datum_type(d)).map_err(|e| e.to_string())?.into_owned(),
                d => {
                    let n = x.len();
                    let ids: Vec<i64> = (0..n as i64).map(|i| i % 2).collect();
                    Tensor::from_shape(&shape, &ids)
                        .and_then(|t| t.cast_to_dt(oar_plan::datum_type(d)).map(|c| c.into_owned()))
                        .map_err(|e| e.to_string())?
                }
            };
            Ok(t)
        })
        .collect()
}
