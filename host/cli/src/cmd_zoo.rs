//! `oar zoo`: the table of the PaddlePaddle seed list (`models/zoo/*.toml`, embedded at build
//! time): each model's family, task and whether oar runs it (`real`, `architecture`), cannot
//! (`unsupported`, with the reason) or has not been tried (`untested`, with why).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::process::ExitCode;

/// One file per family, written by `tools/zoo_table.py`.
const FAMILIES: &[(&str, &str)] = &[
    ("paddleclas.toml", include_str!("../../../models/zoo/paddleclas.toml")),
    ("paddledetection.toml", include_str!("../../../models/zoo/paddledetection.toml")),
    ("paddleseg.toml", include_str!("../../../models/zoo/paddleseg.toml")),
    ("paddleocr.toml", include_str!("../../../models/zoo/paddleocr.toml")),
    ("paddlegan.toml", include_str!("../../../models/zoo/paddlegan.toml")),
    ("paddlevideo.toml", include_str!("../../../models/zoo/paddlevideo.toml")),
    ("paddlenlp.toml", include_str!("../../../models/zoo/paddlenlp.toml")),
    ("paddlespeech.toml", include_str!("../../../models/zoo/paddlespeech.toml")),
    ("paddlerec.toml", include_str!("../../../models/zoo/paddlerec.toml")),
    ("parl.toml", include_str!("../../../models/zoo/parl.toml")),
    ("pgl.toml", include_str!("../../../models/zoo/pgl.toml")),
];

pub const STATUSES: &[&str] = &["real", "architecture", "unsupported", "untested"];

#[derive(clap::Args)]
pub struct ZooArgs {
    /// Only this family (e.g. PaddleClas; case-insensitive).
    #[arg(long)]
    pub family: Option<String>,
    /// Only models with this status (real, architecture, unsupported, untested).
    #[arg(long)]
    pub status: Option<String>,
    /// Counts per family and status instead of the models.
    #[arg(long)]
    pub summary: bool,
    /// JSON on stdout (an array of models, or of per-family counts with --summary).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FamilyFile {
    family: String,
    model: Vec<ZooModel>,
}

/// One model of the seed list.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZooModel {
    #[serde(default)]
    pub family: String,
    pub index: u32,
    pub name: String,
    pub task: String,
    pub status: String,
    /// Why it is unsupported or untested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The registry id of a `real` model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Conformance: max error relative to the output's magnitude, and latencies (one thread).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rel: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oar_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ort_ms: Option<f64>,
}

/// Every model of the embedded table, in seed-list order.
pub fn table() -> Result<Vec<ZooModel>> {
    let mut all = vec![];
    for (file, text) in FAMILIES {
        let f: FamilyFile = toml::from_str(text).with_context(|| format!("models/zoo/{file}"))?;
        for mut m in f.model {
            if !STATUSES.contains(&m.status.as_str()) {
                bail!("models/zoo/{file}: {}: unknown status `{}`", m.name, m.status);
            }
            m.family = f.family.clone();
            all.push(m);
        }
    }
    Ok(all)
}

pub fn run(args: &ZooArgs) -> Result<ExitCode> {
    let all = table()?;
    if let Some(s) = &args.status {
        anyhow::ensure!(STATUSES.contains(&s.as_str()), "unknown status `{s}` (one of {})", STATUSES.join(", "));
    }
    let models: Vec<&ZooModel> = all
        .iter()
        .filter(|m| args.family.as_ref().map_or(true, |f| m.family.eq_ignore_ascii_case(f)))
        .filter(|m| args.status.as_ref().map_or(true, |s| &m.status == s))
        .collect();
    if models.is_empty() {
        let families: std::collections::BTreeSet<_> = all.iter().map(|m| m.family.as_str()).collect();
        bail!("no model matches (families: {})", families.into_iter().collect::<Vec<_>>().join(", "));
    }
    if args.summary {
        let counts = summary(&models);
        if args.json {
            let v: Vec<_> = counts.iter().map(|(f, c)| serde_json::json!({"family": f, "counts": c})).collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!("{:18} {:>6} {:>6} {:>12} {:>11} {:>8}", "family", "models", "real", "architecture", "unsupported", "untested");
            for (f, c) in &counts {
                let total: usize = c.values().sum();
                println!("{f:18} {total:>6} {:>6} {:>12} {:>11} {:>8}", c["real"], c["architecture"], c["unsupported"], c["untested"]);
            }
        }
    } else if args.json {
        println!("{}", serde_json::to_string_pretty(&models)?);
    } else {
        for m in &models {
            let detail = match (&m.registry, m.max_rel, &m.reason) {
                (Some(id), _, _) => format!("oar fetch {id}"),
                (_, _, Some(r)) => r.clone(),
                (_, Some(rel), _) => format!(
                    "rel error {rel:.1e}, oar {:.1} ms vs onnxruntime {:.1} ms",
                    m.oar_ms.unwrap_or(f64::NAN),
                    m.ort_ms.unwrap_or(f64::NAN)
                ),
                _ => String::new(),
            };
            println!("{:16} {:34} {:24} {:12} {detail}", m.family, m.name, m.task, m.status);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Counts per family (in table order, then "all") and status.
fn summary(models: &[&ZooModel]) -> Vec<(String, std::collections::BTreeMap<&'static str, usize>)> {
    let mut out: Vec<(String, std::collections::BTreeMap<&'static str, usize>)> = vec![];
    let zero = || STATUSES.iter().map(|s| (*s, 0)).collect::<std::collections::BTreeMap<_, _>>();
    let mut all = zero();
    for m in models {
        if out.last().map_or(true, |(f, _)| f != &m.family) {
            out.push((m.family.clone(), zero()));
        }
        let status = STATUSES.iter().find(|s| **s == m.status).expect("statuses are checked on load");
        *out.last_mut().expect("pushed above").1.get_mut(status).expect("every status counted") += 1;
        *all.get_mut(status).expect("every status counted") += 1;
    }
    out.push(("all".into(), all));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_every_seed_model_with_a_status_and_its_reason() {
        let all = table().unwrap();
        assert_eq!(all.len(), 604);
        let per_family = |f: &str| all.iter().filter(|m| m.family == f).count();
        for (family, n) in [
            ("PaddleClas", 207),
            ("PaddleDetection", 49),
            ("PaddleSeg", 38),
            ("PaddleOCR", 60),
            ("PaddleGAN", 31),
            ("PaddleVideo", 27),
            ("PaddleNLP", 59),
            ("PaddleSpeech", 23),
            ("PaddleRec", 63),
            ("PARL", 21),
            ("PGL", 26),
        ] {
            assert_eq!(per_family(family), n, "{family}");
        }
        for m in &all {
            match m.status.as_str() {
                "unsupported" | "untested" => assert!(m.reason.as_ref().is_some_and(|r| !r.is_empty()), "{} has no reason", m.name),
                "architecture" => assert!(m.max_rel.is_some_and(|r| r <= 1e-3), "{} is not proven", m.name),
                _ => {}
            }
        }
    }

    #[test]
    fn real_models_name_registry_entries() {
        let registry = oar_registry::Registry::builtin().unwrap();
        let real: Vec<_> = table().unwrap().into_iter().filter(|m| m.status == "real").collect();
        assert!(!real.is_empty());
        for m in real {
            let id = m.registry.as_deref().unwrap_or_else(|| panic!("{} is real but names no registry entry", m.name));
            assert!(registry.get(id).is_ok(), "{}: no registry entry `{id}`", m.name);
        }
    }
}
