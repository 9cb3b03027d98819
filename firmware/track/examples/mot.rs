//! Standalone tracker over a MOTChallenge detection file, same as `oar track`:
//!
//! `cargo run --release -p oar-track --example mot -- --dets det.txt --tracker ocsort -o out.txt`
//! (`--param NAME=VALUE`, repeatable, sets a tracker parameter by the reference's name)

use std::io::Write;
use std::process::ExitCode;

use oar_track::{parse_mot_detections, parse_param, write_mot_tracks, TrackerConfig};

fn run() -> Result<(), String> {
    let mut dets = None;
    let mut out = None;
    let mut tracker = "bytetrack".to_string();
    let mut params = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--dets" => dets = Some(value()?),
            "--tracker" => tracker = value()?,
            "--param" => params.push(parse_param(&value()?).map_err(|e| e.to_string())?),
            "-o" | "--out" => out = Some(value()?),
            "-h" | "--help" => {
                println!("usage: mot --dets DET.txt [--tracker bytetrack|ocsort] [--param NAME=VALUE]... -o OUT.txt");
                return Ok(());
            }
            _ => return Err(format!("unexpected argument {a:?} (try --help)")),
        }
    }
    let dets = dets.ok_or("--dets is required")?;
    let out = out.ok_or("-o is required")?;
    let cfg = TrackerConfig::from_params(&tracker, params).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&dets).map_err(|e| format!("reading {dets}: {e}"))?;
    let frames = parse_mot_detections(&text).map_err(|e| format!("{dets}:{e}"))?;
    let mut t = cfg.build();
    let mut buf = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let tracks = t.update(f);
        write_mot_tracks(&mut buf, i as u32 + 1, &tracks).map_err(|e| e.to_string())?;
    }
    let tmp = format!("{out}.tmp.{}", std::process::id());
    let mut f = std::fs::File::create(&tmp).map_err(|e| format!("creating {tmp}: {e}"))?;
    f.write_all(&buf)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("writing {tmp}: {e}"))?;
    std::fs::rename(&tmp, &out).map_err(|e| format!("renaming {tmp} to {out}: {e}"))?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
