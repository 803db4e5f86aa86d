//! Helpers shared by the fused-layer tests (`lif`, `alif`, `rlif`): seeded inputs, every
//! combination of layer rules, and comparison of tensors.

use candle_core::{DType, Device, Result, Tensor};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::lif::{LifOutput, LifRule, Reset};
use crate::surrogate::Surrogate;

pub(crate) fn uniform(
    shape: &[usize],
    lo: f64,
    hi: f64,
    seed: u64,
    dtype: DType,
) -> Result<Tensor> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let n = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
    Tensor::from_vec(values, shape, &Device::Cpu)?.to_dtype(dtype)
}

pub(crate) fn all_rules() -> Vec<LifRule> {
    let surrogates = [
        Surrogate::FastSigmoid { slope: 25.0 },
        Surrogate::SuperSpike { beta: 5.0 },
        Surrogate::Atan { alpha: 2.0 },
        Surrogate::Sigmoid { slope: 4.0 },
        Surrogate::Triangle { width: 0.8 },
    ];
    let mut rules = Vec::new();
    for surrogate in surrogates {
        for reset in [Reset::Subtract, Reset::Zero] {
            for detach_reset in [true, false] {
                for output in [LifOutput::Spikes, LifOutput::Membrane] {
                    rules.push(LifRule {
                        reset,
                        detach_reset,
                        surrogate,
                        output,
                    });
                }
            }
        }
    }
    rules
}

pub(crate) fn flat(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("a float tensor")
}

/// Largest elementwise difference, relative to the largest magnitude of `want`.
pub(crate) fn relative_error(got: &Tensor, want: &Tensor) -> f64 {
    let (g, w) = (flat(got), flat(want));
    assert_eq!(g.len(), w.len());
    let scale = w.iter().fold(1e-30f64, |m, x| m.max(x.abs()));
    g.iter()
        .zip(&w)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / scale
}
