//! Random distributed scalar encoder (RDSE; htm.core `RandomDistributedScalarEncoder`).
//!
//! A value `v` falls in bucket `i = ⌊v / resolution⌋`. Each of the `w = active_bits` keys
//! `i, i + 1, …, i + w − 1` is hashed (SplitMix64 of the seed, key and attempt) to a bit of the
//! `n = size`. Two values `d` buckets apart share `w − d` keys, so their overlap falls about
//! linearly to chance level at `d = w` (the radius `w · resolution`); there is no range to
//! leave, so any finite value can be encoded.
//!
//! htm.core lets two keys of one value hash to the same bit and so sometimes sets fewer than
//! `w` bits. Here a key whose bit is taken re-hashes with the next attempt number, so every
//! value has exactly `w` bits; a key can then land on a different bit in a neighbouring
//! value, which costs a little overlap, rarely. To keep re-hashing short, `2w ≤ n` is required.
//! NaN and infinities are errors (htm.core encodes NaN as the empty SDR).

use serde::{Deserialize, Serialize};

use super::{EncodeError, mix};
use crate::htm::{HtmError, Sdr};

const COMPONENT: &str = "random distributed scalar encoder";

/// Bucket indices are kept within ±2^62 so that `i + w` cannot overflow.
const MAX_BUCKET: f64 = (1u64 << 62) as f64;

/// Parameters of a [`RandomDistributedScalarEncoder`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdseParams {
    /// `n`: bits in the output.
    pub size: usize,
    /// `w`: bits on for every value.
    pub active_bits: usize,
    /// Width of a bucket: values closer than this usually share all `w` bits.
    pub resolution: f64,
    /// Selects the hash; equal seeds give equal encodings.
    pub seed: u64,
}

/// A validated RDSE; encoding is a pure function of the value and the seed.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomDistributedScalarEncoder {
    params: RdseParams,
    seed_key: u64,
}

impl RandomDistributedScalarEncoder {
    pub fn new(params: RdseParams) -> Result<RandomDistributedScalarEncoder, HtmError> {
        if params.active_bits == 0 {
            return Err(HtmError::invalid(COMPONENT, "active_bits", params.active_bits, "must be at least 1"));
        }
        if params.size < 2 * params.active_bits || params.size > u32::MAX as usize {
            return Err(HtmError::invalid(
                COMPONENT,
                "size",
                params.size,
                "must be at least 2 · active_bits and fit in u32",
            ));
        }
        if !(params.resolution.is_finite() && params.resolution > 0.0) {
            return Err(HtmError::invalid(COMPONENT, "resolution", params.resolution, "must be finite and positive"));
        }
        let seed_key = mix(params.seed);
        Ok(RandomDistributedScalarEncoder { params, seed_key })
    }

    pub fn params(&self) -> &RdseParams {
        &self.params
    }

    pub fn size(&self) -> usize {
        self.params.size
    }

    /// Values `radius` or more apart share no keys: `w · resolution`.
    pub fn radius(&self) -> f64 {
        self.params.active_bits as f64 * self.params.resolution
    }

