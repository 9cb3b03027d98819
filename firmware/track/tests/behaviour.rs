//! Behaviour of both trackers on small scripted scenes.

use std::collections::HashMap;

use oar_track::{
    ByteTrack, ByteTrackConfig, Detection, OcSort, OcSortConfig, TrackState, Tracker, TrackerConfig,
};

fn boxed(cx: f32, cy: f32, score: f32) -> Detection {
    Detection {
        bbox: [cx - 15.0, cy - 30.0, cx + 15.0, cy + 30.0],
        score,
        class: 0,
    }
}

fn trackers() -> Vec<Box<dyn Tracker>> {
    ["bytetrack", "ocsort"]
        .iter()
        .map(|n| TrackerConfig::by_name(n).unwrap().build())
        .collect()
}

/// Id of the track nearest to `cx` in `tracks`.
fn id_near(tracks: &[oar_track::Track], cx: f32) -> Option<u64> {
    tracks
        .iter()
        .filter(|t| ((t.bbox[0] + t.bbox[2]) / 2.0 - cx).abs() < 10.0)
        .map(|t| t.id)
        .next()
}

#[test]
fn crossing_objects_keep_their_ids() {
    for mut tr in trackers() {
        // A goes right, B goes left, on nearly the same row; they overlap fully mid-way.
        let mut first: Option<(u64, u64)> = None;
        let mut seen_ids = std::collections::HashSet::new();
        for f in 0..60 {
            let xa = 50.0 + 5.0 * f as f32;
            let xb = 350.0 - 5.0 * f as f32;
            let out = tr.update(&[boxed(xa, 100.0, 0.9), boxed(xb, 104.0, 0.9)]);
            seen_ids.extend(out.iter().map(|t| t.id));
            if f == 10 {
                first = Some((id_near(&out, xa).unwrap(), id_near(&out, xb).unwrap()));
            }
            if f > 10 && (xa - xb).abs() > 20.0 {
                let (ia, ib) = first.unwrap();
                assert_eq!(
                    id_near(&out, xa),
                    Some(ia),
                    "{} frame {f}: A lost its id",
                    tr.name()
                );
                assert_eq!(
                    id_near(&out, xb),
                    Some(ib),
                    "{} frame {f}: B lost its id",
                    tr.name()
                );
            }
        }
        assert_eq!(seen_ids.len(), 2, "{}: ids {seen_ids:?}", tr.name());
    }
}

#[test]
fn occluded_for_ten_frames_gets_its_id_back() {
    for mut tr in trackers() {
        let mut id = None;
        let mut after = Vec::new();
        for f in 0..50 {
            let x = 40.0 + 4.0 * f as f32;
            // a second, static object keeps the scene busy
            let mut dets = vec![boxed(600.0, 300.0, 0.85)];
            let occluded = (20..30).contains(&f);
            if !occluded {
                dets.push(boxed(x, 100.0, 0.9));
            }
            let out = tr.update(&dets);
            if f == 19 {
                id = id_near(&out, x);
            }
            if occluded {
                assert!(
                    id_near(&out, x).is_none(),
                    "{}: occluded object reported",
                    tr.name()
                );
            }
            if f >= 33 {
                after.push(id_near(&out, x));
            }
        }
        assert!(id.is_some());
        assert!(
            after.iter().all(|a| *a == id),
            "{}: id {id:?} then {after:?}",
            tr.name()
        );
    }
}

#[test]
fn low_score_detections_keep_a_bytetrack_track_alive() {
    let mut bt = ByteTrack::new(ByteTrackConfig::default());
    let mut oc = OcSort::new(OcSortConfig::default());
    let mut bt_ids = Vec::new();
    let mut oc_reported_during_low = 0;
    for f in 0..40 {
        let x = 40.0 + 3.0 * f as f32;
        let score = if (10..25).contains(&f) { 0.3 } else { 0.9 };
        let d = [boxed(x, 100.0, score)];
        let out = bt.update(&d);
        assert_eq!(out.len(), 1, "frame {f}: ByteTrack should report the track");
        assert_eq!(out[0].state, TrackState::Confirmed);
        bt_ids.push(out[0].id);
        if (10..25).contains(&f) {
            assert!((out[0].score - 0.3).abs() < 1e-6);
            oc_reported_during_low += oc.update(&d).len();
        } else {
            oc.update(&d);
        }
    }
    assert!(bt_ids.iter().all(|&i| i == bt_ids[0]), "{bt_ids:?}");
    // plain OC-SORT ignores detections under det_thresh
    assert_eq!(oc_reported_during_low, 0);
}

#[test]
fn reset_restarts_ids() {
    for mut tr in trackers() {
        for _ in 0..3 {
            tr.update(&[boxed(50.0, 50.0, 0.9)]);
        }
        tr.reset();
        let out = tr.update(&[boxed(200.0, 50.0, 0.9)]);
        assert_eq!(
            out.iter().map(|t| t.id).collect::<Vec<_>>(),
            vec![1],
            "{}",
            tr.name()
        );
    }
}

#[test]
fn many_objects_no_id_swaps() {
    // 30 objects on a grid drifting diagonally, 10% missed detections: no id changes.
    for mut tr in trackers() {
        let mut owner: HashMap<u64, usize> = HashMap::new();
        let mut state = 7u64;
        let mut rnd = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        for f in 0..80 {
            let mut dets = Vec::new();
            let mut truth = Vec::new();
            for k in 0..30 {
                let cx = 60.0 + 100.0 * (k % 6) as f32 + 1.5 * f as f32;
                let cy = 60.0 + 120.0 * (k / 6) as f32 + 0.5 * f as f32;
                truth.push((k, cx));
                if rnd() > 0.1 || f < 5 {
                    dets.push(boxed(cx + rnd() - 0.5, cy + rnd() - 0.5, 0.7 + 0.3 * rnd()));
                }
            }
            for t in tr.update(&dets) {
                let (cx, cy) = ((t.bbox[0] + t.bbox[2]) / 2.0, (t.bbox[1] + t.bbox[3]) / 2.0);
                let k = truth
                    .iter()
                    .map(|&(k, _)| k)
                    .min_by(|&a, &b| {
                        let d = |k: usize| {
                            let x = 60.0 + 100.0 * (k % 6) as f32 + 1.5 * f as f32;
                            let y = 60.0 + 120.0 * (k / 6) as f32 + 0.5 * f as f32;
                            (x - cx).powi(2) + (y - cy).powi(2)
                        };
                        d(a).total_cmp(&d(b))
                    })
                    .unwrap();
                let prev = owner.insert(t.id, k);
                assert!(
                    prev.is_none() || prev == Some(k),
                    "{}: id {} switched objects",
                    tr.name(),
                    t.id
                );
            }
        }
        assert_eq!(
            owner.len(),
            30,
            "{}: {} ids for 30 objects",
            tr.name(),
            owner.len()
        );
    }
}
