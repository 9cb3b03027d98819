//! Frame sources: image folders, Y4M files, MJPEG files, video files decoded by `ffmpeg` (and the
//! synthetic scene in [`crate::synth`]).

use crate::{Frame, PixelFormat, StreamError};
use oar_io::Rgb;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Produces frames until it ends.
pub trait Source: Send {
    /// The next frame, `Ok(None)` at the end; `Err` only for failures that end the source.
    /// Corrupt frames are skipped and counted in [`Source::skipped`].
    fn next_frame(&mut self) -> Result<Option<Frame>, StreamError>;
    /// Frames skipped because they were corrupt or truncated.
    fn skipped(&self) -> u64 {
        0
    }
    /// Failures the source survived (e.g. a device that vanished and was reopened).
    fn faults(&self) -> u64 {
        0
    }
}

/// PNG / JPEG / BMP files of a folder, in file-name order.
pub struct FolderSource {
    files: std::vec::IntoIter<PathBuf>,
    seq: u64,
    skipped: u64,
}

impl FolderSource {
    pub fn open(dir: &Path) -> Result<Self, StreamError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| StreamError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg" | "bmp"))
            })
            .collect();
        files.sort();
        Ok(FolderSource { files: files.into_iter(), seq: 0, skipped: 0 })
    }
}

impl Source for FolderSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        for path in self.files.by_ref() {
            match Rgb::open(&path) {
                Ok(img) => {
                    let f = Frame::from_rgb(self.seq, img);
                    self.seq += 1;
                    return Ok(Some(f));
                }
                Err(e) => {
                    // The error names the file.
                    log::warn!("skipping {e}");
                    self.skipped += 1;
                }
            }
        }
        Ok(None)
    }
    fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Chroma layouts of Y4M files that can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chroma {
    C420,
    C422,
    C444,
    Mono,
}

/// A YUV4MPEG2 file: 8-bit 4:2:0 (`C420jpeg`, `C420paldv`, `C420mpeg2`, `C420`, the default),
/// 4:2:2, 4:4:4 and mono; BT.601 limited range. A truncated last frame is counted and skipped.
pub struct Y4mSource {
    reader: Box<dyn BufRead + Send>,
    name: String,
    width: usize,
    height: usize,
    chroma: Chroma,
    seq: u64,
    skipped: u64,
}

impl Y4mSource {
    pub fn open(path: &Path) -> Result<Self, StreamError> {
        let f = std::fs::File::open(path).map_err(|e| StreamError::io(path, e))?;
        Self::from_reader(Box::new(BufReader::new(f)), &path.display().to_string())
    }

    pub fn from_reader(mut reader: Box<dyn BufRead + Send>, name: &str) -> Result<Self, StreamError> {
        let mut header = Vec::new();
        reader.by_ref().take(1024).read_until(b'\n', &mut header).map_err(|e| StreamError::io(name, e))?;
        let bad = |m: String| StreamError::Format(format!("{name}: {m}"));
        let text = String::from_utf8_lossy(&header);
        let mut words = text.trim_end().split(' ');
        if words.next() != Some("YUV4MPEG2") {
            return Err(bad("not a YUV4MPEG2 file".into()));
        }
        let (mut width, mut height, mut chroma) = (0usize, 0usize, Chroma::C420);
        for w in words {
            // The tag is one byte; a word that starts with a multi-byte character has none we know.
            let Some((tag, val)) = w.is_char_boundary(1).then(|| w.split_at(1)) else { continue };
            match tag {
                "W" => width = val.parse().map_err(|_| bad(format!("bad width {val:?}")))?,
                "H" => height = val.parse().map_err(|_| bad(format!("bad height {val:?}")))?,
                "C" => {
                    chroma = match val {
                        "420jpeg" | "420paldv" | "420mpeg2" | "420" => Chroma::C420,
                        "422" => Chroma::C422,
                        "444" => Chroma::C444,
                        "mono" => Chroma::Mono,
                        other => return Err(bad(format!("unsupported colour space C{other} (8-bit 420, 422, 444, mono only)"))),
                    }
                }
                _ => {}
            }
        }
        // Checked: `W4294967296 H4294967296` must not wrap to 0 pixels.
        let pixels = (width as u64).checked_mul(height as u64);
        if width == 0 || height == 0 || pixels.map_or(true, |p| p > oar_io::MAX_PIXELS) {
            return Err(bad(format!(
                "bad frame size {width}x{height} (expected 1 to {} pixels)",
                oar_io::MAX_PIXELS
            )));
        }
        Ok(Y4mSource { reader, name: name.to_string(), width, height, chroma, seq: 0, skipped: 0 })
    }

