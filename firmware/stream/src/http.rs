//! A small HTTP server (std `TcpListener`, a thread per connection): `/` a live page (it polls
//! `/state` and `/metrics`), `/stream.mjpg` the overlaid frames as `multipart/x-mixed-replace`
//! MJPEG, `/frame.jpg` the last frame, `/state` the frame number, the tracks being read and the
//! finished ones and whether the source ended, `/metrics` JSON, `/tracks` the finished tracks.

use crate::metrics::Metrics;
use crate::types::{FinishedTrack, FrameResult, TrackView};
use crate::sink::Sink;
use crate::StreamError;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Finished tracks kept for the page.
const KEEP_TRACKS: usize = 100;
/// Connections served at once; more get 503.
const MAX_CONNECTIONS: usize = 16;

/// The page served at `/`.
const PAGE: &str = include_str!("page.html");

struct Shared {
    latest: Mutex<(u64, Option<Arc<Vec<u8>>>)>,
    /// The last frame through the pipeline (drawn for `/frame.jpg` on demand).
    last: Mutex<Option<FrameResult>>,
    /// The pipeline has drained: no more frames will come.
    ended: AtomicBool,
    cond: Condvar,
    tracks: Mutex<VecDeque<FinishedTrack>>,
    metrics: Arc<Metrics>,
    streams: AtomicUsize,
    connections: AtomicUsize,
    shutdown: AtomicBool,
}

/// The running server. Dropping it does not stop it; call [`HttpServer::shutdown`].
pub struct HttpServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl HttpServer {
    /// Binds `addr` (e.g. `127.0.0.1:8080`, port 0 for any) and serves on a background thread.
    pub fn start(addr: &str, metrics: Arc<Metrics>) -> Result<Self, StreamError> {
        let listener = TcpListener::bind(addr).map_err(|e| StreamError::Net { context: format!("binding {addr}"), source: e })?;
        let addr = listener.local_addr().map_err(|e| StreamError::Net { context: "local address".into(), source: e })?;
        let shared = Arc::new(Shared {
            latest: Mutex::new((0, None)),
            last: Mutex::new(None),
            ended: AtomicBool::new(false),
            cond: Condvar::new(),
            tracks: Mutex::default(),
            metrics,
            streams: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
        });
        let sh = shared.clone();
        std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if sh.shutdown.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let sh = sh.clone();
                    if sh.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                        sh.connections.fetch_sub(1, Ordering::SeqCst);
                        let mut s = stream;
                        let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        continue;
                    }
                    let _ = std::thread::Builder::new().name("http-conn".into()).spawn(move || {
                        if let Err(e) = serve(stream, &sh) {
                            log::debug!("http: {e}");
                        }
                        sh.connections.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            })
            .map_err(|e| StreamError::Net { context: "starting the HTTP thread".into(), source: e })?;
        log::info!("serving http://{addr}/");
        Ok(HttpServer { addr, shared })
    }

    /// A sink feeding this server.
    pub fn sink(&self) -> HttpSink {
        HttpSink { shared: self.shared.clone(), quality: 80 }
    }

    /// Stops accepting, ends the MJPEG streams.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.cond.notify_all();
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// Draws the overlay and publishes JPEG frames (only while someone watches `/stream.mjpg`),
/// and keeps the last finished tracks.
pub struct HttpSink {
    shared: Arc<Shared>,
    pub quality: u8,
}

impl Sink for HttpSink {
    fn frame(&mut self, r: &FrameResult) -> Result<(), StreamError> {
        // cheap: the image is shared, not copied
        *self.shared.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(r.clone());
        if self.shared.streams.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        let jpeg = crate::overlay::encode_jpeg(&crate::overlay::draw(r), self.quality)?;
        let mut l = self.shared.latest.lock().unwrap_or_else(|e| e.into_inner());
        *l = (l.0 + 1, Some(Arc::new(jpeg)));
        self.shared.cond.notify_all();
        Ok(())
    }

