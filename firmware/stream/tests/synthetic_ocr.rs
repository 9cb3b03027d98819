//! The whole pipeline with the real models on the synthetic scene: DB detector → ByteTrack →
//! per-track OCR, checked against the scene's ground truth. Needs the plans in
//! `$OAR_HOME/plans` (default `~/.cache/oar`; the host's `cargo test -p oar`, which `cargo test
//! --workspace` runs first, fetches them): without them the test fails, naming the command.
//! Kept cheap for CI: 12 small frames, detected at their own size (`limit_side`).

use oar_stream::config::{oar_home, PipelineFile};
use oar_stream::sink::CollectSink;
use std::path::Path;

#[test]
fn synthetic_plates_are_tracked_and_read() {
    let plans = oar_home().join("plans");
    if !["ppocr-v4-det", "ppocr-v4-rec"].iter().all(|p| plans.join(format!("{p}.oar")).is_file()) {
        panic!(
            "this test needs the plans ppocr-v4-det and ppocr-v4-rec under {}: run `oar fetch --compile ppocr-v4-det ppocr-v4-rec` on the host",
            plans.display()
        );
    }
    let gt_dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
        [source]
        kind = "synthetic"
        width = 320
        height = 192
        frames = 12
        seed = 1
        ground_truth = "{}"
        [detector]
        plan = "ppocr-v4-det"
        limit_side = 192
        [tracker]
        name = "bytetrack"
        [ocr]
        rec = "ppocr-v4-rec"
        read_interval = 4
        [pipeline]
        newest_wins = false
        "#,
        gt_dir.path().display()
    );
    let file = PipelineFile::parse(&toml).unwrap();
    let mut built = file.build(Path::new("."), None, None).unwrap();
    let collect = CollectSink::default();
    built.pipeline.sinks.push(Box::new(collect.clone()));
    let gt = built.ground_truth.clone().unwrap();
    let summary = built.pipeline.run().unwrap();
    let m = &summary.metrics;
    eprintln!(
        "synthetic: {} frames in {:.1} s = {:.2} fps; detect p50 {:.0} ms, read p50 {:.0} ms",
        m.frames_out,
        summary.elapsed.as_secs_f64(),
        m.frames_out as f64 / summary.elapsed.as_secs_f64(),
        m.stages["detect"].p50_ms,
        m.stages.get("read").map_or(0.0, |s| s.p50_ms)
    );
    for t in &summary.tracks {
        eprintln!("  track {t:?}");
    }
    assert_eq!(m.frames_out, 12);
    assert_eq!((m.frames_dropped, m.faults), (0, 0));
    // Ground truth files are written.
    let gt_txt = std::fs::read_to_string(gt_dir.path().join("gt.txt")).unwrap();
    assert_eq!(gt_txt.lines().count(), 12 * 3);
    let texts_txt = std::fs::read_to_string(gt_dir.path().join("texts.txt")).unwrap();
    assert_eq!(texts_txt.lines().count(), 3);

    // One track per plate, each read as its plate's text.
    let mut want: Vec<String> = gt.texts.iter().map(|(_, t)| t.clone()).collect();
    let mut got: Vec<String> = summary.tracks.iter().map(|t| t.text.clone()).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "tracks: {:?}", summary.tracks);
    assert_eq!(*collect.tracks.lock().unwrap(), summary.tracks, "the sink saw every finished track");
}
