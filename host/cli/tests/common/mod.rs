//! What the CLI tests share: paths into `tests/data`, JSON-lines reading, running `oar`, and
//! fetching + compiling the real models once per test binary.
#![allow(dead_code)] // each test binary uses its own subset

use oar_vision::object_det::{iou, Detection};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// `tests/data/<sub>` of the repository.
pub fn data(sub: &str) -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../tests/data").join(sub)
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs the `oar` binary in `dir`.
pub fn oar(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oar")).current_dir(dir).args(args).output().unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The float plan of each model id (`oar fetch --compile`), fetched and compiled at most once per
/// test binary even when tests run in parallel.
pub fn plans(ids: &[&str]) -> Vec<PathBuf> {
    static CACHE: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    let missing: Vec<&str> = ids.iter().copied().filter(|id| !cache.contains_key(*id)).collect();
    if !missing.is_empty() {
        let out = Command::new(env!("CARGO_BIN_EXE_oar")).args(["fetch", "--compile"]).args(&missing).output().unwrap();
        assert!(out.status.success(), "oar fetch failed: {}", stderr(&out));
        let stdout = String::from_utf8(out.stdout).unwrap();
        for id in missing {
            let line = stdout.lines().find(|l| l.split_once(' ').is_some_and(|(i, _)| i == id));
            let line = line.unwrap_or_else(|| panic!("no {id} in {stdout}"));
            cache.insert(id.to_string(), PathBuf::from(line.split_once(' ').unwrap().1.trim()));
        }
    }
    ids.iter().map(|id| cache[*id].clone()).collect()
}

/// The detections of one `oar detect --json` line (or a reference line in that schema).
pub fn ref_dets(v: &Value) -> Vec<Detection> {
    v["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let b: Vec<f32> = d["bbox"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            Detection {
                bbox: [b[0], b[1], b[2], b[3]],
                score: d["score"].as_f64().unwrap() as f32,
                class: d["class"].as_u64().unwrap() as u32,
            }
        })
        .collect()
}

/// Every reference box is matched one-to-one by a box of ours of the same class at IoU ≥ 0.9.
pub fn assert_boxes_agree(name: &str, ours: &[Detection], reference: &[Detection]) {
    assert_eq!(ours.len(), reference.len(), "{name}: {ours:?}\nvs {reference:?}");
    let mut used = vec![false; ours.len()];
    for r in reference {
        let best = ours
            .iter()
            .enumerate()
            .filter(|(j, o)| !used[*j] && o.class == r.class)
            .max_by(|a, b| iou(&a.1.bbox, &r.bbox).total_cmp(&iou(&b.1.bbox, &r.bbox)));
        let Some((j, o)) = best else { panic!("{name}: nothing of class {} for {r:?}", r.class) };
        assert!(iou(&o.bbox, &r.bbox) >= 0.9, "{name}: {o:?} vs {r:?}");
        assert!((o.score - r.score).abs() < 0.02, "{name}: score {o:?} vs {r:?}");
        used[j] = true;
    }
}
