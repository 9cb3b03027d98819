//! Fetch against a fake PyPI on 127.0.0.1 (real sockets, no internet), and the registry files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use oar_registry::{
    cached, fetch_with, Cache, FetchError, FetchOptions, ModelEntry, NoProgress, Progress, Registry,
};
use sha2::{Digest, Sha256};

const PACKAGE: &str = "fake-models";
const VERSION: &str = "1.0";
const WHEEL: &str = "fake_models-1.0-py3-none-any.whl";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A wheel with a model and a dictionary, and the bytes of each.
fn build_wheel() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let model: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let dict = "a\r\nb\r\nc\r\n".as_bytes().to_vec();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("fake_models/__init__.py", opts).unwrap();
    zip.write_all(b"").unwrap();
    zip.start_file("fake_models/models/net.onnx", opts).unwrap();
    zip.write_all(&model).unwrap();
    zip.start_file("fake_models/keys.txt", opts).unwrap();
    zip.write_all(&dict).unwrap();
    let wheel = zip.finish().unwrap().into_inner();
    (wheel, model, dict)
}

fn entry(id: &str, model_sha: &str, dict_sha: &str) -> ModelEntry {
    let text = format!(
        r#"
id = "{id}"
task = "text-recognition"
description = "test"
license = "Apache-2.0"
[source]
registry = "pypi"
package = "{PACKAGE}"
version = "{VERSION}"
path = "fake_models/models/net.onnx"
sha256 = "{model_sha}"
[[files]]
role = "dictionary"
path = "fake_models/keys.txt"
sha256 = "{dict_sha}"
[input]
name = "x"
layout = "NCHW"
color = "BGR"
[input.resize]
policy = "fixed-height"
height = 48
min_width = 320
[post]
batch = 6
[labels]
file = "dictionary"
"#
    );
    ModelEntry::from_toml(&text, "test.toml").unwrap()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Normal,
    /// Announce the full Content-Length, send half the wheel, close.
    Truncate,
    /// 404 on the per-version JSON API (as some mirrors do); serve the per-project one.
    ProjectJsonOnly,
}

