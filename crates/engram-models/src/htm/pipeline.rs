//! The online HTM pipeline for a scalar stream (Cui, Ahmad & Hawkins 2016, continuous
//! sequences; spec §2.1–2.5): the value and the time of day / day of week are encoded and
//! concatenated, the spatial pooler turns that into 40 of 2048 columns, the temporal memory
//! learns the transitions, and from its active cells a classifier predicts the value k
//! steps ahead; the raw anomaly score and its likelihood come with every record. Everything
//! learns online, one record at a time.
//!
//! Defaults are the paper's NYC-taxi model (`nyc_taxi_model_params.py`): three scalar
//! encoders of 29 active bits (value 0–40 000 in 109 bits, clipped; time of day in minutes,
//! periodic, 600 bits; day of week, periodic, 100 bits), the taxi SP and TM parameters, and
//! predictions 1 and 5 steps ahead. Metrics as in the paper's `plotPerformance.py`:
//! NRMSE = rms error / sd of the truth, and MAPE = mean |error| / mean |truth|.

use serde::{Deserialize, Serialize};

use super::anomaly::{AnomalyLikelihood, AnomalyLikelihoodParams};
use super::classifier::{Classifier, ClassifierParams};
use super::encoders::{EncodeError, ScalarEncoder, ScalarEncoderParams};
use super::spatial_pooler::{ActiveColumns, SpatialPooler, SpatialPoolerParams};
use super::stream::Record;
use super::temporal_memory::{TemporalMemory, TemporalMemoryParams};
use super::{HtmError, Sdr};

/// What the user sets (the `[stream]` table of an `engram htm` config).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamParams {
    pub value_min: f64,
    pub value_max: f64,
    pub value_bits: usize,
    pub time_of_day_bits: usize,
    pub day_of_week_bits: usize,
    /// Active bits of each encoder.
    pub active_bits: usize,
    /// Steps ahead to predict.
    pub steps: Vec<usize>,
    /// Classifier learning rate.
    pub alpha: f64,
    pub seed: u64,
}

impl Default for StreamParams {
    fn default() -> Self {
        StreamParams {
            value_min: 0.0,
            value_max: 40_000.0,
            value_bits: 109,
            time_of_day_bits: 600,
            day_of_week_bits: 100,
            active_bits: 29,
            steps: vec![1, 5],
            alpha: 0.005,
            seed: 1956,
        }
    }
}

/// The outcome of one record: the prediction for each of `steps` (None while the
/// classifier has nothing to say), the raw anomaly score and its likelihood.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    pub predictions: Vec<Option<f64>>,
    pub anomaly: f64,
    pub likelihood: f64,
}

pub struct StreamModel {
    params: StreamParams,
    value: ScalarEncoder,
    time_of_day: ScalarEncoder,
    day_of_week: ScalarEncoder,
    pooler: SpatialPooler,
    memory: TemporalMemory,
    classifier: Classifier,
    likelihood: AnomalyLikelihood,
}

impl StreamModel {
    pub fn new(params: StreamParams) -> Result<StreamModel, HtmError> {
        let scalar = |size, minimum, maximum, periodic: bool| {
            let clip_input = !periodic;
            ScalarEncoder::new(ScalarEncoderParams { size, active_bits: params.active_bits, minimum, maximum, periodic, clip_input })
        };
        let value = scalar(params.value_bits, params.value_min, params.value_max, false)?;
        let time_of_day = scalar(params.time_of_day_bits, 0.0, 1440.0, true)?;
        let day_of_week = scalar(params.day_of_week_bits, 0.0, 7.0, true)?;
        let input_size = value.size() + time_of_day.size() + day_of_week.size();
        let pooler = SpatialPooler::new(SpatialPoolerParams {
            potential_pct: 0.8,
            global_inhibition: true,
            active_columns: ActiveColumns::PerInhibitionArea(40),
            syn_perm_connected: 0.5,
            syn_perm_active_inc: 0.0001,
            syn_perm_inactive_dec: 0.0005,
            boost_strength: 0.0,
            seed: params.seed,
            ..SpatialPoolerParams::new(input_size, 2048)
        })?;
        let memory = TemporalMemory::new(TemporalMemoryParams { seed: params.seed.wrapping_add(4), ..TemporalMemoryParams::paper_taxi() })?;
        let classifier = Classifier::new(
            memory.num_cells(),
            ClassifierParams { steps: params.steps.clone(), alpha: params.alpha, bucket_width: value.resolution() },
        )?;
        let likelihood = AnomalyLikelihood::new(AnomalyLikelihoodParams::default())?;
        Ok(StreamModel { params, value, time_of_day, day_of_week, pooler, memory, classifier, likelihood })
    }

