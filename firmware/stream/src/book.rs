//! Per-track OCR bookkeeping: when to read a track, the vote over its reads, and when a track
//! has ended and its text is final. Plain data, fed one frame of tracks at a time: no thread, no
//! clock and no engine (the OCR stage of [`crate::pipeline`] hands it a read function).

use crate::types::{FinishedTrack, TrackView};
use crate::reader::fuse_reads;
use oar_track::{Track, TrackState};
use std::collections::HashMap;

/// When tracks are read and when they end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadPolicy {
    /// Read a track again every this many frames (0: only when new or unsure).
    pub read_interval: u32,
    /// A read below this confidence is unsure: the track is read again on the next frame.
    pub unsure_below: f32,
    /// A track not reported for this many frames has ended.
    pub end_after: u32,
    /// Ended tracks reported in fewer frames than this are dropped (not reported).
    pub min_hits: u32,
}

/// Reads kept per track (older reads are folded away): memory stays bounded for long tracks.
pub const MAX_READS: usize = 64;

#[derive(Debug)]
struct TrackMemory {
    first_seq: u64,
    last_seq: u64,
    last_index: u64,
    bbox: [f32; 4],
    frames: u32,
    reads: Vec<(String, f32)>,
    n_reads: u32,
    last_read_index: Option<u64>,
    last_read_score: f32,
}

impl TrackMemory {
    fn finish(&self, id: u64) -> FinishedTrack {
        let (text, score) = fuse_reads(&self.reads).unwrap_or_default();
        FinishedTrack {
            id,
            text,
            score,
            bbox: self.bbox,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            frames: self.frames,
            reads: self.n_reads,
        }
    }

    fn due(&self, index: u64, p: &ReadPolicy) -> bool {
        match self.last_read_index {
            None => true,
            Some(_) if self.last_read_score < p.unsure_below => true,
            Some(last) => p.read_interval > 0 && index - last >= u64::from(p.read_interval),
        }
    }
}

/// What one frame changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BookStep {
    /// The tracks to show for this frame (confirmed ones, with their text so far).
    pub views: Vec<TrackView>,
    /// Tracks that ended with this frame, by id.
    pub ended: Vec<FinishedTrack>,
}

/// The bookkeeping of every live track.
#[derive(Debug)]
pub struct ReadBook {
    policy: ReadPolicy,
    mem: HashMap<u64, TrackMemory>,
    /// Frames seen so far (the clock of `read_interval` and `end_after`).
    index: u64,
}

impl ReadBook {
    pub fn new(policy: ReadPolicy) -> Self {
        ReadBook { policy, mem: HashMap::new(), index: 0 }
    }

    /// Takes the tracker's output for frame `seq`. `read`, when there is a reader, is called for
    /// every track due for a read and returns its text and confidence, or `None` when the read
    /// failed (it counts as a read for the timing: the track is read again when next due).
    pub fn frame<F>(&mut self, seq: u64, tracks: &[Track], mut read: Option<F>) -> BookStep
    where
        F: FnMut(&Track) -> Option<(String, f32)>,
    {
        let index = self.index;
        let policy = self.policy;
        let mut views = Vec::with_capacity(tracks.len());
        let mut removed = Vec::new();
        for t in tracks {
            if t.state == TrackState::Removed {
                removed.push(t.id);
                continue;
            }
            let e = self.mem.entry(t.id).or_insert_with(|| TrackMemory {
                first_seq: seq,
                last_seq: seq,
                last_index: index,
                bbox: t.bbox,
                frames: 0,
                reads: Vec::new(),
                n_reads: 0,
                last_read_index: None,
                last_read_score: 0.0,
            });
            if t.state == TrackState::Lost {
                continue;
            }
            e.last_seq = seq;
            e.last_index = index;
            e.bbox = t.bbox;
            e.frames += 1;
            if let Some(read) = read.as_mut() {
                if e.due(index, &policy) {
                    match read(t) {
                        Some(r) => {
                            e.last_read_score = r.1;
                            if e.reads.len() == MAX_READS {
                                e.reads.remove(0);
                            }
                            e.reads.push(r);
                            e.n_reads += 1;
                        }
                        None => {}
                    }
                    e.last_read_index = Some(index);
                }
            }
            let fused = fuse_reads(&e.reads);
            views.push(TrackView {
                id: t.id,
                bbox: t.bbox,
                score: t.score,
                text_score: fused.as_ref().map_or(0.0, |f| f.1),
                text: fused.map(|f| f.0),
            });
        }
        let gone: Vec<u64> = self
            .mem
            .iter()
            .filter(|(_, t)| index - t.last_index >= u64::from(policy.end_after))
            .map(|(&id, _)| id)
            .chain(removed)
            .collect();
        let ended = self.end(gone);
        self.index += 1;
        BookStep { views, ended }
    }

