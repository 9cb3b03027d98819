//! oar's trackers reproduce the Python reference trackers' output on a fixture sequence
//! (`tests/data/track`, made by `tools/track_compare.py --fixture`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use oar_track::{parse_mot_detections, parse_param, TrackerConfig};

fn data(name: &str) -> String {
    let p = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../tests/data/track")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// frame -> id -> [x, y, w, h]
fn parse_tracks(text: &str) -> BTreeMap<u32, BTreeMap<u64, [f64; 4]>> {
    let mut out: BTreeMap<u32, BTreeMap<u64, [f64; 4]>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let v = |i: usize| f[i].trim().parse::<f64>().unwrap();
        out.entry(v(0) as u32)
            .or_default()
            .insert(v(1) as u64, [v(2), v(3), v(4), v(5)]);
    }
    out
}

/// Compares with `ref_{name}{suffix}.txt`, made with the same `params`.
fn check(name: &str, suffix: &str, params: &[&str]) {
    let frames = parse_mot_detections(&data("det.txt")).unwrap();
    let reference = parse_tracks(&data(&format!("ref_{name}{suffix}.txt")));
    let params = params.iter().map(|p| parse_param(p).unwrap());
    let cfg = TrackerConfig::from_params(name, params).unwrap();
    let mut tracker = cfg.build();
    let mut ours = BTreeMap::new();
    for (i, dets) in frames.iter().enumerate() {
        let mut m = BTreeMap::new();
        for t in tracker.update(dets) {
            let [x1, y1, x2, y2] = t.bbox.map(f64::from);
            m.insert(t.id, [x1, y1, x2 - x1, y2 - y1]);
        }
        if !m.is_empty() {
            ours.insert(i as u32 + 1, m);
        }
    }
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        reference.keys().collect::<Vec<_>>(),
        "{name}: frames with tracks"
    );
    let mut n = 0;
    for (f, refs) in &reference {
        let got = &ours[f];
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            refs.keys().collect::<Vec<_>>(),
            "{name}: ids in frame {f}"
        );
        for (id, rb) in refs {
            let gb = got[id];
            for k in 0..4 {
                // the reference file has 2 decimals; oar works on f32 boxes
                assert!(
                    (gb[k] - rb[k]).abs() < 0.05,
                    "{name}: frame {f} id {id}: {gb:?} vs {rb:?}"
                );
            }
            n += 1;
        }
    }
    assert!(n > 300, "{name}: only {n} track boxes compared");
}

#[test]
fn bytetrack_matches_reference() {
    check("bytetrack", "", &[]);
}

#[test]
fn ocsort_matches_reference() {
    check("ocsort", "", &[]);
}

// The parameters of tests/data/track/README.md's `_tuned` files: every settable one off its default.
const BYTETRACK_TUNED: &[&str] = &["track_thresh=0.4", "track_buffer=15", "match_thresh=0.7", "frame_rate=20"];
const OCSORT_TUNED: &[&str] = &[
    "det_thresh=0.45",
    "max_age=15",
    "min_hits=2",
    "iou_threshold=0.25",
    "delta_t=2",
    "inertia=0.4",
    "use_byte=true",
];

#[test]
fn bytetrack_with_parameters_matches_reference() {
    check("bytetrack", "_tuned", BYTETRACK_TUNED);
}

#[test]
fn ocsort_with_parameters_matches_reference() {
    check("ocsort", "_tuned", OCSORT_TUNED);
}
