//! The statistics of the synapse probe (`shared/specs/bdh.md` §6 item 2, §8.7; the reference's
//! `synapse_probe.py`).
//!
//! Discovery, for every candidate entry at once: Welch's t between concept (1) and contrast (0)
//! sentences,
//!
//! ```text
//! t = (m₁ − m₀) / √(s₁²/n₁ + s₀²/n₀ + 10⁻¹²),   s² = n/(n−1) · max(Σv²/n − m², 0)
//! ```
//!
//! (0 where both means are 0), from running sums over the sentences. It is written here rather
//! than taken from a crate because it is a statistic over millions of entries accumulated
//! sentence by sentence, not a test on two stored samples: `statrs` has only a one-sample t test,
//! and storing every sentence's n × n matrix to hand it samples would take gigabytes.
//!
//! Held-out test: the one-sided Mann–Whitney U test (concept greater) from `statrs`
//! (`stats_tests::mannwhitneyu`, normal approximation without continuity correction and with
//! the tie correction of the variance; the reference script has no tie term, which only
//! matters where values tie), with `U` = the number of (concept, contrast) pairs ordered
//! concept-first, ties counting one half, and the rank-biserial correlation
//! `r = 2U/(n₁n₀) − 1` (Wendt 1972; Kerby 2014) computed from it. The p-value is `1 − Φ(z)` as `statrs`
//! computes it, so it bottoms out near 10⁻¹⁶ (and carries statrs's relative error of about
//! 10⁻¹⁰ in `erfc`).

use rayon::prelude::*;
use serde::Serialize;
use statrs::stats_tests::Alternative;
use statrs::stats_tests::mannwhitneyu::{MannWhitneyUMethod, mannwhitneyu};

use crate::BdhError;

/// Running sums of a class's values, entry by entry.
pub struct Moments {
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    count: usize,
}

impl Moments {
    /// No sample yet, `len` entries.
    pub fn new(len: usize) -> Self {
        Moments {
            sum: vec![0.0; len],
            sum_sq: vec![0.0; len],
            count: 0,
        }
    }

    /// Adds one sample, a row-major matrix of rows of `width` entries that `fill(i, row)`
    /// writes row by row. Rows are filled in parallel; each entry's sums still run over the
    /// samples in order, so the result does not depend on the number of threads.
    pub fn add_rows(&mut self, width: usize, fill: impl Fn(usize, &mut [f64]) + Sync) {
        self.sum
            .par_chunks_mut(width)
            .zip(self.sum_sq.par_chunks_mut(width))
            .enumerate()
            .for_each_init(
                || vec![0.0; width],
                |row, (i, (sum, sum_sq))| {
                    fill(i, row);
                    for ((s, q), &v) in sum.iter_mut().zip(sum_sq).zip(row.iter()) {
                        *s += v;
                        *q += v * v;
                    }
                },
            );
        self.count += 1;
    }

    /// The number of samples added.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The entry means.
    pub fn means(&self) -> Vec<f64> {
        let n = self.count.max(1) as f64;
        self.sum.iter().map(|s| s / n).collect()
    }
}

/// Welch's t of `concept` against `contrast`, entry by entry (see the module header).
pub fn welch_t(concept: &Moments, contrast: &Moments) -> Vec<f64> {
    let stats = |m: &Moments, k: usize| {
        let n = m.count as f64;
        let mean = m.sum[k] / n;
        let var = (m.sum_sq[k] / n - mean * mean).max(0.0) * n / (n - 1.0).max(1.0);
        (mean, var / n)
    };
    (0..concept.sum.len())
        .map(|k| {
            let ((m1, v1), (m0, v0)) = (stats(concept, k), stats(contrast, k));
            if m1 == 0.0 && m0 == 0.0 {
                0.0
            } else {
                (m1 - m0) / (v1 + v0 + 1e-12).sqrt()
            }
        })
        .collect()
}

/// The index of the largest value (the first of equal ones; NaN never wins).
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (k, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() {
            best = k;
        }
    }
    best
}

/// The held-out test's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankTest {
    /// Concept-first pairs, ties counting one half.
    pub u: f64,
    /// `n₁ · n₀`.
    pub u_max: f64,
    /// `2U/(n₁n₀) − 1`, in [−1, 1].
    pub rank_biserial: f64,
    /// One-sided (concept greater), normal approximation.
    pub p_one_sided: f64,
}

