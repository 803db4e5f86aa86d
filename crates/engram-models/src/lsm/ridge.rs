//! Ridge-regression readout in closed form (the classic LSM readout; Maass, Natschläger &
//! Markram 2002 use a linear readout, NALSM a softmax one, see `softmax.rs`):
//!
//! ```text
//! x̃ = [x, 1]            W = (X̃ᵀX̃ + λ D)^-1 X̃ᵀY        D = diag(1, ..., 1, 0) (bias unpenalised)
//! class = argmax_c (x̃ W)_c,   Y one-hot for classification
//! ```
//! The normal equations are solved with a Cholesky factorisation written here: the matrix is
//! symmetric positive definite (for λ > 0, or a full-rank X̃), at most a few thousand wide,
//! and factorised once per run, so 40 lines avoid a LAPACK binding (which needs a system
//! BLAS and Fortran runtime) or a general linear-algebra crate for one routine.
//!
//! X̃ᵀX̃ is accumulated over blocks of samples, its rows shared out among threads; every entry
//! is summed over the samples in the same order whatever the thread count.

use rayon::prelude::*;

use super::{LsmError, Rows};

/// A fitted readout: weights `[(dim + 1) x outputs]`, the last row the bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Ridge {
    pub dim: usize,
    pub outputs: usize,
    pub weights: Vec<f64>,
}

const BLOCK: usize = 256;

impl Ridge {
    /// Fits `outputs` targets per row (`target(r, out)` writes row r's) with penalty `lambda`.
    pub fn fit(
        rows: &impl Rows,
        outputs: usize,
        target: impl Fn(usize, &mut [f64]) + Sync,
        lambda: f64,
    ) -> Result<Ridge, LsmError> {
        if !(lambda >= 0.0 && lambda.is_finite()) {
            return Err(LsmError::invalid(
                "ridge readout",
                "lambda",
                format!("must be >= 0, got {lambda}"),
            ));
        }
        let (n, d) = (rows.len(), rows.dim() + 1);
        let width = d + outputs;
        // gram: [d x width] = [X̃ᵀX̃ | X̃ᵀY], upper triangle of the left part only.
        let mut gram = vec![0.0f64; d * width];
        let mut block = vec![0.0f64; BLOCK * width];
        for start in (0..n).step_by(BLOCK) {
            let m = BLOCK.min(n - start);
            block[..m * width]
                .par_chunks_mut(width)
                .enumerate()
                .for_each(|(k, b)| {
                    rows.row(start + k, &mut b[..d - 1]);
                    b[d - 1] = 1.0;
                    target(start + k, &mut b[d..]);
                });
            let block = &block[..m * width];
            gram.par_chunks_mut(width).enumerate().for_each(|(a, g)| {
                for b in block.chunks_exact(width) {
                    let xa = b[a];
                    if xa != 0.0 {
                        for (g, &x) in g[a..].iter_mut().zip(&b[a..]) {
                            *g += xa * x;
                        }
                    }
                }
            });
        }
        let mut m = vec![0.0f64; d * d];
        for a in 0..d {
            for b in a..d {
                m[a * d + b] = gram[a * width + b];
                m[b * d + a] = gram[a * width + b];
            }
            if a < d - 1 {
                m[a * d + a] += lambda;
            }
        }
        cholesky(&mut m, d)?;
        let mut weights = vec![0.0f64; d * outputs];
        let mut rhs = vec![0.0f64; d];
        for o in 0..outputs {
            for (a, r) in rhs.iter_mut().enumerate() {
                *r = gram[a * width + d + o];
            }
            solve(&m, d, &mut rhs);
            for (a, &r) in rhs.iter().enumerate() {
                weights[a * outputs + o] = r;
            }
        }
        Ok(Ridge {
            dim: d - 1,
            outputs,
            weights,
        })
    }

    /// Fits one-hot class targets.
    pub fn fit_classes(rows: &impl Rows, classes: usize, lambda: f64) -> Result<Ridge, LsmError> {
        Ridge::fit(
            rows,
            classes,
            |r, out| {
                out.fill(0.0);
                out[rows.label(r)] = 1.0;
            },
            lambda,
        )
    }

    /// The outputs for the features `x`.
    pub fn predict(&self, x: &[f64], out: &mut [f64]) {
        out.copy_from_slice(&self.weights[self.dim * self.outputs..]);
        for (a, &xa) in x.iter().enumerate() {
            if xa != 0.0 {
                for (o, &w) in out
                    .iter_mut()
                    .zip(&self.weights[a * self.outputs..(a + 1) * self.outputs])
                {
                    *o += xa * w;
                }
            }
        }
    }

