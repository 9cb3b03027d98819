use super::*;
use crate::tract::*;

/// A real (tiny) tract model: y = x + [1, 2, 3].
fn tiny_model() -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([1, 3])).unwrap();
    let c = model.add_const("c", tensor2(&[[1f32, 2., 3.]])).unwrap();
    let y = model.wire_node("y", tract_nnef::tract_core::ops::math::add(), &[x, c]).unwrap();
    model.select_output_outlets(&y).unwrap();
    model
}

fn manifest() -> Manifest {
    let model = ModelInfo { id: "tiny".into(), task: crate::Task::Raw, source: "built in the test".into(), sha256: "0".repeat(64) };
    let input = InputSpec::raw("x", ResizePolicy::Stretch { width: 3, height: 1 });
    Manifest { labels: Some(LabelsInfo { entry: LABELS_ENTRY.into(), count: 3 }), ..Manifest::new("oar test", model, input) }
}

fn write_tiny(path: &std::path::Path) {
    let nnef = nnef().write_to_tar(&tiny_model(), Vec::new()).unwrap();
    let labels = join_labels(&["a".into(), " ".into(), "c".into()]);
    write_plan(path, &manifest(), &[(MODEL_ENTRY, &nnef), (LABELS_ENTRY, labels.as_bytes())]).unwrap();
}

#[test]
fn writes_reads_and_runs_a_plan() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.oar");
    write_tiny(&path);
    let engine = Engine::load(&path).unwrap();
    assert_eq!(engine.plan.labels().unwrap().unwrap(), vec!["a", " ", "c"]);
    let out = engine.run_one(tensor2(&[[10f32, 20., 30.]])).unwrap();
    assert_eq!(out[0], tensor2(&[[11f32, 22., 33.]]));
    // Nothing but the plan is left in the directory (no temporary file).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn corrupt_entry_is_named_with_both_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.oar");
    write_tiny(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    // Flip one byte of the labels entry, which sits in the archive's last data block.
    let pos = bytes.windows(3).rposition(|w| w == b"a\n ").unwrap();
    bytes[pos] = b'b';
    std::fs::write(&path, &bytes).unwrap();
    let err = Plan::read(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, PlanError::Checksum { ref entry, .. } if entry == LABELS_ENTRY), "{msg}");
    assert!(msg.contains("tiny.oar") && msg.contains("sha256"), "{msg}");
}

#[test]
fn truncated_plan_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.oar");
    write_tiny(&path);
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 100, 700, bytes.len() / 2, bytes.len() - 1100] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = Plan::read(&path).unwrap_err();
        assert!(matches!(err, PlanError::NotAPlan { .. } | PlanError::MissingEntry { .. }), "cut {cut}: {err}");
        assert!(err.to_string().contains("tiny.oar"));
    }
}

#[test]
fn other_files_are_not_plans() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.oar");
    std::fs::write(&path, b"\x89PNG\r\n\x1a\n this is an image, not a plan").unwrap();
    let err = Plan::read(&path).unwrap_err();
    assert!(matches!(err, PlanError::NotAPlan { .. }), "{err}");
    let missing = Plan::read(dir.path().join("absent.oar")).unwrap_err();
    assert!(matches!(missing, PlanError::Io { .. }) && missing.to_string().contains("absent.oar"));
}

#[test]
fn newer_format_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.oar");
    let mut m = manifest();
    m.labels = None;
    let nnef = nnef().write_to_tar(&tiny_model(), Vec::new()).unwrap();
    write_plan(&path, &m, &[(MODEL_ENTRY, &nnef)]).unwrap();
    // Rewrite the manifest as a future writer would: higher format, a field this reader lacks.
    let plan = Plan::read(&path).unwrap();
    let text = plan.manifest.to_toml().unwrap().replace("format = 2", "format = 3\nhologram = true");
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [(MANIFEST_ENTRY, text.as_bytes()), (MODEL_ENTRY, &nnef[..])] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    let err = Plan::read(&path).unwrap_err().to_string();
    assert!(err.contains("plan format 3, this runtime reads 1–2"), "{err}");
}

#[test]
fn failed_write_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("x.oar");
    assert!(write_plan(&path, &manifest(), &[(MODEL_ENTRY, b"x")]).is_err());
    assert!(!path.exists());
}

#[test]
fn labels_keep_whitespace_entries() {
    assert_eq!(split_labels("a\n \nb\n"), vec!["a", " ", "b"]);
    assert_eq!(split_labels(""), Vec::<String>::new());
    assert_eq!(split_labels(&join_labels(&["x".into(), "".into()])), vec!["x", ""]);
}

