//! ByteTrack (Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every Detection
//! Box", ECCV 2022), following the reference `yolox/tracker/byte_tracker.py` step by step,
//! including its list bookkeeping, so that outputs match it.

use crate::assignment::linear_assignment_with_limit;
use crate::geometry::{iou, BoxConvention};
use crate::kalman::{xyxy_to_xyah, KalmanXyah};
use crate::{to_f32, to_f64, Detection, Track, TrackState, Tracker};

/// ByteTrack parameters; `Default` gives the paper's (and the reference's) values.
///
/// The fields a pipeline file or `oar track --param` may set carry the names of the reference's
/// arguments (`BYTETracker(track_thresh, track_buffer, match_thresh, frame_rate)` and its
/// `--mot20` flag); the rest are constants in the reference and stay out of files.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ByteTrackConfig {
    /// Detections scoring above this are "high" (first association); unmatched high
    /// detections start a track at or above `track_thresh + 0.1`, as in the reference
    /// ([`Self::det_thresh`]); default 0.5.
    pub track_thresh: f32,
    /// Frames a lost track is kept, at 30 fps; default 30.
    pub track_buffer: u32,
    /// Cost limit of the first association (cost `1 - IoU`, score-fused); default 0.8.
    pub match_thresh: f32,
    /// Frame rate of the stream: the buffer scales with it (`frame_rate / 30 * track_buffer`);
    /// default 30.
    pub frame_rate: u32,
    /// The reference's `--mot20`: do not multiply IoU by the detection score before the first
    /// and the unconfirmed association; default false.
    pub mot20: bool,
    /// Detections scoring above this and below `track_thresh` are "low" (second association);
    /// 0.1, fixed in the reference.
    #[serde(skip)]
    pub low_thresh: f32,
    /// Cost limit of the second association (low detections, plain `1 - IoU`); 0.5, fixed in
    /// the reference.
    #[serde(skip)]
    pub low_match_thresh: f32,
    /// Cost limit for unconfirmed tracks against the remaining high detections; 0.7, fixed in
    /// the reference.
    #[serde(skip)]
    pub unconfirmed_match_thresh: f32,
}

impl Default for ByteTrackConfig {
    fn default() -> Self {
        Self {
            track_thresh: 0.5,
            track_buffer: 30,
            match_thresh: 0.8,
            frame_rate: 30,
            mot20: false,
            low_thresh: 0.1,
            low_match_thresh: 0.5,
            unconfirmed_match_thresh: 0.7,
        }
    }
}

impl ByteTrackConfig {
    /// Frames after which a lost track is removed.
    pub fn max_time_lost(&self) -> u64 {
        (self.frame_rate as f64 / 30.0 * self.track_buffer as f64) as u64
    }

    /// Unmatched high detections start a track only at or above this score: the reference's
    /// `track_thresh + 0.1` (summed in f64, as Python does).
    pub fn det_thresh(&self) -> f32 {
        (f64::from(self.track_thresh) + 0.1) as f32
    }

    /// Checks every settable parameter's range.
    pub fn validate(&self) -> Result<(), crate::ParamError> {
        use crate::params::check;
        const T: &str = "bytetrack";
        check(T, "track_thresh", self.track_thresh, 0.0, 1.0)?;
        check(T, "track_buffer", self.track_buffer, 1, 100_000)?;
        check(T, "match_thresh", self.match_thresh, 0.0, 1.0)?;
        check(T, "frame_rate", self.frame_rate, 1, 1000)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Tracked,
    Lost,
    Removed,
}

#[derive(Debug, Clone)]
struct STrack {
    id: u64,
    kf: KalmanXyah,
    score: f32,
    class: u32,
    state: State,
    is_activated: bool,
    /// Last frame the track was matched.
    frame_id: u64,
    start_frame: u64,
    hits: u32,
    /// Frame at which the reference put it into its `removed_stracks` list after it timed out
    /// while lost (it stays in the lost list, and matchable, for one more frame, and is dropped
    /// at once if it is ever lost again).
    removed_at: Option<u64>,
}

impl STrack {
    fn tlbr(&self) -> [f64; 4] {
        self.kf.xyxy()
    }

