//! OC-SORT (Cao et al., "Observation-Centric SORT: Rethinking SORT for Robust Multi-Object
//! Tracking", CVPR 2023), following the reference `trackers/ocsort_tracker/ocsort.py` (as
//! packaged in the `ocsort` wheel) so that outputs match it:
//!
//! * **ORU** (observation-centric re-update): when a track that went unobserved is matched again,
//!   its filter is rolled back to the state frozen at the first missed frame and re-run over a
//!   virtual trajectory interpolated linearly (in centre, width, height) between the last
//!   observation and the new one.
//! * **OCM** (observation-centric momentum): the cost adds, to IoU, the consistency between the
//!   track's direction (from observations `delta_t` frames apart) and the direction from its
//!   `delta_t`-old observation to each detection, weighted by `inertia` and the detection score.
//! * **OCR** (observation-centric recovery): detections and tracks left over are matched once
//!   more on IoU against the tracks' last observations instead of their predictions.

use std::collections::VecDeque;
use std::f64::consts::PI;

use crate::assignment::linear_assignment;
use crate::geometry::{iou, BoxConvention};
use crate::kalman::{xyxy_to_xysr, KalmanSort};
use crate::{to_f32, to_f64, Detection, Track, TrackState, Tracker};

/// OC-SORT parameters; `Default` gives the paper's values.
///
/// The fields a pipeline file or `oar track --param` may set carry the names of the reference's
/// arguments (`OCSort(det_thresh, max_age, min_hits, iou_threshold, delta_t, asso_func, inertia,
/// use_byte)`); `low_thresh` is a constant in the reference and stays out of files.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcSortConfig {
    /// Detections scoring above this are tracked; default 0.6 (the reference's `--track_thresh`).
    pub det_thresh: f32,
    /// Frames a track survives without a match; default 30.
    pub max_age: u32,
    /// Consecutive hits before a track is reported; default 3.
    pub min_hits: u32,
    /// Minimum IoU of a match; default 0.3.
    pub iou_threshold: f32,
    /// Frame gap of the observations used for the motion direction; default 3.
    pub delta_t: u32,
    /// The association cost; default (and the only one oar implements) `iou`.
    pub asso_func: AssoFunc,
    /// Weight of the direction-consistency (OCM) term; default 0.2.
    pub inertia: f32,
    /// Also match low-score detections (`low_thresh < score < det_thresh`) to unmatched tracks,
    /// as ByteTrack does ("OC-SORT + BYTE"); default false.
    pub use_byte: bool,
    /// Lower score bound of the low detections when `use_byte`; 0.1, fixed in the reference.
    #[serde(skip)]
    pub low_thresh: f32,
}

/// OC-SORT's association cost (`asso_func`). The reference also offers `giou`, `ciou`, `diou`
/// and `ct_dist`; oar implements the default only, so the others are a load error, not a
/// silent fall-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssoFunc {
    /// Intersection over union.
    #[default]
    Iou,
}

impl Default for OcSortConfig {
    fn default() -> Self {
        Self {
            det_thresh: 0.6,
            max_age: 30,
            min_hits: 3,
            iou_threshold: 0.3,
            delta_t: 3,
            asso_func: AssoFunc::Iou,
            inertia: 0.2,
            use_byte: false,
            low_thresh: 0.1,
        }
    }
}

