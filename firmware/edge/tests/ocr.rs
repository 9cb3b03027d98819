//! `oar-edge ocr`: the device binary reads the golden images as RapidOCR does (like the host
//! `oar ocr`, whose code it shares) with plans found by id in `$OAR_HOME/plans`. Without the plans
//! the model run fails, naming the command that makes them (the host's `oar fetch --compile`, which
//! `cargo test --workspace` runs first in `host/cli/tests/ocr_golden.rs`; the device never
//! downloads). tests/qemu.sh --ocr runs the aarch64 build under QEMU; its suites leave these tests
//! out by name (see `edge`).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn golden() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../tests/data/ocr-golden")
}

/// Fails the test, naming the command that makes them, when the plans are missing.
fn require_plans() {
    let plans = oar_io::oar_home().join("plans");
    let missing: Vec<_> = ["ppocr-v4-det", "ppocr-v2-cls", "ppocr-v4-rec"]
        .iter()
        .map(|id| plans.join(format!("{id}.oar")))
        .filter(|p| !p.is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "this test needs the plans {missing:?}: run `oar fetch --compile ppocr-v4-det ppocr-v2-cls ppocr-v4-rec` on the host"
    );
}

/// Runs `oar-edge ocr ARGS` in the golden folder. The tests that call it have `oar_edge_binary`
/// in their names: tests/qemu.sh leaves them out (`--skip oar_edge_binary`), since a test
/// cross-built and run under qemu-user without binfmt_misc cannot start the foreign binary (the
/// child exits 127 instead of returning an error); it runs the binary on the plans itself.
fn edge(args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_oar-edge");
    Command::new(bin).current_dir(golden()).arg("ocr").args(args).output().unwrap()
}

fn texts(v: &Value) -> Vec<&str> {
    v["lines"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap()).collect()
}

/// `reference` (a jsonl file of the golden folder) vs `oar-edge ocr --json EXTRA IMAGES`: same texts.
fn reads_like(reference: &str, prefix: &str, extra: &[&str]) {
    let text = std::fs::read_to_string(golden().join(reference)).unwrap();
    let refs: Vec<Value> = text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect();
    let refs: Vec<&Value> = refs.iter().filter(|r| r["path"].as_str().unwrap().starts_with(prefix)).collect();
    let images: Vec<&str> = refs.iter().map(|r| r["path"].as_str().unwrap()).collect();
    let out = edge(&[&["--json"], extra, &images[..]].concat());
    assert!(out.status.success(), "oar-edge ocr failed: {}", String::from_utf8_lossy(&out.stderr));
    let ours: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(ours.len(), refs.len());
    for (o, r) in ours.iter().zip(refs) {
        assert_eq!(o["path"], r["path"]);
        assert_eq!(texts(o), texts(r), "{}", r["path"]);
    }
}

#[test]
fn oar_edge_binary_reads_scenes_and_lines_like_rapidocr() {
    require_plans();
    reads_like("rapidocr.jsonl", "scenes/", &[]);
    reads_like("rapidocr-nodet.jsonl", "lines/", &["--no-det"]);
}

#[test]
fn oar_edge_binary_names_a_missing_plan_and_prints_nothing() {
    let out = edge(&["--json", "--rec", "/nonexistent/rec.oar", "--no-det", "--no-cls", "lines/000001.png"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("recogniser") && err.contains("/nonexistent/rec.oar"), "{err}");
}
