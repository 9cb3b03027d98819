//! The scoring functions, pure: box matching, edit distance, average precision.

use oar_vision::object_det::iou;
use oar_vision::geometry::Pt;

/// IoU of the axis-aligned rectangles around two quads (as tools/ocr_score.py).
pub fn rect_iou(a: &[Pt; 4], b: &[Pt; 4]) -> f64 {
    let rect = |q: &[Pt; 4]| {
        let (xs, ys) = (q.map(|p| p[0]), q.map(|p| p[1]));
        let min = |v: [f64; 4]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: [f64; 4]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        [min(xs), min(ys), max(xs), max(ys)]
    };
    let (a, b) = (rect(a), rect(b));
    let (iw, ih) = (a[2].min(b[2]) - a[0].max(b[0]), a[3].min(b[3]) - a[1].max(b[1]));
    if iw <= 0.0 || ih <= 0.0 {
        return 0.0;
    }
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// One-to-one matching of ground-truth and predicted quads, greedily by decreasing IoU, pairs
/// with IoU ≥ `thresh` only. Returns (gt index, pred index) pairs.
pub fn match_boxes(gt: &[[Pt; 4]], pred: &[[Pt; 4]], thresh: f64) -> Vec<(usize, usize)> {
    let mut pairs = vec![];
    for (i, g) in gt.iter().enumerate() {
        for (j, p) in pred.iter().enumerate() {
            let v = rect_iou(g, p);
            if v >= thresh {
                pairs.push((v, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let (mut used_g, mut used_p) = (vec![false; gt.len()], vec![false; pred.len()]);
    let mut out = vec![];
    for (_, i, j) in pairs {
        if !used_g[i] && !used_p[j] {
            used_g[i] = true;
            used_p[j] = true;
            out.push((i, j));
        }
    }
    out
}

/// Levenshtein distance between two strings, in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + (ca != cb) as usize));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Average precision of scored boxes `(image, score, box)` against ground truth `(image, box)`
/// at IoU ≥ `thresh` (all-point interpolation, as VOC 2010+). With no ground truth: 1 when there
/// are no predictions either, else 0.
pub fn average_precision(pred: &[(usize, f32, [f32; 4])], gt: &[(usize, [f32; 4])], thresh: f32) -> f64 {
    if gt.is_empty() {
        return if pred.is_empty() { 1.0 } else { 0.0 };
    }
    let mut order: Vec<usize> = (0..pred.len()).collect();
    order.sort_by(|&a, &b| pred[b].1.total_cmp(&pred[a].1).then(a.cmp(&b)));
    let mut used = vec![false; gt.len()];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut curve = vec![]; // (recall, precision) after each prediction
    for i in order {
        let (img, _, b) = &pred[i];
        let best = gt
            .iter()
            .enumerate()
            .filter(|(g, (gi, _))| gi == img && !used[*g])
            .map(|(g, (_, gb))| (g, iou(b, gb)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((g, v)) if v >= thresh => {
                used[g] = true;
                tp += 1;
            }
            _ => fp += 1,
        }
        curve.push((tp as f64 / gt.len() as f64, tp as f64 / (tp + fp) as f64));
    }
    // Precision envelope from the right, integrated over recall steps.
    let mut ap = 0.0;
    let mut best_p = 0.0f64;
    let mut next_r = curve.last().map(|c| c.0).unwrap_or(0.0);
    for &(r, p) in curve.iter().rev() {
        ap += (next_r - r) * best_p;
        best_p = best_p.max(p);
        next_r = r;
    }
    ap + next_r * best_p
}

/// Mean of [`average_precision`] over the classes that have ground truth; `pred` and `gt` carry
/// a class index. With no ground truth at all: 1 without predictions, else 0.
pub fn mean_average_precision(pred: &[(usize, usize, f32, [f32; 4])], gt: &[(usize, usize, [f32; 4])], thresh: f32) -> f64 {
    let mut classes: Vec<usize> = gt.iter().map(|g| g.1).collect();
    classes.sort_unstable();
    classes.dedup();
    if classes.is_empty() {
        return if pred.is_empty() { 1.0 } else { 0.0 };
    }
    let aps: Vec<f64> = classes
        .iter()
        .map(|&c| {
            let p: Vec<_> = pred.iter().filter(|x| x.1 == c).map(|x| (x.0, x.2, x.3)).collect();
            let g: Vec<_> = gt.iter().filter(|x| x.1 == c).map(|x| (x.0, x.2)).collect();
            average_precision(&p, &g, thresh)
        })
        .collect();
    aps.iter().sum::<f64>() / aps.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quad(x0: f64, y0: f64, x1: f64, y1: f64) -> [Pt; 4] {
        [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    }

    #[test]
    fn edit_distance_counts_characters() {
        assert_eq!(edit_distance("南京市", "南京"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn boxes_match_one_to_one_by_best_iou() {
        let gt = [quad(0.0, 0.0, 10.0, 10.0), quad(20.0, 0.0, 30.0, 10.0)];
        // Pred 0 overlaps gt 0 well, pred 1 overlaps gt 0 less; pred 2 hits nothing.
        let pred = [quad(0.0, 0.0, 10.0, 9.0), quad(0.0, 0.0, 10.0, 6.0), quad(50.0, 50.0, 60.0, 60.0)];
        assert_eq!(match_boxes(&gt, &pred, 0.5), vec![(0, 0)]);
        assert!((rect_iou(&gt[0], &pred[1]) - 0.6).abs() < 1e-12);
        assert_eq!(rect_iou(&gt[0], &gt[1]), 0.0);
    }

    #[test]
    fn average_precision_of_perfect_missing_and_false_boxes() {
        let b = [0.0, 0.0, 10.0, 10.0];
        let far = [50.0, 50.0, 60.0, 60.0];
        let gt = [(0, b), (1, b)];
        assert!((average_precision(&[(0, 0.9, b), (1, 0.8, b)], &gt, 0.5) - 1.0).abs() < 1e-9);
        // Half the objects found: AP 0.5.
        assert!((average_precision(&[(0, 0.9, b)], &gt, 0.5) - 0.5).abs() < 1e-9);
        // A false positive ranked first: precision 1/2 at recall 1/2, 2/3 at recall 1.
        let ap = average_precision(&[(0, 0.95, far), (0, 0.9, b), (1, 0.8, b)], &gt, 0.5);
        assert!((ap - 2.0 / 3.0).abs() < 1e-9, "{ap}");
        // Ranked last it costs nothing.
        assert!((average_precision(&[(0, 0.9, b), (1, 0.8, b), (0, 0.1, far)], &gt, 0.5) - 1.0).abs() < 1e-9);
        assert_eq!(average_precision(&[], &[], 0.5), 1.0);
        assert_eq!(average_precision(&[(0, 0.5, b)], &[], 0.5), 0.0);
    }

    #[test]
    fn map_averages_classes_with_ground_truth() {
        let b = [0.0, 0.0, 10.0, 10.0];
        let gt = [(0, 0, b), (0, 1, b)];
        // Class 0 found, class 1 detected as class 2: mAP = (1 + 0) / 2.
        let pred = [(0, 0, 0.9, b), (0, 2, 0.9, b)];
        assert!((mean_average_precision(&pred, &gt, 0.5) - 0.5).abs() < 1e-9);
    }
}
