//! Perspective crops of text boxes (`cv2.warpPerspective` as PaddleOCR crops them). The image
//! type itself is oar-io's.

use crate::geometry::{apply, perspective_transform, Pt};
use oar_io::Rgb;

/// Extracts the quadrilateral `quad` (tl, tr, br, bl) into a `width`×`height` image with a
/// perspective warp, bicubic sampling and replicated borders (`cv2.warpPerspective` with
/// `INTER_CUBIC`, `BORDER_REPLICATE`).
pub fn warp_quad(img: &Rgb, quad: &[Pt; 4], width: usize, height: usize) -> Rgb {
    let (w, h) = (width.max(1), height.max(1));
    let mut out = Rgb::new(w, h);
    let dst = [[0.0, 0.0], [w as f64, 0.0], [w as f64, h as f64], [0.0, h as f64]];
    let Some(m) = perspective_transform(&dst, quad) else { return out };
    for y in 0..h {
        for x in 0..w {
            let [sx, sy] = apply(&m, [x as f64, y as f64]);
            let px = bicubic(img, sx, sy);
            let i = (y * w + x) * 3;
            out.data[i..i + 3].copy_from_slice(&px);
        }
    }
    out
}

fn bicubic(img: &Rgb, x: f64, y: f64) -> [u8; 3] {
    // OpenCV quantises the sub-pixel position to 1/32 before weighting.
    const TAB: f64 = 32.0;
    let (xq, yq) = ((x * TAB).round(), (y * TAB).round());
    let (x0, y0) = ((xq / TAB).floor(), (yq / TAB).floor());
    let (fx, fy) = (xq / TAB - x0, yq / TAB - y0);
    let (wx, wy) = (cubic_weights(fx), cubic_weights(fy));
    let clampx = |v: i64| v.clamp(0, img.width as i64 - 1) as usize;
    let clampy = |v: i64| v.clamp(0, img.height as i64 - 1) as usize;
    let mut acc = [0.0f64; 3];
    for (j, wyj) in wy.iter().enumerate() {
        let sy = clampy(y0 as i64 - 1 + j as i64);
        for (i, wxi) in wx.iter().enumerate() {
            let sx = clampx(x0 as i64 - 1 + i as i64);
            let p = img.pixel(sx, sy);
            let wgt = wxi * wyj;
            for c in 0..3 {
                acc[c] += p[c] as f64 * wgt;
            }
        }
    }
    acc.map(|v| v.round().clamp(0.0, 255.0) as u8)
}

/// Keys' cubic convolution weights with a = -0.75 (OpenCV's choice).
fn cubic_weights(t: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    let w0 = ((A * (t + 1.0) - 5.0 * A) * (t + 1.0) + 8.0 * A) * (t + 1.0) - 4.0 * A;
    let w1 = ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
    let w2 = ((A + 2.0) * (1.0 - t) - (A + 3.0)) * (1.0 - t) * (1.0 - t) + 1.0;
    [w0, w1, w2, 1.0 - w0 - w1 - w2]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte different from its neighbours, so a shifted copy would not match.
    fn noise(w: usize, h: usize) -> Rgb {
        Rgb { width: w, height: h, data: (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect() }
    }

    #[test]
    fn axis_aligned_warp_is_a_copy() {
        let img = noise(20, 10);
        let quad = [[4.0, 2.0], [14.0, 2.0], [14.0, 8.0], [4.0, 8.0]];
        let crop = warp_quad(&img, &quad, 10, 6);
        for y in 0..6 {
            for x in 0..10 {
                assert_eq!(crop.pixel(x, y), img.pixel(x + 4, y + 2));
            }
        }
    }

    #[test]
    fn cubic_weights_sum_to_one() {
        for t in [0.0, 0.25, 0.5, 0.9] {
            assert!((cubic_weights(t).iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert_eq!(cubic_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
    }
}
