//! oar-edge: the device binary.
//!
//! `oar-edge run --pipeline P.toml [--frames N] [--serve ADDR]` runs a pipeline file until its
//! source ends or Ctrl-C (which drains the stages and flushes every sink); `oar-edge probe
//! [--json]` describes the device; `oar-edge ocr IMAGE… [--json]` reads text like `oar ocr`;
//! `oar-edge infer PLAN --input X.npy… -o OUT/` runs any plan on `.npy` tensors.

mod ocr;

use oar_edge::probe;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    Run(oar_edge::RunArgs),
    /// Read the text in images (the host's `oar ocr`, plans from files).
    Ocr(ocr::OcrArgs),
    /// Run any plan on tensors from .npy files (token ids, audio features …); write its outputs as .npy.
    Infer(oar_edge::InferArgs),
    /// Describe this device: CPU, selected kernels, matching board profile.
    Probe {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    // `oar … | head` must end quietly when the reader goes away: Rust ignores SIGPIPE, so a write
    // to the closed pipe would panic in println!. The default action ends the process silently.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
            eprintln!("error: {}", oar_edge::report::error_line(&e));
            1
        }
    };
    std::process::exit(code);
}

fn run(cmd: Cmd) -> Result<i32> {
    match cmd {
        Cmd::Run(args) => oar_edge::run::run(&args),
        Cmd::Probe { json } => probe::run(json).map(|()| 0),
        Cmd::Ocr(args) => ocr::run(&args),
        Cmd::Infer(args) => oar_edge::infer::run(&args),
    }
}
