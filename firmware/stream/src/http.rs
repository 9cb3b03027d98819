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
/// Requests answered at once (after their header was read); more get 503.
const MAX_CONNECTIONS: usize = 16;
/// `/stream.mjpg` clients at once, apart from the above so that they never starve `/` and
/// `/metrics`; more get 503.
const MAX_STREAMS: usize = 8;
/// Connections whose request header is still being read. When full, the oldest is closed to
/// make room: a slow client (slowloris) can never lock the others out. Large enough that a
/// well-behaved client's header is read before a burst of newer connections pushes it out.
const MAX_PENDING: usize = 256;
/// Stack of a connection's thread (up to MAX_PENDING + MAX_CONNECTIONS + MAX_STREAMS of them).
const CONN_STACK: usize = 256 << 10;
/// A request header larger than this gets 431.
const MAX_HEADER: usize = 8192;
/// The whole request header must arrive within this, or the client gets 408.
const HEADER_DEADLINE: Duration = Duration::from_secs(5);

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
    /// Clients watching `/stream.mjpg` (frames are encoded only when there is one).
    streams: AtomicUsize,
    /// Slots of `/stream.mjpg` clients, taken before the stream starts.
    streams_slots: AtomicUsize,
    connections: AtomicUsize,
    /// Connections still sending their header, oldest first, by id (clones, to close them).
    pending: Mutex<VecDeque<(u64, TcpStream)>>,
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
            streams_slots: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            pending: Mutex::default(),
            shutdown: AtomicBool::new(false),
        });
        let sh = shared.clone();
        std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                for (id, conn) in listener.incoming().enumerate() {
                    if sh.shutdown.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let id = id as u64;
                    if let Ok(clone) = stream.try_clone() {
                        let mut p = sh.pending.lock().unwrap_or_else(|e| e.into_inner());
                        if p.len() >= MAX_PENDING {
                            if let Some((_, oldest)) = p.pop_front() {
                                // Its blocked read returns at once; its thread ends.
                                let _ = oldest.shutdown(std::net::Shutdown::Both);
                            }
                        }
                        p.push_back((id, clone));
                    }
                    let sh = sh.clone();
                    let _ = std::thread::Builder::new().name("http-conn".into()).stack_size(CONN_STACK).spawn(move || {
                        if let Err(e) = serve(stream, id, &sh) {
                            log::debug!("http: {e}");
                        }
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
    // One write: the status line must not arrive on its own in a packet of its own.
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    s.write_all(&out)
}

/// How reading a request header ended.
enum Head {
    Complete(Vec<u8>),
    /// Closed, reset or evicted before the end of the header: nothing to answer.
    Gone,
    TooLarge,
    TooSlow,
}

/// Reads a request header within [`HEADER_DEADLINE`] and [`MAX_HEADER`] bytes.
fn read_head(s: &mut TcpStream) -> std::io::Result<Head> {
    let deadline = std::time::Instant::now() + HEADER_DEADLINE;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        if req.len() > MAX_HEADER {
            return Ok(Head::TooLarge);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(Head::TooSlow);
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(Head::Gone),
            Ok(n) => req.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return Ok(Head::TooSlow),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(Head::Gone),
        }
    }
    Ok(Head::Complete(req))
}

/// Answers a client that broke the rules, then closes without a reset (so that it reads the
/// answer): the rest of what it sends is drained for at most a second.
fn refuse(s: &mut TcpStream, status: &str) -> std::io::Result<()> {
    respond(s, status, "text/plain", format!("{status}\n").as_bytes())?;
    s.shutdown(std::net::Shutdown::Write)?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    let (mut buf, start) = ([0u8; 4096], std::time::Instant::now());
    while start.elapsed() < Duration::from_secs(1) && matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    Ok(())
}

/// Releases a counted slot on drop, whichever way serving ends.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Takes one of `max` slots of `counter`, if free.
fn take_slot(counter: &AtomicUsize, max: usize) -> Option<Slot<'_>> {
    if counter.fetch_add(1, Ordering::SeqCst) >= max {
        counter.fetch_sub(1, Ordering::SeqCst);
        return None;
    }
    Some(Slot(counter))
}

fn serve(mut s: TcpStream, id: u64, sh: &Shared) -> std::io::Result<()> {
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let head = read_head(&mut s);
    sh.pending.lock().unwrap_or_else(|e| e.into_inner()).retain(|(i, _)| *i != id);
    let req = match head? {
        Head::Complete(req) => req,
        Head::Gone => return Ok(()),
        Head::TooLarge => return refuse(&mut s, "431 Request Header Fields Too Large"),
        Head::TooSlow => return refuse(&mut s, "408 Request Timeout"),
    };
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let is_stream = req.split(|&b| b == b'\r').next().is_some_and(|l| l.windows(12).any(|w| w == b"/stream.mjpg"));
    let Some(_slot) = take_slot(if is_stream { &sh.streams_slots } else { &sh.connections }, if is_stream { MAX_STREAMS } else { MAX_CONNECTIONS }) else {
        return respond(&mut s, "503 Service Unavailable", "text/plain", b"busy, try again\n");
    };
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
