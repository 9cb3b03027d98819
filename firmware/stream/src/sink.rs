//! Sinks: where frame results and finished tracks go.

use crate::types::{FinishedTrack, FrameResult};
use crate::protocol::{encode, Message};
use crate::StreamError;
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

/// Consumes the pipeline's output, on the fan-out thread. Errors are counted as faults and the
/// pipeline keeps running.
pub trait Sink: Send {
    /// Called for every frame that went through the stages.
    fn frame(&mut self, _result: &FrameResult) -> Result<(), StreamError> {
        Ok(())
    }
    /// Called once per finished track (when it ends, or at the end of the stream).
    fn track(&mut self, track: &FinishedTrack) -> Result<(), StreamError>;
    /// Called once when the pipeline has drained.
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
}

/// JSON lines: `{"type":"track",...}` per finished track and, optionally, `{"type":"frame",...}`
/// per frame. Each line is written whole and flushed, so that a crash never leaves half a line;
/// a file is created only at the first line (or when the run ends), so that a run that fails
/// while being set up leaves none.
pub struct JsonLinesSink {
    out: Option<Box<dyn Write + Send>>,
    /// Where the file is created on first use (None: `out` is given).
    path: Option<std::path::PathBuf>,
    per_frame: bool,
    name: String,
}

impl JsonLinesSink {
    pub fn new(out: Box<dyn Write + Send>, per_frame: bool) -> Self {
        JsonLinesSink { out: Some(out), path: None, per_frame, name: "json lines".into() }
    }

    /// `-` is stdout. The file's folder must exist; the file itself is created on first use.
    pub fn create(path: &str, per_frame: bool) -> Result<Self, StreamError> {
        if path == "-" {
            return Ok(Self::new(Box::new(std::io::stdout()), per_frame));
        }
        let p = std::path::PathBuf::from(path);
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        if !dir.is_dir() {
            let e = std::io::Error::new(std::io::ErrorKind::NotFound, format!("the folder {} does not exist", dir.display()));
            return Err(StreamError::io(path, e));
        }
        if p.is_dir() {
            return Err(StreamError::io(path, std::io::Error::new(std::io::ErrorKind::InvalidInput, "is a directory, expected a file path")));
        }
        Ok(JsonLinesSink { out: None, path: Some(p), per_frame, name: path.to_string() })
    }

    fn out(&mut self) -> Result<&mut Box<dyn Write + Send>, StreamError> {
        if let (None, Some(path)) = (&self.out, &self.path) {
            let f = std::fs::File::create(path).map_err(|e| StreamError::io(path, e))?;
            self.out = Some(Box::new(f));
        }
        self.out.as_mut().ok_or_else(|| StreamError::Format(format!("{}: no output", self.name)))
    }

    fn line(&mut self, v: serde_json::Value) -> Result<(), StreamError> {
        let mut line = v.to_string();
        line.push('\n');
        let name = self.name.clone();
        let out = self.out()?;
        // One write of the whole line, then flushed: a line is on disk whole or not at all
        // (short of the disk filling up mid-write).
        out.write_all(line.as_bytes()).and_then(|_| out.flush()).map_err(|e| StreamError::io(&name, e))
    }
}

impl Sink for JsonLinesSink {
    fn frame(&mut self, r: &FrameResult) -> Result<(), StreamError> {
        if !self.per_frame {
            return Ok(());
        }
        self.line(json!({
            "type": "frame",
            "seq": r.seq,
            "latency_ms": r.captured.elapsed().as_secs_f64() * 1e3,
            "tracks": r.tracks,
        }))
    }

    fn track(&mut self, t: &FinishedTrack) -> Result<(), StreamError> {
        let mut v = serde_json::to_value(t).map_err(|e| StreamError::Format(e.to_string()))?;
        v["type"] = json!("track");
        self.line(v)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        let name = self.name.clone();
        // A run that ends without a line still leaves its (empty) file: the run did happen.
        self.out()?.flush().map_err(|e| StreamError::io(&name, e))
    }
}

type Opener = Box<dyn FnMut() -> Result<Box<dyn Write + Send>, StreamError> + Send>;

/// The framed binary protocol of `docs/protocol.md` over a serial port. A port that fails (e.g.
/// unplugged) is dropped: the failure is counted and logged, reopening is tried at most once per
/// `retry`, and messages sent meanwhile are lost.
pub struct SerialSink {
    port: Option<Box<dyn Write + Send>>,
    open: Option<Opener>,
    retry: Duration,
    last_attempt: Option<Instant>,
    /// Send a status message every this many frames (0: never).
    pub status_every: u64,
    frames: u64,
    metrics: Option<std::sync::Arc<crate::Metrics>>,
    /// Messages that could not be written.
    pub lost: u64,
}

impl SerialSink {
    /// Writes to an already-open port or any writer (e.g. one end of a pseudo-terminal pair).
    pub fn with_writer(w: Box<dyn Write + Send>) -> Self {
        SerialSink {
            port: Some(w),
            open: None,
            retry: Duration::from_secs(2),
            last_attempt: None,
            status_every: 0,
            frames: 0,
            metrics: None,
            lost: 0,
        }
    }