/// y = depthwise 3×3 int8 conv of int8(x), as tract's quantized `Conv`, lowered to an oar op.
fn oar_op_model() -> TypedModel {
    use tract_nnef::tract_core::ops::cast::cast;
    use tract_nnef::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
    use tract_nnef::tract_core::ops::nn::DataFormat;
    let q = |zp, scale| DatumType::QI8(QParams::ZpScale { zero_point: zp, scale });
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 3, 6, 5])).unwrap();
    let xq = m.wire_node("xq", cast(q(1, 0.05)), &[x]).unwrap()[0];
    let mut k = Tensor::from_shape(&[3, 1, 3, 3], &(0..27).map(|i| (i % 7 - 3) as i8).collect::<Vec<_>>()).unwrap();
    // SAFETY: the tensor holds i8 values; QI8 has the same one-byte layout.
    unsafe { k.set_datum_type(q(0, 0.02)) };
    let mut inputs = vec![xq];
    for (n, t) in [
        ("k", k),
        ("b", tensor1(&[10i32, -20, 30])),
        ("x0", tensor0(1i32)),
        ("xs", tensor0(0.05f32)),
        ("k0", tensor0(0i32)),
        ("ks", tensor1(&[0.02f32, 0.01, 0.03])),
        ("y0", tensor0(-3i32)),
        ("ys", tensor0(0.01f32)),
    ] {
        inputs.push(m.add_const(n, t).unwrap());
    }
    let pool_spec = PoolSpec {
        data_format: DataFormat::NCHW,
        kernel_shape: tvec![3, 3],
        padding: PaddingSpec::Explicit(tvec![1, 1], tvec![1, 1]),
        dilations: None,
        strides: None,
        input_channels: 3,
        output_channels: 3,
    };
    let conv = Conv { pool_spec, kernel_fmt: KernelFormat::OIHW, group: 3, q_params: Some(q(-3, 0.01)) };
    let y = m.wire_node("y", conv, &inputs).unwrap()[0];
    m.select_output_outlets(&[y]).unwrap();
    assert_eq!(oar_ops::lower(&mut m).unwrap(), 1);
    m
}

#[test]
fn plan_with_oar_ops_lists_them_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.oar");
    let nnef = nnef().write_to_tar(&oar_op_model(), Vec::new()).unwrap();
    let written = write_plan(&path, &manifest(), &[(MODEL_ENTRY, &nnef)]).unwrap();
    assert_eq!(written.required_ops, vec![RequiredOp { name: "oar_qconv_dw".into(), version: 1, oar: "0.1.0".into() }]);
    let engine = Engine::load(&path).unwrap();
    assert_eq!(engine.plan.manifest.required_ops, written.required_ops);
    let x = Tensor::from_shape(&[1, 3, 6, 5], &(0..90).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<_>>()).unwrap();
    let y = engine.run_one(x.clone()).unwrap().remove(0);
    assert_eq!(y.shape(), &[1, 3, 6, 5]);
    // The same result as the model before serialisation (tract runs the op from oar-ops in both).
    let want = oar_op_model().into_runnable().unwrap().run(tvec!(x.into_tvalue())).unwrap().remove(0);
    // SAFETY: both are the int8 output of the same quantized model (QI8, one byte per value).
    assert_eq!(unsafe { y.as_slice_unchecked::<i8>() }, unsafe { want.as_slice_unchecked::<i8>() });
}

/// y = deformable 3×3 conv of x (offsets and mask constant), as the compiler emits ONNX `DeformConv`.
fn deform_conv_model() -> TypedModel {
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 2, 5, 6])).unwrap();
    // a·sin(f·i) + b: offsets up to 2.5 px (some taps outside the image), a mask in [0, 1].
    let t = |shape: &[usize], f: f32, a: f32, b: f32| {
        let n: usize = shape.iter().product();
        Tensor::from_shape(shape, &(0..n).map(|i| a * (i as f32 * f).sin() + b).collect::<Vec<_>>()).unwrap()
    };
    let w = m.add_const("w", t(&[3, 2, 3, 3], 0.7, 1.0, 0.0)).unwrap();
    let off = m.add_const("offset", t(&[1, 18, 5, 6], 1.3, 2.5, 0.0)).unwrap();
    let b = m.add_const("b", tensor1(&[0.5f32, -1.0, 0.25])).unwrap();
    let mask = m.add_const("mask", t(&[1, 9, 5, 6], 0.3, 0.5, 0.5)).unwrap();
    let op = oar_ops::DeformConv { kernel: [3, 3], stride: [1, 1], dilation: [1, 1], pad: [1, 1, 1, 1], group: 1, offset_group: 1, mask: true };
    let y = m.wire_node("dcn", op, &[x, w, off, b, mask]).unwrap();
    m.select_output_outlets(&y).unwrap();
    m
}

