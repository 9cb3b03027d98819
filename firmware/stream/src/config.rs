//! Pipeline files (TOML): source, detector plan, tracker, OCR settings, sinks.
//!
//! Input paths (plans, source files) are relative to the pipeline file; output paths (JSON
//! lines, ground truth) to the working directory. A plan is a path (it contains `/` or ends in
//! `.oar`) or a registry id, resolved by oar-edge as `$OAR_HOME/plans/<id>.oar` (default
//! `~/.cache/oar`); the device never downloads.


use crate::PixelFormat;
use crate::pipeline::PipelineOptions;
use crate::synth::SynthConfig;
use crate::StreamError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A pipeline file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// Where frames come from.
    pub source: SourceConfig,
    /// The detector plan.
    pub detector: DetectorConfig,
    /// The tracker: `name = "bytetrack" | "ocsort"` and its parameters by the reference
    /// implementations' names (see [`oar_track::params`]); absent: ByteTrack with its defaults.
    #[serde(default)]
    pub tracker: oar_track::TrackerConfig,
    /// Reading the text of each track; without it tracks carry no text.
    #[serde(default)]
    pub ocr: Option<OcrConfig>,
    /// Stage-graph settings.
    #[serde(default)]
    pub pipeline: RunConfig,
    /// Outputs, any number of `[[sink]]` tables.
    #[serde(default, rename = "sink")]
    pub sinks: Vec<SinkConfig>,
}

fn d_width() -> usize {
    384
}
fn d_height() -> usize {
    256
}
fn d_frames() -> u64 {
    30
}
fn d_one() -> u64 {
    1
}
fn d_plates() -> usize {
    3
}
fn d_scale() -> usize {
    2
}
fn d_text_len() -> usize {
    5
}

/// The camera settings used where neither the pipeline file nor a board profile gives them.
pub const CAMERA_DEFAULTS: CameraDefaults = CameraDefaults { width: 640, height: 480, fps: 30, format: PixelFormat::Yuyv };

/// A camera's size, rate and format (the defaults above, or a board profile's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CameraDefaults {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub format: PixelFormat,
}

/// `kind = "synthetic" | "folder" | "y4m" | "mjpeg" | "video" | "camera"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// Moving labelled plates with ground truth.
    Synthetic {
        #[serde(default = "d_width")]
        width: usize,
        #[serde(default = "d_height")]
        height: usize,
        #[serde(default = "d_frames")]
        frames: u64,
        #[serde(default = "d_one")]
        seed: u64,
        /// 1 to 3.
        #[serde(default = "d_plates")]
        plates: usize,
        /// Font scale (10×20 font).
        #[serde(default = "d_scale")]
        scale: usize,
        #[serde(default = "d_text_len")]
        text_len: usize,
        /// Folder to write `gt.txt` (MOTChallenge) and `texts.txt` into.
        #[serde(default)]
        ground_truth: Option<PathBuf>,
    },
    /// PNG/JPEG/BMP files in name order.
    Folder { path: PathBuf },
    /// A YUV4MPEG2 file.
    Y4m { path: PathBuf },
    /// Concatenated JPEGs.
    Mjpeg { path: PathBuf },
    /// A video file of any format `ffmpeg` reads (AVI, MP4, ...), decoded by an `ffmpeg` child
    /// process (which must be on the PATH).
    Video { path: PathBuf },
    /// A V4L2 camera (needs the `camera` feature). When it is missing or unplugged it is reopened
    /// with backoff (0.25 s doubling to 8 s), each failure logged and counted as a fault. Settings
    /// left out come from the board profile (`oar-edge run --board`), else [`CAMERA_DEFAULTS`].
    Camera {
        /// Default: the board's camera, else the first `/dev/videoN` present.
        #[serde(default)]
        device: Option<PathBuf>,
        /// Default 640.
        #[serde(default)]
        width: Option<u32>,
        /// Default 480.
        #[serde(default)]
        height: Option<u32>,
        /// Default 30.
        #[serde(default)]
        fps: Option<u32>,
        /// `yuyv` (default), `nv12`, `rgb`, `bgr` or `mjpeg`.
        #[serde(default)]
        format: Option<PixelFormat>,
        /// Give up after this many failed attempts in a row (default: never).
        #[serde(default)]
        attempts: Option<u32>,
    },
}

/// The detector: a `text-detection` plan (text lines as objects) or an `object-detection` plan
/// (PicoDet or SSD head).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Plan file or registry id.
    pub plan: String,
    /// Keep only these class labels (object detectors; empty: all).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Override the plan's score threshold.
    #[serde(default)]
    pub score_thresh: Option<f32>,
    /// Text detectors: the resize limit (the plan's is 736: smaller frames are scaled up to it;
    /// set it to the frame's short side to detect at the frame's own size, much faster).
    #[serde(default)]
    pub limit_side: Option<u32>,
}