    /// Opens `path` at `baud` (8N1); reopens it after a failure.
    pub fn open(path: &str, baud: u32) -> Result<Self, StreamError> {
        let p = path.to_string();
        let mut opener: Opener = Box::new(move || {
            let port = serialport::new(&p, baud)
                .timeout(Duration::from_millis(200))
                .open_native()
                .map_err(|e| StreamError::Serial(format!("{p}: {e}")))?;
            Ok(Box::new(port) as Box<dyn Write + Send>)
        });
        let port = opener()?;
        let mut s = Self::with_writer(port);
        s.open = Some(opener);
        Ok(s)
    }

    /// Adds periodic status messages with the counters of `metrics`.
    pub fn with_status(mut self, metrics: std::sync::Arc<crate::Metrics>, every: u64) -> Self {
        self.metrics = Some(metrics);
        self.status_every = every;
        self
    }

    fn send(&mut self, msg: &Message) -> Result<(), StreamError> {
        if self.port.is_none() {
            let due = self.last_attempt.map_or(true, |t| t.elapsed() >= self.retry);
            if let (true, Some(open)) = (due, self.open.as_mut()) {
                self.last_attempt = Some(Instant::now());
                match open() {
                    Ok(p) => {
                        log::info!("serial port reopened");
                        self.port = Some(p);
                    }
                    Err(e) => log::debug!("reopening the serial port: {e}"),
                }
            }
        }
        let Some(port) = self.port.as_mut() else {
            self.lost += 1;
            return Err(StreamError::Serial("the port is gone; message lost".into()));
        };
        let bytes = encode(msg);
        if let Err(e) = port.write_all(&bytes).and_then(|_| port.flush()) {
            self.port = None;
            self.last_attempt = Some(Instant::now());
            self.lost += 1;
            return Err(StreamError::Serial(format!("write failed, port dropped: {e}")));
        }
        Ok(())
    }
}

fn clamp_i16(v: f32) -> i16 {
    v.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

impl Sink for SerialSink {
    fn frame(&mut self, _r: &FrameResult) -> Result<(), StreamError> {
        self.frames += 1;
        if self.status_every > 0 && self.frames % self.status_every == 0 {
            if let Some(m) = &self.metrics {
                let s = m.snapshot();
                let c = |v: u64| v.min(u32::MAX as u64) as u32;
                let msg = Message::Status { frames: c(s.frames_out), dropped: c(s.frames_dropped), faults: c(s.faults) };
                return self.send(&msg);
            }
        }
        Ok(())
    }

    fn track(&mut self, t: &FinishedTrack) -> Result<(), StreamError> {
        let msg = Message::Track {
            id: t.id.min(u32::MAX as u64) as u32,
            text: t.text.clone(),
            score: t.score,
            bbox: t.bbox.map(clamp_i16),
        };
        self.send(&msg)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        if let Some(p) = self.port.as_mut() {
            p.flush().map_err(|e| StreamError::Serial(e.to_string()))?;
        }
        Ok(())
    }
}

/// Collects finished tracks in memory (tests, `oar-edge run` summaries).
#[derive(Default, Clone)]
pub struct CollectSink {
    pub tracks: std::sync::Arc<std::sync::Mutex<Vec<FinishedTrack>>>,
    pub frames: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Sink for CollectSink {
    fn frame(&mut self, _r: &FrameResult) -> Result<(), StreamError> {
        self.frames.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
    fn track(&mut self, t: &FinishedTrack) -> Result<(), StreamError> {
        self.tracks.lock().unwrap_or_else(|e| e.into_inner()).push(t.clone());
        Ok(())
    }
}

/// Each frame as a PNG file `frame-NNNNNN.png` (the source's sequence number) in a folder: a
/// recording to replay with a `folder` source, or to feed other tools (benchmarks). Written to a
/// temporary name and renamed, so a file that exists is complete.
pub struct FramesSink {
    dir: std::path::PathBuf,
    /// Draw the overlay (boxes, ids, texts) instead of saving the frame as captured.
    pub overlay: bool,
}

impl FramesSink {
    pub fn create(dir: &std::path::Path, overlay: bool) -> Result<Self, StreamError> {
        std::fs::create_dir_all(dir).map_err(|e| StreamError::io(dir, e))?;
        Ok(FramesSink { dir: dir.to_path_buf(), overlay })
    }
}

impl Sink for FramesSink {
    fn frame(&mut self, r: &FrameResult) -> Result<(), StreamError> {
        let drawn;
        let img = if self.overlay {
            drawn = crate::overlay::draw(r);
            &drawn
        } else {
            &*r.image
        };
        let path = self.dir.join(format!("frame-{:06}.png", r.seq));
        let tmp = self.dir.join(format!(".frame-{:06}.png.tmp", r.seq));
        let buf = image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data.clone())
            .ok_or_else(|| StreamError::Format(format!("frame {}: bad image size", r.seq)))?;
        buf.save_with_format(&tmp, image::ImageFormat::Png).map_err(|e| StreamError::Format(format!("{}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(|e| StreamError::io(&path, e))
    }

    fn track(&mut self, _t: &FinishedTrack) -> Result<(), StreamError> {
        Ok(())
    }
}
