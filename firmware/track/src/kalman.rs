#![allow(clippy::needless_range_loop)] // index loops read best in matrix code
//! Constant-velocity Kalman filters for bounding boxes.
//!
//! * [`KalmanXyah`]: the 8-dimensional filter of DeepSORT / ByteTrack, state
//!   `(cx, cy, a, h, vcx, vcy, va, vh)` with `a = w / h`; process and measurement noise scale
//!   with the box height (weights 1/20 for position, 1/160 for velocity).
//! * [`KalmanSort`]: the 7-dimensional filter of SORT / OC-SORT, state
//!   `(cx, cy, s, r, vcx, vcy, vs)` with `s = w * h` (area) and `r = w / h`; fixed noise.
//!
//! Both work in `f64` (as the Python references do) on fixed-size arrays: no allocation.

/// A row-major `R x C` matrix.
pub type Mat<const R: usize, const C: usize> = [[f64; C]; R];

pub(crate) fn matmul<const A: usize, const B: usize, const C: usize>(
    x: &Mat<A, B>,
    y: &Mat<B, C>,
) -> Mat<A, C> {
    let mut out = [[0.0; C]; A];
    for i in 0..A {
        for k in 0..B {
            let xik = x[i][k];
            if xik == 0.0 {
                continue;
            }
            for j in 0..C {
                out[i][j] += xik * y[k][j];
            }
        }
    }
    out
}

pub(crate) fn transpose<const R: usize, const C: usize>(x: &Mat<R, C>) -> Mat<C, R> {
    let mut out = [[0.0; R]; C];
    for i in 0..R {
        for j in 0..C {
            out[j][i] = x[i][j];
        }
    }
    out
}

pub(crate) fn identity<const N: usize>() -> Mat<N, N> {
    let mut out = [[0.0; N]; N];
    for (i, row) in out.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    out
}

