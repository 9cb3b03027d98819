//! The HTTP page in a real browser: headless Chromium (Debian's `chromium`) loads `/` twice and
//! the two screenshots must show different stream frames. Skipped, with a message, when
//! `chromium` is not installed (`apt-get install -y chromium`).

use oar_stream::detector::FixedDetector;
use oar_stream::http::HttpServer;
use oar_stream::pipeline::Pipeline;
use oar_stream::source::Source;
use oar_stream::{Detection, Frame, Rgb, StreamError};
use oar_track::TrackerConfig;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// An endless stream whose colour changes with every frame.
struct Cycling(u64);

impl Source for Cycling {
    fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        let mut img = Rgb::new(320, 192);
        let k = self.0;
        for px in img.data.chunks_mut(3) {
            px.copy_from_slice(&[(k * 37 % 256) as u8, (k * 91 % 256) as u8, 128]);
        }
        self.0 += 1;
        Ok(Some(Frame::from_rgb(k, img)))
    }
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
}

fn screenshot(browser: &str, url: &str, out: &Path) -> image::RgbImage {
    let status = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=400,320"])
        .arg(format!("--screenshot={}", out.display()))
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(status.status.success() && out.is_file(), "chromium failed: {}", String::from_utf8_lossy(&status.stderr));
    image::open(out).unwrap().to_rgb8()
}

#[test]
fn page_shows_a_moving_stream_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: no `chromium` on PATH (apt-get install -y chromium)");
        return;
    };
    let boxes = vec![Detection { bbox: [20.0, 20.0, 120.0, 60.0], score: 0.9, class: 0 }];
    let mut p = Pipeline::new(
        Box::new(Cycling(0)),
        Box::new(FixedDetector { boxes, delay: Duration::ZERO }),
        TrackerConfig::by_name("bytetrack").unwrap().build(),
    );
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
