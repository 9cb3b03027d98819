//! The per-image loop shared by `oar ocr`, `oar detect` and `oar classify`: a bad image is
//! reported (and, with `--json`, written as `{"path", "error"}`) and the others are processed.

use anyhow::Result;
use oar_vision::Rgb;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Decodes each image and hands it to `work`; exit code 1 when any image failed, else 0.
pub fn for_each(images: &[PathBuf], json: bool, mut work: impl FnMut(&Path, &Rgb) -> Result<()>) -> ExitCode {
    let mut failed = 0;
    for path in images {
        let result = Rgb::open(path).map_err(anyhow::Error::from).and_then(|img| work(path, &img));
        if let Err(e) = result {
            failed += 1;
            eprintln!("error: {e:#}");
            if json {
                println!("{}", serde_json::json!({ "path": path, "error": format!("{e:#}") }));
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} images failed", images.len());
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