struct Server {
    url: String,
    mode: Arc<Mutex<Mode>>,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves the JSON API and the wheel on 127.0.0.1 until dropped (at most 200 connections, 60 s).
    fn start(wheel: Vec<u8>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let mode = Arc::new(Mutex::new(Mode::Normal));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let json = serde_json::json!({
            "info": {"name": PACKAGE, "version": VERSION},
            "urls": [
                {"filename": "fake-models-1.0.tar.gz", "packagetype": "sdist", "url": format!("{url}/files/fake-models-1.0.tar.gz"),
                 "digests": {"sha256": "0".repeat(64)}, "size": 1},
                {"filename": WHEEL, "packagetype": "bdist_wheel", "url": format!("{url}/files/{WHEEL}"),
                 "digests": {"sha256": sha(&wheel)}, "size": wheel.len()}
            ]
        })
        .to_string();
        let thread = {
            let (mode, log, stop) = (mode.clone(), log.clone(), stop.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                for conn in listener.incoming().take(200) {
                    if stop.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(60) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let m = *mode.lock().unwrap();
                    let _ = serve(stream, &json, &wheel, m, &log);
                }
            })
        };
        Server {
            url,
            mode,
            log,
            stop,
            addr,
            thread: Some(thread),
        }
    }

    fn set_mode(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn options(&self) -> FetchOptions {
        FetchOptions {
            index_url: self.url.clone(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            retries: 2,
            backoff: Duration::from_millis(20),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    json: &str,
    wheel: &[u8],
    mode: Mode,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    log.lock().unwrap().push(path.clone());
    let mut out = stream;
    let respond = |out: &mut TcpStream, status: &str, ctype: &str, body: &[u8], send: usize| {
        write!(
            out,
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        out.write_all(&body[..send])?;
        out.flush()
    };
    if path == format!("/pypi/{PACKAGE}/{VERSION}/json") && mode != Mode::ProjectJsonOnly {
        respond(
            &mut out,
            "200 OK",
            "application/json",
            json.as_bytes(),
            json.len(),
        )?;
    } else if path == format!("/pypi/{PACKAGE}/json") {
        // The per-project document: files by version under `releases`, latest under `urls`.
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let project = serde_json::json!({
            "info": v["info"], "urls": [], "releases": {"0.9": [], VERSION: v["urls"]}
        })
        .to_string();
        respond(
            &mut out,
            "200 OK",
            "application/json",
            project.as_bytes(),
            project.len(),
        )?;
    } else if path == format!("/files/{WHEEL}") {
        let send = if mode == Mode::Truncate {
            wheel.len() / 2
        } else {
            wheel.len()
        };
        respond(&mut out, "200 OK", "application/octet-stream", wheel, send)?;
    } else {
        respond(&mut out, "404 Not Found", "text/plain", b"not found", 9)?;
    }
    let _ = out.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let Ok(items) = std::fs::read_dir(dir) else {
        return all;
    };
    for item in items.flatten() {
        let p = item.path();
        if p.is_dir() {
            all.extend(files_under(&p));
        } else {
            all.push(p);
        }
    }
    all
}

#[derive(Default)]
struct CountingProgress {
    bytes: Mutex<u64>,
    starts: Mutex<u32>,
}

impl Progress for CountingProgress {
    fn start(&self, _: &str, _: Option<u64>) {
        *self.starts.lock().unwrap() += 1;
    }
    fn advance(&self, n: u64) {
        *self.bytes.lock().unwrap() += n;
    }
    fn finish(&self) {}
}

#[test]
fn fetch_caches_and_works_offline() {
    let (wheel, model, dict) = build_wheel();
    let server = Server::start(wheel.clone());
    let home = tempfile::tempdir().unwrap();
    let cache = Cache {
        root: home.path().to_path_buf(),
    };
    let e = entry("fake", &sha(&model), &sha(&dict));
    assert!(cached(&e, &cache).is_none());

    let progress = CountingProgress::default();
    let f = fetch_with(&e, &cache, &progress, &server.options()).unwrap();
    assert_eq!(std::fs::read(&f.model).unwrap(), model);
    assert_eq!(f.model, cache.model_dir("fake").join("net.onnx"));
    assert_eq!(f.files.len(), 1);
    assert_eq!(
        f.file("dictionary").map(|p| std::fs::read(p).unwrap()),
        Some(dict.clone())
    );
    assert_eq!(*progress.bytes.lock().unwrap(), wheel.len() as u64);
    assert_eq!(*progress.starts.lock().unwrap(), 1);
    assert!(
        home.path().join("wheels").join(WHEEL).is_file(),
        "the wheel is kept"
    );
    assert_eq!(cached(&e, &cache), Some(f.clone()));

    // A second model from the same wheel reuses the downloaded wheel: index asked, wheel not.
    let e2 = entry("fake-two", &sha(&model), &sha(&dict));
    let before = server.requests().len();
    fetch_with(&e2, &cache, &NoProgress, &server.options()).unwrap();
    let new: Vec<String> = server.requests()[before..].to_vec();
    assert_eq!(new, vec![format!("/pypi/{PACKAGE}/{VERSION}/json")]);

    // Server gone: fetch still answers from the cache, with no network.
    let url = server.url.clone();
    drop(server);
    let offline = FetchOptions {
        index_url: url,
        retries: 0,
        ..FetchOptions::default()
    };
    let again = fetch_with(&e, &cache, &NoProgress, &offline).unwrap();
    assert_eq!(again, f);

    // A corrupted cached file is not trusted: with the server gone, fetch fails and leaves nothing.
    std::fs::write(&f.model, b"corrupt").unwrap();
    assert!(cached(&e, &cache).is_none());
    assert!(fetch_with(&e, &cache, &NoProgress, &offline).is_err());
    assert!(!f.model.exists());
}

#[test]
fn checksum_mismatch_names_file_and_hashes_and_writes_nothing() {
    let (wheel, model, dict) = build_wheel();
    let server = Server::start(wheel);
    let home = tempfile::tempdir().unwrap();
    let cache = Cache {
        root: home.path().to_path_buf(),
    };
    let wrong = "ab".repeat(32);
    let e = entry("fake", &sha(&model), &wrong);
    let err = fetch_with(&e, &cache, &NoProgress, &server.options()).unwrap_err();
    assert!(matches!(err, FetchError::Checksum { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("fake_models/keys.txt"), "{msg}");
    assert!(msg.contains(&wrong), "{msg}");
    assert!(msg.contains(&sha(&dict)), "{msg}");
    // Neither the bad file nor its (good) sibling is at a final path; no temp files remain.
    let left: Vec<PathBuf> = files_under(&cache.model_dir("fake"));
    assert!(left.is_empty(), "{left:?}");
    assert!(cached(&e, &cache).is_none());
}

#[test]
fn interrupted_download_leaves_nothing_complete_and_next_fetch_succeeds() {
    let (wheel, model, dict) = build_wheel();
    let server = Server::start(wheel);
    server.set_mode(Mode::Truncate);
    let home = tempfile::tempdir().unwrap();
    let cache = Cache {
        root: home.path().to_path_buf(),
    };
    let e = entry("fake", &sha(&model), &sha(&dict));

    let err = fetch_with(&e, &cache, &NoProgress, &server.options()).unwrap_err();
    assert!(matches!(err, FetchError::Http { .. }), "{err:?}");
    let wheel_tries = server
        .requests()
        .iter()
        .filter(|p| p.ends_with(".whl"))
        .count();
    assert_eq!(wheel_tries, 3, "one try and two retries");
    for f in files_under(home.path()) {
        assert!(
            f.extension().is_some_and(|x| x == "part"),
            "complete-looking file left: {}",
            f.display()
        );
    }
    assert!(!home.path().join("wheels").join(WHEEL).exists());
    assert!(!cache.model_dir("fake").join("net.onnx").exists());

    // A leftover from a killed process is cleaned up by the next try.
    std::fs::create_dir_all(cache.model_dir("fake")).unwrap();
    std::fs::write(cache.model_dir("fake").join("net.onnx.part"), b"half").unwrap();
    std::fs::write(
        home.path().join("wheels").join(format!("{WHEEL}.part")),
        b"half",
    )
    .unwrap();

    server.set_mode(Mode::Normal);
    let f = fetch_with(&e, &cache, &NoProgress, &server.options()).unwrap();
    assert_eq!(std::fs::read(&f.model).unwrap(), model);
    let parts: Vec<PathBuf> = files_under(home.path())
        .into_iter()
        .filter(|f| f.extension().is_some_and(|x| x == "part"))
        .collect();
    assert!(parts.is_empty(), "{parts:?}");
}

#[test]
fn flaky_server_is_retried() {
    let (wheel, model, dict) = build_wheel();
    let server = Server::start(wheel);
    server.set_mode(Mode::Truncate);
    let home = tempfile::tempdir().unwrap();
    let cache = Cache {
        root: home.path().to_path_buf(),
    };
    let e = entry("fake", &sha(&model), &sha(&dict));
    let options = FetchOptions {
        backoff: Duration::from_millis(300),
        ..server.options()
    };
    let fixer = {
        let mode = server.mode.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            *mode.lock().unwrap() = Mode::Normal;
        })
    };
    let f = fetch_with(&e, &cache, &NoProgress, &options).unwrap();
    fixer.join().unwrap();
    assert_eq!(std::fs::read(&f.model).unwrap(), model);
    assert!(
        server
            .requests()
            .iter()
            .filter(|p| p.ends_with(".whl"))
            .count()
            >= 2
    );
}

#[test]
fn missing_member_and_unknown_version_are_errors() {
    let (wheel, model, dict) = build_wheel();
    let server = Server::start(wheel);
    let home = tempfile::tempdir().unwrap();
    let cache = Cache {
        root: home.path().to_path_buf(),
    };

    let mut e = entry("fake", &sha(&model), &sha(&dict));
    e.source.path = "fake_models/models/other.onnx".into();
    let err = fetch_with(&e, &cache, &NoProgress, &server.options()).unwrap_err();
    assert!(matches!(err, FetchError::MissingMember { .. }), "{err:?}");
    assert!(err.to_string().contains("other.onnx"), "{err}");

    let mut e = entry("fake", &sha(&model), &sha(&dict));
    e.source.package = "no-such-package".into();
    let err = fetch_with(&e, &cache, &NoProgress, &server.options()).unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status: 404, .. }),
        "{err:?}"
    );
    let asked: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|p| p.contains("no-such-package"))
        .collect();
    assert_eq!(asked.len(), 2, "404 is not retried: {asked:?}");
}