// The stage graph's defaults are `PipelineOptions::default()`'s; the file's are taken from it.
fn d_interval() -> u32 {
    PipelineOptions::default().read_interval
}
fn d_unsure() -> f32 {
    PipelineOptions::default().unsure_below
}

/// Per-track OCR.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OcrConfig {
    /// Recogniser plan (file or registry id).
    pub rec: String,
    /// Optional direction classifier plan.
    #[serde(default)]
    pub cls: Option<String>,
    /// Re-read a track every this many frames (0: only when new or unsure).
    #[serde(default = "d_interval")]
    pub read_interval: u32,
    /// A read below this confidence is read again on the next frame.
    #[serde(default = "d_unsure")]
    pub unsure_below: f32,
    /// Grow the box by this × its height before reading.
    #[serde(default)]
    pub pad: f32,
}

fn d_end_after() -> u32 {
    PipelineOptions::default().end_after
}
fn d_min_hits() -> u32 {
    PipelineOptions::default().min_hits
}
fn d_capacity() -> usize {
    PipelineOptions::default().capacity
}

/// Stage-graph settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Replace a frame waiting for the detector by the newer one (false: the source waits).
    /// Unset: true for a camera (live frames), false for files, folders and synthetic sources
    /// (every frame is processed).
    #[serde(default)]
    pub newest_wins: Option<bool>,
    /// Pace the source (frames per second, 0: as fast as possible).
    #[serde(default)]
    pub fps: f64,
    /// Stop after this many frames.
    #[serde(default)]
    pub frames: Option<u64>,
    /// A track unseen for this many frames has ended.
    #[serde(default = "d_end_after")]
    pub end_after: u32,
    /// Ended tracks seen in fewer frames are not reported.
    #[serde(default = "d_min_hits")]
    pub min_hits: u32,
    /// Capacity of the channels after the detector.
    #[serde(default = "d_capacity")]
    pub capacity: usize,
    /// Threads tract may use for one model run (default: the board profile's, else 1).
    #[serde(default)]
    pub threads: Option<usize>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            newest_wins: None,
            fps: 0.0,
            frames: None,
            end_after: d_end_after(),
            min_hits: d_min_hits(),
            capacity: d_capacity(),
            threads: None,
        }
    }
}

fn d_dash() -> String {
    "-".into()
}
pub(crate) fn d_baud() -> u32 {
    115_200
}
fn d_addr() -> String {
    "127.0.0.1:8080".into()
}

/// `kind = "jsonl" | "serial" | "http" | "frames"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// JSON lines to a file (`-`: stdout).
    Jsonl {
        #[serde(default = "d_dash")]
        path: String,
        /// Also one line per frame.
        #[serde(default)]
        frames: bool,
    },
    /// The binary protocol of `docs/protocol.md` on a serial port.
    Serial {
        /// Default: the board profile's port (there is no default without one).
        #[serde(default)]
        port: Option<String>,
        /// Default: the board profile's, else 115200.
        #[serde(default)]
        baud: Option<u32>,
        /// A status message every this many frames (0: never).
        #[serde(default)]
        status_every: u64,
    },
    /// `/`, `/stream.mjpg`, `/metrics`.
    Http {
        #[serde(default = "d_addr")]
        addr: String,
    },
    /// Every frame as a PNG file in a folder (a recording; benchmarks replay it).
    Frames {
        path: PathBuf,
        /// Draw boxes, ids and texts on them.
        #[serde(default)]
        overlay: bool,
    },
}

impl PipelineFile {
    /// The registry ids among the plans the file names (the host fetches and compiles them).
    pub fn plan_ids(&self) -> Vec<&str> {
        let ocr = self.ocr.iter().flat_map(|o| std::iter::once(o.rec.as_str()).chain(o.cls.as_deref()));
        std::iter::once(self.detector.plan.as_str()).chain(ocr).filter(|s| !is_plan_path(s)).collect()
    }

    /// Parses a pipeline file and checks its values ([`PipelineFile::validate`]).
    pub fn parse(text: &str) -> Result<Self, StreamError> {
        let file: Self = toml::from_str(text).map_err(|e| StreamError::Config(e.to_string()))?;
        file.validate().map_err(StreamError::Config)?;
        Ok(file)
    }

