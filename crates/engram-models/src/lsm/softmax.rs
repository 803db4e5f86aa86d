//! Softmax-regression readout trained by gradient descent (NALSM's readout: Ivanov &
//! Michmizos 2021, code `NALSM_OUTPUT_LAYER.py`; spec §3.5):
//!
//! ```text
//! z = W x + b,   p = softmax(z),   loss = -log p_label + l2 · |W|^2 / 2   (mean over a batch)
//! ∂loss/∂W = (p - onehot) xᵀ + l2 W,    ∂loss/∂b = p - onehot
//! ```
//! W and b start at zero. The reference uses Adadelta (lr 0.1) for hundreds of epochs; here
//! Adam (Kingma & Ba 2015; β1 = 0.9, β2 = 0.999, ε = 1e-8) reaches the same kind of optimum
//! in tens of epochs, which the slow machine needs. Mini-batches come from a seeded
//! shuffle per epoch; after every epoch the validation accuracy is measured and the
//! weights of the best epoch are kept (the reference's model selection).

use engram::rng::{self, Purpose};
use rand::RngExt;
use rayon::prelude::*;
use serde::Serialize;

use super::ridge::argmax;
use super::{LsmError, Rows};

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SoftmaxParams {
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub l2: f64,
    pub seed: u64,
}

impl SoftmaxParams {
    pub fn validate(&self) -> Result<(), LsmError> {
        let bad = |name, reason: &str| Err(LsmError::invalid("softmax readout", name, reason));
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1");
        }
        if self.batch == 0 {
            return bad("batch", "must be at least 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate", "must be positive");
        }
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return bad("l2", "must be >= 0");
        }
        Ok(())
    }
}

/// A softmax readout: `weights[c * (dim + 1) + a]`, a = dim the bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Softmax {
    pub dim: usize,
    pub classes: usize,
    pub weights: Vec<f64>,
}

/// What training reports: accuracy per epoch and the epoch kept (counted from 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    pub train_accuracy: Vec<f64>,
    pub valid_accuracy: Vec<f64>,
    pub best_epoch: usize,
}

impl Softmax {
    /// The class probabilities of `x`, written into `p`.
    pub fn probabilities(&self, x: &[f64], p: &mut [f64]) {
        let w = self.dim + 1;
        for (c, pc) in p.iter_mut().enumerate() {
            let row = &self.weights[c * w..(c + 1) * w];
            *pc = row[self.dim]
                + row[..self.dim]
                    .iter()
                    .zip(x)
                    .map(|(a, b)| a * b)
                    .sum::<f64>();
        }
        let top = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        for pc in p.iter_mut() {
            *pc = (*pc - top).exp();
            total += *pc;
        }
        p.iter_mut().for_each(|pc| *pc /= total);
    }

    pub fn accuracy(&self, rows: &impl Rows) -> f64 {
        let correct: usize = (0..rows.len())
            .into_par_iter()
            .map_init(
                || (vec![0.0; self.dim], vec![0.0; self.classes]),
                |(x, p), r| {
                    rows.row(r, x);
                    self.probabilities(x, p);
                    usize::from(argmax(p) == rows.label(r))
                },
            )
            .sum();
        correct as f64 / rows.len().max(1) as f64
    }

    /// Trains on `train`, keeping the epoch with the best accuracy on `valid` (the last
    /// epoch when `valid` is empty).
    pub fn train(
        train: &impl Rows,
        valid: &impl Rows,
        classes: usize,
        p: &SoftmaxParams,
    ) -> Result<(Softmax, History), LsmError> {
        p.validate()?;
        let (n, dim) = (train.len(), train.dim());
        if n == 0 {
            return Err(LsmError::Model(
                "softmax readout: no training samples".into(),
            ));
        }
        let w = dim + 1;
        let mut model = Softmax {
            dim,
            classes,
            weights: vec![0.0; classes * w],
        };
        let (mut m, mut v, mut grad) = (
            vec![0.0; classes * w],
            vec![0.0; classes * w],
            vec![0.0; classes * w],
        );
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let (mut x, mut prob) = (vec![0.0; dim], vec![0.0; classes]);
        let mut t = 0i32;
        let history = train_epochs(
            &mut model,
            train,
            valid,
            p.epochs,
            p.seed,
            |model, order| {
                for batch in order.chunks(p.batch) {
                    grad.fill(0.0);
                    for &s in batch {
                        train.row(s, &mut x);
                        model.probabilities(&x, &mut prob);
                        prob[train.label(s)] -= 1.0;
                        for (c, &g) in prob.iter().enumerate() {
                            let row = &mut grad[c * w..(c + 1) * w];
                            for (gr, &xa) in row[..dim].iter_mut().zip(&x) {
                                *gr += g * xa;
                            }
                            row[dim] += g;
                        }
                    }
                    t += 1;
                    let scale = 1.0 / batch.len() as f64;
                    let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
                    for (k, wk) in model.weights.iter_mut().enumerate() {
                        let decay = if k % w == dim { 0.0 } else { p.l2 * *wk };
                        let g = grad[k] * scale + decay;
                        m[k] = b1 * m[k] + (1.0 - b1) * g;
                        v[k] = b2 * v[k] + (1.0 - b2) * g * g;
                        *wk -= p.learning_rate * (m[k] / c1) / ((v[k] / c2).sqrt() + eps);
                    }
                }
            },
        );
        Ok((model, history))
    }
}

