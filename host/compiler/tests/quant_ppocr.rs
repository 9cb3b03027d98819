//! int8 on the real PP-OCRv4 det model (ignored: needs the cached model; run with --ignored).
//! Measures a debug test binary with optimised dependencies (opt-level 2), not a release build.

use oar_compiler::quant::{self, QuantOptions};
use oar_compiler::{max_abs_diff, seeded_input};
use oar_plan::tract::*;
use std::time::Instant;
use tract_onnx::prelude::{InferenceFact, InferenceModelExt};

fn median_ms(m: &TypedModel, x: &Tensor) -> f64 {
    let p = m.clone().into_optimized().unwrap().into_runnable().unwrap();
    p.run(tvec!(x.clone().into_tvalue())).unwrap();
    let mut t: Vec<f64> = (0..5)
        .map(|_| {
            let s = Instant::now();
            p.run(tvec!(x.clone().into_tvalue())).unwrap();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t[2]
}

#[test]
#[ignore]
fn ppocr_det_int8() {
    let dir = std::path::Path::new("/root/.cache/oar/models/ppocr-v4-det");
    let path = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "onnx")).unwrap();
    let shape = [1usize, 3, 320, 320];
    let float = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .with_ignore_value_info(true)
        .model_for_path(&path)
        .unwrap()
        .with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape))
        .unwrap()
        .into_typed()
        .unwrap()
        .into_decluttered()
        .unwrap();
    let mut ops = std::collections::BTreeMap::<String, usize>::new();
    for n in float.nodes() {
        *ops.entry(n.op.name().to_string()).or_default() += 1;
    }
    eprintln!("float decluttered ops: {ops:?}");
    let calib: Vec<Tensor> = (0..2).map(|s| seeded_input(&shape, 50 + s)).collect();
    let (q, report) = quant::quantize(float.clone(), &calib, &QuantOptions::default()).unwrap();
    eprintln!("int8 layers {} / {}", report.int8_layers(), report.layers.len());
    let x = seeded_input(&shape, 3);
    let a = float.clone().into_optimized().unwrap().into_runnable().unwrap().run(tvec!(x.clone().into_tvalue())).unwrap();
    let b = q.clone().into_optimized().unwrap().into_runnable().unwrap().run(tvec!(x.clone().into_tvalue())).unwrap();
    eprintln!("max abs err (sigmoid prob map) {}", max_abs_diff(&a[0], &b[0]).unwrap());
    let (mut fa, mut fb) = (vec![], vec![]);
    oar_plan::nnef().write_to_tar(&float, &mut fa).unwrap();
    oar_plan::nnef().write_to_tar(&q, &mut fb).unwrap();
    eprintln!("NNEF bytes float {} int8 {}", fa.len(), fb.len());
    eprintln!("median ms 1 thread 1x3x320x320 float {:.1} int8 {:.1}", median_ms(&float, &x), median_ms(&q, &x));
}