/// Inverse of a symmetric positive-definite matrix through its Cholesky factor.
/// Returns `None` if the matrix is not positive definite.
pub(crate) fn spd_inverse<const N: usize>(a: &Mat<N, N>) -> Option<Mat<N, N>> {
    // a = L L^T
    let mut l = [[0.0; N]; N];
    for i in 0..N {
        for j in 0..=i {
            let mut sum = a[i][j];
            for k in 0..j {
                sum -= l[i][k] * l[j][k];
            }
            if i == j {
                // also rejects NaN
                if sum.is_nan() || sum <= 0.0 {
                    return None;
                }
                l[i][i] = sum.sqrt();
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    }
    // inv(L) by forward substitution, then inv(a) = inv(L)^T inv(L)
    let mut li = [[0.0; N]; N];
    for col in 0..N {
        for i in col..N {
            let mut sum = if i == col { 1.0 } else { 0.0 };
            for k in col..i {
                sum -= l[i][k] * li[k][col];
            }
            li[i][col] = sum / l[i][i];
        }
    }
    let mut out = [[0.0; N]; N];
    for i in 0..N {
        for j in 0..=i {
            let mut sum = 0.0;
            for k in i.max(j)..N {
                sum += li[k][i] * li[k][j];
            }
            out[i][j] = sum;
            out[j][i] = sum;
        }
    }
    Some(out)
}

fn diag<const N: usize>(d: [f64; N]) -> Mat<N, N> {
    let mut out = [[0.0; N]; N];
    for i in 0..N {
        out[i][i] = d[i];
    }
    out
}

/// Converts `[x1, y1, x2, y2]` to ByteTrack's measurement `(cx, cy, w / h, h)`.
pub fn xyxy_to_xyah(b: [f64; 4]) -> [f64; 4] {
    let w = b[2] - b[0];
    let h = b[3] - b[1];
    [b[0] + w / 2.0, b[1] + h / 2.0, w / h, h]
}

/// Converts `(cx, cy, w / h, h)` back to `[x1, y1, x2, y2]`.
pub fn xyah_to_xyxy(z: [f64; 4]) -> [f64; 4] {
    let w = z[2] * z[3];
    let h = z[3];
    [
        z[0] - w / 2.0,
        z[1] - h / 2.0,
        z[0] + w / 2.0,
        z[1] + h / 2.0,
    ]
}

/// Converts `[x1, y1, x2, y2]` to SORT's measurement `(cx, cy, s = w h, r = w / h)`
/// (with SORT's `1e-6` guard on `h`).
pub fn xyxy_to_xysr(b: [f64; 4]) -> [f64; 4] {
    let w = b[2] - b[0];
    let h = b[3] - b[1];
    [b[0] + w / 2.0, b[1] + h / 2.0, w * h, w / (h + 1e-6)]
}

/// Converts `(cx, cy, s, r)` back to `[x1, y1, x2, y2]`. Gives NaN when `s * r < 0`, as SORT does;
/// callers drop such tracks.
pub fn xysr_to_xyxy(z: [f64; 4]) -> [f64; 4] {
    let w = (z[2] * z[3]).sqrt();
    let h = z[2] / w;
    [
        z[0] - w / 2.0,
        z[1] - h / 2.0,
        z[0] + w / 2.0,
        z[1] + h / 2.0,
    ]
}

/// ByteTrack's constant-velocity filter on `(cx, cy, a, h)` (8-dim state).
#[derive(Debug, Clone, PartialEq)]
pub struct KalmanXyah {
    /// `(cx, cy, a, h, vcx, vcy, va, vh)`.
    pub mean: [f64; 8],
    /// State covariance.
    pub cov: Mat<8, 8>,
}

impl KalmanXyah {
    /// Weight of the position noise relative to the box height (1/20).
    pub const STD_WEIGHT_POSITION: f64 = 1.0 / 20.0;
    /// Weight of the velocity noise relative to the box height (1/160).
    pub const STD_WEIGHT_VELOCITY: f64 = 1.0 / 160.0;

    /// Starts a track from a measurement `(cx, cy, a, h)`; velocities start at 0.
    pub fn initiate(z: [f64; 4]) -> Self {
        let (wp, wv) = (Self::STD_WEIGHT_POSITION, Self::STD_WEIGHT_VELOCITY);
        let h = z[3];
        let std = [
            2.0 * wp * h,
            2.0 * wp * h,
            1e-2,
            2.0 * wp * h,
            10.0 * wv * h,
            10.0 * wv * h,
            1e-5,
            10.0 * wv * h,
        ];
        let mut mean = [0.0; 8];
        mean[..4].copy_from_slice(&z);
        Self {
            mean,
            cov: diag(std.map(|s| s * s)),
        }
    }

    /// One step of the motion model: `x = F x`, `P = F P F^T + Q(h)`.
    pub fn predict(&mut self) {
        let (wp, wv) = (Self::STD_WEIGHT_POSITION, Self::STD_WEIGHT_VELOCITY);
        let h = self.mean[3];
        let std = [wp * h, wp * h, 1e-2, wp * h, wv * h, wv * h, 1e-5, wv * h];
        for i in 0..4 {
            self.mean[i] += self.mean[i + 4];
        }
        // F P F^T with F = [[I, I], [0, I]], written out blockwise.
        let p = self.cov;
        let mut out = [[0.0; 8]; 8];
        for i in 0..8 {
            for j in 0..8 {
                let mut v = p[i][j];
                if i < 4 {
                    v += p[i + 4][j];
                }
                if j < 4 {
                    v += p[i][j + 4];
                }
                if i < 4 && j < 4 {
                    v += p[i + 4][j + 4];
                }
                out[i][j] = v;
            }
        }
        for i in 0..8 {
            out[i][i] += std[i] * std[i];
        }
        self.cov = out;
    }

    /// The state projected to measurement space: `(H x, H P H^T + R(h))`.
    pub fn project(&self) -> ([f64; 4], Mat<4, 4>) {
        let wp = Self::STD_WEIGHT_POSITION;
        let h = self.mean[3];
        let std = [wp * h, wp * h, 1e-1, wp * h];
        let mut s = [[0.0; 4]; 4];
        for i in 0..4 {
            for j in 0..4 {
                s[i][j] = self.cov[i][j];
            }
            s[i][i] += std[i] * std[i];
        }
        let mut m = [0.0; 4];
        m.copy_from_slice(&self.mean[..4]);
        (m, s)
    }

    /// Corrects the state with a measurement `(cx, cy, a, h)`.
    pub fn update(&mut self, z: [f64; 4]) {
        let (pm, s) = self.project();
        let Some(si) = spd_inverse(&s) else {
            return;
        };
        // P H^T is the first 4 columns of P.
        let mut pht = [[0.0; 4]; 8];
        for i in 0..8 {
            pht[i].copy_from_slice(&self.cov[i][..4]);
        }
        let k = matmul(&pht, &si); // 8x4
        let innov = [z[0] - pm[0], z[1] - pm[1], z[2] - pm[2], z[3] - pm[3]];
        for i in 0..8 {
            self.mean[i] += (0..4).map(|j| k[i][j] * innov[j]).sum::<f64>();
        }
        // P - K S K^T = P - K (P H^T)^T
        let ksk = matmul(&k, &transpose(&pht));
        for i in 0..8 {
            for j in 0..8 {
                self.cov[i][j] -= ksk[i][j];
            }
        }
    }

    /// The box `[x1, y1, x2, y2]` of the current mean.
    pub fn xyxy(&self) -> [f64; 4] {
        xyah_to_xyxy([self.mean[0], self.mean[1], self.mean[2], self.mean[3]])
    }
}

/// SORT's constant-velocity filter on `(cx, cy, s, r)` (7-dim state, no velocity for `r`), as
/// OC-SORT configures it: `P0 = diag(10, 10, 10, 10, 1e4, 1e4, 1e4)`,
/// `Q = diag(1, 1, 1, 1, 0.01, 0.01, 1e-4)`, `R = diag(1, 1, 10, 10)`.
#[derive(Debug, Clone, PartialEq)]
pub struct KalmanSort {
    /// `(cx, cy, s, r, vcx, vcy, vs)`.
    pub x: [f64; 7],
    /// State covariance.
    pub p: Mat<7, 7>,
}

impl KalmanSort {
    const Q: [f64; 7] = [1.0, 1.0, 1.0, 1.0, 0.01, 0.01, 1e-4];
    const R: [f64; 4] = [1.0, 1.0, 10.0, 10.0];

    /// Starts a track from a measurement `(cx, cy, s, r)`.
    pub fn new(z: [f64; 4]) -> Self {
        let mut x = [0.0; 7];
        x[..4].copy_from_slice(&z);
        Self {
            x,
            p: diag([10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4]),
        }
    }

    /// `x = F x`, `P = F P F^T + Q`.
    pub fn predict(&mut self) {
        for i in 0..3 {
            self.x[i] += self.x[i + 4];
        }
        // F = I except F[i][i+4] = 1 for i in 0..3
        let p = self.p;
        let mut out = [[0.0; 7]; 7];
        for i in 0..7 {
            for j in 0..7 {
                let mut v = p[i][j];
                if i < 3 {
                    v += p[i + 4][j];
                }
                if j < 3 {
                    v += p[i][j + 4];
                }
                if i < 3 && j < 3 {
                    v += p[i + 4][j + 4];
                }
                out[i][j] = v;
            }
        }
        for i in 0..7 {
            out[i][i] += Self::Q[i];
        }
        self.p = out;
    }

    /// Corrects the state with `(cx, cy, s, r)`; covariance in Joseph form, as filterpy does.
    pub fn update(&mut self, z: [f64; 4]) {
        let mut pht = [[0.0; 4]; 7];
        for i in 0..7 {
            pht[i].copy_from_slice(&self.p[i][..4]);
        }
        let mut s = [[0.0; 4]; 4];
        s.copy_from_slice(&pht[..4]);
        for i in 0..4 {
            s[i][i] += Self::R[i];
        }
        let Some(si) = spd_inverse(&s) else {
            return;
        };
        let k = matmul(&pht, &si); // 7x4
        let y = [
            z[0] - self.x[0],
            z[1] - self.x[1],
            z[2] - self.x[2],
            z[3] - self.x[3],
        ];
        for i in 0..7 {
            self.x[i] += (0..4).map(|j| k[i][j] * y[j]).sum::<f64>();
        }
        // P = (I - K H) P (I - K H)^T + K R K^T
        let mut ikh: Mat<7, 7> = identity();
        for i in 0..7 {
            for j in 0..4 {
                ikh[i][j] -= k[i][j];
            }
        }
        let a = matmul(&matmul(&ikh, &self.p), &transpose(&ikh));
        let mut kr = k;
        for row in kr.iter_mut() {
            for j in 0..4 {
                row[j] *= Self::R[j];
            }
        }
        let krk = matmul(&kr, &transpose(&k));
        for i in 0..7 {
            for j in 0..7 {
                self.p[i][j] = a[i][j] + krk[i][j];
            }
        }
    }

    /// The box `[x1, y1, x2, y2]` of the current state (NaN if `s * r < 0`).
    pub fn xyxy(&self) -> [f64; 4] {
        xysr_to_xyxy([self.x[0], self.x[1], self.x[2], self.x[3]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn spd_inverse_is_inverse() {
        let a = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let ai = spd_inverse(&a).unwrap();
        let id = matmul(&a, &ai);
        for i in 0..3 {
            for j in 0..3 {
                assert!(close(id[i][j], if i == j { 1.0 } else { 0.0 }), "{id:?}");
            }
        }
        assert!(spd_inverse(&[[1.0, 2.0], [2.0, 1.0]]).is_none());
    }

    #[test]
    fn xyah_initiate_predict_update_by_hand() {
        // h = 40: position std 2 * 40 / 20 = 4, velocity std 10 * 40 / 160 = 2.5
        let mut kf = KalmanXyah::initiate([100.0, 50.0, 0.5, 40.0]);
        assert!(close(kf.cov[0][0], 16.0));
        assert!(close(kf.cov[2][2], 1e-4));
        assert!(close(kf.cov[4][4], 6.25));
        assert!(close(kf.cov[6][6], 1e-10));
        kf.predict();
        // P_xx = 16 + 6.25 + (40/20)^2 = 26.25, P_xv = 6.25, P_vv = 6.25 + (40/160)^2
        assert!(close(kf.cov[0][0], 26.25));
        assert!(close(kf.cov[0][4], 6.25));
        assert!(close(kf.cov[4][0], 6.25));
        assert!(close(kf.cov[4][4], 6.3125));
        assert_eq!(kf.mean[..4], [100.0, 50.0, 0.5, 40.0]);
        kf.update([102.0, 50.0, 0.5, 40.0]);
        // S_xx = 26.25 + 4 = 30.25; K_x = 26.25 / 30.25, K_vx = 6.25 / 30.25
        assert!(close(kf.mean[0], 100.0 + 2.0 * 26.25 / 30.25));
        assert!(close(kf.mean[4], 2.0 * 6.25 / 30.25));
        assert!(close(kf.mean[1], 50.0));
        assert!(close(kf.cov[0][0], 26.25 * 4.0 / 30.25));
        assert!(close(kf.cov[0][4], 6.25 * 4.0 / 30.25));
        assert!(close(kf.cov[4][4], 6.3125 - 6.25 * 6.25 / 30.25));
        // a constant-velocity target: the filter's velocity converges to it
        let mut kf = KalmanXyah::initiate([0.0, 0.0, 0.5, 40.0]);
        for t in 1..60 {
            kf.predict();
            kf.update([3.0 * t as f64, -(t as f64), 0.5, 40.0]);
        }
        assert!(
            (kf.mean[4] - 3.0).abs() < 1e-3 && (kf.mean[5] + 1.0).abs() < 1e-3,
            "{:?}",
            kf.mean
        );
    }

    #[test]
    fn sort_predict_update_by_hand() {
        let mut kf = KalmanSort::new([10.0, 20.0, 400.0, 1.0]);
        kf.predict();
        assert!(close(kf.p[0][0], 10.0 + 1e4 + 1.0));
        assert!(close(kf.p[0][4], 1e4));
        assert!(close(kf.p[4][4], 1e4 + 0.01));
        assert!(close(kf.p[3][3], 11.0));
        assert!(close(kf.p[6][6], 1e4 + 1e-4));
        kf.update([12.0, 20.0, 400.0, 1.0]);
        // S_00 = 10011 + 1; K_0 = 10011 / 10012, K_4 = 1e4 / 10012
        assert!(close(kf.x[0], 10.0 + 2.0 * 10011.0 / 10012.0));
        assert!(close(kf.x[4], 2.0 * 1e4 / 10012.0));
        assert!(close(kf.p[0][0], 10011.0 / 10012.0));
        // r: S = 11 + 10, P = 11 * 10 / 21
        assert!(close(kf.p[3][3], 110.0 / 21.0));
        let b = kf.xyxy();
        assert!(((b[2] - b[0]) * (b[3] - b[1]) - kf.x[2]).abs() < 1e-6);
    }

    #[test]
    fn box_conversions_round_trip() {
        let b = [10.0, 20.0, 50.0, 100.0];
        let back = xyah_to_xyxy(xyxy_to_xyah(b));
        let back2 = xysr_to_xyxy(xyxy_to_xysr(b));
        for i in 0..4 {
            assert!((back[i] - b[i]).abs() < 1e-9);
            assert!((back2[i] - b[i]).abs() < 1e-4);
        }
    }
}
