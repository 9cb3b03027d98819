//! `oar-edge ocr`: the device binary reads the golden images as RapidOCR does (like the host
//! `oar ocr`, whose code it shares) with plans found by id in `$OAR_HOME/plans`. The model runs are
//! skipped with a message when the plans are missing (the host's `oar fetch --compile` makes them;
//! the device never downloads). tests/qemu.sh --ocr runs the aarch64 build under QEMU; its suite
//! runs set OAR_TEST_NO_EXEC, and these tests skip (see `edge`).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ocr-golden")
}

fn plans_present() -> bool {
    let home = std::env::var_os("OAR_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/oar"));
    let missing: Vec<_> = ["ppocr-v4-det", "ppocr-v2-cls", "ppocr-v4-rec"]
        .iter()
        .map(|id| home.join("plans").join(format!("{id}.oar")))
        .filter(|p| !p.is_file())
        .collect();
    if !missing.is_empty() {
        eprintln!("skipped: missing {missing:?} (run `oar fetch --compile ppocr-v4-det ppocr-v2-cls ppocr-v4-rec`)");
    }
    missing.is_empty()
}

/// Runs `oar-edge ocr ARGS` in the golden folder. `None` when OAR_TEST_NO_EXEC is set: a test
/// cross-built and run under qemu-user without binfmt_misc cannot start the foreign binary (the
/// child exits 127 instead of returning an error), and tests/qemu.sh --ocr runs it itself.
fn edge(args: &[&str]) -> Option<Output> {
    let bin = env!("CARGO_BIN_EXE_oar-edge");
    if std::env::var_os("OAR_TEST_NO_EXEC").is_some() {
        eprintln!("skipped: OAR_TEST_NO_EXEC is set, {bin} is not started");
        return None;
    }
    Some(Command::new(bin).current_dir(golden()).arg("ocr").args(args).output().unwrap())
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
    let Some(out) = edge(&[&["--json"], extra, &images[..]].concat()) else { return };
    assert!(out.status.success(), "oar-edge ocr failed: {}", String::from_utf8_lossy(&out.stderr));
    let ours: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(ours.len(), refs.len());
    for (o, r) in ours.iter().zip(refs) {
        assert_eq!(o["path"], r["path"]);
        assert_eq!(texts(o), texts(r), "{}", r["path"]);
    }
}

#[test]
fn scenes_and_lines_read_like_rapidocr() {
    if !plans_present() {
        return;
    }
    reads_like("rapidocr.jsonl", "scenes/", &[]);
    reads_like("rapidocr-nodet.jsonl", "lines/", &["--no-det"]);
}

#[test]
fn a_missing_plan_is_named_and_nothing_is_printed() {
    let Some(out) = edge(&["--json", "--rec", "/nonexistent/rec.oar", "--no-det", "--no-cls", "lines/000001.png"]) else {
        return;
    };
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("recogniser") && err.contains("/nonexistent/rec.oar"), "{err}");
}