    fn track(&mut self, t: &FinishedTrack) -> Result<(), StreamError> {
        let mut q = self.shared.tracks.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() == KEEP_TRACKS {
            q.pop_front();
        }
        q.push_back(t.clone());
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        self.shared.ended.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// What `/state` serves.
#[derive(serde::Serialize)]
struct State {
    /// Sequence number of the last frame, `null` before the first.
    seq: Option<u64>,
    /// The source has ended and the pipeline drained.
    ended: bool,
    /// The tracks of the last frame, with their text so far.
    tracks: Vec<TrackView>,
    /// The finished tracks, newest first.
    finished: Vec<FinishedTrack>,
}

fn state(sh: &Shared) -> State {
    let last = sh.last.lock().unwrap_or_else(|e| e.into_inner());
    let finished = sh.tracks.lock().unwrap_or_else(|e| e.into_inner()).iter().rev().cloned().collect();
    State {
        seq: last.as_ref().map(|f| f.seq),
        ended: sh.ended.load(Ordering::SeqCst),
        tracks: last.as_ref().map(|f| f.tracks.clone()).unwrap_or_default(),
        finished,
    }
}

/// The last frame with its overlay, as JPEG.
fn last_frame_jpeg(sh: &Shared) -> Option<Vec<u8>> {
    let last = sh.last.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
    crate::overlay::encode_jpeg(&crate::overlay::draw(&last), 80)
        .map_err(|e| log::warn!("http: encoding the last frame: {e}"))
        .ok()
}

fn respond(s: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    write!(s, "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n", body.len())?;
    s.write_all(body)
}

fn serve(mut s: TcpStream, sh: &Shared) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 || req.len() > 8192 {
            return Ok(());
        }
        req.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&req);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return respond(&mut s, "405 Method Not Allowed", "text/plain", b"GET only\n");
    }
    match path.split('?').next().unwrap_or("") {
        "/" => respond(&mut s, "200 OK", "text/html; charset=utf-8", PAGE.as_bytes()),
        "/state" => respond(&mut s, "200 OK", "application/json", &serde_json::to_vec(&state(sh)).unwrap_or_default()),
        "/frame.jpg" => match last_frame_jpeg(sh) {
            Some(jpeg) => respond(&mut s, "200 OK", "image/jpeg", &jpeg),
            None => respond(&mut s, "404 Not Found", "text/plain", b"no frame yet\n"),
        },
        "/metrics" => {
            let body = serde_json::to_vec(&sh.metrics.snapshot()).unwrap_or_default();
            respond(&mut s, "200 OK", "application/json", &body)
        }
        "/tracks" => {
            let tracks: Vec<FinishedTrack> = sh.tracks.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
            respond(&mut s, "200 OK", "application/json", &serde_json::to_vec(&tracks).unwrap_or_default())
        }
        "/stream.mjpg" => {
            sh.streams.fetch_add(1, Ordering::SeqCst);
            let r = stream_mjpeg(&mut s, sh);
            sh.streams.fetch_sub(1, Ordering::SeqCst);
            r
        }
        _ => respond(&mut s, "404 Not Found", "text/plain", b"not found\n"),
    }
}

fn stream_mjpeg(s: &mut TcpStream, sh: &Shared) -> std::io::Result<()> {
    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")?;
    let mut last = 0u64;
    loop {
        let jpeg = {
            let mut l = sh.latest.lock().unwrap_or_else(|e| e.into_inner());
            while l.0 == last && !sh.shutdown.load(Ordering::SeqCst) {
                l = sh.cond.wait_timeout(l, Duration::from_millis(500)).unwrap_or_else(|e| e.into_inner()).0;
            }
            if sh.shutdown.load(Ordering::SeqCst) {
                return Ok(());
            }
            last = l.0;
            l.1.clone()
        };
        if let Some(j) = jpeg {
            write!(s, "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", j.len())?;
            s.write_all(&j)?;
            s.write_all(b"\r\n")?;
            s.flush()?;
        }
    }
}
