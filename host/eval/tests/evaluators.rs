//! Evaluators on a model built here (no download): a tiny "classifier" whose class is the
//! brightest colour channel, scored on the repository's classification images.

use oar_eval::{evaluator, EvalError};
use oar_plan::tract::tract_core::ops::math::{add, mul};
use oar_plan::tract::tract_core::ops::nn::{Reduce, Reducer};
use oar_plan::tract::*;
use oar_plan::{InputSpec, Manifest, ModelInfo, ResizePolicy};
use std::path::{Path, PathBuf};

fn data(sub: &str) -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../tests/data").join(sub)
}

fn manifest(task: &str) -> Manifest {
    let model = ModelInfo { id: "tiny".into(), task: task.parse().unwrap(), source: "test".into(), sha256: String::new() };
    let input = InputSpec { scale: 1.0 / 255.0, ..InputSpec::raw("x", ResizePolicy::Stretch { width: 16, height: 16 }) };
    Manifest { post: toml::toml! { softmax = true }, ..Manifest::new("test", model, input) }
}

/// Mean of each channel, times `sign`: [1, 3, 1, 1] logits.
/// `sign` × the channel means, plus a tiny bias for channel `tie` so that grey images (all channel
/// means equal) still have one answer.
fn channel_means(sign: f32, tie: usize) -> TypedModel {
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 3, 16, 16])).unwrap();
    let s = m.wire_node("sum", Reduce::new(tvec![2, 3], Reducer::Sum), &[x]).unwrap()[0];
    let k = m.add_const("k", tensor0(sign / 256.0).broadcast_into_rank(4).unwrap()).unwrap();
    let y = m.wire_node("mean", mul(), &[s, k]).unwrap()[0];
    let mut bias = [0f32; 3];
    bias[tie] = 1e-3;
    let b = m.add_const("tie", tract_ndarray::Array4::from_shape_vec((1, 3, 1, 1), bias.to_vec()).unwrap().into_tensor()).unwrap();
    let y = m.wire_node("tie_break", add(), &[y, b]).unwrap()[0];
    m.select_output_outlets(&[y]).unwrap();
    m
}

#[test]
fn classification_agreement_is_measured_against_the_float_model() {
    let float = channel_means(1.0, 1);
    let eval = evaluator(&manifest("image-classification"), &data("classify"), &float, None).unwrap();
    assert_eq!(eval.metric(), "top-1 agreement vs float");
    assert_eq!(eval.evaluate(&float).unwrap().primary, 100.0);
    // Negated logits pick the darkest channel instead (and grey images the other tie-break).
    let flipped = eval.evaluate(&channel_means(-1.0, 0)).unwrap();
    assert!(flipped.primary < 50.0, "{flipped}");
    // limit caps the images.
    let one = evaluator(&manifest("image-classification"), &data("classify"), &float, Some(1)).unwrap();
    assert_eq!(one.evaluate(&float).unwrap().values[0].1, 100.0);
}

#[test]
fn bad_sets_and_tasks_are_named() {
    let float = channel_means(1.0, 1);
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path();
    let err = evaluator(&manifest("image-classification"), empty, &float, None).err().unwrap().to_string();
    assert!(err.contains("no images") && err.contains(&empty.display().to_string()), "{err}");
    // A text detector needs ground truth.
    let err = evaluator(&manifest("text-detection"), &data("detect"), &float, None).err().unwrap();
    assert!(matches!(err, EvalError::Set { .. }) && err.to_string().contains("labels.jsonl"), "{err}");
    // A recogniser needs its dictionary.
    let err = evaluator(&manifest("text-recognition"), &data("ocr-golden"), &float, None).err().unwrap().to_string();
    assert!(err.contains("dictionary"), "{err}");
    // A plan without a task adapter cannot be evaluated; an unknown task cannot even be a manifest.
    let err = evaluator(&manifest("raw"), &data("classify"), &float, None).err().unwrap().to_string();
    assert!(err.contains("raw") && err.contains("no evaluator"), "{err}");
    assert!("speech".parse::<oar_plan::Task>().is_err());
    // An image that does not decode is named.
    std::fs::write(empty.join("broken.png"), b"not a png").unwrap();
    let err = evaluator(&manifest("image-classification"), empty, &float, None).err().unwrap().to_string();
    assert!(err.contains("broken.png"), "{err}");
}
