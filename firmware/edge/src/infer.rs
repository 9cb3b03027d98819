//! `infer PLAN --input a.npy [--input b.npy …] -o OUT/`: runs any plan on tensors read from
//! `.npy` files and writes its outputs as `.npy` files, on the host (`oar infer`) and the board
//! (`oar-edge infer`) alike: plans of token ids, audio features or images made elsewhere.

use anyhow::{Context, Result};
use oar_plan::{npy, Engine};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct InferArgs {
    /// The plan (.oar).
    pub plan: PathBuf,
    /// One .npy per plan input, in the plan's input order (`oar inspect PLAN` lists them).
    #[arg(long, required = true)]
    pub input: Vec<PathBuf>,
    /// Folder for the outputs, output_0.npy, output_1.npy … in the plan's output order (created if
    /// missing; each file written whole or not at all).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Threads for the plan.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &InferArgs) -> Result<i32> {
    let mut engine = Engine::load(&args.plan)?;
    engine.set_threads(args.threads);
    let inputs = args.input.iter().map(|p| Ok(npy::read(p)?)).collect::<Result<Vec<_>>>()?;
    let start = Instant::now();
    let outputs = engine.infer(inputs)?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let specs = &engine.plan.manifest.outputs;
    let mut written = vec![];
    for (i, t) in outputs.iter().enumerate() {
        let path = args.out.join(format!("output_{i}.npy"));
        npy::write(&path, t)?;
        let name = specs.get(i).map(|s| s.name.clone()).unwrap_or_default();
        let dtype = oar_plan::dtype_of(t.datum_type()).map(|d| d.name()).unwrap_or("?");
        written.push((path, name, dtype, t.shape().to_vec()));
    }
    if args.json {
        let outputs: Vec<_> = written
            .iter()
            .map(|(path, name, dtype, shape)| serde_json::json!({"file": path, "name": name, "dtype": dtype, "shape": shape}))
            .collect();
        println!("{}", serde_json::json!({"plan": args.plan, "outputs": outputs, "ms": ms}));
    } else {
        for (path, name, dtype, shape) in &written {
            println!("{}: {name} {dtype}{shape:?}", path.display());
        }
        eprintln!("{} output(s) in {ms:.1} ms", written.len());
    }
    Ok(0)
}
