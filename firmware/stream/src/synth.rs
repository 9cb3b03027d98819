//! A synthetic scene with ground truth: labelled plates (text rendered with an
//! `embedded-graphics` mono font, scaled up) moving at constant velocity over a textured
//! background; two plates cross and the second occludes the first. Deterministic by seed.

use crate::overlay::Canvas;
use crate::source::Source;
use crate::{Frame, StreamError};
use embedded_graphics::mono_font::{ascii::FONT_10X20, MonoTextStyle};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::text::{Baseline, Text};
use oar_io::Rgb;
use std::fmt::Write as _;
use std::path::Path;

/// Scene parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    pub width: usize,
    pub height: usize,
    pub frames: u64,
    pub seed: u64,
    /// 1 to 3 plates: plates 1 and 2 cross (2 occludes 1), plate 3 moves alone.
    pub plates: usize,
    /// Font scale (the font is 10×20 pixels per character).
    pub scale: usize,
    /// Characters per plate.
    pub text_len: usize,
}

impl SynthConfig {
    /// Refuses sizes past their bounds (the frame and every plate sprite are allocated, and the
    /// ground truth holds a row per plate and frame), naming the key and the range.
    pub fn check(&self) -> Result<(), String> {
        let side = oar_io::MAX_SIDE as usize;
        let range = |key: &str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) { Ok(()) } else { Err(format!("{key} = {v}: expected {lo} to {hi}")) }
        };
        range("width", self.width as u64, 64, side as u64)?;
        range("height", self.height as u64, 64, side as u64)?;
        range("frames", self.frames, 1, 1_000_000)?;
        range("plates", self.plates as u64, 1, 3)?;
        range("scale", self.scale as u64, 1, 16)?;
        range("text_len", self.text_len as u64, 1, 32)
    }
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig { width: 384, height: 256, frames: 30, seed: 1, plates: 3, scale: 2, text_len: 5 }
    }
}

/// One plate: its text, sprite and motion.
#[derive(Debug, Clone)]
pub struct Plate {
    pub id: u64,
    pub text: String,
    pub sprite: Rgb,
    pub x0: f32,
    pub y0: f32,
    pub vx: f32,
    pub vy: f32,
}

impl Plate {
    /// Top-left corner at frame index `k` (from 0), in whole pixels.
    pub fn pos(&self, k: u64) -> (i64, i64) {
        ((self.x0 + self.vx * k as f32).round() as i64, (self.y0 + self.vy * k as f32).round() as i64)
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Letters and digits that are hard to confuse (no 0/O, 1/I, 2/Z, 5/S, 8/B; no W, which the
/// recogniser reads as H in this font).
const CHARSET: &[u8] = b"ACDEFHJKLMNPRTUVXY34679";

/// A plate sprite: light plate, dark border, dark text scaled `scale`×.
pub fn render_plate(text: &str, scale: usize) -> Rgb {
    let (cw, ch) = (10, 20);
    let mut small = Rgb { width: cw * text.chars().count(), height: ch, data: Vec::new() };
    small.data = vec![255; small.width * small.height * 3];
    let style = MonoTextStyle::new(&FONT_10X20, Rgb888::new(20, 20, 30));
    let _ = Text::with_baseline(text, Point::zero(), style, Baseline::Top).draw(&mut Canvas(&mut small));
    let pad = 6 * scale;
    let border = scale.max(1);
    let (w, h) = (small.width * scale + 2 * pad, small.height * scale + 2 * pad);
    let mut out = Rgb::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let edge = x < border || y < border || x >= w - border || y >= h - border;
            let px = if edge {
                [30, 30, 40]
            } else if x >= pad && y >= pad && x < w - pad && y < h - pad {
                let p = small.pixel((x - pad) / scale, (y - pad) / scale);
                if p[0] < 128 { [20, 20, 30] } else { [240, 240, 232] }
            } else {
                [240, 240, 232]
            };
            out.data[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&px);
        }
    }
    out
}

/// The synthetic source. Frame `k` (from 0) is MOT frame `k + 1`.
pub struct SyntheticSource {
    pub config: SynthConfig,
    pub plates: Vec<Plate>,
    background: Rgb,
    next: u64,
}

/// One MOTChallenge ground-truth row.
#[derive(Debug, Clone, PartialEq)]
pub struct MotRow {
    pub frame: u64,
    pub id: u64,
    pub bbox: [f32; 4],
    pub visibility: f32,
}

/// What the scene contains.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    pub rows: Vec<MotRow>,
    /// (track id, text), by id.
    pub texts: Vec<(u64, String)>,
}

