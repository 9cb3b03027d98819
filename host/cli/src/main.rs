//! `oar`: the host tool — fetch models, compile them to plans, inspect plans, read text, benchmark.

mod bench;
mod cmd_prune;
mod cmd_classify;
mod cmd_conform;
mod cmd_detect;
mod cmd_eval;
mod cmd_int8;
mod cmd_run;
mod cmd_track;
mod cmd_zoo;
mod images;
mod models;
mod ocr;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use models::Zoo;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "oar", version, about = "Compile PaddlePaddle models to oar plans and run them on tract")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download registry models into the cache ($OAR_HOME, default ~/.cache/oar).
    Fetch {
        /// Model ids (see `oar fetch --list`).
        models: Vec<String>,
        /// Fetch every model of the registry.
        #[arg(long)]
        all: bool,
        /// List the registry instead.
        #[arg(long)]
        list: bool,
        /// Also compile each model to a float plan in the cache (what `oar ocr` does on first use).
        #[arg(long)]
        compile: bool,
    },
    /// Compile a model (registry id or ONNX file) to a plan.
    Compile {
        /// Registry id, or a path to an .onnx file.
        model: String,
        /// For an ONNX file: take task, input spec and post-processing from this registry model.
        /// Without it, the plan takes the tensors the file declares (run it with `oar infer`).
        #[arg(long)]
        like: Option<String>,
        /// Output plan file.
        #[arg(short, long)]
        out: PathBuf,
        #[command(flatten)]
        int8: cmd_int8::Int8Args,
        /// Prune first (before --int8): remove this fraction of the filters of every prunable conv
        /// group (see `oar prune`).
        #[arg(long)]
        prune: Option<f32>,
        /// How --prune ranks filters: l1 or fpgm.
        #[arg(long, default_value = "l1")]
        prune_criterion: oar_compiler::prune::Criterion,
        /// Float plans: tract's ops only, no oar ops (no fused float depthwise / pointwise / stem convs): the plan
        /// runs on any oar runtime, and is the baseline to compare with.
        #[arg(long)]
        tract_only: bool,
    },
    /// Print a plan's manifest, op histogram, parameter count and sizes.
    Inspect {
        plan: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Read the text in images (detection, direction, recognition).
    Ocr(ocr::OcrArgs),
    /// Time a plan (or registry model) on a fixed input: median and p90 latency.
    Bench(bench::BenchArgs),
    /// Detect objects in images (PicoDet layout detector by default).
    Detect(cmd_detect::DetectArgs),
    /// Classify images (PP-LCNet orientation classifier by default).
    Classify(cmd_classify::ClassifyArgs),
    /// Score a plan on a held-out set with its task's metric, beside its float plan.
    Eval(cmd_eval::EvalArgs),
    /// Remove conv filters (structured pruning) by ratio, FLOPs target or accuracy budget.
    Prune(cmd_prune::PruneArgs),
    /// Score each prunable group of a model alone at several pruning ratios.
    Sensitivity(cmd_prune::SensitivityArgs),
    /// Run a tracker alone on detections in MOTChallenge format; write tracks in that format.
    Track(cmd_track::TrackArgs),
    /// Run any plan on tensors from .npy files (token ids, audio features …); write its outputs as
    /// .npy (as `oar-edge infer` does on the board).
    Infer(oar_edge::InferArgs),
    /// Compile an ONNX model, run it on a given input and compare with reference outputs.
    Conform(cmd_conform::ConformArgs),
    /// The PaddlePaddle seed list: each model's family, task and status in oar.
    Zoo(cmd_zoo::ZooArgs),
    /// Run a pipeline file (source → detect → track → OCR → sinks), as `oar-edge run` does;
    /// fetches and compiles the models it names first.
    Run(oar_edge::RunArgs),
}

fn main() -> ExitCode {
    // `oar … | head` must end quietly when the reader goes away: Rust ignores SIGPIPE, so a write
    // to the closed pipe would panic in println!. The default action ends the process silently.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fetch { models, all, list, compile } => fetch(models, all, list, compile),
        Command::Compile { model, like, out, int8, prune, prune_criterion, tract_only } => {
            let opts = oar_compiler::CompileOptions { oar_ops: !tract_only };
            compile(&model, like.as_deref(), &out, &int8, prune.map(|r| (r, prune_criterion)), &opts)
        }
        Command::Inspect { plan, json } => inspect(&plan, json),
        Command::Ocr(args) => ocr::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Detect(args) => cmd_detect::run(&args),
        Command::Classify(args) => cmd_classify::run(&args),
        Command::Eval(args) => cmd_eval::run(&args),
        Command::Prune(args) => cmd_prune::prune(&args),
        Command::Sensitivity(args) => cmd_prune::sensitivity(&args),
        Command::Track(args) => cmd_track::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Conform(args) => cmd_conform::run(&args),
        Command::Infer(args) => oar_edge::infer::run(&args).map(|c| ExitCode::from(c as u8)),
        Command::Zoo(args) => cmd_zoo::run(&args),
        Command::Run(args) => cmd_run::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", oar_edge::report::error_line(&e));
            ExitCode::from(2)
        }
    }
}

