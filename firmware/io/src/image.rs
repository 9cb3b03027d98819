//! The `Rgb` image: decoding with size limits and clear errors, and the pixel operations every
//! stage needs (resize, rotations, padding). Geometry-driven crops live with their geometry
//! (oar-vision's `warp_quad`).

use std::path::{Path, PathBuf};

/// An image file that could not be read or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ImageError {
    pub path: PathBuf,
    pub message: String,
}

/// Interleaved 8-bit RGB pixels, row-major.
#[derive(Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Rgb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rgb({}x{})", self.width, self.height)
    }
}

/// Images larger than this (in pixels) are refused: decoding them would exhaust a board's memory.
pub const MAX_PIXELS: u64 = 100_000_000;
/// Image files larger than this are refused before being read (an uncompressed 100 MP BMP is 300 MB).
pub const MAX_FILE_BYTES: u64 = 512 << 20;

impl Rgb {
    pub fn new(width: usize, height: usize) -> Rgb {
        Rgb { width, height, data: vec![0; width * height * 3] }
    }

    /// Decodes a PNG, JPEG or BMP file: a regular file (or a link to one) of at most
    /// [`MAX_FILE_BYTES`]; FIFOs and devices are refused without being read.
    pub fn open(path: &Path) -> Result<Rgb, ImageError> {
        let bytes = crate::file::read_regular(path, MAX_FILE_BYTES)
            .map_err(|e| ImageError { path: path.into(), message: e.to_string() })?;
        Rgb::decode(&bytes).map_err(|message| ImageError { path: path.into(), message })
    }

    /// Decodes an encoded image held in memory.
    pub fn decode(bytes: &[u8]) -> Result<Rgb, String> {
        let format = ::image::guess_format(bytes)
            .map_err(|_| "not an image (expected PNG, JPEG or BMP)".to_string())?;
        let mut reader = ::image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
        let mut limits = ::image::Limits::default();
        limits.max_alloc = Some(MAX_PIXELS * 4);
        reader.limits(limits);
        let (w, h) = reader.into_dimensions().map_err(|e| format!("cannot read the {format:?} header: {e}"))?;
        if w == 0 || h == 0 {
            return Err(format!("the image is empty ({w}x{h})"));
        }
        if w as u64 * h as u64 > MAX_PIXELS {
            return Err(format!("{w}x{h} is larger than the {MAX_PIXELS}-pixel limit"));
        }
        let mut reader = ::image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
        reader.limits(limits_for(w, h));
        let img = reader.decode().map_err(|e| format!("cannot decode the {format:?} data: {e}"))?;
        let rgb = img.into_rgb8();
        Ok(Rgb { width: rgb.width() as usize, height: rgb.height() as usize, data: rgb.into_raw() })
    }

    #[inline]
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Bilinear resize, bit-exact with OpenCV's `INTER_LINEAR` (what the reference pipelines use).
    pub fn resize(&self, width: usize, height: usize) -> Rgb {
        let mut out = Rgb::new(width.max(1), height.max(1));
        oar_kernels::resize_bilinear_u8(&self.data, self.width, self.height, 3, &mut out.data, out.width, out.height)
            .expect("buffer sizes follow from the image sizes");
        out
    }

    /// Rotates by 180°.
    pub fn rotate180(&self) -> Rgb {
        let mut out = self.clone();
        for (dst, src) in out.data.chunks_exact_mut(3).zip(self.data.chunks_exact(3).rev()) {
            dst.copy_from_slice(src);
        }
        out
    }

    /// Rotates by 90° counter-clockwise (`np.rot90`).
    pub fn rotate90_ccw(&self) -> Rgb {
        let mut out = Rgb::new(self.height, self.width);
        for y in 0..out.height {
            for x in 0..out.width {
                let p = self.pixel(self.width - 1 - y, x);
                let i = (y * out.width + x) * 3;
                out.data[i..i + 3].copy_from_slice(&p);
            }
        }
        out
    }

    /// Adds `top` and `bottom` rows of black.
    pub fn pad_vertical(&self, top: usize, bottom: usize) -> Rgb {
        let mut out = Rgb::new(self.width, self.height + top + bottom);
        let row = self.width * 3;
        out.data[top * row..(top + self.height) * row].copy_from_slice(&self.data);
        out
    }
}

fn limits_for(w: u32, h: u32) -> ::image::Limits {
    let mut limits = ::image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(MAX_PIXELS * 4);
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> Rgb {
        let mut img = Rgb::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 3;
                img.data[i] = (x * 255 / w.max(1)) as u8;
                img.data[i + 1] = (y * 255 / h.max(1)) as u8;
                img.data[i + 2] = 77;
            }
        }
        img
    }

    #[test]
    fn rotations_compose() {
        let img = gradient(5, 3);
        assert_eq!(img.rotate180().rotate180(), img);
        let r = img.rotate90_ccw();
        assert_eq!((r.width, r.height), (3, 5));
        assert_eq!(r.pixel(0, 0), img.pixel(4, 0));
        assert_eq!(r.rotate90_ccw().rotate90_ccw().rotate90_ccw().rotate90_ccw().rotate90_ccw(), r.rotate90_ccw().rotate90_ccw().rotate90_ccw().rotate90_ccw().rotate90_ccw());
        assert_eq!(img.rotate90_ccw().rotate90_ccw(), img.rotate180());
    }

    #[test]
    fn bad_bytes_are_clear_errors() {
        assert!(Rgb::decode(b"hello").unwrap_err().contains("not an image"));
        // A PNG signature followed by garbage.
        let err = Rgb::decode(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR garbage").unwrap_err();
        assert!(err.contains("Png"), "{err}");
    }

    #[test]
    fn png_round_trip_and_truncation() {
        let img = gradient(16, 8);
        let mut png = Vec::new();
        ::image::RgbImage::from_raw(16, 8, img.data.clone())
            .unwrap()
            .write_to(&mut std::io::Cursor::new(&mut png), ::image::ImageFormat::Png)
            .unwrap();
        assert_eq!(Rgb::decode(&png).unwrap(), img);
        assert!(Rgb::decode(&png[..png.len() / 2]).is_err());
    }

    /// A BMP header that claims `w`×`h` pixels, followed by no pixel data.
    fn bmp_header(w: i32, h: i32) -> Vec<u8> {
        let mut b = vec![];
        b.extend_from_slice(b"BM");
        b.extend_from_slice(&(54u32 + 3 * 16).to_le_bytes()); // file size (a lie for big images)
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
        b.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
        b.extend_from_slice(&w.to_le_bytes());
        b.extend_from_slice(&h.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes()); // planes
        b.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
        b.extend_from_slice(&[0; 24]);
        b
    }

    #[test]
    fn huge_and_zero_sized_images_are_refused() {
        let err = Rgb::decode(&bmp_header(200_000, 100_000)).unwrap_err();
        assert!(err.contains("200000x100000") || err.contains("limit"), "{err}");
        assert!(Rgb::decode(&bmp_header(0, 10)).is_err());
        let mut small = bmp_header(4, 4);
        small.extend_from_slice(&[128; 48]);
        assert_eq!(Rgb::decode(&small).unwrap().pixel(1, 1), [128, 128, 128]);
    }

    #[test]
    fn padding_keeps_pixels() {
        let img = gradient(4, 2);
        let p = img.pad_vertical(3, 1);
        assert_eq!(p.height, 6);
        assert_eq!(p.pixel(2, 4), img.pixel(2, 1));
        assert_eq!(p.pixel(2, 0), [0, 0, 0]);
    }
}
