//! MOTChallenge text format: `frame,id,x,y,w,h,conf,...` (1-based frames, top-left corner,
//! width and height in pixels). Functions over `&str` and `impl Write`: no file access here.

use std::io::{self, Write};

use crate::{Detection, Track};

/// Largest frame number accepted (bounds the memory a malformed file can ask for).
pub const MAX_FRAME: u32 = 10_000_000;

/// A malformed line of MOTChallenge text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct MotError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

fn field<T: std::str::FromStr>(
    fields: &[&str],
    i: usize,
    name: &str,
    line: usize,
) -> Result<T, MotError> {
    let raw = fields[i];
    raw.parse::<T>().map_err(|_| MotError {
        line,
        message: format!("field {} ({name}) is not a valid number: {raw:?}", i + 1),
    })
}

/// Parses detections (`frame,id,x,y,w,h,conf[,class_or_x,...]`) into one list per frame,
/// `result[f - 1]` holding frame `f`, for every frame from 1 to the last one (empty where a frame
/// has no line). Column 8, when it is a non-negative integer, is taken as the class (as in
/// MOT gt files); otherwise (det files put -1 there) the class is 0. Blank lines and lines
/// starting with `#` are skipped; fields may be separated by commas or whitespace.
pub fn parse_mot_detections(text: &str) -> Result<Vec<Vec<Detection>>, MotError> {
    let mut frames: Vec<Vec<Detection>> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let s = raw.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = if s.contains(',') {
            s.split(',').map(str::trim).collect()
        } else {
            s.split_whitespace().collect()
        };
        if fields.len() < 7 {
            return Err(MotError {
                line,
                message: format!(
                    "expected at least 7 fields (frame,id,x,y,w,h,conf), found {}",
                    fields.len()
                ),
            });
        }
        let frame_f: f64 = field(&fields, 0, "frame", line)?;
        if frame_f.fract() != 0.0 || frame_f < 1.0 || frame_f > f64::from(MAX_FRAME) {
            return Err(MotError {
                line,
                message: format!(
                    "frame must be an integer from 1 to {MAX_FRAME}, found {}",
                    fields[0]
                ),
            });
        }
        let frame = frame_f as usize;
        let x: f32 = field(&fields, 2, "x", line)?;
        let y: f32 = field(&fields, 3, "y", line)?;
        let w: f32 = field(&fields, 4, "width", line)?;
        let h: f32 = field(&fields, 5, "height", line)?;
        let score: f32 = field(&fields, 6, "confidence", line)?;
        if ![x, y, w, h, score].iter().all(|v| v.is_finite()) {
            return Err(MotError {
                line,
                message: "box and confidence must be finite numbers".into(),
            });
        }
        if w < 0.0 || h < 0.0 {
            return Err(MotError {
                line,
                message: format!("negative width or height ({w} x {h})"),
            });
        }
        let class = fields
            .get(7)
            .and_then(|c| c.parse::<u32>().ok())
            .unwrap_or(0);
        if frames.len() < frame {
            frames.resize_with(frame, Vec::new);
        }
        frames[frame - 1].push(Detection {
            bbox: [x, y, x + w, y + h],
            score,
            class,
        });
    }
    Ok(frames)
}

/// Writes the tracks of one frame as MOTChallenge lines `frame,id,x,y,w,h,score,-1,-1,-1`.
pub fn write_mot_tracks<W: Write>(w: &mut W, frame: u32, tracks: &[Track]) -> io::Result<()> {
    for t in tracks {
        let [x1, y1, x2, y2] = t.bbox;
        writeln!(
            w,
            "{frame},{},{:.3},{:.3},{:.3},{:.3},{:.4},-1,-1,-1",
            t.id,
            x1,
            y1,
            x2 - x1,
            y2 - y1,
            t.score
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrackState;

    #[test]
    fn parse_frames_and_gaps() {
        let text =
            "# comment\n1,-1,10,20,30,40,0.9,-1,-1,-1\n\n3,-1,0,0,5,5,0.5\n1,-1,1,2,3,4,0.25,2,1\n";
        let f = parse_mot_detections(text).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].len(), 2);
        assert_eq!(
            f[0][0],
            Detection {
                bbox: [10.0, 20.0, 40.0, 60.0],
                score: 0.9,
                class: 0
            }
        );
        assert_eq!(f[0][1].class, 2);
        assert!(f[1].is_empty());
        assert_eq!(f[2][0].bbox, [0.0, 0.0, 5.0, 5.0]);
        // whitespace separated
        assert_eq!(
            parse_mot_detections("2 -1 1 1 2 2 0.7").unwrap()[1].len(),
            1
        );
    }

    #[test]
    fn parse_errors_name_the_line() {
        let e = parse_mot_detections("1,-1,1,1,1,1,0.5\n1,-1,1,1,1\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string()
                .starts_with("line 2: expected at least 7 fields"),
            "{e}"
        );
        let e = parse_mot_detections("1,-1,1,abc,1,1,0.5").unwrap_err();
        assert!(e.to_string().contains("field 4 (y)"), "{e}");
        assert!(parse_mot_detections("0,-1,1,1,1,1,0.5").is_err());
        assert!(parse_mot_detections("1.5,-1,1,1,1,1,0.5").is_err());
        assert!(parse_mot_detections("1,-1,1,1,-1,1,0.5").is_err());
        assert!(parse_mot_detections("1,-1,1,1,NaN,1,0.5").is_err());
        assert!(parse_mot_detections("99999999999,-1,1,1,1,1,0.5").is_err());
    }

    #[test]
    fn write_round_trips() {
        let t = Track {
            id: 7,
            bbox: [10.0, 20.0, 40.0, 60.0],
            score: 0.875,
            class: 0,
            age: 3,
            hits: 3,
            state: TrackState::Confirmed,
        };
        let mut out = Vec::new();
        write_mot_tracks(&mut out, 5, &[t]).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, "5,7,10.000,20.000,30.000,40.000,0.8750,-1,-1,-1\n");
        let back = parse_mot_detections(&s).unwrap();
        assert_eq!(back[4][0].bbox, t.bbox);
    }
}