impl GroundTruth {
    /// MOTChallenge `gt.txt`: `frame,id,left,top,width,height,1,1,visibility`.
    pub fn mot_lines(&self) -> String {
        let mut s = String::new();
        for r in &self.rows {
            let [x1, y1, x2, y2] = r.bbox;
            let _ = writeln!(s, "{},{},{},{},{},{},1,1,{:.3}", r.frame, r.id, x1, y1, x2 - x1, y2 - y1, r.visibility);
        }
        s
    }

    /// Writes `gt.txt` and `texts.txt` (`id,text` per line) into `dir`, each only complete
    /// (temporary file, then rename).
    pub fn write(&self, dir: &Path) -> Result<(), StreamError> {
        std::fs::create_dir_all(dir).map_err(|e| StreamError::io(dir, e))?;
        let gt = dir.join("gt.txt");
        oar_io::write_atomic(&gt, self.mot_lines().as_bytes()).map_err(|e| StreamError::io(&gt, e))?;
        let texts: String = self.texts.iter().map(|(id, t)| format!("{id},{t}\n")).collect();
        let p = dir.join("texts.txt");
        oar_io::write_atomic(&p, texts.as_bytes()).map_err(|e| StreamError::io(&p, e))
    }
}

impl SyntheticSource {
    pub fn new(config: SynthConfig) -> Result<Self, StreamError> {
        config.check().map_err(|e| StreamError::Config(format!("synthetic source: {e}")))?;
        let mut rng = Rng(config.seed);
        let n = config.plates.clamp(1, 3);
        let mut texts: Vec<String> = Vec::new();
        while texts.len() < n {
            let t: String = (0..config.text_len.max(1)).map(|_| CHARSET[(rng.next() % CHARSET.len() as u64) as usize] as char).collect();
            if !texts.contains(&t) {
                texts.push(t);
            }
        }
        let sprites: Vec<Rgb> = texts.iter().map(|t| render_plate(t, config.scale)).collect();
        let (pw, ph) = (sprites[0].width as f32, sprites[0].height as f32);
        let (w, h) = (config.width as f32, config.height as f32);
        if pw * 1.1 > w || ph * 2.4 > h {
            return Err(StreamError::Config(format!(
                "a {}x{} frame is too small for {}x{} plates",
                config.width, config.height, pw, ph
            )));
        }
        let margin = (0.03 * w).round();
        let span = (w - 2.0 * margin - pw).max(0.0);
        let steps = config.frames.saturating_sub(1).max(1) as f32;
        let v = span / steps;
        let top = (0.06 * h).round();
        let mut plates = vec![Plate { id: 1, text: texts[0].clone(), sprite: sprites[0].clone(), x0: margin, y0: top, vx: v, vy: 0.0 }];
        if n >= 2 {
            plates.push(Plate {
                id: 2,
                text: texts[1].clone(),
                sprite: sprites[1].clone(),
                x0: margin + span,
                y0: top + (0.72 * ph).round(),
                vx: -v,
                vy: 0.0,
            });
        }
        if n >= 3 {
            let y0 = (h - margin - ph).round();
            let rise = (y0 - (top + 1.72 * ph + 4.0)).max(0.0).min(0.15 * h);
            plates.push(Plate {
                id: 3,
                text: texts[2].clone(),
                sprite: sprites[2].clone(),
                x0: margin + span * 0.5,
                y0,
                vx: -v * 0.4,
                vy: -rise / steps,
            });
        }
        let mut background = Rgb::new(config.width, config.height);
        let mut noise = Rng(config.seed ^ 0xB5);
        for y in 0..config.height {
            for x in 0..config.width {
                let n = (noise.next() % 21) as i32 - 10;
                let wave = (((x / 16 + y / 16) % 2) as i32) * 12;
                let base = 70 + (y * 50 / config.height) as i32 + wave + n;
                let i = (y * config.width + x) * 3;
                background.data[i] = (base - 10).clamp(0, 255) as u8;
                background.data[i + 1] = (base + 5).clamp(0, 255) as u8;
                background.data[i + 2] = (base + 20).clamp(0, 255) as u8;
            }
        }
        Ok(SyntheticSource { config, plates, background, next: 0 })
    }

