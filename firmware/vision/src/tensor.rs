//! Image → input tensor, following a plan's `InputSpec`, and the `Model` seam between the task
//! logic and the engine (so that decoding can be tested with fakes).

use oar_io::Rgb;
use crate::VisionError;
use oar_plan::tract::*;
use oar_plan::{ColorOrder, Engine, InputSpec, Layout};

/// Something that maps one input tensor to output tensors: a plan's engine, or a fake in tests.
pub trait Model {
    fn infer(&self, input: Tensor) -> Result<Vec<Tensor>, VisionError>;
}

impl Model for Engine {
    fn infer(&self, input: Tensor) -> Result<Vec<Tensor>, VisionError> {
        Ok(self.run_one(input)?)
    }
}

/// Normalises an already-resized image into `dst`, a CHW slab of `3 × h × stride_w` floats, writing
/// the image's `w` columns at the left of each row (the rest keeps its value: zero padding).
pub fn normalize_into(img: &Rgb, spec: &InputSpec, dst: &mut [f32], stride_w: usize) -> Result<(), VisionError> {
    let (w, h) = (img.width, img.height);
    let plane = h * stride_w;
    if dst.len() != 3 * plane || w > stride_w {
        return Err(VisionError::Shape(format!("a {w}x{h} image does not fit a 3x{h}x{stride_w} slot")));
    }
    let swap = spec.color == ColorOrder::Bgr; // images are decoded as RGB
    if w == stride_w {
        oar_kernels::normalize_hwc_to_chw(&img.data, w, h, spec.scale, spec.mean, spec.std, swap, dst)?;
        return Ok(());
    }
    let mut dense = vec![0f32; 3 * w * h];
    oar_kernels::normalize_hwc_to_chw(&img.data, w, h, spec.scale, spec.mean, spec.std, swap, &mut dense)?;
    for c in 0..3 {
        for y in 0..h {
            let src = &dense[c * w * h + y * w..][..w];
            dst[c * plane + y * stride_w..][..w].copy_from_slice(src);
        }
    }
    Ok(())
}

/// One resized image as a batch-of-one input tensor in the plan's layout.
pub fn to_tensor(img: &Rgb, spec: &InputSpec) -> Result<Tensor, VisionError> {
    let (w, h) = (img.width, img.height);
    let mut chw = vec![0f32; 3 * w * h];
    normalize_into(img, spec, &mut chw, w)?;
    let t = Tensor::from_shape(&[1, 3, h, w], &chw).map_err(|e| VisionError::Shape(e.to_string()))?;
    match spec.layout {
        Layout::NCHW => Ok(t),
        Layout::NHWC => t.permute_axes(&[0, 2, 3, 1]).map_err(|e| VisionError::Shape(e.to_string())),
    }
}

/// A model output as a dense f32 array view with its shape.
pub fn as_f32(t: &Tensor) -> Result<(Vec<usize>, &[f32]), VisionError> {
    let view = t
        .try_as_plain_ram()
        .map_err(|e| VisionError::Shape(format!("output is not a plain tensor: {e}")))?;
    let data = view
        .as_slice::<f32>()
        .map_err(|e| VisionError::Shape(format!("expected an f32 output: {e}")))?;
    Ok((t.shape().to_vec(), data))
}
