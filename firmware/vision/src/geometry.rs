//! Plane geometry for text boxes: convex hull, minimum-area rectangle, polygon masks, perspective
//! transforms — the few OpenCV routines PaddleOCR's post-processing relies on.

/// A point in image coordinates (x right, y down).
pub type Pt = [f64; 2];

/// Convex hull (Andrew's monotone chain), counter-clockwise in a y-up frame, no repeated points.
pub fn convex_hull(points: &[Pt]) -> Vec<Pt> {
    let mut p: Vec<Pt> = points.to_vec();
    p.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: Pt, a: Pt, b: Pt| (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    let mut hull: Vec<Pt> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &Pt>> = if pass == 0 { Box::new(p.iter()) } else { Box::new(p.iter().rev()) };
        for &pt in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], pt) <= 0.0 {
                hull.pop();
            }
            hull.push(pt);
        }
        hull.pop();
    }
    hull
}

/// A rotated rectangle: its 4 corners and its side lengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    pub corners: [Pt; 4],
    pub width: f64,
    pub height: f64,
}

impl RotatedRect {
    pub fn short_side(&self) -> f64 {
        self.width.min(self.height)
    }
}

/// The minimum-area enclosing rectangle of a point set (rotating calipers over the hull edges),
/// as OpenCV's `minAreaRect`.
pub fn min_area_rect(points: &[Pt]) -> RotatedRect {
    let hull = convex_hull(points);
    match hull.len() {
        0 => return RotatedRect { corners: [[0.0; 2]; 4], width: 0.0, height: 0.0 },
        1 => return RotatedRect { corners: [hull[0]; 4], width: 0.0, height: 0.0 },
        _ => {}
    }
    let mut best: Option<(f64, RotatedRect)> = None;
    for i in 0..hull.len() {
        let a = hull[i];
        let b = hull[(i + 1) % hull.len()];
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len = (dx * dx + dy * dy).sqrt();
        if len == 0.0 {
            continue;
        }
        let u = [dx / len, dy / len];
        let v = [-u[1], u[0]];
        let (mut umin, mut umax, mut vmin, mut vmax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for p in &hull {
            let pu = p[0] * u[0] + p[1] * u[1];
            let pv = p[0] * v[0] + p[1] * v[1];
            umin = umin.min(pu);
            umax = umax.max(pu);
            vmin = vmin.min(pv);
            vmax = vmax.max(pv);
        }
        let area = (umax - umin) * (vmax - vmin);
        if best.as_ref().is_none_or(|(a, _)| area < *a - 1e-9) {
            let at = |s: f64, t: f64| [s * u[0] + t * v[0], s * u[1] + t * v[1]];
            best = Some((
                area,
                RotatedRect {
                    corners: [at(umin, vmin), at(umax, vmin), at(umax, vmax), at(umin, vmax)],
                    width: umax - umin,
                    height: vmax - vmin,
                },
            ));
        }
    }
    best.map(|(_, r)| r).unwrap_or(RotatedRect { corners: [hull[0]; 4], width: 0.0, height: 0.0 })
}

/// Orders a rectangle's corners as PaddleOCR's `get_mini_boxes` does: sorted by x, then the two
/// left points by y (top-left, bottom-left) and the two right ones (top-right, bottom-right);
/// returns [tl, tr, br, bl].
pub fn mini_box_order(corners: [Pt; 4]) -> [Pt; 4] {
    let mut p = corners;
    p.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (i1, i4) = if p[1][1] > p[0][1] { (0, 1) } else { (1, 0) };
    let (i2, i3) = if p[3][1] > p[2][1] { (2, 3) } else { (3, 2) };
    [p[i1], p[i2], p[i3], p[i4]]
}

/// Orders 4 points clockwise from the top-left (as imutils' `order_points_clockwise`).
pub fn order_clockwise(pts: [Pt; 4]) -> [Pt; 4] {
    let mut p = pts;
    p.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (mut left, mut right) = ([p[0], p[1]], [p[2], p[3]]);
    left.sort_by(|a, b| a[1].total_cmp(&b[1]));
    right.sort_by(|a, b| a[1].total_cmp(&b[1]));
    [left[0], right[0], right[1], left[1]]
}

/// Area (shoelace, absolute) and perimeter of a polygon.
pub fn area_perimeter(poly: &[Pt]) -> (f64, f64) {
    let n = poly.len();
    let (mut a, mut l) = (0.0, 0.0);
    for i in 0..n {
        let (p, q) = (poly[i], poly[(i + 1) % n]);
        a += p[0] * q[1] - q[0] * p[1];
        l += ((q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2)).sqrt();
    }
    (a.abs() / 2.0, l)
}

/// Grows a rectangle by `d` on every side (the minimum-area rectangle of a round-joined polygon
/// offset of a rectangle is the rectangle grown by `d`).
pub fn grow_rect(r: &RotatedRect, d: f64) -> RotatedRect {
    let c = r.corners;
    let centre = [(c[0][0] + c[2][0]) / 2.0, (c[0][1] + c[2][1]) / 2.0];
    let unit = |a: Pt, b: Pt, len: f64| {
        if len > 0.0 {
            [(b[0] - a[0]) / len, (b[1] - a[1]) / len]
        } else {
            [0.0, 0.0]
        }
    };
    let mut u = unit(c[0], c[1], r.width);
    let mut v = unit(c[0], c[3], r.height);
    if r.width == 0.0 && r.height == 0.0 {
        u = [1.0, 0.0];
        v = [0.0, 1.0];
    } else if r.width == 0.0 {
        u = [v[1], -v[0]];
    } else if r.height == 0.0 {
        v = [-u[1], u[0]];
    }
    let (hw, hh) = (r.width / 2.0 + d, r.height / 2.0 + d);
    let at = |s: f64, t: f64| [centre[0] + s * u[0] + t * v[0], centre[1] + s * u[1] + t * v[1]];
    RotatedRect {
        corners: [at(-hw, -hh), at(hw, -hh), at(hw, hh), at(-hw, hh)],
        width: 2.0 * hw,
        height: 2.0 * hh,
    }
}

/// Mean of `map` (row-major, `w`×`h`) over the pixels inside a convex polygon, borders included —
/// PaddleOCR's "fast" box score (`cv2.fillPoly` + `cv2.mean` over the box's bounding window).
pub fn mean_in_polygon(map: &[f32], w: usize, h: usize, poly: &[Pt]) -> f32 {
    if w == 0 || h == 0 || poly.is_empty() {
        return 0.0;
    }
    let clampi = |v: f64, hi: usize| (v.max(0.0) as usize).min(hi - 1);
    let xmin = clampi(poly.iter().map(|p| p[0]).fold(f64::MAX, f64::min).floor(), w);
    let xmax = clampi(poly.iter().map(|p| p[0]).fold(f64::MIN, f64::max).ceil(), w);
    let ymin = clampi(poly.iter().map(|p| p[1]).fold(f64::MAX, f64::min).floor(), h);
    let ymax = clampi(poly.iter().map(|p| p[1]).fold(f64::MIN, f64::max).ceil(), h);
    // OpenCV fills integer vertices: truncate like `astype(np.int32)` after moving to the window.
    let ipoly: Vec<Pt> = poly
        .iter()
        .map(|p| [((p[0] - xmin as f64) as i64) as f64 + xmin as f64, ((p[1] - ymin as f64) as i64) as f64 + ymin as f64])
        .collect();
    let (mut sum, mut count) = (0.0f64, 0usize);
    for y in ymin..=ymax {
        if let Some((xl, xr)) = row_span(&ipoly, y as f64) {
            let x0 = (xl - 1e-9).ceil().max(xmin as f64) as usize;
            let x1 = (xr + 1e-9).floor().min(xmax as f64);
            if x1 < x0 as f64 {
                continue;
            }
            for x in x0..=x1 as usize {
                sum += map[y * w + x] as f64;
                count += 1;
            }
        }
    }
    if count == 0 {
        0.0
    } else {
        (sum / count as f64) as f32
    }
}

/// The x-extent of a convex polygon on the horizontal line `y`, edges included.
fn row_span(poly: &[Pt], y: f64) -> Option<(f64, f64)> {
    let n = poly.len();
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        if (a[1] - y) * (b[1] - y) > 0.0 {
            continue;
        }
        if a[1] == b[1] {
            lo = lo.min(a[0].min(b[0]));
            hi = hi.max(a[0].max(b[0]));
        } else {
            let x = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            lo = lo.min(x);
            hi = hi.max(x);
        }
    }
    (lo <= hi).then_some((lo, hi))
}