    pub fn params(&self) -> &StreamParams {
        &self.params
    }

    /// Feeds one record (learning on) and returns what the model predicts from it.
    pub fn step(&mut self, record: &Record) -> Result<StepOutput, EncodeError> {
        let mut parts = vec![self.value.encode(record.value)?];
        if let Some(t) = record.timestamp {
            parts.push(self.time_of_day.encode(t.hour_of_day() * 60.0)?);
            parts.push(self.day_of_week.encode(f64::from(t.weekday()))?);
        } else {
            parts.push(Sdr::new(self.time_of_day.size(), Vec::new()));
            parts.push(Sdr::new(self.day_of_week.size(), Vec::new()));
        }
        let input = Sdr::concatenate(&parts.iter().collect::<Vec<_>>());
        let columns = self.pooler.compute(&input, true);
        self.memory.compute(&columns, true);
        let anomaly = self.memory.anomaly();
        let cells = self.memory.active_cells();
        self.classifier.learn(&cells, record.value);
        let predictions = self.classifier.infer(&cells).iter().map(|p| self.classifier.predicted_value(p)).collect();
        let likelihood = self.likelihood.anomaly_probability(anomaly);
        Ok(StepOutput { predictions, anomaly, likelihood })
    }

    /// Time spent per record is dominated by the temporal memory; its size, for reports.
    pub fn memory(&self) -> &TemporalMemory {
        &self.memory
    }
}

/// Root-mean-square error over the standard deviation of the truth.
pub fn nrmse(predicted: &[f64], truth: &[f64]) -> f64 {
    let n = truth.len() as f64;
    let mean = truth.iter().sum::<f64>() / n;
    let sd = (truth.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n).sqrt();
    let rms = (predicted.iter().zip(truth).map(|(p, y)| (p - y).powi(2)).sum::<f64>() / n).sqrt();
    rms / sd
}

/// Mean absolute error over the mean absolute truth (the paper's "MAPE", a ratio of means).
pub fn mape(predicted: &[f64], truth: &[f64]) -> f64 {
    let error: f64 = predicted.iter().zip(truth).map(|(p, y)| (p - y).abs()).sum();
    error / truth.iter().map(|y| y.abs()).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::htm::datasets;

    #[test]
    fn metrics_match_their_definitions() {
        let truth = [1.0, 3.0];
        assert_eq!(nrmse(&truth, &truth), 0.0);
        // errors 1 and -1: rms 1, sd of {1, 3} is 1.
        assert!((nrmse(&[2.0, 2.0], &truth) - 1.0).abs() < 1e-12);
        assert!((mape(&[2.0, 2.0], &truth) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn learns_a_periodic_stream_better_than_the_shift_baseline() {
        let series = datasets::periodic_demand(7, 21);
        let mut model = StreamModel::new(StreamParams { steps: vec![5], ..StreamParams::default() }).expect("model");
        let (mut predicted, mut truth, mut shifted) = (Vec::new(), Vec::new(), Vec::new());
        let mut pending: std::collections::VecDeque<Option<f64>> = std::collections::VecDeque::new();
        for (i, &(t, value)) in series.iter().enumerate() {
            let out = model.step(&Record { line: i as u64 + 2, timestamp: Some(t), value }).expect("step");
            pending.push_back(out.predictions[0]);
            if pending.len() > 5 {
                let made = pending.pop_front().flatten();
                if i >= 14 * 48
                    && let Some(p) = made
                {
                    predicted.push(p);
                    truth.push(value);
                    shifted.push(series[i - 5].1);
                }
            }
        }
        let (htm, shift) = (nrmse(&predicted, &truth), nrmse(&shifted, &truth));
        eprintln!("5-step NRMSE over the third week: HTM {htm:.3}, shift baseline {shift:.3}");
        assert!(predicted.len() > 300);
        assert!(htm < 0.8 * shift, "HTM {htm} vs shift {shift}");
    }
}
