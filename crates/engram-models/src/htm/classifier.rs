//! SDR classifier for k-step-ahead prediction (htm.core `Predictor`/`Classifier`, nupic
//! `SDRClassifier`; used on the active cells of the temporal memory by Cui, Ahmad & Hawkins
//! 2016, spec §2.1).
//!
//! Values are binned into buckets of width `bucket_width`: bucket key `⌊v / bucket_width⌋`.
//! Buckets are created when first seen (index = order of appearance) and a bucket's value is
//! the mean of the values seen in it. For every step `k` there is a weight matrix `W_k`
//! (input bit × bucket), and for an SDR with active bits `A`:
//!
//! - inference: `p_k(c | A) = softmax_c( Σ_{i∈A} W_k[i][c] )`, the probability that the value
//!   `k` records later falls in bucket `c`;
//! - learning at record `t` with value `v_t` in bucket `c*`: for the pattern `A_{t−k}` seen `k`
//!   records earlier, `W_k[i][c] += α · ([c = c*] − p_k(c | A_{t−k}))` for every `i ∈ A_{t−k}`,
//!   one online gradient step on the log-likelihood of softmax regression.
//!
//! A history of the last `max k + 1` patterns supplies `A_{t−k}`; [`Classifier::reset`] clears
//! it at a sequence break, so no step learns across the break. All weights start at 0 (uniform
//! predictions), as in htm.core. A record with a non-finite value (a missing reading) enters
//! the history but teaches nothing.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::{HtmError, Sdr};

const COMPONENT: &str = "classifier";

/// Parameters of a [`Classifier`]. [`Default`] gives one step ahead, htm.core's `alpha`, and
/// buckets of width 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierParams {
    /// The steps `k` to predict (0 classifies the current record).
    pub steps: Vec<usize>,
    /// Learning rate α.
    pub alpha: f64,
    /// Width of a value bucket.
    pub bucket_width: f64,
}

impl Default for ClassifierParams {
    fn default() -> ClassifierParams {
        ClassifierParams { steps: vec![1], alpha: 0.001, bucket_width: 1.0 }
    }
}

/// The distribution predicted for one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub step: usize,
    /// One probability per bucket, by bucket index; sums to 1 (empty before any learning).
    pub probabilities: Vec<f64>,
}

impl Prediction {
    /// The most probable bucket (the first of equals).
    pub fn most_likely_bucket(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (c, &p) in self.probabilities.iter().enumerate() {
            if best.is_none_or(|b| p > self.probabilities[b]) {
                best = Some(c);
            }
        }
        best
    }
}

/// Buckets in order of appearance, with the running mean of their values.
#[derive(Debug, Clone, Default)]
struct Buckets {
    index_of_key: HashMap<i64, usize>,
    sum: Vec<f64>,
    count: Vec<u64>,
}

/// An online SDR classifier: weights per step, buckets, and the recent patterns.
#[derive(Debug, Clone)]
pub struct Classifier {
    params: ClassifierParams,
    input_size: usize,
    max_step: usize,
    buckets: Buckets,
    /// Per step (in `params.steps` order), per input bit: weights by bucket. A bit's row only
    /// grows to the number of buckets once it learns; missing entries are 0.
    weights: Vec<Vec<Vec<f64>>>,
    /// The last `max_step + 1` patterns, newest at the back.
    history: VecDeque<Sdr>,
}

impl Classifier {
    /// A classifier for patterns of `input_size` bits.
    pub fn new(input_size: usize, params: ClassifierParams) -> Result<Classifier, HtmError> {
        if input_size == 0 {
            return Err(HtmError::invalid(COMPONENT, "input_size", input_size, "must be at least 1"));
        }
        if params.steps.is_empty() {
            return Err(HtmError::invalid(COMPONENT, "steps", "[]", "needs at least one step"));
        }
        if (1..params.steps.len()).any(|i| params.steps[..i].contains(&params.steps[i])) {
            return Err(HtmError::invalid(COMPONENT, "steps", format!("{:?}", params.steps), "must not repeat"));
        }
        if !(params.alpha.is_finite() && params.alpha > 0.0) {
            return Err(HtmError::invalid(COMPONENT, "alpha", params.alpha, "must be finite and positive"));
        }
        if !(params.bucket_width.is_finite() && params.bucket_width > 0.0) {
            return Err(HtmError::invalid(
                COMPONENT,
                "bucket_width",
                params.bucket_width,
                "must be finite and positive",
            ));
        }
        let max_step = params.steps.iter().copied().max().unwrap_or(0);
        let weights = vec![vec![Vec::new(); input_size]; params.steps.len()];
        Ok(Classifier {
            params,
            input_size,
            max_step,
            buckets: Buckets::default(),
            weights,
            history: VecDeque::with_capacity(max_step + 1),
        })
    }

    pub fn params(&self) -> &ClassifierParams {
        &self.params
    }

    pub fn num_buckets(&self) -> usize {
        self.buckets.sum.len()
    }

