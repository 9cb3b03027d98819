//! Per-stage latency windows and counters, shared by the stages and read by `/metrics`.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Latency samples kept per stage (a ring: memory stays bounded however long the run).
pub const WINDOW: usize = 1024;

/// Counters and latency windows of one run.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    stages: Mutex<BTreeMap<&'static str, VecDeque<f64>>>,
    /// Frames produced by the source.
    pub frames_in: AtomicU64,
    /// Frames that went through every stage.
    pub frames_out: AtomicU64,
    /// Stale frames the source replaced (newest wins).
    pub dropped: AtomicU64,
    /// Input frames that were corrupt or truncated and skipped.
    pub skipped: AtomicU64,
    /// Errors that were survived: a stage failing on a frame, a sink failing to write.
    pub faults: AtomicU64,
    /// Completion times of the last frames, for the current frame rate.
    done: Mutex<VecDeque<Instant>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            stages: Mutex::default(),
            frames_in: AtomicU64::new(0),
            frames_out: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            done: Mutex::default(),
        }
    }
}

/// Latency summary of one stage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageStats {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// What `/metrics` serves.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MetricsSnapshot {
    pub uptime_s: f64,
    /// Frames per second over the last (up to 64) completed frames.
    pub fps: f64,
    /// Completed frames / uptime.
    pub fps_mean: f64,
    pub frames_in: u64,
    pub frames_out: u64,
    pub frames_dropped: u64,
    pub frames_skipped: u64,
    pub faults: u64,
    /// p50/p99 per stage; `end_to_end` is capture → all sinks done.
    pub stages: BTreeMap<String, StageStats>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one latency sample of `stage`.
    pub fn record(&self, stage: &'static str, d: Duration) {
        let mut s = self.stages.lock().unwrap_or_else(|e| e.into_inner());
        let w = s.entry(stage).or_default();
        if w.len() == WINDOW {
            w.pop_front();
        }
        w.push_back(d.as_secs_f64() * 1e3);
    }

    /// Marks one frame as having gone through every stage.
    pub fn frame_done(&self) {
        self.frames_out.fetch_add(1, Ordering::Relaxed);
        let mut d = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if d.len() == 64 {
            d.pop_front();
        }
        d.push_back(Instant::now());
    }

    pub fn fault(&self) {
        self.faults.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let stages = self
            .stages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, w)| {
                let mut v: Vec<f64> = w.iter().copied().collect();
                v.sort_by(f64::total_cmp);
                (k.to_string(), StageStats { count: v.len(), p50_ms: percentile(&v, 50.0), p99_ms: percentile(&v, 99.0) })
            })
            .collect();
        let uptime = self.started.elapsed().as_secs_f64();
        let frames_out = self.frames_out.load(Ordering::Relaxed);
        let fps = {
            let d = self.done.lock().unwrap_or_else(|e| e.into_inner());
            match (d.front(), d.back()) {
                (Some(a), Some(b)) if d.len() > 1 && *b > *a => (d.len() - 1) as f64 / (*b - *a).as_secs_f64(),
                _ => 0.0,
            }
        };
        MetricsSnapshot {
            uptime_s: uptime,
            fps,
            fps_mean: if uptime > 0.0 { frames_out as f64 / uptime } else { 0.0 },
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_out,
            frames_dropped: self.dropped.load(Ordering::Relaxed),
            frames_skipped: self.skipped.load(Ordering::Relaxed),
            faults: self.faults.load(Ordering::Relaxed),
            stages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_window() {
        let m = Metrics::new();
        for i in 1..=2000u64 {
            m.record("detect", Duration::from_millis(i));
        }
        let s = m.snapshot();
        let d = &s.stages["detect"];
        assert_eq!(d.count, WINDOW);
        assert!((d.p50_ms - 1488.0).abs() <= 1.0, "{d:?}");
        assert!(d.p99_ms > 1960.0 && d.p99_ms <= 2000.0, "{d:?}");
    }
}
