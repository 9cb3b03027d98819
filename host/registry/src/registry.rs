//! The registry files: schema, parsing and validation.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_models.rs"));
}

/// The tasks a registry entry may declare.
pub const TASKS: &[&str] = &[
    "text-detection",
    "text-recognition",
    "text-direction",
    "object-detection",
    "image-classification",
];

/// The resize policies `[input.resize] policy` may name.
pub const RESIZE_POLICIES: &[&str] = &["limit-side", "fixed-height", "stretch", "short-side-crop"];

/// Keys of `[labels]`: exactly one of them says where the labels come from.
const LABEL_SOURCES: &[&str] = &["list", "onnx_metadata", "file"];

/// Something wrong with the registry or a lookup in it.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A registry directory or file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A registry file is not valid TOML for the schema (unknown fields are named here).
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    /// A registry file parses but breaks a rule of the schema.
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    /// Two registry files declare the same id.
    #[error("model id `{id}` is declared twice: in {first} and in {second}")]
    DuplicateId {
        id: String,
        first: String,
        second: String,
    },
    /// No entry has this id.
    #[error("unknown model `{id}`; known models: {}", known.join(", "))]
    UnknownModel { id: String, known: Vec<String> },
}

/// One model of the zoo: one `models/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Unique id, equal to the file's stem (`ppocr-v4-det`).
    pub id: String,
    /// One of [`TASKS`].
    pub task: String,
    /// One line for humans.
    pub description: String,
    /// SPDX licence of the weights.
    pub license: String,
    /// Where the model file comes from.
    pub source: Source,
    /// Further files from the same package (e.g. a character dictionary), by role.
    #[serde(default)]
    pub files: Vec<ExtraFile>,
    /// How to turn an image into the input tensor: `name`, `layout`, `color`, `scale`, `mean`,
    /// `std` and a `[input.resize]` table whose `policy` is one of [`RESIZE_POLICIES`].
    pub input: toml::Table,
    /// Task-specific post-processing parameters (free-form).
    #[serde(default)]
    pub post: toml::Table,
    /// Where the labels come from: `list = [..]`, `onnx_metadata = "key"` or `file = "<role>"`.
    #[serde(default)]
    pub labels: Option<toml::Table>,
}

/// Package-registry coordinates of the model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Only `pypi` for now.
    pub registry: String,
    /// Package name as the registry spells it (`rapidocr-onnxruntime`).
    pub package: String,
    /// Exact version (`1.4.4`).
    pub version: String,
    /// Path of the file inside the package's wheel.
    pub path: String,
    /// sha256 of the file, 64 lowercase hex digits: of `path` as it is inside the wheel of
    /// `package` `version` on `registry` (the fields above say where it came from). To pin a new
    /// version, put any 64 digits here and run `oar fetch ID`: the mismatch error prints the
    /// file's digest (check the file before trusting it).
    pub sha256: String,
    /// What the file is: one of [`SOURCE_FORMATS`]; `onnx` when absent.
    #[serde(default = "default_format", skip_serializing_if = "is_default_format")]
    pub format: String,
    /// `tensorflow`: the tensors where the compiler cuts the graph's input side (each becomes a
    /// model input, e.g. past TF's pre-processor: `["Preprocessor/sub"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// `tensorflow`: the tensors that become the model's outputs (`["concat", "concat_1"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
}

/// The model file formats `[source] format` may name.
pub const SOURCE_FORMATS: &[&str] = &["onnx", "tensorflow"];

fn default_format() -> String {
    "onnx".into()
}

fn is_default_format(f: &String) -> bool {
    f == "onnx"
}

/// A further file taken from the same wheel as the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraFile {
    /// What the file is for (`dictionary`); unique within the entry.
    pub role: String,
    /// Path inside the wheel.
    pub path: String,
    /// sha256 of the file, 64 lowercase hex digits (pinned as [`Source::sha256`] is).
    pub sha256: String,
}

