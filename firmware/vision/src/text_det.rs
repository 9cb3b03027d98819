//! DB (Differentiable Binarization) text detection: resize policy, and the post-processing that
//! turns the probability map into text boxes, as PaddleOCR's `DBPostProcess`.

use crate::geometry::{area_perimeter, grow_rect, mean_in_polygon, min_area_rect, mini_box_order, order_clockwise, Pt};
use oar_io::Rgb;
use crate::tensor::{as_f32, to_tensor, Model};
use crate::VisionError;
use oar_plan::{InputSpec, LimitMode, ResizePolicy};
use serde::Deserialize;

/// DB post-processing parameters (PaddleOCR's defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbParams {
    /// Probability above which a pixel is text.
    pub thresh: f32,
    /// Mean probability inside a box below which the box is dropped.
    pub box_thresh: f32,
    /// How far boxes are grown: distance = area × ratio / perimeter.
    pub unclip_ratio: f64,
    /// At most this many candidate regions are scored.
    pub max_candidates: usize,
    /// Boxes whose short side is below this (in map pixels) are dropped.
    pub min_size: f64,
    /// Dilate the binary map with a 2×2 kernel first.
    pub use_dilation: bool,
    /// `fast`: mean inside the box (the only mode implemented).
    pub score_mode: String,
}

impl Default for DbParams {
    fn default() -> Self {
        DbParams {
            thresh: 0.3,
            box_thresh: 0.5,
            unclip_ratio: 1.6,
            max_candidates: 1000,
            min_size: 3.0,
            use_dilation: true,
            score_mode: "fast".into(),
        }
    }
}

impl DbParams {
    /// Reads the parameters from a plan's `post` table (missing keys keep their defaults).
    pub fn from_table(t: &toml::Table) -> Result<DbParams, VisionError> {
        let p: DbParams = t.clone().try_into().map_err(|e| VisionError::Config(format!("[post] of a text detector: {e}")))?;
        if p.score_mode != "fast" {
            return Err(VisionError::Config(format!("score_mode `{}` is not supported (use `fast`)", p.score_mode)));
        }
        p.check()?;
        Ok(p)
    }

    /// Refuses values that make no sense, naming the key and the allowed range.
    pub fn check(&self) -> Result<(), VisionError> {
        let bad = |key: &str, v: f64, range: &str| VisionError::Config(format!("DB parameter {key} = {v}: expected {range}"));
        for (key, v) in [("thresh", self.thresh), ("box_thresh", self.box_thresh)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(key, v as f64, "0 to 1"));
            }
        }
        if !(self.unclip_ratio.is_finite() && (0.0..=MAX_UNCLIP).contains(&self.unclip_ratio)) {
            return Err(bad("unclip_ratio", self.unclip_ratio, &format!("0 to {MAX_UNCLIP}")));
        }
        if !(self.min_size.is_finite() && self.min_size >= 0.0) {
            return Err(bad("min_size", self.min_size, "a finite number ≥ 0"));
        }
        Ok(())
    }
}

/// Boxes grow by at most this × area / perimeter (PaddleOCR uses 1.5–2).
const MAX_UNCLIP: f64 = 10.0;

/// The detector input never has a side longer than this ...
pub const DET_MAX_SIDE: usize = 6000;
/// ... nor more pixels than this (a 3000×2000 input; PP-OCR's 736 short side at the widest
/// letterboxed line, 8:1, stays below it). Thin and huge images are scaled down to fit, so that
/// any image finishes in bounded time and memory.
pub const DET_MAX_PIXELS: usize = 6_000_000;

/// A detected text region: 4 corners clockwise from top-left, in source-image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBox {
    pub points: [Pt; 4],
    pub score: f32,
}