/// The 3×3 homography mapping `src[i]` to `dst[i]` (OpenCV's `getPerspectiveTransform`), or None
/// when the points are degenerate.
pub fn perspective_transform(src: &[Pt; 4], dst: &[Pt; 4]) -> Option<[f64; 9]> {
    // Solve the 8 unknowns h0..h7 (h8 = 1) by Gaussian elimination with partial pivoting.
    let mut a = [[0.0f64; 9]; 8];
    for i in 0..4 {
        let ([x, y], [u, v]) = (src[i], dst[i]);
        a[i] = [x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u, u];
        a[i + 4] = [0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v, v];
    }
    for col in 0..8 {
        let pivot = (col..8).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        for r in 0..8 {
            if r != col {
                let f = a[r][col] / a[col][col];
                for c in col..9 {
                    a[r][c] -= f * a[col][c];
                }
            }
        }
    }
    let mut h = [0.0; 9];
    for i in 0..8 {
        h[i] = a[i][8] / a[i][i];
    }
    h[8] = 1.0;
    Some(h)
}

/// Applies a homography to a point.
pub fn apply(h: &[f64; 9], p: Pt) -> Pt {
    let w = h[6] * p[0] + h[7] * p[1] + h[8];
    let w = if w.abs() < 1e-12 { 1e-12 } else { w };
    [(h[0] * p[0] + h[1] * p[1] + h[2]) / w, (h[3] * p[0] + h[4] * p[1] + h[5]) / w]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_of_square_with_interior_points() {
        let pts = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [1.0, 1.0], [1.0, 0.0]];
        let mut h = convex_hull(&pts);
        h.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(h, vec![[0.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 2.0]]);
    }

    #[test]
    fn min_rect_of_a_rotated_rectangle() {
        // A 10×4 rectangle rotated by 30°.
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let rot = |x: f64, y: f64| [x * c - y * s + 50.0, x * s + y * c + 50.0];
        let pts = [rot(0.0, 0.0), rot(10.0, 0.0), rot(10.0, 4.0), rot(0.0, 4.0), rot(5.0, 2.0)];
        let r = min_area_rect(&pts);
        let (a, b) = (r.width.max(r.height), r.width.min(r.height));
        assert!((a - 10.0).abs() < 1e-9 && (b - 4.0).abs() < 1e-9, "{r:?}");
        let g = grow_rect(&r, 1.0);
        assert!((g.width.max(g.height) - 12.0).abs() < 1e-9 && (g.short_side() - 6.0).abs() < 1e-9);
    }

    #[test]
    fn mini_box_order_is_tl_tr_br_bl() {
        let b = mini_box_order([[10.0, 5.0], [0.0, 0.0], [10.0, 0.0], [0.0, 5.0]]);
        assert_eq!(b, [[0.0, 0.0], [10.0, 0.0], [10.0, 5.0], [0.0, 5.0]]);
    }

    #[test]
    fn polygon_mean_counts_borders() {
        let (w, h) = (6, 4);
        let mut map = vec![0.0f32; w * h];
        for y in 1..=2 {
            for x in 1..=3 {
                map[y * w + x] = 1.0;
            }
        }
        let rect = [[1.0, 1.0], [3.0, 1.0], [3.0, 2.0], [1.0, 2.0]];
        assert_eq!(mean_in_polygon(&map, w, h, &rect), 1.0);
        let bigger = [[0.0, 0.0], [5.0, 0.0], [5.0, 3.0], [0.0, 3.0]];
        assert!((mean_in_polygon(&map, w, h, &bigger) - 6.0 / 24.0).abs() < 1e-6);
    }

    #[test]
    fn perspective_maps_corners() {
        let src = [[10.0, 10.0], [110.0, 20.0], [105.0, 60.0], [5.0, 50.0]];
        let dst = [[0.0, 0.0], [100.0, 0.0], [100.0, 40.0], [0.0, 40.0]];
        let h = perspective_transform(&src, &dst).unwrap();
        for i in 0..4 {
            let p = apply(&h, src[i]);
            assert!((p[0] - dst[i][0]).abs() < 1e-6 && (p[1] - dst[i][1]).abs() < 1e-6);
        }
        assert!(perspective_transform(&[[0.0, 0.0]; 4], &dst).is_none());
    }

    #[test]
    fn area_and_perimeter_of_rectangle() {
        let (a, l) = area_perimeter(&[[0.0, 0.0], [4.0, 0.0], [4.0, 3.0], [0.0, 3.0]]);
        assert_eq!((a, l), (12.0, 14.0));
    }
}
