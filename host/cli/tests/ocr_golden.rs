//! End to end: the `oar` binary reads the golden images as RapidOCR 1.4.4 does (same PaddleOCR
//! models, fetched from PyPI and compiled on first use). See tests/data/ocr-golden/README.md.

mod common;

use common::{data, plans, read_jsonl};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn golden() -> PathBuf {
    data("ocr-golden")
}

fn texts(v: &Value) -> Vec<String> {
    v["lines"].as_array().unwrap().iter().map(|l| l["text"].as_str().unwrap().to_string()).collect()
}

/// Fetches and compiles the three models once, before the tests run the pipeline in parallel.
fn prepare_models() {
    plans(&["ppocr-v4-det", "ppocr-v2-cls", "ppocr-v4-rec"]);
}

/// Runs `oar ocr --json` on the given images (relative to the golden folder).
fn oar_ocr(images: &[String], extra: &[&str]) -> Vec<Value> {
    prepare_models();
    let out = Command::new(env!("CARGO_BIN_EXE_oar"))
        .current_dir(golden())
        .arg("ocr")
        .arg("--json")
        .args(extra)
        .args(images)
        .output()
        .unwrap();
    assert!(out.status.success(), "oar ocr failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn scenes_read_like_rapidocr() {
    let reference: Vec<Value> =
        read_jsonl(&golden().join("rapidocr.jsonl")).into_iter().filter(|r| r["path"].as_str().unwrap().starts_with("scenes/")).collect();
    assert!(!reference.is_empty());
    let images: Vec<String> = reference.iter().map(|r| r["path"].as_str().unwrap().to_string()).collect();
    let ours = oar_ocr(&images, &[]);
    for (r, o) in reference.iter().zip(&ours) {
        assert_eq!(o["path"], r["path"]);
        assert_eq!(texts(o), texts(r), "{}", r["path"]);
        // Boxes agree within a few pixels (resampling differs slightly from OpenCV's).
        for (lo, lr) in o["lines"].as_array().unwrap().iter().zip(r["lines"].as_array().unwrap()) {
            for (po, pr) in lo["box"].as_array().unwrap().iter().zip(lr["box"].as_array().unwrap()) {
                for k in 0..2 {
                    let (a, b) = (po[k].as_f64().unwrap(), pr[k].as_f64().unwrap());
                    assert!((a - b).abs() <= 3.0, "{}: box {po} vs {pr}", r["path"]);
                }
            }
            let (so, sr) = (lo["score"].as_f64().unwrap(), lr["score"].as_f64().unwrap());
            assert!((so - sr).abs() < 0.02, "{}: score {so} vs {sr}", r["path"]);
        }
    }
}

#[test]
fn lines_read_like_rapidocr_without_detection() {
    let reference = read_jsonl(&golden().join("rapidocr-nodet.jsonl"));
    assert!(!reference.is_empty());
    let images: Vec<String> = reference.iter().map(|r| r["path"].as_str().unwrap().to_string()).collect();
    let ours = oar_ocr(&images, &["--no-det"]);
    let truth = read_jsonl(&golden().join("labels.jsonl"));
    for (r, o) in reference.iter().zip(&ours) {
        assert_eq!(texts(o), texts(r), "{}", r["path"]);
        let gt = truth.iter().find(|t| t["image"] == r["path"]).unwrap();
        assert_eq!(texts(o), texts(gt), "{} against the ground truth", r["path"]);
    }
}
