//! `oar-edge probe`: what CPU is this, which kernels did dispatch pick, which board profile fits.
//!
//! The board profiles (`boards/*.toml`) are embedded at compile time, so the binary needs no files
//! on the board. CPU features are detected at run time: `is_aarch64_feature_detected!` /
//! `is_x86_feature_detected!` where std has them, the ELF auxiliary vector (`/proc/self/auxv`,
//! `AT_HWCAP`/`AT_HWCAP2`) on armv7 and riscv64, where std's detection is unstable. The core is
//! read from `/proc/cpuinfo` (`CPU part`, riscv `uarch`) and the board from
//! `/proc/device-tree/model`; under qemu-user, which shows the host's cpuinfo, the `QEMU_CPU`
//! environment variable stands in for the core (it is compared with the profiles' `qemu_cpu`).
//!
//! A profile *fits* when it is for this architecture and every feature it lists is present. Among
//! the profiles that fit, the best one has the highest score: device-tree model named (100), core
//! named (10), then one point per listed feature (the most demanding profile that still fits wins).
//! Equal best scores are reported as ambiguous (e.g. rpi4 and rpi-zero2w share a feature set: only
//! the core or the device tree tells them apart).

use anyhow::{bail, Context, Result};
use oar_stream::PixelFormat;
use oar_stream::config::{BoardDefaults, CameraDefaults};
use serde::{Deserialize, Serialize};

/// Board profiles compiled into the binary: (file stem, TOML text).
pub const PROFILES: &[(&str, &str)] = &[
    ("jetson-orin-nano", include_str!("../../../boards/jetson-orin-nano.toml")),
    ("rpi-32bit", include_str!("../../../boards/rpi-32bit.toml")),
    ("rpi-zero2w", include_str!("../../../boards/rpi-zero2w.toml")),
    ("rpi4", include_str!("../../../boards/rpi4.toml")),
    ("rpi5", include_str!("../../../boards/rpi5.toml")),
    ("visionfive2", include_str!("../../../boards/visionfive2.toml")),
];

/// One board profile (`boards/<name>.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Profile name; equals the file stem.
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// Substring of `/proc/device-tree/model` on this board (tie-breaker), if any.
    #[serde(default)]
    pub dt_model: Option<String>,
    /// Rust target triple of the device binary.
    pub target: String,
    /// The board's CPU core, e.g. `cortex-a72` (names as in [`core_name`]).
    pub cpu: String,
    /// CPU features the profile relies on, spelled as this crate detects them ([`known_features`]).
    pub features: Vec<String>,
    /// Worker threads to use by default.
    pub threads: usize,
    /// Default camera.
    pub camera: Camera,
    /// Default serial port.
    pub serial: Serial,
    /// QEMU CPU model that stands in for this board in CI (`QEMU_CPU=...`).
    pub qemu_cpu: String,
}

/// Default camera of a board.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Camera {
    /// V4L2 device node.
    pub device: String,
    /// Pixel format: `YUYV`, `NV12`, `RGB`, `BGR` or `MJPEG` (what the camera source opens).
    pub format: PixelFormat,
    /// Width and height in pixels.
    pub size: [u32; 2],
    /// Frames per second requested.
    pub fps: u32,
}

/// Default serial port of a board.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Serial {
    /// Device node.
    pub port: String,
    /// Baud rate.
    pub baud: u32,
}

impl Board {
    /// What `oar-edge run` takes from this profile where the pipeline file is silent.
    pub fn defaults(&self) -> BoardDefaults {
        BoardDefaults {
            name: self.name.clone(),
            threads: self.threads,
            camera_device: self.camera.device.clone().into(),
            camera: CameraDefaults {
                width: self.camera.size[0],
                height: self.camera.size[1],
                fps: self.camera.fps,
                format: self.camera.format,
            },
            serial_port: self.serial.port.clone(),
            serial_baud: self.serial.baud,
        }
    }

    /// `std::env::consts::ARCH` spelling of the target's architecture.
    pub fn arch(&self) -> &str {
        arch_of_target(&self.target)
    }

