//! Multi-object trackers over per-frame detections: ByteTrack and OC-SORT, with the pieces they
//! are built from (Kalman filters, IoU, optimal assignment) and MOTChallenge text helpers.
//!
//! Pure computation: no file, device or clock access; no dependency on the rest of the workspace.
//!
//! ```
//! use oar_track::{Detection, TrackerConfig};
//! let mut tracker = TrackerConfig::by_name("bytetrack").unwrap().build();
//! for frame in 0..3 {
//!     let x = 10.0 + 5.0 * frame as f32;
//!     let dets = [Detection { bbox: [x, 10.0, x + 40.0, 90.0], score: 0.9, class: 0 }];
//!     let tracks = tracker.update(&dets);
//!     assert_eq!(tracks.len(), 1);
//!     assert_eq!(tracks[0].id, 1);
//! }
//! ```

pub mod assignment;
pub mod bytetrack;
pub mod geometry;
pub mod kalman;
pub mod mot;
pub mod ocsort;
pub mod params;

pub use assignment::{linear_assignment, linear_assignment_with_limit, Assignment};
pub use bytetrack::{ByteTrack, ByteTrackConfig};
pub use geometry::{iou, iou_matrix, BoxConvention};
pub use kalman::{KalmanSort, KalmanXyah};
pub use mot::{parse_mot_detections, write_mot_tracks, MotError};
pub use ocsort::{AssoFunc, OcSort, OcSortConfig};
pub use params::{parse_param, ParamError, ParamValue};

use std::fmt;
use std::str::FromStr;

/// One detection of one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// `[x1, y1, x2, y2]` in pixels.
    pub bbox: [f32; 4],
    /// Detector confidence in `[0, 1]`.
    pub score: f32,
    /// Class index (trackers carry it along; association ignores it, as the references do).
    pub class: u32,
}

/// Life-cycle state of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackState {
    /// Started but not yet confirmed by enough consecutive hits.
    Tentative,
    /// Confirmed and matched in the current frame.
    Confirmed,
    /// Not matched in the current frame; kept for re-identification.
    Lost,
    /// Dropped; its id will not come back.
    Removed,
}

/// A track as reported for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Track {
    /// Unique within one tracker (until [`Tracker::reset`]), starting at 1.
    pub id: u64,
    /// `[x1, y1, x2, y2]`: ByteTrack reports its Kalman estimate, OC-SORT the last observation.
    pub bbox: [f32; 4],
    /// Score of the last detection matched to the track.
    pub score: f32,
    /// Class of the detection(s) the track follows.
    pub class: u32,
    /// Frames since the track was started.
    pub age: u32,
    /// Frames in which a detection was matched to the track (including the first).
    pub hits: u32,
    /// Life-cycle state.
    pub state: TrackState,
}

/// A multi-object tracker, fed one frame at a time.
pub trait Tracker: Send {
    /// Consumes the detections of the next frame (call it for every frame, with an empty slice
    /// when nothing was detected) and returns the tracks to report for this frame.
    fn update(&mut self, dets: &[Detection]) -> Vec<Track>;
    /// Forgets every track and restarts ids at 1.
    fn reset(&mut self);
    /// The tracker's name, as accepted by [`TrackerConfig::by_name`].
    fn name(&self) -> &'static str;
}

/// Names accepted by [`TrackerConfig::by_name`].
pub const TRACKER_NAMES: [&str; 2] = ["bytetrack", "ocsort"];

/// Which tracker to build, with its parameters. Deserializes from `name = "..."` and the
/// tracker's parameters ([`params`]).
#[derive(Debug, Clone, PartialEq)]
pub enum TrackerConfig {
    /// ByteTrack (Zhang et al. 2022).
    ByteTrack(ByteTrackConfig),
    /// OC-SORT (Cao et al. 2023).
    OcSort(OcSortConfig),
}

/// A tracker name that is not one of [`TRACKER_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tracker {0:?}: expected one of bytetrack, ocsort")]
pub struct UnknownTracker(pub String);

impl TrackerConfig {
    /// The default configuration of the tracker called `name` (`"bytetrack"` or `"ocsort"`,
    /// case-insensitive; `"byte"`, `"oc-sort"` and `"oc_sort"` are accepted too).
    pub fn by_name(name: &str) -> Result<Self, UnknownTracker> {
        match name.trim().to_ascii_lowercase().as_str() {
            "bytetrack" | "byte" | "byte_track" | "byte-track" => {
                Ok(Self::ByteTrack(ByteTrackConfig::default()))
            }
            "ocsort" | "oc-sort" | "oc_sort" => Ok(Self::OcSort(OcSortConfig::default())),
            _ => Err(UnknownTracker(name.to_string())),
        }
    }

    /// The canonical name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ByteTrack(_) => "bytetrack",
            Self::OcSort(_) => "ocsort",
        }
    }

    /// Builds the tracker.
    pub fn build(&self) -> Box<dyn Tracker> {
        match self {
            Self::ByteTrack(c) => Box::new(ByteTrack::new(c.clone())),
            Self::OcSort(c) => Box::new(OcSort::new(c.clone())),
        }
    }
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self::ByteTrack(ByteTrackConfig::default())
    }
}

impl FromStr for TrackerConfig {
    type Err = UnknownTracker;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::by_name(s)
    }
}

impl fmt::Display for TrackerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

pub(crate) fn to_f64(b: [f32; 4]) -> [f64; 4] {
    b.map(f64::from)
}

pub(crate) fn to_f32(b: [f64; 4]) -> [f32; 4] {
    b.map(|v| v as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_by_name() {
        assert_eq!(
            TrackerConfig::by_name("ByteTrack").unwrap().name(),
            "bytetrack"
        );
        assert_eq!("oc-sort".parse::<TrackerConfig>().unwrap().name(), "ocsort");
        let err = TrackerConfig::by_name("sort").unwrap_err();
        assert!(err.to_string().contains("\"sort\""), "{err}");
        for n in TRACKER_NAMES {
            let t = TrackerConfig::by_name(n).unwrap().build();
            assert_eq!(t.name(), n);
        }
    }
}
