//! Scalar encoder (htm.core `ScalarEncoder`; spec §2.2 and verification case §2.7 c): a value
//! `v` becomes a contiguous block of `w = active_bits` of the `n = size` bits.
//!
//! - Non-periodic: the block starts at `round((v − min) / (max − min) · (n − w))`, so `min`
//!   gives bits `0..w` and `max` gives bits `n − w..n`. Values outside `[min, max]` are clipped
//!   when `clip_input` is set and an error otherwise.
//! - Periodic: `v` is first reduced modulo `max − min` into `[min, max)`; the block starts at
//!   `round((v − min) / (max − min) · n) mod n` and wraps around the end. htm.core leaves that
//!   modulus to the caller and rejects values outside `[min, max]`; here every finite value is
//!   accepted. `clip_input` is meaningless and rejected, as in htm.core.
//!
//! `round` is round-half-up, `⌊x + ½⌋` (the spec's rule: 39.5 → 40). htm.core computes the
//! same ratio against `max` nudged up by one ulp, which sends exact halves down instead.
//! NaN is an error here (htm.core encodes it as the empty SDR).

use serde::{Deserialize, Serialize};

use super::EncodeError;
use crate::htm::{HtmError, Sdr};

const COMPONENT: &str = "scalar encoder";

/// Parameters of a [`ScalarEncoder`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalarEncoderParams {
    /// `n`: bits in the output.
    pub size: usize,
    /// `w`: bits on for every value.
    pub active_bits: usize,
    pub minimum: f64,
    pub maximum: f64,
    /// Wrap around: `maximum` encodes like `minimum`.
    #[serde(default)]
    pub periodic: bool,
    /// Clip out-of-range values onto `[minimum, maximum]` instead of returning an error.
    #[serde(default)]
    pub clip_input: bool,
}

/// A validated scalar encoder; encoding is a pure function of the value.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarEncoder {
    params: ScalarEncoderParams,
    /// Start positions the value range is spread over: `n − w` (non-periodic) or `n`.
    span: f64,
}

impl ScalarEncoder {
    pub fn new(params: ScalarEncoderParams) -> Result<ScalarEncoder, HtmError> {
        let p = &params;
        if p.active_bits == 0 {
            return Err(HtmError::invalid(COMPONENT, "active_bits", p.active_bits, "must be at least 1"));
        }
        if p.size <= p.active_bits || p.size > u32::MAX as usize {
            return Err(HtmError::invalid(COMPONENT, "size", p.size, "must exceed active_bits and fit in u32"));
        }
        if !p.minimum.is_finite() {
            return Err(HtmError::invalid(COMPONENT, "minimum", p.minimum, "must be finite"));
        }
        if !p.maximum.is_finite() || p.maximum <= p.minimum {
            return Err(HtmError::invalid(COMPONENT, "maximum", p.maximum, "must be finite and above minimum"));
        }
        if p.periodic && p.clip_input {
            return Err(HtmError::invalid(COMPONENT, "clip_input", true, "cannot be combined with periodic"));
        }
        let span = if p.periodic { p.size } else { p.size - p.active_bits } as f64;
        Ok(ScalarEncoder { params, span })
    }

    pub fn params(&self) -> &ScalarEncoderParams {
        &self.params
    }

    pub fn size(&self) -> usize {
        self.params.size
    }

    /// The value step that shifts the block by one bit.
    pub fn resolution(&self) -> f64 {
        (self.params.maximum - self.params.minimum) / self.span
    }

    pub fn encode(&self, value: f64) -> Result<Sdr, EncodeError> {
        let p = &self.params;
        if value.is_nan() || (p.periodic && value.is_infinite()) {
            return Err(EncodeError::NotFinite { encoder: COMPONENT, value });
        }
        if !p.periodic && !p.clip_input && !(p.minimum..=p.maximum).contains(&value) {
            return Err(EncodeError::OutOfRange { encoder: COMPONENT, value, minimum: p.minimum, maximum: p.maximum });
        }
        Ok(self.encode_valid(value))
    }

