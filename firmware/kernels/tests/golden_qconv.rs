//! The scalar reference (and every SIMD table) against onnxruntime's QLinearConv: the golden cases
//! in `tests/golden_qconv`, made by `tools/gen_qconv_golden.py` (format in its docstring).
use oar_kernels::{Activation, Depthwise, Epilogue, Kernels, Output, Pointwise};

struct Case {
    name: String,
    kind: String,
    dims: Vec<usize>,
    x_scale: f32,
    x_zp: i32,
    y_scale: f32,
    y_zp: i32,
    w_scale: Vec<f32>,
    bias: Vec<i32>,
    x: Vec<i8>,
    w: Vec<i8>,
    y: Vec<i8>,
}

fn parse(name: &str, text: &str) -> Case {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{name}: 7 lines expected");
    let head: Vec<&str> = lines[0].split_whitespace().collect();
    let q: Vec<&str> = lines[1].split_whitespace().collect();
    let nums = |l: &str| -> Vec<i64> { l.split_whitespace().map(|v| v.parse().unwrap()).collect() };
    let i8s = |l: &str| -> Vec<i8> { nums(l).into_iter().map(|v| v as i8).collect() };
    Case {
        name: name.into(),
        kind: head[0].into(),
        dims: head[1..].iter().map(|v| v.parse().unwrap()).collect(),
        x_scale: q[0].parse().unwrap(),
        x_zp: q[1].parse().unwrap(),
        y_scale: q[2].parse().unwrap(),
        y_zp: q[3].parse().unwrap(),
        w_scale: lines[2].split_whitespace().map(|v| v.parse().unwrap()).collect(),
        bias: nums(lines[3]).into_iter().map(|v| v as i32).collect(),
        x: i8s(lines[4]),
        w: i8s(lines[5]),
        y: i8s(lines[6]),
    }
}

fn run(k: &Kernels, c: &Case) -> Vec<i8> {
    let [cin, cout, h, w, kk, s, t, l, b, r] = c.dims[..] else { panic!("{}: bad header", c.name) };
    // onnxruntime multiplies x_scale · w_scale in f32 before dividing by y_scale.
    let scale: Vec<f32> = c.w_scale.iter().map(|ws| c.x_scale * ws).collect();
    let ep = Epilogue { bias: &c.bias, scale: &scale, activation: Activation::Identity };
    let mut y = vec![0i8; c.y.len()];
    let out = Output::I8 { data: &mut y, scale: c.y_scale, zero_point: c.y_zp };
    if c.kind == "dw" {
        let shape = Depthwise { channels: cin, height: h, width: w, kernel: kk, stride: s, pad: [t, l, b, r] };
        k.depthwise_conv_i8(&shape, &c.x, c.x_zp, &c.w, &ep, out).unwrap();
    } else {
        let shape = Pointwise { inputs: cin, outputs: cout, pixels: h * w };
        k.pointwise_conv_i8(&shape, &c.x, c.x_zp, &c.w, &ep, out).unwrap();
    }
    y
}

#[test]
fn every_table_matches_onnxruntime_qlinearconv() {
    let dir = std::path::Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("tests/golden_qconv");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 8, "golden cases missing in {}", dir.display());
    let mut kinds = std::collections::BTreeSet::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let c = parse(&name, &std::fs::read_to_string(&f).unwrap());
        // The cases must exercise the requantization, not just saturate.
        let inside = c.y.iter().filter(|&&v| v > -128 && v < 127).count();
        assert!(inside * 2 > c.y.len(), "{name}: mostly saturated outputs");
        kinds.insert((c.kind.clone(), c.dims[4], c.dims[5]));
        for k in Kernels::available() {
            let got = run(&k, &c);
            let bad = got.iter().zip(&c.y).filter(|(a, b)| a != b).count();
            assert_eq!(bad, 0, "{name} on {:?}: {bad} of {} outputs differ from onnxruntime", k.names(), c.y.len());
        }
    }
    // dw 3x3 and 5x5 at strides 1 and 2, and pointwise.
    assert_eq!(kinds.len(), 5, "{kinds:?}");
}
