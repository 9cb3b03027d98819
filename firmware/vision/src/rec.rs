//! Text recognition (CTC) and text direction classification over batches of line crops, with
//! PaddleOCR's batching: crops sorted by aspect ratio, batches padded to their widest member.

use oar_io::Rgb;
use crate::tensor::{as_f32, normalize_into, Model};
use crate::VisionError;
use oar_plan::tract::Tensor;
use oar_plan::{InputSpec, ResizePolicy};

/// Width a crop is resized to at `height`, capped at `max_w` (`ceil(height × w / h)`).
fn resized_width(img: &Rgb, height: usize, max_w: usize) -> usize {
    let ratio = img.width as f64 / img.height as f64;
    ((height as f64 * ratio).ceil() as usize).clamp(1, max_w.max(1))
}

/// A `1×3×height×width` input: the crop resized to the height, left-aligned, zero-padded to the
/// width of its batch. Plans take one line at a time; padding every line of a batch to the batch's
/// width keeps PaddleOCR's results, which depend on that width.
pub(crate) fn line_tensor(crop: &Rgb, spec: &InputSpec, height: usize, width: usize) -> Result<Tensor, VisionError> {
    let mut data = vec![0f32; 3 * height * width];
    let resized = crop.resize(resized_width(crop, height, width), height);
    normalize_into(&resized, spec, &mut data, width)?;
    Tensor::from_shape(&[1, 3, height, width], &data).map_err(|e| VisionError::Shape(e.to_string()))
}

/// Runs a one-line model and returns its first output as (shape without the batch axis, data).
fn infer_line(model: &dyn Model, input: Tensor, what: &str) -> Result<(Vec<usize>, Vec<f32>), VisionError> {
    let outputs = model.infer(input)?;
    let first = outputs.first().ok_or_else(|| VisionError::Shape(format!("the {what} returned no output")))?;
    let (shape, data) = as_f32(first)?;
    match shape.split_first() {
        Some((1, rest)) => Ok((rest.to_vec(), data.to_vec())),
        _ => Err(VisionError::Shape(format!("the {what} gave a {shape:?} output for one line"))),
    }
}

/// Indices of `crops` sorted by aspect ratio (stable), in chunks of `batch`.
fn batches(crops: &[Rgb], batch: usize) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..crops.len()).collect();
    idx.sort_by(|&a, &b| {
        let r = |i: usize| crops[i].width as f64 / crops[i].height as f64;
        r(a).total_cmp(&r(b))
    });
    idx.chunks(batch.max(1)).map(|c| c.to_vec()).collect()
}

fn fixed_height(spec: &InputSpec) -> Result<(usize, usize, Option<usize>), VisionError> {
    match spec.resize {
        ResizePolicy::FixedHeight { height, min_width, max_width } => {
            Ok((height as usize, min_width as usize, max_width.map(|m| m as usize)))
        }
        ref other => Err(VisionError::Config(format!("expected a fixed-height input policy, the plan has {other:?}"))),
    }
}

/// Recognises each crop; returns (text, confidence) in the crops' order.
pub fn recognize(
    model: &dyn Model,
    spec: &InputSpec,
    dictionary: &[String],
    crops: &[Rgb],
    batch: usize,
) -> Result<Vec<(String, f32)>, VisionError> {
    let (height, min_width, _) = fixed_height(spec)?;
    let mut out = vec![(String::new(), 0.0); crops.len()];
    for group in batches(crops, batch) {
        // Widest aspect ratio in the batch, at least the model's nominal one.
        let max_ratio = group
            .iter()
            .map(|&i| crops[i].width as f64 / crops[i].height as f64)
            .fold(min_width as f64 / height as f64, f64::max);
        let width = (height as f64 * max_ratio) as usize;
        for &i in &group {
            let (shape, probs) = infer_line(model, line_tensor(&crops[i], spec, height, width)?, "recogniser")?;
            let [_steps, classes] = shape[..] else {
                return Err(VisionError::Shape(format!("expected a [1,T,C] recogniser output, got [1,{shape:?}]")));
            };
            out[i] = ctc_decode(&probs, classes, dictionary);
        }
    }
    Ok(out)
}

