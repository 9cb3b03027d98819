//! oar plans: one versioned, checksummed file holding a tract NNEF graph and the manifest the device
//! needs to use it (input spec, post-processing, labels, quantization, accuracy).
//!
//! The reading side uses tract-nnef only; no ONNX parser is needed on the device.

mod engine;
mod file;
pub mod manifest;
pub mod npy;

pub use engine::{accept_input, decode_model, integer_layers, model_stats, nnef, set_threads, Engine, ModelStats, NodeTime, ThreadChoice, Threads};
pub use file::{join_labels, plan_bytes, sha256_hex, split_labels, write_plan, Plan, LABELS_ENTRY, MANIFEST_ENTRY, MAX_PLAN_BYTES, MODEL_ENTRY};
pub use manifest::*;
/// The thread-splitting thresholds of oar's ops and tract's (for measuring them: `oar bench`).
pub use oar_ops::{set_split_threshold, set_tract_split_elements, DEFAULT_SPLIT_MACS, TRACT_SPLIT_ELEMENTS};
/// tract, as the plan was built against (so that users need not pin it separately).
pub use tract_nnef::prelude as tract;

use std::path::PathBuf;
use tract::DatumType;

/// The plan type of a tract type (quantized types as their storage type; `None` for the types a
/// plan does not describe: strings, blobs, shapes as symbols, complex numbers).
pub fn dtype_of(t: DatumType) -> Option<DType> {
    Some(match t.unquantized() {
        DatumType::F32 => DType::F32,
        DatumType::F64 => DType::F64,
        DatumType::F16 => DType::F16,
        DatumType::I8 => DType::I8,
        DatumType::U8 => DType::U8,
        DatumType::I16 => DType::I16,
        DatumType::U16 => DType::U16,
        DatumType::I32 => DType::I32,
        DatumType::U32 => DType::U32,
        DatumType::I64 | DatumType::TDim => DType::I64,
        DatumType::U64 => DType::U64,
        DatumType::Bool => DType::Bool,
        _ => return None,
    })
}

/// The tract type of a plan type.
pub fn datum_type(t: DType) -> DatumType {
    match t {
        DType::F32 => DatumType::F32,
        DType::F64 => DatumType::F64,
        DType::F16 => DatumType::F16,
        DType::I8 => DatumType::I8,
        DType::U8 => DatumType::U8,
        DType::I16 => DatumType::I16,
        DType::U16 => DatumType::U16,
        DType::I32 => DatumType::I32,
        DType::U32 => DatumType::U32,
        DType::I64 => DatumType::I64,
        DType::U64 => DatumType::U64,
        DType::Bool => DatumType::Bool,
    }
}

/// Everything that can go wrong with a plan, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not an oar plan: {reason}")]
    NotAPlan { path: PathBuf, reason: String },
    #[error("{path}: plan format {found}, this runtime reads {min}–{max}: rebuild the plan with this oar (`oar compile`) or use a runtime that reads format {found}")]
    Version { path: PathBuf, found: u32, min: u32, max: u32 },
    #[error("{path}: bad manifest: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("{path}: entry `{entry}` is missing")]
    MissingEntry { path: PathBuf, entry: String },
    #[error("{path}: entry `{entry}` is corrupt: sha256 {actual}, the manifest says {expected}")]
    Checksum { path: PathBuf, entry: String, expected: String, actual: String },
    #[error("{path}: the plan needs op `{op}@{version}`, which this runtime (oar {runtime}) does not have; it is in oar {since} and later: update the runtime, or compile the plan without oar ops")]
    MissingOp { path: PathBuf, op: String, version: u32, since: String, runtime: String },
    #[error("{path}: cannot load the model: {message}")]
    Model { path: PathBuf, message: String },
    #[error("{path}: inference failed: {message}")]
    Run { path: PathBuf, message: String },
}

#[cfg(test)]
mod tests;