    /// Fraction of rows whose largest output is their label.
    pub fn accuracy(&self, rows: &impl Rows) -> f64 {
        let correct: usize = (0..rows.len())
            .into_par_iter()
            .map_init(
                || (vec![0.0; self.dim], vec![0.0; self.outputs]),
                |(x, out), r| {
                    rows.row(r, x);
                    self.predict(x, out);
                    usize::from(argmax(out) == rows.label(r))
                },
            )
            .sum();
        correct as f64 / rows.len().max(1) as f64
    }
}

/// Index of the largest value (the first of ties).
pub fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

/// In place: the lower triangle of `m` (`d x d`, row-major) becomes L with m = L Lᵀ.
fn cholesky(m: &mut [f64], d: usize) -> Result<(), LsmError> {
    for j in 0..d {
        let (done, rest) = m.split_at_mut(j * d);
        let row_j = &mut rest[..d];
        for k in 0..j {
            let lj = &done[k * d..k * d + k];
            let s: f64 = lj.iter().zip(&row_j[..k]).map(|(a, b)| a * b).sum();
            row_j[k] = (row_j[k] - s) / done[k * d + k];
        }
        let diag = row_j[j] - row_j[..j].iter().map(|x| x * x).sum::<f64>();
        if diag.is_nan() || diag <= 0.0 {
            return Err(LsmError::Model(format!(
                "ridge readout: the normal equations are singular at feature {j}; use a positive lambda"
            )));
        }
        row_j[j] = diag.sqrt();
    }
    Ok(())
}

/// Solves L Lᵀ z = b in place, L from [`cholesky`].
fn solve(l: &[f64], d: usize, b: &mut [f64]) {
    for i in 0..d {
        let s: f64 = (0..i).map(|k| l[i * d + k] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * d + i];
    }
    for i in (0..d).rev() {
        let s: f64 = (i + 1..d).map(|k| l[k * d + i] * b[k]).sum();
        b[i] = (b[i] - s) / l[i * d + i];
    }
}

#[cfg(test)]
mod tests {
    use super::super::Dense;
    use super::*;
    use engram::rng::{self, Purpose};
    use rand::RngExt;

    #[test]
    fn recovers_a_known_linear_map_with_bias() {
        let (n, dim, outputs) = (300, 12, 3);
        let mut r = rng::stream(5, Purpose::Weights, 0);
        let x: Vec<f64> = (0..n * dim).map(|_| r.random_range(-1.0..1.0)).collect();
        let w: Vec<f64> = (0..(dim + 1) * outputs)
            .map(|_| r.random_range(-2.0..2.0))
            .collect();
        let rows = Dense {
            dim,
            x: x.clone(),
            labels: vec![0; n],
        };
        let truth = Ridge {
            dim,
            outputs,
            weights: w.clone(),
        };
        let target = |i: usize, out: &mut [f64]| truth.predict(&x[i * dim..(i + 1) * dim], out);
        let fit = Ridge::fit(&rows, outputs, target, 0.0).unwrap();
        for (a, b) in fit.weights.iter().zip(&w) {
            assert!((a - b).abs() < 1e-10, "{a} vs {b}");
        }
        // A penalty shrinks the weights (not the bias) towards zero.
        let shrunk = Ridge::fit(&rows, outputs, target, 1e3).unwrap();
        let norm = |v: &[f64]| v[..dim * outputs].iter().map(|x| x * x).sum::<f64>();
        assert!(norm(&shrunk.weights) < 0.5 * norm(&w));
    }

    #[test]
    fn singular_normal_equations_are_an_error_and_lambda_must_be_non_negative() {
        // Two identical columns: X̃ᵀX̃ is singular without a penalty.
        let rows = Dense {
            dim: 2,
            x: vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
            labels: vec![0, 1, 0],
        };
        assert!(Ridge::fit_classes(&rows, 2, 0.0).is_err());
        assert!(Ridge::fit_classes(&rows, 2, 1e-6).is_ok());
        assert!(Ridge::fit_classes(&rows, 2, -1.0).is_err());
    }

    #[test]
    fn classifies_separable_classes() {
        let rows = Dense {
            dim: 2,
            x: vec![0.0, 1.0, 0.1, 0.9, 1.0, 0.0, 0.9, 0.2],
            labels: vec![0, 0, 1, 1],
        };
        let fit = Ridge::fit_classes(&rows, 2, 1e-3).unwrap();
        assert_eq!(fit.accuracy(&rows), 1.0);
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }
}
