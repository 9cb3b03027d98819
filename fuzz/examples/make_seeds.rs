//! Writes the seed inputs of `fuzz/corpus/` (small, valid or nearly valid inputs of each target;
//! the mutations start from them). Regression cases are added by hand, named `crash-…`.
//!
//!     cargo run -p oar-fuzz --example make_seeds

use oar_plan::tract::*;
use oar_plan::*;
use oar_stream::protocol::{encode, Message};
use std::path::Path;

fn put(target: &str, name: &str, data: &[u8]) {
    let dir = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

fn tiny_plan() -> (Manifest, Vec<u8>) {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([1, 3])).unwrap();
    let c = model.add_const("c", tensor2(&[[1f32, 2., 3.]])).unwrap();
    let y = model.wire_node("y", tract_nnef::tract_core::ops::math::add(), &[x, c]).unwrap();
    model.select_output_outlets(&y).unwrap();
    let nnef = oar_plan::nnef().write_to_tar(&model, Vec::new()).unwrap();
    let mut post = toml::Table::new();
    post.insert("thresh".into(), 0.3.into());
    post.insert("strides".into(), toml::Value::Array(vec![8.into(), 16.into()]));
    let model = ModelInfo { id: "tiny".into(), task: oar_plan::Task::TextDetection, source: "seeds".into(), sha256: "0".repeat(64) };
    let input = InputSpec::raw("x", ResizePolicy::LimitSide { limit: 736, mode: LimitMode::Min, multiple: 32 });
    let manifest = Manifest { post, labels: Some(LabelsInfo { entry: LABELS_ENTRY.into(), count: 2 }), ..Manifest::new("oar seeds", model, input) };
    (manifest, nnef)
}

fn encoded(img: image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn main() {
    let (manifest, nnef) = tiny_plan();
    let (m, bytes) = plan_bytes(&manifest, &[(MODEL_ENTRY, &nnef), (LABELS_ENTRY, b"a\nb\n")]).unwrap();
    put("plan", "tiny.oar", &bytes);
    // Past the checksums: manifest text, NUL, the model archive.
    let mut structured = m.to_toml().unwrap().into_bytes();
    structured.push(0);
    structured.extend_from_slice(&nnef);
    put("plan_structured", "tiny", &structured);

    let grad = image::RgbImage::from_fn(8, 6, |x, y| image::Rgb([(x * 30) as u8, (y * 40) as u8, 128]));
    put("image", "grad.png", &encoded(grad.clone(), image::ImageFormat::Png));
    put("image", "grad.jpg", &encoded(grad.clone(), image::ImageFormat::Jpeg));
    put("image", "grad.bmp", &encoded(grad, image::ImageFormat::Bmp));
    // Thin images: 1×1000 and 1000×1 (the case that made a 6 GB detector input).
    put("image", "thin-1x1000.png", &encoded(image::RgbImage::new(1, 1000), image::ImageFormat::Png));
    put("image", "thin-1000x1.jpg", &encoded(image::RgbImage::new(1000, 1), image::ImageFormat::Jpeg));

    for e in std::fs::read_dir(Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../examples/pipelines")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            put("pipeline_toml", &p.file_name().unwrap().to_string_lossy(), &std::fs::read(&p).unwrap());
        }
    }
    put(
        "pipeline_toml",
        "small-synthetic.toml",
        b"[source]\nkind = \"synthetic\"\nwidth = 160\nheight = 120\nframes = 3\nplates = 1\nscale = 1\ntext_len = 3\n\
          [detector]\nplan = \"d\"\nlimit_side = 120\nscore_thresh = 0.5\n[pipeline]\nfps = 10.0\ncapacity = 2\n\
          [ocr]\nrec = \"r\"\nunsure_below = 0.9\npad = 0.1\n[[sink]]\nkind = \"jsonl\"\npath = \"t.jsonl\"\n",
    );

    // .npy inputs and outputs of `oar infer`: token ids, a float tensor, a mask, a scalar.
    for (name, t) in [
        ("ids_i64.npy", Tensor::from_shape(&[1, 5], &[101i64, 7, 0, 49, 102]).unwrap()),
        ("hidden_f32.npy", Tensor::from_shape(&[1, 2, 3], &[0.5f32, -1.0, 2.0, f32::NAN, 1e-30, 3.0]).unwrap()),
        ("mask_bool.npy", Tensor::from_shape(&[1, 3], &[true, false, true]).unwrap()),
        ("scalar_u8.npy", Tensor::from_shape::<u8>(&[], &[7]).unwrap()),
    ] {
        put("npy", name, &oar_plan::npy::to_bytes(&t).unwrap());
    }

    for (name, header, frame_len) in
        [("420.y4m", "W4 H4 F25:1 Ip A1:1 C420jpeg", 16 + 8), ("444.y4m", "W2 H2 C444", 12), ("mono.y4m", "W3 H2 Cmono", 6)]
    {
        let mut d = format!("YUV4MPEG2 {header}\n").into_bytes();
        for k in 0..2u8 {
            d.extend_from_slice(b"FRAME\n");
            d.extend((0..frame_len).map(|i| (i as u8).wrapping_mul(37).wrapping_add(k)));
        }
        put("y4m", name, &d);
    }

    let mut mjpeg = Vec::new();
    for k in 0..2u32 {
        let img = image::RgbImage::from_fn(8, 8, |x, y| image::Rgb([(x * 30 + k * 9) as u8, (y * 30) as u8, 60]));
        mjpeg.extend(encoded(img, image::ImageFormat::Jpeg));
    }
    put("mjpeg", "two.mjpg", &mjpeg);

    let mut wire = Vec::new();
    for m in [
        Message::Track { id: 7, text: "KX42Ü".into(), score: 0.93, bbox: [-3, 10, 200, 300] },
        Message::Status { frames: 100, dropped: 3, faults: 1 },
        Message::Track { id: 0, text: String::new(), score: 0.0, bbox: [0; 4] },
    ] {
        wire.extend(encode(&m));
    }
    put("serial", "three.bin", &wire);
}
