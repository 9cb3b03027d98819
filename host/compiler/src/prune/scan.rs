//! Sensitivity scans and fitting per-group ratios to a budget.
//!
//! The scan prunes each group alone at several ratios and measures the metric and the FLOPs of
//! each candidate; the fit then chooses, per group, the ratio that removes the most FLOPs while
//! the summed losses stay under the budget (a multiple-choice knapsack, solved exactly). Losses of
//! groups pruned together are assumed to add up; the caller checks the result on the real set.

use super::{analyse, prune, Criterion, PruneError, PruneOptions, Ratios};
use std::collections::BTreeMap;
use tract_onnx::pb::ModelProto;

/// The ratios a scan tries by default.
pub const SCAN_RATIOS: [f32; 6] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];

/// What the scan needs from the outside: a metric (points, higher is better) and a FLOPs count
/// for a candidate model.
pub trait Judge {
    fn metric(&self, model: &ModelProto) -> Result<f64, PruneError>;
    fn flops(&self, model: &ModelProto) -> Result<f64, PruneError>;
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub ratio: f32,
    pub removed: usize,
    pub metric: f64,
    /// Baseline metric minus this one (points; negative when pruning helped).
    pub loss: f64,
    /// FLOPs removed from the whole model.
    pub flops_saved: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupScan {
    pub name: String,
    pub convs: Vec<String>,
    pub channels: usize,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sensitivity {
    pub criterion: String,
    pub baseline: f64,
    pub flops: f64,
    pub groups: Vec<GroupScan>,
}

/// Prunes each prunable group alone at each ratio and measures it. `progress(done, total, what)`
/// is called before each candidate.
pub fn sensitivity(
    model: &ModelProto,
    criterion: Criterion,
    ratios: &[f32],
    judge: &dyn Judge,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Sensitivity, PruneError> {
    let analysis = analyse(model)?;
    let groups: Vec<_> = analysis.prunable().cloned().collect();
    if groups.is_empty() {
        return Err(PruneError::NothingPrunable(super::blocked_list(&analysis)));
    }
    let total = groups.len() * ratios.len() + 1;
    progress(0, total, "baseline");
    let baseline = judge.metric(model)?;
    let flops = judge.flops(model)?;
    let mut done = 1;
    let mut scans = vec![];
    for g in &groups {
        let mut points: Vec<Point> = vec![];
        for &ratio in ratios {
            progress(done, total, &format!("{} at {ratio}", g.name));
            done += 1;
            let opts = PruneOptions {
                criterion,
                ratios: Ratios::PerGroup([(g.name.clone(), ratio)].into()),
            };
            let pruned = prune(model, &opts)?;
            let removed = pruned.groups.first().map(|r| r.removed).unwrap_or(0);
            // Small groups reach the same channel count at several ratios: measure once.
            if let Some(same) = points.iter().find(|p| p.removed == removed).cloned() {
                points.push(Point { ratio, ..same });
                continue;
            }
            if removed == 0 {
                points.push(Point {
                    ratio,
                    removed,
                    metric: baseline,
                    loss: 0.0,
                    flops_saved: 0.0,
                });
                continue;
            }
            let metric = judge.metric(&pruned.model)?;
            let flops_saved = flops - judge.flops(&pruned.model)?;
            points.push(Point {
                ratio,
                removed,
                metric,
                loss: baseline - metric,
                flops_saved,
            });
        }
        let convs = g
            .sources
            .iter()
            .map(|&s| analysis.sources[s].name.clone())
            .collect();
        scans.push(GroupScan {
            name: g.name.clone(),
            convs,
            channels: g.classes.len(),
            points,
        });
    }
    progress(total, total, "done");
    Ok(Sensitivity {
        criterion: criterion.to_string(),
        baseline,
        flops,
        groups: scans,
    })
}

/// Per-group ratios that remove the most FLOPs with a summed loss of at most `budget` points.
pub fn fit_budget(scan: &Sensitivity, budget: f64) -> Result<BTreeMap<String, f32>, PruneError> {
    if !(budget > 0.0 && budget.is_finite()) {
        return Err(PruneError::Budget(format!(
            "the budget must be a positive number of points, not {budget}"
        )));
    }
    // Losses in hundredths of a point, rounded up so that the sum never exceeds the budget.
    const UNIT: f64 = 100.0;
    let cap = (budget * UNIT).floor() as usize;
    let cost = |p: &Point| (p.loss.max(0.0) * UNIT).ceil() as usize;
    // best[b] = (FLOPs saved, choice per group so far) with a loss of at most b units.
    let mut best: Vec<(f64, Vec<Option<usize>>)> = vec![(0.0, vec![]); cap + 1];
    for g in &scan.groups {
        let mut next = best
            .iter()
            .map(|(f, c)| (*f, [c.as_slice(), &[None]].concat()))
            .collect::<Vec<_>>();
        for (k, p) in g
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.removed > 0 && p.flops_saved > 0.0)
        {
            let c = cost(p);
            for b in c..=cap {
                let (f, choice) = &best[b - c];
                if f + p.flops_saved > next[b].0 {
                    next[b] = (f + p.flops_saved, [choice.as_slice(), &[Some(k)]].concat());
                }
            }
        }
        best = next;
    }
    let (saved, choice) = &best[cap];
    if *saved <= 0.0 {
        let cheapest = scan
            .groups
            .iter()
            .flat_map(|g| {
                g.points
                    .iter()
                    .filter(|p| p.removed > 0)
                    .map(move |p| (g, p))
            })
            .min_by(|a, b| a.1.loss.total_cmp(&b.1.loss));
        return Err(PruneError::Budget(match cheapest {
            Some((g, p)) => format!(
                "no pruning fits a budget of {budget} points: the cheapest step, group `{}` at ratio {}, loses {:.2} points",
                g.name, p.ratio, p.loss
            ),
            None => format!("no pruning fits a budget of {budget} points: the scan found nothing to remove"),
        }));
    }
    Ok(scan
        .groups
        .iter()
        .zip(choice)
        .filter_map(|(g, c)| c.map(|k| (g.name.clone(), g.points[k].ratio)))
        .collect())
}

/// Per-group ratios whose *measured* loss stays within `budget`; returns them with that loss.
///
/// [`fit_budget`] assumes that the losses of groups pruned together add up. On a small evaluation
/// set they do not: noise makes many steps look free (or even helpful), and thirty "free" steps
/// together can break the model. So the knapsack's proposal is measured as a whole first; when it
/// overshoots, it is rebuilt greedily — groups in order of the FLOPs they save, each added at its
/// proposed ratio or, when that breaks the budget, at up to two smaller scanned ratios, and left
/// out when none fits. `measure(ratios)` returns the loss in points of the model pruned so;
/// `progress(done, total, what)` is called before each measurement of the rebuild.
pub fn fit_measured(
    scan: &Sensitivity,
    budget: f64,
    measure: &mut dyn FnMut(&BTreeMap<String, f32>) -> Result<f64, PruneError>,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<(BTreeMap<String, f32>, f64), PruneError> {
    let proposal = fit_budget(scan, budget)?;
    let loss = measure(&proposal)?;
    if loss <= budget {
        return Ok((proposal, loss));
    }
    log::info!("the scan's proposal loses {loss:.2} points when measured; rebuilding it group by group");
    let mut order: Vec<(&GroupScan, usize)> = scan
        .groups
        .iter()
        .filter_map(|g| {
            let r = proposal.get(&g.name)?;
            Some((g, g.points.iter().position(|p| p.ratio == *r)?))
        })
        .collect();
    order.sort_by(|a, b| b.0.points[b.1].flops_saved.total_cmp(&a.0.points[a.1].flops_saved));
    let (mut chosen, mut current) = (BTreeMap::new(), 0.0);
    for (i, (g, k)) in order.iter().enumerate() {
        progress(i, order.len(), &g.name);
        let mut tried: Vec<usize> = vec![];
        let candidates = g.points[..=*k].iter().rev().filter(|p| p.removed > 0 && p.flops_saved > 0.0);
        for p in candidates {
            if tried.contains(&p.removed) {
                continue;
            }
            if tried.len() == 3 {
                break;
            }
            tried.push(p.removed);
            chosen.insert(g.name.clone(), p.ratio);
            let l = measure(&chosen)?;
            if l <= budget {
                current = l;
                break;
            }
            chosen.remove(&g.name);
        }
    }
    progress(order.len(), order.len(), "done");
    if chosen.is_empty() {
        return Err(PruneError::Budget(format!(
            "no pruning keeps the measured loss within {budget} points (the scan proposed {} groups; each one alone, measured on top of the others, broke the budget)",
            order.len()
        )));
    }
    Ok((chosen, current))
}

/// The smallest uniform ratio (to 1/256) that removes at least `fraction` of the FLOPs.
pub fn ratio_for_flops(
    model: &ModelProto,
    criterion: Criterion,
    fraction: f64,
    judge: &dyn Judge,
) -> Result<f32, PruneError> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(PruneError::Budget(format!(
            "the FLOPs fraction to remove must be in (0, 1), not {fraction}"
        )));
    }
    let flops = judge.flops(model)?;
    let saved_at = |r: f32| -> Result<f64, PruneError> {
        let pruned = prune(
            model,
            &PruneOptions {
                criterion,
                ratios: Ratios::Uniform(r),
            },
        )?;
        Ok(1.0 - judge.flops(&pruned.model)? / flops)
    };
    let (mut lo, mut hi) = (0.0f32, 0.95f32);
    let most = saved_at(hi)?;
    if most < fraction {
        return Err(PruneError::Budget(format!(
            "pruning every prunable group by 95% removes only {:.1}% of the FLOPs, less than the {:.1}% asked",
            most * 100.0,
            fraction * 100.0
        )));
    }
    while hi - lo > 1.0 / 256.0 {
        let mid = (lo + hi) / 2.0;
        if saved_at(mid)? >= fraction {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(ratio: f32, loss: f64, flops_saved: f64) -> Point {
        Point {
            ratio,
            removed: (ratio * 10.0) as usize,
            metric: 90.0 - loss,
            loss,
            flops_saved,
        }
    }

    fn scan() -> Sensitivity {
        let g = |name: &str, points| GroupScan {
            name: name.into(),
            convs: vec![],
            channels: 10,
            points,
        };
        Sensitivity {
            criterion: "l1".into(),
            baseline: 90.0,
            flops: 1000.0,
            groups: vec![
                g(
                    "a",
                    vec![
                        point(0.1, 0.2, 10.0),
                        point(0.2, 0.5, 20.0),
                        point(0.3, 2.0, 30.0),
                    ],
                ),
                g(
                    "b",
                    vec![
                        point(0.1, 0.1, 50.0),
                        point(0.2, 0.9, 100.0),
                        point(0.3, 3.0, 150.0),
                    ],
                ),
                g("c", vec![point(0.1, -0.1, 5.0), point(0.2, 5.0, 6.0)]),
            ],
        }
    }

    #[test]
    fn budget_fit_maximises_flops_within_the_budget() {
        let chosen = fit_budget(&scan(), 1.0).unwrap();
        // b at 0.2 (0.9 points, 100) + c at 0.1 (free, 5) beats a at 0.2 + b at 0.1 (0.6, 70).
        assert_eq!(
            chosen,
            [("b".to_string(), 0.2), ("c".to_string(), 0.1)].into()
        );
        let chosen = fit_budget(&scan(), 3.5).unwrap();
        assert_eq!(
            chosen,
            [
                ("a".to_string(), 0.2),
                ("b".to_string(), 0.3),
                ("c".to_string(), 0.1)
            ]
            .into()
        );
    }

    #[test]
    fn measured_fit_repairs_a_proposal_whose_losses_do_not_add_up() {
        // Scanned alone, every step is cheap; measured together, any two groups lose 40 points.
        let s = scan();
        let mut calls = 0;
        let mut measure = |r: &BTreeMap<String, f32>| -> Result<f64, PruneError> {
            calls += 1;
            let alone: f64 = s
                .groups
                .iter()
                .filter_map(|g| r.get(&g.name).map(|ratio| g.points.iter().find(|p| p.ratio == *ratio).unwrap().loss))
                .sum();
            Ok(if r.len() > 1 { alone + 40.0 } else { alone })
        };
        let (chosen, loss) = fit_measured(&s, 1.0, &mut measure, &mut |_, _, _| {}).unwrap();
        // b saves the most FLOPs, so it goes first at its proposed 0.2; c then breaks the budget.
        assert_eq!(chosen, [("b".to_string(), 0.2)].into());
        assert!((loss - 0.9).abs() < 1e-9, "{loss}");
        assert_eq!(calls, 3, "proposal, b, c at 0.1 (its only step)");
        // When losses do add up, the proposal is kept after one measurement.
        let mut additive = |r: &BTreeMap<String, f32>| -> Result<f64, PruneError> { Ok(0.5 * r.len() as f64) };
        let (chosen, _) = fit_measured(&s, 1.0, &mut additive, &mut |_, _, _| {}).unwrap();
        assert_eq!(chosen, fit_budget(&s, 1.0).unwrap());
        // Nothing fits when every group breaks it.
        let mut broken = |_: &BTreeMap<String, f32>| -> Result<f64, PruneError> { Ok(50.0) };
        assert!(fit_measured(&s, 1.0, &mut broken, &mut |_, _, _| {}).is_err());
    }

    #[test]
    fn impossible_budgets_are_refused_with_the_cheapest_step() {
        let mut s = scan();
        s.groups.truncate(2);
        let err = fit_budget(&s, 0.05).unwrap_err().to_string();
        assert!(
            err.contains("group `b` at ratio 0.1") && err.contains("0.10 points"),
            "{err}"
        );
        assert!(fit_budget(&s, 0.0).is_err());
        assert!(fit_budget(&s, f64::NAN).is_err());
    }
}
