//! Fuzz targets: each reader of untrusted bytes, as oar calls it, as a function over `&[u8]`.
//! A target must return for every input, without panicking, aborting, hanging or allocating past
//! the bounds the readers state; where a reader promises more (a bound on sizes, a round trip),
//! the target asserts it.
//!
//! `cargo test -p oar-fuzz` runs every target over the saved corpus (`fuzz/corpus/<target>/`,
//! regression cases included) and a bounded number of seeded mutations; `fuzz/README.md` has the
//! commands for long campaigns (more mutations, or coverage-guided with cargo-fuzz).

use oar_plan::{LimitMode, Manifest, Plan, ResizePolicy, MODEL_ENTRY};
use oar_stream::config::{PipelineFile, SourceConfig};
use oar_stream::protocol::{decode_frame, encode, Decoder, Message};
use oar_stream::source::{MjpegSource, Source, Y4mSource};
use oar_vision::text_det::{det_input_size, DET_MAX_PIXELS, DET_MAX_SIDE};
use oar_vision::Rgb;

/// A fuzz target.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("plan", plan),
    ("plan_structured", plan_structured),
    ("image", image),
    ("pipeline_toml", pipeline_toml),
    ("y4m", y4m),
    ("mjpeg", mjpeg),
    ("serial", serial),
    ("npy", npy),
];

/// At most this many frames are read from one input (an input is small: more is the same work).
const MAX_FRAMES: usize = 64;

/// The plan reader on raw bytes: tar container, manifest, checksums, the NNEF entry table; and a
/// plan that passes is decoded as `Engine::load` would (the model is checksummed: only manifest
/// mutations get this far).
pub fn plan(data: &[u8]) {
    if let Ok(p) = Plan::from_bytes("fuzz.oar".into(), data) {
        let _ = p.labels();
        let _ = oar_plan::decode_model(&p);
    }
}

/// Past the checksums: the input is `oar.toml` text, a NUL byte, then the model archive. The
/// plan is rebuilt with correct checksums, so that the manifest's values and the model archive's
/// entry table are what the reader has to judge.
pub fn plan_structured(data: &[u8]) {
    let (text, model) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let Ok(manifest) = Manifest::from_toml(text) else { return };
    let Ok((_, bytes)) = oar_plan::plan_bytes(&manifest, &[(MODEL_ENTRY, model)]) else { return };
    if let Ok(p) = Plan::from_bytes("fuzz.oar".into(), &bytes) {
        p.manifest.validate().expect("the reader accepted a manifest that does not validate");
    }
}

/// Image decoding as `oar ocr`, the folder source and the MJPEG frames call it, then the detector's
/// input size (which must stay within its stated bounds) and a small model input.
pub fn image(data: &[u8]) {
    let Ok(img) = Rgb::decode(data) else { return };
    assert!(img.width > 0 && img.height > 0 && img.data.len() == img.width * img.height * 3);
    for policy in [
        ResizePolicy::LimitSide { limit: 736, mode: LimitMode::Min, multiple: 32 },
        ResizePolicy::LimitSide { limit: 960, mode: LimitMode::Max, multiple: 32 },
    ] {
        if let Some((w, h)) = det_input_size(img.width, img.height, &policy) {
            assert!(w <= DET_MAX_SIDE && h <= DET_MAX_SIDE && w * h <= DET_MAX_PIXELS, "{img:?} → {w}x{h}");
        }
    }
    let _ = img.resize(16, 16);
}

/// A pipeline file: parsing and the value checks; a small synthetic source it accepts is built and
/// rendered.
pub fn pipeline_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(file) = PipelineFile::parse(text) else { return };
    if let SourceConfig::Synthetic { width, height, frames, seed, plates, scale, text_len, .. } = file.source {
        if width * height <= 256 * 256 && frames <= 100 {
            let cfg = oar_stream::synth::SynthConfig { width, height, frames, seed, plates, scale, text_len };
            if let Ok(mut s) = oar_stream::synth::SyntheticSource::new(cfg) {
                let _ = s.ground_truth();
                let _ = s.next_frame();
            }
        }
    }
}

/// The `.npy` reader of `oar infer` / `oar conform`: a tensor it accepts writes back to bytes that
/// read as the same tensor (compared as bytes: NaN payloads are data too).
pub fn npy(data: &[u8]) {
    let Ok(t) = oar_plan::npy::parse(data) else { return };
    let bytes = oar_plan::npy::to_bytes(&t).expect("every type the reader makes can be written");
    let again = oar_plan::npy::parse(&bytes).expect("what was written reads back");
    assert_eq!(oar_plan::npy::to_bytes(&again), Some(bytes));
}

/// The YUV4MPEG2 parser: header, then frames.
pub fn y4m(data: &[u8]) {
    let Ok(mut s) = Y4mSource::from_reader(Box::new(std::io::Cursor::new(data.to_vec())), "fuzz.y4m") else { return };
    for _ in 0..MAX_FRAMES {
        match s.next_frame() {
            Ok(Some(f)) => assert_eq!(f.data.len(), f.width * f.height * 3),
            _ => break,
        }
    }
}

/// The MJPEG splitter, and each frame decoded as the detect stage does.
pub fn mjpeg(data: &[u8]) {
    let mut s = MjpegSource::from_bytes(data.to_vec());
    for _ in 0..MAX_FRAMES {
        match s.next_frame() {
            Ok(Some(f)) => {
                let _ = f.to_rgb();
            }
            _ => break,
        }
    }
}

/// The serial protocol decoder: fed whole or in pieces it gives the same results, and every
/// message it accepts encodes back to itself.
pub fn serial(data: &[u8]) {
    let whole = Decoder::new().push(data);
    let step = data.first().map_or(1, |b| *b as usize % 7 + 1);
    let mut d = Decoder::new();
    let pieces: Vec<_> = data.chunks(step).flat_map(|c| d.push(c)).collect();
    assert_eq!(format!("{whole:?}"), format!("{pieces:?}"), "chunking changed the decoding");
    for m in whole.into_iter().flatten() {
        if matches!(&m, Message::Track { score, .. } if score.is_nan()) {
            continue; // NaN ≠ NaN
        }
        let wire = encode(&m);
        assert_eq!(decode_frame(&wire[..wire.len() - 1]).as_ref(), Ok(&m), "round trip");
    }
    let _ = decode_frame(data);
}
