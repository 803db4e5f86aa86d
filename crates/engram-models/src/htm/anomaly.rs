//! Anomaly scores: the raw anomaly of the temporal memory and the anomaly likelihood
//! (Cui, Ahmad & Hawkins 2016 §anomaly; Ahmad, Lavin, Purdy & Agha 2017, "Unsupervised real-time
//! anomaly detection for streaming data", Neurocomputing 262:134–147; numenta/nupic
//! `anomaly_likelihood.py`, ported to htm-community/htm.core `AnomalyLikelihood.cpp`).
//!
//! **Raw anomaly.** `s_t = 1 − |C_t ∩ P_{t−1}| / |C_t|`: the fraction of active columns `C_t`
//! that were not among the predicted columns `P_{t−1}` (0 when `C_t` is empty).
//!
//! **Likelihood.** The raw scores are smoothed by a moving average over `averaging_window`
//! steps, `m_t`. A normal distribution `N(μ, σ²)` is fitted to the moving averages in the last
//! `historic_window_size` steps, leaving out those still in the first `learning_period` steps,
//! with floors `μ ≥ 0.03` and `σ² ≥ 0.0003`; it is re-fitted every `reestimation_period` steps.
//! The tail probability is the Q-function of the distance to the mean on either side,
//! `q_t = Q(|m_t − μ| / σ) = ½ erfc(|m_t − μ| / (σ√2))`, and the likelihood is `1 − q_t`.
//! A tail probability in the red zone (`q ≤ 1e−5`) right after another one is raised to the
//! yellow level `1e−3`, so only the onset of a sustained anomaly reads as red. During the first
//! `learning_period + estimation_samples` steps the likelihood is 0.5. The log-likelihood
//! `ln(1.0000000001 − L) / ln(1e−10)` spreads the values near 1 for thresholds and plots.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{HtmError, Sdr};

const COMPONENT: &str = "anomaly likelihood";

/// Floors of the fitted distribution (nupic `estimateNormal`).
const MIN_MEAN: f64 = 0.03;
const MIN_VARIANCE: f64 = 0.0003;
/// Tail probabilities at or below this are red; a second red in a row reads as yellow.
const RED_TAIL: f64 = 1.0 - 0.99999;
const YELLOW_TAIL: f64 = 1.0 - 0.999;
/// The likelihood reported while the distribution is not yet estimated.
const UNDECIDED: f64 = 0.5;

/// The fraction of `active` columns not in `predicted`. Panics if the two SDRs differ in size.
pub fn raw_anomaly(active: &Sdr, predicted: &Sdr) -> f64 {
    assert_eq!(active.size(), predicted.size(), "raw anomaly: SDR sizes differ");
    raw_anomaly_sorted(active.active(), predicted.active())
}

/// [`raw_anomaly`] on sorted, unique index lists.
pub(crate) fn raw_anomaly_sorted(active: &[u32], predicted: &[u32]) -> f64 {
    if active.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < active.len() && j < predicted.len() {
        match active[i].cmp(&predicted[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => (i, j, both) = (i + 1, j + 1, both + 1),
        }
    }
    1.0 - both as f64 / active.len() as f64
}

/// Log scale of a likelihood: 0.5 → 0.030, 0.999 → 0.30, 0.99999 → 0.50 (nupic
/// `computeLogLikelihood`).
pub fn log_likelihood(likelihood: f64) -> f64 {
    (1.000_000_000_1 - likelihood).ln() / (1.0e-10f64).ln()
}

/// Parameters of [`AnomalyLikelihood`]; [`Default`] gives htm.core's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyLikelihoodParams {
    /// Steps for the model to learn; their scores never enter the fitted distribution.
    pub learning_period: usize,
    /// Further steps collected before the first estimate.
    pub estimation_samples: usize,
    /// How many past scores the distribution is fitted to.
    pub historic_window_size: usize,
    /// Steps between re-fits of the distribution.
    pub reestimation_period: usize,
    /// Length of the moving average of the raw scores.
    pub averaging_window: usize,
}

impl Default for AnomalyLikelihoodParams {
    fn default() -> AnomalyLikelihoodParams {
        AnomalyLikelihoodParams {
            learning_period: 288,
            estimation_samples: 100,
            historic_window_size: 8640,
            reestimation_period: 100,
            averaging_window: 10,
        }
    }
}

