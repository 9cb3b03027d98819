#![allow(clippy::needless_range_loop)] // index loops read best in matrix code
//! Optimal linear assignment (minimum-cost bipartite matching).
//!
//! Shortest augmenting paths with dual potentials (the Hungarian method in the form
//! Jonker-Volgenant use for their augmentation phase): `O(n^2 m)` for `n <= m`, no allocation
//! beyond a few vectors of length `m`. Rectangular matrices are handled directly; a cost limit
//! gives the behaviour of `lap.lapjv(cost, extend_cost=True, cost_limit=t)` that ByteTrack uses.

/// The result of an assignment: matched `(row, col)` pairs (by ascending row) and the rows and
/// columns left over (ascending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Matched `(row, col)` pairs, by ascending row.
    pub matches: Vec<(usize, usize)>,
    /// Rows without a column, ascending.
    pub unmatched_rows: Vec<usize>,
    /// Columns without a row, ascending.
    pub unmatched_cols: Vec<usize>,
}

/// Costs larger than this (and NaN, +inf) are clamped to it so that the search always ends.
const BIG: f64 = 1e15;

fn sanitize(c: f64) -> f64 {
    if c.is_nan() || c > BIG {
        BIG
    } else if c < -BIG {
        -BIG
    } else {
        c
    }
}

/// Minimum-cost assignment on a row-major `rows x cols` cost matrix: every row is given a
/// distinct column when `rows <= cols`, every column a distinct row otherwise. Returns, for each
/// row, its column.
///
/// # Panics
/// If `cost.len() != rows * cols`.
pub fn linear_assignment(cost: &[f64], rows: usize, cols: usize) -> Vec<Option<usize>> {
    assert_eq!(cost.len(), rows * cols, "cost matrix is not rows x cols");
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    if rows <= cols {
        let col_of_row = solve(rows, cols, |i, j| sanitize(cost[i * cols + j]));
        col_of_row.into_iter().map(Some).collect()
    } else {
        // transpose: columns become rows
        let row_of_col = solve(cols, rows, |i, j| sanitize(cost[j * cols + i]));
        let mut out = vec![None; rows];
        for (c, r) in row_of_col.into_iter().enumerate() {
            out[r] = Some(c);
        }
        out
    }
}

/// Assignment where a pair is only worth matching if its cost is below `limit`: minimises
/// `sum over matched pairs (cost - limit)`, i.e. the same optimum as `lap.lapjv(cost,
/// extend_cost=True, cost_limit=limit)`. Pairs at or above the limit are never matched.
pub fn linear_assignment_with_limit(
    cost: &[f64],
    rows: usize,
    cols: usize,
    limit: f64,
) -> Assignment {
    assert_eq!(cost.len(), rows * cols, "cost matrix is not rows x cols");
    let shifted: Vec<f64> = cost
        .iter()
        .map(|&c| (sanitize(c) - limit).min(0.0))
        .collect();
    let sol = linear_assignment(&shifted, rows, cols);
    let mut out = Assignment::default();
    let mut col_used = vec![false; cols];
    for (r, c) in sol.into_iter().enumerate() {
        match c {
            Some(c) if sanitize(cost[r * cols + c]) < limit => {
                out.matches.push((r, c));
                col_used[c] = true;
            }
            _ => out.unmatched_rows.push(r),
        }
    }
    out.unmatched_cols = (0..cols).filter(|&c| !col_used[c]).collect();
    out
}

