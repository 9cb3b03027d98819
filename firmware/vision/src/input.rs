//! The input tensor a task's pipeline gives its model for one image, chosen by the plan's resize
//! policy (for calibration and other whole-model tools; the pipelines call the same pieces).

use crate::classify;
use crate::text_det::det_input_size;
use oar_io::Rgb;
use crate::rec::line_tensor;
use crate::tensor::to_tensor;
use crate::VisionError;
use oar_plan::tract::Tensor;
use oar_plan::{InputSpec, ResizePolicy};

/// `limit-side`: the detector's resize; `fixed-height`: one text line as the recogniser (or, at
/// a fixed width, the direction classifier) sees it alone; `stretch` and `short-side-crop`: the
/// detector's and classifier's resize. Errors for an image too small to give an input.
pub fn model_input(img: &Rgb, spec: &InputSpec) -> Result<Tensor, VisionError> {
    match spec.resize {
        ResizePolicy::LimitSide { .. } => {
            let (w, h) = det_input_size(img.width, img.height, &spec.resize)
                .ok_or_else(|| VisionError::Config(format!("a {}x{} image is too small for the detector", img.width, img.height)))?;
            to_tensor(&img.resize(w, h), spec)
        }
        ResizePolicy::FixedHeight { height, min_width, max_width } => {
            let (height, min_width) = (height as usize, min_width as usize);
            let width = match max_width {
                Some(m) => m as usize,
                // As `rec::recognize` sizes a batch of one: the crop's aspect ratio, at least the nominal one.
                None => ((height as f64 * (img.width as f64 / img.height as f64).max(min_width as f64 / height as f64)) as usize).max(1),
            };
            line_tensor(img, spec, height, width)
        }
        ResizePolicy::Stretch { width, height } => to_tensor(&img.resize(width as usize, height as usize), spec),
        ResizePolicy::ShortSideCrop { .. } => to_tensor(&classify::preprocess(img, &spec.resize)?, spec),
    }
}
