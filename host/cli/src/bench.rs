//! `oar bench`: latency of a plan on a fixed, seeded input; optionally a per-op profile.

use crate::models::Zoo;
use anyhow::{Context, Result};
use oar_plan::{Engine, Threads};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct BenchArgs {
    /// A .oar plan or a registry id (compiled on first use).
    model: String,
    /// Input shape, e.g. 1,3,48,320 (default: the model's typical input).
    #[arg(long, value_delimiter = ',')]
    shape: Option<Vec<usize>>,
    /// Threads the plan runs on: a count, or `auto` (the fastest count up to this machine's cores,
    /// measured on the input first).
    #[arg(long, default_value_t = Threads::Fixed(1))]
    threads: Threads,
    /// Multiply-accumulates from which oar's ops split a layer over the threads (default: the
    /// measured size, `oar_plan::DEFAULT_SPLIT_MACS`; 0: every layer). For measuring the cost model.
    #[arg(long)]
    split_macs: Option<usize>,
    /// Elements from which tract's own element-wise ops and packing split over the threads
    /// (default: `oar_plan::TRACT_SPLIT_ELEMENTS`). For measuring the cost model.
    #[arg(long)]
    tract_split_elements: Option<usize>,
    /// Timed runs.
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Also time every op, and print where the time goes.
    #[arg(long)]
    profile: bool,
    /// With --profile, also the time of the nodes whose name contains this text (e.g.
    /// `DeformConv`): a layer's share whatever ops tract made of it. Repeatable.
    #[arg(long)]
    nodes: Vec<String>,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    let zoo = Zoo::open()?;
    let path = zoo.plan(&args.model)?;
    let mut engine = Engine::load(&path)?;
    let manifest = &engine.plan.manifest;
    let inputs = match (&args.shape, &manifest.input) {
        (Some(shape), _) => vec![oar_compiler::seeded_input(shape, 1)],
        (None, Some(image)) => vec![oar_compiler::seeded_input(&oar_compiler::typical_input_shape(image), 1)],
        // Tensor inputs: seeded, each named dimension at the compile-time check's size.
        (None, None) => oar_compiler::seeded_inputs(&manifest.inputs, 1).map_err(anyhow::Error::msg)?,
    };
    // One input: its shape (as before plans of tensors); several: one shape each.
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
    let shape = if let [one] = &shapes[..] { serde_json::json!(one) } else { serde_json::json!(shapes) };
    if let Some(macs) = args.split_macs {
        oar_plan::set_split_threshold(macs);
    }
    if let Some(n) = args.tract_split_elements {
        oar_plan::set_tract_split_elements(n);
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let auto = engine.apply_threads(args.threads, cores, &inputs).with_context(|| format!("--threads {} on input shape {shape}", args.threads))?;
    let threads = engine.threads();
    let times = time_runs(&engine, &inputs, args.warmup, args.runs).with_context(|| format!("input shape {shape}"))?;
    let median = percentile(&times, 0.5);
    let p90 = percentile(&times, 0.9);
    let mean = times.iter().map(|t| t.as_secs_f64()).sum::<f64>() / times.len() as f64 * 1e3;

    let runs = args.runs.clamp(1, 10);
    let node_times = if args.profile { Some(engine.profile(&inputs, runs)?) } else { None };
    let profile = node_times.as_ref().map(|t| op_profile(t, runs));
    // (text, ms per run, nodes) for each --nodes.
    let matched: Vec<(String, f64, usize)> = match &node_times {
        Some(t) => args
            .nodes
            .iter()
            .map(|pat| {
                let hits: Vec<_> = t.iter().filter(|n| n.node.contains(pat.as_str())).collect();
                (pat.clone(), hits.iter().map(|n| n.total.as_secs_f64()).sum::<f64>() * 1e3 / runs as f64, hits.len())
            })
            .collect(),
        None => vec![],
    };
    if args.json {
        let v = serde_json::json!({
            "model": args.model, "plan": path, "shape": shape, "threads": threads, "threads_setting": args.threads.to_string(), "runs": times.len(),
            "auto_ms": auto.as_ref().map(|a| a.median_ms.iter().map(|(n, ms)| serde_json::json!({"threads": n, "median_ms": ms})).collect::<Vec<_>>()),
            "median_ms": median, "p90_ms": p90, "mean_ms": mean, "min_ms": percentile(&times, 0.0),
            "profile": profile.as_ref().map(|p| p.iter().map(|(op, ms, n)| serde_json::json!({"op": op, "ms": ms, "nodes": n})).collect::<Vec<_>>()),
            "matched": matched.iter().map(|(pat, ms, n)| serde_json::json!({"name_contains": pat, "ms": ms, "nodes": n})).collect::<Vec<_>>(),
        });
        println!("{v}");
    } else {
        if let Some(a) = &auto {
            let tried: Vec<String> = a.median_ms.iter().map(|(n, ms)| format!("{n}: {ms:.2} ms")).collect();
            println!("threads auto: {} (medians while choosing: {})", a.threads, tried.join(", "));
        }
        println!("{} {} threads={threads} runs={}: median {median:.2} ms, p90 {p90:.2} ms, mean {mean:.2} ms", args.model, shape, times.len());
        if let Some(p) = profile {
            let total: f64 = p.iter().map(|(_, ms, _)| ms).sum();
            println!("\n{:56} {:>9} {:>6} {:>6}", "op", "ms/run", "share", "nodes");
            for (op, ms, n) in p.iter().take(20) {
                println!("{op:56} {ms:>9.3} {:>5.1}% {n:>6}", ms / total * 100.0);
            }
            for (pat, ms, n) in &matched {
                println!("{:56} {ms:>9.3} {:>5.1}% {n:>6}", format!("nodes named *{pat}*"), ms / total * 100.0);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Latencies of `runs` timed runs (at least one) after `warmup` untimed ones, sorted.
pub fn time_runs(engine: &Engine, inputs: &[oar_plan::tract::Tensor], warmup: usize, runs: usize) -> Result<Vec<Duration>> {
    for _ in 0..warmup {
        engine.infer(inputs.to_vec())?;
    }
    let bar = indicatif::ProgressBar::new(runs as u64);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        engine.infer(inputs.to_vec())?;
        times.push(start.elapsed());
        bar.inc(1);
    }
    bar.finish_and_clear();
    times.sort();
    Ok(times)
}

/// The p-th quantile of sorted latencies, in ms.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// Time per op kind (ms per run, node count), most expensive first.
fn op_profile(nodes: &[oar_plan::NodeTime], runs: usize) -> Vec<(String, f64, usize)> {
    let mut by_op: std::collections::BTreeMap<String, (f64, usize)> = Default::default();
    for n in nodes {
        // Matmuls are told apart by kernel: integer (…_i32_…) or float (…_f32_…).
        let key = match &n.kernel {
            Some(k) => format!("{} [{k}]", n.op),
            None => n.op.clone(),
        };
        let e = by_op.entry(key).or_default();
        e.0 += n.total.as_secs_f64() * 1e3 / runs as f64;
        e.1 += 1;
    }
    let mut v: Vec<_> = by_op.into_iter().map(|(op, (ms, n))| (op, ms, n)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}
