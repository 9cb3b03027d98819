//! `oar-edge ocr IMAGE… [--json]`: the host's `oar ocr` (shared in `oar_vision::cli`) on the
//! device. A plan name is a `.oar` path or an id looked up as `$OAR_HOME/plans/<id>.oar`; the
//! device never downloads or compiles.

use anyhow::{Context, Result};
use oar_edge::stages::{load_task, resolve_plan};
use oar_vision::Task;
use std::path::Path;

pub use oar_vision::cli::OcrArgs;

/// Exit code: 0 all images read, 1 some failed (each reported).
pub fn run(args: &OcrArgs) -> Result<i32> {
    let failed = args.run(|name, role| load(name).context(role.to_string()))?;
    Ok(if failed > 0 { 1 } else { 0 })
}

fn load(name: &str) -> Result<Task> {
    load_task(&resolve_plan(name, Path::new(""))?)
}
