//! The per-image loop shared by `oar ocr`, `oar detect` and `oar classify` (and `oar-edge ocr`):
//! a bad image is reported (and, with `--json`, written as `{"path", "error"}`) and the others
//! are processed.

use anyhow::Result;
use oar_vision::Rgb;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Decodes each image and hands it to `work`; exit code 1 when any image failed, else 0.
pub fn for_each(images: &[PathBuf], json: bool, work: impl FnMut(&Path, &Rgb) -> Result<()>) -> ExitCode {
    match oar_vision::cli::for_each_image(images, json, work) {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}
