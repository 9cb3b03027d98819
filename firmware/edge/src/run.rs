//! `run --pipeline P.toml`: shared by the device binary (`oar-edge run`) and the host tool
//! (`oar run`, which first fetches and compiles the plans the file names).

use crate::probe::{self, Board};
use anyhow::{bail, Context, Result};
use oar_stream::config::{PipelineFile, SourceConfig};
use oar_stream::RunSummary;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Arguments of `run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The pipeline file (TOML).
    #[arg(long)]
    pub pipeline: PathBuf,
    /// Stop after this many frames.
    #[arg(long)]
    pub frames: Option<u64>,
    /// Also serve `/`, `/stream.mjpg`, `/metrics` on this address (e.g. 127.0.0.1:8080).
    #[arg(long)]
    pub serve: Option<String>,
    /// Keep serving after the source has ended, until Ctrl-C.
    #[arg(long)]
    pub linger: bool,
    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Read from a V4L2 camera instead of the file's source (default: the board's camera, else
    /// the first /dev/videoN).
    #[arg(long, value_name = "DEVICE", num_args = 0..=1, default_missing_value = "")]
    pub camera: Option<PathBuf>,
    /// Board profile (`boards/NAME.toml`) whose thread count, camera (device, format, size, rate)
    /// and serial port apply where the pipeline file is silent. Default: the profile that
    /// `oar-edge probe` finds, when exactly one fits best; `none`: no profile.
    #[arg(long, value_name = "NAME")]
    pub board: Option<String>,
}

/// Reads the pipeline file named by `args`.
pub fn load(args: &RunArgs) -> Result<PipelineFile> {
    PipelineFile::load(&args.pipeline).with_context(|| format!("reading the pipeline {}", args.pipeline.display()))
}

/// Builds and runs the pipeline until its source ends or Ctrl-C (which drains the stages and
/// flushes every sink), then prints the summary. Returns the exit code.
pub fn run(args: &RunArgs) -> Result<i32> {
    run_file(&load(args)?, args)
}

/// [`run`] with the pipeline file already read (the host fetches its plans first).
pub fn run_file(file: &PipelineFile, args: &RunArgs) -> Result<i32> {
    let mut file = file.clone();
    if let Some(dev) = &args.camera {
        file.source = camera_source(dev);
    }
    if let Some(board) = board(args.board.as_deref())? {
        for line in file.apply_board(&board.defaults()) {
            eprintln!("{line}");
        }
    }
    if let Some(n) = file.pipeline.threads {
        oar_plan::set_threads(n);
    }
    let built = crate::stages::build(&file, &base_dir(&args.pipeline), args.serve.as_deref(), args.frames).context("setting up the pipeline")?;
    for s in &built.servers {
        eprintln!("serving http://{}/", s.addr);
    }
    let stop: Arc<AtomicBool> = built.pipeline.stop.clone();
    let stop_h = stop.clone();
    ctrlc::set_handler(move || {
        if stop_h.swap(true, Ordering::SeqCst) {
            eprintln!("interrupted twice, exiting without draining");
            std::process::exit(130);
        }
        eprintln!("stopping: draining the pipeline (Ctrl-C again to quit at once)");
    })
    .context("installing the Ctrl-C handler")?;

    let summary = built.pipeline.run().context("running the pipeline")?;
    let gt_texts: Option<Vec<String>> = built.ground_truth.as_ref().map(|g| g.texts.iter().map(|(_, t)| t.clone()).collect());
    report(&summary, gt_texts.as_deref(), args.json);
    if args.linger && !built.servers.is_empty() {
        eprintln!("source ended; still serving until Ctrl-C");
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    for s in &built.servers {
        s.shutdown();
    }
    if let Some(problem) = failed_run(&summary, &file) {
        anyhow::bail!("{problem}");
    }
    Ok(0)
}

/// Why a run that went to its end still failed: its source never produced a frame, or a sink
/// lost all its output.
fn failed_run(summary: &RunSummary, file: &PipelineFile) -> Option<String> {
    let m = &summary.metrics;
    if m.frames_in == 0 {
        return Some(format!(
            "the source ({}) produced no frame ({} skipped, {} faults): nothing was processed",
            source_kind(&file.source),
            m.frames_skipped,
            m.faults
        ));
    }
    let dead: Vec<String> = summary
        .sinks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.all_failed())
        .map(|(i, t)| {
            format!(
                "sink {i} failed every write ({} of {} frames, {} of {} tracks{})",
                t.frames_failed,
                t.frames_ok + t.frames_failed,
                t.tracks_failed,
                t.tracks_ok + t.tracks_failed,
                if t.flush_failed { ", and its flush" } else { "" }
            )
        })
        .collect();
    (!dead.is_empty()).then(|| format!("{}: see the warnings above", dead.join("; ")))
}

fn source_kind(s: &SourceConfig) -> &'static str {
    match s {
        SourceConfig::Synthetic { .. } => "synthetic",
        SourceConfig::Folder { .. } => "folder",
        SourceConfig::Y4m { .. } => "y4m",
        SourceConfig::Mjpeg { .. } => "mjpeg",
        SourceConfig::Video { .. } => "video",
        SourceConfig::Camera { .. } => "camera",
    }
}


/// A camera source with the defaults of a pipeline file's `kind = "camera"` (the board's, else
/// [`oar_stream::config::CAMERA_DEFAULTS`]); an empty path means the default device.
fn camera_source(device: &Path) -> SourceConfig {
    let device = (!device.as_os_str().is_empty()).then(|| device.to_path_buf());
    SourceConfig::Camera { device, width: None, height: None, fps: None, format: None, attempts: None }
}

/// The board profile to apply: `name`, or `none`, or (no name) the one this machine fits best
/// when no other fits as well.
pub fn board(name: Option<&str>) -> Result<Option<Board>> {
    let boards = probe::boards()?;
    match name {
        Some("none") => Ok(None),
        Some(n) => match boards.iter().find(|b| b.name == n) {
            Some(b) => Ok(Some(b.clone())),
            None => {
                let names: Vec<&str> = boards.iter().map(|b| b.name.as_str()).collect();
                bail!("--board {n}: no such board profile (expected one of {}, or none)", names.join(", "))
            }
        },
        None => {
            let m = probe::match_boards(&boards, &probe::detect());
            match m.best {
                Some(best) if m.ambiguous_with.is_empty() => Ok(boards.into_iter().find(|b| b.name == best)),
                Some(best) => {
                    log::warn!(
                        "board profiles {best} and {} fit this machine equally well: none is applied (pass --board NAME)",
                        m.ambiguous_with.join(", ")
                    );
                    Ok(None)
                }
                None => Ok(None),
            }
        }
    }
}

/// Prints the summary: JSON on stdout, or a human summary on stderr.
fn report(summary: &RunSummary, gt_texts: Option<&[String]>, json: bool) {
    let m = &summary.metrics;
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    let found: Vec<&str> = summary.tracks.iter().filter(|t| !t.text.is_empty()).map(|t| t.text.as_str()).collect();
    let matched = gt_texts.map(|g| g.iter().filter(|t| found.contains(&t.as_str())).count());
    if json {
        let out = serde_json::json!({
            "frames": m.frames_out,
            "seconds": summary.elapsed.as_secs_f64(),
            "fps": m.frames_out as f64 / secs,
            "metrics": m,
            "tracks": summary.tracks,
            "ground_truth_texts": gt_texts,
            "ground_truth_matched": matched,
        });
        println!("{out}");
        return;
    }
    eprintln!(
        "{} frames in {:.1} s ({:.2} fps), {} dropped, {} skipped, {} faults, {} tracks",
        m.frames_out,
        summary.elapsed.as_secs_f64(),
        m.frames_out as f64 / secs,
        m.frames_dropped,
        m.frames_skipped,
        m.faults,
        summary.tracks.len()
    );
    for (name, s) in &m.stages {
        eprintln!("  {name:<11} p50 {:>8.1} ms  p99 {:>8.1} ms  ({} samples)", s.p50_ms, s.p99_ms, s.count);
    }
    if let (Some(g), Some(k)) = (gt_texts, matched) {
        eprintln!("ground truth: {k} of {} texts read ({})", g.len(), g.join(", "));
    }
}

/// The folder that relative input paths of a pipeline file are resolved against.
pub fn base_dir(pipeline: &Path) -> PathBuf {
    pipeline.parent().map(PathBuf::from).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oar_stream::{Metrics, SinkTally};
    use std::sync::atomic::Ordering;

    #[test]
    fn boards_by_name() {
        assert_eq!(board(Some("rpi4")).unwrap().unwrap().threads, 4);
        assert!(board(Some("none")).unwrap().is_none());
        let e = board(Some("rpi9")).unwrap_err().to_string();
        assert!(e.contains("--board rpi9") && e.contains("rpi4") && e.contains("none"), "{e}");
    }

    fn summary(frames_in: u64, sinks: Vec<SinkTally>) -> RunSummary {
        let m = Metrics::new();
        m.frames_in.fetch_add(frames_in, Ordering::Relaxed);
        RunSummary { tracks: vec![], metrics: m.snapshot(), elapsed: std::time::Duration::from_secs(1), sinks }
    }

    #[test]
    fn runs_without_frames_or_with_a_dead_sink_fail() {
        let file = PipelineFile::parse("[source]\nkind = \"folder\"\npath = \"x\"\n[detector]\nplan = \"d\"\n").unwrap();
        let e = failed_run(&summary(0, vec![]), &file).unwrap();
        assert!(e.contains("source (folder) produced no frame"), "{e}");
        let ok = SinkTally { frames_ok: 10, tracks_ok: 1, ..SinkTally::default() };
        assert_eq!(failed_run(&summary(10, vec![ok.clone()]), &file), None);
        let dead = SinkTally { frames_ok: 10, tracks_failed: 2, flush_failed: true, ..SinkTally::default() };
        let e = failed_run(&summary(10, vec![ok.clone(), dead]), &file).unwrap();
        assert!(e.contains("sink 1 failed every write (0 of 10 frames, 2 of 2 tracks, and its flush)"), "{e}");
        // Some writes failed, not all: the run still succeeds (the faults are in the summary).
        let flaky = SinkTally { frames_ok: 9, frames_failed: 1, tracks_ok: 1, ..SinkTally::default() };
        assert_eq!(failed_run(&summary(10, vec![flaky]), &file), None);
    }
}