    /// Encodes a value already known to be acceptable: finite, and in range unless the
    /// encoder clips or is periodic.
    pub(super) fn encode_valid(&self, value: f64) -> Sdr {
        let p = &self.params;
        let extent = p.maximum - p.minimum;
        let fraction = if p.periodic {
            (value - p.minimum).rem_euclid(extent) / extent
        } else {
            (value.clamp(p.minimum, p.maximum) - p.minimum) / extent
        };
        let start = (fraction * self.span + 0.5).floor() as usize;
        let (n, w) = (p.size, p.active_bits);
        let active = if p.periodic {
            (start..start + w).map(|i| (i % n) as u32).collect()
        } else {
            let start = start.min(n - w);
            (start..start + w).map(|i| i as u32).collect()
        };
        Sdr::new(n, active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoder(
        size: usize,
        active_bits: usize,
        minimum: f64,
        maximum: f64,
        periodic: bool,
        clip_input: bool,
    ) -> ScalarEncoder {
        ScalarEncoder::new(ScalarEncoderParams { size, active_bits, minimum, maximum, periodic, clip_input }).unwrap()
    }

    fn block(start: u32, w: u32) -> Vec<u32> {
        (start..start + w).collect()
    }

    #[test]
    fn spec_case_c_blocks_at_the_ends_and_the_middle() {
        let e = encoder(100, 21, 0.0, 100.0, false, false);
        assert_eq!(e.encode(0.0).unwrap().active(), block(0, 21));
        assert_eq!(e.encode(100.0).unwrap().active(), block(79, 21));
        // 0.5 · 79 = 39.5 rounds half up to 40.
        assert_eq!(e.encode(50.0).unwrap().active(), block(40, 21));
    }

    #[test]
    fn every_value_has_exactly_w_contiguous_bits() {
        let e = encoder(109, 29, 0.0, 40_000.0, false, false);
        for i in 0..=400 {
            let x = e.encode(i as f64 * 100.0).unwrap();
            assert_eq!(x.num_active(), 29);
            assert_eq!(x.active()[28] - x.active()[0], 28);
        }
    }

    #[test]
    fn overlap_falls_by_one_bit_per_resolution_step() {
        let e = encoder(200, 20, -5.0, 5.0, false, false);
        let r = e.resolution();
        assert!((r - 10.0 / 180.0).abs() < 1e-15);
        let x = e.encode(-1.0).unwrap();
        for k in 0..=25 {
            let y = e.encode(-1.0 + k as f64 * r).unwrap();
            assert_eq!(x.overlap(&y), 20usize.saturating_sub(k), "{k} steps");
        }
    }

    #[test]
    fn out_of_range_is_an_error_unless_clipped() {
        let strict = encoder(100, 21, 0.0, 100.0, false, false);
        assert_eq!(
            strict.encode(100.5),
            Err(EncodeError::OutOfRange { encoder: COMPONENT, value: 100.5, minimum: 0.0, maximum: 100.0 })
        );
        assert!(matches!(strict.encode(-1e-9), Err(EncodeError::OutOfRange { .. })));
        assert!(matches!(strict.encode(f64::NAN), Err(EncodeError::NotFinite { .. })));
        let clipped = encoder(100, 21, 0.0, 100.0, false, true);
        assert_eq!(clipped.encode(1e9).unwrap(), clipped.encode(100.0).unwrap());
        assert_eq!(clipped.encode(f64::NEG_INFINITY).unwrap(), clipped.encode(0.0).unwrap());
        assert!(matches!(clipped.encode(f64::NAN), Err(EncodeError::NotFinite { .. })));
    }

    #[test]
    fn periodic_blocks_wrap_and_the_period_maps_to_itself() {
        let e = encoder(24, 4, 0.0, 24.0, true, false);
        assert_eq!(e.encode(0.0).unwrap().active(), &[0, 1, 2, 3]);
        assert_eq!(e.encode(14.75).unwrap().active(), &[15, 16, 17, 18]);
        assert_eq!(e.encode(22.0 + 59.0 / 60.0).unwrap().active(), &[0, 1, 2, 23]);
        assert_eq!(e.encode(24.0).unwrap(), e.encode(0.0).unwrap());
        assert_eq!(e.encode(-3.0).unwrap(), e.encode(21.0).unwrap());
        assert_eq!(e.encode(50.0).unwrap(), e.encode(2.0).unwrap());
        assert!(matches!(e.encode(f64::INFINITY), Err(EncodeError::NotFinite { .. })));
    }

    #[test]
    fn periodic_overlap_is_symmetric_across_the_wrap() {
        let e = encoder(600, 29, 0.0, 1440.0, true, false);
        let midnight = e.encode(0.0).unwrap();
        for k in 0..=30 {
            let step = k as f64 * e.resolution();
            let after = e.encode(step).unwrap();
            let before = e.encode(1440.0 - step).unwrap();
            assert_eq!(midnight.overlap(&after), 29usize.saturating_sub(k));
            assert_eq!(midnight.overlap(&before), 29usize.saturating_sub(k));
        }
    }

    #[test]
    fn encoding_is_deterministic() {
        let e = encoder(100, 29, 0.0, 7.0, true, false);
        assert_eq!(e.encode(3.3).unwrap(), e.encode(3.3).unwrap());
    }

    #[test]
    fn invalid_parameters_are_errors() {
        let base = ScalarEncoderParams {
            size: 100,
            active_bits: 21,
            minimum: 0.0,
            maximum: 1.0,
            periodic: false,
            clip_input: false,
        };
        let cases = [
            ("active_bits", ScalarEncoderParams { active_bits: 0, ..base.clone() }),
            ("size", ScalarEncoderParams { size: 21, ..base.clone() }),
            ("minimum", ScalarEncoderParams { minimum: f64::NAN, ..base.clone() }),
            ("maximum", ScalarEncoderParams { maximum: 0.0, ..base.clone() }),
            ("maximum", ScalarEncoderParams { maximum: f64::INFINITY, ..base.clone() }),
            ("clip_input", ScalarEncoderParams { periodic: true, clip_input: true, ..base.clone() }),
        ];
        for (name, params) in cases {
            match ScalarEncoder::new(params) {
                Err(HtmError::InvalidParam { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}: expected an error, got {other:?}"),
            }
        }
    }
}
