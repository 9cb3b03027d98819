//! Frames as captured: sequence number, capture time and pixels in the camera's format.

use crate::StreamError;
use oar_io::Rgb;
pub use oar_kernels::PixelFormat;
use std::time::Instant;

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

    /// Converts to packed RGB (decoding MJPEG, converting YUV, swapping BGR).
    pub fn to_rgb(&self) -> Result<Rgb, StreamError> {
        match self.format {
            PixelFormat::Rgb | PixelFormat::Bgr => {
                if self.data.len() != self.width * self.height * 3 {
                    return Err(StreamError::Format(format!(
                        "frame {}: {} bytes for a {}x{} {} frame",
                        self.seq,
                        self.data.len(),
                        self.width,
                        self.height,
                        self.format.name()
                    )));
                }
                let mut data = self.data.clone();
                if self.format == PixelFormat::Bgr {
                    data.chunks_exact_mut(3).for_each(|p| p.swap(0, 2));
                }
                Ok(Rgb { width: self.width, height: self.height, data })
            }
            PixelFormat::Yuyv => {
                let mut out = Rgb::new(self.width, self.height);
                oar_kernels::yuyv_to_rgb(&self.data, self.width, self.height, &mut out.data)?;
                Ok(out)
            }
            PixelFormat::Nv12 => {
                let mut out = Rgb::new(self.width, self.height);
                oar_kernels::nv12_to_rgb(&self.data, self.width, self.height, &mut out.data)?;
                Ok(out)
            }
            PixelFormat::Mjpeg => Rgb::decode(&self.data).map_err(|e| StreamError::Format(format!("frame {}: {e}", self.seq))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nv12_frames_convert_and_bad_sizes_are_refused() {
        // 4x2: Y plane (8 bytes), then one UV pair per 2x2 block (2 pairs); neutral chroma
        let mut data = vec![235u8; 4]; // top row white, bottom row black
        data.extend([16u8; 4]);
        data.extend([128u8; 4]);
        let f = Frame { seq: 3, captured: Instant::now(), width: 4, height: 2, format: PixelFormat::Nv12, data };
        let rgb = f.to_rgb().unwrap();
        assert_eq!((rgb.width, rgb.height), (4, 2));
        assert!(rgb.data[..12].iter().all(|&v| v >= 250), "{:?}", rgb.data);
        assert!(rgb.data[12..].iter().all(|&v| v <= 5), "{:?}", rgb.data);
        let short = Frame { data: vec![0; 10], ..f };
        assert!(short.to_rgb().is_err());
    }
}
