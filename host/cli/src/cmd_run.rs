//! `oar run --pipeline P.toml`: the device's pipeline runner (shared with `oar-edge run`), after
//! fetching and compiling the registry models the file names.

use crate::models::Zoo;
use anyhow::{Context, Result};
use oar_edge::RunArgs;
use std::process::ExitCode;

pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let file = oar_edge::run::load(args)?;
    let zoo = Zoo::open()?;
    for id in file.plan_ids() {
        zoo.plan(id).with_context(|| format!("preparing the plan `{id}` of {}", args.pipeline.display()))?;
    }
    let code = oar_edge::run::run_file(&file, args)?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
