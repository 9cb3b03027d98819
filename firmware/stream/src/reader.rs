//! The OCR stage's seam: anything that reads the text in a box of a frame, and the vote that
//! fuses one track's reads. The plan-backed reader (recogniser + classifier) is in oar-edge.

use crate::StreamError;
use oar_io::Rgb;
use std::collections::HashMap;

/// Reads the text inside a box of a frame: returns the text and its confidence.
pub trait Reader: Send {
    fn read(&mut self, frame: &Rgb, bbox: [f32; 4]) -> Result<(String, f32), StreamError>;
}

/// A reader that reads the same text with the same confidence in every box: for tests and soak
/// runs.
pub struct FixedReader(pub &'static str, pub f32);

impl Reader for FixedReader {
    fn read(&mut self, _frame: &Rgb, _bbox: [f32; 4]) -> Result<(String, f32), StreamError> {
        Ok((self.0.to_string(), self.1))
    }
}

/// The pixels of `bbox` (grown by `pad` × its height on each side), clipped to the frame.
pub fn crop(frame: &Rgb, bbox: [f32; 4], pad: f32) -> Option<Rgb> {
    let p = pad * (bbox[3] - bbox[1]).max(0.0);
    let x1 = (bbox[0] - p).floor().max(0.0) as usize;
    let y1 = (bbox[1] - p).floor().max(0.0) as usize;
    let x2 = ((bbox[2] + p).ceil().max(0.0) as usize).min(frame.width);
    let y2 = ((bbox[3] + p).ceil().max(0.0) as usize).min(frame.height);
    if x2 <= x1 + 1 || y2 <= y1 + 1 {
        return None;
    }
    let (w, h) = (x2 - x1, y2 - y1);
    let mut out = Rgb::new(w, h);
    for y in 0..h {
        let src = ((y1 + y) * frame.width + x1) * 3;
        out.data[y * w * 3..(y + 1) * w * 3].copy_from_slice(&frame.data[src..src + w * 3]);
    }
    Some(out)
}

/// Confidence-weighted vote over whole strings: each distinct non-empty text scores the sum of
/// its reads' confidences; the winner's confidence is the mean of its reads. Ties go to the text
/// read first. `None` when there is no non-empty read.
pub fn fuse_reads(reads: &[(String, f32)]) -> Option<(String, f32)> {
    let mut votes: HashMap<&str, (f32, usize, usize)> = HashMap::new();
    for (i, (t, s)) in reads.iter().enumerate() {
        if t.is_empty() {
            continue;
        }
        let e = votes.entry(t.as_str()).or_insert((0.0, 0, i));
        e.0 += s.max(0.0);
        e.1 += 1;
    }
    votes
        .into_iter()
        .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(b.1 .2.cmp(&a.1 .2)))
        .map(|(t, (sum, n, _))| (t.to_string(), sum / n as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vote_is_confidence_weighted() {
        let r = |t: &str, s: f32| (t.to_string(), s);
        assert_eq!(fuse_reads(&[]), None);
        assert_eq!(fuse_reads(&[r("", 0.9)]), None);
        // Two unsure reads of a wrong string outweigh one sure read...
        let (t, _) = fuse_reads(&[r("AB12", 0.95), r("A812", 0.6), r("A812", 0.6)]).unwrap();
        assert_eq!(t, "A812");
        // ... but not three sure ones.
        let (t, s) = fuse_reads(&[r("AB12", 0.95), r("A812", 0.6), r("AB12", 0.97), r("A812", 0.5)]).unwrap();
        assert_eq!(t, "AB12");
        assert!((s - 0.96).abs() < 1e-6);
        // Ties: first read wins.
        assert_eq!(fuse_reads(&[r("X", 0.5), r("Y", 0.5)]).unwrap().0, "X");
    }

    #[test]
    fn crop_clips_to_frame() {
        let mut img = Rgb::new(10, 10);
        img.data[(2 * 10 + 3) * 3] = 200;
        let c = crop(&img, [3.0, 2.0, 6.0, 5.0], 0.0).unwrap();
        assert_eq!((c.width, c.height, c.data[0]), (3, 3, 200));
        let c = crop(&img, [-5.0, -5.0, 50.0, 50.0], 0.0).unwrap();
        assert_eq!((c.width, c.height), (10, 10));
        assert!(crop(&img, [20.0, 20.0, 30.0, 30.0], 0.0).is_none());
    }
}