    /// The index of the bucket `value` falls in, if that bucket has been seen.
    pub fn bucket_of(&self, value: f64) -> Option<usize> {
        self.buckets.index_of_key.get(&self.bucket_key(value)).copied()
    }

    /// The mean of the values seen in `bucket`. Panics if there is no such bucket.
    pub fn bucket_value(&self, bucket: usize) -> f64 {
        self.buckets.sum[bucket] / self.buckets.count[bucket] as f64
    }

    /// The value of the most probable bucket of `prediction`.
    pub fn predicted_value(&self, prediction: &Prediction) -> Option<f64> {
        prediction.most_likely_bucket().map(|c| self.bucket_value(c))
    }

    /// The distributions over buckets for every step, in `params.steps` order.
    /// Panics if `pattern` does not have `input_size` bits.
    pub fn infer(&self, pattern: &Sdr) -> Vec<Prediction> {
        self.check_size(pattern);
        self.params
            .steps
            .iter()
            .zip(&self.weights)
            .map(|(&step, w)| Prediction { step, probabilities: self.softmax(w, pattern) })
            .collect()
    }

    /// Records `pattern` and learns, for every step `k`, to predict the bucket of `value` from
    /// the pattern `k` records back (if the history reaches that far).
    /// Panics if `pattern` does not have `input_size` bits.
    pub fn learn(&mut self, pattern: &Sdr, value: f64) {
        self.check_size(pattern);
        if self.history.len() == self.max_step + 1 {
            self.history.pop_front();
        }
        self.history.push_back(pattern.clone());
        if !value.is_finite() {
            return;
        }
        let target = self.add_to_bucket(value);
        let num_buckets = self.num_buckets();
        let newest = self.history.len() - 1;
        for (s, &step) in self.params.steps.iter().enumerate() {
            let Some(past) = newest.checked_sub(step).map(|i| &self.history[i]) else { continue };
            let mut error = self.softmax(&self.weights[s], past);
            for (c, e) in error.iter_mut().enumerate() {
                *e = f64::from(u8::from(c == target)) - *e;
            }
            for &i in past.active() {
                let row = &mut self.weights[s][i as usize];
                row.resize(num_buckets, 0.0);
                for (w, e) in row.iter_mut().zip(&error) {
                    *w += self.params.alpha * e;
                }
            }
        }
    }

    /// Forgets the recent patterns: the next record starts a new sequence.
    pub fn reset(&mut self) {
        self.history.clear();
    }

    fn bucket_key(&self, value: f64) -> i64 {
        (value / self.params.bucket_width).floor() as i64
    }

    fn add_to_bucket(&mut self, value: f64) -> usize {
        let key = self.bucket_key(value);
        let b = &mut self.buckets;
        let next = b.sum.len();
        let c = *b.index_of_key.entry(key).or_insert(next);
        if c == next {
            b.sum.push(0.0);
            b.count.push(0);
        }
        b.sum[c] += value;
        b.count[c] += 1;
        c
    }

    fn softmax(&self, weights: &[Vec<f64>], pattern: &Sdr) -> Vec<f64> {
        let mut z = vec![0.0; self.num_buckets()];
        for &i in pattern.active() {
            for (zc, w) in z.iter_mut().zip(&weights[i as usize]) {
                *zc += w;
            }
        }
        let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        for zc in z.iter_mut() {
            *zc = (*zc - max).exp();
            total += *zc;
        }
        z.iter_mut().for_each(|p| *p /= total);
        z
    }