#[test]
fn plan_with_a_deform_conv_lists_it_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dcn.oar");
    let nnef = nnef().write_to_tar(&deform_conv_model(), Vec::new()).unwrap();
    let written = write_plan(&path, &manifest(), &[(MODEL_ENTRY, &nnef)]).unwrap();
    assert_eq!(written.required_ops, vec![RequiredOp { name: "oar_deform_conv".into(), version: 1, oar: "0.3.0".into() }]);
    let engine = Engine::load(&path).unwrap();
    let x = Tensor::from_shape(&[1, 2, 5, 6], &(0..60).map(|i| (i as f32 * 0.37).cos()).collect::<Vec<_>>()).unwrap();
    let y = engine.run_one(x.clone()).unwrap().remove(0);
    assert_eq!(y.shape(), &[1, 3, 5, 6]);
    // The op as written (its own eval) and the device's optimised plan (columns + tract's matmul).
    let want = deform_conv_model().into_runnable().unwrap().run(tvec!(x.into_tvalue())).unwrap().remove(0);
    let (y, want) = (y.to_plain_array_view::<f32>().unwrap(), want.to_plain_array_view::<f32>().unwrap());
    let err = y.iter().zip(want.iter()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(err < 1e-5, "{err}");
    assert!(want.iter().any(|v| v.abs() > 0.5));
}

#[test]
fn plan_needing_a_newer_op_names_it_and_the_release() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.oar");
    let nnef = nnef().write_to_tar(&tiny_model(), Vec::new()).unwrap();
    let mut m = manifest();
    m.labels = None;
    m.required_ops = vec![RequiredOp { name: "oar_qconv_dw".into(), version: 7, oar: "9.1.0".into() }];
    write_plan(&path, &m, &[(MODEL_ENTRY, &nnef)]).unwrap();
    let e = Plan::read(&path).unwrap_err().to_string();
    assert!(e.contains("oar_qconv_dw@7") && e.contains("oar 9.1.0"), "{e}");
    assert!(matches!(Engine::load(&path), Err(PlanError::MissingOp { .. })));
}

/// Three of oar's int8 convs in a row, as the compiler chains them (dw 3×3 s2 + hard-swish → int8;
/// pw 8→6 + ReLU6 → int8 with one scale per channel (op v2); dw 5×5 → int8), with fixed
/// weights and scales: the plan's integer output, through NNEF and the device engine.
fn int8_chain_plan(path: &std::path::Path) -> Engine {
    use oar_ops::{Activation, Family, OutQuant, QConv};
    use tract_nnef::tract_core::ops::cast::cast;
    let q = |zp, scale| DatumType::QI8(QParams::ZpScale { zero_point: zp, scale });
    let ints = |n: usize, seed: i32, m: i32| (0..n as i32).map(|i| ((i * 37 + seed) % (2 * m + 1) - m) as i8).collect::<Vec<i8>>();
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 8, 10, 9])).unwrap();
    let mut at = m.wire_node("xq", cast(q(2, 0.02)), &[x]).unwrap()[0];
    let stages: [(&str, QConv, usize, usize, i32); 3] = [
        ("dw3", QConv { family: Family::Depthwise { kernel: 3, stride: 2, pad: [1, 1, 1, 0] }, x_zero_point: 2, activation: Activation::HardSwish, output: OutQuant::I8 { scale: 0.03, zero_point: -5 } }, 8, 9, 0),
        ("pw", QConv { family: Family::Pointwise, x_zero_point: -5, activation: Activation::Clip { min: 0.0, max: 6.0 }, output: OutQuant::I8PerChannel { scale: 0.05, zero_point: 0 } }, 6, 8, 1),
        ("dw5", QConv { family: Family::Depthwise { kernel: 5, stride: 1, pad: [2, 2, 2, 2] }, x_zero_point: 0, activation: Activation::Identity, output: OutQuant::I8 { scale: 0.5, zero_point: 3 } }, 6, 25, 2),
    ];
    for (name, op, o, per, seed) in stages {
        let w = Tensor::from_shape(&[o, per], &ints(o * per, seed, 127)).unwrap();
        let bias: Vec<i32> = (0..o as i32).map(|c| 50 * c - 120 + seed).collect();
        let scale: Vec<f32> = (0..o).map(|c| 0.0004 * (1.0 + c as f32 * 0.3)).collect();
        let mut inputs = vec![at];
        inputs.push(m.add_const(format!("{name}.w"), w).unwrap());
        inputs.push(m.add_const(format!("{name}.b"), tensor1(&bias)).unwrap());
        inputs.push(m.add_const(format!("{name}.s"), tensor1(&scale)).unwrap());
        if matches!(op.output, OutQuant::I8PerChannel { .. }) {
            let out: Vec<f32> = (0..o).map(|c| 0.05 / (1.0 + 4.0 * c as f32)).collect();
            inputs.push(m.add_const(format!("{name}.out_scales"), tensor1(&out)).unwrap());
        }
        at = m.wire_node(name, op, &inputs).unwrap()[0];
    }
    m.select_output_outlets(&[at]).unwrap();
    let nnef = nnef().write_to_tar(&m, Vec::new()).unwrap();
    let mut man = manifest();
    man.labels = None;
    write_plan(path, &man, &[(MODEL_ENTRY, &nnef)]).unwrap();
    Engine::load(path).unwrap()
}

