//! Classification losses on the output layer's recording `[T, B, C]` (time, batch, classes) and
//! integer labels `y: [B]` (u32), after `snntorch.functional`. Each loss first reduces the
//! recording over time to per-class scores `z: [B, C]` ([`Loss::scores`]):
//!
//! - **ce_count** (`snntorch.functional.ce_count_loss`): `z = Σ_t s[t]` (spike counts) and
//!   `L = −(1/B) Σ_b log softmax(z_b)[y_b]`, i.e. `F.cross_entropy(spk.sum(0), y)`.
//! - **ce_max_membrane** (`ce_max_membrane_loss`): `z = max_t U[t]` (output membrane) and the
//!   same cross-entropy. Where the maximum is reached at several steps, candle's backward gives
//!   each of them the full gradient (PyTorch's `torch.max(dim)` gives it to one index only).
//! - **mse_count** (`mse_count_loss`): `z = Σ_t s[t]`, target `n_c = ⌊T·correct_rate⌋` for the
//!   true class and `⌊T·incorrect_rate⌋` otherwise (snnTorch's `int(num_steps * rate)`,
//!   computed in f64), and `L = (1/T)·(1/(B·C)) Σ_{b,c} (z_bc − n_bc)²`: `nn.MSELoss()` averages
//!   over batch and classes, then snnTorch divides by `num_steps`. snnTorch's class defaults
//!   are `correct_rate = 1`, `incorrect_rate = 0`; ours are the tutorials' 0.8 and 0.2.
//!
//! [`accuracy`] is the fraction of rows whose arg-max score is the label; ties go to the
//! first (lowest) class index.

use candle_core::{DType, Device, Result, Tensor, bail};
use serde::{Deserialize, Serialize};

/// Which loss trains the output layer; see the module documentation.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Loss {
    /// Cross-entropy on spike counts. (Variants without parameters are written `{}` so that
    /// serde's `deny_unknown_fields` rejects stray keys; it ignores them on unit variants.)
    CeCount {},
    /// Cross-entropy on the maximum over time of the output membrane potential.
    CeMaxMembrane {},
    /// Mean squared error between spike counts and target counts.
    MseCount {
        #[serde(default = "default_correct_rate")]
        correct_rate: f64,
        #[serde(default = "default_incorrect_rate")]
        incorrect_rate: f64,
    },
}

fn default_correct_rate() -> f64 {
    0.8
}

fn default_incorrect_rate() -> f64 {
    0.2
}

