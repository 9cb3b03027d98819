//! `oar ocr`: read the text in images (the subcommand is shared with `oar-edge`, in
//! `oar_vision::cli`; here plan names are registry ids, fetched and compiled on first use).

use crate::models::Zoo;
use anyhow::{Context, Result};
use std::process::ExitCode;

pub use oar_vision::cli::OcrArgs;

pub fn run(args: &OcrArgs) -> Result<ExitCode> {
    let zoo = Zoo::open()?;
    let failed = args.run(|name, role| zoo.task(name).context(role.to_string()))?;
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
