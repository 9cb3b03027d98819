//! `oar track`: run a multi-object tracker over MOTChallenge detections.
//!
//! Input: `frame,id,x,y,w,h,conf[,...]` lines (the id column is ignored). Output: one
//! `frame,id,x,y,w,h,score,-1,-1,-1` line per reported track and frame, written atomically.
//!
//! Tracker parameters, by the reference implementations' names, come from `--tracker-config
//! FILE.toml` (`name = "ocsort"` and parameters, as a pipeline file's `[tracker]` table) and
//! `--param NAME=VALUE` on top of it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use oar_track::{parse_mot_detections, parse_param, write_mot_tracks, ParamValue, TrackerConfig};

/// Arguments of `oar track`.
#[derive(clap::Args, Debug, Clone)]
pub struct TrackArgs {
    /// Detections in MOTChallenge text format (`frame,id,x,y,w,h,conf,...`).
    #[arg(long)]
    pub dets: PathBuf,
    /// Tracker: `bytetrack` (default) or `ocsort`.
    #[arg(long)]
    pub tracker: Option<String>,
    /// A tracker parameter by the reference's name (repeatable), e.g. `--param det_thresh=0.4`:
    /// OC-SORT takes det_thresh, max_age, min_hits, iou_threshold, delta_t, asso_func, inertia,
    /// use_byte; ByteTrack takes track_thresh, track_buffer, match_thresh, frame_rate, mot20.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// A TOML file of tracker parameters (and optionally `name = "..."`), as a pipeline file's
    /// `[tracker]` table; `--param` wins over it.
    #[arg(long, value_name = "FILE.toml")]
    pub tracker_config: Option<PathBuf>,
    /// Where to write the tracks (MOTChallenge format).
    #[arg(short = 'o', long)]
    pub out: PathBuf,
}

/// Runs the tracker frame by frame over `args.dets` and writes the tracks to `args.out`.
pub fn run(args: &TrackArgs) -> Result<()> {
    let cfg = tracker_config(args)?;
    log::debug!("tracker {cfg:?}");
    let text = oar_io::read_regular_text(&args.dets, 1 << 30)
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

/// The tracker and its parameters from `--tracker`, `--tracker-config` and `--param`.
fn tracker_config(args: &TrackArgs) -> Result<TrackerConfig> {
    let mut name = args.tracker.clone();
    let mut params = Vec::new();
    if let Some(path) = &args.tracker_config {
        let text = oar_io::read_regular_text(path, 1 << 20)
            .with_context(|| format!("reading tracker config {}", path.display()))?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))
            .context("malformed tracker config (expected TOML: name = \"ocsort\", det_thresh = 0.5, ...)")?;
        for (key, value) in table {
            let v = match value {
                toml::Value::Boolean(b) => ParamValue::Bool(b),
                toml::Value::Integer(i) => ParamValue::Int(i),
                toml::Value::Float(f) => ParamValue::Float(f),
                toml::Value::String(s) if key == "name" => {
                    match &name {
                        Some(n) if !n.eq_ignore_ascii_case(&s) => bail!(
                            "--tracker {n} but {} says name = {s:?}: drop one of them",
                            path.display()
                        ),
                        _ => name = Some(s),
                    }
                    continue;
                }
                toml::Value::String(s) => ParamValue::Str(s),
                other => bail!(
                    "{}: {key}: expected a number, a boolean or a string, found a {}",
                    path.display(),
                    other.type_str()
                ),
            };
            params.push((key, v));
        }
    }
    for p in &args.params {
        params.push(parse_param(p).map_err(|e| anyhow::anyhow!("--param: {e}"))?);
    }
    let name = name.unwrap_or_else(|| "bytetrack".into());
    let source = match &args.tracker_config {
        Some(p) => format!("{} and --param", p.display()),
        None => "--param".into(),
    };
    TrackerConfig::from_params(&name, params).with_context(|| format!("tracker parameters from {source}"))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    oar_io::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
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
                tracker: Some(tracker.into()),
                params: vec![],
                tracker_config: None,
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
            tracker: Some("bytetrack".into()),
            params: vec![],
            tracker_config: None,
            out: out.clone(),
        })
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("det.txt: line 2: field 4 (y)"), "{msg}");
        assert!(!out.exists());
        let err = run(&TrackArgs {
            dets,
            tracker: Some("sort".into()),
            params: vec![],
            tracker_config: None,
            out,
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("unknown tracker"));
        fs::remove_dir_all(&d).unwrap();
    }

    fn args(tracker: Option<&str>, params: &[&str], file: Option<PathBuf>) -> TrackArgs {
        TrackArgs {
            dets: PathBuf::from("unused"),
            tracker: tracker.map(String::from),
            params: params.iter().map(|p| p.to_string()).collect(),
            tracker_config: file,
            out: PathBuf::from("unused"),
        }
    }

    #[test]
    fn parameters_from_file_and_command_line() {
        use oar_track::OcSortConfig;
        let d = scratch("params");
        let file = d.join("oc.toml");
        fs::write(&file, "name = \"ocsort\"\ndet_thresh = 0.4\nmax_age = 10\nuse_byte = true\n").unwrap();
        let cfg = tracker_config(&args(None, &["max_age=20"], Some(file.clone()))).unwrap();
        let want = OcSortConfig { det_thresh: 0.4, max_age: 20, use_byte: true, ..Default::default() };
        assert_eq!(cfg, TrackerConfig::OcSort(want));
        let cfg = tracker_config(&args(None, &["track_buffer=5"], None)).unwrap();
        assert_eq!(cfg.name(), "bytetrack");

        let msg = |a: TrackArgs| format!("{:#}", tracker_config(&a).unwrap_err());
        let m = msg(args(Some("bytetrack"), &[], Some(file.clone())));
        assert!(m.contains("--tracker bytetrack but") && m.contains("oc.toml"), "{m}");
        let m = msg(args(Some("ocsort"), &["max_agee=3"], None));
        assert!(m.contains("max_agee") && m.contains("unknown field"), "{m}");
        let m = msg(args(Some("ocsort"), &["iou_threshold=2"], None));
        assert!(m.contains("iou_threshold = 2 is out of range"), "{m}");
        let m = msg(args(Some("ocsort"), &["inertia"], None));
        assert!(m.contains("--param") && m.contains("NAME=VALUE"), "{m}");
        fs::write(&file, "max_age = [1]\n").unwrap();
        let m = msg(args(Some("ocsort"), &[], Some(file.clone())));
        assert!(m.contains("oc.toml: max_age: expected a number"), "{m}");
        fs::write(&file, "max_age = \n").unwrap();
        let m = msg(args(Some("ocsort"), &[], Some(file.clone())));
        assert!(m.contains("oc.toml") && m.contains("malformed tracker config"), "{m}");
        fs::remove_dir_all(&d).unwrap();
    }
}