    fn update(&mut self, det: &Det, frame_id: u64) {
        self.frame_id = frame_id;
        self.kf.update(xyxy_to_xyah(det.bbox));
        self.state = State::Tracked;
        self.is_activated = true;
        self.score = det.score;
        self.hits += 1;
    }

    fn re_activate(&mut self, det: &Det, frame_id: u64) {
        self.update(det, frame_id);
        self.class = det.class;
    }
}

#[derive(Debug, Clone, Copy)]
struct Det {
    bbox: [f64; 4],
    score: f32,
    class: u32,
}

/// The ByteTrack tracker.
#[derive(Debug, Clone)]
pub struct ByteTrack {
    cfg: ByteTrackConfig,
    frame_id: u64,
    next_id: u64,
    tracked: Vec<STrack>,
    lost: Vec<STrack>,
}

impl ByteTrack {
    /// A tracker with the given parameters.
    pub fn new(cfg: ByteTrackConfig) -> Self {
        Self {
            cfg,
            frame_id: 0,
            next_id: 1,
            tracked: Vec::new(),
            lost: Vec::new(),
        }
    }

    /// The parameters.
    pub fn config(&self) -> &ByteTrackConfig {
        &self.cfg
    }

    /// Every live track (tracked, unconfirmed and lost), for inspection.
    pub fn all_tracks(&self) -> Vec<Track> {
        self.tracked
            .iter()
            .chain(self.lost.iter())
            .map(|t| self.report(t))
            .collect()
    }

    fn report(&self, t: &STrack) -> Track {
        let state = match t.state {
            State::Tracked if t.is_activated => TrackState::Confirmed,
            State::Tracked => TrackState::Tentative,
            State::Lost => TrackState::Lost,
            State::Removed => TrackState::Removed,
        };
        Track {
            id: t.id,
            bbox: to_f32(t.tlbr()),
            score: t.score,
            class: t.class,
            age: (self.frame_id - t.start_frame) as u32,
            hits: t.hits,
            state,
        }
    }

    fn cost(tracks: &[&STrack], dets: &[Det], fuse: bool) -> Vec<f64> {
        let mut out = Vec::with_capacity(tracks.len() * dets.len());
        for t in tracks {
            let tb = t.tlbr();
            for d in dets {
                let mut sim = iou(&tb, &d.bbox, BoxConvention::PixelInclusive);
                if fuse {
                    sim *= f64::from(d.score);
                }
                out.push(1.0 - sim);
            }
        }
        out
    }

