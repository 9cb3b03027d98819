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
pub const MAX_PLAN_BYTES: u64 = 2 << 30;
/// At most this many entries in a plan, or in its NNEF model archive.
const MAX_ENTRIES: usize = 100_000;

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
    /// Reads and verifies a plan file. Only a regular file (or a link to one) of at most
    /// [`MAX_PLAN_BYTES`] is read.
    pub fn read(path: impl AsRef<Path>) -> Result<Plan, PlanError> {
        let path = path.as_ref().to_path_buf();
        let bytes = oar_io::read_regular(&path, MAX_PLAN_BYTES).map_err(|source| PlanError::Io { path: path.clone(), source })?;
        Plan::from_bytes(path, &bytes)
    }

    /// Parses and verifies a plan held in memory; `path` is only used in messages.
    pub fn from_bytes(path: PathBuf, bytes: &[u8]) -> Result<Plan, PlanError> {
        let not_a_plan = |reason: String| PlanError::NotAPlan { path: path.clone(), reason };
        let entries = read_tar(bytes, "plan archive").map_err(not_a_plan)?;
        let first = entries.first().map(|(n, _)| n.clone());
        let mut by_name = BTreeMap::new();
        for (name, data) in entries {
            if by_name.insert(name.clone(), data).is_some() {
                return Err(not_a_plan(format!("entry `{name}` appears twice")));
            }
        }
        let entries = by_name;
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
        manifest.validate().map_err(|message| PlanError::Manifest { path: path.clone(), message })?;
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
        let Some(model) = entries.get(MODEL_ENTRY) else {
            return Err(PlanError::MissingEntry { path, entry: MODEL_ENTRY.into() });
        };
        // tract-nnef reads the nested archive on load: check its entry table here, so that a
        // declared size or entry kind it would trust is refused with the entry's name.
        read_tar(model, MODEL_ENTRY).map_err(not_a_plan)?;
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

/// The regular-file entries of a tar archive held in memory, in order, with every size checked
/// against the bytes that are actually there before anything is allocated. Directories are
/// skipped; links, devices and other kinds are refused by name.
fn read_tar(bytes: &[u8], what: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut archive = tar::Archive::new(bytes);
    let iter = archive.entries().map_err(|e| format!("{what}: not a tar archive ({e})"))?;
    let mut out = Vec::new();
    for entry in iter {
        let mut entry = entry.map_err(|e| format!("{what}: truncated or corrupt archive ({e})"))?;
        let name = entry
            .path()
            .map_err(|e| format!("{what}: bad entry name ({e})"))?
            .to_string_lossy()
            .into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(format!("{what}: entry `{name}` is a {kind:?} entry, expected a regular file"));
        }
        // The header's size is only a claim: no entry can hold more than the whole archive.
        let size = entry.size();
        if size > bytes.len() as u64 {
            return Err(format!("{what}: entry `{name}` declares {size} bytes, the archive holds only {}", bytes.len()));
        }
        if out.len() >= MAX_ENTRIES {
            return Err(format!("{what}: more than {MAX_ENTRIES} entries"));
        }
        let mut data = Vec::with_capacity(size as usize);
        entry
            .read_to_end(&mut data)
            .map_err(|e| format!("{what}: truncated entry `{name}` ({e})"))?;
        if data.len() as u64 != size {
            return Err(format!("{what}: truncated entry `{name}` ({} of {size} bytes)", data.len()));
        }
        out.push((name, data));
    }
    Ok(out)
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
    let (manifest, bytes) = plan_bytes(manifest, entries).map_err(|message| PlanError::Manifest { path: path.to_path_buf(), message })?;
    oar_io::write_atomic(path, &bytes).map_err(|source| PlanError::Io { path: path.to_path_buf(), source })?;
    Ok(manifest)
}

/// A plan's bytes, in memory: the manifest (format, checksums of `entries` and the oar ops the
/// model needs filled in) as the first entry, then the entries.
pub fn plan_bytes(manifest: &Manifest, entries: &[(&str, &[u8])]) -> Result<(Manifest, Vec<u8>), String> {
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
    let text = manifest.to_toml().map_err(|e| e.to_string())?;
    let mut builder = tar::Builder::new(Vec::new());
    let io = |e: std::io::Error| e.to_string();
    append(&mut builder, MANIFEST_ENTRY, text.as_bytes()).map_err(io)?;
    for (name, data) in entries {
        append(&mut builder, name, data).map_err(io)?;
    }
    let bytes = builder.into_inner().map_err(io)?;
    Ok((manifest, bytes))
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
