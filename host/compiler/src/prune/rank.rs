//! Filter importance: L1 norm, or FPGM (distance to the geometric median of the layer's filters).

use super::graph::Const;

/// How filters are ranked; the lowest scores go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// Sum of absolute weights: small filters contribute little.
    L1,
    /// Sum of Euclidean distances to the layer's other filters (He et al., 2019): a filter near the
    /// geometric median is the one the others can best stand in for.
    Fpgm,
}

impl std::str::FromStr for Criterion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "l1" => Ok(Criterion::L1),
            "fpgm" => Ok(Criterion::Fpgm),
            _ => Err(format!("unknown criterion `{s}` (expected l1 or fpgm)")),
        }
    }
}

impl std::fmt::Display for Criterion {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Criterion::L1 => "l1",
            Criterion::Fpgm => "fpgm",
        })
    }
}

/// One score per filter (slice along `axis`) of a weight, divided by the layer's mean score so
/// that layers tied together by a residual add weigh alike.
pub fn filter_scores(weight: &Const, data: &[f32], axis: usize, criterion: Criterion) -> Vec<f32> {
    let filters = filters(weight, data, axis);
    let raw: Vec<f32> = match criterion {
        Criterion::L1 => filters
            .iter()
            .map(|f| f.iter().map(|v| v.abs()).sum())
            .collect(),
        Criterion::Fpgm => filters
            .iter()
            .map(|a| {
                filters
                    .iter()
                    .map(|b| {
                        a.iter()
                            .zip(b)
                            .map(|(x, y)| (x - y) * (x - y))
                            .sum::<f32>()
                            .sqrt()
                    })
                    .sum()
            })
            .collect(),
    };
    let mean = raw.iter().sum::<f32>() / raw.len().max(1) as f32;
    raw.iter()
        .map(|s| if mean > 0.0 { s / mean } else { 0.0 })
        .collect()
}

/// The filters of a weight as rows, whatever the axis of the output channels.
fn filters(weight: &Const, data: &[f32], axis: usize) -> Vec<Vec<f32>> {
    let n = weight.shape[axis];
    let outer: usize = weight.shape[..axis].iter().product();
    let inner: usize = weight.shape[axis + 1..].iter().product();
    (0..n)
        .map(|k| {
            (0..outer)
                .flat_map(|o| {
                    data[(o * n + k) * inner..(o * n + k + 1) * inner]
                        .iter()
                        .copied()
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l1_ranks_small_filters_low() {
        let w = Const {
            shape: vec![3, 2],
            data: None,
        };
        let s = filter_scores(&w, &[1.0, -1.0, 0.1, 0.0, -3.0, 3.0], 0, Criterion::L1);
        assert!(s[1] < s[0] && s[0] < s[2]);
        assert!(
            (s.iter().sum::<f32>() - 3.0).abs() < 1e-5,
            "scores are relative to the mean"
        );
    }

    #[test]
    fn fpgm_ranks_the_filter_nearest_the_median_low() {
        // Filters at 0, 1 and 10 on a line: 1 is the geometric median, though not the smallest.
        let w = Const {
            shape: vec![1, 3],
            data: None,
        };
        let s = filter_scores(&w, &[0.0, 1.0, 10.0], 1, Criterion::Fpgm);
        assert!(s[1] < s[0] && s[0] < s[2], "{s:?}");
    }
}