/// Integer results are exact across machines: this digest was recorded on x86-64 (AVX2 / AVX-512
/// kernels) and must be the same under qemu-aarch64 (NEON, and SDOT with `-cpu max`), qemu-arm
/// (armv7 NEON) and riscv64 (scalar) in tests/qemu.sh, and with `OAR_KERNELS=scalar`.
/// Regenerate only when `int8_chain_plan` or its input change on purpose: run
/// `cargo test -p oar-plan int8_plan_integer_outputs_are_pinned -- --nocapture` on x86-64, copy the
/// printed sum, weighted sum and first ten values into `PINNED_INT8_CHAIN`, then check that
/// `tests/qemu.sh` agrees on every target.
#[test]
fn int8_plan_integer_outputs_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let engine = int8_chain_plan(&dir.path().join("chain.oar"));
    let ops: Vec<(String, u32)> = engine.plan.manifest.required_ops.iter().map(|o| (o.name.clone(), o.version)).collect();
    assert!(ops.contains(&("oar_qconv_pw".into(), 2)), "{ops:?}");
    let x = Tensor::from_shape(&[1, 8, 10, 9], &(0..720).map(|i| (i as f32 * 0.61).sin() * 2.4).collect::<Vec<_>>()).unwrap();
    let y = engine.run_one(x).unwrap().remove(0);
    assert_eq!(y.shape(), &[1, 6, 5, 4]);
    // SAFETY: the chain ends in an int8 conv: its output is a QI8 tensor, one byte per value.
    let v: Vec<i8> = unsafe { y.as_slice_unchecked::<i8>() }.to_vec();
    let sum: i64 = v.iter().map(|&x| x as i64).sum();
    let weighted = v.iter().enumerate().fold(0u32, |a, (i, &x)| a.wrapping_add((x as i32 as u32).wrapping_mul(i as u32 + 1)));
    let distinct = v.iter().collect::<std::collections::BTreeSet<_>>().len();
    eprintln!("int8 chain on {:?}: sum {sum}, weighted {weighted}, {distinct} distinct, first {:?}", oar_kernels::selected(), &v[..10]);
    assert!(distinct > 40, "a chain whose output is nearly constant would pin nothing: {v:?}");
    assert_eq!((sum, weighted, &v[..10]), PINNED_INT8_CHAIN);
}

const PINNED_INT8_CHAIN: (i64, u32, &[i8]) = (282, 7875, &[3, 1, 4, 3, -2, -4, 8, 1, 3, -2]);