impl AnomalyLikelihoodParams {
    fn validate(&self) -> Result<(), HtmError> {
        for (name, v) in [
            ("estimation_samples", self.estimation_samples),
            ("reestimation_period", self.reestimation_period),
            ("averaging_window", self.averaging_window),
        ] {
            if v == 0 {
                return Err(HtmError::invalid(COMPONENT, name, v, "must be at least 1"));
            }
        }
        if self.historic_window_size < self.estimation_samples {
            return Err(HtmError::invalid(
                COMPONENT,
                "historic_window_size",
                self.historic_window_size,
                "must be at least estimation_samples",
            ));
        }
        Ok(())
    }
}

/// A normal distribution of moving-average anomaly scores.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Normal {
    mean: f64,
    stdev: f64,
}

impl Normal {
    /// So broad that every score is likely (nupic `nullDistribution`).
    const NULL: Normal = Normal { mean: 0.5, stdev: 1e3 };

    fn fit(xs: &[f64]) -> Normal {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        Normal { mean: mean.max(MIN_MEAN), stdev: var.max(MIN_VARIANCE).sqrt() }
    }

    /// Probability of a sample at least as far from the mean as `x`, on `x`'s side.
    fn tail(&self, x: f64) -> f64 {
        0.5 * erfc((x - self.mean).abs() / (self.stdev * std::f64::consts::SQRT_2))
    }
}

/// A moving average over a fixed window.
#[derive(Debug, Clone, Default)]
struct MovingAverage {
    values: VecDeque<f64>,
    total: f64,
}

impl MovingAverage {
    fn push(&mut self, x: f64, window: usize) -> f64 {
        if self.values.len() == window {
            self.total -= self.values.pop_front().expect("a full window has values");
        }
        self.values.push_back(x);
        self.total += x;
        self.total / self.values.len() as f64
    }
}

/// Online anomaly likelihood of a stream of raw anomaly scores.
#[derive(Debug, Clone)]
pub struct AnomalyLikelihood {
    params: AnomalyLikelihoodParams,
    /// Steps seen so far.
    iteration: usize,
    /// The last `historic_window_size` raw scores.
    history: VecDeque<f64>,
    distribution: Option<Normal>,
    average: MovingAverage,
    /// Unfiltered tail probability of the previous step, for the red-zone filter.
    prev_tail: Option<f64>,
}

impl AnomalyLikelihood {
    pub fn new(params: AnomalyLikelihoodParams) -> Result<AnomalyLikelihood, HtmError> {
        params.validate()?;
        Ok(AnomalyLikelihood {
            history: VecDeque::with_capacity(params.historic_window_size),
            params,
            iteration: 0,
            distribution: None,
            average: MovingAverage::default(),
            prev_tail: None,
        })
    }

    pub fn params(&self) -> &AnomalyLikelihoodParams {
        &self.params
    }

    /// The likelihood (in [0, 1]) that the stream has become anomalous, given this step's raw
    /// anomaly score (in [0, 1]).
    pub fn anomaly_probability(&mut self, raw_score: f64) -> f64 {
        let p = &self.params;
        let likelihood = if self.iteration < p.learning_period + p.estimation_samples {
            UNDECIDED
        } else {
            if self.distribution.is_none() || self.iteration.is_multiple_of(p.reestimation_period) {
                self.estimate();
            }
            let normal = self.distribution.expect("estimated above");
            let tail = normal.tail(self.average.push(raw_score, self.params.averaging_window));
            let red_again = tail <= RED_TAIL && self.prev_tail.is_some_and(|q| q <= RED_TAIL);
            self.prev_tail = Some(tail);
            1.0 - if red_again { YELLOW_TAIL } else { tail }
        };
        if self.history.len() == self.params.historic_window_size {
            self.history.pop_front();
        }
        self.history.push_back(raw_score);
        self.iteration += 1;
        likelihood
    }

    /// Re-fits the distribution to the moving averages of the stored scores, skipping those
    /// still inside the learning period, and restarts the moving average from them.
    fn estimate(&mut self) {
        let p = &self.params;
        let shifted_out = self.iteration.saturating_sub(p.historic_window_size);
        let skip = self.iteration.min(p.learning_period.saturating_sub(shifted_out));
        let mut average = MovingAverage::default();
        let averages: Vec<f64> = self.history.iter().map(|&s| average.push(s, p.averaging_window)).collect();
        let normal = if averages.len() <= skip { Normal::NULL } else { Normal::fit(&averages[skip..]) };
        self.prev_tail = averages.last().map(|&m| normal.tail(m));
        self.average = average;
        self.distribution = Some(normal);
    }
}

