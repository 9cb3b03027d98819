//! The plan-backed stages with real plans from the registry, in `$OAR_HOME/plans` (the host's
//! `cargo test -p oar`, which `cargo test --workspace` runs first, fetches them; without them the
//! tests fail, naming the command that makes them). tests/qemu.sh leaves them out by name
//! (`registry_plans`): under QEMU there are no plans.
//!
//! - A PicoDet layout plan as a pipeline detector keeps only the asked classes (checked against
//!   rapid_layout's boxes in `tests/data/detect`); plans that cannot detect are refused clearly.
//! - The whole pipeline on the synthetic scene: DB detector → ByteTrack → per-track OCR, checked
//!   against the scene's ground truth. Kept cheap for CI: 12 small frames, detected at their own
//!   size (`limit_side`).

mod registry_plans {
    use oar_edge::stages::{build, load_detector, DetectorOptions};
    use oar_stream::config::PipelineFile;
    use oar_stream::sink::CollectSink;
    use oar_stream::Rgb;
    use std::path::{Path, PathBuf};

    fn plan(id: &str) -> PathBuf {
        let p = oar_io::oar_home().join("plans").join(format!("{id}.oar"));
        assert!(p.is_file(), "this test needs the plan {}: run `oar fetch --compile {id}` on the host", p.display());
        p
    }

    fn opts(classes: &[&str]) -> DetectorOptions {
        DetectorOptions { classes: classes.iter().map(|c| c.to_string()).collect(), ..DetectorOptions::default() }
    }

    #[test]
    fn picodet_behind_the_seam_keeps_the_asked_classes() {
        let picodet = plan("picodet-layout-cdla");
        let page = Rgb::open(&Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../tests/data/detect/page000.png")).unwrap();
        // rapid_layout finds 2 `text` regions and 1 `table` among the 8 regions of this page.
        let mut texts = load_detector(&picodet, &opts(&["text"])).unwrap();
        let d = texts.detect(&page).unwrap();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d.iter().all(|d| d.class == 0), "{d:?}");
        let mut tables = load_detector(&picodet, &opts(&["table", "text"])).unwrap();
        let d = tables.detect(&page).unwrap();
        assert_eq!(d.iter().filter(|d| d.class == 4).count(), 1, "{d:?}");
        assert_eq!(d.len(), 3, "{d:?}");
        let mut all = load_detector(&picodet, &DetectorOptions::default()).unwrap();
        assert_eq!(all.detect(&page).unwrap().len(), 8);

        let e = load_detector(&picodet, &opts(&["person"])).err().unwrap().to_string();
        assert!(e.contains("`person` is not a label") && e.contains("table_caption"), "{e}");
        let e = load_detector(&picodet, &DetectorOptions { limit_side: Some(320), ..DetectorOptions::default() }).err().unwrap().to_string();
        assert!(e.contains("limit_side"), "{e}");
    }

    #[test]
    fn plans_that_cannot_detect_are_refused() {
        let rec = plan("ppocr-v4-rec");
        let e = load_detector(&rec, &DetectorOptions::default()).err().unwrap().to_string();
        assert!(e.contains("cannot detect objects"), "{e}");
        let det = plan("ppocr-v4-det");
        let e = load_detector(&det, &opts(&["text"])).err().unwrap().to_string();
        assert!(e.contains("`classes` needs an object detector"), "{e}");
    }

    #[test]
    fn synthetic_plates_are_tracked_and_read() {
        let plans = oar_io::oar_home().join("plans");
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
        let mut built = build(&file, Path::new("."), None, None).unwrap();
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
}