    fn plane_sizes(&self) -> (usize, usize, usize) {
        let (w, h) = (self.width, self.height);
        match self.chroma {
            Chroma::C420 => (w.div_ceil(2), h.div_ceil(2), 2),
            Chroma::C422 => (w.div_ceil(2), h, 2),
            Chroma::C444 => (w, h, 2),
            Chroma::Mono => (0, 0, 0),
        }
    }
}

fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = (y as f32 - 16.0) * 1.164;
    let d = u as f32 - 128.0;
    let e = v as f32 - 128.0;
    let q = |x: f32| x.round().clamp(0.0, 255.0) as u8;
    [q(c + 1.596 * e), q(c - 0.392 * d - 0.813 * e), q(c + 2.017 * d)]
}

impl Source for Y4mSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        let mut line = Vec::new();
        let n = self.reader.by_ref().take(1024).read_until(b'\n', &mut line).map_err(|e| StreamError::io(&self.name, e))?;
        if n == 0 {
            return Ok(None);
        }
        if !line.starts_with(b"FRAME") || line.last() != Some(&b'\n') {
            log::warn!("{}: bad frame header after frame {}; stopping", self.name, self.seq);
            self.skipped += 1;
            return Ok(None);
        }
        let (w, h) = (self.width, self.height);
        let (cw, ch, planes) = self.plane_sizes();
        let mut buf = vec![0u8; w * h + planes * cw * ch];
        let mut got = 0;
        while got < buf.len() {
            match self.reader.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StreamError::io(&self.name, e)),
            }
        }
        if got < buf.len() {
            log::warn!("{}: truncated frame {} ({got} of {} bytes) skipped", self.name, self.seq, buf.len());
            self.skipped += 1;
            return Ok(None);
        }
        let (yp, rest) = buf.split_at(w * h);
        let (up, vp) = rest.split_at(planes / 2 * cw * ch);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let (u, v) = match self.chroma {
                    Chroma::Mono => (128, 128),
                    _ => {
                        let (sx, sy) = (x * cw / w, y * ch / h);
                        (up[sy * cw + sx], vp[sy * cw + sx])
                    }
                };
                rgb.extend_from_slice(&yuv_to_rgb(yp[y * w + x], u, v));
            }
        }
        let f = Frame { seq: self.seq, captured: Instant::now(), width: w, height: h, format: PixelFormat::Rgb, data: rgb };
        self.seq += 1;
        Ok(Some(f))
    }
    fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// A video file in any format that `ffmpeg` decodes (AVI, MP4, MKV ...): an `ffmpeg` child process
/// pipes it as 4:2:0 YUV4MPEG2 into a [`Y4mSource`]. The child is killed when the source is
/// dropped (a pipeline stopped before the end of the video).
pub fn open_video(path: &Path) -> Result<Y4mSource, StreamError> {
    use std::process::{Command, Stdio};
    if !path.is_file() {
        return Err(StreamError::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such video file")));
    }
    let name = path.display().to_string();
    let mut child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "yuv4mpegpipe", "-pix_fmt", "yuv420p", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| {
            StreamError::Config(format!(
                "{name}: cannot start `ffmpeg` to decode it ({e}); install it (Debian: apt-get install ffmpeg) \
                 or convert the video to Y4M or MJPEG elsewhere"
            ))
        })?;
    let Some(out) = child.stdout.take() else {
        let _ = child.kill();
        return Err(StreamError::Config(format!("{name}: ffmpeg's output pipe is missing")));
    };
    let reader = ChildOutput { child, out: BufReader::with_capacity(1 << 20, out) };
    Y4mSource::from_reader(Box::new(reader), &name)
        .map_err(|e| StreamError::Format(format!("{e} (ffmpeg could not decode it: see its messages above)")))
}

