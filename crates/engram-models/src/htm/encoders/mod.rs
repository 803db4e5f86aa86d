//! Encoders: values → SDRs, after htm.core (`htm-community/htm.core : src/htm/encoders/`) and
//! nupic's `SDRCategoryEncoder`, as used by Cui, Ahmad & Hawkins 2016 (spec §2.2).
//!
//! - [`ScalarEncoder`]: a contiguous block of `w` bits whose start moves with the value;
//!   optionally periodic (the block wraps around).
//! - [`RandomDistributedScalarEncoder`]: the value's bucket and the `w − 1` following buckets
//!   are hashed to bits, so values within `w` buckets share bits.
//! - [`CategoryEncoder`]: an independent random `w`-of-`n` SDR per category.
//! - [`DateEncoder`]: day of week, weekend and time of day, each a scalar field, concatenated.
//!
//! Parameters are checked when an encoder is built ([`HtmError`](super::HtmError)); values are
//! checked when encoded ([`EncodeError`]). Nothing here panics on user input.

mod category;
mod date;
mod rdse;
mod scalar;

pub use category::{CategoryEncoder, CategoryEncoderParams};
pub use date::{DateEncoder, DateEncoderParams, DateFieldParams, DateTime};
pub use rdse::{RandomDistributedScalarEncoder, RdseParams};
pub use scalar::{ScalarEncoder, ScalarEncoderParams};

/// A value that an encoder cannot represent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    /// A value outside the encoder's range, with clipping off.
    #[error("{encoder}: value {value} is outside [{minimum}, {maximum}]")]
    OutOfRange { encoder: &'static str, value: f64, minimum: f64, maximum: f64 },
    /// NaN, or an infinity the encoder cannot place.
    #[error("{encoder}: value {value} is not a finite number")]
    NotFinite { encoder: &'static str, value: f64 },
    /// A date/time that does not parse or does not exist.
    #[error("timestamp `{text}`: {reason}")]
    Timestamp { text: String, reason: &'static str },
}

/// The SplitMix64 finaliser: the hash behind the seeded encoders (the same mixer as
/// `engram::rng`, which keeps its own private).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