impl ModelEntry {
    /// Parses and validates one registry file's text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<ModelEntry, RegistryError> {
        let entry: ModelEntry = toml::from_str(text).map_err(|e| RegistryError::Parse {
            file: origin.to_string(),
            message: e.to_string(),
        })?;
        entry.validate().map_err(|message| RegistryError::Invalid {
            file: origin.to_string(),
            message,
        })?;
        Ok(entry)
    }

    /// The extra file with this role.
    pub fn file(&self, role: &str) -> Option<&ExtraFile> {
        self.files.iter().find(|f| f.role == role)
    }

    /// `(role, path in the package, sha256)` of every file to fetch; the model's role is `model`.
    pub(crate) fn wanted(&self) -> Vec<(&str, &str, &str)> {
        let mut all = vec![(
            "model",
            self.source.path.as_str(),
            self.source.sha256.as_str(),
        )];
        all.extend(
            self.files
                .iter()
                .map(|f| (f.role.as_str(), f.path.as_str(), f.sha256.as_str())),
        );
        all
    }

    fn validate(&self) -> Result<(), String> {
        if self.id.is_empty()
            || !self.id.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == '_'
            })
        {
            return Err(format!(
                "id `{}` must be non-empty lowercase ASCII letters, digits, '-', '_' or '.'",
                self.id
            ));
        }
        if !TASKS.contains(&self.task.as_str()) {
            return Err(format!(
                "task `{}` is not one of {}",
                self.task,
                TASKS.join(", ")
            ));
        }
        for (what, value) in [
            ("source.registry", &self.source.registry),
            ("source.package", &self.source.package),
            ("source.version", &self.source.version),
            ("source.path", &self.source.path),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{what} is empty"));
            }
        }
        check_sha256("source.sha256", &self.source.sha256)?;
        match self.source.format.as_str() {
            "onnx" if !self.source.inputs.is_empty() || !self.source.outputs.is_empty() => {
                return Err("source.inputs and source.outputs (cut points) are only for format = \"tensorflow\"".into())
            }
            "onnx" => {}
            "tensorflow" => {
                for (what, names) in [("source.inputs", &self.source.inputs), ("source.outputs", &self.source.outputs)] {
                    if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
                        return Err(format!(
                            "{what} must name at least one tensor of the graph (a TensorFlow graph is cut there)"
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    "source.format `{other}` is not one of {}",
                    SOURCE_FORMATS.join(", ")
                ))
            }
        }

        let mut roles = HashSet::new();
        let mut names = HashSet::new();
        names.insert(file_name(&self.source.path).to_string());
        for f in &self.files {
            check_sha256(&format!("files `{}` sha256", f.role), &f.sha256)?;
            if f.role.is_empty() || f.role == "model" {
                return Err(format!("files: role `{}` is reserved or empty", f.role));
            }
            if !roles.insert(f.role.as_str()) {
                return Err(format!("files: role `{}` appears twice", f.role));
            }
            if !names.insert(file_name(&f.path).to_string()) {
                return Err(format!(
                    "files: `{}` has the same file name as another file of this entry",
                    f.path
                ));
            }
        }
        for path in std::iter::once(&self.source.path).chain(self.files.iter().map(|f| &f.path)) {
            if path.starts_with('/') || path.split('/').any(|p| p == ".." || p.is_empty()) {
                return Err(format!(
                    "path `{path}` must be relative, without empty or `..` components"
                ));
            }
        }

        self.validate_input()?;

        if let Some(labels) = &self.labels {
            for key in labels.keys() {
                if !LABEL_SOURCES.contains(&key.as_str()) {
                    return Err(format!(
                        "labels: unknown field `{key}`, expected one of {}",
                        LABEL_SOURCES.join(", ")
                    ));
                }
            }
            if labels.len() != 1 {
                return Err(format!(
                    "labels: give exactly one of {}",
                    LABEL_SOURCES.join(", ")
                ));
            }
            if let Some((k, v)) = labels.iter().next() {
                let ok = match (k.as_str(), v) {
                    ("list", toml::Value::Array(items)) => {
                        !items.is_empty() && items.iter().all(|v| v.is_str())
                    }
                    ("onnx_metadata", toml::Value::String(key)) => !key.is_empty(),
                    ("file", toml::Value::String(role)) => {
                        if self.file(role).is_none() {
                            return Err(format!(
                                "labels.file names role `{role}`, which no [[files]] entry has"
                            ));
                        }
                        true
                    }
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "labels.{k} must be a non-empty list of strings (list) or a string \
                         (onnx_metadata: the metadata key; file: a [[files]] role), found {v}"
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_input(&self) -> Result<(), String> {
        let input = &self.input;
        match input.get("name") {
            Some(toml::Value::String(s)) if !s.is_empty() => {}
            _ => return Err("input.name must be a non-empty string".into()),
        }
        for (key, allowed) in [
            ("layout", &["NCHW", "NHWC"][..]),
            ("color", &["BGR", "RGB"][..]),
        ] {
            match input.get(key) {
                Some(toml::Value::String(s)) if allowed.contains(&s.as_str()) => {}
                other => {
                    return Err(format!(
                        "input.{key} must be one of {}, found {}",
                        allowed.join(", "),
                        show(other)
                    ))
                }
            }
        }
        for key in ["mean", "std"] {
            if let Some(v) = input.get(key) {
                match v.as_array() {
                    Some(a) if a.iter().all(|x| x.is_float() || x.is_integer()) => {}
                    _ => return Err(format!("input.{key} must be a list of numbers")),
                }
            }
        }
        match input
            .get("resize")
            .and_then(|r| r.as_table())
            .and_then(|r| r.get("policy"))
        {
            Some(toml::Value::String(p)) if RESIZE_POLICIES.contains(&p.as_str()) => Ok(()),
            other => Err(format!(
                "input.resize.policy must be one of {}, found {}",
                RESIZE_POLICIES.join(", "),
                show(other)
            )),
        }
    }
}

fn show(v: Option<&toml::Value>) -> String {
    v.map_or_else(|| "nothing".to_string(), |v| v.to_string())
}

fn check_sha256(what: &str, s: &str) -> Result<(), String> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(format!("{what} `{s}` must be 64 lowercase hex digits"))
    }
}

/// Last component of a `/`-separated path.
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The set of known models.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<ModelEntry>,
}