/// The standard output of a child process, which is killed and reaped on drop.
struct ChildOutput {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Read for ChildOutput {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.out.read(buf)
    }
}

impl BufRead for ChildOutput {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.out.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.out.consume(n)
    }
}

impl Drop for ChildOutput {
    fn drop(&mut self) {
        // Harmless when it has already exited; reaping avoids a zombie.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Concatenated JPEG images (`.mjpg`). Each frame runs from an SOI marker to the next EOI; a
/// frame cut short (another SOI before its EOI, or the file ending) is counted and skipped.
/// Frames are handed on still compressed ([`PixelFormat::Mjpeg`]); the detect stage decodes.
pub struct MjpegSource {
    data: Vec<u8>,
    pos: usize,
    seq: u64,
    skipped: u64,
}

/// MJPEG files are read whole: larger ones are refused (convert them to a video file instead).
pub const MAX_MJPEG_BYTES: u64 = 1 << 30;

const SOI: [u8; 3] = [0xFF, 0xD8, 0xFF];
const EOI: [u8; 2] = [0xFF, 0xD9];

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Width and height from the first SOF marker of a JPEG, if any.
pub fn jpeg_size(jpeg: &[u8]) -> Option<(usize, usize)> {
    let mut i = 2;
    while i + 9 < jpeg.len() {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF) {
            let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]) as usize;
            let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]) as usize;
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

impl MjpegSource {
    /// Reads the whole file: a regular file (not a FIFO or a device) of at most [`MAX_MJPEG_BYTES`].
    pub fn open(path: &Path) -> Result<Self, StreamError> {
        let data = oar_io::read_regular(path, MAX_MJPEG_BYTES).map_err(|e| StreamError::io(path, e))?;
        Ok(Self::from_bytes(data))
    }

    pub fn from_bytes(data: Vec<u8>) -> Self {
        MjpegSource { data, pos: 0, seq: 0, skipped: 0 }
    }
}

impl Source for MjpegSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        loop {
            let rest = &self.data[self.pos..];
            let Some(start) = find(rest, &SOI) else {
                self.pos = self.data.len();
                return Ok(None);
            };
            let body = &rest[start..];
            let next_soi = find(&body[2..], &SOI).map(|i| i + 2);
            let eoi = find(body, &EOI);
            match (eoi, next_soi) {
                (Some(e), n) if n.map_or(true, |n| e < n) => {
                    let jpeg = body[..e + 2].to_vec();
                    self.pos += start + e + 2;
                    let Some((w, h)) = jpeg_size(&jpeg) else {
                        log::warn!("MJPEG: a frame without a frame header skipped");
                        self.skipped += 1;
                        continue;
                    };
                    let f = Frame { seq: self.seq, captured: Instant::now(), width: w, height: h, format: PixelFormat::Mjpeg, data: jpeg };
                    self.seq += 1;
                    return Ok(Some(f));
                }
                (_, Some(n)) => {
                    log::warn!("MJPEG: a truncated frame skipped (a new image starts before its end)");
                    self.skipped += 1;
                    self.pos += start + n;
                }
                (_, None) => {
                    log::warn!("MJPEG: a truncated frame at the end of the file skipped");
                    self.skipped += 1;
                    self.pos = self.data.len();
                    return Ok(None);
                }
            }
        }
    }
    fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Frames made on the fly, each unlike the one before (red and green gradients that move with the
/// frame number, blue at 128):
/// for tests, soak runs and timing the stages without a camera. Ends after `total` frames
/// (`u64::MAX`: never).
pub struct TestPattern {
    pub width: usize,
    pub height: usize,
    pub total: u64,
    n: u64,
}

impl TestPattern {
    pub fn new(width: usize, height: usize, total: u64) -> Self {
        TestPattern { width, height, total, n: 0 }
    }
}

impl Source for TestPattern {
    fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        if self.n == self.total {
            return Ok(None);
        }
        let (w, n) = (self.width as u64, self.n);
        let mut img = Rgb::new(self.width, self.height);
        for (k, px) in img.data.chunks_exact_mut(3).enumerate() {
            let (x, y) = (k as u64 % w, k as u64 / w);
            px.copy_from_slice(&[((x + 7 * n) % 256) as u8, ((y + 3 * n) % 256) as u8, 128]);
        }
        self.n += 1;
        Ok(Some(Frame::from_rgb(self.n - 1, img)))
    }
}