    fn check(&self, stem: &str) -> Result<()> {
        if self.name != stem {
            bail!("name = {:?} but the file is {stem}.toml", self.name);
        }
        let known = known_features(self.arch());
        if known.is_empty() {
            bail!("target {:?}: unknown architecture", self.target);
        }
        if let Some(f) = self.features.iter().find(|f| !known.contains(&f.as_str())) {
            bail!("feature {f:?} is not one this runtime detects on {} (known: {})", self.arch(), known.join(" "));
        }
        if self.threads == 0 || self.qemu_cpu.is_empty() || self.cpu.is_empty() {
            bail!("threads, cpu and qemu_cpu must be set");
        }
        if self.camera.size[0] == 0 || self.camera.size[1] == 0 || self.camera.fps == 0 || self.serial.baud == 0 {
            bail!("camera size/fps and serial baud must be non-zero");
        }
        Ok(())
    }
}

/// Parse and check one profile.
pub fn parse_board(stem: &str, text: &str) -> Result<Board> {
    let b: Board = toml::from_str(text).with_context(|| format!("boards/{stem}.toml"))?;
    b.check(stem).with_context(|| format!("boards/{stem}.toml"))?;
    Ok(b)
}

/// All embedded board profiles.
pub fn boards() -> Result<Vec<Board>> {
    PROFILES.iter().map(|(stem, text)| parse_board(stem, text)).collect()
}

/// `aarch64-unknown-linux-gnu` -> `aarch64`, `armv7-...` -> `arm`, `riscv64gc-...` -> `riscv64`.
pub fn arch_of_target(target: &str) -> &str {
    let a = target.split('-').next().unwrap_or("");
    if a.starts_with("armv") || a == "arm" || a.starts_with("thumbv") {
        "arm"
    } else if a.starts_with("riscv64") {
        "riscv64"
    } else {
        a
    }
}

const AARCH64_FEATURES: &[&str] = &[
    "neon", "fp16", "fhm", "crc", "aes", "pmull", "sha2", "sha3", "sm4", "lse", "lse2", "rdm", "rcpc", "rcpc2",
    "dotprod", "i8mm", "bf16", "f32mm", "f64mm", "sve", "sve2", "jsconv", "fcma", "dpb", "dpb2", "flagm", "ssbs", "sb",
    "paca", "pacg", "dit", "frintts", "bti", "mte", "rand",
];
// Linux HWCAP / HWCAP2 bit names on 32-bit ARM (arch/arm/include/uapi/asm/hwcap.h).
#[rustfmt::skip]
const ARM_HWCAP: &[(u32, &str)] = &[
    (1, "half"), (2, "thumb"), (4, "fastmult"), (6, "vfp"), (7, "edsp"), (11, "thumbee"), (12, "neon"),
    (13, "vfpv3"), (14, "vfpv3d16"), (15, "tls"), (16, "vfpv4"), (17, "idiva"), (18, "idivt"), (19, "vfpd32"),
    (20, "lpae"), (21, "evtstrm"),
];
const ARM_HWCAP2: &[(u32, &str)] = &[(0, "aes"), (1, "pmull"), (2, "sha1"), (3, "sha2"), (4, "crc32")];
const RISCV_LETTERS: &[&str] = &[
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w",
    "x", "y", "z",
];
#[rustfmt::skip]
const X86_64_FEATURES: &[&str] = &[
    "sse2", "sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "avx", "avx2", "fma", "f16c", "bmi1", "bmi2",
    "avx512f", "avx512bw", "avx512vnni", "aes", "sha",
];

/// Feature names this module can detect on `arch` (empty: unknown architecture).
pub fn known_features(arch: &str) -> Vec<&'static str> {
    match arch {
        "aarch64" => AARCH64_FEATURES.to_vec(),
        "arm" => ARM_HWCAP.iter().chain(ARM_HWCAP2).map(|e| e.1).collect(),
        "riscv64" => RISCV_LETTERS.to_vec(),
        "x86_64" => X86_64_FEATURES.to_vec(),
        _ => vec![],
    }
}

/// What was found about the machine this runs on.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Host {
    /// `std::env::consts::ARCH`.
    pub arch: String,
    /// Detected CPU features, in [`known_features`] order.
    pub features: Vec<String>,
    /// Core named by `/proc/cpuinfo`, e.g. `cortex-a72`.
    pub core: Option<String>,
    /// `QEMU_CPU` from the environment (qemu-user passes it through to the guest).
    pub qemu_cpu: Option<String>,
    /// `/proc/device-tree/model`.
    pub model: Option<String>,
    /// `std::thread::available_parallelism`.
    pub threads: usize,
}

