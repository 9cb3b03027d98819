//! The `.oar` container: a tar archive whose first entry is `oar.toml`, followed by the entries
//! it lists with their sha256 (the NNEF model as a nested tar, labels, ...).

use crate::manifest::{Manifest, RequiredOp, FORMAT_VERSION, MIN_FORMAT_VERSION};
use crate::PlanError;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Name of the manifest entry; always first in the archive.
pub const MANIFEST_ENTRY: &str = "oar.toml";
/// Name of the NNEF model entry (a tar archive as tract-nnef writes it).
pub const MODEL_ENTRY: &str = "model.nnef.tar";
/// Name of the labels / dictionary entry (UTF-8, one label per line).
pub const LABELS_ENTRY: &str = "labels.txt";

/// Plans larger than this are refused before being read (a guard against pointing at the wrong file).
const MAX_PLAN_BYTES: u64 = 2 << 30;

/// Hex sha256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A plan read into memory and verified: manifest parsed, version accepted, every checksum right.
#[derive(Debug, Clone)]
pub struct Plan {
    pub path: PathBuf,
    pub manifest: Manifest,
    entries: BTreeMap<String, Vec<u8>>,
}

impl Plan {
    /// Reads and verifies a plan file.
    pub fn read(path: impl AsRef<Path>) -> Result<Plan, PlanError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| PlanError::Io { path: path.clone(), source };
        let meta = std::fs::metadata(&path).map_err(io)?;
        if meta.len() > MAX_PLAN_BYTES {
            return Err(PlanError::NotAPlan {
                path,
                reason: format!("{} bytes is larger than any plan", meta.len()),
            });
        }
        let bytes = std::fs::read(&path).map_err(io)?;
        Plan::from_bytes(path, &bytes)
    }

    /// Parses and verifies a plan held in memory; `path` is only used in messages.
    pub fn from_bytes(path: PathBuf, bytes: &[u8]) -> Result<Plan, PlanError> {
        let not_a_plan = |reason: String| PlanError::NotAPlan { path: path.clone(), reason };
        let mut archive = tar::Archive::new(bytes);
        let mut entries = BTreeMap::new();
        let mut first = None;
        let iter = archive
            .entries()
            .map_err(|e| not_a_plan(format!("not a plan archive ({e})")))?;
        for entry in iter {
            let mut entry = entry.map_err(|e| not_a_plan(format!("truncated or corrupt archive ({e})")))?;
            let name = entry
                .path()
                .map_err(|e| not_a_plan(format!("bad entry name ({e})")))?
                .to_string_lossy()
                .into_owned();
            let mut data = Vec::with_capacity(entry.size() as usize);
            entry
                .read_to_end(&mut data)
                .map_err(|e| not_a_plan(format!("truncated entry {name} ({e})")))?;
            first.get_or_insert_with(|| name.clone());
            entries.insert(name, data);
        }
        if first.as_deref() != Some(MANIFEST_ENTRY) {
            return Err(not_a_plan(format!(
                "expected `{MANIFEST_ENTRY}` as the first entry of an oar plan, found {}",
                first.map(|f| format!("`{f}`")).unwrap_or_else(|| "an empty archive".into())
            )));
        }
        let text = std::str::from_utf8(&entries[MANIFEST_ENTRY])
            .map_err(|_| not_a_plan(format!("`{MANIFEST_ENTRY}` is not UTF-8")))?;
        // Check the version before anything else, so that a newer plan gets the right advice
        // even when the rest of its manifest is not understood here.
        let format = probe_format(text).ok_or_else(|| not_a_plan(format!("`{MANIFEST_ENTRY}` has no `format` version")))?;
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&format) {
            return Err(PlanError::Version { path, found: format, min: MIN_FORMAT_VERSION, max: FORMAT_VERSION });
        }
        let manifest = Manifest::from_toml(text)
            .map_err(|e| PlanError::Manifest { path: path.clone(), message: e.to_string() })?;
        for op in &manifest.required_ops {
            if !oar_ops::has_op(&op.name, op.version) {
                return Err(PlanError::MissingOp {
                    path,
                    op: op.name.clone(),
                    version: op.version,
                    since: op.oar.clone(),
                    runtime: env!("CARGO_PKG_VERSION").into(),
                });
            }
        }
        for (name, want) in &manifest.entries {
            let data = entries
                .get(name)
                .ok_or_else(|| PlanError::MissingEntry { path: path.clone(), entry: name.clone() })?;
            let got = sha256_hex(data);
            if &got != want {
                return Err(PlanError::Checksum { path, entry: name.clone(), expected: want.clone(), actual: got });
            }
        }
        for name in entries.keys() {
            if name != MANIFEST_ENTRY && !manifest.entries.contains_key(name) {
                return Err(not_a_plan(format!("entry `{name}` is not listed in the manifest")));
            }
        }
        if !entries.contains_key(MODEL_ENTRY) {
            return Err(PlanError::MissingEntry { path, entry: MODEL_ENTRY.into() });
        }
        Ok(Plan { path, manifest, entries })
    }

    /// A plan that exists only in memory (no entries besides the manifest): for models being
    /// evaluated before they are written.
    pub fn in_memory(manifest: Manifest) -> Plan {
        Plan { path: PathBuf::from(format!("<{} in memory>", manifest.model.id)), manifest, entries: BTreeMap::new() }
    }

    /// The raw bytes of an entry.
    pub fn entry(&self, name: &str) -> Option<&[u8]> {
        self.entries.get(name).map(|v| v.as_slice())
    }

    /// Entry names and sizes, manifest included.
    pub fn entry_sizes(&self) -> Vec<(String, usize)> {
        self.entries.iter().map(|(k, v)| (k.clone(), v.len())).collect()
    }

    /// The labels or character dictionary, one per line, if the plan has them.
    pub fn labels(&self) -> Result<Option<Vec<String>>, PlanError> {
        let Some(info) = &self.manifest.labels else { return Ok(None) };
        let data = self
            .entry(&info.entry)
            .ok_or_else(|| PlanError::MissingEntry { path: self.path.clone(), entry: info.entry.clone() })?;
        let text = std::str::from_utf8(data).map_err(|_| PlanError::NotAPlan {
            path: self.path.clone(),
            reason: format!("`{}` is not UTF-8", info.entry),
        })?;
        let labels: Vec<String> = split_labels(text);
        if labels.len() != info.count {
            return Err(PlanError::Manifest {
                path: self.path.clone(),
                message: format!("`{}` holds {} labels, the manifest says {}", info.entry, labels.len(), info.count),
            });
        }
        Ok(Some(labels))
    }
}

