//! `oar conform`: proves that oar runs a model as onnxruntime does. Compiles an ONNX file to a
//! plan, runs the plan on a given input and compares every output with the reference outputs
//! (written by onnxruntime, e.g. by `tools/zoo_export.py`); reports the errors and the latency.

use crate::bench;
use anyhow::{bail, ensure, Context, Result};
use oar_compiler::{ModelInput, SourceModel};
use oar_plan::tract::Tensor;
use oar_plan::{npy, Dim, Engine, TensorSpec};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct ConformArgs {
    /// The ONNX model: any inputs (an image, token ids and masks, audio features ...).
    pub model: PathBuf,
    /// The inputs, one .npy per model input in the model's input order.
    #[arg(long)]
    pub input: Vec<PathBuf>,
    /// The reference outputs, one .npy per model output, in the model's output order.
    #[arg(long)]
    pub expect: Vec<PathBuf>,
    /// A further case: a folder of input_0.npy, input_1.npy ... (or input.npy) and output_0.npy ...
    /// (as tools/zoo_export*.py write them). A dimension that differs between cases (a sequence
    /// length) stays symbolic in the plan, and the one plan is checked on every case.
    #[arg(long)]
    pub case: Vec<PathBuf>,
    /// Largest error allowed, relative to the largest magnitude of each reference output.
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f32,
    /// Where to write the plan (default: beside the model, with the extension .oar).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Threads for tract's matrix products.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Timed runs (on the first case).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// onnxruntime's median latency on the same input and thread count, to print the ratio.
    #[arg(long)]
    pub ort_ms: Option<f64>,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// tract's ops only, no oar ops (no fused float depthwise / pointwise / stem convs): the baseline.
    #[arg(long)]
    pub tract_only: bool,
    /// Also write the plan's outputs there, as output_N.npy (first case; to see where they differ).
    #[arg(long)]
    pub save_outputs: Option<PathBuf>,
}

/// How far one output is from its reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputError {
    pub max_abs: f32,
    /// `max_abs` over the reference's largest magnitude (`max_abs` itself for an all-zero reference).
    pub max_rel: f32,
}

/// Inputs and the outputs onnxruntime computed from them.
struct Case {
    name: String,
    inputs: Vec<Tensor>,
    expect: Vec<Tensor>,
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<Tensor>> {
    paths.iter().map(|p| Ok(npy::read(p)?)).collect()
}

/// A case folder: input_N.npy (or input.npy) and output_N.npy, N from 0 without gaps.
fn read_case(dir: &Path) -> Result<Case> {
    let numbered = |stem: &str| (0..).map(|i| dir.join(format!("{stem}_{i}.npy"))).take_while(|p| p.is_file()).collect::<Vec<_>>();
    let mut inputs = numbered("input");
    if inputs.is_empty() && dir.join("input.npy").is_file() {
        inputs.push(dir.join("input.npy"));
    }
    let outputs = numbered("output");
    ensure!(!inputs.is_empty(), "{}: no input_0.npy (or input.npy) in the case folder", dir.display());
    ensure!(!outputs.is_empty(), "{}: no output_0.npy in the case folder", dir.display());
    Ok(Case { name: dir.display().to_string(), inputs: read_all(&inputs)?, expect: read_all(&outputs)? })
}

pub fn run(args: &ConformArgs) -> Result<ExitCode> {
    oar_plan::set_threads(args.threads);
    let mut cases = vec![];
    match (args.input.is_empty(), args.expect.is_empty()) {
        (false, false) => cases.push(Case { name: "--input".into(), inputs: read_all(&args.input)?, expect: read_all(&args.expect)? }),
        (true, true) => {}
        (false, true) => bail!("--input needs --expect (the reference outputs)"),
        (true, false) => bail!("--expect needs --input"),
    }
    for dir in &args.case {
        cases.push(read_case(dir)?);
    }
    ensure!(!cases.is_empty(), "give the inputs and reference outputs: --input X.npy --expect Y.npy, or --case DIR");
    let plan = args.plan.clone().unwrap_or_else(|| args.model.with_extension("oar"));

    let start = Instant::now();
    let src = source_model(&args.model, &cases)?;
    let opts = oar_compiler::CompileOptions { oar_ops: !args.tract_only };
    oar_compiler::compile_with(&src, &plan, &opts).with_context(|| format!("cannot compile {}", args.model.display()))?;
    let compile_s = start.elapsed().as_secs_f64();

    let engine = Engine::load(&plan)?;
    let mut per_case = vec![];
    for (k, case) in cases.iter().enumerate() {
        let outputs = engine.infer(case.inputs.clone()).with_context(|| format!("the plan does not run on the inputs of {}", case.name))?;
        ensure!(
            outputs.len() == case.expect.len(),
            "the model has {} outputs, {} references were given ({})",
            outputs.len(),
            case.expect.len(),
            case.name
        );
        if let (Some(dir), 0) = (&args.save_outputs, k) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            for (i, t) in outputs.iter().enumerate() {
                npy::write(&dir.join(format!("output_{i}.npy")), t)?;
            }
        }
        let errors = outputs
            .iter()
            .zip(&case.expect)
            .enumerate()
            .map(|(i, (got, want))| compare(got, want).with_context(|| format!("output {i} of {}", case.name)))
            .collect::<Result<Vec<_>>>()?;
        per_case.push(errors);
    }
    let conformant = per_case.iter().flatten().all(|e| e.max_rel <= args.tolerance);
    let times = bench::time_runs(&engine, &cases[0].inputs, 2, args.runs)?;
    let oar_ms = bench::percentile(&times, 0.5);
    let shapes = |c: &Case| c.inputs.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>();
    // One input: its shape (as conform printed before it took several).
    let shape_of = |c: &Case| {
        let s = shapes(c);
        if let [one] = &s[..] { serde_json::json!(one) } else { serde_json::json!(s) }
    };
    let errors_json = |errors: &[OutputError]| {
        errors.iter().map(|e| serde_json::json!({"max_abs": e.max_abs, "max_rel": e.max_rel})).collect::<Vec<_>>()
    };