/// Detect this machine.
pub fn detect() -> Host {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = std::fs::read("/proc/device-tree/model")
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim_end_matches('\0').trim().to_string())
        .filter(|s| !s.is_empty());
    Host {
        arch: std::env::consts::ARCH.to_string(),
        features: detect_features().into_iter().map(String::from).collect(),
        core: core_name(&cpuinfo),
        qemu_cpu: std::env::var("QEMU_CPU").ok().filter(|s| !s.is_empty()),
        model,
        threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    }
}

#[cfg(target_arch = "aarch64")]
fn detect_features() -> Vec<&'static str> {
    use std::arch::is_aarch64_feature_detected as d;
    #[rustfmt::skip]
    let found = [
        d!("neon"), d!("fp16"), d!("fhm"), d!("crc"), d!("aes"), d!("pmull"), d!("sha2"), d!("sha3"),
        d!("sm4"), d!("lse"), d!("lse2"), d!("rdm"), d!("rcpc"), d!("rcpc2"), d!("dotprod"), d!("i8mm"),
        d!("bf16"), d!("f32mm"), d!("f64mm"), d!("sve"), d!("sve2"), d!("jsconv"), d!("fcma"), d!("dpb"),
        d!("dpb2"), d!("flagm"), d!("ssbs"), d!("sb"), d!("paca"), d!("pacg"), d!("dit"), d!("frintts"),
        d!("bti"), d!("mte"), d!("rand"),
    ];
    AARCH64_FEATURES.iter().zip(found).filter(|e| e.1).map(|e| *e.0).collect()
}

#[cfg(target_arch = "x86_64")]
fn detect_features() -> Vec<&'static str> {
    use std::arch::is_x86_feature_detected as d;
    #[rustfmt::skip]
    let found = [
        d!("sse2"), d!("sse3"), d!("ssse3"), d!("sse4.1"), d!("sse4.2"), d!("popcnt"), d!("avx"), d!("avx2"),
        d!("fma"), d!("f16c"), d!("bmi1"), d!("bmi2"), d!("avx512f"), d!("avx512bw"), d!("avx512vnni"),
        d!("aes"), d!("sha"),
    ];
    X86_64_FEATURES.iter().zip(found).filter(|e| e.1).map(|e| *e.0).collect()
}

#[cfg(target_arch = "arm")]
fn detect_features() -> Vec<&'static str> {
    use oar_kernels::auxv::{get, AT_HWCAP, AT_HWCAP2};
    features_from_hwcap("arm", get(AT_HWCAP).unwrap_or(0), get(AT_HWCAP2).unwrap_or(0))
}

#[cfg(target_arch = "riscv64")]
fn detect_features() -> Vec<&'static str> {
    features_from_hwcap("riscv64", oar_kernels::auxv::get(oar_kernels::auxv::AT_HWCAP).unwrap_or(0), 0)
}

#[cfg(not(any(target_arch = "aarch64", target_arch = "x86_64", target_arch = "arm", target_arch = "riscv64")))]
fn detect_features() -> Vec<&'static str> {
    vec![]
}

/// Feature names from `AT_HWCAP`/`AT_HWCAP2` on `arm` (Linux HWCAP names) and `riscv64` (one bit
/// per ISA letter, bit 0 = `a`).
#[cfg_attr(not(any(target_arch = "arm", target_arch = "riscv64")), allow(dead_code))]
pub fn features_from_hwcap(arch: &str, hwcap: u64, hwcap2: u64) -> Vec<&'static str> {
    match arch {
        "arm" => ARM_HWCAP
            .iter()
            .filter(|e| hwcap >> e.0 & 1 == 1)
            .chain(ARM_HWCAP2.iter().filter(|e| hwcap2 >> e.0 & 1 == 1))
            .map(|e| e.1)
            .collect(),
        "riscv64" => RISCV_LETTERS.iter().enumerate().filter(|e| hwcap >> e.0 & 1 == 1).map(|e| *e.1).collect(),
        _ => vec![],
    }
}

