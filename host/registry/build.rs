//! Embeds every `models/*.toml` of the workspace into the library (as `include_str!`), so that
//! `Registry::builtin()` works from any directory and a new registry file needs no code change.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let models = manifest.join("../../models");
    println!("cargo:rerun-if-changed={}", models.display());

    let mut names: Vec<String> = match std::fs::read_dir(&models) {
        Ok(dir) => dir
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml") && !n.starts_with('.'))
            .collect(),
        Err(e) => panic!("cannot read the zoo registry {}: {e}", models.display()),
    };
    names.sort();

    let mut code = String::from(
        "/// `(file name, contents)` of every `models/*.toml`, embedded at build time.\n",
    );
    code.push_str("pub(crate) const BUILTIN: &[(&str, &str)] = &[\n");
    for name in &names {
        let path = models.join(name);
        let path = path.canonicalize().unwrap_or(path);
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("write to String");
    }
    code.push_str("];\n");

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("builtin_models.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
