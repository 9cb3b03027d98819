//! `oar conform`: proves that oar runs a model as onnxruntime does. Compiles an ONNX file to a
//! plan, runs the plan on a given input and compares every output with the reference outputs
//! (written by onnxruntime, e.g. by `tools/zoo_export.py`); reports the errors and the latency.

use crate::{bench, npy};
use anyhow::{ensure, Context, Result};
use oar_compiler::SourceModel;
use oar_plan::tract::Tensor;
use oar_plan::{Engine, InputSpec, ResizePolicy};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct ConformArgs {
    /// The ONNX model (one image input, N×3×H×W f32).
    pub model: PathBuf,
    /// The input, a .npy of shape 1×3×H×W (f32 or f64).
    #[arg(long)]
    pub input: PathBuf,
    /// The reference outputs, one .npy per model output, in the model's output order.
    #[arg(long, required = true)]
    pub expect: Vec<PathBuf>,
    /// Largest error allowed, relative to the largest magnitude of each reference output.
    #[arg(long, default_value_t = 1e-3)]
    pub tolerance: f32,
    /// Where to write the plan (default: beside the model, with the extension .oar).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Threads for tract's matrix products.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Timed runs.
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
    /// Also write the plan's outputs there, as output_N.npy (to see where they differ).
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

pub fn run(args: &ConformArgs) -> Result<ExitCode> {
    oar_plan::set_threads(args.threads);
    let input = npy::read(&args.input)?;
    let expected = args.expect.iter().map(|p| npy::read(p)).collect::<Result<Vec<_>>>()?;
    let plan = args.plan.clone().unwrap_or_else(|| args.model.with_extension("oar"));

    let start = Instant::now();
    let src = source_model(&args.model, input.shape())?;
    let opts = oar_compiler::CompileOptions { oar_ops: !args.tract_only };
    oar_compiler::compile_with(&src, &plan, &opts).with_context(|| format!("cannot compile {}", args.model.display()))?;
    let compile_s = start.elapsed().as_secs_f64();

    let engine = Engine::load(&plan)?;
    let outputs = engine.run_one(input.clone()).context("the plan does not run on the given input")?;
    ensure!(
        outputs.len() == expected.len(),
        "the model has {} outputs, {} references were given",
        outputs.len(),
        expected.len()
    );
    if let Some(dir) = &args.save_outputs {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (i, t) in outputs.iter().enumerate() {
            npy::write(&dir.join(format!("output_{i}.npy")), t)?;
        }
    }
    let errors = outputs
        .iter()
        .zip(&expected)
        .enumerate()
        .map(|(i, (got, want))| compare(got, want).with_context(|| format!("output {i} vs {}", args.expect[i].display())))
        .collect::<Result<Vec<_>>>()?;
    let conformant = errors.iter().all(|e| e.max_rel <= args.tolerance);
    let times = bench::time_runs(&engine, &input, 2, args.runs)?;
    let oar_ms = bench::percentile(&times, 0.5);

    if args.json {
        let v = serde_json::json!({
            "model": args.model, "plan": plan, "shape": input.shape(), "threads": args.threads,
            "conformant": conformant, "tolerance": args.tolerance,
            "outputs": errors.iter().map(|e| serde_json::json!({"max_abs": e.max_abs, "max_rel": e.max_rel})).collect::<Vec<_>>(),
            "compile_s": compile_s, "oar_ms": oar_ms, "ort_ms": args.ort_ms,
        });
        println!("{v}");
    } else {
        let worst = errors.iter().fold((0f32, 0f32), |(a, r), e| (a.max(e.max_abs), r.max(e.max_rel)));
        let verdict = if conformant { "conformant" } else { "NOT conformant" };
        println!(
            "{}: {verdict} (max abs error {:.2e}, rel {:.2e}, tolerance {:.0e}) on {:?}",
            args.model.display(),
            worst.0,
            worst.1,
            args.tolerance,
            input.shape()
        );
        print!("latency ({} thread(s), median of {}): oar {oar_ms:.2} ms", args.threads, times.len());
        match args.ort_ms {
            Some(ort) => println!(", onnxruntime {ort:.2} ms, ratio {:.2}", oar_ms / ort),
            None => println!(),
        }
    }
    Ok(if conformant { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The compiler's view of a bare ONNX file: an image model whose input is the given shape.
fn source_model(model: &Path, shape: &[usize]) -> Result<SourceModel> {
    let &[1, 3, h, w] = shape else {
        anyhow::bail!("input shape {shape:?}: oar conform takes one image input of shape 1×3×H×W");
    };
    Ok(SourceModel {
        path: model.to_path_buf(),
        format: oar_compiler::SourceFormat::Onnx,
        id: model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        task: oar_plan::Task::Raw,
        origin: model.display().to_string(),
        input: InputSpec::raw("x", ResizePolicy::Stretch { width: w as u32, height: h as u32 }),
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