/// The core named by `/proc/cpuinfo`: Arm's `CPU part` (implementer 0x41) or riscv's `uarch`.
/// With several core types (big.LITTLE) the last one listed, usually the big core.
pub fn core_name(cpuinfo: &str) -> Option<String> {
    let field = |l: &str, k: &str| -> Option<String> {
        let (a, b) = l.split_once(':')?;
        (a.trim() == k).then(|| b.trim().to_string())
    };
    let mut implementer = None;
    let mut core = None;
    for l in cpuinfo.lines() {
        if let Some(v) = field(l, "CPU implementer") {
            implementer = Some(v);
        } else if let Some(v) = field(l, "CPU part") {
            if implementer.as_deref() == Some("0x41") {
                let n = u32::from_str_radix(v.trim_start_matches("0x"), 16).ok();
                core = n.and_then(arm_part).map(String::from).or(core);
            }
        } else if let Some(v) = field(l, "uarch") {
            // "sifive,u74-mc" -> "sifive-u74"
            let v = v.replace(',', "-");
            core = Some(v.strip_suffix("-mc").unwrap_or(&v).to_string());
        }
    }
    core
}

fn arm_part(part: u32) -> Option<&'static str> {
    Some(match part {
        0xc07 => "cortex-a7",
        0xc08 => "cortex-a8",
        0xc09 => "cortex-a9",
        0xc0f => "cortex-a15",
        0xd03 => "cortex-a53",
        0xd04 => "cortex-a35",
        0xd05 => "cortex-a55",
        0xd07 => "cortex-a57",
        0xd08 => "cortex-a72",
        0xd09 => "cortex-a73",
        0xd0a => "cortex-a75",
        0xd0b => "cortex-a76",
        0xd0c => "neoverse-n1",
        0xd0d => "cortex-a77",
        0xd0e => "cortex-a76ae",
        0xd41 => "cortex-a78",
        0xd42 => "cortex-a78ae",
        0xd4b => "cortex-a78c",
        0xd46 => "cortex-a510",
        0xd47 => "cortex-a710",
        0xd4d => "cortex-a715",
        0xd80 => "cortex-a520",
        0xd81 => "cortex-a720",
        _ => return None,
    })
}

/// How one profile compares with the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub board: String,
    /// Same architecture and no feature missing.
    pub fits: bool,
    pub score: u32,
    /// Profile features the host lacks.
    pub missing: Vec<String>,
    pub cpu_match: bool,
    pub model_match: bool,
}

/// The outcome of matching: every same-architecture profile, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// The best fitting profile (first by name among equals).
    pub best: Option<String>,
    /// Other profiles that fit exactly as well as `best`.
    pub ambiguous_with: Vec<String>,
    pub candidates: Vec<Candidate>,
}

/// Rank the profiles for `host`.
pub fn match_boards(boards: &[Board], host: &Host) -> Match {
    let mut candidates: Vec<Candidate> = boards
        .iter()
        .filter(|b| b.arch() == host.arch)
        .map(|b| {
            let missing: Vec<String> = b.features.iter().filter(|f| !host.features.contains(f)).cloned().collect();
            let cpu_match = host.core.as_deref() == Some(b.cpu.as_str())
                || (host.core.is_none() && host.qemu_cpu.as_deref() == Some(b.qemu_cpu.as_str()));
            let model_match = match (&b.dt_model, &host.model) {
                (Some(want), Some(have)) => have.contains(want.as_str()),
                _ => false,
            };
            let score = 100 * model_match as u32 + 10 * cpu_match as u32 + b.features.len() as u32;
            Candidate { board: b.name.clone(), fits: missing.is_empty(), score, missing, cpu_match, model_match }
        })
        .collect();
    candidates.sort_by(|a, b| b.fits.cmp(&a.fits).then(b.score.cmp(&a.score)).then(a.board.cmp(&b.board)));
    let best = candidates.first().filter(|c| c.fits).cloned();
    let ambiguous_with = match &best {
        Some(b) => {
            candidates.iter().skip(1).filter(|c| c.fits && c.score == b.score).map(|c| c.board.clone()).collect()
        }
        None => vec![],
    };
    Match { best: best.map(|c| c.board), ambiguous_with, candidates }
}