    if args.json {
        let v = serde_json::json!({
            "model": args.model, "plan": plan, "shape": shape_of(&cases[0]), "threads": args.threads,
            "conformant": conformant, "tolerance": args.tolerance,
            "outputs": errors_json(&per_case[0]),
            "cases": cases.iter().zip(&per_case).map(|(c, e)| serde_json::json!({"case": c.name, "shape": shape_of(c), "outputs": errors_json(e)})).collect::<Vec<_>>(),
            "inputs": engine.plan.manifest.input_specs().iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "compile_s": compile_s, "oar_ms": oar_ms, "ort_ms": args.ort_ms,
        });
        println!("{v}");
    } else {
        let verdict = if conformant { "conformant" } else { "NOT conformant" };
        let inputs: Vec<String> = engine.plan.manifest.input_specs().iter().map(|s| s.to_string()).collect();
        println!("{}: {verdict} (tolerance {:.0e}); the plan takes {}", args.model.display(), args.tolerance, inputs.join("; "));
        for (c, errors) in cases.iter().zip(&per_case) {
            let worst = errors.iter().fold((0f32, 0f32), |(a, r), e| (a.max(e.max_abs), r.max(e.max_rel)));
            println!("  {:?}: max abs error {:.2e}, rel {:.2e}", shapes(c), worst.0, worst.1);
        }
        print!("latency ({} thread(s), median of {}): oar {oar_ms:.2} ms", args.threads, times.len());
        match args.ort_ms {
            Some(ort) => println!(", onnxruntime {ort:.2} ms, ratio {:.2}", oar_ms / ort),
            None => println!(),
        }
    }
    Ok(if conformant { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The compiler's view of a bare ONNX file: its declared inputs, with each dimension fixed where
/// every case agrees and symbolic where they differ (named as the file names it, else
/// `s{input}_{axis}`; one symbol for dimensions that differ alike in every case);
/// the first case's inputs are the compile-time check's.
fn source_model(model: &Path, cases: &[Case]) -> Result<SourceModel> {
    let proto = oar_compiler::read_onnx(model)?;
    let declared = oar_compiler::declared_inputs(&proto, model)?;
    let list = || declared.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("; ");
    for c in cases {
        ensure!(c.inputs.len() == declared.len(), "{}: {} input(s) given, the model takes {}: {}", c.name, c.inputs.len(), declared.len(), list());
    }
    let mut specs = vec![];
    // Dimensions that take the same values in every case are one symbol (paddle2onnx names the
    // length of `input_ids` and of `token_type_ids` apart; tract must know they are equal).
    let mut symbols: Vec<(Vec<usize>, String)> = vec![];
    for (k, d) in declared.iter().enumerate() {
        let first = cases[0].inputs[k].shape();
        for c in cases {
            let shape = c.inputs[k].shape();
            ensure!(
                shape.len() == first.len() && shape.len() == d.shape.len(),
                "{}: input `{}` has shape {shape:?}; the model takes {d}",
                c.name,
                d.name
            );
        }
        let shape = (0..first.len())
            .map(|axis| {
                if cases.iter().all(|c| c.inputs[k].shape()[axis] == first[axis]) {
                    Dim::Fixed(first[axis] as u64)
                } else {
                    let values: Vec<usize> = cases.iter().map(|c| c.inputs[k].shape()[axis]).collect();
                    if let Some((_, name)) = symbols.iter().find(|(v, _)| *v == values) {
                        return Dim::Symbol(name.clone());
                    }
                    let name = match &d.shape[axis] {
                        Dim::Symbol(s) if oar_plan::is_identifier(s) && symbols.iter().all(|(_, n)| n != s) => s.clone(),
                        _ => format!("s{k}_{axis}"),
                    };
                    symbols.push((values, name.clone()));
                    Dim::Symbol(name)
                }
            })
            .collect();
        specs.push(TensorSpec::new(&d.name, d.dtype, shape));
    }
    // The check inputs in the types the plan takes (numpy writes f64 and platform ints by default).
    let check = cases[0].inputs.iter().zip(&specs).map(|(t, s)| oar_plan::accept_input(s, t.clone()).map_err(anyhow::Error::msg)).collect::<Result<Vec<_>>>()?;
    Ok(SourceModel {
        path: model.to_path_buf(),
        format: oar_compiler::SourceFormat::Onnx,
        id: model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        task: oar_plan::Task::Raw,
        origin: model.display().to_string(),
        input: ModelInput::Tensors { specs, check },
        post: Default::default(),
        labels: oar_compiler::LabelsSource::None,
    })
}

/// Max abs and relative error of `got` against the reference `want` (same shape).
pub fn compare(got: &Tensor, want: &Tensor) -> Result<OutputError> {
    let max_abs = oar_compiler::max_abs_diff(got, want)?;
    let want = want.cast_to::<f32>()?;
    // No floor at 1: seeded-weight nets often end in outputs of 1e-6 or less, which any plan
    // would match to 1e-3 absolutely.
    let scale = want.to_plain_array_view::<f32>()?.iter().fold(0f32, |m, v| m.max(v.abs()));
    Ok(OutputError { max_abs, max_rel: if scale > 0.0 { max_abs / scale } else { max_abs } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_relative_to_the_reference_scale() {
        let want = Tensor::from_shape(&[3], &[100.0f32, -50.0, 0.0]).unwrap();
        let got = Tensor::from_shape(&[3], &[100.5f32, -50.0, 0.0]).unwrap();
        let e = compare(&got, &want).unwrap();
        assert_eq!(e.max_abs, 0.5);
        assert!((e.max_rel - 0.005).abs() < 1e-7);
        // Small outputs too: a 1e-8 error on outputs of 2e-8 is not a match.
        let want = Tensor::from_shape(&[2], &[1e-8f32, 2e-8]).unwrap();
        let got = Tensor::from_shape(&[2], &[1e-8f32, 3e-8]).unwrap();
        assert!((compare(&got, &want).unwrap().max_rel - 0.5).abs() < 1e-6);
        let zeros = Tensor::from_shape(&[2], &[0f32, 0.0]).unwrap();
        assert_eq!(compare(&zeros, &zeros).unwrap().max_rel, 0.0);
        let other = Tensor::from_shape(&[1, 2], &[0.01f32, 0.03]).unwrap();
        assert!(compare(&other, &want).is_err());
    }
}