impl OcSortConfig {
    /// Checks every settable parameter's range.
    pub fn validate(&self) -> Result<(), crate::ParamError> {
        use crate::params::check;
        const T: &str = "ocsort";
        check(T, "det_thresh", self.det_thresh, 0.0, 1.0)?;
        check(T, "max_age", self.max_age, 1, 100_000)?;
        check(T, "min_hits", self.min_hits, 0, 100_000)?;
        check(T, "iou_threshold", self.iou_threshold, 0.0, 1.0)?;
        check(T, "delta_t", self.delta_t, 1, 1000)?;
        check(T, "inertia", self.inertia, 0.0, 1.0)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Obs {
    bbox: [f64; 4],
    score: f32,
    class: u32,
}

#[derive(Debug, Clone)]
struct OcTrack {
    id: u64,
    kf: KalmanSort,
    time_since_update: u32,
    hits: u32,
    hit_streak: u32,
    age: u32,
    score: f32,
    class: u32,
    last_obs: Option<[f64; 4]>,
    /// Recent observations keyed by the age at which they were made.
    observations: VecDeque<(u32, [f64; 4])>,
    /// Unit direction `(dy, dx)` of the last motion.
    velocity: Option<[f64; 2]>,
    // ORU bookkeeping
    observed: bool,
    frozen: Option<KalmanSort>,
    last_z: Option<[f64; 4]>,
    missed: u32,
}

fn centre(b: &[f64; 4]) -> (f64, f64) {
    ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0)
}

/// Unit vector `(dy, dx)` from the centre of `a` to the centre of `b` (`1e-6` guard, as the
/// reference).
fn speed_direction(a: &[f64; 4], b: &[f64; 4]) -> [f64; 2] {
    let (cx1, cy1) = centre(a);
    let (cx2, cy2) = centre(b);
    let (dy, dx) = (cy2 - cy1, cx2 - cx1);
    let norm = (dy * dy + dx * dx).sqrt() + 1e-6;
    [dy / norm, dx / norm]
}

impl OcTrack {
    fn new(id: u64, obs: &Obs) -> Self {
        Self {
            id,
            kf: KalmanSort::new(xyxy_to_xysr(obs.bbox)),
            time_since_update: 0,
            hits: 0,
            hit_streak: 0,
            age: 0,
            score: obs.score,
            class: obs.class,
            last_obs: None,
            observations: VecDeque::new(),
            velocity: None,
            observed: false,
            frozen: None,
            last_z: None,
            missed: 0,
        }
    }

    /// The observation `delta_t` frames back, or the closest later one within that window, or
    /// the last one (`k_previous_obs` of the reference).
    fn previous_obs(&self, delta_t: u32) -> Option<[f64; 4]> {
        for dt in (1..=delta_t).rev() {
            if let Some(want) = self.age.checked_sub(dt) {
                if let Some((_, b)) = self.observations.iter().find(|(a, _)| *a == want) {
                    return Some(*b);
                }
            }
        }
        self.last_obs
    }

    fn predict(&mut self) -> [f64; 4] {
        if self.kf.x[6] + self.kf.x[2] <= 0.0 {
            self.kf.x[6] = 0.0;
        }
        self.kf.predict();
        self.age += 1;
        if self.time_since_update > 0 {
            self.hit_streak = 0;
        }
        self.time_since_update += 1;
        self.kf.xyxy()
    }

    fn update(&mut self, obs: &Obs, delta_t: u32) {
        self.class = obs.class;
        self.score = obs.score;
        if self.last_obs.is_some() {
            if let Some(prev) = self.previous_obs(delta_t) {
                self.velocity = Some(speed_direction(&prev, &obs.bbox));
            }
        }
        self.last_obs = Some(obs.bbox);
        self.observations.push_back((self.age, obs.bbox));
        while let Some(&(a, _)) = self.observations.front() {
            if a + delta_t < self.age {
                self.observations.pop_front();
            } else {
                break;
            }
        }
        self.time_since_update = 0;
        self.hits += 1;
        self.hit_streak += 1;
        self.filter_update(xyxy_to_xysr(obs.bbox));
    }

    fn mark_missed(&mut self) {
        if self.observed {
            self.frozen = Some(self.kf.clone());
        }
        self.observed = false;
        self.missed += 1;
    }

    fn filter_update(&mut self, z: [f64; 4]) {
        if !self.observed {
            if let (Some(saved), Some(z1)) = (self.frozen.take(), self.last_z) {
                // ORU: roll back and re-run over a linear virtual trajectory.
                self.kf = saved;
                let gap = self.missed + 1;
                let (w1, h1) = ((z1[2] * z1[3]).sqrt(), (z1[2] / z1[3]).sqrt());
                let (w2, h2) = ((z[2] * z[3]).sqrt(), (z[2] / z[3]).sqrt());
                let g = f64::from(gap);
                let (dx, dy, dw, dh) = (
                    (z[0] - z1[0]) / g,
                    (z[1] - z1[1]) / g,
                    (w2 - w1) / g,
                    (h2 - h1) / g,
                );
                for i in 0..gap {
                    let k = f64::from(i + 1);
                    let (w, h) = (w1 + k * dw, h1 + k * dh);
                    self.kf
                        .update([z1[0] + k * dx, z1[1] + k * dy, w * h, w / h]);
                    if i != gap - 1 {
                        self.kf.predict();
                    }
                }
            }
        }
        self.observed = true;
        self.kf.update(z);
        self.last_z = Some(z);
        self.missed = 0;
    }