    /// Reads (a regular file of at most 1 MB) and parses a pipeline file.
    pub fn load(path: &Path) -> Result<Self, StreamError> {
        let text = oar_io::read_regular_text(path, 1 << 20).map_err(|e| StreamError::io(path, e))?;
        let file: Self = toml::from_str(&text).map_err(|e| StreamError::Config(format!("{}: {e}", path.display())))?;
        file.validate().map_err(|e| StreamError::Config(format!("{}: {e}", path.display())))?;
        Ok(file)
    }
}

/// What a board profile supplies where a pipeline file is silent.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardDefaults {
    /// The profile's name, for messages.
    pub name: String,
    pub threads: usize,
    pub camera_device: PathBuf,
    pub camera: CameraDefaults,
    pub serial_port: String,
    pub serial_baud: u32,
}

impl PipelineFile {
    /// Fills in, from `board`, the settings this file leaves out: `[pipeline] threads`, a camera
    /// source's device, size, rate and format, and serial sinks' port and baud rate. Returns one
    /// line per setting taken from the board.
    pub fn apply_board(&mut self, board: &BoardDefaults) -> Vec<String> {
        let mut applied = Vec::new();
        let mut take = |what: &str, value: String| applied.push(format!("{what} {value} (board {})", board.name));
        if self.pipeline.threads.is_none() {
            self.pipeline.threads = Some(board.threads);
            take("threads", board.threads.to_string());
        }
        if let SourceConfig::Camera { device, width, height, fps, format, .. } = &mut self.source {
            let c = &board.camera;
            if device.is_none() {
                *device = Some(board.camera_device.clone());
                take("camera device", board.camera_device.display().to_string());
            }
            if width.is_none() && height.is_none() {
                (*width, *height) = (Some(c.width), Some(c.height));
                take("camera size", format!("{}x{}", c.width, c.height));
            }
            if fps.is_none() {
                *fps = Some(c.fps);
                take("camera fps", c.fps.to_string());
            }
            if format.is_none() {
                *format = Some(c.format);
                take("camera format", c.format.name().to_string());
            }
        }
        for s in &mut self.sinks {
            if let SinkConfig::Serial { port, baud, .. } = s {
                if port.is_none() {
                    *port = Some(board.serial_port.clone());
                    take("serial port", board.serial_port.clone());
                }
                if baud.is_none() {
                    *baud = Some(board.serial_baud);
                    take("serial baud", board.serial_baud.to_string());
                }
            }
        }
        applied
    }
}

/// A plan spec is a path when it contains `/` or ends in `.oar`, else a registry id.
pub fn is_plan_path(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".oar")
}

/// A pipeline paced faster than this is not paced (`fps = 0` means as fast as possible).
const MAX_FPS: f64 = 1000.0;
/// ... and slower than this makes no sense (one frame every 100 s).
const MIN_FPS: f64 = 0.01;
/// Channel capacities are allocated up front.
const MAX_CAPACITY: usize = 1024;

fn range_err(key: &str, v: impl std::fmt::Debug, range: &str) -> String {
    // Debug: 1e-300 and NaN print as written, not as 300 digits.
    format!("{key} = {v:?}: expected {range}")
}

fn check_unit(key: &str, v: f32) -> Result<(), String> {
    // `contains` is false for NaN.
    if (0.0..=1.0).contains(&v) { Ok(()) } else { Err(range_err(key, v, "0 to 1")) }
}

fn check_int<T: PartialOrd + std::fmt::Display + std::fmt::Debug + Copy>(key: &str, v: T, lo: T, hi: T) -> Result<(), String> {
    if v >= lo && v <= hi { Ok(()) } else { Err(range_err(key, v, &format!("{lo} to {hi}"))) }
}