impl Registry {
    /// The `models/*.toml` of the workspace, embedded at build time.
    pub fn builtin() -> Result<Registry, RegistryError> {
        Self::from_texts(
            builtin::BUILTIN
                .iter()
                .map(|(name, text)| (format!("models/{name}"), name.to_string(), *text)),
        )
    }

    /// Every `*.toml` in `dir`.
    pub fn load_dir(dir: &Path) -> Result<Registry, RegistryError> {
        let read_err = |source| RegistryError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths = Vec::new();
        for item in std::fs::read_dir(dir).map_err(read_err)? {
            let path = item.map_err(read_err)?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut texts = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| RegistryError::Read {
                path: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            texts.push((path.display().to_string(), name, text));
        }
        Self::from_texts(
            texts
                .iter()
                .map(|(origin, name, text)| (origin.clone(), name.clone(), text.as_str())),
        )
    }

    fn from_texts<'a>(
        texts: impl IntoIterator<Item = (String, String, &'a str)>,
    ) -> Result<Registry, RegistryError> {
        let mut entries: Vec<ModelEntry> = Vec::new();
        let mut origins: Vec<String> = Vec::new();
        for (origin, name, text) in texts {
            let entry = ModelEntry::from_toml(text, &origin)?;
            let stem = name.strip_suffix(".toml").unwrap_or(&name);
            if entry.id != stem {
                return Err(RegistryError::Invalid {
                    file: origin,
                    message: format!("id `{}` must equal the file name `{stem}`", entry.id),
                });
            }
            if let Some(i) = entries.iter().position(|e| e.id == entry.id) {
                return Err(RegistryError::DuplicateId {
                    id: entry.id,
                    first: origins[i].clone(),
                    second: origin,
                });
            }
            log::trace!("registry: {} from {origin}", entry.id);
            entries.push(entry);
            origins.push(origin);
        }
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Registry { entries })
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Result<&ModelEntry, RegistryError> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| RegistryError::UnknownModel {
                id: id.to_string(),
                known: self.entries.iter().map(|e| e.id.clone()).collect(),
            })
    }

    /// All entries, sorted by id.
    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