    fn report(&self, min_hits: u32) -> Track {
        let bbox = self.last_obs.unwrap_or_else(|| self.kf.xyxy());
        let state = if self.time_since_update > 0 {
            TrackState::Lost
        } else if self.hit_streak >= min_hits {
            TrackState::Confirmed
        } else {
            TrackState::Tentative
        };
        Track {
            id: self.id,
            bbox: to_f32(bbox),
            score: self.score,
            class: self.class,
            age: self.age,
            hits: self.hits + 1,
            state,
        }
    }
}

/// The OC-SORT tracker.
#[derive(Debug, Clone)]
pub struct OcSort {
    cfg: OcSortConfig,
    frame_count: u32,
    next_id: u64,
    tracks: Vec<OcTrack>,
}

/// `(matches (det, trk), unmatched dets, unmatched trks)`
type Matching = (Vec<(usize, usize)>, Vec<usize>, Vec<usize>);

/// The reference's shortcut-or-assign step on an IoU (`iou`) and a total score (`gain`) matrix
/// (`d x t`, row-major), then the IoU filter.
fn match_on(iou_m: &[f64], gain: &[f64], d: usize, t: usize, thr: f64) -> Matching {
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    if d > 0 && t > 0 {
        let mut row_sum = vec![0usize; d];
        let mut col_sum = vec![0usize; t];
        for i in 0..d {
            for j in 0..t {
                if iou_m[i * t + j] > thr {
                    row_sum[i] += 1;
                    col_sum[j] += 1;
                }
            }
        }
        let unique = row_sum.iter().max() == Some(&1) && col_sum.iter().max() == Some(&1);
        if unique {
            for i in 0..d {
                for j in 0..t {
                    if iou_m[i * t + j] > thr {
                        pairs.push((i, j));
                    }
                }
            }
        } else {
            let neg: Vec<f64> = gain.iter().map(|g| -g).collect();
            for (i, c) in linear_assignment(&neg, d, t).into_iter().enumerate() {
                if let Some(j) = c {
                    pairs.push((i, j));
                }
            }
        }
    }
    let mut det_used = vec![false; d];
    let mut trk_used = vec![false; t];
    for &(i, j) in &pairs {
        det_used[i] = true;
        trk_used[j] = true;
    }
    let mut un_d: Vec<usize> = (0..d).filter(|&i| !det_used[i]).collect();
    let mut un_t: Vec<usize> = (0..t).filter(|&j| !trk_used[j]).collect();
    let mut matches = Vec::new();
    for (i, j) in pairs {
        if iou_m[i * t + j] < thr {
            un_d.push(i);
            un_t.push(j);
        } else {
            matches.push((i, j));
        }
    }
    (matches, un_d, un_t)
}

impl OcSort {
    /// A tracker with the given parameters.
    pub fn new(cfg: OcSortConfig) -> Self {
        Self {
            cfg,
            frame_count: 0,
            next_id: 1,
            tracks: Vec::new(),
        }
    }

    /// The parameters.
    pub fn config(&self) -> &OcSortConfig {
        &self.cfg
    }

    /// Every live track, reported or not.
    pub fn all_tracks(&self) -> Vec<Track> {
        self.tracks
            .iter()
            .map(|t| t.report(self.cfg.min_hits))
            .collect()
    }

