//! oar-edge: the device binary.
//!
//! `oar-edge run --pipeline P.toml [--frames N] [--serve ADDR]` runs a pipeline file until its
//! source ends or Ctrl-C (which drains the stages and flushes every sink); `oar-edge probe
//! [--json]` describes the device; `oar-edge ocr IMAGE… [--json]` reads text like `oar ocr`.

mod ocr;
mod probe;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use oar_stream::config::PipelineFile;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "oar-edge", version, about = "Run PaddlePaddle model pipelines on a device")]
struct Cli {
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a pipeline file: source → detect → track → OCR → sinks.
    Run {
        /// The pipeline file (TOML).
        #[arg(long)]
        pipeline: PathBuf,
        /// Stop after this many frames.
        #[arg(long)]
        frames: Option<u64>,
        /// Also serve `/`, `/stream.mjpg`, `/metrics` on this address (e.g. 127.0.0.1:8080).
        #[arg(long)]
        serve: Option<String>,
        /// Keep serving after the source has ended, until Ctrl-C.
        #[arg(long)]
        linger: bool,
        /// Print the run summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Read the text in images (the host's `oar ocr`, plans from files).
    Ocr(ocr::OcrArgs),
    /// Describe this device: CPU, selected kernels, matching board profile.
    Probe {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    let code = match run(cli.cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn run(cmd: Cmd) -> Result<i32> {
    match cmd {
        Cmd::Run { pipeline, frames, serve, linger, json } => run_pipeline(&pipeline, frames, serve.as_deref(), linger, json),
        Cmd::Probe { json } => probe::run(json).map(|()| 0),
        Cmd::Ocr(args) => ocr::run(&args),
    }
}

fn run_pipeline(path: &std::path::Path, frames: Option<u64>, serve: Option<&str>, linger: bool, json: bool) -> Result<i32> {
    let file = PipelineFile::load(path).with_context(|| format!("reading the pipeline {}", path.display()))?;
    let base = path.parent().map(PathBuf::from).unwrap_or_default();
    let built = file.build(&base, serve, frames).context("setting up the pipeline")?;
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
    let m = &summary.metrics;
    let gt_texts: Option<Vec<String>> = built.ground_truth.as_ref().map(|g| g.texts.iter().map(|(_, t)| t.clone()).collect());
    let found: Vec<&str> = summary.tracks.iter().filter(|t| !t.text.is_empty()).map(|t| t.text.as_str()).collect();
    let matched = gt_texts.as_ref().map(|g| g.iter().filter(|t| found.contains(&t.as_str())).count());
    if json {
        let out = serde_json::json!({
            "frames": m.frames_out,
            "seconds": summary.elapsed.as_secs_f64(),
            "fps": m.frames_out as f64 / summary.elapsed.as_secs_f64().max(1e-9),
            "metrics": m,
            "tracks": summary.tracks,
            "ground_truth_texts": gt_texts,
            "ground_truth_matched": matched,
        });
        println!("{out}");
    } else {
        eprintln!(
            "{} frames in {:.1} s ({:.2} fps), {} dropped, {} skipped, {} faults, {} tracks",
            m.frames_out,
            summary.elapsed.as_secs_f64(),
            m.frames_out as f64 / summary.elapsed.as_secs_f64().max(1e-9),
            m.frames_dropped,
            m.frames_skipped,
            m.faults,
            summary.tracks.len()
        );
        for (name, s) in &m.stages {
            eprintln!("  {name:<11} p50 {:>8.1} ms  p99 {:>8.1} ms  ({} samples)", s.p50_ms, s.p99_ms, s.count);
        }
        if let (Some(g), Some(k)) = (&gt_texts, matched) {
            eprintln!("ground truth: {k} of {} texts read ({})", g.len(), g.join(", "));
        }
    }
    if linger && !built.servers.is_empty() {
        eprintln!("source ended; still serving until Ctrl-C");
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    for s in &built.servers {
        s.shutdown();
    }
    Ok(0)
}