/// The one-sided Mann–Whitney U test of `concept` greater than `contrast`.
pub fn mann_whitney_greater(concept: &[f64], contrast: &[f64]) -> Result<RankTest, BdhError> {
    let (u, p) = mannwhitneyu(
        concept,
        contrast,
        MannWhitneyUMethod::AsymptoticExclContinuityCorrection,
        Alternative::Greater,
    )
    .map_err(|e| BdhError::Config(format!("Mann–Whitney U test: {e}")))?;
    let u_max = (concept.len() * contrast.len()) as f64;
    Ok(RankTest {
        u,
        u_max,
        rank_biserial: 2.0 * u / u_max - 1.0,
        p_one_sided: p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u_and_rank_biserial_match_hand_counts() {
        // Pairs with the concept value above: 3 > 1; 5 > 1, 4; 7 > 1, 4, 6 -> U = 6 of 12.
        let t = mann_whitney_greater(&[3.0, 5.0, 7.0], &[1.0, 4.0, 6.0, 8.0]).unwrap();
        assert_eq!((t.u, t.u_max, t.rank_biserial), (6.0, 12.0, 0.0));
        // Ties count one half: each 2 beats 1 and ties 2 (1.5 twice), 5 beats both: U = 5 of 6.
        let t = mann_whitney_greater(&[2.0, 2.0, 5.0], &[1.0, 2.0]).unwrap();
        assert_eq!((t.u, t.u_max), (5.0, 6.0));
        assert!((t.rank_biserial - 2.0 / 3.0).abs() < 1e-15);
        let t = mann_whitney_greater(&[9.0, 8.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(t.rank_biserial, 1.0);
    }

    #[test]
    fn normal_approximation_gives_the_tail_of_the_standard_normal() {
        // n₁ = 4, n₀ = 15: mean n₁n₀/2 = 30, variance n₁n₀(n₁ + n₀ + 1)/12 = 100, no ties.
        let contrast: Vec<f64> = (1..=15).map(f64::from).collect();
        // Contrast values below each concept value: 15 + 12 + 8 + 5 = 40 -> z = 1.
        let t = mann_whitney_greater(&[15.5, 12.5, 8.5, 5.5], &contrast).unwrap();
        assert_eq!(t.u, 40.0);
        // 1 − Φ(1) and 1 − Φ(2) (Abramowitz & Stegun table 26.1), to statrs's precision: its
        // erfc carries a relative error near 10⁻¹⁰ (measured 8.6·10⁻¹¹ here).
        assert!(
            (t.p_one_sided / 0.158_655_253_931_457 - 1.0).abs() < 1e-9,
            "{t:?}"
        );
        // 15 + 15 + 14 + 6 = 50 -> z = 2.
        let t = mann_whitney_greater(&[15.5, 15.7, 14.5, 6.5], &contrast).unwrap();
        assert_eq!(t.u, 50.0);
        assert!(
            (t.p_one_sided / 0.022_750_131_948_179 - 1.0).abs() < 1e-9,
            "{t:?}"
        );
    }

    #[test]
    fn welch_t_matches_a_hand_computation() {
        let mut concept = Moments::new(3);
        let mut contrast = Moments::new(3);
        for v in [1.0, 2.0, 3.0] {
            concept.add_rows(1, |i, row| row[0] = [v, 0.0, 1.0][i]);
        }
        for _ in 0..4 {
            contrast.add_rows(3, |_, row| row.copy_from_slice(&[0.0, 0.0, 1.0]));
        }
        assert_eq!((concept.count(), contrast.count()), (3, 4));
        let t = welch_t(&concept, &contrast);
        // Entry 0: means 2 and 0, variances 1 and 0: t = 2/√(1/3 + 10⁻¹²).
        assert!(
            (t[0] - 2.0 / (1.0f64 / 3.0 + 1e-12).sqrt()).abs() < 1e-9,
            "{t:?}"
        );
        // Entry 1: both means 0; entry 2: equal means.
        assert_eq!(&t[1..], &[0.0, 0.0]);
        assert_eq!(argmax(&t), 0);
        assert_eq!(argmax(&[1.0, f64::NAN, 3.0, 3.0]), 2);
    }

    #[test]
    fn an_empty_sample_is_refused() {
        let e = mann_whitney_greater(&[], &[1.0]).unwrap_err().to_string();
        assert!(e.contains("Mann–Whitney"), "{e}");
    }
}
