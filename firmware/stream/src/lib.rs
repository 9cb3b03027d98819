//! oar-stream: the device runtime. Sources produce [`Frame`]s; a threaded stage graph runs
//! detect → track → OCR-per-track; sinks (JSON lines, serial, HTTP/MJPEG with overlay) consume the
//! results. It knows no engine: detectors and readers come in through the [`Detector`] and
//! [`Reader`] traits (oar-edge has the plan-backed ones). See `docs/DESIGN.md` §2 and
//! `docs/protocol.md`.

pub mod book;
pub mod camera;
pub mod config;
pub mod detector;
pub mod frame;
pub mod http;
pub mod metrics;
pub mod overlay;
pub mod pipeline;
pub mod protocol;
pub mod reader;
pub mod reopen;
pub mod setup;
pub mod sink;
pub mod source;
pub mod synth;
pub mod types;

pub use detector::{Detector, FixedDetector};
pub use frame::{Frame, PixelFormat};
pub use metrics::{Metrics, MetricsSnapshot};
pub use oar_track::{Detection, Track};
pub use oar_io::Rgb;
pub use pipeline::{Pipeline, PipelineOptions, RunSummary, SinkTally};
pub use types::{FinishedTrack, FrameResult, TrackView};
pub use reader::{fuse_reads, FixedReader, Reader};
pub use sink::{JsonLinesSink, SerialSink, Sink};
pub use source::Source;

use std::path::PathBuf;

/// Errors of the device runtime.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Format(String),
    /// A detector or reader failed (the plan-backed ones live in oar-edge).
    #[error(transparent)]
    Stage(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Kernel(#[from] oar_kernels::KernelError),
    #[error("config: {0}")]
    Config(String),
    #[error("serial: {0}")]
    Serial(String),
    #[error("{context}: {source}")]
    Net { context: String, source: std::io::Error },
}

impl StreamError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StreamError::Io { path: path.into(), source }
    }
}