    fn step(&mut self, detections: &[Detection]) -> Vec<Track> {
        self.frame_id += 1;
        let frame_id = self.frame_id;
        let cfg = &self.cfg;

        let mut high = Vec::new();
        let mut low = Vec::new();
        for d in detections {
            let det = Det {
                bbox: to_f64(d.bbox),
                score: d.score,
                class: d.class,
            };
            if d.score > cfg.track_thresh {
                high.push(det);
            } else if d.score > cfg.low_thresh && d.score < cfg.track_thresh {
                low.push(det);
            }
        }

        // Arena: old tracked tracks first, then old lost ones; lists below hold indices.
        let n_tracked = self.tracked.len();
        let mut arena: Vec<STrack> = std::mem::take(&mut self.tracked);
        arena.append(&mut self.lost);
        let old_tracked: Vec<usize> = (0..n_tracked).collect();
        let old_lost: Vec<usize> = (n_tracked..arena.len()).collect();

        let unconfirmed: Vec<usize> = old_tracked
            .iter()
            .copied()
            .filter(|&i| !arena[i].is_activated)
            .collect();
        let pool: Vec<usize> = old_tracked
            .iter()
            .copied()
            .filter(|&i| arena[i].is_activated)
            .chain(old_lost.iter().copied())
            .collect();

        for &i in &pool {
            let t = &mut arena[i];
            if t.state != State::Tracked {
                t.kf.mean[7] = 0.0;
            }
            t.kf.predict();
        }

        let mut activated: Vec<usize> = Vec::new();
        let mut refind: Vec<usize> = Vec::new();
        let mut lost_now: Vec<usize> = Vec::new();

        // Step 2: first association, high detections against tracked + lost.
        let first = {
            let refs: Vec<&STrack> = pool.iter().map(|&i| &arena[i]).collect();
            let cost = Self::cost(&refs, &high, !cfg.mot20);
            linear_assignment_with_limit(&cost, pool.len(), high.len(), f64::from(cfg.match_thresh))
        };
        for &(it, id) in &first.matches {
            let ti = pool[it];
            let t = &mut arena[ti];
            if t.state == State::Tracked {
                t.update(&high[id], frame_id);
                activated.push(ti);
            } else {
                t.re_activate(&high[id], frame_id);
                refind.push(ti);
            }
        }

        // Step 3: second association, low detections against the still-tracked rest.
        let r_tracked: Vec<usize> = first
            .unmatched_rows
            .iter()
            .map(|&i| pool[i])
            .filter(|&i| arena[i].state == State::Tracked)
            .collect();
        let second = {
            let refs: Vec<&STrack> = r_tracked.iter().map(|&i| &arena[i]).collect();
            let cost = Self::cost(&refs, &low, false);
            linear_assignment_with_limit(
                &cost,
                r_tracked.len(),
                low.len(),
                f64::from(cfg.low_match_thresh),
            )
        };
        for &(it, id) in &second.matches {
            let ti = r_tracked[it];
            arena[ti].update(&low[id], frame_id);
            activated.push(ti);
        }
        for &it in &second.unmatched_rows {
            let ti = r_tracked[it];
            if arena[ti].state != State::Lost {
                arena[ti].state = State::Lost;
                lost_now.push(ti);
            }
        }

        // Unconfirmed tracks (one frame old) against the remaining high detections.
        let rest: Vec<Det> = first.unmatched_cols.iter().map(|&i| high[i]).collect();
        let third = {
            let refs: Vec<&STrack> = unconfirmed.iter().map(|&i| &arena[i]).collect();
            let cost = Self::cost(&refs, &rest, !cfg.mot20);
            linear_assignment_with_limit(
                &cost,
                unconfirmed.len(),
                rest.len(),
                f64::from(cfg.unconfirmed_match_thresh),
            )
        };
        for &(it, id) in &third.matches {
            let ti = unconfirmed[it];
            arena[ti].update(&rest[id], frame_id);
            activated.push(ti);
        }
        for &it in &third.unmatched_rows {
            arena[unconfirmed[it]].state = State::Removed;
        }

        // Step 4: new tracks.
        for &id in &third.unmatched_cols {
            let d = &rest[id];
            if d.score < cfg.det_thresh() {
                continue;
            }
            let t = STrack {
                id: self.next_id,
                kf: KalmanXyah::initiate(xyxy_to_xyah(d.bbox)),
                score: d.score,
                class: d.class,
                state: State::Tracked,
                is_activated: frame_id == 1,
                frame_id,
                start_frame: frame_id,
                hits: 1,
                removed_at: None,
            };
            self.next_id += 1;
            arena.push(t);
            activated.push(arena.len() - 1);
        }

        // Step 5: time out lost tracks.
        let max_time_lost = cfg.max_time_lost();
        for &i in &old_lost {
            let t = &mut arena[i];
            if frame_id - t.frame_id > max_time_lost {
                t.state = State::Removed;
                if t.removed_at.is_none() {
                    t.removed_at = Some(frame_id);
                }
            }
        }

        // Rebuild the lists the way the reference does.
        let mut tracked: Vec<usize> = old_tracked
            .iter()
            .copied()
            .filter(|&i| arena[i].state == State::Tracked)
            .collect();
        for &i in activated.iter().chain(refind.iter()) {
            if !tracked.contains(&i) {
                tracked.push(i);
            }
        }
        let mut lost: Vec<usize> = old_lost
            .iter()
            .copied()
            .filter(|i| !tracked.contains(i))
            .collect();
        for &i in &lost_now {
            if !lost.contains(&i) {
                lost.push(i);
            }
        }
        // `sub_stracks(lost, removed_stracks)` with the removed list as it was before this frame
        lost.retain(|&i| !matches!(arena[i].removed_at, Some(f) if f < frame_id));

        // remove_duplicate_stracks: a tracked and a lost track on the same spot; the younger goes.
        let mut drop_tracked = vec![false; tracked.len()];
        let mut drop_lost = vec![false; lost.len()];
        for (p, &ti) in tracked.iter().enumerate() {
            let tb = arena[ti].tlbr();
            for (q, &li) in lost.iter().enumerate() {
                let d = 1.0 - iou(&tb, &arena[li].tlbr(), BoxConvention::PixelInclusive);
                if d < 0.15 {
                    let timep = arena[ti].frame_id - arena[ti].start_frame;
                    let timeq = arena[li].frame_id - arena[li].start_frame;
                    if timep > timeq {
                        drop_lost[q] = true;
                    } else {
                        drop_tracked[p] = true;
                    }
                }
            }
        }
        let tracked: Vec<usize> = tracked
            .into_iter()
            .zip(drop_tracked)
            .filter(|(_, d)| !d)
            .map(|(i, _)| i)
            .collect();
        let lost: Vec<usize> = lost
            .into_iter()
            .zip(drop_lost)
            .filter(|(_, d)| !d)
            .map(|(i, _)| i)
            .collect();

        // Move the survivors out of the arena, in list order.
        let mut slots: Vec<Option<STrack>> = arena.into_iter().map(Some).collect();
        self.tracked = tracked.iter().filter_map(|&i| slots[i].take()).collect();
        self.lost = lost.iter().filter_map(|&i| slots[i].take()).collect();

        self.tracked
            .iter()
            .filter(|t| t.is_activated)
            .map(|t| self.report(t))
            .collect()
    }
}

impl Tracker for ByteTrack {
    fn update(&mut self, dets: &[Detection]) -> Vec<Track> {
        self.step(dets)
    }

