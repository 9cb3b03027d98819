//! The stage graph: source → detect → track → OCR → sinks, one thread per stage, joined by
//! bounded channels. The source → detect channel holds one frame and the newest frame wins.

use crate::book::{BookStep, ReadBook, ReadPolicy};
use crate::detector::Detector;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::reader::Reader;
use crate::sink::Sink;
use crate::source::Source;
use crate::types::{FinishedTrack, FrameResult};
use crate::{Frame, StreamError};
use crossbeam_channel::{bounded, TrySendError};
use oar_track::{Detection, Track, Tracker};
use oar_io::Rgb;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the stage graph behaves.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Replace a frame still waiting for the detector with the newer one (live cameras). When
    /// false the source waits instead (files, tests): no frame is dropped.
    pub newest_wins: bool,
    /// Pace the source to this many frames per second (0: as fast as it can).
    pub fps: f64,
    /// Stop after this many frames from the source.
    pub max_frames: Option<u64>,
    /// Read a track again every this many frames (0: only when new or unsure).
    pub read_interval: u32,
    /// A read below this confidence is unsure: the track is read again on the next frame.
    pub unsure_below: f32,
    /// A track not reported for this many frames has ended.
    pub end_after: u32,
    /// Ended tracks matched in fewer frames than this are not reported.
    pub min_hits: u32,
    /// Capacity of the channels after the detector.
    pub capacity: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            newest_wins: true,
            fps: 0.0,
            max_frames: None,
            read_interval: 10,
            unsure_below: 0.9,
            end_after: 30,
            min_hits: 3,
            capacity: 4,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub tracks: Vec<FinishedTrack>,
    pub metrics: MetricsSnapshot,
    pub elapsed: Duration,
    /// What each sink (in order) did with what it was given.
    pub sinks: Vec<SinkTally>,
}

/// Calls into one sink that succeeded or failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SinkTally {
    pub frames_ok: u64,
    pub frames_failed: u64,
    pub tracks_ok: u64,
    pub tracks_failed: u64,
    pub flush_failed: bool,
}

impl SinkTally {
    /// The sink failed every write of a kind it was asked to make, and wrote no track: its output
    /// is lost (a run that says it succeeded would lie).
    pub fn all_failed(&self) -> bool {
        (self.frames_failed > 0 && self.frames_ok == 0) || ((self.tracks_failed > 0 || self.flush_failed) && self.tracks_ok == 0)
    }
}

/// A source, a detector, a tracker, an optional reader and sinks, wired together by [`Pipeline::run`].
pub struct Pipeline {
    pub source: Box<dyn Source>,
    pub detector: Box<dyn Detector>,
    pub tracker: Box<dyn Tracker>,
    pub reader: Option<Box<dyn Reader>>,
    pub sinks: Vec<Box<dyn Sink>>,
    pub options: PipelineOptions,
    /// Set it (e.g. from a Ctrl-C handler) to stop the source; the pipeline then drains.
    pub stop: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
}

struct Detected {
    seq: u64,
    captured: Instant,
    image: Arc<Rgb>,
    dets: Vec<Detection>,
}

struct Tracked {
    det: Detected,
    tracks: Vec<Track>,
}

struct Output {
    frame: Option<FrameResult>,
    ended: Vec<FinishedTrack>,
}

