//! The neuron–neuron synapse matrix of a text (`shared/specs/bdh.md` §2.4, §6 items 2 and 4,
//! §8.7; the paper's §6.2–6.3): for layer `l ≥ 2` (from 1),
//!
//! ```text
//! σ_l = (1/T) · Σ_t g_{t,l−1} ⊗ x_{t,l}          n × n,  σ_l[i, j] = (1/T) Σ_t g_{t,l−1}[i] · x_{t,l}[j]
//! ```
//!
//! the gated activity of layer `l − 1` (pre-synaptic, row `i`) against the neuron activity of
//! layer `l` (post-synaptic, column `j`), summed over the text's `T` tokens and divided by `T`
//! so that texts of different lengths compare. As in the reference's `synapse_probe.py`, the
//! rotation `U` is taken as the identity, so `σ ≥ 0`. The code never stores σ (§2.4: in the
//! paper's idealisation the state is `ρ = E σ`); it is an analysis object built here from a
//! [`Trace`](super::trace::Trace).
//!
//! Row `i` of σ only involves the tokens where `g[i] ≠ 0`, so it is computed from the
//! column-compressed `g` and the sparse `x` rows in `Σ_{t: g_t[i] ≠ 0} nnz(x_t)` multiply-adds,
//! in f64, rows in parallel (each row alone, so the result does not depend on the number of
//! threads); a whole n × n matrix is never needed for the top edges.

use rayon::prelude::*;

use super::trace::SparseRows;

/// The most entries a dense σ may have (`n ≤ 8192`): the probe holds five f64 arrays of that
/// size (2.7 GB at the limit), and the default configuration's `n = 32768` would need 43 GB.
pub const MAX_DENSE_ENTRIES: usize = 1 << 26;

/// Refuses a dense σ over `n` neurons beyond [`MAX_DENSE_ENTRIES`]; `what` names the user.
pub fn check_dense(n: usize, what: &str) -> Result<(), crate::BdhError> {
    if n * n > MAX_DENSE_ENTRIES {
        return Err(crate::BdhError::Config(format!(
            "{what} needs σ dense, n² = {} entries for n = {n} neurons, more than the {MAX_DENSE_ENTRIES} (n = 8192) allowed",
            n * n
        )));
    }
    Ok(())
}

/// Writes row `i` of σ into `out` (length `x.width`), from `g_column`, the non-zero entries of
/// column `i` of `g` as (token, value).
pub fn row(g_column: &[(u32, f32)], x: &SparseRows, out: &mut [f64]) {
    out.fill(0.0);
    for &(t, gv) in g_column {
        let (index, value) = x.row(t as usize);
        for (&j, &xv) in index.iter().zip(value) {
            out[j as usize] += f64::from(gv) * f64::from(xv);
        }
    }
    let inv_t = 1.0 / x.rows().max(1) as f64;
    out.iter_mut().for_each(|v| *v *= inv_t);
}

/// σ as a dense row-major `[g.width, x.width]` matrix.
pub fn dense(g: &SparseRows, x: &SparseRows) -> Vec<f64> {
    let mut out = vec![0.0; g.width * x.width];
    let columns = g.columns();
    out.par_chunks_mut(x.width)
        .zip(&columns)
        .for_each(|(r, column)| row(column, x, r));
    out
}

/// One entry `σ[pre, post]`.
pub fn entry(g: &SparseRows, x: &SparseRows, pre: usize, post: usize) -> f64 {
    let mut sum = 0.0;
    for t in 0..g.rows() {
        let value_at = |rows: &SparseRows, k: usize| {
            let (index, value) = rows.row(t);
            index
                .binary_search(&(k as u32))
                .map_or(0.0, |p| f64::from(value[p]))
        };
        let gv = value_at(g, pre);
        if gv != 0.0 {
            sum += gv * value_at(x, post);
        }
    }
    sum / g.rows().max(1) as f64
}

/// A weighted directed edge between neurons (indices `h·N + k`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge {
    pub pre: u32,
    pub post: u32,
    pub weight: f64,
}