/// A source of in-memory frames (tests).
pub struct VecSource(pub std::collections::VecDeque<Frame>);

impl Source for VecSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        Ok(self.0.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y4m_420_and_444() {
        for (c, chroma_len) in [("C420jpeg", 2 * 2 * 2), ("C420", 2 * 2 * 2), ("C444", 2 * 4 * 4)] {
            let mut data = format!("YUV4MPEG2 W4 H4 F25:1 Ip A1:1 {c}\n").into_bytes();
            for k in 0..2u8 {
                data.extend_from_slice(b"FRAME\n");
                data.extend(std::iter::repeat(16 + 219 * k).take(16));
                data.extend(std::iter::repeat(128).take(chroma_len));
            }
            data.extend_from_slice(b"FRAME\n\x10\x10"); // truncated
            let mut s = Y4mSource::from_reader(Box::new(std::io::Cursor::new(data)), "t").unwrap();
            let a = s.next_frame().unwrap().unwrap();
            let b = s.next_frame().unwrap().unwrap();
            assert_eq!((a.width, a.height, a.data.len()), (4, 4, 48));
            assert_eq!(&a.data[..3], &[0, 0, 0]);
            assert_eq!(&b.data[..3], &[255, 255, 255]);
            assert!(s.next_frame().unwrap().is_none());
            assert_eq!(s.skipped(), 1, "{c}");
        }
        let bad = Y4mSource::from_reader(Box::new(std::io::Cursor::new(b"YUV4MPEG2 W4 H4 C420p10\n".to_vec())), "t");
        assert!(bad.is_err());
    }

    #[test]
    fn y4m_sizes_that_wrap_or_overflow_are_refused() {
        for header in ["W4294967296 H4294967296", "W18446744073709551615 H2", "W0 H4", "W100000 H100000", "W-1 H4", "H4"] {
            let data = format!("YUV4MPEG2 {header} C420\nFRAME\n").into_bytes();
            let e = Y4mSource::from_reader(Box::new(std::io::Cursor::new(data)), "t.y4m").err().unwrap().to_string();
            assert!(e.starts_with("t.y4m: bad "), "{header}: {e}");
        }
    }

    #[test]
    fn mjpeg_files_that_are_not_regular_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("zero.mjpg");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = MjpegSource::open(&link).err().unwrap().to_string();
        assert!(e.contains("zero.mjpg") && e.contains("a character device"), "{e}");
    }

    #[test]
    fn video_through_ffmpeg() {
        let dir = tempfile::tempdir().unwrap();
        let missing = open_video(&dir.path().join("none.avi")).err().unwrap().to_string();
        assert!(missing.contains("none.avi") && missing.contains("no such video"), "{missing}");
        let video = dir.path().join("t.avi");
        let made = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=5", "-frames:v", "3"])
            .arg(&video)
            .status();
        assert!(
            made.is_ok_and(|s| s.success()),
            "this test needs a working `ffmpeg` on the PATH (apt-get install -y ffmpeg)"
        );
        let mut s = open_video(&video).unwrap();
        let mut n = 0;
        while let Some(f) = s.next_frame().unwrap() {
            assert_eq!((f.width, f.height, f.data.len(), f.seq), (32, 24, 32 * 24 * 3, n));
            n += 1;
        }
        assert_eq!(n, 3);
        let junk = dir.path().join("junk.avi");
        std::fs::write(&junk, b"not a video").unwrap();
        let err = open_video(&junk).err().unwrap().to_string();
        assert!(err.contains("junk.avi") && err.contains("ffmpeg could not decode"), "{err}");
        // Dropped before its end: the child is killed, not left behind.
        drop(open_video(&video).unwrap());
    }
}