impl Pipeline {
    pub fn new(source: Box<dyn Source>, detector: Box<dyn Detector>, tracker: Box<dyn Tracker>) -> Self {
        Pipeline {
            source,
            detector,
            tracker,
            reader: None,
            sinks: Vec::new(),
            options: PipelineOptions::default(),
            stop: Arc::new(AtomicBool::new(false)),
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Runs until the source ends or `stop` is set, drains every stage, flushes every sink.
    pub fn run(self) -> Result<RunSummary, StreamError> {
        let Pipeline { mut source, mut detector, mut tracker, mut reader, mut sinks, options, stop, metrics } = self;
        let started = Instant::now();
        let (frame_tx, frame_rx) = bounded::<Frame>(1);
        let (det_tx, det_rx) = bounded::<Detected>(options.capacity);
        let (trk_tx, trk_rx) = bounded::<Tracked>(options.capacity);
        let (out_tx, out_rx) = bounded::<Output>(options.capacity);
        let opts = &options;
        let m = &*metrics;
        let stop = &*stop;

        let stale = frame_rx.clone();
        let finished = std::thread::scope(|s| {
            let src = s.spawn(move || {
                let t_start = Instant::now();
                let mut n = 0u64;
                let (mut skipped, mut faults) = (0u64, 0u64);
                loop {
                    if stop.load(Ordering::Relaxed) || opts.max_frames.is_some_and(|max| n >= max) {
                        break;
                    }
                    let t0 = Instant::now();
                    let next = source.next_frame();
                    let now_skipped = source.skipped();
                    m.skipped.fetch_add(now_skipped.saturating_sub(skipped), Ordering::Relaxed);
                    skipped = now_skipped;
                    let now_faults = source.faults();
                    m.faults.fetch_add(now_faults.saturating_sub(faults), Ordering::Relaxed);
                    faults = now_faults;
                    let frame = match next {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) => {
                            log::error!("source: {e}");
                            m.fault();
                            break;
                        }
                    };
                    m.record("source", t0.elapsed());
                    m.frames_in.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                    if opts.fps > 0.0 {
                        let due = t_start + Duration::from_secs_f64(n as f64 / opts.fps);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    if opts.newest_wins {
                        let mut f = frame;
                        loop {
                            match frame_tx.try_send(f) {
                                Ok(()) => break,
                                Err(TrySendError::Full(back)) => {
                                    if stale.try_recv().is_ok() {
                                        m.dropped.fetch_add(1, Ordering::Relaxed);
                                    }
                                    f = back;
                                }
                                Err(TrySendError::Disconnected(_)) => return,
                            }
                        }
                    } else if frame_tx.send(frame).is_err() {
                        return;
                    }
                }
            });

            let det = s.spawn(move || {
                for f in frame_rx {
                    let t0 = Instant::now();
                    let image = match f.to_rgb() {
                        Ok(i) => i,
                        Err(e) => {
                            log::warn!("skipping a frame: {e}");
                            m.skipped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    };
                    m.record("decode", t0.elapsed());
                    let t1 = Instant::now();
                    let dets = detector.detect(&image).unwrap_or_else(|e| {
                        log::warn!("detector, frame {}: {e}", f.seq);
                        m.fault();
                        Vec::new()
                    });
                    m.record("detect", t1.elapsed());
                    let d = Detected { seq: f.seq, captured: f.captured, image: Arc::new(image), dets };
                    if det_tx.send(d).is_err() {
                        break;
                    }
                }
            });

            let trk = s.spawn(move || {
                for d in det_rx {
                    let t0 = Instant::now();
                    let tracks = tracker.update(&d.dets);
                    m.record("track", t0.elapsed());
                    if trk_tx.send(Tracked { det: d, tracks }).is_err() {
                        break;
                    }
                }
            });

            let ocr = s.spawn(move || {
                let mut book = ReadBook::new(ReadPolicy {
                    read_interval: opts.read_interval,
                    unsure_below: opts.unsure_below,
                    end_after: opts.end_after,
                    min_hits: opts.min_hits,
                });
                for Tracked { det, tracks } in trk_rx {
                    let t0 = Instant::now();
                    let image = &det.image;
                    let read = reader.as_mut().map(|r| {
                        move |t: &Track| {
                            let t1 = Instant::now();
                            let read = r.read(image, t.bbox).map_err(|err| {
                                log::warn!("reading track {}: {err}", t.id);
                                m.fault();
                            });
                            m.record("read", t1.elapsed());
                            read.ok()
                        }
                    });
                    let BookStep { views, ended } = book.frame(det.seq, &tracks, read);
                    m.record("ocr", t0.elapsed());
                    let frame = FrameResult {
                        seq: det.seq,
                        captured: det.captured,
                        image: det.image,
                        detections: det.dets,
                        tracks: views,
                    };
                    if out_tx.send(Output { frame: Some(frame), ended }).is_err() {
                        return;
                    }
                }
                let _ = out_tx.send(Output { frame: None, ended: book.finish_all() });
            });

            let sink = s.spawn(move || {
                let mut finished = Vec::new();
                let mut tally = vec![SinkTally::default(); sinks.len()];
                for out in out_rx {
                    let t0 = Instant::now();
                    if let Some(f) = &out.frame {
                        for (i, sink) in sinks.iter_mut().enumerate() {
                            if let Err(e) = sink.frame(f) {
                                log::warn!("sink {i}: {e}");
                                m.fault();
                                tally[i].frames_failed += 1;
                            } else {
                                tally[i].frames_ok += 1;
                            }
                        }
                    }
                    for t in &out.ended {
                        for (i, sink) in sinks.iter_mut().enumerate() {
                            if let Err(e) = sink.track(t) {
                                log::warn!("sink {i}: {e}");
                                m.fault();
                                tally[i].tracks_failed += 1;
                            } else {
                                tally[i].tracks_ok += 1;
                            }
                        }
                    }
                    finished.extend(out.ended);
                    if let Some(f) = &out.frame {
                        m.record("sinks", t0.elapsed());
                        m.record("end_to_end", f.captured.elapsed());
                        m.frame_done();
                    }
                }
                for (i, sink) in sinks.iter_mut().enumerate() {
                    if let Err(e) = sink.flush() {
                        log::warn!("flushing sink {i}: {e}");
                        m.fault();
                        tally[i].flush_failed = true;
                    }
                }
                (finished, tally)
            });

            let mut panicked = Vec::new();
            for (name, h) in [("source", src), ("detect", det), ("track", trk), ("ocr", ocr)] {
                if h.join().is_err() {
                    panicked.push(name);
                }
            }
            match sink.join() {
                Ok(f) if panicked.is_empty() => Ok(f),
                Ok(_) => Err(panicked),
                Err(_) => {
                    panicked.push("sinks");
                    Err(panicked)
                }
            }
        });
        let (tracks, sinks) = finished.map_err(|p| StreamError::Format(format!("pipeline stage(s) panicked: {}", p.join(", "))))?;
        Ok(RunSummary { tracks, metrics: metrics.snapshot(), elapsed: started.elapsed(), sinks })
    }
}
