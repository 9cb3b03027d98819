//! Time per frame of ByteTrack and OC-SORT at 10 and 100 objects.
//!
//! The scene: objects on smooth periodic paths (so the sequence loops without a cut), boxes
//! jittered, ~5% of detections missed, a few low-score detections. Trackers are warmed up over
//! one period before timing. The Python references' per-frame times, on the same kind of scene,
//! come from `tools/track_compare.py` (its `ms/frame` column).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use oar_track::{Detection, TrackerConfig};
use std::hint::black_box;

const PERIOD: usize = 240;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32) / (1u64 << 24) as f32
    }
}

fn scene(n: usize) -> Vec<Vec<Detection>> {
    let mut rng = Lcg(42 + n as u64);
    let objs: Vec<[f32; 6]> = (0..n)
        .map(|_| {
            let cx = 100.0 + rng.next() * 1720.0;
            let cy = 100.0 + rng.next() * 880.0;
            let ax = 20.0 + rng.next() * 200.0;
            let ay = 10.0 + rng.next() * 100.0;
            let w = 20.0 + rng.next() * 40.0;
            let phase = rng.next() * std::f32::consts::TAU;
            [cx, cy, ax, ay, w, phase]
        })
        .collect();
    (0..PERIOD)
        .map(|f| {
            let t = f as f32 / PERIOD as f32 * std::f32::consts::TAU;
            let mut dets = Vec::with_capacity(n);
            for o in &objs {
                if rng.next() < 0.05 {
                    continue;
                }
                let cx = o[0] + o[2] * (t + o[5]).sin() + (rng.next() - 0.5) * 2.0;
                let cy = o[1] + o[3] * (t + o[5]).cos() + (rng.next() - 0.5) * 2.0;
                let (w, h) = (o[4], o[4] * 2.0);
                let score = if rng.next() < 0.1 {
                    0.2 + rng.next() * 0.3
                } else {
                    0.6 + rng.next() * 0.4
                };
                dets.push(Detection {
                    bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                    score,
                    class: 0,
                });
            }
            dets
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("track_update_per_frame");
    for n in [10usize, 100] {
        let frames = scene(n);
        for name in ["bytetrack", "ocsort"] {
            let mut tracker = TrackerConfig::by_name(name).expect("known tracker").build();
            for f in &frames {
                tracker.update(f);
            }
            let mut i = 0usize;
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    let out = tracker.update(black_box(&frames[i % PERIOD]));
                    i += 1;
                    black_box(out)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