/// Everything `probe` reports (`--json` prints this).
#[derive(Debug, Serialize)]
pub struct Report {
    pub host: Host,
    /// (kernel, implementation) chosen by `oar_kernels` dispatch in this process.
    pub kernels: Vec<KernelChoice>,
    /// Kernel tables this CPU can run, weakest first.
    pub kernels_available: Vec<&'static str>,
    /// `OAR_KERNELS` when set (forces the scalar table).
    pub kernels_override: Option<String>,
    #[serde(flatten)]
    pub matched: Match,
    /// The best profile in full.
    pub profile: Option<Board>,
}

#[derive(Debug, Serialize)]
pub struct KernelChoice {
    pub kernel: &'static str,
    pub implementation: &'static str,
}

/// Probe this machine.
pub fn report() -> Result<Report> {
    let boards = boards()?;
    let host = detect();
    let matched = match_boards(&boards, &host);
    let profile = matched.best.as_ref().and_then(|n| boards.iter().find(|b| &b.name == n)).cloned();
    Ok(Report {
        host,
        kernels: oar_kernels::selected()
            .into_iter()
            .map(|(kernel, implementation)| KernelChoice { kernel, implementation })
            .collect(),
        kernels_available: oar_kernels::Kernels::available().iter().map(|k| k.label()).collect(),
        kernels_override: std::env::var("OAR_KERNELS").ok(),
        matched,
        profile,
    })
}

/// `oar-edge probe [--json]`.
pub fn run(json: bool) -> Result<()> {
    let r = report()?;
    log::debug!("probe: {r:?}");
    let out = if json { serde_json::to_string_pretty(&r)? + "\n" } else { text(&r) };
    use std::io::Write;
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()), // `oar-edge probe | head` is fine
    }
}

/// What a profile sets, in one line.
pub fn applied_line(p: &Board) -> String {
    format!(
        "threads {}, camera {} {} {}x{}@{}, serial {} {}",
        p.threads,
        p.camera.device,
        p.camera.format.name(),
        p.camera.size[0],
        p.camera.size[1],
        p.camera.fps,
        p.serial.port,
        p.serial.baud
    )
}

