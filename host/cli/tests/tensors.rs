//! Plans that are not images: a token encoder (int64 ids and segment ids, symbolic length) through
//! `oar conform` at two lengths, `oar compile` of the bare ONNX file, and `oar infer` on `.npy`
//! files, with the errors a wrong input gets.

mod common;

use common::{data, oar, stderr};
use oar_plan::npy;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Max abs difference of the `.npy` outputs in `got` and the references in `want`.
fn worst(got: &Path, want: &Path) -> f32 {
    let mut worst = 0f32;
    for i in 0..2 {
        let (a, b) = (npy::read(&got.join(format!("output_{i}.npy"))).unwrap(), npy::read(&want.join(format!("output_{i}.npy"))).unwrap());
        assert_eq!(a.shape(), b.shape());
        worst = worst.max(oar_compiler::max_abs_diff(&a, &b).unwrap());
    }
    worst
}

#[test]
fn a_token_encoder_conforms_at_two_lengths_and_infers_at_either() {
    let (t, dir) = (data("tensors"), tempfile::tempdir().unwrap());
    let plan = dir.path().join("te.oar");
    let model = t.join("token_encoder.onnx");
    let out = oar(&["conform", s(&model), "--case", s(&t.join("a")), "--case", s(&t.join("b")), "--plan", s(&plan), "--runs", "2", "--json"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["conformant"], true, "{v}");
    assert_eq!(v["inputs"], serde_json::json!(["input_ids: i64[1, seq]", "token_type_ids: i64[1, seq]"]), "{v}");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[1]["shape"], serde_json::json!([[1, 11], [1, 11]]));
    for c in cases {
        for o in c["outputs"].as_array().unwrap() {
            assert!(o["max_rel"].as_f64().unwrap() < 1e-5, "{v}");
        }
    }
    // The one plan, on each length, from .npy files.
    for case in ["a", "b"] {
        let outs = dir.path().join(format!("out-{case}"));
        let c = t.join(case);
        let r = oar(&["infer", s(&plan), "--input", s(&c.join("input_0.npy")), "--input", s(&c.join("input_1.npy")), "-o", s(&outs)], dir.path());
        assert!(r.status.success(), "{}", stderr(&r));
        let listed = String::from_utf8_lossy(&r.stdout);
        assert!(listed.contains("output_0.npy: hidden f32[1, ") && listed.contains("output_1.npy: pooled f32[1, 8]"), "{listed}");
        let e = worst(&outs, &c);
        assert!(e < 1e-5, "case {case}: max abs error {e}");
    }
}

#[test]
fn a_length_named_apart_per_input_is_one_symbol() {
    // paddle2onnx names the length of each input apart (DynamicDimension_0, _1): conform sees
    // that they vary alike across cases and makes them one symbol, as tract needs to line them up.
    let (t, dir) = (data("tensors"), tempfile::tempdir().unwrap());
    let model = t.join("token_encoder_p2o.onnx");
    let out = oar(&["conform", s(&model), "--case", s(&t.join("a")), "--case", s(&t.join("b")), "--plan", s(&dir.path().join("p.oar")), "--runs", "1", "--json"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["conformant"], true, "{v}");
    assert_eq!(v["inputs"], serde_json::json!(["input_ids: i64[1, DynamicDimension_0]", "token_type_ids: i64[1, DynamicDimension_0]"]), "{v}");
}

#[test]
fn position_ids_summed_from_the_input_shape_conform() {
    // paddle2onnx's `ones_like(ids).cumsum(-1) - 1` (ERNIE, BERT): tract's CumSum cannot sum
    // shape values; the compiler sums them in i64.
    let (t, dir) = (data("tensors"), tempfile::tempdir().unwrap());
    let model = t.join("position_ids.onnx");
    let plan = dir.path().join("pos.oar");
    let out = oar(&["conform", s(&model), "--case", s(&t.join("pos_a")), "--case", s(&t.join("pos_b")), "--plan", s(&plan), "--runs", "1", "--json"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["conformant"], true, "{v}");
    assert_eq!(v["inputs"], serde_json::json!(["ids: i64[1, seq]"]), "{v}");
}

#[test]
fn a_bare_onnx_file_compiles_to_a_plan_of_its_declared_tensors() {
    let (t, dir) = (data("tensors"), tempfile::tempdir().unwrap());
    let plan = dir.path().join("te.oar");
    let out = oar(&["compile", s(&t.join("token_encoder.onnx")), "-o", s(&plan)], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let inspect = oar(&["inspect", s(&plan), "--json"], dir.path());
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&inspect.stdout)));
    let m = &v["manifest"];
    assert_eq!(m["format"], 2, "{v}");
    assert_eq!(m["model"]["task"], "raw");
    assert!(m.get("input").is_none(), "no image pre-processing: {m}");
    assert_eq!(m["inputs"][0], serde_json::json!({"name": "input_ids", "shape": [1, "seq"], "dtype": "i64"}), "{m}");
    assert_eq!(m["outputs"][1]["name"], "pooled", "{m}");
    // int8 calibration runs images through a model: refused, saying what the model takes.
    let int8 = oar(&["compile", s(&t.join("token_encoder.onnx")), "-o", s(&dir.path().join("q.oar")), "--int8", "--calib", s(&data("detect"))], dir.path());
    assert!(!int8.status.success());
    assert!(stderr(&int8).contains("needs an image model; the model takes tensors (input_ids: i64[1, seq]"), "{}", stderr(&int8));
}

