//! Evaluation images with their ground truth, in the formats users already have:
//!
//! - `labels.jsonl` (tools/gen_ocr_set.py): `{"image", "kind": "line"|"scene", "lines": [{"text", "box"}]}`;
//! - PaddleOCR detection labels (`Label.txt` of PPOCRLabel, `det_gt.txt`):
//!   `path\t[{"transcription": "…", "points": [[x, y], …]}, …]` — scenes;
//! - PaddleOCR recognition labels (`rec_gt.txt`): `path\ttext` — line crops;
//! - COCO detection JSON (`images`, `annotations` with `bbox` [x, y, w, h], `categories`) — scenes;
//! - class folders (`DIR/CLASS/*.png`) — one image per sample, the folder's name as its label;
//! - a plain folder of images (scored against the float model).
//!
//! A label file may be given itself or found in the folder given. Paths in it are taken relative
//! to the file's folder, then to that folder's parent (PaddleOCR's `data_dir` convention).

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

/// Label files looked for in a folder, in this order.
const LABEL_FILES: [&str; 5] = ["labels.jsonl", "Label.txt", "det_gt.txt", "rec_gt.txt", "instances.json"];

fn is_image_name(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// One labelled image before decoding: path, kind, lines.
type Entry = (PathBuf, String, Vec<(String, [Pt; 4])>);

/// A PaddleOCR detection label: one text region.
#[derive(Deserialize)]
struct PaddleRegion {
    transcription: String,
    points: Vec<Pt>,
}

/// The axis-aligned quad (TL, TR, BR, BL) around `points`.
fn quad_around(points: &[Pt]) -> [Pt; 4] {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for p in points {
        (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
    }
    [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
}

/// Where an image named in label file `file` is: relative to its folder, else to that folder's
/// parent; an absolute path as it is.
fn resolve(file: &Path, name: &str) -> Result<PathBuf, String> {
    let rel = Path::new(name);
    if rel.is_absolute() {
        return if rel.is_file() { Ok(rel.to_path_buf()) } else { Err(format!("image {name} does not exist")) };
    }
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut tried = vec![];
    for base in [Some(dir), dir.parent()].into_iter().flatten() {
        let p = base.join(rel);
        if p.is_file() {
            return Ok(p);
        }
        tried.push(p.display().to_string());
    }
    Err(format!("image {name} does not exist (looked for {})", tried.join(" and ")))
}

/// A PaddleOCR label file: detection (`path\t[{transcription, points}]`) or recognition
/// (`path\ttext`) lines, told apart by whether the second field is a JSON list.
fn read_paddle(file: &Path) -> Result<Vec<Entry>, EvalError> {
    let text = std::fs::read_to_string(file).map_err(|e| set_err(file, e.to_string()))?;
    let mut out = vec![];
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = |m: String| set_err(file, format!("line {}: {m}", i + 1));
        let (name, label) = line.split_once('\t').ok_or_else(|| at("expected `image path<TAB>label` (PaddleOCR label file)".into()))?;
        let path = resolve(file, name.trim()).map_err(at)?;
        if label.trim_start().starts_with('[') {
            let regions: Vec<PaddleRegion> = serde_json::from_str(label)
                .map_err(|e| at(format!("expected [{{\"transcription\": …, \"points\": [[x, y], …]}}] (PaddleOCR detection label): {e}")))?;
            let mut lines = vec![];
            for r in regions {
                if r.points.len() < 3 {
                    return Err(at(format!("a region of {} points (at least 3 expected)", r.points.len())));
                }
                let quad = if r.points.len() == 4 { [r.points[0], r.points[1], r.points[2], r.points[3]] } else { quad_around(&r.points) };
                lines.push((r.transcription, quad));
            }
            out.push((path, "scene".to_string(), lines));
        } else {
            out.push((path, "line".to_string(), vec![(label.to_string(), [[0.0; 2]; 4])]));
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Coco {
    images: Vec<CocoImage>,
    #[serde(default)]
    annotations: Vec<CocoAnnotation>,
    #[serde(default)]
    categories: Vec<CocoCategory>,
}

#[derive(Deserialize)]
struct CocoImage {
    id: u64,
    file_name: String,
}

#[derive(Deserialize)]
struct CocoAnnotation {
    image_id: u64,
    category_id: u64,
    bbox: [f64; 4],
}

#[derive(Deserialize)]
struct CocoCategory {
    id: u64,
    name: String,
}

/// COCO detection JSON: each image a scene, each annotation a box named by its category. Images
/// are looked for beside the file, in its `images/` folder, then in its parent.
fn read_coco(file: &Path) -> Result<Vec<Entry>, EvalError> {
    let text = std::fs::read_to_string(file).map_err(|e| set_err(file, e.to_string()))?;
    let coco: Coco = serde_json::from_str(&text)
        .map_err(|e| set_err(file, format!("expected COCO detection JSON (images, annotations with bbox [x, y, w, h], categories): {e}")))?;
    let names: std::collections::BTreeMap<u64, &str> = coco.categories.iter().map(|c| (c.id, c.name.as_str())).collect();
    let mut out = vec![];
    for img in &coco.images {
        let path = resolve(file, &img.file_name)
            .or_else(|e| resolve(file, &format!("images/{}", img.file_name)).map_err(|_| e))
            .map_err(|e| set_err(file, format!("image id {}: {e}", img.id)))?;
        let lines = coco
            .annotations
            .iter()
            .filter(|a| a.image_id == img.id)
            .map(|a| {
                let [x, y, w, h] = a.bbox;
                let name = names.get(&a.category_id).map_or_else(|| a.category_id.to_string(), |n| n.to_string());
                (name, [[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
            })
            .collect();
        out.push((path, "scene".to_string(), lines));
    }
    Ok(out)
}

/// Class folders: `dir/CLASS/image` for every sub-folder holding images; None when `dir` has
/// images of its own or no such sub-folder.
fn read_class_folders(dir: &Path) -> Result<Option<Vec<Entry>>, EvalError> {
    let read = std::fs::read_dir(dir).map_err(|e| set_err(dir, format!("cannot read the folder: {e}")))?;
    let mut subdirs = vec![];
    for e in read.filter_map(|e| e.ok()) {
        let p = e.path();
        if p.is_dir() {
            subdirs.push(p);
        } else if is_image_name(&p) {
            return Ok(None);
        }
    }
    subdirs.sort();
    let mut out = vec![];
    for sub in subdirs {
        let class = sub.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let mut images: Vec<PathBuf> = std::fs::read_dir(&sub)
            .map_err(|e| set_err(&sub, format!("cannot read the folder: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_image_name(p))
            .collect();
        images.sort();
        out.extend(images.into_iter().map(|p| (p, "class".to_string(), vec![(class.clone(), [[0.0; 2]; 4])])));
    }
    Ok((!out.is_empty()).then_some(out))
}

/// The labelled images of `path` (a label file or a folder), in the set's order, not decoded.
fn entries(path: &Path) -> Result<Vec<Entry>, EvalError> {
    if path.is_file() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        return if name.ends_with(".jsonl") {
            read_jsonl(path)
        } else if name.ends_with(".json") {
            read_coco(path)
        } else if name.ends_with(".txt") {
            read_paddle(path)
        } else {
            Err(set_err(path, "unknown label file (expected labels.jsonl, a PaddleOCR .txt label file, or COCO .json)"))
        };
    }
    for name in LABEL_FILES {
        let f = path.join(name);
        if f.is_file() && (name != "labels.jsonl" || is_ocr_labels(&f)) {
            return entries(&f);
        }
    }
    if let Some(classes) = read_class_folders(path)? {
        return Ok(classes);
    }
    let read = std::fs::read_dir(path).map_err(|e| set_err(path, format!("cannot read the folder: {e}")))?;
    let mut paths: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && is_image_name(p)).collect();
    paths.sort();
    Ok(paths.into_iter().map(|p| (p, String::new(), vec![])).collect())
}

/// The image files of a set or calibration source (any format above), in order, not decoded.
pub fn image_paths(path: &Path) -> Result<Vec<PathBuf>, EvalError> {
    Ok(entries(path)?.into_iter().map(|e| e.0).collect())
}

fn read_jsonl(labels: &Path) -> Result<Vec<Entry>, EvalError> {
    let dir = labels.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(labels).map_err(|e| set_err(labels, e.to_string()))?;
    let mut out = vec![];
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let l: Label = serde_json::from_str(line)
            .map_err(|e| set_err(labels, format!("line {}: expected {{\"image\", \"kind\", \"lines\": [{{\"text\", \"box\"}}]}}: {e}", i + 1)))?;
        out.push((dir.join(&l.image), l.kind, l.lines.into_iter().map(|x| (x.text, x.quad)).collect()));
    }
    Ok(out)
}

/// Whether `path` is the ground truth of a tools/gen_ocr_set.py set: other tools (e.g. the
/// orientation set of tools/classify_ref.py) write a `labels.jsonl` of their own, without text lines;
/// such folders are plain image folders here.
fn is_ocr_labels(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return path.is_file() };
    let first = text.lines().find(|l| !l.trim().is_empty());
    first.is_none_or(|l| serde_json::from_str::<serde_json::Value>(l).map_or(true, |v| v.get("lines").is_some()))
}

impl EvalSet {
    /// Loads the images of `kind` (`line`, `scene`; `None`: all) from `dir` (a folder or a label
    /// file, see the module documentation), at most `limit`. Plain and class folders have no
    /// text ground truth (`kind` ignored). An image that cannot be decoded is an error naming
    /// it: an evaluation set must be clean.
    pub fn load(dir: &Path, kind: Option<&str>, limit: Option<usize>) -> Result<EvalSet, EvalError> {
        let mut entries = entries(dir)?;
        // A set of one kind serves every task asking for it; a mixed labels.jsonl is filtered.
        if let Some(k) = kind {
            if entries.iter().any(|e| e.1 == k) {
                entries.retain(|e| e.1 == k);
            } else if entries.iter().any(|e| !e.1.is_empty() && e.1 != "class") {
                entries.clear();
            }
        }
        entries.truncate(limit.unwrap_or(usize::MAX));
        if entries.is_empty() {
            let what = kind.map(|k| format!("`{k}` images")).unwrap_or_else(|| "images".into());
            return Err(set_err(dir, format!("no {what} to evaluate on (expected labels.jsonl, a PaddleOCR label file, COCO JSON, class folders or a folder of PNG/JPEG/BMP)")));
        }
        let mut samples = Vec::with_capacity(entries.len());
        for (path, kind, lines) in entries {
            let image = Rgb::open(&path)?;
            samples.push(Sample { path, image, kind, lines });
        }
        log::info!("{}: {} evaluation images", dir.display(), samples.len());
        Ok(EvalSet { dir: dir.to_path_buf(), samples })
    }

    /// The samples of `part`: all, or every other one (even positions fit, odd ones are held out).
    pub fn select(mut self, part: crate::Part) -> EvalSet {
        let keep = |i: usize| match part {
            crate::Part::All => true,
            crate::Part::Fit => i % 2 == 0,
            crate::Part::HeldOut => i % 2 == 1,
        };
        let mut i = 0;
        self.samples.retain(|_| {
            i += 1;
            keep(i - 1)
        });
        self
    }

    /// Errors unless every sample has ground truth (a labels.jsonl set).
    pub fn require_labels(&self, task: &str) -> Result<(), EvalError> {
        if self.samples.iter().any(|s| s.kind.is_empty() || s.kind == "class") {
            return Err(set_err(&self.dir, format!("a `{task}` model is scored against ground truth: give a labelled set (labels.jsonl of tools/gen_ocr_set.py, or a PaddleOCR label file)")));
        }
        Ok(())
    }
}
