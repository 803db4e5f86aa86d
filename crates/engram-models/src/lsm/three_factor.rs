//! Online three-factor readout: softmax readout units whose weights change sample by sample
//! by a local rule, the product of a presynaptic trace, the postsynaptic activity and a
//! third, error-carrying factor (Frémaux & Gerstner 2016, Front Neural Circuits 9:85, and
//! Gerstner et al. 2018, Front Neural Circuits 12:53, on three-factor rules; the error as the
//! third factor as in e-prop, Bellec et al. 2020, Nat Commun 11:3625).
//!
//! ```text
//! x_i          presynaptic liquid feature trace: neuron i's spike count over the sample
//!              (the integral of its trace), scaled as for the other readouts
//! y_c          postsynaptic readout activity: y = softmax(W x + b)
//! e_ci = x_i y_c                 eligibility: coincidence of pre and post activity
//! M_c  = t_c - y_c               third factor: target (one-hot) minus output, at the sample's end
//! Δw_ci = eta M_c e_ci,   Δb_c = eta M_c y_c
//! ```
//! Each training sample is presented once per epoch, in a seeded random order, and changes
//! the weights at once (no batches, no optimiser state). Unlike the cross-entropy gradient
//! `(t_c - y_c) x_i` the rule is gated by the unit's own activity: a unit that is silent for
//! a sample does not change, so a sample the readout gets badly wrong (target unit near 0)
//! teaches it little. W and b start at zero; after every epoch the validation accuracy is
//! measured and the weights of the best epoch are kept, as for the softmax readout.

use serde::Serialize;

use super::softmax::{History, Softmax, train_epochs};
use super::{LsmError, Rows};

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreeFactorParams {
    pub epochs: usize,
    /// eta.
    pub learning_rate: f64,
    pub seed: u64,
}

impl ThreeFactorParams {
    pub fn validate(&self) -> Result<(), LsmError> {
        let bad = |name, reason: &str| Err(LsmError::invalid("three-factor readout", name, reason));
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate", "must be positive");
        }
        Ok(())
    }
}

/// Applies the rule for one sample `x` of class `label` to `model`; `y` receives the
/// readout's activity before the change.
pub fn learn_sample(model: &mut Softmax, x: &[f64], label: usize, eta: f64, y: &mut [f64]) {
    model.probabilities(x, y);
    let w = model.dim + 1;
    for (c, &yc) in y.iter().enumerate() {
        let target = if c == label { 1.0 } else { 0.0 };
        // eta M_c y_c: the eligibility x_i y_c times the third factor, per unit of x_i.
        let gain = eta * (target - yc) * yc;
        let row = &mut model.weights[c * w..(c + 1) * w];
        for (wi, &xi) in row[..model.dim].iter_mut().zip(x) {
            *wi = gain.mul_add(xi, *wi);
        }
        row[model.dim] += gain;
    }
}

/// Trains on `train` sample by sample, keeping the epoch with the best accuracy on `valid`
/// (the last epoch when `valid` is empty).
pub fn train(
    train: &impl Rows,
    valid: &impl Rows,
    classes: usize,
    p: &ThreeFactorParams,
) -> Result<(Softmax, History), LsmError> {
    p.validate()?;
    let (n, dim) = (train.len(), train.dim());
    if n == 0 {
        return Err(LsmError::Model(
            "three-factor readout: no training samples".into(),
        ));
    }
    let mut model = Softmax {
        dim,
        classes,
        weights: vec![0.0; classes * (dim + 1)],
    };
    let (mut x, mut y) = (vec![0.0; dim], vec![0.0; classes]);
    let history = train_epochs(
        &mut model,
        train,
        valid,
        p.epochs,
        p.seed,
        |model, order| {
            for &s in order {
                train.row(s, &mut x);
                learn_sample(model, &x, train.label(s), p.learning_rate, &mut y);
            }
        },
    );
    Ok((model, history))
}

#[cfg(test)]
mod tests {
    use engram::rng::{self, Purpose};
    use rand::RngExt;

    use super::super::Dense;
    use super::*;

    /// Three noisy clusters around the unit vectors, separable by planes through the origin.
    fn clusters(seed: u64, n: usize) -> Dense {
        let mut r = rng::stream(seed, Purpose::InitialState, 0);
        let (mut x, mut labels) = (Vec::new(), Vec::new());
        for i in 0..n {
            let c = i % 3;
            x.extend((0..3).map(|k| f64::from(u8::from(k == c)) + r.random_range(-0.3..0.3)));
            labels.push(c);
        }
        Dense { dim: 3, x, labels }
    }

    #[test]
    fn one_sample_changes_the_weights_by_the_rule() {
        // From zero weights every unit is at 1/3: the target unit gains eta (2/3)(1/3) x and
        // bias, the others lose eta (1/3)(1/3) x.
        let mut model = Softmax {
            dim: 2,
            classes: 3,
            weights: vec![0.0; 9],
        };
        let mut y = [0.0; 3];
        learn_sample(&mut model, &[0.5, 2.0], 1, 0.9, &mut y);
        assert_eq!(y, [1.0 / 3.0; 3]);
        let (up, down) = (0.9 * 2.0 / 9.0, -0.9 / 9.0);
        let want = [
            down * 0.5,
            down * 2.0,
            down,
            up * 0.5,
            up * 2.0,
            up,
            down * 0.5,
            down * 2.0,
            down,
        ];
        for (got, want) in model.weights.iter().zip(want) {
            assert!((got - want).abs() < 1e-15, "{:?}", model.weights);
        }
    }

    #[test]
    fn learns_a_separable_set_online_and_keeps_the_best_validation_epoch() {
        let (train_set, valid) = (clusters(1, 300), clusters(2, 90));
        let p = ThreeFactorParams {
            epochs: 20,
            learning_rate: 0.5,
            seed: 3,
        };
        let (model, history) = train(&train_set, &valid, 3, &p).unwrap();
        assert_eq!(model.accuracy(&train_set), 1.0);
        assert_eq!(model.accuracy(&valid), 1.0);
        let best = history.valid_accuracy.iter().copied().fold(0.0, f64::max);
        assert_eq!(history.valid_accuracy[history.best_epoch - 1], best);
        // The same seed gives the same weights.
        assert_eq!(train(&train_set, &valid, 3, &p).unwrap().0, model);
    }

    #[test]
    fn bad_settings_are_refused() {
        let (train_set, valid) = (clusters(1, 30), clusters(2, 9));
        for p in [
            ThreeFactorParams {
                epochs: 0,
                learning_rate: 0.5,
                seed: 1,
            },
            ThreeFactorParams {
                epochs: 1,
                learning_rate: -0.5,
                seed: 1,
            },
            ThreeFactorParams {
                epochs: 1,
                learning_rate: f64::NAN,
                seed: 1,
            },
        ] {
            assert!(train(&train_set, &valid, 3, &p).is_err(), "{p:?}");
        }
    }
}
