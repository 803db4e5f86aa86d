//! Values that are fixed or drawn per neuron or synapse from a distribution.
//!
//! ```toml
//! v = "-60 mV"                                 # fixed
//! v = { normal = ["-55 mV", "5 mV"] }          # mean, standard deviation
//! v = { uniform = ["-60 mV", "-50 mV"] }       # low, high
//! ```

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use super::reader::{TableReader, Value};
use crate::error::Result;
use crate::units::Dim;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueSpec {
    Fixed(f64),
    Normal { mean: f64, sd: f64 },
    Uniform { low: f64, high: f64 },
}

impl ValueSpec {
    pub fn sample<R: rand::Rng>(&self, rng: &mut R) -> f64 {
        match *self {
            ValueSpec::Fixed(x) => x,
            ValueSpec::Normal { mean, sd } => {
                let z: f64 = StandardNormal.sample(rng);
                mean + sd * z
            }
            ValueSpec::Uniform { low, high } => low + (high - low) * rng.random::<f64>(),
        }
    }

    /// Smallest and largest values a draw can take.
    pub fn range(&self) -> (f64, f64) {
        match *self {
            ValueSpec::Fixed(x) => (x, x),
            ValueSpec::Normal { .. } => (f64::NEG_INFINITY, f64::INFINITY),
            ValueSpec::Uniform { low, high } => (low, high),
        }
    }

    pub fn is_fixed(&self) -> bool {
        matches!(self, ValueSpec::Fixed(_))
    }

    /// Reads `key` as a fixed quantity or a distribution table.
    pub fn read(r: &TableReader, key: &str, dim: Dim) -> Result<Option<Self>> {
        let Some(v) = r.get(key) else { return Ok(None) };
        Self::read_value(r, key, v, dim).map(Some)
    }

    pub fn read_value(r: &TableReader, key: &str, v: &Value, dim: Dim) -> Result<Self> {
        let Some(table) = v.get_ref().as_table() else {
            return r.quantity_value(key, v, dim).map(ValueSpec::Fixed);
        };
        let dist = TableReader::new(r.src, table, v.span(), r.field_path(key));
        dist.audit(&["normal", "uniform"])?;
        let pair = |name: &str| -> Result<Option<(f64, f64)>> {
            let Some((items, span)) = dist.opt_array(name)? else { return Ok(None) };
            if items.len() != 2 {
                return Err(dist.error_at(name, span, format!("`{name}` takes two values")));
            }
            Ok(Some((dist.quantity_value(name, &items[0], dim)?, dist.quantity_value(name, &items[1], dim)?)))
        };
        let spec = if let Some((mean, sd)) = pair("normal")? {
            if sd < 0.0 {
                return Err(dist.field_error("normal", "the standard deviation of `normal` must not be negative"));
            }
            ValueSpec::Normal { mean, sd }
        } else if let Some((low, high)) = pair("uniform")? {
            if high < low {
                return Err(dist.field_error("uniform", "`uniform` needs low <= high"));
            }
            ValueSpec::Uniform { low, high }
        } else {
            return Err(dist.table_error("expected a value or a distribution: { normal = [mean, sd] } or { uniform = [low, high] }"));
        };
        dist.finish()?;
        Ok(spec)
    }
}