/// Greedy CTC decoding: argmax per step, repeats merged, blanks (index 0) dropped. The classes are
/// blank, the dictionary, then a space. Confidence: mean probability of the kept steps.
pub fn ctc_decode(probs: &[f32], classes: usize, dictionary: &[String]) -> (String, f32) {
    let mut text = String::new();
    let (mut sum, mut kept) = (0.0f64, 0usize);
    let mut prev = usize::MAX;
    for step in probs.chunks_exact(classes) {
        let (best, p) = step
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |(bi, bp), (i, &v)| if v > bp { (i, v) } else { (bi, bp) });
        if best != 0 && best != prev {
            match best {
                b if b <= dictionary.len() => text.push_str(&dictionary[b - 1]),
                b if b == dictionary.len() + 1 => text.push(' '),
                _ => {} // beyond the dictionary: the model and dictionary disagree; skip
            }
            sum += p as f64;
            kept += 1;
        }
        prev = best;
    }
    let conf = if kept == 0 { 0.0 } else { (sum / kept as f64) as f32 };
    (text, conf)
}

/// Text direction classification: returns (label index, probability) per crop.
pub fn classify_direction(
    model: &dyn Model,
    spec: &InputSpec,
    crops: &[Rgb],
    batch: usize,
) -> Result<Vec<(usize, f32)>, VisionError> {
    let (height, min_width, max_width) = fixed_height(spec)?;
    let width = max_width.unwrap_or(min_width);
    let mut out = vec![(0, 0.0); crops.len()];
    for group in batches(crops, batch) {
        for &i in &group {
            let (shape, probs) = infer_line(model, line_tensor(&crops[i], spec, height, width)?, "classifier")?;
            if shape.len() != 1 || probs.is_empty() {
                return Err(VisionError::Shape(format!("expected a [1,C] classifier output, got [1,{shape:?}]")));
            }
            out[i] = probs.iter().enumerate().fold((0, f32::MIN), |(bi, bp), (j, &v)| if v > bp { (j, v) } else { (bi, bp) });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(seq: &[usize], classes: usize) -> Vec<f32> {
        seq.iter()
            .flat_map(|&c| (0..classes).map(move |i| if i == c { 0.9 } else { 0.1 / (classes - 1) as f32 }))
            .collect()
    }

    #[test]
    fn ctc_merges_repeats_and_drops_blanks() {
        let dict: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        // classes: 0 blank, 1..=3 dict, 4 space
        let probs = one_hot(&[0, 1, 1, 0, 1, 2, 4, 3, 3, 0], 5);
        let (text, conf) = ctc_decode(&probs, 5, &dict);
        assert_eq!(text, "aab c");
        assert!((conf - 0.9).abs() < 1e-6);
        assert_eq!(ctc_decode(&one_hot(&[0, 0], 5), 5, &dict), (String::new(), 0.0));
    }

    #[test]
    fn batches_sort_by_aspect_ratio() {
        let crops = vec![Rgb::new(100, 10), Rgb::new(20, 10), Rgb::new(50, 10)];
        assert_eq!(batches(&crops, 2), vec![vec![1, 2], vec![0]]);
    }

    /// A fake recogniser whose text length tells the batch width: one "x" per 96 px.
    struct WidthEcho;
    impl Model for WidthEcho {
        fn infer(&self, input: Tensor) -> Result<Vec<Tensor>, VisionError> {
            let s = input.shape().to_vec();
            assert_eq!(s[0], 1, "one line at a time");
            let seq: Vec<usize> = (0..s[3] / 48).map(|i| if i % 2 == 0 { 1 } else { 0 }).collect();
            Ok(vec![Tensor::from_shape(&[1, seq.len(), 3], &one_hot(&seq, 3)).unwrap()])
        }
    }

    #[test]
    fn batch_width_follows_the_widest_crop() {
        let spec = InputSpec {
            name: "x".into(),
            layout: oar_plan::Layout::NCHW,
            color: oar_plan::ColorOrder::Bgr,
            scale: 1.0 / 255.0,
            mean: [0.5; 3],
            std: [0.5; 3],
            resize: ResizePolicy::FixedHeight { height: 48, min_width: 320, max_width: None },
        };
        let dict = vec!["x".to_string()];
        let crops = [Rgb::new(48, 48), Rgb::new(960, 48)];
        // Alone, the square crop gets the nominal width 320 (6 steps); the wide one 960 (20 steps).
        let alone = recognize(&WidthEcho, &spec, &dict, &crops, 1).unwrap();
        assert_eq!((alone[0].0.len(), alone[1].0.len()), (3, 10));
        // Batched together, both are padded to 960.
        let together = recognize(&WidthEcho, &spec, &dict, &crops, 6).unwrap();
        assert_eq!((together[0].0.len(), together[1].0.len()), (10, 10));
    }
}