    /// Ends every track still live (the source has ended).
    pub fn finish_all(&mut self) -> Vec<FinishedTrack> {
        let ids = self.mem.keys().copied().collect();
        self.end(ids)
    }

    /// Tracks being followed now.
    pub fn live(&self) -> usize {
        self.mem.len()
    }

    fn end(&mut self, ids: Vec<u64>) -> Vec<FinishedTrack> {
        let mut ended: Vec<FinishedTrack> = ids
            .into_iter()
            .filter_map(|id| self.mem.remove(&id).map(|t| t.finish(id)))
            .filter(|t| t.frames >= self.policy.min_hits)
            .collect();
        ended.sort_by_key(|t| t.id);
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: ReadPolicy = ReadPolicy { read_interval: 3, unsure_below: 0.9, end_after: 2, min_hits: 2 };

    fn track(id: u64, state: TrackState) -> Track {
        Track { id, bbox: [id as f32, 0.0, 10.0, 10.0], score: 0.8, class: 0, age: 0, hits: 1, state }
    }

    fn confirmed(ids: &[u64]) -> Vec<Track> {
        ids.iter().map(|&id| track(id, TrackState::Confirmed)).collect()
    }

    /// Feeds frames, reading every due track with the next of `texts` (per call), and returns
    /// the frame indices at which each track was read.
    fn reads_at(book: &mut ReadBook, frames: &[Vec<Track>], mut texts: impl FnMut(u64) -> (String, f32)) -> Vec<(usize, u64)> {
        let mut at = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            book.frame(
                i as u64,
                f,
                Some(|t: &Track| {
                    at.push((i, t.id));
                    Some(texts(t.id))
                }),
            );
        }
        at
    }

    #[test]
    fn a_sure_track_is_read_when_new_then_every_interval() {
        let mut book = ReadBook::new(POLICY);
        let frames = vec![confirmed(&[1]); 8];
        let at = reads_at(&mut book, &frames, |_| ("AB12".into(), 0.95));
        assert_eq!(at, [(0, 1), (3, 1), (6, 1)]);
    }

    #[test]
    fn an_unsure_read_is_read_again_next_frame() {
        let mut book = ReadBook::new(POLICY);
        let mut scores = [0.5, 0.6, 0.95].into_iter();
        let frames = vec![confirmed(&[7]); 5];
        let at = reads_at(&mut book, &frames, |_| ("X".into(), scores.next().unwrap_or(0.95)));
        assert_eq!(at, [(0, 7), (1, 7), (2, 7)]);
    }

    #[test]
    fn interval_zero_reads_only_when_new_or_unsure() {
        let mut book = ReadBook::new(ReadPolicy { read_interval: 0, ..POLICY });
        let frames = vec![confirmed(&[1]); 20];
        assert_eq!(reads_at(&mut book, &frames, |_| ("X".into(), 0.99)), [(0, 1)]);
    }

    #[test]
    fn a_failed_read_is_retried_and_not_counted() {
        let mut book = ReadBook::new(POLICY);
        let mut calls = 0;
        for i in 0..3 {
            book.frame(
                i,
                &confirmed(&[1]),
                Some(|_: &Track| {
                    calls += 1;
                    (calls > 1).then(|| ("OK".to_string(), 0.99))
                }),
            );
        }
        assert_eq!(calls, 2, "failed at frame 0, read again at frame 1, then sure");
        let done = book.finish_all();
        assert_eq!((done[0].reads, done[0].text.as_str()), (1, "OK"));
    }