/// Shortest augmenting path solver for `n <= m`; `a(i, j)` is the cost. Returns the column of
/// each row.
fn solve(n: usize, m: usize, a: impl Fn(usize, usize) -> f64) -> Vec<usize> {
    // 1-based in rows and columns; index 0 is the virtual start.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1]; // row assigned to column j
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![0.0f64; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        minv.iter_mut().for_each(|x| *x = f64::INFINITY);
        used.iter_mut().for_each(|x| *x = false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = a(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            if j1 == 0 {
                // cannot happen with finite costs and n <= m; bail out rather than loop
                break;
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut col_of_row = vec![0usize; n];
    for j in 1..=m {
        if p[j] != 0 {
            col_of_row[p[j] - 1] = j - 1;
        }
    }
    col_of_row
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Minimum over all full assignments (every row or every column matched).
    fn brute_full(cost: &[f64], rows: usize, cols: usize) -> f64 {
        fn rec(
            cost: &[f64],
            rows: usize,
            cols: usize,
            r: usize,
            used: &mut Vec<bool>,
            left: usize,
        ) -> f64 {
            if r == rows {
                return if left == 0 { 0.0 } else { f64::INFINITY };
            }
            let mut best = f64::INFINITY;
            // skipping a row is allowed only while more rows than columns remain to fill
            if rows - r > left {
                best = rec(cost, rows, cols, r + 1, used, left);
            }
            for c in 0..cols {
                if !used[c] && left > 0 {
                    used[c] = true;
                    best =
                        best.min(cost[r * cols + c] + rec(cost, rows, cols, r + 1, used, left - 1));
                    used[c] = false;
                }
            }
            best
        }
        rec(cost, rows, cols, 0, &mut vec![false; cols], rows.min(cols))
    }

    /// Minimum over all partial matchings of sum(cost - limit).
    fn brute_partial(cost: &[f64], rows: usize, cols: usize, limit: f64) -> f64 {
        fn rec(
            cost: &[f64],
            rows: usize,
            cols: usize,
            limit: f64,
            r: usize,
            used: &mut Vec<bool>,
        ) -> f64 {
            if r == rows {
                return 0.0;
            }
            let mut best = rec(cost, rows, cols, limit, r + 1, used);
            for c in 0..cols {
                if !used[c] {
                    used[c] = true;
                    best = best.min(
                        cost[r * cols + c] - limit + rec(cost, rows, cols, limit, r + 1, used),
                    );
                    used[c] = false;
                }
            }
            best
        }
        rec(cost, rows, cols, limit, 0, &mut vec![false; cols])
    }

    fn matrix() -> impl Strategy<Value = (usize, usize, Vec<f64>)> {
        (0usize..6, 0usize..6).prop_flat_map(|(r, c)| {
            (
                Just(r),
                Just(c),
                proptest::collection::vec(-5.0f64..5.0, r * c),
            )
        })
    }

    proptest! {
        #[test]
        fn full_assignment_is_optimal((rows, cols, cost) in matrix()) {
            let sol = linear_assignment(&cost, rows, cols);
            prop_assert_eq!(sol.len(), rows);
            let mut seen = vec![false; cols];
            let mut total = 0.0;
            let mut n = 0;
            for (r, c) in sol.iter().enumerate() {
                if let Some(c) = *c {
                    prop_assert!(!seen[c]);
                    seen[c] = true;
                    total += cost[r * cols + c];
                    n += 1;
                }
            }
            prop_assert_eq!(n, rows.min(cols));
            let best = brute_full(&cost, rows, cols);
            if rows.min(cols) > 0 {
                prop_assert!((total - best).abs() < 1e-9, "total {} best {}", total, best);
            }
        }

        #[test]
        fn limited_assignment_is_optimal((rows, cols, cost) in matrix(), limit in -2.0f64..5.0) {
            let a = linear_assignment_with_limit(&cost, rows, cols, limit);
            let total: f64 = a.matches.iter().map(|&(r, c)| cost[r * cols + c] - limit).sum();
            for &(r, c) in &a.matches {
                prop_assert!(cost[r * cols + c] < limit);
            }
            prop_assert_eq!(a.matches.len() + a.unmatched_rows.len(), rows);
            prop_assert_eq!(a.matches.len() + a.unmatched_cols.len(), cols);
            let best = brute_partial(&cost, rows, cols, limit);
            prop_assert!((total - best).abs() < 1e-9, "total {} best {}", total, best);
        }
    }

    #[test]
    fn small_cases() {
        // classic 3x3
        let cost = [4.0, 1.0, 3.0, 2.0, 0.0, 5.0, 3.0, 2.0, 2.0];
        assert_eq!(
            linear_assignment(&cost, 3, 3),
            vec![Some(1), Some(0), Some(2)]
        );
        // more rows than columns
        let cost = [1.0, 0.5];
        assert_eq!(linear_assignment(&cost, 2, 1), vec![None, Some(0)]);
        // limit: the only pair is too expensive
        let a = linear_assignment_with_limit(&[0.9], 1, 1, 0.8);
        assert!(a.matches.is_empty());
        assert_eq!((a.unmatched_rows, a.unmatched_cols), (vec![0], vec![0]));
        // infinities do not hang the solver
        let cost = [f64::INFINITY, f64::INFINITY, f64::NAN, 1.0];
        assert_eq!(linear_assignment(&cost, 2, 2), vec![Some(0), Some(1)]);
        assert!(linear_assignment(&[], 0, 3).is_empty());
        assert_eq!(linear_assignment(&[], 2, 0), vec![None, None]);
    }
}