#[test]
fn wrong_inputs_are_refused_naming_the_input_and_nothing_is_written() {
    let (t, dir) = (data("tensors"), tempfile::tempdir().unwrap());
    // One case: every dimension is pinned (the plan takes length 5 only).
    let plan = dir.path().join("te5.oar");
    let (a, b) = (t.join("a"), t.join("b"));
    let out = oar(
        &["conform", s(&t.join("token_encoder.onnx")), "--input", s(&a.join("input_0.npy")), "--input", s(&a.join("input_1.npy")),
          "--expect", s(&a.join("output_0.npy")), "--expect", s(&a.join("output_1.npy")), "--plan", s(&plan), "--runs", "1"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("input_ids: i64[1, 5]"), "{}", String::from_utf8_lossy(&out.stdout));
    let f32_ids = dir.path().join("f32.npy");
    npy::write(&f32_ids, &oar_plan::tract::Tensor::from_shape(&[1, 5], &[1f32; 5]).unwrap()).unwrap();
    let outs = dir.path().join("outs");
    for (inputs, want) in [
        (vec![a.join("input_0.npy")], "1 input(s) given, the plan takes 2: input_ids: i64[1, 5]; token_type_ids: i64[1, 5]"),
        (vec![b.join("input_0.npy"), b.join("input_1.npy")], "input `input_ids` (the plan takes input_ids: i64[1, 5]): shape [1, 11]: dimension 1 is 11, not 5"),
        (vec![a.join("input_0.npy"), a.join("output_0.npy")], "input `token_type_ids` (the plan takes token_type_ids: i64[1, 5]): shape [1, 5, 8] has rank 3"),
        (vec![f32_ids.clone(), a.join("input_1.npy")], "input `input_ids` (the plan takes input_ids: i64[1, 5]): type F32, expected i64"),
        (vec![t.join("token_encoder.onnx"), a.join("input_1.npy")], "token_encoder.onnx: not a NumPy .npy file this reader takes: missing the"),
    ] {
        let mut args = vec!["infer".to_string(), s(&plan).into()];
        for i in &inputs {
            args.extend(["--input".to_string(), s(i).into()]);
        }
        args.extend(["-o".to_string(), s(&outs).into()]);
        let r = oar(&args.iter().map(String::as_str).collect::<Vec<_>>(), dir.path());
        assert!(!r.status.success());
        let e = stderr(&r);
        assert!(e.contains(want) && e.lines().count() == 1, "{e}\n(wanted {want})");
        assert!(!outs.exists(), "nothing is written when the run fails");
    }
    // Two lengths in one call disagree on `seq` (the two-case plan).
    let plan2 = dir.path().join("te.oar");
    assert!(oar(&["compile", s(&t.join("token_encoder.onnx")), "-o", s(&plan2)], dir.path()).status.success());
    let r = oar(&["infer", s(&plan2), "--input", s(&b.join("input_0.npy")), "--input", s(&a.join("input_1.npy")), "-o", s(&outs)], dir.path());
    assert!(stderr(&r).contains("`seq` is 5 here and 11 in an earlier input"), "{}", stderr(&r));
}