fn text(r: &Report) -> String {
    use std::fmt::Write;
    let h = &r.host;
    let mut s = String::new();
    let _ = writeln!(s, "arch      {} ({} threads)", h.arch, h.threads);
    let cpu = match (&h.core, &h.qemu_cpu) {
        (Some(c), _) => format!("{c} (/proc/cpuinfo)"),
        (None, Some(q)) => format!("{q} (from QEMU_CPU; /proc/cpuinfo names no core)"),
        (None, None) => "unknown (/proc/cpuinfo names no core)".into(),
    };
    let _ = writeln!(s, "cpu       {cpu}");
    let _ = writeln!(s, "model     {}", h.model.as_deref().unwrap_or("-"));
    let _ = writeln!(s, "features  {}", h.features.join(" "));
    let ks: Vec<String> = r.kernels.iter().map(|k| format!("{}={}", k.kernel, k.implementation)).collect();
    let _ = writeln!(s, "kernels   {}", ks.join(" "));
    let _ = writeln!(
        s,
        "          available: {}{}",
        r.kernels_available.join(", "),
        r.kernels_override.as_deref().map(|o| format!("; OAR_KERNELS={o}")).unwrap_or_default()
    );
    match &r.matched.best {
        Some(b) => {
            let _ = write!(s, "board     {b}");
            if let Some(p) = &r.profile {
                let _ = write!(s, ": {} ({})", p.description, p.target);
            }
            let _ = writeln!(s);
            if let Some(p) = &r.profile {
                let applies = if r.matched.ambiguous_with.is_empty() {
                    "`oar-edge run` applies, where the pipeline file is silent"
                } else {
                    "`oar-edge run --board NAME` applies (no board is applied while the fit is ambiguous)"
                };
                let _ = writeln!(s, "applied   {}", applied_line(p));
                let _ = writeln!(s, "          {applies}");
            }
            if !r.matched.ambiguous_with.is_empty() {
                let _ = writeln!(
                    s,
                    "          fits equally well: {} (the CPU and device tree do not tell them apart)",
                    r.matched.ambiguous_with.join(", ")
                );
            }
        }
        None => {
            let _ = writeln!(s, "board     no profile fits this {} CPU", h.arch);
        }
    }
    for c in &r.matched.candidates {
        let why = if c.fits {
            let mut v = vec![format!("fits, score {}", c.score)];
            if c.model_match {
                v.push("device tree".into())
            }
            if c.cpu_match {
                v.push("core".into())
            }
            v.join(", ")
        } else {
            format!("missing {}", c.missing.join(" "))
        };
        let _ = writeln!(s, "          {:<18} {why}", c.board);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(arch: &str, features: &[&str]) -> Host {
        Host {
            arch: arch.into(),
            features: features.iter().map(|s| s.to_string()).collect(),
            threads: 4,
            ..Host::default()
        }
    }
    const A53: &[&str] = &["neon", "crc", "aes", "pmull", "sha2"]; // qemu -cpu cortex-a53
    const A76: &[&str] = &["neon", "fp16", "crc", "aes", "pmull", "sha2", "lse", "rdm", "rcpc", "dotprod", "ssbs"];

    #[test]
    fn every_profile_parses_and_is_consistent() {
        let b = boards().unwrap();
        assert_eq!(b.len(), 6);
        for x in &b {
            assert!(x.features.iter().all(|f| known_features(x.arch()).contains(&f.as_str())), "{}", x.name);
        }
        let mut q: Vec<_> = b.iter().map(|x| x.qemu_cpu.as_str()).collect();
        q.sort();
        q.dedup();
        assert_eq!(q.len(), 6, "each profile has its own QEMU CPU model");
    }

    #[test]
    fn bad_profiles_are_rejected_with_the_reason() {
        let good = PROFILES.iter().find(|p| p.0 == "rpi4").unwrap().1;
        let e = format!("{:#}", parse_board("rpi4", &good.replace("\"crc\"", "\"crc32\"")).unwrap_err());
        assert!(e.contains("crc32") && e.contains("rpi4.toml"), "{e}");
        let e = format!("{:#}", parse_board("rpi4", &format!("{good}\nbogus = 1\n")).unwrap_err());
        assert!(e.contains("bogus"), "{e}");
        assert!(parse_board("rpi5", good).is_err()); // name != file stem
        // a format the camera source cannot open is refused; NV12 opens
        let e = format!("{:#}", parse_board("rpi4", &good.replace("\"YUYV\"", "\"H264\"")).unwrap_err());
        assert!(e.contains("H264") && e.contains("rpi4.toml"), "{e}");
        let nv12 = parse_board("rpi4", &good.replace("\"YUYV\"", "\"NV12\"")).unwrap();
        assert_eq!(nv12.camera.format, PixelFormat::Nv12);
    }

    #[test]
    fn a_profile_gives_the_runs_defaults() {
        let rpi4 = boards().unwrap().into_iter().find(|b| b.name == "rpi4").unwrap();
        let d = rpi4.defaults();
        assert_eq!((d.threads, d.serial_port.as_str(), d.serial_baud), (4, "/dev/serial0", 115_200));
        assert_eq!(d.camera, CameraDefaults { width: 640, height: 480, fps: 30, format: PixelFormat::Yuyv });
        assert_eq!(applied_line(&rpi4), "threads 4, camera /dev/video0 yuyv 640x480@30, serial /dev/serial0 115200");
    }

    #[test]
    fn arch_of_targets() {
        assert_eq!(arch_of_target("aarch64-unknown-linux-gnu"), "aarch64");
        assert_eq!(arch_of_target("armv7-unknown-linux-gnueabihf"), "arm");
        assert_eq!(arch_of_target("riscv64gc-unknown-linux-gnu"), "riscv64");
        assert_eq!(arch_of_target("x86_64-unknown-linux-gnu"), "x86_64");
    }

    #[test]
    fn a53_without_dotprod_cannot_be_a_pi5() {
        let m = match_boards(&boards().unwrap(), &host("aarch64", A53));
        // rpi4 and zero2w share the feature set: ambiguous without core or device tree.
        assert_eq!(m.best.as_deref(), Some("rpi-zero2w"));
        assert_eq!(m.ambiguous_with, ["rpi4"]);
        let rpi5 = m.candidates.iter().find(|c| c.board == "rpi5").unwrap();
        assert!(!rpi5.fits && rpi5.missing.contains(&"dotprod".to_string()));
        assert_eq!(m.candidates.len(), 4, "only aarch64 profiles are candidates");
    }

    #[test]
    fn the_core_breaks_ties() {
        let b = boards().unwrap();
        let mut h = host("aarch64", A53);
        h.core = Some("cortex-a72".into());
        let m = match_boards(&b, &h);
        assert_eq!((m.best.as_deref(), m.ambiguous_with.len()), (Some("rpi4"), 0));
        // Under qemu-user cpuinfo names no core: QEMU_CPU is compared with qemu_cpu.
        let mut h = host("aarch64", A76);
        h.qemu_cpu = Some("neoverse-n1".into());
        assert_eq!(match_boards(&b, &h).best.as_deref(), Some("jetson-orin-nano"));
        h.qemu_cpu = Some("cortex-a76".into());
        assert_eq!(match_boards(&b, &h).best.as_deref(), Some("rpi5"));
        // A real core wins over QEMU_CPU.
        h.core = Some("cortex-a78ae".into());
        assert_eq!(match_boards(&b, &h).best.as_deref(), Some("jetson-orin-nano"));
    }

    #[test]
    fn the_device_tree_beats_the_core_and_the_most_demanding_fit_wins() {
        let b = boards().unwrap();
        let mut h = host("aarch64", A76);
        let m = match_boards(&b, &h);
        assert_eq!(
            (m.best.as_deref(), m.ambiguous_with.as_slice()),
            (Some("jetson-orin-nano"), &["rpi5".to_string()][..])
        );
        h.model = Some("Raspberry Pi 5 Model B Rev 1.0".into());
        h.core = Some("cortex-a78ae".into());
        assert_eq!(match_boards(&b, &h).best.as_deref(), Some("rpi5"));
    }

    #[test]
    fn no_fit_and_other_arches() {
        let b = boards().unwrap();
        let m = match_boards(&b, &host("aarch64", &["crc"]));
        assert_eq!(m.best, None);
        assert!(m.candidates.iter().all(|c| !c.fits && c.missing.contains(&"neon".to_string())));
        assert!(match_boards(&b, &host("x86_64", &["avx2"])).candidates.is_empty());
        let arm = features_from_hwcap("arm", 1 << 12 | 1 << 16 | 1 << 17, 1 << 4);
        assert_eq!(arm, ["neon", "vfpv4", "idiva", "crc32"]);
        let mut h = host("arm", &arm);
        assert_eq!(match_boards(&b, &h).best.as_deref(), Some("rpi-32bit"));
        h.features.retain(|f| f != "neon");
        assert_eq!(match_boards(&b, &h).best, None);
        let rv = features_from_hwcap(
            "riscv64",
            [b'i', b'm', b'a', b'f', b'd', b'c'].iter().map(|c| 1u64 << (c - b'a')).sum(),
            0,
        );
        assert_eq!(rv, ["a", "c", "d", "f", "i", "m"]);
        assert_eq!(match_boards(&b, &host("riscv64", &rv)).best.as_deref(), Some("visionfive2"));
    }

    #[test]
    fn cpuinfo_parsing() {
        let pi4 =
            "processor\t: 0\nBogoMIPS\t: 108.00\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\n";
        assert_eq!(core_name(pi4).as_deref(), Some("cortex-a72"));
        assert_eq!(core_name("isa\t\t: rv64imafdc\nuarch\t\t: sifive,u74-mc\n").as_deref(), Some("sifive-u74"));
        assert_eq!(core_name("model name\t: Intel(R) Xeon(R)\n"), None);
    }

    #[test]
    fn this_machine_probes_and_prints() {
        let r = report().unwrap();
        assert_eq!(r.kernels.len(), 13);
        let t = text(&r);
        eprintln!("{t}");
        let j = serde_json::to_value(&r).unwrap();
        assert!(
            j["host"]["features"].is_array()
                && j.get("best").is_some()
                && j["kernels"][0]["implementation"].is_string()
        );
    }
}