fn fetch(ids: Vec<String>, all: bool, list: bool, compile: bool) -> Result<ExitCode> {
    let zoo = Zoo::open()?;
    if list {
        for e in zoo.registry.entries() {
            let state = if oar_registry::cached(e, &zoo.cache).is_some() { "cached" } else { "" };
            println!("{:22} {:22} {:6} {}", e.id, e.task, state, e.description);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let ids: Vec<String> = if all { zoo.registry.entries().iter().map(|e| e.id.clone()).collect() } else { ids };
    anyhow::ensure!(!ids.is_empty(), "name the models to fetch, or --all (ids: oar fetch --list)");
    let entries = ids.iter().map(|id| zoo.registry.get(id)).collect::<Result<Vec<_>, _>>()?;
    for e in entries {
        let f = zoo.fetch(e)?;
        if compile {
            println!("{} {}", e.id, zoo.plan(&e.id)?.display());
        } else {
            println!("{} {}", e.id, f.model.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn compile(
    model: &str,
    like: Option<&str>,
    out: &std::path::Path,
    int8: &cmd_int8::Int8Args,
    prune: Option<(f32, oar_compiler::prune::Criterion)>,
    opts: &oar_compiler::CompileOptions,
) -> Result<ExitCode> {
    let zoo = Zoo::open()?;
    let src = models::source(&zoo, model, like)?;
    // Pruning comes first; the pruned ONNX lives in a temporary file while it is compiled.
    let (src, _pruned_file) = match prune {
        Some((ratio, criterion)) => {
            let (src, file) = cmd_prune::pruned_source(src, ratio, criterion)?;
            (src, Some(file))
        }
        None => (src, None),
    };
    if int8.int8 {
        cmd_int8::compile(&src, out, int8).with_context(|| format!("cannot compile {model} to int8"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let spinner = models::spinner(&format!("compiling {model}"));
    let compiled = oar_compiler::compile_with(&src, out, opts);
    spinner.finish_and_clear();
    let compiled = compiled.with_context(|| format!("cannot compile {model}"))?;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: {} plan, {:.1} MB, checked against the ONNX graph (max abs error {:.2e})",
        out.display(),
        compiled.manifest.model.task,
        size as f64 / 1e6,
        compiled.check_error.iter().cloned().fold(0.0, f32::max)
    );
    Ok(ExitCode::SUCCESS)
}

fn inspect(path: &std::path::Path, json: bool) -> Result<ExitCode> {
    let plan = oar_plan::Plan::read(path)?;
    let model = oar_plan::decode_model(&plan)?;
    let stats = oar_plan::model_stats(&model);
    let file_size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if json {
        let v = serde_json::json!({
            "path": path,
            "file_bytes": file_size,
            "manifest": plan.manifest,
            "entries": plan.entry_sizes().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
            "ops": stats.ops,
            "params": stats.params,
            "param_bytes": stats.param_bytes,
            "nodes": model.nodes().len(),
            "integer_layers": oar_plan::integer_layers(&model).into_iter().map(|(n, k)| serde_json::json!({"name": n, "kind": k})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("# {} ({:.2} MB)\n", path.display(), file_size as f64 / 1e6);
    println!("{}", plan.manifest.to_toml()?);
    println!("# entries");
    for (name, size) in plan.entry_sizes() {
        println!("  {name:24} {size:>10} bytes");
    }
    println!("\n# graph: {} nodes, {} parameters", model.nodes().len(), stats.params);
    for (dt, bytes) in &stats.param_bytes {
        println!("  {dt:8} {:>10.2} MB of constants", *bytes as f64 / 1e6);
    }
    let int_layers = oar_plan::integer_layers(&model);
    if !int_layers.is_empty() {
        println!("\n# int8 layers (integer convs and matmuls in the graph): {}", int_layers.len());
        for (name, kind) in &int_layers {
            println!("  {kind:7} {name}");
        }
    }
    println!("\n# ops");
    let mut ops: Vec<_> = stats.ops.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (op, n) in ops {
        println!("  {op:28} {n:>5}");
    }
    Ok(ExitCode::SUCCESS)
}
