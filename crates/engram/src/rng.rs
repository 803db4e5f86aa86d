//! Random streams that do not depend on the thread count.
//!
//! Every stream is derived from `(seed, purpose, index)`: set-up draws (connectivity,
//! initial values, weights) use a seeded `Xoshiro256PlusPlus` per stream; per-step draws
//! during the run (Poisson sources) use a counter-based generator keyed by
//! `(seed, purpose, neuron, step)`, so any thread can produce any neuron's number.
//! No maintained counter-based RNG crate exists (see the ecosystem survey in shared/anchors),
//! so the keyed mixer is the SplitMix64 finaliser applied to a combined key, written here.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Purposes of random streams; each gets its own key space.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub enum Purpose {
    InitialState = 1,
    Connectivity = 2,
    Weights = 3,
    Delays = 4,
    Poisson = 5,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn key(seed: u64, purpose: Purpose, index: u64) -> u64 {
    mix(mix(mix(seed) ^ (purpose as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)) ^ index)
}

/// A sequential stream for set-up work.
pub fn stream(seed: u64, purpose: Purpose, index: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(key(seed, purpose, index))
}

/// Key of a counter-based stream; `uniform(key, counter)` gives its numbers.
pub fn counter_key(seed: u64, purpose: Purpose, index: u64) -> u64 {
    key(seed, purpose, index)
}

/// A uniform number in [0, 1) from a keyed counter (53 random bits).
#[inline]
pub fn uniform(key: u64, counter: u64) -> f64 {
    let bits = mix(key ^ mix(counter));
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_uniform_has_the_right_mean_and_variance() {
        let k = counter_key(7, Purpose::Poisson, 3);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|c| uniform(k, c)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Standard error of the mean is sqrt(1/12/n) = 6.5e-4; allow 5 sigma.
        assert!((mean - 0.5).abs() < 3.3e-3, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 2e-3, "var {var}");
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
    }

    #[test]
    fn streams_differ_by_purpose_and_index() {
        use rand::RngExt;
        let a: u64 = stream(1, Purpose::Weights, 0).random();
        let b: u64 = stream(1, Purpose::Weights, 1).random();
        let c: u64 = stream(1, Purpose::Delays, 0).random();
        assert!(a != b && a != c && b != c);
    }
}