/// The size the detector input is resized to (PaddleOCR's `DetPreProcess.resize`), within
/// [`DET_MAX_SIDE`] and [`DET_MAX_PIXELS`], or None when the image is too small (or too thin) to
/// give a non-empty input.
pub fn det_input_size(w: usize, h: usize, policy: &ResizePolicy) -> Option<(usize, usize)> {
    if w == 0 || h == 0 {
        return None;
    }
    let (wf, hf) = (w as f64, h as f64);
    let (ratio, m) = match policy {
        ResizePolicy::LimitSide { limit, mode, multiple } => {
            let limit = *limit as f64;
            let ratio = match mode {
                LimitMode::Min if wf.min(hf) < limit => limit / wf.min(hf),
                LimitMode::Max if wf.max(hf) > limit => limit / wf.max(hf),
                _ => 1.0,
            };
            (ratio, (*multiple).max(1) as f64)
        }
        // Other policies: the image's own size, within the same bounds.
        _ => (1.0, 1.0),
    };
    let ratio = ratio.min(DET_MAX_SIDE as f64 / wf.max(hf)).min((DET_MAX_PIXELS as f64 / (wf * hf)).sqrt());
    // Rounding to the multiple may go up by m/2: back off one multiple where that crosses a bound.
    let round = |v: f64| {
        let r = ((v * ratio).trunc() / m).round_ties_even() * m;
        if r > DET_MAX_SIDE as f64 { r - m } else { r }
    };
    let (mut rw, mut rh) = (round(wf), round(hf));
    if rw * rh > DET_MAX_PIXELS as f64 {
        // Both sides rounded up: take one multiple off the longer.
        if rw >= rh { rw -= m } else { rh -= m }
    }
    (rw >= 1.0 && rh >= 1.0).then_some((rw as usize, rh as usize))
}

/// Runs the detector on an image and returns text boxes in its coordinates, unsorted.
pub fn detect(model: &dyn Model, spec: &InputSpec, params: &DbParams, img: &Rgb) -> Result<Vec<TextBox>, VisionError> {
    let Some((rw, rh)) = det_input_size(img.width, img.height, &spec.resize) else { return Ok(vec![]) };
    let input = to_tensor(&img.resize(rw, rh), spec)?;
    let out = model.infer(input)?;
    let first = out.first().ok_or_else(|| VisionError::Shape("the detector returned no output".into()))?;
    let (shape, prob) = as_f32(first)?;
    let (mh, mw) = match shape[..] {
        [1, 1, h, w] => (h, w),
        _ => return Err(VisionError::Shape(format!("expected a [1,1,H,W] probability map, got {shape:?}"))),
    };
    let boxes = boxes_from_map(prob, mw, mh, params, img.width, img.height);
    Ok(filter_boxes(boxes, img.width, img.height))
}

/// DB post-processing on a probability map of `w`×`h`, with boxes scaled to `dest_w`×`dest_h`.
pub fn boxes_from_map(prob: &[f32], w: usize, h: usize, p: &DbParams, dest_w: usize, dest_h: usize) -> Vec<TextBox> {
    let mut mask: Vec<u8> = prob.iter().map(|&v| (v > p.thresh) as u8).collect();
    if p.use_dilation {
        mask = dilate_2x2(&mask, w, h);
    }
    let mut out = vec![];
    for region in regions(&mask, w, h).into_iter().take(p.max_candidates) {
        let rect = min_area_rect(&region);
        if rect.short_side() < p.min_size {
            continue;
        }
        let corners = mini_box_order(rect.corners);
        let score = mean_in_polygon(prob, w, h, &corners);
        if p.box_thresh > score {
            continue;
        }
        let (area, perimeter) = area_perimeter(&corners);
        let distance = if perimeter > 0.0 { area * p.unclip_ratio / perimeter } else { 0.0 };
        let grown = grow_rect(&rect, distance);
        if grown.short_side() < p.min_size + 2.0 {
            continue;
        }
        let corners = mini_box_order(grown.corners);
        let scale = |v: f64, from: usize, to: usize| (v / from as f64 * to as f64).round_ties_even().clamp(0.0, to as f64);
        let points = corners.map(|[x, y]| [scale(x, w, dest_w), scale(y, h, dest_h)]);
        out.push(TextBox { points, score });
    }
    out
}