/// A tar archive of `(name, kind, data, declared size)` entries, checksums recomputed.
fn tar_of(entries: &[(&str, tar::EntryType, &[u8], u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, data, size) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(*kind);
        h.set_size(*size);
        h.set_mode(0o644);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

#[test]
fn declared_sizes_are_checked_before_allocating() {
    let text = manifest().to_toml().unwrap();
    let regular = tar::EntryType::Regular;
    for (bytes, want) in [
        // A 2^62-byte entry (checksum recomputed): refused, not allocated.
        (tar_of(&[(MANIFEST_ENTRY, regular, text.as_bytes(), 1 << 62)]), "declares 4611686018427387904 bytes"),
        (tar_of(&[(MANIFEST_ENTRY, regular, text.as_bytes(), text.len() as u64), ("x", tar::EntryType::Symlink, b"", 0)]), "Symlink"),
        (tar_of(&[(MANIFEST_ENTRY, regular, text.as_bytes(), text.len() as u64), ("d", tar::EntryType::Char, b"", 0)]), "Char"),
        (
            tar_of(&[(MANIFEST_ENTRY, regular, text.as_bytes(), text.len() as u64), (MANIFEST_ENTRY, regular, b"", 0)]),
            "appears twice",
        ),
    ] {
        let err = Plan::from_bytes("bad.oar".into(), &bytes).unwrap_err().to_string();
        assert!(err.contains("bad.oar") && err.contains(want), "{err} (wanted {want})");
    }
}

#[test]
fn the_model_archive_entry_table_is_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested.oar");
    let mut m = manifest();
    m.labels = None;
    // A model archive whose only entry claims 2^62 bytes: the plan's checksums are right.
    let model = tar_of(&[("graph.nnef", tar::EntryType::Regular, b"version 1.0;", 1 << 62)]);
    write_plan(&path, &m, &[(MODEL_ENTRY, &model)]).unwrap();
    let err = Plan::read(&path).unwrap_err().to_string();
    assert!(err.contains("model.nnef.tar: entry `graph.nnef` declares"), "{err}");
}

#[test]
fn hand_edited_manifest_values_are_refused_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.oar");
    write_tiny(&path);
    let plan = Plan::read(&path).unwrap();
    // `oar.toml` carries no checksum of itself: edit it as a careless user would.
    let text = plan.manifest.to_toml().unwrap().replace("width = 3", "width = 4000000000");
    let mut entries: Vec<(&str, tar::EntryType, &[u8], u64)> = vec![(MANIFEST_ENTRY, tar::EntryType::Regular, text.as_bytes(), text.len() as u64)];
    for name in [MODEL_ENTRY, LABELS_ENTRY] {
        let data = plan.entry(name).unwrap();
        entries.push((name, tar::EntryType::Regular, data, data.len() as u64));
    }
    std::fs::write(&path, tar_of(&entries)).unwrap();
    let err = Plan::read(&path).unwrap_err().to_string();
    assert!(err.contains("edited.oar: bad manifest: input.resize.width = 4000000000: expected 1 to 4096"), "{err}");
}

#[test]
fn plans_that_are_not_regular_files_are_refused_without_reading() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("zero.oar");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let err = Plan::read(&link).unwrap_err().to_string();
    assert!(err.contains("zero.oar") && err.contains("a character device"), "{err}");
}

#[test]
fn thread_settings_parse_with_a_clear_error() {
    assert_eq!("auto".parse::<Threads>(), Ok(Threads::Auto));
    assert_eq!(" 2".parse::<Threads>(), Ok(Threads::Fixed(2)));
    assert_eq!(Threads::Fixed(3).to_string(), "3");
    for bad in ["0", "-1", "two", ""] {
        let e = bad.parse::<Threads>().unwrap_err();
        assert!(e.contains("`auto`") && e.contains(&format!("`{bad}`")), "{e}");
    }
}

/// `auto` times every count from 1 to the maximum and keeps a larger one only when it is at least
/// 3 % faster; a fixed count is applied as given. The outputs do not depend on the count.
#[test]
fn auto_threads_keep_the_measured_fastest_count() {
    let mut engine = Engine::from_model(tiny_model(), manifest()).unwrap();
    let x = tensor2(&[[10f32, 20., 30.]]);
    let choice = engine.apply_threads(Threads::Auto, 2, std::slice::from_ref(&x)).unwrap().expect("auto measures");
    let ms: Vec<f64> = choice.median_ms.iter().map(|&(_, ms)| ms).collect();
    assert_eq!(choice.median_ms.iter().map(|&(n, _)| n).collect::<Vec<_>>(), vec![1, 2]);
    assert!(ms.iter().all(|&t| t > 0.0));
    assert_eq!(choice.threads == 2, ms[1] < ms[0] * 0.97, "{choice:?}");
    assert_eq!(engine.threads(), choice.threads);
    assert_eq!(engine.run_one(x.clone()).unwrap()[0], tensor2(&[[11f32, 22., 33.]]));
    assert_eq!(engine.apply_threads(Threads::Fixed(3), 8, std::slice::from_ref(&x)).unwrap(), None);
    assert_eq!(engine.threads(), 3);
    assert_eq!(engine.run_one(x).unwrap()[0], tensor2(&[[11f32, 22., 33.]]));
}