#[test]
fn falls_back_to_the_per_project_json() {
    let (wheel, model, dict) = build_wheel();
    let server = Server::start(wheel);
    server.set_mode(Mode::ProjectJsonOnly);
    let home = tempfile::tempdir().unwrap();
    let cache = Cache {
        root: home.path().to_path_buf(),
    };
    let e = entry("fake", &sha(&model), &sha(&dict));
    let f = fetch_with(&e, &cache, &NoProgress, &server.options()).unwrap();
    assert_eq!(std::fs::read(&f.model).unwrap(), model);
    assert_eq!(
        server.requests()[..2],
        [
            format!("/pypi/{PACKAGE}/{VERSION}/json"),
            format!("/pypi/{PACKAGE}/json")
        ]
    );

    let mut e = entry("fake-old", &sha(&model), &sha(&dict));
    e.source.version = "0.8".into();
    let err = fetch_with(&e, &cache, &NoProgress, &server.options()).unwrap_err();
    assert!(matches!(err, FetchError::NoVersion { .. }), "{err:?}");
    assert!(err.to_string().contains("0.8"), "{err}");
}

#[test]
fn oar_pypi_url_env_is_honoured() {
    let (wheel, model, dict) = build_wheel();
    let server = Server::start(wheel);
    // Only this test touches OAR_PYPI_URL; the others pass their options explicitly.
    std::env::set_var("OAR_PYPI_URL", format!("{}/", server.url));
    assert_eq!(FetchOptions::from_env().index_url, server.url);
    let home = tempfile::tempdir().unwrap();
    let cache = Cache {
        root: home.path().to_path_buf(),
    };
    let e = entry("fake", &sha(&model), &sha(&dict));
    let f = oar_registry::fetch(&e, &cache, &NoProgress).unwrap();
    std::env::remove_var("OAR_PYPI_URL");
    assert!(f.model.is_file());
}

