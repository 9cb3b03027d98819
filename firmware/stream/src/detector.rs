//! Object detectors for the detect stage.

use crate::StreamError;
use oar_track::Detection;
use oar_vision::det::{detect, DbParams};
use oar_vision::{Rgb, Task};

/// Finds objects in one RGB frame.
pub trait Detector: Send {
    fn detect(&mut self, frame_rgb: &Rgb) -> Result<Vec<Detection>, StreamError>;
}

/// The DB text detector used as an object detector: each text box becomes a detection whose box
/// is the axis-aligned bounds of the (rotated) text box, whose score is the box score.
pub struct TextDetector {
    task: Task,
    params: DbParams,
}

impl TextDetector {
    /// `engine` must hold a `text-detection` plan; DB parameters come from its post-processing table.
    pub fn from_engine(engine: oar_plan::Engine) -> Result<Self, StreamError> {
        let task = Task::from_engine(engine)?;
        if task.task != "text-detection" {
            return Err(StreamError::Config(format!("the detector plan is a `{}` model, expected `text-detection`", task.task)));
        }
        let params = DbParams::from_table(&task.post)?;
        Ok(TextDetector { task, params })
    }

    pub fn load(path: &std::path::Path) -> Result<Self, StreamError> {
        Self::from_engine(oar_plan::Engine::load(path)?)
    }
}

impl Detector for TextDetector {
    fn detect(&mut self, img: &Rgb) -> Result<Vec<Detection>, StreamError> {
        let boxes = detect(&*self.task.model, &self.task.spec, &self.params, img)?;
        Ok(boxes
            .into_iter()
            .map(|b| {
                let (mut x1, mut y1, mut x2, mut y2) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
                for [x, y] in b.points {
                    x1 = x1.min(x);
                    y1 = y1.min(y);
                    x2 = x2.max(x);
                    y2 = y2.max(y);
                }
                Detection { bbox: [x1 as f32, y1 as f32, x2 as f32, y2 as f32], score: b.score, class: 0 }
            })
            .collect())
    }
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
