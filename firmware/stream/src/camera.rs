//! V4L2 cameras (`/dev/videoN`) through the `v4l` crate, in YUYV, NV12, RGB, BGR or MJPEG at a chosen resolution
//! and rate. The capture itself needs the `camera` cargo feature; opening checks the device node
//! first, so a missing or unplugged camera gives the same clear error either way, and the
//! pipeline wraps the camera in a [`crate::reopen::ReopeningSource`] that retries with backoff.

use crate::source::Source;
use crate::{PixelFormat, StreamError};
use std::path::{Path, PathBuf};

/// A camera to open.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraConfig {
    pub device: PathBuf,
    pub width: u32,
    pub height: u32,
    /// Frames per second asked of the driver (0: the driver's default).
    pub fps: u32,
    pub format: PixelFormat,
}

/// Opens the camera. Errors name the device and what went wrong.
pub fn open(cfg: &CameraConfig) -> Result<Box<dyn Source>, StreamError> {
    if !cfg.device.exists() {
        return Err(StreamError::Config(format!("{}: no such video device (is the camera plugged in?)", cfg.device.display())));
    }
    open_device(cfg)
}

#[cfg(not(feature = "camera"))]
fn open_device(cfg: &CameraConfig) -> Result<Box<dyn Source>, StreamError> {
    Err(StreamError::Config(format!(
        "{}: this build has no camera support (build oar-stream with the `camera` feature)",
        cfg.device.display()
    )))
}

#[cfg(feature = "camera")]
fn open_device(cfg: &CameraConfig) -> Result<Box<dyn Source>, StreamError> {
    Ok(Box::new(v4l2::V4l2Source::open(cfg)?))
}

/// The first `/dev/videoN` present (the `--camera` default).
pub fn first_device() -> Option<PathBuf> {
    (0..64).map(|i| PathBuf::from(format!("/dev/video{i}"))).find(|p| Path::new(p).exists())
}

#[cfg(feature = "camera")]
mod v4l2 {
    use super::CameraConfig;
    use crate::source::Source;
    use crate::{Frame, StreamError};
    use v4l::buffer::Type;
    use v4l::io::mmap::Stream;
    use v4l::io::traits::CaptureStream;
    use v4l::video::Capture;
    use v4l::{Device, FourCC};

    pub struct V4l2Source {
        stream: Stream<'static>,
        _device: Device,
        name: String,
        width: usize,
        height: usize,
        format: crate::PixelFormat,
        seq: u64,
    }

    impl V4l2Source {
        pub fn open(cfg: &CameraConfig) -> Result<Self, StreamError> {
            let name = cfg.device.display().to_string();
            let io = |what: &str, e: std::io::Error| StreamError::Io { path: cfg.device.clone(), source: std::io::Error::new(e.kind(), format!("{what}: {e}")) };
            let device = Device::with_path(&cfg.device).map_err(|e| io("opening", e))?;
            let fourcc = FourCC::new(cfg.format.fourcc());
            let mut fmt = device.format().map_err(|e| io("reading the format", e))?;
            fmt.width = cfg.width;
            fmt.height = cfg.height;
            fmt.fourcc = fourcc;
            let fmt = device.set_format(&fmt).map_err(|e| io("setting the format", e))?;
            if fmt.fourcc != fourcc {
                return Err(StreamError::Config(format!("{name}: the camera does not send {fourcc} (it offers {})", fmt.fourcc)));
            }
            if (fmt.width, fmt.height) != (cfg.width, cfg.height) {
                log::warn!("{name}: asked for {}x{}, the camera gives {}x{}", cfg.width, cfg.height, fmt.width, fmt.height);
            }
            if cfg.fps > 0 {
                let params = v4l::video::capture::Parameters::with_fps(cfg.fps);
                device.set_params(&params).map_err(|e| io("setting the frame rate", e))?;
            }
            let stream = Stream::with_buffers(&device, Type::VideoCapture, 4).map_err(|e| io("mapping capture buffers", e))?;
            log::info!("{name}: {}x{} {fourcc}", fmt.width, fmt.height);
            Ok(V4l2Source { stream, _device: device, name, width: fmt.width as usize, height: fmt.height as usize, format: cfg.format, seq: 0 })
        }
    }

    impl Source for V4l2Source {
        fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
            let (buf, meta) = self.stream.next().map_err(|e| StreamError::Format(format!("{}: capture failed: {e}", self.name)))?;
            let used = (meta.bytesused as usize).min(buf.len());
            let f = Frame {
                seq: self.seq,
                captured: std::time::Instant::now(),
                width: self.width,
                height: self.height,
                format: self.format,
                data: buf[..used].to_vec(),
            };
            self.seq += 1;
            Ok(Some(f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_is_named() {
        let cfg = CameraConfig { device: "/dev/video-none".into(), width: 640, height: 480, fps: 30, format: PixelFormat::Yuyv };
        let e = open(&cfg).err().unwrap().to_string();
        assert!(e.contains("/dev/video-none: no such video device"), "{e}");
    }
}