/// Runs `epochs` passes over the training samples, each in an order shuffled from `seed`
/// (`pass` gets the model and the order), and keeps the weights of the pass with the best
/// accuracy on `valid` (on `train` when `valid` is empty). Shared by the softmax and the
/// three-factor readouts.
pub(super) fn train_epochs(
    model: &mut Softmax,
    train: &impl Rows,
    valid: &impl Rows,
    epochs: usize,
    seed: u64,
    mut pass: impl FnMut(&mut Softmax, &[usize]),
) -> History {
    let n = train.len();
    let mut history = History {
        train_accuracy: Vec::new(),
        valid_accuracy: Vec::new(),
        best_epoch: 0,
    };
    let mut best = (f64::NEG_INFINITY, model.weights.clone());
    let mut order: Vec<usize> = (0..n).collect();
    for epoch in 0..epochs {
        let mut r = rng::stream(seed, Purpose::Weights, epoch as u64);
        for i in (1..n).rev() {
            order.swap(i, r.random_range(0..=i));
        }
        pass(model, &order);
        history.train_accuracy.push(model.accuracy(train));
        let score = if valid.is_empty() {
            *history.train_accuracy.last().expect("pushed")
        } else {
            model.accuracy(valid)
        };
        history.valid_accuracy.push(score);
        if score > best.0 {
            best = (score, model.weights.clone());
            history.best_epoch = epoch + 1;
        }
    }
    model.weights = best.1;
    history
}

#[cfg(test)]
mod tests {
    use super::super::Dense;
    use super::*;

    /// Three Gaussian-free clusters on a plane, separable by lines through the origin.
    fn clusters(seed: u64, n: usize) -> Dense {
        let mut r = rng::stream(seed, Purpose::InitialState, 0);
        let centres = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let (mut x, mut labels) = (Vec::new(), Vec::new());
        for i in 0..n {
            let c = i % 3;
            x.extend(
                centres[c]
                    .iter()
                    .map(|&v: &f64| v + r.random_range(-0.3..0.3)),
            );
            labels.push(c);
        }
        Dense { dim: 3, x, labels }
    }

    #[test]
    fn separates_a_separable_set_and_keeps_the_best_validation_epoch() {
        let (train, valid) = (clusters(1, 300), clusters(2, 90));
        let p = SoftmaxParams {
            epochs: 20,
            batch: 16,
            learning_rate: 0.05,
            l2: 0.0,
            seed: 3,
        };
        let (model, history) = Softmax::train(&train, &valid, 3, &p).unwrap();
        assert_eq!(model.accuracy(&train), 1.0);
        assert_eq!(model.accuracy(&valid), 1.0);
        assert_eq!(history.valid_accuracy.len(), 20);
        let best = history.valid_accuracy.iter().copied().fold(0.0, f64::max);
        assert_eq!(history.valid_accuracy[history.best_epoch - 1], best);
        // Untrained (zero) weights give uniform probabilities.
        let zero = Softmax {
            dim: 3,
            classes: 3,
            weights: vec![0.0; 12],
        };
        let mut prob = [0.0; 3];
        zero.probabilities(&[1.0, 2.0, 3.0], &mut prob);
        assert_eq!(prob, [1.0 / 3.0; 3]);
    }

    #[test]
    fn bad_settings_are_refused() {
        let (train, valid) = (clusters(1, 30), clusters(2, 9));
        let p = SoftmaxParams {
            epochs: 1,
            batch: 4,
            learning_rate: 0.05,
            l2: 0.0,
            seed: 3,
        };
        for bad in [
            SoftmaxParams {
                epochs: 0,
                ..p.clone()
            },
            SoftmaxParams {
                batch: 0,
                ..p.clone()
            },
            SoftmaxParams {
                learning_rate: -1.0,
                ..p.clone()
            },
            SoftmaxParams {
                l2: f64::NAN,
                ..p.clone()
            },
        ] {
            assert!(Softmax::train(&train, &valid, 3, &bad).is_err(), "{bad:?}");
        }
        assert!(Softmax::train(&train, &valid, 3, &p).is_ok());
    }
}
