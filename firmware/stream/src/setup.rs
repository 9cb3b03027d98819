//! Opening what a pipeline file describes: its source (camera, files, synthetic), its sinks and
//! servers, around the detector and reader the caller brings (oar-edge loads them from plans).
//! Nothing is left behind when a step fails: ground truth is written last.

use crate::camera::{self, CameraConfig};
use crate::config::{d_baud, PipelineFile, SinkConfig, SourceConfig, CAMERA_DEFAULTS};
use crate::detector::Detector;
use crate::http::HttpServer;
use crate::pipeline::{Pipeline, PipelineOptions};
use crate::reader::Reader;
use crate::reopen::{Backoff, ReopeningSource};
use crate::sink::{FramesSink, JsonLinesSink, SerialSink, Sink};
use crate::source::{open_video, FolderSource, MjpegSource, Source, Y4mSource};
use crate::synth::{GroundTruth, SynthConfig, SyntheticSource};
use crate::StreamError;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const SERIAL_NEEDS_PORT: &str =
    "a `serial` sink needs `port` (or a board profile that names one: oar-edge run --board NAME)";

/// A pipeline ready to run, with what goes with it.
pub struct Built {
    pub pipeline: Pipeline,
    pub servers: Vec<HttpServer>,
    pub ground_truth: Option<GroundTruth>,
}

impl PipelineFile {
    /// Refuses a file that cannot run as it stands (a serial sink with no port, from the file or
    /// a board): called before any plan is loaded or device opened.
    pub fn check_ready(&self) -> Result<(), StreamError> {
        if self.sinks.iter().any(|s| matches!(s, SinkConfig::Serial { port: None, .. })) {
            return Err(StreamError::Config(SERIAL_NEEDS_PORT.into()));
        }
        Ok(())
    }

    /// Opens the source and the sinks around `detector` and `reader` (the stages the file's
    /// `[detector]` and `[ocr]` name; oar-edge loads them from plans). `base` is the folder of
    /// the pipeline file; `serve` adds an HTTP server; `frames` overrides `[pipeline] frames`.
    pub fn build(
        &self,
        base: &Path,
        serve: Option<&str>,
        frames: Option<u64>,
        detector: Box<dyn Detector>,
        reader: Option<Box<dyn Reader>>,
    ) -> Result<Built, StreamError> {
        self.check_ready()?;
        let mut ground_truth = None;
        let stop = Arc::new(AtomicBool::new(false));
        let source: Box<dyn Source> = match &self.source {
            SourceConfig::Synthetic { width, height, frames, seed, plates, scale, text_len, ground_truth: gt_dir } => {
                let cfg = SynthConfig {
                    width: *width,
                    height: *height,
                    frames: *frames,
                    seed: *seed,
                    plates: *plates,
                    scale: *scale,
                    text_len: *text_len,
                };
                let s = SyntheticSource::new(cfg)?;
                ground_truth = Some((s.ground_truth(), gt_dir.clone()));
                Box::new(s)
            }
            SourceConfig::Folder { path } => Box::new(FolderSource::open(&base.join(path))?),
            SourceConfig::Y4m { path } => Box::new(Y4mSource::open(&base.join(path))?),
            SourceConfig::Mjpeg { path } => Box::new(MjpegSource::open(&base.join(path))?),
            SourceConfig::Video { path } => Box::new(open_video(&base.join(path))?),
            SourceConfig::Camera { device, width, height, fps, format, attempts } => {
                let device = device.clone().or_else(camera::first_device).unwrap_or_else(|| "/dev/video0".into());
                let name = device.display().to_string();
                let d = CAMERA_DEFAULTS;
                let cfg = CameraConfig {
                    device,
                    width: width.unwrap_or(d.width),
                    height: height.unwrap_or(d.height),
                    fps: fps.unwrap_or(d.fps),
                    format: format.unwrap_or(d.format),
                };
                let backoff = Backoff { attempts: *attempts, ..Backoff::default() };
                Box::new(ReopeningSource::new(&name, Box::new(move || camera::open(&cfg)), backoff, stop.clone()))
            }
        };
        let tracker = self.tracker.build();
        let mut pipeline = Pipeline::new(source, detector, tracker);
        pipeline.stop = stop;
        let r = &self.pipeline;
        pipeline.options = PipelineOptions {
            newest_wins: r.newest_wins.unwrap_or(matches!(self.source, SourceConfig::Camera { .. })),
            fps: r.fps,
            max_frames: frames.or(r.frames),
            end_after: r.end_after,
            min_hits: r.min_hits,
            capacity: r.capacity.max(1),
            ..PipelineOptions::default()
        };
        pipeline.reader = reader;
        if let Some(o) = &self.ocr {
            pipeline.options.read_interval = o.read_interval;
            pipeline.options.unsure_below = o.unsure_below;
        }
        let mut servers = Vec::new();
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        for s in &self.sinks {
            match s {
                SinkConfig::Jsonl { path, frames } => sinks.push(Box::new(JsonLinesSink::create(path, *frames)?)),
                SinkConfig::Serial { port, baud, status_every } => {
                    let port = port.as_deref().ok_or_else(|| StreamError::Config(SERIAL_NEEDS_PORT.into()))?;
                    let sink = match SerialSink::open(port, baud.unwrap_or(d_baud())) {
                        Ok(s) => s,
                        Err(e) => return Err(StreamError::Serial(format!("opening {port}: {e}"))),
                    };
                    sinks.push(Box::new(sink.with_status(pipeline.metrics.clone(), *status_every)));
                }
                SinkConfig::Http { addr } => servers.push(HttpServer::start(addr, pipeline.metrics.clone())?),
                SinkConfig::Frames { path, overlay } => sinks.push(Box::new(FramesSink::create(path, *overlay)?)),
            }
        }
        if let Some(addr) = serve {
            servers.push(HttpServer::start(addr, pipeline.metrics.clone())?);
        }
        sinks.extend(servers.iter().map(|s| Box::new(s.sink()) as Box<dyn Sink>));
        pipeline.sinks = sinks;
        // Written only once everything else is set up: a run that fails to start leaves no gt.txt.
        if let Some((gt, Some(dir))) = &ground_truth {
            gt.write(dir)?;
        }
        Ok(Built { pipeline, servers, ground_truth: ground_truth.map(|(gt, _)| gt) })
    }
}