/// The `k` largest entries of `row` (all of them if fewer are wanted), as (column, value),
/// largest first, ties by lower column; only entries above `floor` count.
pub fn top_k(row: &[f64], k: usize, floor: f64) -> Vec<(u32, f64)> {
    let mut kept: Vec<(u32, f64)> = row
        .iter()
        .enumerate()
        .filter(|&(_, &v)| v > floor)
        .map(|(j, &v)| (j as u32, v))
        .collect();
    let order = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if kept.len() > k && k > 0 {
        kept.select_nth_unstable_by(k - 1, order);
    }
    kept.truncate(k);
    kept.sort_by(order);
    kept
}

/// For every pre-synaptic neuron, its `k` strongest non-zero synapses in σ, rows in order.
pub fn top_edges(g: &SparseRows, x: &SparseRows, k: usize) -> Vec<Edge> {
    let columns = g.columns();
    let rows: Vec<Vec<Edge>> = columns
        .par_iter()
        .enumerate()
        .map_init(
            || vec![0.0; x.width],
            |buffer, (i, column)| {
                if column.is_empty() {
                    return Vec::new();
                }
                row(column, x, buffer);
                top_k(buffer, k, 0.0)
                    .into_iter()
                    .map(|(j, weight)| Edge {
                        pre: i as u32,
                        post: j,
                        weight,
                    })
                    .collect()
            },
        )
        .collect();
    rows.concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// `tokens` rows of `width` entries, about half of them zero.
    fn random_rows(tokens: usize, width: usize, seed: u64) -> SparseRows {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut rows = SparseRows::new(width);
        for _ in 0..tokens {
            let values: Vec<f32> = (0..width)
                .map(|_| (rng.random::<f32>() - 0.5).max(0.0))
                .collect();
            rows.extend_row(0, values);
            rows.end_row();
        }
        rows
    }

    /// σ by its definition: a triple loop over dense rows.
    fn direct(g: &SparseRows, x: &SparseRows) -> Vec<f64> {
        let t = g.rows();
        let mut sigma = vec![0.0; g.width * x.width];
        for s in 0..t {
            let (gd, xd) = (g.dense_row(s), x.dense_row(s));
            for i in 0..g.width {
                for j in 0..x.width {
                    sigma[i * x.width + j] += f64::from(gd[i]) * f64::from(xd[j]) / t as f64;
                }
            }
        }
        sigma
    }

    #[test]
    fn sigma_equals_the_direct_sum_of_outer_products() {
        let (g, x) = (random_rows(9, 7, 1), random_rows(9, 5, 2));
        let expected = direct(&g, &x);
        let got = dense(&g, &x);
        assert!(expected.iter().any(|&v| v > 0.0));
        for (a, b) in got.iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
        }
        for (pre, post) in [(0, 0), (3, 4), (6, 2)] {
            let e = entry(&g, &x, pre, post);
            assert!((e - expected[pre * 5 + post]).abs() <= 1e-12);
        }
    }

    #[test]
    fn top_edges_are_the_largest_entries_of_each_row() {
        let (g, x) = (random_rows(6, 8, 3), random_rows(6, 10, 4));
        let sigma = direct(&g, &x);
        let edges = top_edges(&g, &x, 3);
        for i in 0..8 {
            let mut row: Vec<(u32, f64)> = (0..10)
                .map(|j| (j as u32, sigma[i * 10 + j]))
                .filter(|e| e.1 > 0.0)
                .collect();
            row.sort_by(|a, b| b.1.total_cmp(&a.1));
            row.truncate(3);
            let got: Vec<(u32, f64)> = edges
                .iter()
                .filter(|e| e.pre == i as u32)
                .map(|e| (e.post, e.weight))
                .collect();
            assert_eq!(got.len(), row.len(), "row {i}");
            for ((j, w), (jj, ww)) in got.iter().zip(&row) {
                assert_eq!(j, jj, "row {i}");
                assert!((w - ww).abs() <= 1e-12);
            }
        }
    }

    #[test]
    fn top_k_breaks_ties_by_column_and_skips_the_floor() {
        let row = [1.0, 3.0, 0.0, 3.0, 2.0];
        assert_eq!(top_k(&row, 2, 0.0), vec![(1, 3.0), (3, 3.0)]);
        assert_eq!(top_k(&row, 9, 0.0).len(), 4);
        assert_eq!(top_k(&row, 9, f64::NEG_INFINITY).len(), 5);
    }
}