id = "m"
task = "text-direction"
description = "d"
license = "Apache-2.0"
[source]
registry = "pypi"
package = "p"
version = "1"
path = "p/m.onnx"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[input]
name = "x"
layout = "NCHW"
color = "BGR"
[input.resize]
policy = "stretch"
width = 4
height = 4
"#;

    #[test]
    fn minimal_entry_parses() {
        let e = ModelEntry::from_toml(MINIMAL, "m.toml").unwrap();
        assert_eq!(e.id, "m");
        assert!(e.files.is_empty() && e.post.is_empty() && e.labels.is_none());
    }

    #[test]
    fn unknown_top_level_field_is_named() {
        let text = MINIMAL.replace("license = ", "colour = \"red\"\nlicense = ");
        let err = ModelEntry::from_toml(&text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.toml") && err.contains("colour"), "{err}");
    }

    #[test]
    fn unknown_source_field_is_named() {
        let text = MINIMAL.replace("version = \"1\"", "version = \"1\"\nmirror = \"x\"");
        let err = ModelEntry::from_toml(&text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.toml") && err.contains("mirror"), "{err}");
    }

    #[test]
    fn bad_sha_task_policy_labels_are_rejected() {
        for (from, to, needle) in [
            (
                "\"0000000000000000000000000000000000000000000000000000000000000000\"",
                "\"abc\"",
                "sha256",
            ),
            ("text-direction", "teleportation", "task"),
            ("policy = \"stretch\"", "policy = \"squash\"", "policy"),
            (
                "height = 4\n",
                "height = 4\n[labels]\nfile = \"dictionary\"\n",
                "dictionary",
            ),
            (
                "height = 4\n",
                "height = 4\n[labels]\nlist = [\"a\"]\nonnx_metadata = \"c\"\n",
                "exactly one",
            ),
            (
                "height = 4\n",
                "height = 4\n[labels]\nnames = [\"a\"]\n",
                "names",
            ),
        ] {
            let text = MINIMAL.replace(from, to);
            assert_ne!(text, MINIMAL);
            let err = ModelEntry::from_toml(&text, "m.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn tensorflow_sources_need_cut_points() {
        let tf = MINIMAL.replace(
            "path = \"p/m.onnx\"",
            "path = \"p/m.pb\"\nformat = \"tensorflow\"\ninputs = [\"a/sub\"]\noutputs = [\"concat\", \"concat_1\"]",
        );
        let e = ModelEntry::from_toml(&tf, "m.toml").unwrap();
        assert_eq!(e.source.format, "tensorflow");
        assert_eq!(e.source.outputs, ["concat", "concat_1"]);
        assert_eq!(ModelEntry::from_toml(MINIMAL, "m.toml").unwrap().source.format, "onnx");
        for (from, to, needle) in [
            ("inputs = [\"a/sub\"]\n", "", "source.inputs"),
            ("outputs = [\"concat\", \"concat_1\"]", "outputs = []", "source.outputs"),
            ("format = \"tensorflow\"", "format = \"caffe\"", "caffe"),
            ("format = \"tensorflow\"", "format = \"onnx\"", "only for format"),
        ] {
            let text = tf.replace(from, to);
            assert_ne!(text, tf);
            let err = ModelEntry::from_toml(&text, "m.toml").unwrap_err().to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn load_dir_checks_file_name_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.toml"), MINIMAL).unwrap();
        let r = Registry::load_dir(dir.path()).unwrap();
        assert_eq!(r.entries().len(), 1);
        std::fs::write(dir.path().join("n.toml"), MINIMAL).unwrap();
        let err = Registry::load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("n.toml") && err.contains("file name"), "{err}");
    }

    #[test]
    fn unknown_model_lists_known_ids() {
        let r = Registry::builtin().unwrap();
        let err = r.get("no-such-model").unwrap_err().to_string();
        assert!(err.contains("no-such-model"), "{err}");
        for e in r.entries() {
            assert!(err.contains(&e.id), "{err}");
        }
    }
}
