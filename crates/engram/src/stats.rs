//! Spike-train statistics, with the definitions of the reference benchmark scripts
//! (`shared/anchors/sim/simstats.py`): rate = spikes / (n T); CV of a neuron = population
//! standard deviation of its ISIs over their mean, for neurons with at least 3 spikes; the
//! reported CV is the mean over those neurons.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct SpikeStats {
    pub n: usize,
    pub spikes: usize,
    pub rate_hz: f64,
    /// Mean ISI coefficient of variation; None when no neuron has 3 spikes.
    pub cv_isi: Option<f64>,
    pub neurons_in_cv: usize,
}

/// `times_ms` and `ids` of one population in time order.
pub fn spike_stats(times_ms: &[f64], ids: &[u32], n: usize, duration_ms: f64) -> SpikeStats {
    let mut per_neuron: Vec<Vec<f64>> = vec![Vec::new(); n];
    for (&t, &i) in times_ms.iter().zip(ids) {
        per_neuron[i as usize].push(t);
    }
    let mut cvs = Vec::new();
    for train in per_neuron.iter().filter(|t| t.len() >= 3) {
        let isi: Vec<f64> = train.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = isi.iter().sum::<f64>() / isi.len() as f64;
        let var = isi.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / isi.len() as f64;
        if mean > 0.0 {
            cvs.push(var.sqrt() / mean);
        }
    }
    let rate_hz = if duration_ms > 0.0 { times_ms.len() as f64 / (n as f64 * duration_ms * 1e-3) } else { 0.0 };
    SpikeStats {
        n,
        spikes: times_ms.len(),
        rate_hz,
        cv_isi: if cvs.is_empty() { None } else { Some(cvs.iter().sum::<f64>() / cvs.len() as f64) },
        neurons_in_cv: cvs.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_trains_have_zero_cv_and_the_right_rate() {
        let times: Vec<f64> = (0..10).flat_map(|k| [k as f64 * 100.0, k as f64 * 100.0]).collect();
        let ids: Vec<u32> = (0..10).flat_map(|_| [0, 1]).collect();
        let s = spike_stats(&times, &ids, 4, 1000.0);
        assert_eq!(s.spikes, 20);
        assert!((s.rate_hz - 5.0).abs() < 1e-12);
        assert_eq!(s.cv_isi, Some(0.0));
        assert_eq!(s.neurons_in_cv, 2);
    }

    #[test]
    fn cv_uses_the_population_standard_deviation() {
        // ISIs 1 and 3: mean 2, population sd 1, CV 0.5.
        let s = spike_stats(&[0.0, 1.0, 4.0], &[0, 0, 0], 1, 10.0);
        assert!((s.cv_isi.unwrap() - 0.5).abs() < 1e-12);
    }
}