    pub fn encode(&self, value: f64) -> Result<Sdr, EncodeError> {
        if !value.is_finite() {
            return Err(EncodeError::NotFinite { encoder: COMPONENT, value });
        }
        let bucket = (value / self.params.resolution).floor();
        if bucket.abs() > MAX_BUCKET {
            let limit = MAX_BUCKET * self.params.resolution;
            return Err(EncodeError::OutOfRange { encoder: COMPONENT, value, minimum: -limit, maximum: limit });
        }
        let (n, w) = (self.params.size as u64, self.params.active_bits);
        let mut active: Vec<u32> = Vec::with_capacity(w);
        for key in (bucket as i64)..(bucket as i64 + w as i64) {
            let key_hash = mix(self.seed_key ^ key as u64);
            let mut attempt = 0u64;
            let bit = loop {
                let bit = (mix(key_hash ^ attempt) % n) as u32;
                if !active.contains(&bit) {
                    break bit;
                }
                attempt += 1;
            };
            active.push(bit);
        }
        Ok(Sdr::new(self.params.size, active))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdse(size: usize, active_bits: usize, resolution: f64, seed: u64) -> RandomDistributedScalarEncoder {
        RandomDistributedScalarEncoder::new(RdseParams { size, active_bits, resolution, seed }).unwrap()
    }

    #[test]
    fn every_value_has_exactly_w_bits_even_in_a_small_space() {
        let e = rdse(44, 21, 1.0, 3);
        for i in -200..200 {
            assert_eq!(e.encode(i as f64 * 0.37).unwrap().num_active(), 21);
        }
    }

    #[test]
    fn same_value_same_sdr_and_seed_matters() {
        let e = rdse(1000, 21, 0.5, 42);
        assert_eq!(e.encode(17.3).unwrap(), e.encode(17.3).unwrap());
        assert_eq!(e.encode(17.3).unwrap(), e.encode(17.4).unwrap(), "same bucket");
        assert_ne!(e.encode(17.3).unwrap(), rdse(1000, 21, 0.5, 43).encode(17.3).unwrap());
    }

    #[test]
    fn overlap_decreases_with_distance_to_chance_beyond_the_radius() {
        let (n, w) = (1000, 21);
        let e = rdse(n, w, 1.0, 7);
        let samples = 200;
        let mut mean_overlap = Vec::new();
        for d in 0..=2 * w {
            let total: usize = (0..samples)
                .map(|i| {
                    let v = i as f64 * 3.1 - 250.0;
                    e.encode(v).unwrap().overlap(&e.encode(v + d as f64).unwrap())
                })
                .sum();
            mean_overlap.push(total as f64 / samples as f64);
        }
        for d in 0..w {
            // w − d shared keys; a key moves only after a collision, which is rare at w²/n.
            let shared = (w - d) as f64;
            assert!(mean_overlap[d] <= shared + 0.5 && mean_overlap[d] >= shared - 0.5, "d = {d}: {}", mean_overlap[d]);
            assert!(mean_overlap[d + 1] < mean_overlap[d], "d = {d}");
        }
        for (d, &overlap) in mean_overlap.iter().enumerate().skip(w) {
            // Chance overlap of two random w-subsets: w²/n = 0.44 bits.
            assert!(overlap < 1.5, "d = {d}: {overlap}");
        }
    }

    #[test]
    fn negative_values_are_buckets_like_any_other() {
        let e = rdse(500, 15, 0.1, 1);
        let near_zero = e.encode(-0.05).unwrap().overlap(&e.encode(0.05).unwrap());
        assert!(near_zero >= 13, "{near_zero}");
    }

    #[test]
    fn non_finite_and_huge_values_are_errors() {
        let e = rdse(1000, 21, 1.0, 1);
        assert!(matches!(e.encode(f64::NAN), Err(EncodeError::NotFinite { .. })));
        assert!(matches!(e.encode(f64::NEG_INFINITY), Err(EncodeError::NotFinite { .. })));
        assert!(matches!(e.encode(1e300), Err(EncodeError::OutOfRange { .. })));
    }

    #[test]
    fn invalid_parameters_are_errors() {
        let base = RdseParams { size: 100, active_bits: 10, resolution: 1.0, seed: 0 };
        for (name, params) in [
            ("active_bits", RdseParams { active_bits: 0, ..base.clone() }),
            ("size", RdseParams { size: 19, ..base.clone() }),
            ("resolution", RdseParams { resolution: 0.0, ..base.clone() }),
            ("resolution", RdseParams { resolution: f64::NAN, ..base.clone() }),
        ] {
            match RandomDistributedScalarEncoder::new(params) {
                Err(HtmError::InvalidParam { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: expected an error, got {other:?}"),
            }
        }
    }
}
