//! Tracker parameters from files and command lines.
//!
//! The parameter names and types are the fields of [`ByteTrackConfig`] and [`OcSortConfig`]
//! (serde, unknown fields rejected); this module adds the tagged form (`name = "ocsort"` beside
//! the parameters, as a pipeline file's `[tracker]` table has it), range checks, and
//! `NAME=VALUE` strings (`oar track --param`).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IntoDeserializer};

use crate::{ByteTrackConfig, OcSortConfig, TrackerConfig};

/// A tracker parameter that is unknown, of the wrong type or out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// A value outside the parameter's range.
    #[error("{tracker} parameter {name} = {value} is out of range: expected {expected}")]
    OutOfRange {
        tracker: &'static str,
        name: &'static str,
        value: String,
        expected: String,
    },
    /// `NAME=VALUE` without the `=`.
    #[error("tracker parameter {0:?}: expected NAME=VALUE")]
    Syntax(String),
    /// What serde said (unknown name, wrong type, unknown tracker), with the parameter it was
    /// about when one can be named.
    #[error("{0}")]
    Invalid(String),
}

/// `Ok` when `lo <= v <= hi` (NaN is out of every range).
pub(crate) fn check<T: PartialOrd + fmt::Display + Copy>(
    tracker: &'static str,
    name: &'static str,
    v: T,
    lo: T,
    hi: T,
) -> Result<(), ParamError> {
    if (lo..=hi).contains(&v) {
        return Ok(());
    }
    Err(ParamError::OutOfRange {
        tracker,
        name,
        value: v.to_string(),
        expected: format!("{lo} <= {name} <= {hi}"),
    })
}

/// The tagged form: `name` picks the tracker, the other keys are its parameters.
#[derive(serde::Deserialize)]
#[serde(tag = "name")]
enum Tagged {
    #[serde(rename = "bytetrack", alias = "byte", alias = "byte_track", alias = "byte-track")]
    ByteTrack(ByteTrackConfig),
    #[serde(rename = "ocsort", alias = "oc-sort", alias = "oc_sort")]
    OcSort(OcSortConfig),
}

impl From<Tagged> for TrackerConfig {
    fn from(t: Tagged) -> Self {
        match t {
            Tagged::ByteTrack(c) => Self::ByteTrack(c),
            Tagged::OcSort(c) => Self::OcSort(c),
        }
    }
}

/// `name = "bytetrack" | "ocsort"` and that tracker's parameters by the reference
/// implementations' names; missing ones take their defaults. The result is range-checked.
impl<'de> Deserialize<'de> for TrackerConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let cfg = Self::from(Tagged::deserialize(d)?);
        cfg.validate().map_err(de::Error::custom)?;
        Ok(cfg)
    }
}

/// One parameter value as written on a command line or read from a file.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl ParamValue {
    /// `true`/`false`, an integer, a number, else the text itself (for names such as
    /// `asso_func=iou`).
    pub fn parse(text: &str) -> Self {
        let t = text.trim();
        match t {
            "true" => return Self::Bool(true),
            "false" => return Self::Bool(false),
            _ => {}
        }
        if let Ok(i) = t.parse::<i64>() {
            return Self::Int(i);
        }
        match t.parse::<f64>() {
            Ok(f) => Self::Float(f),
            Err(_) => Self::Str(t.trim_matches('"').to_string()),
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// Hands a [`ParamValue`] to serde as the value it is.
pub struct ParamValueDeserializer(ParamValue);

impl<'de> IntoDeserializer<'de, de::value::Error> for ParamValue {
    type Deserializer = ParamValueDeserializer;
    fn into_deserializer(self) -> Self::Deserializer {
        ParamValueDeserializer(self)
    }
}

impl<'de> Deserializer<'de> for ParamValueDeserializer {
    type Error = de::value::Error;
    fn deserialize_any<V: de::Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            ParamValue::Bool(b) => v.visit_bool(b),
            ParamValue::Int(i) => v.visit_i64(i),
            ParamValue::Float(x) => v.visit_f64(x),
            ParamValue::Str(s) => v.visit_string(s),
        }
    }
    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            ParamValue::Str(s) => s.into_deserializer().deserialize_enum(name, variants, v),
            other => ParamValueDeserializer(other).deserialize_any(v),
        }
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

impl TrackerConfig {
    /// The tracker `name` (see [`TrackerConfig::by_name`]) with `params` set over its defaults,
    /// later ones winning; checked as a pipeline file's `[tracker]` table is. An error names the
    /// parameter at fault.
    pub fn from_params<I>(name: &str, params: I) -> Result<Self, ParamError>
    where
        I: IntoIterator<Item = (String, ParamValue)>,
    {
        let canonical = Self::by_name(name)
            .map_err(|e| ParamError::Invalid(e.to_string()))?
            .name();
        let mut merged: Vec<(String, ParamValue)> = Vec::new();
        for (k, v) in params {
            if k == "name" {
                return Err(ParamError::Invalid(
                    "tracker parameter name: the tracker is chosen by --tracker (or a file's name = ...), not as a parameter".into(),
                ));
            }
            merged.retain(|(m, _)| *m != k);
            merged.push((k, v));
        }
        let parse = |entries: &[(String, ParamValue)]| -> Result<Self, String> {
            let tag = ("name".to_string(), ParamValue::Str(canonical.to_string()));
            let map = std::iter::once(tag).chain(entries.iter().cloned());
            let d = de::value::MapDeserializer::<_, de::value::Error>::new(map);
            Tagged::deserialize(d).map(Self::from).map_err(|e| e.to_string())
        };
        match parse(&merged) {
            Ok(cfg) => {
                cfg.validate()?;
                Ok(cfg)
            }
            Err(all) => {
                // name the parameter at fault: the first that fails on its own
                for entry in &merged {
                    if let Err(e) = parse(std::slice::from_ref(entry)) {
                        return Err(ParamError::Invalid(format!(
                            "{canonical} parameter {} = {}: {e}",
                            entry.0, entry.1
                        )));
                    }
                }
                Err(ParamError::Invalid(format!("{canonical}: {all}")))
            }
        }
    }

