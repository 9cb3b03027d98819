//! Bad input never crashes: each case gives a one-line error naming the file, a non-zero exit,
//! and `oar ocr` goes on with the other images.

mod common;

use common::{data, oar, stderr};

#[test]
fn missing_truncated_and_foreign_plans() {
    let dir = tempfile::tempdir().unwrap();
    let missing = oar(&["inspect", "absent.oar"], dir.path());
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("absent.oar"), "{}", stderr(&missing));

    std::fs::write(dir.path().join("junk.oar"), b"not a plan at all").unwrap();
    let junk = oar(&["inspect", "junk.oar"], dir.path());
    assert!(!junk.status.success());
    assert!(stderr(&junk).contains("junk.oar") && stderr(&junk).contains("not an oar plan"), "{}", stderr(&junk));

    // A real tar that is not a plan.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_cksum();
    b.append_data(&mut h, "hello.txt", &b"hello"[..]).unwrap();
    std::fs::write(dir.path().join("other.oar"), b.into_inner().unwrap()).unwrap();
    let other = oar(&["inspect", "other.oar"], dir.path());
    assert!(stderr(&other).contains("expected `oar.toml`"), "{}", stderr(&other));
}

#[test]
fn unknown_model_id_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let o = oar(&["fetch", "ppocr-v9-det"], dir.path());
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("ppocr-v9-det") && e.contains("ppocr-v4-det"), "{e}");
    let o = oar(&["ocr", "--det", "nope", "x.png"], dir.path());
    assert!(!o.status.success() && stderr(&o).contains("nope"), "{}", stderr(&o));
}

#[test]
fn ocr_reports_bad_images_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let golden = data("ocr-golden/lines/000004.png");
    let good = dir.path().join("good.png");
    std::fs::copy(&golden, &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(dir.path().join("truncated.png"), &bytes[..bytes.len() / 3]).unwrap();
    std::fs::write(dir.path().join("notes.png"), b"just some text").unwrap();
    std::fs::write(dir.path().join("empty.png"), b"").unwrap();
    let o = oar(
        &["ocr", "--no-det", "--json", "truncated.png", "notes.png", "missing.png", "empty.png", "good.png"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    for name in ["truncated.png", "notes.png", "missing.png", "empty.png"] {
        assert!(e.contains(name), "no error names {name}: {e}");
    }
    let out = String::from_utf8(o.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["path"], "good.png");
    assert_eq!(last["lines"][0]["text"], "92385");
}
