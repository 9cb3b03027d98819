//! `resize_bilinear_u8` against OpenCV outputs (tests/golden, made by tests/gen_cv2_golden.py).
use oar_kernels::{resize_bilinear_u8, Kernels};
use std::path::Path;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn resize_matches_opencv_bit_exact() {
    let dir = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("resize_") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut size = vec![];
        let (mut src, mut want) = (vec![], vec![]);
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("size", v)) => size = v.split(' ').map(|x| x.parse::<usize>().unwrap()).collect(),
                Some(("src", v)) => src = hex(v),
                Some(("dst", v)) => want = hex(v),
                _ => {}
            }
        }
        let [sw, sh, cn, dw, dh] = size[..] else { panic!("{path:?}: bad size line") };
        for (label, k) in [("global", Kernels::global().clone()), ("scalar", Kernels::scalar())] {
            let mut got = vec![0u8; dw * dh * cn];
            if label == "global" {
                resize_bilinear_u8(&src, sw, sh, cn, &mut got, dw, dh).unwrap();
            } else {
                k.resize_bilinear_u8(&src, sw, sh, cn, &mut got, dw, dh).unwrap();
            }
            assert_eq!(got, want, "{path:?} ({label})");
        }
        n += 1;
    }
    assert!(n >= 10, "golden files missing in {dir:?}");
}
