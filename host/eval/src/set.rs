//! Evaluation images: a `labels.jsonl` set (ground-truth text and boxes, as written by
//! tools/gen_ocr_set.py) or a plain folder of images (scored against the float model).

use crate::EvalError;
use oar_vision::geometry::Pt;
use oar_vision::Rgb;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One image of a set, decoded, with its ground truth when the set has one.
pub struct Sample {
    pub path: PathBuf,
    pub image: Rgb,
    /// `line` or `scene` in a labels.jsonl set, empty for a plain folder.
    pub kind: String,
    /// Ground-truth lines: text and box (TL, TR, BR, BL).
    pub lines: Vec<(String, [Pt; 4])>,
}

/// The images of a set, in file order.
pub struct EvalSet {
    pub dir: PathBuf,
    pub samples: Vec<Sample>,
}

#[derive(Deserialize)]
struct Label {
    image: String,
    kind: String,
    lines: Vec<LabelLine>,
}

#[derive(Deserialize)]
struct LabelLine {
    text: String,
    #[serde(rename = "box")]
    quad: [Pt; 4],
}

fn set_err(path: &Path, message: impl Into<String>) -> EvalError {
    EvalError::Set { path: path.to_path_buf(), message: message.into() }
}

const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// Whether `path` is the ground truth of a tools/gen_ocr_set.py set: other tools (e.g. the
/// orientation set of tools/classify_ref.py) write a `labels.jsonl` of their own, without text lines;
/// such folders are plain image folders here.
fn is_ocr_labels(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return path.is_file() };
    let first = text.lines().find(|l| !l.trim().is_empty());
    first.is_none_or(|l| serde_json::from_str::<serde_json::Value>(l).map_or(true, |v| v.get("lines").is_some()))
}

impl EvalSet {
    /// Loads the images of `kind` (`line`, `scene`; `None`: all) from `dir`, at most `limit`.
    /// A folder with a `labels.jsonl` is read through it; any other folder is a plain image
    /// folder (no ground truth, `kind` ignored). An image that cannot be decoded is an error
    /// naming it: an evaluation set must be clean.
    pub fn load(dir: &Path, kind: Option<&str>, limit: Option<usize>) -> Result<EvalSet, EvalError> {
        let labels = dir.join("labels.jsonl");
        let mut entries: Vec<(PathBuf, String, Vec<(String, [Pt; 4])>)> = vec![];
        if is_ocr_labels(&labels) {
            let text = std::fs::read_to_string(&labels).map_err(|e| set_err(&labels, e.to_string()))?;
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let l: Label = serde_json::from_str(line)
                    .map_err(|e| set_err(&labels, format!("line {}: expected {{\"image\", \"kind\", \"lines\": [{{\"text\", \"box\"}}]}}: {e}", i + 1)))?;
                if kind.is_none_or(|k| k == l.kind) {
                    entries.push((dir.join(&l.image), l.kind, l.lines.into_iter().map(|x| (x.text, x.quad)).collect()));
                }
            }
        } else {
            let read = std::fs::read_dir(dir).map_err(|e| set_err(dir, format!("cannot read the folder: {e}")))?;
            let mut paths: Vec<PathBuf> = read
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
                })
                .collect();
            paths.sort();
            entries = paths.into_iter().map(|p| (p, String::new(), vec![])).collect();
        }
        entries.truncate(limit.unwrap_or(usize::MAX));
        if entries.is_empty() {
            let what = kind.map(|k| format!("`{k}` images")).unwrap_or_else(|| "images".into());
            return Err(set_err(dir, format!("no {what} to evaluate on (expected a labels.jsonl set or a folder of PNG/JPEG/BMP)")));
        }
        let mut samples = Vec::with_capacity(entries.len());
        for (path, kind, lines) in entries {
            let image = Rgb::open(&path).map_err(|source| EvalError::Image { path: path.clone(), source })?;
            samples.push(Sample { path, image, kind, lines });
        }
        log::info!("{}: {} evaluation images", dir.display(), samples.len());
        Ok(EvalSet { dir: dir.to_path_buf(), samples })
    }

    /// Errors unless every sample has ground truth (a labels.jsonl set).
    pub fn require_labels(&self, task: &str) -> Result<(), EvalError> {
        if self.samples.iter().any(|s| s.kind.is_empty()) {
            return Err(set_err(&self.dir, format!("a `{task}` model is scored against ground truth: give a labels.jsonl set (tools/gen_ocr_set.py)")));
        }
        Ok(())
    }
}