    fn reset(&mut self) {
        *self = Self::new(self.cfg.clone());
    }

    fn name(&self) -> &'static str {
        "bytetrack"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, score: f32) -> Detection {
        Detection {
            bbox: [x, y, x + 30.0, y + 60.0],
            score,
            class: 0,
        }
    }

    #[test]
    fn confirms_on_second_hit_after_frame_one() {
        let mut bt = ByteTrack::new(ByteTrackConfig::default());
        // frame 1: activated at once
        assert_eq!(bt.update(&[det(0.0, 0.0, 0.9)]).len(), 1);
        // a new object on frame 2 is unconfirmed until frame 3
        let out = bt.update(&[det(2.0, 0.0, 0.9), det(200.0, 0.0, 0.9)]);
        assert_eq!(out.len(), 1);
        let out = bt.update(&[det(4.0, 0.0, 0.9), det(202.0, 0.0, 0.9)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1, 2]);
        // an unconfirmed track that misses its second frame is removed and its id is not reused
        bt.update(&[
            det(6.0, 0.0, 0.9),
            det(204.0, 0.0, 0.9),
            det(400.0, 0.0, 0.9),
        ]);
        let out = bt.update(&[det(8.0, 0.0, 0.9), det(206.0, 0.0, 0.9)]);
        assert_eq!(out.len(), 2);
        assert!(bt.all_tracks().iter().all(|t| t.id != 3));
        let out = bt.update(&[
            det(10.0, 0.0, 0.9),
            det(208.0, 0.0, 0.9),
            det(400.0, 0.0, 0.9),
        ]);
        assert_eq!(out.len(), 2);
        let ids: Vec<u64> = bt.all_tracks().iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![1, 2, 4]);
    }

    #[test]
    fn low_score_below_det_thresh_does_not_start_tracks() {
        let mut bt = ByteTrack::new(ByteTrackConfig::default());
        assert!(bt
            .update(&[det(0.0, 0.0, 0.55), det(100.0, 0.0, 0.3)])
            .is_empty());
        assert!(bt.all_tracks().is_empty());
    }

    #[test]
    fn lost_track_times_out() {
        let cfg = ByteTrackConfig {
            track_buffer: 5,
            ..Default::default()
        };
        let mut bt = ByteTrack::new(cfg);
        bt.update(&[det(0.0, 0.0, 0.9)]);
        for _ in 2..=6 {
            assert!(bt.update(&[]).is_empty());
            assert_eq!(bt.all_tracks().len(), 1);
            assert_eq!(bt.all_tracks()[0].state, TrackState::Lost);
        }
        // frame 7: 6 > 5 frames lost: removed, still listed for one frame as the reference does
        bt.update(&[]);
        assert_eq!(bt.all_tracks()[0].state, TrackState::Removed);
        bt.update(&[]);
        assert!(bt.all_tracks().is_empty());
    }
}
