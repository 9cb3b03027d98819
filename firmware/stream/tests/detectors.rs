//! The `Detector` seam with real plans: a PicoDet layout plan as a pipeline detector keeps only the
//! asked classes (checked against rapid_layout's boxes in `tests/data/detect`), and plans that
//! cannot detect are refused with a clear error. Needs the plans in `$OAR_HOME/plans` (the host's
//! `cargo test -p oar`, which `cargo test --workspace` runs first, fetches them): without them the
//! tests fail, naming the command that makes them.

use oar_stream::config::oar_home;
use oar_stream::detector::{load_detector, DetectorOptions};
use oar_stream::Rgb;
use std::path::{Path, PathBuf};

fn plan(id: &str) -> PathBuf {
    let p = oar_home().join("plans").join(format!("{id}.oar"));
    assert!(p.is_file(), "this test needs the plan {}: run `oar fetch --compile {id}` on the host", p.display());
    p
}

fn opts(classes: &[&str]) -> DetectorOptions {
    DetectorOptions { classes: classes.iter().map(|c| c.to_string()).collect(), ..DetectorOptions::default() }
}

#[test]
fn picodet_behind_the_seam_keeps_the_asked_classes() {
    let picodet = plan("picodet-layout-cdla");
    let page = Rgb::open(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/detect/page000.png")).unwrap();
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