    /// Checks the ranges of the parameters.
    pub fn validate(&self) -> Result<(), ParamError> {
        match self {
            Self::ByteTrack(c) => c.validate(),
            Self::OcSort(c) => c.validate(),
        }
    }
}

/// Splits `NAME=VALUE` (`oar track --param`).
pub fn parse_param(arg: &str) -> Result<(String, ParamValue), ParamError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => {
            Ok((k.trim().to_string(), ParamValue::parse(v)))
        }
        _ => Err(ParamError::Syntax(arg.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[&str]) -> Vec<(String, ParamValue)> {
        list.iter().map(|p| parse_param(p).unwrap()).collect()
    }

    #[test]
    fn every_reference_name_is_taken() {
        let c = TrackerConfig::from_params(
            "ocsort",
            params(&[
                "det_thresh=0.45",
                "max_age=12",
                "min_hits=1",
                "iou_threshold=0.25",
                "delta_t=2",
                "asso_func=iou",
                "inertia=0.35",
                "use_byte=true",
            ]),
        )
        .unwrap();
        let TrackerConfig::OcSort(o) = c else { panic!("{c:?}") };
        assert_eq!(
            o,
            OcSortConfig {
                det_thresh: 0.45,
                max_age: 12,
                min_hits: 1,
                iou_threshold: 0.25,
                delta_t: 2,
                inertia: 0.35,
                use_byte: true,
                ..OcSortConfig::default()
            }
        );
        let c = TrackerConfig::from_params(
            "ByteTrack",
            params(&["track_thresh=0.3", "track_buffer=60", "match_thresh=0.9", "frame_rate=15", "mot20=true"]),
        )
        .unwrap();
        let TrackerConfig::ByteTrack(b) = c else { panic!("{c:?}") };
        assert_eq!((b.track_thresh, b.track_buffer, b.match_thresh, b.frame_rate, b.mot20), (0.3, 60, 0.9, 15, true));
        assert_eq!(b.max_time_lost(), 30);
        assert!((b.det_thresh() - 0.4).abs() < 1e-6);
        // integers are accepted where numbers are expected; later values win
        let c = TrackerConfig::from_params("bytetrack", params(&["track_thresh=1", "track_thresh=0.2"])).unwrap();
        assert_eq!(c, TrackerConfig::ByteTrack(ByteTrackConfig { track_thresh: 0.2, ..Default::default() }));
        assert_eq!(TrackerConfig::from_params("ocsort", []).unwrap(), TrackerConfig::by_name("ocsort").unwrap());
    }

    #[test]
    fn errors_name_the_parameter() {
        let err = |name: &str, list: &[&str]| TrackerConfig::from_params(name, params(list)).unwrap_err().to_string();
        let e = err("ocsort", &["max_age=5", "track_thresh=0.5"]);
        assert!(e.contains("track_thresh") && e.contains("unknown field") && e.contains("det_thresh"), "{e}");
        let e = err("bytetrack", &["track_thresh=1.5"]);
        assert_eq!(e, "bytetrack parameter track_thresh = 1.5 is out of range: expected 0 <= track_thresh <= 1");
        let e = err("bytetrack", &["match_thresh=0.5", "track_buffer=-3"]);
        assert!(e.starts_with("bytetrack parameter track_buffer = -3:"), "{e}");
        let e = err("ocsort", &["max_age=0.5"]);
        assert!(e.starts_with("ocsort parameter max_age = 0.5:"), "{e}");
        let e = err("ocsort", &["use_byte=yes"]);
        assert!(e.starts_with("ocsort parameter use_byte = \"yes\":"), "{e}");
        let e = err("ocsort", &["asso_func=giou"]);
        assert!(e.contains("giou") && e.contains("iou"), "{e}");
        let e = err("ocsort", &["inertia=NaN"]);
        assert!(e.contains("inertia = NaN is out of range"), "{e}");
        let e = err("ocsort", &["delta_t=0"]);
        assert!(e.contains("delta_t = 0 is out of range: expected 1 <= delta_t"), "{e}");
        let e = err("sort", &[]);
        assert!(e.contains("unknown tracker \"sort\""), "{e}");
        let e = err("ocsort", &["name=bytetrack"]);
        assert!(e.contains("--tracker"), "{e}");
        assert_eq!(parse_param("det_thresh").unwrap_err(), ParamError::Syntax("det_thresh".into()));
        assert!(parse_param("=3").is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        tracker: TrackerConfig,
    }

    #[test]
    fn toml_tables() {
        let f: File = toml::from_str("[tracker]\nname = \"oc-sort\"\ndelta_t = 1\ninertia = 0\n").unwrap();
        assert_eq!(
            f.tracker,
            TrackerConfig::OcSort(OcSortConfig { delta_t: 1, inertia: 0.0, ..Default::default() })
        );
        for (text, want) in [
            ("[tracker]\nname = \"bytetrack\"\ntrack_buffer = 0\n", "track_buffer = 0 is out of range"),
            ("[tracker]\nname = \"bytetrack\"\ndet_thresh = 0.3\n", "unknown field `det_thresh`"),
            ("[tracker]\nname = \"sort\"\n", "sort"),
            ("[tracker]\ntrack_thresh = 0.3\n", "missing field `name`"),
        ] {
            let e = toml::from_str::<File>(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
