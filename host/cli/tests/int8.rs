//! `oar compile --int8` end to end on the real PP-OCRv4 recogniser (fetched and compiled on first
//! use, as the other CLI tests do): calibration on the repository's small text images (one of them
//! broken on purpose), evaluation on the golden lines (other images), the report in the manifest,
//! the integer layers in `oar inspect`; and the bad calibration folders.

mod common;

use common::{data, plans};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn oar(args: &[&str]) -> Output {
    common::oar(args, Path::new("."))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn bad_calibration_folders_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "no images here").unwrap();
    let out = dir.path().join("x.oar");
    let o = oar(&["compile", "ppocr-v4-rec", "--int8", "--calib", empty.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no calibration images") && text(&o).contains("empty"), "{}", text(&o));

    let missing = dir.path().join("missing");
    let o = oar(&["compile", "ppocr-v4-rec", "--int8", "--calib", missing.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("cannot read the calibration folder") && text(&o).contains("missing"), "{}", text(&o));

    let o = oar(&["compile", "ppocr-v4-rec", "--int8", "-o", out.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("--calib"), "{}", text(&o));

    // Evaluating on the calibration images is refused.
    let golden = data("ocr-golden");
    let o = oar(&["compile", "ppocr-v4-rec", "--int8", "--calib", golden.join("lines").to_str().unwrap(), "--eval", golden.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("held-out"), "{}", text(&o));
    assert!(!out.exists(), "nothing is written on error");
}

#[test]
fn int8_recogniser_with_report() {
    let dir = tempfile::tempdir().unwrap();
    let calib = dir.path().join("calib");
    std::fs::create_dir(&calib).unwrap();
    for f in ["000_0.png", "000_180.png"] {
        std::fs::copy(data("classify").join(f), calib.join(f)).unwrap();
    }
    std::fs::copy(data("detect").join("page000.png"), calib.join("page000.png")).unwrap();
    std::fs::write(calib.join("broken.png"), b"\x89PNG but not really").unwrap();
    let out = dir.path().join("rec-int8.oar");
    let o = oar(&[
        "compile", "ppocr-v4-rec", "--int8", "--calib", calib.to_str().unwrap(), "--method", "percentile",
        "--eval", data("ocr-golden").to_str().unwrap(), "-o", out.to_str().unwrap(),
    ]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("skipped calibration image") && log.contains("broken.png"), "{log}");
    assert!(log.contains("rec line accuracy") && log.contains("CER"), "{log}");

    let o = oar(&["inspect", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let q = &v["manifest"]["quantization"];
    assert_eq!(q["method"], "percentile");
    assert_eq!(q["calibration_inputs"], 3, "three images decode: {q}");
    assert!(q["skipped_calibration_images"][0].as_str().unwrap().ends_with("broken.png"));
    let int8 = q["int8_layers"].as_i64().unwrap();
    let layers = v["integer_layers"].as_array().unwrap();
    assert_eq!(layers.len() as i64, int8, "the graph holds as many integer ops as the report says");
    assert!(layers.iter().any(|l| l["kind"] == "conv"), "{layers:?}");
    // Depthwise convs stay float, with the reason.
    assert!(q.to_string().contains("depthwise"));
    let acc = &v["manifest"]["accuracy"];
    let (f, i) = (acc["float"]["rec line accuracy"].as_f64().unwrap(), acc["int8"]["rec line accuracy"].as_f64().unwrap());
    assert_eq!(f, 100.0, "the float recogniser reads the 4 golden lines: {acc}");
    assert!(i >= 50.0, "int8 should still read most golden lines: {acc}");
    assert!((acc["loss"].as_f64().unwrap() - (f - i)).abs() < 1e-9);
    // Weights are int8: the plan is much smaller than the float one.
    let float_path = plans(&["ppocr-v4-rec"]).remove(0);
    let (fs, qs) = (std::fs::metadata(float_path).unwrap().len(), std::fs::metadata(&out).unwrap().len());
    // Only the k×k convs are int8 while matmuls stay float (experimental): a smaller plan, not 4×.
    assert!(qs < fs, "int8 plan {qs} bytes vs float {fs}");
}