    fn bbox(&self, p: &Plate, k: u64) -> [f32; 4] {
        let (x, y) = p.pos(k);
        let x1 = x.clamp(0, self.config.width as i64) as f32;
        let y1 = y.clamp(0, self.config.height as i64) as f32;
        let x2 = (x + p.sprite.width as i64).clamp(0, self.config.width as i64) as f32;
        let y2 = (y + p.sprite.height as i64).clamp(0, self.config.height as i64) as f32;
        [x1, y1, x2, y2]
    }

    /// The image of frame `k`.
    pub fn render(&self, k: u64) -> Rgb {
        let mut img = self.background.clone();
        for p in &self.plates {
            let (px, py) = p.pos(k);
            for sy in 0..p.sprite.height {
                let y = py + sy as i64;
                if y < 0 || y >= img.height as i64 {
                    continue;
                }
                for sx in 0..p.sprite.width {
                    let x = px + sx as i64;
                    if x < 0 || x >= img.width as i64 {
                        continue;
                    }
                    let d = (y as usize * img.width + x as usize) * 3;
                    let s = (sy * p.sprite.width + sx) * 3;
                    img.data[d..d + 3].copy_from_slice(&p.sprite.data[s..s + 3]);
                }
            }
        }
        img
    }

    /// Boxes, visibility (share of the plate not hidden by plates drawn over it) and texts.
    pub fn ground_truth(&self) -> GroundTruth {
        let mut rows = Vec::new();
        for k in 0..self.config.frames {
            for (i, p) in self.plates.iter().enumerate() {
                let b = self.bbox(p, k);
                let above: Vec<[f32; 4]> = self.plates[i + 1..].iter().map(|q| self.bbox(q, k)).collect();
                let (mut total, mut seen) = (0u32, 0u32);
                let mut y = b[1] + 0.5;
                while y < b[3] {
                    let mut x = b[0] + 0.5;
                    while x < b[2] {
                        total += 1;
                        if !above.iter().any(|a| x >= a[0] && x < a[2] && y >= a[1] && y < a[3]) {
                            seen += 1;
                        }
                        x += 2.0;
                    }
                    y += 2.0;
                }
                let visibility = if total == 0 { 0.0 } else { seen as f32 / total as f32 };
                rows.push(MotRow { frame: k + 1, id: p.id, bbox: b, visibility });
            }
        }
        GroundTruth { rows, texts: self.plates.iter().map(|p| (p.id, p.text.clone())).collect() }
    }
}

impl Source for SyntheticSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        if self.next >= self.config.frames {
            return Ok(None);
        }
        let f = Frame::from_rgb(self.next, self.render(self.next));
        self.next += 1;
        Ok(Some(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_with_crossing_and_occlusion() {
        let a = SyntheticSource::new(SynthConfig::default()).unwrap();
        let b = SyntheticSource::new(SynthConfig::default()).unwrap();
        assert_eq!(a.render(7).data, b.render(7).data);
        let gt = a.ground_truth();
        assert_eq!(gt, b.ground_truth());
        assert_eq!(gt.texts.len(), 3);
        let other = SyntheticSource::new(SynthConfig { seed: 2, ..SynthConfig::default() }).unwrap();
        assert_ne!(other.ground_truth().texts, gt.texts);
        // Plate 1 is partly hidden at some frame, never fully; plates 1 and 2 swap sides.
        let vis1: Vec<f32> = gt.rows.iter().filter(|r| r.id == 1).map(|r| r.visibility).collect();
        let min = vis1.iter().cloned().fold(1.0, f32::min);
        assert!(min < 0.9 && min > 0.5, "{min}");
        let first = &gt.rows[..3];
        let last = &gt.rows[gt.rows.len() - 3..];
        assert!(first[0].bbox[0] < first[1].bbox[0] && last[0].bbox[0] > last[1].bbox[0]);
        assert!(gt.mot_lines().lines().next().unwrap().starts_with("1,1,"));
    }
}