/// Splits a labels file into lines, keeping labels that are themselves whitespace (a dictionary may
/// hold a space character), dropping only the final newline.
pub fn split_labels(text: &str) -> Vec<String> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return vec![];
    }
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l).to_string()).collect()
}

/// Joins labels into a labels file.
pub fn join_labels(labels: &[String]) -> String {
    let mut s = labels.join("\n");
    s.push('\n');
    s
}

fn probe_format(text: &str) -> Option<u32> {
    #[derive(serde::Deserialize)]
    struct Probe {
        format: u32,
    }
    toml::from_str::<Probe>(text).ok().map(|p| p.format)
}

/// Writes a plan atomically: the manifest (with the checksums of `entries` filled in) and the entries,
/// to a temporary file beside `path`, renamed into place only once complete.
pub fn write_plan(path: &Path, manifest: &Manifest, entries: &[(&str, &[u8])]) -> Result<Manifest, PlanError> {
    let mut manifest = manifest.clone();
    manifest.format = FORMAT_VERSION;
    manifest.entries = entries.iter().map(|(n, d)| (n.to_string(), sha256_hex(d))).collect();
    if let Some((_, model)) = entries.iter().find(|(n, _)| *n == MODEL_ENTRY) {
        for op in required_ops(model) {
            if !manifest.required_ops.contains(&op) {
                manifest.required_ops.push(op);
            }
        }
    }
    let text = manifest
        .to_toml()
        .map_err(|e| PlanError::Manifest { path: path.to_path_buf(), message: e.to_string() })?;
    let io = |source| PlanError::Io { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new().prefix(".oar-plan-").suffix(".part").tempfile_in(&dir).map_err(io)?;
    {
        let mut builder = tar::Builder::new(std::io::BufWriter::new(tmp.as_file()));
        append(&mut builder, MANIFEST_ENTRY, text.as_bytes()).map_err(io)?;
        for (name, data) in entries {
            append(&mut builder, name, data).map_err(io)?;
        }
        let mut w = builder.into_inner().map_err(io)?;
        w.flush().map_err(io)?;
    }
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(manifest)
}

/// The oar ops invoked in an NNEF model archive (its `graph.nnef`), by fragment name `NAME_vN`.
fn required_ops(model_tar: &[u8]) -> Vec<RequiredOp> {
    let mut graph = String::new();
    if let Ok(entries) = tar::Archive::new(model_tar).entries() {
        for mut e in entries.flatten() {
            if e.path().is_ok_and(|p| p.ends_with("graph.nnef")) {
                let _ = e.read_to_string(&mut graph);
            }
        }
    }
    oar_ops::OPS
        .iter()
        .filter(|o| graph.contains(&format!("{}_v{}(", o.name, o.version)))
        .map(|o| RequiredOp { name: o.name.into(), version: o.version, oar: o.since.into() })
        .collect()
}

fn append<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0); // deterministic plans: same inputs, same bytes
    header.set_cksum();
    b.append_data(&mut header, name, data)
}
