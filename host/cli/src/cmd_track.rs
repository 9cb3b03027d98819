//! `oar track`: run a multi-object tracker over MOTChallenge detections.
//!
//! Input: `frame,id,x,y,w,h,conf[,...]` lines (the id column is ignored). Output: one
//! `frame,id,x,y,w,h,score,-1,-1,-1` line per reported track and frame, written atomically.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use oar_track::{parse_mot_detections, write_mot_tracks, TrackerConfig};

/// Arguments of `oar track`.
#[derive(clap::Args, Debug, Clone)]
pub struct TrackArgs {
    /// Detections in MOTChallenge text format (`frame,id,x,y,w,h,conf,...`).
    #[arg(long)]
    pub dets: PathBuf,
    /// Tracker: `bytetrack` or `ocsort` (paper defaults).
    #[arg(long, default_value = "bytetrack")]
    pub tracker: String,
    /// Where to write the tracks (MOTChallenge format).
    #[arg(short = 'o', long)]
    pub out: PathBuf,
}

/// Runs the tracker frame by frame over `args.dets` and writes the tracks to `args.out`.
pub fn run(args: &TrackArgs) -> Result<()> {
    let cfg = TrackerConfig::by_name(&args.tracker).map_err(anyhow::Error::new)?;
    let text = oar_plan::fsio::read_regular_text(&args.dets, 1 << 30)
        .with_context(|| format!("reading detections {}", args.dets.display()))?;
    let frames = parse_mot_detections(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.dets.display()))
        .context(
            "malformed detection file (expected MOTChallenge lines frame,id,x,y,w,h,conf,...)",
        )?;
    if frames.is_empty() {
        bail!("{}: no detections found", args.dets.display());
    }
    let mut tracker = cfg.build();
    let mut buf = Vec::with_capacity(text.len());
    let mut ids = std::collections::HashSet::new();
    let start = Instant::now();
    for (i, dets) in frames.iter().enumerate() {
        let tracks = tracker.update(dets);
        ids.extend(tracks.iter().map(|t| t.id));
        write_mot_tracks(&mut buf, i as u32 + 1, &tracks).context("formatting tracks")?;
    }
    let elapsed = start.elapsed();
    write_atomically(&args.out, &buf)?;
    log::info!(
        "{}: {} frames, {} tracks, {:.3} ms/frame -> {}",
        cfg.name(),
        frames.len(),
        ids.len(),
        elapsed.as_secs_f64() * 1e3 / frames.len() as f64,
        args.out.display()
    );
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    oar_plan::fsio::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oar-track-cli-{}-{name}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn tracks_a_file() {
        let d = scratch("ok");
        let dets = d.join("det.txt");
        let mut s = String::new();
        for f in 1..=10 {
            s += &format!("{f},-1,{},10,30,60,0.9,-1,-1,-1\n", 10 + 3 * f);
        }
        fs::write(&dets, s).unwrap();
        for tracker in ["bytetrack", "ocsort"] {
            let out = d.join(format!("{tracker}.txt"));
            run(&TrackArgs {
                dets: dets.clone(),
                tracker: tracker.into(),
                out: out.clone(),
            })
            .unwrap();
            let text = fs::read_to_string(&out).unwrap();
            assert!(text.lines().count() >= 8, "{tracker}: {text}");
            assert!(text.lines().all(|l| l.split(',').nth(1) == Some("1")));
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn malformed_input_names_file_and_line() {
        let d = scratch("bad");
        let dets = d.join("det.txt");
        fs::write(&dets, "1,-1,1,1,5,5,0.9\n2,-1,1,oops,5,5,0.9\n").unwrap();
        let out = d.join("out.txt");
        let err = run(&TrackArgs {
            dets: dets.clone(),
            tracker: "bytetrack".into(),
            out: out.clone(),
        })
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("det.txt: line 2: field 4 (y)"), "{msg}");
        assert!(!out.exists());
        let err = run(&TrackArgs {
            dets,
            tracker: "sort".into(),
            out,
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("unknown tracker"));
        fs::remove_dir_all(&d).unwrap();
    }
}