impl Loss {
    /// Checks the parameters: both mse_count rates in `[0, 1]`.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if let Loss::MseCount {
            correct_rate,
            incorrect_rate,
        } = *self
        {
            for (name, r) in [
                ("correct_rate", correct_rate),
                ("incorrect_rate", incorrect_rate),
            ] {
                if !(0.0..=1.0).contains(&r) {
                    return Err(format!(
                        "mse_count loss: {name} must lie in [0, 1], got {r}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the loss reads the output layer's membrane potential (else its spikes).
    pub fn reads_membrane(&self) -> bool {
        matches!(self, Loss::CeMaxMembrane {})
    }

    /// The per-class scores `[B, C]` the loss classifies by: spike counts `Σ_t s[t]`, or
    /// `max_t U[t]` for ce_max_membrane. Pass them to [`accuracy`].
    pub fn scores(&self, output: &Tensor) -> Result<Tensor> {
        output.dims3()?;
        match self {
            Loss::CeMaxMembrane {} => output.max(0),
            Loss::CeCount {} | Loss::MseCount { .. } => output.sum(0),
        }
    }

    /// The scalar loss of the recording `output: [T, B, C]` (spikes, or membrane potential when
    /// [`Loss::reads_membrane`]) against `labels: [B]` (u32, each below `C`).
    pub fn compute(&self, output: &Tensor, labels: &Tensor) -> Result<Tensor> {
        match *self {
            Loss::CeCount {} => ce_count(output, labels),
            Loss::CeMaxMembrane {} => ce_max_membrane(output, labels),
            Loss::MseCount {
                correct_rate,
                incorrect_rate,
            } => mse_count(output, labels, correct_rate, incorrect_rate),
        }
    }
}

/// Checks `labels` against `output: [T, B, C]` and returns them.
fn check_labels(output: &Tensor, labels: &Tensor) -> Result<Vec<u32>> {
    let (_, b, c) = output.dims3()?;
    check_label_values(labels, b, c)
}

fn check_label_values(labels: &Tensor, b: usize, c: usize) -> Result<Vec<u32>> {
    if labels.dtype() != DType::U32 || labels.dims() != [b] {
        bail!(
            "labels must be a u32 tensor [{b}], got {:?} {:?}",
            labels.dtype(),
            labels.dims()
        )
    }
    let y = labels.to_vec1::<u32>()?;
    if let Some(bad) = y.iter().find(|&&l| l as usize >= c) {
        bail!("label {bad} out of range for {c} classes")
    }
    Ok(y)
}

/// Cross-entropy on spike counts (`snntorch.functional.ce_count_loss`), mean over the batch.
pub fn ce_count(spikes: &Tensor, labels: &Tensor) -> Result<Tensor> {
    check_labels(spikes, labels)?;
    candle_nn::loss::cross_entropy(&spikes.sum(0)?, labels)
}

/// Cross-entropy on the maximum over time of the membrane potential
/// (`snntorch.functional.ce_max_membrane_loss`), mean over the batch.
pub fn ce_max_membrane(membrane: &Tensor, labels: &Tensor) -> Result<Tensor> {
    check_labels(membrane, labels)?;
    candle_nn::loss::cross_entropy(&membrane.max(0)?, labels)
}

/// Mean squared error between spike counts and the target counts `⌊T·correct_rate⌋` (true
/// class) and `⌊T·incorrect_rate⌋` (others), divided by `T` (`snntorch.functional.mse_count_loss`).
pub fn mse_count(
    spikes: &Tensor,
    labels: &Tensor,
    correct_rate: f64,
    incorrect_rate: f64,
) -> Result<Tensor> {
    let y = check_labels(spikes, labels)?;
    let (t, b, c) = spikes.dims3()?;
    let on = (t as f64 * correct_rate).floor();
    let off = (t as f64 * incorrect_rate).floor();
    let mut target = vec![off; b * c];
    for (row, &l) in y.iter().enumerate() {
        target[row * c + l as usize] = on;
    }
    let target = Tensor::from_vec(target, (b, c), spikes.device())?.to_dtype(spikes.dtype())?;
    (spikes.sum(0)? - target)?.sqr()?.mean_all()? / t as f64
}

/// The number of rows of `scores: [B, C]` whose arg-max (first index on ties) equals the label.
pub fn count_correct(scores: &Tensor, labels: &Tensor) -> Result<usize> {
    let (b, c) = scores.dims2()?;
    let y = check_label_values(labels, b, c)?;
    let scores = scores.to_dtype(DType::F64)?.to_device(&Device::Cpu)?;
    let rows = scores.to_vec2::<f64>()?;
    Ok(rows
        .iter()
        .zip(&y)
        .filter(|&(row, &l)| argmax_first(row) == l as usize)
        .count())
}

/// The fraction of rows of `scores: [B, C]` whose arg-max (first index on ties) equals the
/// label; `scores` is [`Loss::scores`] of the output, or any `[B, C]` class scores.
pub fn accuracy(scores: &Tensor, labels: &Tensor) -> Result<f64> {
    let b = scores.dim(0)?;
    if b == 0 {
        bail!("accuracy of an empty batch")
    }
    Ok(count_correct(scores, labels)? as f64 / b as f64)
}

/// The first index of the largest value (NaN loses to any number).
fn argmax_first(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] || (row[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    fn tensor3(v: &[f64], dims: (usize, usize, usize)) -> Tensor {
        Tensor::from_vec(v.to_vec(), dims, &Device::Cpu).unwrap()
    }

    fn labels(y: &[u32]) -> Tensor {
        Tensor::from_vec(y.to_vec(), y.len(), &Device::Cpu).unwrap()
    }

    fn value(t: &Tensor) -> f64 {
        t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
    }

    fn ln_sum_exp(z: &[f64]) -> f64 {
        z.iter().map(|v| v.exp()).sum::<f64>().ln()
    }

    #[test]
    fn ce_count_equals_hand_computed_cross_entropy() {
        // T = 2, B = 2, C = 3; counts [2, 0, 1] (label 0) and [0, 1, 1] (label 2).
        let s = tensor3(&[1., 0., 1., 0., 1., 0., 1., 0., 0., 0., 0., 1.], (2, 2, 3));
        let y = labels(&[0, 2]);
        let expect = ((ln_sum_exp(&[2., 0., 1.]) - 2.) + (ln_sum_exp(&[0., 1., 1.]) - 1.)) / 2.;
        assert!((value(&ce_count(&s, &y).unwrap()) - expect).abs() < 1e-12);
        let s32 = s.to_dtype(DType::F32).unwrap();
        assert!((value(&Loss::CeCount {}.compute(&s32, &y).unwrap()) - expect).abs() < 1e-6);
    }

    #[test]
    fn ce_max_membrane_equals_hand_computed_cross_entropy() {
        // Maxima over T: [0.5, 1.0, -0.2] (label 1) and [2.0, 0.3, 0.1] (label 0).
        let u = tensor3(
            &[0.5, -1., -0.2, 2., 0.3, -3., 0.1, 1., -0.4, 1.5, 0.2, 0.1],
            (2, 2, 3),
        );
        let y = labels(&[1, 0]);
        let expect =
            ((ln_sum_exp(&[0.5, 1., -0.2]) - 1.) + (ln_sum_exp(&[2., 0.3, 0.1]) - 2.)) / 2.;
        assert!((value(&ce_max_membrane(&u, &y).unwrap()) - expect).abs() < 1e-12);
    }

    #[test]
    fn mse_count_equals_hand_computed_snntorch_value() {
        // T = 10: targets 8 (true class) and 2; counts [7, 3] (label 0) and [2, 9] (label 1).
        let mut s = vec![0.0; 10 * 2 * 2];
        for (b, counts) in [[7, 3], [2, 9]].iter().enumerate() {
            for (c, &n) in counts.iter().enumerate() {
                for t in 0..n {
                    s[(t * 2 + b) * 2 + c] = 1.0;
                }
            }
        }
        let s = tensor3(&s, (10, 2, 2));
        let y = labels(&[0, 1]);
        let expect = (1. + 1. + 0. + 1.) / 4. / 10.;
        let loss = Loss::MseCount {
            correct_rate: 0.8,
            incorrect_rate: 0.2,
        };
        assert!((value(&loss.compute(&s, &y).unwrap()) - expect).abs() < 1e-12);
    }

    #[test]
    fn mse_count_targets_truncate_like_snntorch() {
        // T = 3: int(3·0.8) = 2 and int(3·0.2) = 0, so counts [2, 0] for label 0 cost nothing.
        let s = tensor3(&[1., 0., 1., 0., 0., 0.], (3, 1, 2));
        assert_eq!(value(&mse_count(&s, &labels(&[0]), 0.8, 0.2).unwrap()), 0.0);
    }

    /// Checks the autograd gradient of `loss` at `x` against central differences in f64.
    fn check_gradient(
        loss: impl Fn(&Tensor) -> Result<Tensor>,
        x: &[f64],
        dims: (usize, usize, usize),
    ) {
        let var = Var::from_tensor(&tensor3(x, dims)).unwrap();
        let grads = loss(var.as_tensor()).unwrap().backward().unwrap();
        let grad = grads
            .get(&var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let h = 1e-6;
        for (i, &analytic) in grad.iter().enumerate() {
            let at = |d: f64| {
                let mut xp = x.to_vec();
                xp[i] += d;
                value(&loss(&tensor3(&xp, dims)).unwrap())
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (analytic - fd).abs() < 1e-7 * (1.0 + fd.abs()),
                "d/dx{i}: {analytic} vs {fd}"
            );
        }
    }

    /// Distinct pseudo-random values in (−2, 2) (no ties, so max over T is differentiable).
    fn sample(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| ((i as f64 * 0.618_033_988_7 + 0.1).fract() - 0.5) * 4.0)
            .collect()
    }

    #[test]
    fn ce_count_gradient_matches_finite_differences() {
        let y = labels(&[2, 0, 3]);
        check_gradient(|x| ce_count(x, &y), &sample(4 * 3 * 4), (4, 3, 4));
    }

    #[test]
    fn ce_max_membrane_gradient_matches_finite_differences() {
        let y = labels(&[1, 3, 0]);
        check_gradient(|x| ce_max_membrane(x, &y), &sample(5 * 3 * 4), (5, 3, 4));
        // Only the maximal step of each (b, c) receives gradient.
        let var = Var::from_tensor(&tensor3(&sample(5 * 3 * 4), (5, 3, 4))).unwrap();
        let g = ce_max_membrane(var.as_tensor(), &y)
            .unwrap()
            .backward()
            .unwrap();
        let nonzero = g
            .get(&var)
            .unwrap()
            .ne(0.0)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        assert_eq!(value(&nonzero.sum_all().unwrap()), 12.0);
    }

    #[test]
    fn mse_count_gradient_matches_finite_differences() {
        let y = labels(&[1, 1, 0]);
        check_gradient(
            |x| mse_count(x, &y, 0.8, 0.2),
            &sample(6 * 3 * 2),
            (6, 3, 2),
        );
    }

    #[test]
    fn ce_count_of_softmax_probabilities_sums_to_one() {
        // Guards the class axis: log-softmax over C, so exp(−loss) of a one-row batch is the
        // softmax probability of the label, and those probabilities over all labels sum to 1.
        let s = tensor3(&[0.3, 1.2, -0.7, 2.0], (1, 1, 4));
        let total: f64 = (0..4)
            .map(|l| (-value(&ce_count(&s, &labels(&[l])).unwrap())).exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-12);
    }

    #[test]
    fn accuracy_takes_first_index_on_ties() {
        let scores = Tensor::from_vec(
            vec![1f32, 1., 0., 0., 2., 1., 3., 3., 3., 0.5, 0.1, 0.7],
            (4, 3),
            &Device::Cpu,
        )
        .unwrap();
        // Rows' arg-max (first on ties): 0, 1, 0, 2.
        assert_eq!(count_correct(&scores, &labels(&[0, 1, 0, 2])).unwrap(), 4);
        assert_eq!(count_correct(&scores, &labels(&[1, 1, 2, 2])).unwrap(), 2);
        assert_eq!(accuracy(&scores, &labels(&[1, 1, 2, 2])).unwrap(), 0.5);
        // From a [T, B, C] recording through the loss's scores.
        let s = tensor3(&[1., 0., 0., 1., 1., 0., 0., 1.], (2, 2, 2));
        let z = Loss::CeCount {}.scores(&s).unwrap();
        assert_eq!(accuracy(&z, &labels(&[0, 0])).unwrap(), 0.5);
    }

    #[test]
    fn bad_labels_and_config_are_errors() {
        let s = tensor3(&[0.; 6], (1, 2, 3));
        assert!(ce_count(&s, &labels(&[0, 3])).is_err());
        assert!(ce_count(&s, &labels(&[0])).is_err());
        let as_f32 = Tensor::from_vec(vec![0f32, 1.], 2, &Device::Cpu).unwrap();
        assert!(ce_count(&s, &as_f32).is_err());
        let parse = |s: &str| toml::from_str::<Loss>(s);
        assert_eq!(parse("kind = \"ce_count\"").unwrap(), Loss::CeCount {});
        assert_eq!(
            parse("kind = \"ce_max_membrane\"").unwrap(),
            Loss::CeMaxMembrane {}
        );
        assert_eq!(
            parse("kind = \"mse_count\"").unwrap(),
            Loss::MseCount {
                correct_rate: 0.8,
                incorrect_rate: 0.2
            }
        );
        assert!(parse("kind = \"mse_count\"\ncorrect = 1.0").is_err());
        assert!(parse("kind = \"ce_count\"\nrate = 1.0").is_err());
        assert!(
            Loss::MseCount {
                correct_rate: 1.5,
                incorrect_rate: 0.0
            }
            .validate()
            .is_err()
        );
        assert!(Loss::CeMaxMembrane {}.reads_membrane() && !Loss::CeCount {}.reads_membrane());
    }
}
