//! Frames as captured: sequence number, capture time and pixels in the camera's format.

use crate::StreamError;
use oar_vision::Rgb;
use std::time::Instant;

/// Pixel layout of a [`Frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed 8-bit RGB.
    Rgb,
    /// Packed 4:2:2 `Y0 U Y1 V`, BT.601 limited range.
    Yuyv,
    /// One complete JPEG image.
    Mjpeg,
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Position in the source, from 0, counting only frames handed on.
    pub seq: u64,
    pub captured: Instant,
    pub width: usize,
    pub height: usize,
    pub format: PixelFormat,
    pub data: Vec<u8>,
}

impl Frame {
    pub fn from_rgb(seq: u64, img: Rgb) -> Frame {
        Frame { seq, captured: Instant::now(), width: img.width, height: img.height, format: PixelFormat::Rgb, data: img.data }
    }

    /// Converts to packed RGB (decoding MJPEG, converting YUYV).
    pub fn to_rgb(&self) -> Result<Rgb, StreamError> {
        match self.format {
            PixelFormat::Rgb => {
                if self.data.len() != self.width * self.height * 3 {
                    return Err(StreamError::Format(format!(
                        "frame {}: {} bytes for a {}x{} RGB frame",
                        self.seq,
                        self.data.len(),
                        self.width,
                        self.height
                    )));
                }
                Ok(Rgb { width: self.width, height: self.height, data: self.data.clone() })
            }
            PixelFormat::Yuyv => {
                let mut out = Rgb::new(self.width, self.height);
                oar_kernels::yuyv_to_rgb(&self.data, self.width, self.height, &mut out.data)?;
                Ok(out)
            }
            PixelFormat::Mjpeg => Rgb::decode(&self.data).map_err(|e| StreamError::Format(format!("frame {}: {e}", self.seq))),
        }
    }
}