    fn check_size(&self, pattern: &Sdr) {
        assert_eq!(pattern.size(), self.input_size, "pattern size differs from the classifier's input size");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn patterns(count: usize, size: usize, active: usize, seed: u64) -> Vec<Sdr> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..count).map(|_| Sdr::random(size, active, &mut rng)).collect()
    }

    fn classifier(steps: Vec<usize>, alpha: f64, bucket_width: f64) -> Classifier {
        Classifier::new(200, ClassifierParams { steps, alpha, bucket_width }).unwrap()
    }

    #[test]
    fn untrained_predictions_are_uniform_and_empty_without_buckets() {
        let mut c = classifier(vec![0], 0.1, 1.0);
        let x = Sdr::new(200, vec![4, 9, 16]);
        assert!(c.infer(&x)[0].probabilities.is_empty());
        assert_eq!(c.infer(&x)[0].most_likely_bucket(), None);
        c.learn(&x, 3.0);
        c.learn(&x, 7.0);
        let blank = Sdr::new(200, vec![25, 36]);
        assert_eq!(c.infer(&blank)[0].probabilities, vec![0.5, 0.5]);
    }

    #[test]
    fn learns_a_deterministic_mapping() {
        let mut c = classifier(vec![0], 0.1, 1.0);
        let p = patterns(6, 200, 12, 2);
        let values = [0.5, 3.2, 7.7, 1.4, 9.9, 3.6];
        for _ in 0..200 {
            for (x, &v) in p.iter().zip(&values) {
                c.learn(x, v);
            }
        }
        assert_eq!(c.num_buckets(), 5, "3.2 and 3.6 share bucket 3");
        for (x, &v) in p.iter().zip(&values) {
            let prediction = &c.infer(x)[0];
            let bucket = c.bucket_of(v).unwrap();
            assert_eq!(prediction.most_likely_bucket(), Some(bucket), "value {v}");
            assert!(prediction.probabilities[bucket] > 0.9, "value {v}: {:?}", prediction.probabilities);
        }
        assert!((c.predicted_value(&c.infer(&p[1])[0]).unwrap() - 3.4).abs() < 1e-12, "bucket mean of 3.2 and 3.6");
    }

    #[test]
    fn probabilities_sum_to_one() {
        let mut c = classifier(vec![1, 2], 0.3, 2.0);
        let p = patterns(40, 200, 15, 3);
        for (i, x) in p.iter().enumerate() {
            c.learn(x, (i * 7 % 23) as f64);
        }
        for x in patterns(20, 200, 25, 4).iter().chain(&p) {
            for prediction in c.infer(x) {
                assert_eq!(prediction.probabilities.len(), c.num_buckets());
                let total: f64 = prediction.probabilities.iter().sum();
                assert!((total - 1.0).abs() < 1e-12, "{total}");
                assert!(prediction.probabilities.iter().all(|&q| q > 0.0));
            }
        }
    }

    #[test]
    fn k_step_predictions_use_the_pattern_k_records_back() {
        let mut c = classifier(vec![0, 1, 3], 0.2, 1.0);
        let p = patterns(5, 200, 12, 5);
        let values = [10.0, 20.0, 30.0, 40.0, 50.0];
        for _ in 0..150 {
            for (x, &v) in p.iter().zip(&values) {
                c.learn(x, v);
            }
        }
        for (i, x) in p.iter().enumerate() {
            let predictions = c.infer(x);
            for (prediction, k) in predictions.iter().zip([0, 1, 3]) {
                assert_eq!(prediction.step, k);
                let expected = values[(i + k) % 5];
                assert_eq!(c.predicted_value(prediction), Some(expected), "pattern {i}, step {k}");
            }
        }
    }

    #[test]
    fn reset_stops_learning_across_the_break() {
        let mut c = classifier(vec![1], 0.5, 1.0);
        let p = patterns(2, 200, 10, 6);
        for _ in 0..50 {
            c.learn(&p[0], 1.0);
            c.reset();
            c.learn(&p[1], 2.0);
            c.reset();
        }
        // Nothing ever followed either pattern within a sequence: their weights never moved.
        for x in &p {
            assert_eq!(c.infer(x)[0].probabilities, vec![0.5, 0.5]);
        }
    }

    #[test]
    fn missing_values_enter_the_history_but_teach_nothing() {
        let mut c = classifier(vec![1], 0.5, 1.0);
        let p = patterns(3, 200, 10, 7);
        for _ in 0..50 {
            c.learn(&p[0], 0.0);
            c.learn(&p[1], f64::NAN);
            c.learn(&p[2], 5.0);
        }
        assert_eq!(c.num_buckets(), 2);
        assert_eq!(c.predicted_value(&c.infer(&p[1])[0]), Some(5.0));
        assert_eq!(c.predicted_value(&c.infer(&p[2])[0]), Some(0.0));
    }

    #[test]
    fn buckets_hold_the_mean_of_their_values() {
        let mut c = classifier(vec![0], 0.1, 10.0);
        let x = Sdr::new(200, vec![1, 2, 3]);
        for v in [12.0, 14.0, 19.0, -3.0, -7.0] {
            c.learn(&x, v);
        }
        assert_eq!(c.num_buckets(), 2);
        assert_eq!(c.bucket_of(15.0), Some(0));
        assert_eq!(c.bucket_of(-0.5), Some(1));
        assert_eq!(c.bucket_of(35.0), None);
        assert!((c.bucket_value(0) - 15.0).abs() < 1e-12);
        assert!((c.bucket_value(1) + 5.0).abs() < 1e-12);
    }

    #[test]
    #[should_panic(expected = "pattern size")]
    fn a_pattern_of_the_wrong_size_panics() {
        classifier(vec![1], 0.1, 1.0).infer(&Sdr::new(199, vec![]));
    }

    #[test]
    fn invalid_parameters_are_errors() {
        let base = ClassifierParams::default();
        for (name, input_size, params) in [
            ("input_size", 0, base.clone()),
            ("steps", 10, ClassifierParams { steps: vec![], ..base.clone() }),
            ("steps", 10, ClassifierParams { steps: vec![1, 2, 1], ..base.clone() }),
            ("alpha", 10, ClassifierParams { alpha: 0.0, ..base.clone() }),
            ("bucket_width", 10, ClassifierParams { bucket_width: f64::INFINITY, ..base.clone() }),
        ] {
            match Classifier::new(input_size, params) {
                Err(HtmError::InvalidParam { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: expected an error, got {:?}", other.map(|c| c.params().clone())),
            }
        }
    }
}
