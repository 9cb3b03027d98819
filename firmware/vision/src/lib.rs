//! Task adapters between images and plans: pre-processing and decoding for text detection (DB),
//! text recognition (CTC) and direction classification, and the OCR pipeline built from them.

pub mod classify;
#[cfg(feature = "cli")]
pub mod cli;
pub mod det;
pub mod detect;
pub mod geometry;
pub mod image;
pub mod input;
pub mod ocr;
pub mod rec;
pub mod tensor;

pub use crate::image::Rgb;
pub use ocr::{Ocr, OcrOptions, Task, TextLine};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("{path}: {message}")]
    Image { path: PathBuf, message: String },
    #[error(transparent)]
    Plan(#[from] oar_plan::PlanError),
    #[error("unexpected tensor: {0}")]
    Shape(String),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Kernel(#[from] oar_kernels::KernelError),
}