    #[test]
    fn the_vote_and_the_final_text() {
        let mut book = ReadBook::new(ReadPolicy { read_interval: 1, ..POLICY });
        let mut texts = ["AB12", "A812", "AB12", "AB12"].into_iter();
        let frames = vec![confirmed(&[4]); 4];
        reads_at(&mut book, &frames, |_| (texts.next().unwrap().to_string(), 0.95));
        let step = book.frame(4, &confirmed(&[4]), None::<fn(&Track) -> Option<(String, f32)>>);
        assert_eq!(step.views[0].text.as_deref(), Some("AB12"));
        let done = book.finish_all();
        assert_eq!(done.len(), 1);
        let t = &done[0];
        assert_eq!((t.id, t.text.as_str(), t.reads, t.frames, t.first_seq, t.last_seq), (4, "AB12", 4, 5, 0, 4));
    }

    #[test]
    fn tracks_end_after_unseen_frames_and_short_ones_are_dropped() {
        let mut book = ReadBook::new(POLICY);
        let none = None::<fn(&Track) -> Option<(String, f32)>>;
        // track 1 seen 3 frames, track 2 one frame (below min_hits)
        assert!(book.frame(0, &confirmed(&[1, 2]), none).ended.is_empty());
        assert!(book.frame(1, &confirmed(&[1]), none).ended.is_empty());
        assert!(book.frame(2, &confirmed(&[1]), none).ended.is_empty(), "track 2 unseen for 1 frame only");
        // frame 3: track 2 unseen for 2 frames: ends, but it had 1 frame < min_hits
        assert!(book.frame(3, &confirmed(&[1]), none).ended.is_empty());
        assert_eq!(book.live(), 1);
        // a lost track is remembered but does not count as seen
        let lost = [track(1, TrackState::Lost)];
        assert!(book.frame(4, &lost, none).ended.is_empty());
        let step = book.frame(5, &lost, none);
        assert!(step.views.is_empty());
        assert_eq!(step.ended.iter().map(|t| (t.id, t.frames, t.last_seq)).collect::<Vec<_>>(), [(1, 4, 3)]);
        assert_eq!(book.live(), 0);
    }

    #[test]
    fn a_removed_track_ends_at_once() {
        let mut book = ReadBook::new(POLICY);
        let none = None::<fn(&Track) -> Option<(String, f32)>>;
        book.frame(0, &confirmed(&[9]), none);
        book.frame(1, &confirmed(&[9]), none);
        let step = book.frame(2, &[track(9, TrackState::Removed)], none);
        assert_eq!(step.ended.len(), 1);
        assert_eq!((step.ended[0].id, step.ended[0].text.as_str()), (9, ""));
    }

    #[test]
    fn reads_are_bounded() {
        let mut book = ReadBook::new(ReadPolicy { read_interval: 1, ..POLICY });
        let frames = vec![confirmed(&[1]); MAX_READS + 10];
        let mut k = 0;
        reads_at(&mut book, &frames, |_| {
            k += 1;
            // the first 10 reads say OLD, the last MAX_READS say NEW
            (if k <= 10 { "OLD" } else { "NEW" }.to_string(), 0.95)
        });
        let done = book.finish_all();
        assert_eq!((done[0].text.as_str(), done[0].reads), ("NEW", MAX_READS as u32 + 10));
    }

    #[test]
    fn finished_tracks_come_sorted_by_id() {
        let mut book = ReadBook::new(POLICY);
        let none = None::<fn(&Track) -> Option<(String, f32)>>;
        for i in 0..3 {
            book.frame(i, &confirmed(&[5, 3, 8]), none);
        }
        let ids: Vec<u64> = book.finish_all().iter().map(|t| t.id).collect();
        assert_eq!(ids, [3, 5, 8]);
    }
}
