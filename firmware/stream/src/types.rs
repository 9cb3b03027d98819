//! The values that flow between the stages and into the sinks: the pipeline produces them,
//! sinks, the overlay and the HTTP page consume them; none of those imports another for them.

pub use crate::frame::{Frame, PixelFormat};
pub use oar_track::{Detection, Track};
use oar_io::Rgb;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// One track as shown for one frame.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrackView {
    pub id: u64,
    pub bbox: [f32; 4],
    pub score: f32,
    /// The fused text so far.
    pub text: Option<String>,
    pub text_score: f32,
}

/// Everything known about one frame once it has been through detect, track and OCR.
#[derive(Debug, Clone)]
pub struct FrameResult {
    pub seq: u64,
    pub captured: Instant,
    pub image: Arc<Rgb>,
    pub detections: Vec<Detection>,
    pub tracks: Vec<TrackView>,
}

/// A track that ended, with its fused text.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FinishedTrack {
    pub id: u64,
    pub text: String,
    pub score: f32,
    /// Last box `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    pub first_seq: u64,
    pub last_seq: u64,
    /// Frames in which the track was reported.
    pub frames: u32,
    pub reads: u32,
}