impl PipelineFile {
    /// Refuses values that make no sense (NaN, infinite, negative, zero where meaningless, sizes
    /// past their bound), naming the key and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        let side = oar_io::MAX_SIDE;
        match &self.source {
            SourceConfig::Synthetic { width, height, frames, plates, scale, text_len, .. } => {
                let cfg = SynthConfig {
                    width: *width,
                    height: *height,
                    frames: *frames,
                    seed: 0,
                    plates: *plates,
                    scale: *scale,
                    text_len: *text_len,
                };
                cfg.check().map_err(|e| format!("[source] {e}"))?;
            }
            SourceConfig::Camera { width, height, fps, .. } => {
                // Unset values come from the board profile or the defaults, both in range.
                for (key, v, hi) in [("width", width, side * 2), ("height", height, side * 2), ("fps", fps, 1000)] {
                    if let Some(v) = v {
                        check_int(&format!("[source] {key}"), *v, 1, hi)?;
                    }
                }
            }
            _ => {}
        }
        let d = &self.detector;
        if let Some(t) = d.score_thresh {
            check_unit("[detector] score_thresh", t)?;
        }
        if let Some(l) = d.limit_side {
            check_int("[detector] limit_side", l, 1, side)?;
        }
        if let Some(o) = &self.ocr {
            check_unit("[ocr] unsure_below", o.unsure_below)?;
            if !(0.0..=10.0).contains(&o.pad) {
                return Err(range_err("[ocr] pad", o.pad, "0 to 10 (times the box height)"));
            }
        }
        let r = &self.pipeline;
        if !(r.fps == 0.0 || (MIN_FPS..=MAX_FPS).contains(&r.fps)) {
            return Err(range_err("[pipeline] fps", r.fps, &format!("0 (unpaced) or {MIN_FPS} to {MAX_FPS}")));
        }
        check_int("[pipeline] capacity", r.capacity, 1, MAX_CAPACITY)?;
        if r.frames == Some(0) {
            return Err(range_err("[pipeline] frames", 0, "at least 1 (leave it out for no limit)"));
        }
        for s in &self.sinks {
            if let SinkConfig::Serial { baud, .. } = s {
                if let Some(b) = baud {
                    check_int("[[sink]] baud", *b, 50, 4_000_000)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_make_no_sense_are_refused_by_key() {
        let base = "[source]\nkind = \"synthetic\"\n[detector]\nplan = \"d\"\n";
        for (extra, want) in [
            ("[pipeline]\nfps = nan", "[pipeline] fps = NaN: expected 0 (unpaced) or 0.01 to 1000"),
            ("[pipeline]\nfps = -1.0", "[pipeline] fps = -1"),
            ("[pipeline]\nfps = 1e-300", "[pipeline] fps = 1e-300: expected"),
            ("[pipeline]\nfps = inf", "[pipeline] fps = inf"),
            ("[pipeline]\ncapacity = 0", "[pipeline] capacity = 0: expected 1 to 1024"),
            // (within u32: on a 32-bit board a larger value fails as "expected usize" instead)
            ("[pipeline]\ncapacity = 4000000000", "[pipeline] capacity = 4000000000"),
            ("[pipeline]\nframes = 0", "[pipeline] frames = 0"),
            ("[ocr]\nrec = \"r\"\nunsure_below = nan", "[ocr] unsure_below = NaN: expected 0 to 1"),
            ("[ocr]\nrec = \"r\"\npad = -1.0", "[ocr] pad = -1"),
            ("[[sink]]\nkind = \"serial\"\nport = \"/dev/x\"\nbaud = 0", "[[sink]] baud = 0"),
        ] {
            let e = PipelineFile::parse(&format!("{base}{extra}")).unwrap_err().to_string();
            assert!(e.contains(want), "{extra}: {e}");
        }
        for (detector, want) in [
            ("score_thresh = nan", "[detector] score_thresh = NaN: expected 0 to 1"),
            ("score_thresh = 2.0", "[detector] score_thresh = 2"),
            ("limit_side = 100000", "[detector] limit_side = 100000: expected 1 to 4096"),
            ("limit_side = 0", "[detector] limit_side = 0"),
        ] {
            let e = PipelineFile::parse(&format!("{base}{detector}")).unwrap_err().to_string();
            assert!(e.contains(want), "{detector}: {e}");
        }
        for (source, want) in [
            ("width = 100000\nheight = 100000", "[source] width = 100000: expected 64 to 4096"),
            ("frames = 0", "[source] frames = 0"),
            ("frames = 100000000000", "[source] frames = 100000000000"),
            ("plates = 9", "[source] plates = 9: expected 1 to 3"),
            ("scale = 0", "[source] scale = 0"),
            ("text_len = 100000", "[source] text_len = 100000"),
        ] {
            let text = base.replace("kind = \"synthetic\"", &format!("kind = \"synthetic\"\n{source}"));
            let e = PipelineFile::parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{source}: {e}");
        }
        let cam = "[source]\nkind = \"camera\"\nfps = 0\n[detector]\nplan = \"d\"\n";
        assert!(PipelineFile::parse(cam).unwrap_err().to_string().contains("[source] fps = 0: expected 1 to 1000"));
        PipelineFile::parse(base).unwrap();
        PipelineFile::parse(&format!("{base}[pipeline]\nfps = 0.5")).unwrap();
    }

    #[test]
    fn pipeline_files_that_are_not_regular_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("p.toml");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = PipelineFile::load(&link).unwrap_err().to_string();
        assert!(e.contains("p.toml") && e.contains("a character device"), "{e}");
    }

    #[test]
    fn parses_and_rejects_unknown_fields() {
        let ok = r#"
            [source]
            kind = "synthetic"
            frames = 10
            [detector]
            plan = "ppocr-v4-det"
            [ocr]
            rec = "ppocr-v4-rec"
            [[sink]]
            kind = "jsonl"
            [[sink]]
            kind = "http"
            addr = "127.0.0.1:0"
        "#;
        let p = PipelineFile::parse(ok).unwrap();
        assert_eq!(p.sinks.len(), 2);
        assert_eq!(p.tracker, oar_track::TrackerConfig::default());
        assert_eq!(p.plan_ids(), ["ppocr-v4-det", "ppocr-v4-rec"]);
        assert!(matches!(p.source, SourceConfig::Synthetic { frames: 10, width: 384, .. }));
        for (bad, field) in [
            (ok.replace("frames = 10", "frame = 10"), "frame"),
            (ok.replace("rec = ", "recogniser = "), "recogniser"),
            (ok.replace("kind = \"jsonl\"", "kind = \"jsonl\"\nfile = \"x\""), "file"),
            (format!("{ok}\n[extra]\n"), "extra"),
            (format!("{ok}\n[tracker]\nname = \"ocsort\"\ntrack_buffer = 3\n"), "track_buffer"),
            (format!("{ok}\n[tracker]\nname = \"ocsort\"\ndet_thresh = 1.2\n"), "det_thresh = 1.2 is out of range"),
        ] {
            let e = PipelineFile::parse(&bad).unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn tracker_parameters_are_read() {
        let text = r#"
            [source]
            kind = "synthetic"
            [detector]
            plan = "ppocr-v4-det"
            [tracker]
            name = "ocsort"
            det_thresh = 0.3
            min_hits = 1
            use_byte = true
        "#;
        let p = PipelineFile::parse(text).unwrap();
        let want = oar_track::OcSortConfig { det_thresh: 0.3, min_hits: 1, use_byte: true, ..Default::default() };
        assert_eq!(p.tracker, oar_track::TrackerConfig::OcSort(want));
    }

    #[test]
    fn a_board_fills_what_the_file_leaves_out() {
        let board = BoardDefaults {
            name: "rpi4".into(),
            threads: 4,
            camera_device: "/dev/video2".into(),
            camera: CameraDefaults { width: 1280, height: 720, fps: 15, format: PixelFormat::Nv12 },
            serial_port: "/dev/serial0".into(),
            serial_baud: 57_600,
        };
        let text = r#"
            [source]
            kind = "camera"
            fps = 10
            [detector]
            plan = "ppocr-v4-det"
            [[sink]]
            kind = "serial"
            [[sink]]
            kind = "serial"
            port = "/dev/ttyUSB0"
            baud = 9600
        "#;
        let mut p = PipelineFile::parse(text).unwrap();
        let applied = p.apply_board(&board);
        assert_eq!(
            p.source,
            SourceConfig::Camera {
                device: Some("/dev/video2".into()),
                width: Some(1280),
                height: Some(720),
                fps: Some(10),
                format: Some(PixelFormat::Nv12),
                attempts: None
            }
        );
        assert_eq!(p.pipeline.threads, Some(4));
        let SinkConfig::Serial { port, baud, .. } = &p.sinks[0] else { panic!() };
        assert_eq!((port.as_deref(), *baud), (Some("/dev/serial0"), Some(57_600)));
        let SinkConfig::Serial { port, baud, .. } = &p.sinks[1] else { panic!() };
        assert_eq!((port.as_deref(), *baud), (Some("/dev/ttyUSB0"), Some(9600)), "the file wins");
        assert!(applied.contains(&"camera size 1280x720 (board rpi4)".to_string()), "{applied:?}");
        assert!(!applied.iter().any(|a| a.contains("fps")), "{applied:?}");
        // a file that says everything takes nothing
        let mut again = p.clone();
        assert!(again.apply_board(&board).is_empty());
        assert_eq!(again, p);
    }

    #[test]
    fn a_serial_sink_without_port_or_board_is_a_clear_error() {
        let text = "[source]\nkind = \"synthetic\"\nframes = 1\n[detector]\nplan = \"x.oar\"\n[[sink]]\nkind = \"serial\"\n";
        let p = PipelineFile::parse(text).unwrap();
        let e = p.check_ready().unwrap_err().to_string();
        assert!(e.contains("`serial` sink needs `port`") && e.contains("--board"), "{e}");
    }

    #[test]
    fn example_pipelines_parse() {
        let dir = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../examples/pipelines");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                PipelineFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 3, "{n} pipelines in {}", dir.display());
    }
}
