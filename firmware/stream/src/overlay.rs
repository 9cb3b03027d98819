//! Drawing on RGB frames with `embedded-graphics`: boxes, track ids and texts.

use crate::types::FrameResult;
use embedded_graphics::mono_font::{ascii::FONT_6X10, MonoTextStyleBuilder};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Baseline, Text};
use oar_io::Rgb;

/// A [`DrawTarget`] over an RGB image; pixels outside are ignored.
pub struct Canvas<'a>(pub &'a mut Rgb);

impl OriginDimensions for Canvas<'_> {
    fn size(&self) -> Size {
        Size::new(self.0.width as u32, self.0.height as u32)
    }
}

impl DrawTarget for Canvas<'_> {
    type Color = Rgb888;
    type Error = core::convert::Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(&mut self, pixels: I) -> Result<(), Self::Error> {
        let (w, h) = (self.0.width as i32, self.0.height as i32);
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && p.x < w && p.y < h {
                let i = (p.y as usize * self.0.width + p.x as usize) * 3;
                self.0.data[i..i + 3].copy_from_slice(&[c.r(), c.g(), c.b()]);
            }
        }
        Ok(())
    }
}

/// A distinct colour per track id.
pub fn track_colour(id: u64) -> Rgb888 {
    const P: [(u8, u8, u8); 6] = [(255, 64, 64), (64, 220, 64), (64, 128, 255), (255, 200, 0), (255, 0, 255), (0, 220, 220)];
    let (r, g, b) = P[(id % P.len() as u64) as usize];
    Rgb888::new(r, g, b)
}

/// Draws every track of `r` (box, `#id text`) on a copy of its image.
pub fn draw(r: &FrameResult) -> Rgb {
    let mut img = (*r.image).clone();
    let mut c = Canvas(&mut img);
    for t in &r.tracks {
        let colour = track_colour(t.id);
        let [x1, y1, x2, y2] = t.bbox.map(|v| v.round() as i32);
        let rect = Rectangle::new(Point::new(x1, y1), Size::new((x2 - x1).max(1) as u32, (y2 - y1).max(1) as u32));
        let _ = rect.into_styled(PrimitiveStyle::with_stroke(colour, 2)).draw(&mut c);
        let label = match &t.text {
            Some(text) => format!("#{} {}", t.id, text),
            None => format!("#{}", t.id),
        };
        let style = MonoTextStyleBuilder::new().font(&FONT_6X10).text_color(Rgb888::BLACK).background_color(colour).build();
        let _ = Text::with_baseline(&label, Point::new(x1, (y1 - 11).max(0)), style, Baseline::Top).draw(&mut c);
    }
    img
}

/// JPEG-encodes an RGB image.
pub fn encode_jpeg(img: &Rgb, quality: u8) -> Result<Vec<u8>, crate::StreamError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode(&img.data, img.width as u32, img.height as u32, image::ExtendedColorType::Rgb8)
        .map_err(|e| crate::StreamError::Format(format!("JPEG encoding: {e}")))?;
    Ok(out)
}
