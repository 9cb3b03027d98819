//! Every fuzz target over its saved corpus (`fuzz/corpus/<target>/`: seeds and the regression
//! case of every crash found), then over seeded mutations of it: `OAR_FUZZ_ITERS` per target
//! (default 300, a few seconds in all; see fuzz/README.md for long campaigns). A panic is caught,
//! its input saved and named; an allocation above 1 GiB ends the process with a message (no
//! reader may allocate that much for a small input).

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The system allocator, refusing single allocations above [`CAP`].
struct Capped;

const CAP: usize = 1 << 30;

// SAFETY: delegates to `System`, refusing (null, which the caller reports) requests above the cap.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CAP {
            refuse();
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CAP {
            refuse();
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > CAP {
            refuse();
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Says why the process is about to abort, without allocating.
fn refuse() {
    let msg = b"\nfuzz smoke: an allocation above 1 GiB was requested (a size taken on trust); the input is in the log line before\n";
    // SAFETY: writes a static buffer to stderr.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

#[global_allocator]
static ALLOC: Capped = Capped;

/// xorshift64*: deterministic mutations, seeded per target.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Numbers that break parsers that trust them.
const NUMBERS: &[&str] = &[
    "0", "-1", "1", "4294967296", "18446744073709551615", "100000", "nan", "inf", "-inf", "1e-300", "1e300", "65535",
    "2147483648", "-0.0", "0.5",
];

/// One to four stacked mutations of `input` (`other`: a second corpus input to splice from).
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = d.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                d[i] = [0, 0xFF, 0x7F, 0x80, 0x01, b'\n', b' '][rng.below(7)];
            }
            2 if len > 0 => d.truncate(rng.below(len)),
            3 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                d.splice(i..i, bytes);
            }
            4 if len > 1 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                d.drain(i..i + n);
            }
            5 if len > 1 => {
                // Duplicate a block (repeated entries, frames, headers).
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(600));
                let block = d[i..i + n].to_vec();
                let at = rng.below(len + 1);
                d.splice(at..at, block);
            }
            6 if !other.is_empty() => {
                let at = rng.below(len + 1);
                let from = rng.below(other.len());
                d.truncate(at);
                d.extend_from_slice(&other[from..]);
            }
            7 => {
                // A run of digits becomes a number that breaks parsers (sizes, fps, thresholds ...).
                let runs: Vec<usize> = (0..len).filter(|&i| d[i].is_ascii_digit() && (i == 0 || !d[i - 1].is_ascii_digit())).collect();
                if let Some(&start) = runs.get(rng.below(runs.len())) {
                    let end = (start..len).find(|&i| !d[i].is_ascii_digit() && d[i] != b'.').unwrap_or(len);
                    d.splice(start..end, NUMBERS[rng.below(NUMBERS.len())].bytes());
                }
            }
            _ if len >= 4 => {
                // A 16- or 32-bit field (a binary header's size) set to an extreme.
                let i = rng.below(len - 3);
                let v: [u8; 4] = [[0xFF; 4], [0; 4], [0xFF, 0xFF, 0, 0], [0, 0, 0, 0x80], [1, 0, 0, 0]][rng.below(5)];
                d[i..i + 4].copy_from_slice(&v);
            }
            _ => {}
        }
    }
    d
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("corpus").join(target)
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())).collect()
}

/// What one target's run found.
#[derive(Default)]
struct Tally {
    corpus: usize,
    mutations: usize,
    crashes: Vec<String>,
    slowest: (Duration, String),
}

fn run_one(target: &str, f: oar_fuzz::Target, label: &str, input: &[u8], tally: &mut Tally) {
    let t0 = Instant::now();
    let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(input)));
    let dt = t0.elapsed();
    if dt > tally.slowest.0 {
        tally.slowest = (dt, label.to_string());
    }
    if r.is_err() {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{target}-{:016x}", fnv(input)));
        std::fs::write(&out, input).unwrap();
        tally.crashes.push(format!("{label}: saved as {} (add it to fuzz/corpus/{target}/ once fixed)", out.display()));
    }
}

fn fnv(d: &[u8]) -> u64 {
    d.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

#[test]
fn every_target_survives_its_corpus_and_mutations() {
    let iters: usize = std::env::var("OAR_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    // Panics are expected to be caught here; keep their messages short.
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    let mut failed = Vec::new();
    let mut total = 0;
    for (i, (target, f)) in oar_fuzz::TARGETS.iter().enumerate() {
        let seeds = corpus(target);
        assert!(!seeds.is_empty(), "fuzz/corpus/{target}/ is empty");
        let mut tally = Tally { corpus: seeds.len(), ..Tally::default() };
        for (name, data) in &seeds {
            run_one(target, *f, name, data, &mut tally);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
        for k in 0..iters {
            let (name, base) = &seeds[rng.below(seeds.len())];
            let other = &seeds[rng.below(seeds.len())].1;
            let input = mutate(&mut rng, base, other);
            run_one(target, *f, &format!("mutation {k} of {name}"), &input, &mut tally);
            tally.mutations += 1;
        }
        total += tally.corpus + tally.mutations;
        eprintln!(
            "{target:<16} {:>4} corpus + {:>7} mutations, {} crashes, slowest {:.1} ms ({})",
            tally.corpus,
            tally.mutations,
            tally.crashes.len(),
            tally.slowest.0.as_secs_f64() * 1e3,
            tally.slowest.1
        );
        failed.extend(tally.crashes.into_iter().map(|c| format!("{target}: {c}")));
    }
    eprintln!("{total} executions");
    assert!(failed.is_empty(), "{} crashing inputs:\n{}", failed.len(), failed.join("\n"));
}