    /// Second-chance matching of `dets[ds]` against `boxes[ts]` on IoU alone (used for BYTE and
    /// OCR). Returns matched (det, trk) pairs as indices into `ds` / `ts` positions' values.
    fn rematch(
        dets: &[Obs],
        ds: &[usize],
        boxes: &[Option<[f64; 4]>],
        ts: &[usize],
        thr: f64,
    ) -> Vec<(usize, usize)> {
        if ds.is_empty() || ts.is_empty() {
            return Vec::new();
        }
        let mut m = Vec::with_capacity(ds.len() * ts.len());
        for &d in ds {
            for &t in ts {
                m.push(boxes[t].map_or(0.0, |b| iou(&dets[d].bbox, &b, BoxConvention::Continuous)));
            }
        }
        let best = m.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if best.is_nan() || best <= thr {
            return Vec::new();
        }
        let neg: Vec<f64> = m.iter().map(|v| -v).collect();
        let mut out = Vec::new();
        for (i, c) in linear_assignment(&neg, ds.len(), ts.len())
            .into_iter()
            .enumerate()
        {
            if let Some(j) = c {
                if m[i * ts.len() + j] >= thr {
                    out.push((ds[i], ts[j]));
                }
            }
        }
        out
    }

    fn step(&mut self, detections: &[Detection]) -> Vec<Track> {
        self.frame_count += 1;
        let cfg = self.cfg.clone();
        let thr = f64::from(cfg.iou_threshold);
        let delta_t = cfg.delta_t;

        let mut dets: Vec<Obs> = Vec::new();
        let mut second: Vec<Obs> = Vec::new();
        for d in detections {
            let o = Obs {
                bbox: to_f64(d.bbox),
                score: d.score,
                class: d.class,
            };
            if d.score > cfg.det_thresh {
                dets.push(o);
            } else if d.score > cfg.low_thresh && d.score < cfg.det_thresh {
                second.push(o);
            }
        }

        // Predict; drop tracks whose box became invalid.
        let mut preds: Vec<[f64; 4]> = Vec::with_capacity(self.tracks.len());
        let mut keep = Vec::with_capacity(self.tracks.len());
        for t in &mut self.tracks {
            let p = t.predict();
            keep.push(!p.iter().any(|v| v.is_nan()));
            preds.push(p);
        }
        let mut k = keep.iter();
        self.tracks.retain(|_| *k.next().unwrap_or(&true));
        let mut k = keep.iter();
        preds.retain(|_| *k.next().unwrap_or(&true));

        let nt = self.tracks.len();
        let nd = dets.len();
        let last_boxes: Vec<Option<[f64; 4]>> = self.tracks.iter().map(|t| t.last_obs).collect();

        // First association: IoU + OCM against predictions.
        let (matches, mut un_d, mut un_t) = if nt == 0 {
            (Vec::new(), (0..nd).collect(), Vec::new())
        } else {
            let mut iou_m = Vec::with_capacity(nd * nt);
            let mut gain = Vec::with_capacity(nd * nt);
            let prev: Vec<Option<[f64; 4]>> = self
                .tracks
                .iter()
                .map(|t| t.previous_obs(delta_t))
                .collect();
            for d in &dets {
                for (j, t) in self.tracks.iter().enumerate() {
                    let v = iou(&d.bbox, &preds[j], BoxConvention::Continuous);
                    let mut angle_cost = 0.0;
                    if let Some(p) = prev[j] {
                        let [dy, dx] = speed_direction(&p, &d.bbox);
                        let [vy, vx] = t.velocity.unwrap_or([0.0, 0.0]);
                        let cos = (vx * dx + vy * dy).clamp(-1.0, 1.0);
                        let diff = (PI / 2.0 - cos.acos().abs()) / PI;
                        angle_cost = diff * f64::from(cfg.inertia) * f64::from(d.score);
                    }
                    iou_m.push(v);
                    gain.push(v + angle_cost);
                }
            }
            match_on(&iou_m, &gain, nd, nt, thr)
        };
        for &(d, t) in &matches {
            self.tracks[t].update(&dets[d], delta_t);
        }

        // BYTE: low detections against the unmatched tracks' predictions.
        if cfg.use_byte && !second.is_empty() && !un_t.is_empty() {
            let all: Vec<usize> = (0..second.len()).collect();
            let pred_boxes: Vec<Option<[f64; 4]>> = preds.iter().map(|p| Some(*p)).collect();
            let m = Self::rematch(&second, &all, &pred_boxes, &un_t, thr);
            for &(d, t) in &m {
                self.tracks[t].update(&second[d], delta_t);
            }
            un_t.retain(|t| !m.iter().any(|&(_, mt)| mt == *t));
            un_t.sort_unstable();
        }

        // OCR: leftovers against the tracks' last observations.
        if !un_d.is_empty() && !un_t.is_empty() {
            let m = Self::rematch(&dets, &un_d, &last_boxes, &un_t, thr);
            for &(d, t) in &m {
                self.tracks[t].update(&dets[d], delta_t);
            }
            un_d.retain(|d| !m.iter().any(|&(md, _)| md == *d));
            un_t.retain(|t| !m.iter().any(|&(_, mt)| mt == *t));
            un_d.sort_unstable();
            un_t.sort_unstable();
        }

        for &t in &un_t {
            self.tracks[t].mark_missed();
        }

        for &d in &un_d {
            self.tracks.push(OcTrack::new(self.next_id, &dets[d]));
            self.next_id += 1;
        }

        let mut out = Vec::new();
        for t in &self.tracks {
            if t.time_since_update < 1
                && (t.hit_streak >= cfg.min_hits || self.frame_count <= cfg.min_hits)
            {
                out.push(t.report(cfg.min_hits));
            }
        }
        self.tracks.retain(|t| t.time_since_update <= cfg.max_age);
        out
    }
}

impl Tracker for OcSort {
    fn update(&mut self, dets: &[Detection]) -> Vec<Track> {
        self.step(dets)
    }