/// Complementary error function, fractional error below 1.2e−7 (Chebyshev fit of
/// Press et al., Numerical Recipes, 2nd ed., §6.2, `erfcc`); `f64::erfc` is not stable yet.
fn erfc(x: f64) -> f64 {
    const C: [f64; 10] = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = C.iter().rev().fold(0.0, |acc, &c| c + t * acc);
    let r = t * (-z * z + poly).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn raw_anomaly_is_the_unpredicted_fraction_of_active_columns() {
        let sdr = |bits: &[u32]| Sdr::new(16, bits.to_vec());
        assert_eq!(raw_anomaly(&sdr(&[1, 2, 3, 4]), &sdr(&[2, 4, 9])), 0.5);
        assert_eq!(raw_anomaly(&sdr(&[1, 2]), &sdr(&[1, 2])), 0.0);
        assert_eq!(raw_anomaly(&sdr(&[1, 2]), &sdr(&[])), 1.0);
        assert_eq!(raw_anomaly(&sdr(&[]), &sdr(&[3])), 0.0);
    }

    #[test]
    fn erfc_matches_reference_values() {
        // Reference values from Python's `math.erfc`; the fit's fractional error is < 1.2e-7.
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028513),
            (2.0, 0.004677734981047266),
            (3.0, 2.209049699858544e-5),
            (4.5, 1.966160441542887e-10),
            (-1.0, 1.8427007929497148),
        ] {
            assert!((erfc(x) - want).abs() <= 1.2e-7 * want, "erfc({x}) = {} vs {want}", erfc(x));
        }
    }

    #[test]
    fn log_likelihood_spreads_values_near_one() {
        assert!((log_likelihood(0.5) - 0.0301).abs() < 1e-4);
        assert!((log_likelihood(0.999) - 0.3).abs() < 1e-3);
        assert!((log_likelihood(0.99999) - 0.5).abs() < 1e-3);
        assert!(log_likelihood(0.9) < log_likelihood(0.99));
    }

    /// Raw scores uniform in [0.1, 0.3] for 2000 steps, then 1.0 (a sudden change).
    fn stream_likelihoods() -> Vec<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let mut al = AnomalyLikelihood::new(AnomalyLikelihoodParams::default()).unwrap();
        (0..2010).map(|t| al.anomaly_probability(if t < 2000 { rng.random_range(0.1..0.3) } else { 1.0 })).collect()
    }

    #[test]
    fn likelihood_is_undecided_during_the_probationary_period() {
        let l = stream_likelihoods();
        assert!(l[..388].iter().all(|&x| x == 0.5));
        assert_ne!(l[388], 0.5);
    }

    #[test]
    fn a_stationary_stream_stays_below_the_alarm_and_a_sudden_change_crosses_it() {
        let l = stream_likelihoods();
        let stationary = &l[388..2000];
        let mean = stationary.iter().sum::<f64>() / stationary.len() as f64;
        let max = stationary.iter().copied().fold(0.0, f64::max);
        // For a well-fitted normal, 1 − Q(|z|) averages 0.75 (E[Q(|z|)] = 1/4).
        assert!((mean - 0.75).abs() < 0.05, "mean likelihood of a stationary stream {mean}");
        assert!(max < 0.9999, "max likelihood of a stationary stream {max}");
        let spike = l[2000..2003].iter().copied().fold(0.0, f64::max);
        assert!(spike >= 0.99999, "likelihood after the change {spike}");
        assert!(log_likelihood(spike) >= 0.5);
    }

    #[test]
    fn a_sustained_anomaly_reads_red_once_then_yellow() {
        let l = stream_likelihoods();
        let red = l[2000..].iter().filter(|&&x| x >= 0.99999).count();
        assert_eq!(red, 1);
        assert!(l[2000..].iter().skip_while(|&&x| x < 0.99999).skip(1).all(|&x| (x - 0.999).abs() < 1e-12));
    }

    #[test]
    fn bad_parameters_are_reported_by_name() {
        let p = AnomalyLikelihoodParams { historic_window_size: 50, ..Default::default() };
        assert!(AnomalyLikelihood::new(p).unwrap_err().to_string().contains("`historic_window_size` = 50"));
        let p = AnomalyLikelihoodParams { averaging_window: 0, ..Default::default() };
        assert!(AnomalyLikelihood::new(p).unwrap_err().to_string().contains("`averaging_window`"));
    }
}
