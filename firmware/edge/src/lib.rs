//! The device side's command-line pieces, shared with the host tool `oar` so that both run the
//! same pipelines the same way.

pub mod infer;
pub mod probe;
pub mod report;
pub mod run;
pub mod stages;

pub use infer::InferArgs;
pub use run::RunArgs;