#[test]
fn builtin_registry_is_valid() {
    let r = Registry::builtin().unwrap();
    let ids: Vec<&str> = r.entries().iter().map(|e| e.id.as_str()).collect();
    for want in [
        "ppocr-v4-det",
        "ppocr-v4-rec",
        "ppocr-v2-cls",
        "ppocr-v3-det",
        "ppocr-v2-rec",
        "picodet-layout-cdla",
        "lcnet-orientation",
        "ssd-mobilenet-v2-coco",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids are unique");
    for e in r.entries() {
        for s in std::iter::once(&e.source.sha256).chain(e.files.iter().map(|f| &f.sha256)) {
            assert!(
                s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}: {s}",
                e.id
            );
        }
    }
    // The embedded copy is the models/ directory as it is now (no file forgotten, none stale).
    let dir = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../models");
    let on_disk = Registry::load_dir(&dir).unwrap();
    assert_eq!(on_disk.entries(), r.entries());

    let err = r.get("ppocr-v9-det").unwrap_err().to_string();
    assert!(
        err.contains("ppocr-v9-det")
            && err.contains("ppocr-v4-det")
            && err.contains("lcnet-orientation"),
        "{err}"
    );
}

#[test]
fn load_dir_rejects_unknown_fields_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../models/ppocr-v2-cls.toml");
    let text = std::fs::read_to_string(src).unwrap();
    let text = text.replace("[source]\n", "[source]\nmirror = \"somewhere\"\n");
    std::fs::write(dir.path().join("ppocr-v2-cls.toml"), text).unwrap();
    let err = Registry::load_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("ppocr-v2-cls.toml") && err.contains("mirror"),
        "{err}"
    );
}

/// Really fetches from PyPI: `cargo test -p oar-registry -- --ignored` (set OAR_HOME to choose
/// the cache). Fetches `ppocr-v2-cls`, or every builtin model with OAR_FETCH_ALL=1.
#[test]
#[ignore = "needs the network to PyPI"]
fn real_pypi_fetch() {
    let r = Registry::builtin().unwrap();
    let cache = Cache::from_env();
    let ids: Vec<String> = if std::env::var_os("OAR_FETCH_ALL").is_some() {
        r.entries().iter().map(|e| e.id.clone()).collect()
    } else {
        vec!["ppocr-v2-cls".into()]
    };
    for id in ids {
        let e = r.get(&id).unwrap();
        let f = oar_registry::fetch(e, &cache, &NoProgress).unwrap();
        let mut bytes = Vec::new();
        std::fs::File::open(&f.model)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(sha(&bytes), e.source.sha256);
        println!(
            "{id}: {} {} bytes {}",
            e.source.sha256,
            bytes.len(),
            f.model.display()
        );
        for (role, p) in &f.files {
            let b = std::fs::read(p).unwrap();
            println!("{id}/{role}: {} {} bytes {}", sha(&b), b.len(), p.display());
        }
        // Offline second fetch.
        assert_eq!(cached(e, &cache), Some(f));
    }
}
