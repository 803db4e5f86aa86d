//! Category encoder (nupic `SDRCategoryEncoder`, used for the symbols of the discrete
//! sequence experiments of Cui et al. 2016 with `n = 2048`, `w = 41`; spec §2.2).
//!
//! Each category gets `w` of the `n` bits drawn uniformly without replacement from a generator
//! seeded by `SplitMix64(seed, category)`, so the same category always gives the same SDR and
//! no table of seen categories is kept. Two different categories overlap like two random SDRs:
//! `w²/n` bits on average (0.82 for 2048/41). Names are mapped to categories by the 64-bit
//! FNV-1a hash of their UTF-8 bytes, a fixed function (unlike `std`'s hasher).

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::mix;
use crate::htm::{HtmError, Sdr};

const COMPONENT: &str = "category encoder";

/// Parameters of a [`CategoryEncoder`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryEncoderParams {
    /// `n`: bits in the output.
    pub size: usize,
    /// `w`: bits on for every category.
    pub active_bits: usize,
    /// Selects the SDRs; equal seeds give equal encodings.
    pub seed: u64,
}

/// A validated category encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryEncoder {
    params: CategoryEncoderParams,
    seed_key: u64,
}

impl CategoryEncoder {
    pub fn new(params: CategoryEncoderParams) -> Result<CategoryEncoder, HtmError> {
        if params.active_bits == 0 {
            return Err(HtmError::invalid(COMPONENT, "active_bits", params.active_bits, "must be at least 1"));
        }
        if params.size < params.active_bits || params.size > u32::MAX as usize {
            return Err(HtmError::invalid(
                COMPONENT,
                "size",
                params.size,
                "must be at least active_bits and fit in u32",
            ));
        }
        let seed_key = mix(params.seed);
        Ok(CategoryEncoder { params, seed_key })
    }

    pub fn params(&self) -> &CategoryEncoderParams {
        &self.params
    }

    pub fn size(&self) -> usize {
        self.params.size
    }

    /// The SDR of category number `category`.
    pub fn encode(&self, category: u64) -> Sdr {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(self.seed_key ^ category));
        Sdr::random(self.params.size, self.params.active_bits, &mut rng)
    }

    /// The SDR of a named category: [`encode`](Self::encode) of the name's FNV-1a hash.
    pub fn encode_name(&self, name: &str) -> Sdr {
        self.encode(fnv1a(name.as_bytes()))
    }
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder(size: usize, active_bits: usize, seed: u64) -> CategoryEncoder {
        CategoryEncoder::new(CategoryEncoderParams { size, active_bits, seed }).unwrap()
    }

    #[test]
    fn fnv1a_known_answers() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn each_category_has_w_bits_and_is_stable() {
        let e = encoder(2048, 41, 1956);
        for c in 0..100 {
            let x = e.encode(c);
            assert_eq!(x.num_active(), 41);
            assert_eq!(x, e.encode(c));
        }
        assert_eq!(e.encode_name("taxi"), e.encode_name("taxi"));
        assert_ne!(e.encode_name("taxi"), e.encode_name("taxis"));
        assert_ne!(e.encode(3), encoder(2048, 41, 1957).encode(3));
    }

    #[test]
    fn distinct_categories_overlap_at_chance_level() {
        let e = encoder(2048, 41, 0);
        let sdrs: Vec<Sdr> = (0..60).map(|c| e.encode(c)).collect();
        let mut total = 0;
        let mut pairs = 0;
        for i in 0..sdrs.len() {
            for j in i + 1..sdrs.len() {
                let overlap = sdrs[i].overlap(&sdrs[j]);
                assert!(overlap < 10, "categories {i} and {j} overlap in {overlap}");
                total += overlap;
                pairs += 1;
            }
        }
        // Hypergeometric mean 41²/2048 = 0.82, sd 0.89 per pair; 1770 pairs: 4 sd = 0.085.
        let mean = total as f64 / pairs as f64;
        assert!((mean - 41.0 * 41.0 / 2048.0).abs() < 0.085, "{mean}");
    }

    #[test]
    fn invalid_parameters_are_errors() {
        assert!(matches!(
            CategoryEncoder::new(CategoryEncoderParams { size: 10, active_bits: 0, seed: 0 }),
            Err(HtmError::InvalidParam { name: "active_bits", .. })
        ));
        assert!(matches!(
            CategoryEncoder::new(CategoryEncoderParams { size: 10, active_bits: 11, seed: 0 }),
            Err(HtmError::InvalidParam { name: "size", .. })
        ));
    }
}
