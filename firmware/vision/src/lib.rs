//! Task adapters between images and plans: pre-processing and decoding for text detection (DB),
//! text recognition (CTC) and direction classification, and the OCR pipeline built from them.

pub mod classify;
#[cfg(feature = "cli")]
pub mod cli;
pub mod geometry;
pub mod input;
pub mod object_det;
pub mod ocr;
pub mod rec;
pub mod tensor;
pub mod text_det;
pub mod warp;

pub use oar_io::Rgb;
pub use ocr::{Ocr, OcrOptions, Task, TextLine};


#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error(transparent)]
    Image(#[from] oar_io::ImageError),
    #[error(transparent)]
    Plan(#[from] oar_plan::PlanError),
    #[error("unexpected tensor: {0}")]
    Shape(String),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Kernel(#[from] oar_kernels::KernelError),
}
