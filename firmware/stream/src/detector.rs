//! The detect stage's seam: anything that finds objects in a frame. The plan-backed detectors
//! (DB text lines, PicoDet / SSD objects) are in oar-edge; the stream core needs no engine.

use crate::StreamError;
use oar_io::Rgb;
use oar_track::Detection;

/// Finds objects in one RGB frame.
pub trait Detector: Send {
    fn detect(&mut self, frame_rgb: &Rgb) -> Result<Vec<Detection>, StreamError>;
}

/// A detector that returns fixed boxes after an optional delay: for tests and soak runs.
pub struct FixedDetector {
    pub boxes: Vec<Detection>,
    pub delay: std::time::Duration,
}

impl Detector for FixedDetector {
    fn detect(&mut self, _img: &Rgb) -> Result<Vec<Detection>, StreamError> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        Ok(self.boxes.clone())
    }
}
