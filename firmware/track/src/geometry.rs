//! Box overlap.

/// How box extents are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxConvention {
    /// `w = x2 - x1` (SORT, OC-SORT).
    Continuous,
    /// `w = x2 - x1 + 1`, pixel-inclusive corners (`cython_bbox`, which ByteTrack uses).
    PixelInclusive,
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes; 0 when the union is empty.
pub fn iou(a: &[f64; 4], b: &[f64; 4], convention: BoxConvention) -> f64 {
    let one = match convention {
        BoxConvention::Continuous => 0.0,
        BoxConvention::PixelInclusive => 1.0,
    };
    let iw = a[2].min(b[2]) - a[0].max(b[0]) + one;
    if iw <= 0.0 {
        return 0.0;
    }
    let ih = a[3].min(b[3]) - a[1].max(b[1]) + one;
    if ih <= 0.0 {
        return 0.0;
    }
    let inter = iw * ih;
    let area_a = (a[2] - a[0] + one) * (a[3] - a[1] + one);
    let area_b = (b[2] - b[0] + one) * (b[3] - b[1] + one);
    let union = area_a + area_b - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// The `a.len() x b.len()` IoU matrix, row-major.
pub fn iou_matrix(a: &[[f64; 4]], b: &[[f64; 4]], convention: BoxConvention) -> Vec<f64> {
    let mut out = Vec::with_capacity(a.len() * b.len());
    for ba in a {
        for bb in b {
            out.push(iou(ba, bb, convention));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use BoxConvention::*;

    #[test]
    fn iou_values() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert_eq!(iou(&a, &a, Continuous), 1.0);
        assert_eq!(iou(&a, &[5.0, 0.0, 15.0, 10.0], Continuous), 50.0 / 150.0);
        assert_eq!(iou(&a, &[10.0, 0.0, 20.0, 10.0], Continuous), 0.0);
        assert_eq!(iou(&a, &[20.0, 20.0, 30.0, 30.0], Continuous), 0.0);
        // pixel-inclusive: 11x11 boxes overlapping 6x11
        assert_eq!(
            iou(&a, &[5.0, 0.0, 15.0, 10.0], PixelInclusive),
            66.0 / (121.0 * 2.0 - 66.0)
        );
        // touching boxes share one pixel column
        assert_eq!(
            iou(&a, &[10.0, 0.0, 20.0, 10.0], PixelInclusive),
            11.0 / (242.0 - 11.0)
        );
        // degenerate boxes
        assert_eq!(
            iou(&[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0, 1.0, 1.0], Continuous),
            0.0
        );
        let m = iou_matrix(&[a, [100.0, 100.0, 110.0, 110.0]], &[a], Continuous);
        assert_eq!(m, vec![1.0, 0.0]);
    }
}