    fn reset(&mut self) {
        *self = Self::new(self.cfg.clone());
    }

    fn name(&self) -> &'static str {
        "ocsort"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32) -> Detection {
        Detection {
            bbox: [x, y, x + 30.0, y + 60.0],
            score: 0.9,
            class: 0,
        }
    }

    #[test]
    fn min_hits_gate_after_warm_up() {
        let mut oc = OcSort::new(OcSortConfig::default());
        // the first min_hits frames report everything that was matched or created
        assert_eq!(oc.update(&[det(0.0, 0.0)]).len(), 1);
        // a new object at frame 4 needs 3 consecutive hits
        for f in 1..3 {
            assert_eq!(oc.update(&[det(f as f32 * 2.0, 0.0)]).len(), 1);
        }
        let x = |f: i32| f as f32 * 2.0;
        assert_eq!(oc.update(&[det(x(3), 0.0), det(300.0, 0.0)]).len(), 1);
        assert_eq!(oc.update(&[det(x(4), 0.0), det(302.0, 0.0)]).len(), 1);
        assert_eq!(oc.update(&[det(x(5), 0.0), det(304.0, 0.0)]).len(), 1);
        let out = oc.update(&[det(x(6), 0.0), det(306.0, 0.0)]);
        assert_eq!(out.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1, 2]);
        assert!(out.iter().all(|t| t.state == TrackState::Confirmed));
    }

    #[test]
    fn oru_interpolates_over_the_gap() {
        // An object moving at 4 px/frame, unseen for 5 frames: after re-association the filter's
        // velocity is the true one, not the decayed guess it drifted to while unobserved.
        let mut oc = OcSort::new(OcSortConfig::default());
        for f in 0..10 {
            oc.update(&[det(4.0 * f as f32, 0.0)]);
        }
        for _ in 10..15 {
            oc.update(&[]);
        }
        let out = oc.update(&[det(60.0, 0.0)]);
        assert_eq!(out.len(), 0, "hit streak restarts after a gap");
        let t = &oc.tracks[0];
        assert_eq!(t.id, 1);
        assert!((t.kf.x[4] - 4.0).abs() < 0.5, "vx {}", t.kf.x[4]);
        assert!((t.kf.x[0] - 75.0).abs() < 1.0, "cx {}", t.kf.x[0]);
    }

    #[test]
    fn dropped_after_max_age() {
        let cfg = OcSortConfig {
            max_age: 3,
            ..Default::default()
        };
        let mut oc = OcSort::new(cfg);
        oc.update(&[det(0.0, 0.0)]);
        for _ in 0..3 {
            oc.update(&[]);
            assert_eq!(oc.tracks.len(), 1);
        }
        oc.update(&[]);
        assert!(oc.tracks.is_empty());
    }
}
