//! The HTTP page in a real browser, headless Chromium (Debian's `chromium`): two screenshots of
//! `/` show different stream frames; one page load, kept open, shows the tracks being read, then
//! (without a reload) the finished track's text and the ended source, and the last frame stays.
//! Needs Debian's `chromium` (`.ci/run` installs it): without it the test fails, naming the package.
//! tests/qemu.sh leaves these out by name (`headless_chromium`): there the browser is a host
//! process timing its loads against an emulated server, which measures QEMU's speed, not the page.

use oar_stream::detector::FixedDetector;
use oar_stream::reader::FixedReader;
use oar_stream::http::HttpServer;
use oar_stream::pipeline::Pipeline;
use oar_stream::source::TestPattern;
use oar_stream::Detection;
use oar_track::TrackerConfig;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The browser; the test fails without one.
fn chromium() -> &'static str {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()));
    found.expect("this test needs a headless browser: no `chromium` on PATH (apt-get install -y chromium)")
}

/// The cycling source, one fixed box, ByteTrack; no reader, no sinks.
fn pipeline() -> Pipeline {
    let boxes = vec![Detection { bbox: [20.0, 20.0, 120.0, 60.0], score: 0.9, class: 0 }];
    Pipeline::new(
        Box::new(TestPattern::new(320, 192, u64::MAX)),
        Box::new(FixedDetector { boxes, delay: Duration::ZERO }),
        TrackerConfig::by_name("bytetrack").unwrap().build(),
    )
}

/// Headless Chromium with a fresh profile and nothing that reaches the network but `url`.
fn chromium_cmd(browser: &str, profile: &Path) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=400,320",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn screenshot(browser: &str, url: &str, out: &Path) -> image::RgbImage {
    let profile = tempfile::tempdir().unwrap();
    let status = chromium_cmd(browser, profile.path())
        .arg("--timeout=1500")
        .arg(format!("--screenshot={}", out.display()))
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(status.status.success() && out.is_file(), "chromium failed: {}", String::from_utf8_lossy(&status.stderr));
    image::open(out).unwrap().to_rgb8()
}

/// Loads `url` once and returns the DOM as the page's script left it `ms` later (real time).
fn dom_after(browser: &str, url: &str, ms: u32) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium_cmd(browser, profile.path())
        .arg(format!("--timeout={ms}"))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The inner HTML of the element with this id (the page's tables and status line have ids).
fn element<'a>(dom: &'a str, id: &str) -> &'a str {
    let open = format!("id=\"{id}\"");
    let start = dom.find(&open).unwrap_or_else(|| panic!("no #{id} in {dom}"));
    let body = &dom[start..];
    let body = &body[body.find('>').unwrap() + 1..];
    // the ids are on <p> and <tbody> elements, which hold neither
    let end = ["</tbody>", "</p>"].iter().filter_map(|t| body.find(t)).min().unwrap();
    &body[..end]
}

/// The frame number the status line shows (`live · frame N`).
fn frame_number(status: &str) -> u64 {
    let after = &status[status.find("frame ").unwrap_or_else(|| panic!("no frame in {status:?}")) + 6..];
    after.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

#[test]
fn page_shows_a_moving_stream_in_headless_chromium() {
    let browser = chromium();
    let mut p = pipeline();
    p.options.fps = 20.0;
    let server = HttpServer::start("127.0.0.1:0", p.metrics.clone()).unwrap();
    p.sinks.push(Box::new(server.sink()));
    let stop = p.stop.clone();
    let run = std::thread::spawn(move || p.run());
    let url = format!("http://{}/", server.addr);
    let dir = tempfile::tempdir().unwrap();
    let a = screenshot(browser, &url, &dir.path().join("a.png"));
    std::thread::sleep(Duration::from_millis(500));
    let b = screenshot(browser, &url, &dir.path().join("b.png"));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    run.join().unwrap().unwrap();
    server.shutdown();

    // The frame is drawn: a large area of the page is neither white nor text-black.
    let coloured = |img: &image::RgbImage| img.pixels().filter(|p| p[2] > 100 && p[2] < 160 && p.0 != [p[2]; 3]).count();
    let area = (a.width() * a.height()) as usize;
    assert!(coloured(&a) > area / 5 && coloured(&b) > area / 5, "no stream frame on the page");
    // Only the stream changes on this page (no track ends): the screenshots differ there.
    let changed = a.pixels().zip(b.pixels()).filter(|(x, y)| x != y).count();
    assert!(changed > area / 5, "the stream did not change between two loads ({changed} pixels differ)");
}

#[test]
fn live_page_in_headless_chromium_updates_without_a_reload_and_shows_the_end() {
    let browser = chromium();
    let mut p = pipeline();
    p.reader = Some(Box::new(FixedReader("AB12", 0.95)));
    // 6 s of frames: the track is read while the source runs and finishes when it ends
    p.options.fps = 10.0;
    p.options.max_frames = Some(60);
    let server = HttpServer::start("127.0.0.1:0", p.metrics.clone()).unwrap();
    p.sinks.push(Box::new(server.sink()));
    let run = std::thread::spawn(move || p.run());
    let url = format!("http://{}/", server.addr);

    // While the source runs: the track being read, with its text, and a frame number that moves.
    let early = dom_after(browser, &url, 1500);
    let status = element(&early, "status");
    assert!(status.starts_with("live"), "{status}");
    assert!(element(&early, "live").contains("<td>AB12</td>"), "{early}");
    assert!(!element(&early, "finished").contains("AB12"), "nothing finished yet: {early}");
    assert!(element(&early, "counters").contains("frames/s"), "{early}");
    assert!(element(&early, "stages").contains("<td>detect</td>"), "{early}");
    let first = frame_number(status);
    assert!(!run.is_finished(), "the source ended too early for this test");

    // After the source ends, the page's script (not the server's HTML: `/` is static) shows the
    // finished text and the end. Chromium's --dump-dom does not wait for --timeout on every
    // build, so one load spanning the end is not reliable: the load comes after the end.
    let summary = run.join().unwrap().unwrap();
    let late = dom_after(browser, &url, 3000);
    assert_eq!(summary.tracks.len(), 1);
    let status = element(&late, "status");
    assert!(status.starts_with("source ended"), "{status}");
    assert!(frame_number(status) > first, "{status} after frame {first}");
    let finished = element(&late, "finished");
    assert!(finished.contains("<td>AB12</td>"), "{late}");
    assert!(late.contains("/frame.jpg?seq="), "the last frame is shown as a still: {late}");

    // After the end, a fresh load still shows the last frame (the image does not break).
    let dir = tempfile::tempdir().unwrap();
    let shot = screenshot(browser, &url, &dir.path().join("ended.png"));
    let coloured = shot.pixels().filter(|p| p[2] > 100 && p[2] < 160 && p.0 != [p[2]; 3]).count();
    assert!(coloured > (shot.width() * shot.height()) as usize / 5, "no frame on the page after the end");
    server.shutdown();
}