/// Orders corners clockwise, clips them into the image and drops slivers (PaddleOCR's
/// `filter_tag_det_res`).
pub fn filter_boxes(boxes: Vec<TextBox>, w: usize, h: usize) -> Vec<TextBox> {
    boxes
        .into_iter()
        .filter_map(|b| {
            let pts = order_clockwise(b.points)
                .map(|[x, y]| [x.clamp(0.0, w as f64 - 1.0).trunc(), y.clamp(0.0, h as f64 - 1.0).trunc()]);
            let dist = |a: Pt, b: Pt| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
            let (rw, rh) = (dist(pts[0], pts[1]) as i64, dist(pts[0], pts[3]) as i64);
            (rw > 3 && rh > 3).then_some(TextBox { points: pts, score: b.score })
        })
        .collect()
}

/// Reading order: top to bottom, then left to right among boxes on the same line (within 10 px),
/// as PaddleOCR's `sorted_boxes`.
pub fn sort_reading_order(boxes: &mut [TextBox]) {
    boxes.sort_by(|a, b| a.points[0][1].total_cmp(&b.points[0][1]).then(a.points[0][0].total_cmp(&b.points[0][0])));
    for i in 0..boxes.len().saturating_sub(1) {
        for j in (0..=i).rev() {
            if (boxes[j + 1].points[0][1] - boxes[j].points[0][1]).abs() < 10.0
                && boxes[j + 1].points[0][0] < boxes[j].points[0][0]
            {
                boxes.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
}

/// `cv2.dilate` with a 2×2 kernel of ones (anchor at its centre): a pixel is set when it or its
/// left, upper or upper-left neighbour is set.
fn dilate_2x2(mask: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = vec![0u8; mask.len()];
    for y in 0..h {
        for x in 0..w {
            let at = |xx: usize, yy: usize| mask[yy * w + xx];
            let mut v = at(x, y);
            if x > 0 {
                v |= at(x - 1, y);
            }
            if y > 0 {
                v |= at(x, y - 1);
                if x > 0 {
                    v |= at(x - 1, y - 1);
                }
            }
            out[y * w + x] = v;
        }
    }
    out
}

/// 8-connected regions of set pixels, each as the coordinates of its boundary pixels (enough for
/// the convex hull, and what `cv2.findContours` returns).
fn regions(mask: &[u8], w: usize, h: usize) -> Vec<Vec<Pt>> {
    let mut label = vec![0u32; mask.len()];
    let mut out = vec![];
    let mut stack = vec![];
    for start in 0..mask.len() {
        if mask[start] == 0 || label[start] != 0 {
            continue;
        }
        let id = out.len() as u32 + 1;
        let mut boundary = vec![];
        label[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = ((i % w) as i64, (i / w) as i64);
            let mut is_boundary = false;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    if dx == 0 && dy == 0 {
                        continue;
                    }
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        is_boundary = true;
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] == 0 {
                        is_boundary = true;
                    } else if label[j] == 0 {
                        label[j] = id;
                        stack.push(j);
                    }
                }
            }
            if is_boundary {
                boundary.push([x as f64, y as f64]);
            }
        }
        out.push(boundary);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_size_follows_paddleocr() {
        let p = ResizePolicy::LimitSide { limit: 736, mode: LimitMode::Min, multiple: 32 };
        assert_eq!(det_input_size(640, 480, &p), Some((992, 736)));
        assert_eq!(det_input_size(1000, 800, &p), Some((992, 800)));
        assert_eq!(det_input_size(200, 30, &p), Some((4896, 736)));
        let max = ResizePolicy::LimitSide { limit: 960, mode: LimitMode::Max, multiple: 32 };
        assert_eq!(det_input_size(1920, 1080, &max), Some((960, 544)));
        assert_eq!(det_input_size(10, 10, &max), None);
    }

    #[test]
    fn thin_and_huge_images_are_scaled_into_bounds() {
        let min = ResizePolicy::LimitSide { limit: 736, mode: LimitMode::Min, multiple: 32 };
        let max = ResizePolicy::LimitSide { limit: 960, mode: LimitMode::Max, multiple: 32 };
        let stretch = ResizePolicy::Stretch { width: 8, height: 8 };
        for p in [&min, &max, &stretch] {
            for (w, h) in [(1, 1000), (1000, 1), (32, 30016), (4, 25000), (1, 60000), (100_000, 100_000), (7, 3), (9999, 9999), (3000, 2001)] {
                if let Some((rw, rh)) = det_input_size(w, h, p) {
                    assert!(rw <= DET_MAX_SIDE && rh <= DET_MAX_SIDE && rw * rh <= DET_MAX_PIXELS, "{w}x{h} {p:?}: {rw}x{rh}");
                }
            }
        }
        // A 1×1000 image was a 736×736000 input: now too thin to give one (no boxes, at once).
        assert_eq!(det_input_size(1, 1000, &min), None);
        assert_eq!(det_input_size(32, 2016, &min), Some((96, 5984)));
        assert_eq!(det_input_size(100_000, 100_000, &min), Some((2432, 2464)));
        assert_eq!(det_input_size(0, 10, &min), None);
    }

    #[test]
    fn one_blob_gives_one_grown_box() {
        let (w, h) = (40, 20);
        let mut prob = vec![0.0f32; w * h];
        for y in 8..12 {
            for x in 5..35 {
                prob[y * w + x] = 0.9;
            }
        }
        let boxes = boxes_from_map(&prob, w, h, &DbParams::default(), 80, 40);
        assert_eq!(boxes.len(), 1);
        let b = &boxes[0];
        // Dilation makes the blob cover pixels 5..=35 × 8..=12 (a 30×4 box between pixel centres);
        // 120 of its 155 pixels hold 0.9.
        assert!((b.score - 0.9 * 120.0 / 155.0).abs() < 1e-4, "{b:?}");
        // Unclip grows it by 120 * 1.6 / 68 ≈ 2.8 px; the map is half the image size.
        let xs: Vec<f64> = b.points.iter().map(|p| p[0]).collect();
        let ys: Vec<f64> = b.points.iter().map(|p| p[1]).collect();
        let (x0, x1) = (xs.iter().cloned().fold(f64::MAX, f64::min), xs.iter().cloned().fold(f64::MIN, f64::max));
        let (y0, y1) = (ys.iter().cloned().fold(f64::MAX, f64::min), ys.iter().cloned().fold(f64::MIN, f64::max));
        assert_eq!((x0, x1), (4.0, 76.0), "{xs:?}");
        assert_eq!((y0, y1), (10.0, 30.0), "{ys:?}");
    }

    #[test]
    fn faint_and_tiny_regions_are_dropped() {
        let (w, h) = (30, 30);
        let mut prob = vec![0.0f32; w * h];
        prob[5 * w + 5] = 0.9; // one pixel: too small
        for y in 15..25 {
            for x in 2..28 {
                prob[y * w + x] = 0.4; // above thresh, below box_thresh
            }
        }
        assert!(boxes_from_map(&prob, w, h, &DbParams::default(), w, h).is_empty());
    }

    #[test]
    fn reading_order_groups_lines() {
        let mk = |x: f64, y: f64| TextBox { points: [[x, y], [x + 10.0, y], [x + 10.0, y + 5.0], [x, y + 5.0]], score: 1.0 };
        let mut b = vec![mk(50.0, 103.0), mk(0.0, 100.0), mk(0.0, 0.0), mk(30.0, 98.0)];
        sort_reading_order(&mut b);
        let order: Vec<(f64, f64)> = b.iter().map(|t| (t.points[0][0], t.points[0][1])).collect();
        assert_eq!(order, vec![(0.0, 0.0), (0.0, 100.0), (30.0, 98.0), (50.0, 103.0)]);
    }

    #[test]
    fn params_read_from_toml_with_defaults() {
        let t: toml::Table = toml::from_str("box_thresh = 0.6").unwrap();
        let p = DbParams::from_table(&t).unwrap();
        assert_eq!(p.box_thresh, 0.6);
        assert_eq!(p.thresh, 0.3);
        let bad: toml::Table = toml::from_str("box_treshold = 0.6").unwrap();
        assert!(DbParams::from_table(&bad).unwrap_err().to_string().contains("box_treshold"));
    }
}
