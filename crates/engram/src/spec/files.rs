//! Values read from NumPy `.npy` files that a model file names, for what is learned rather
//! than drawn: per-neuron parameters and explicit weight matrices (for instance those
//! `engram export` writes from a trained network).
//!
//! ```toml
//! params = { beta = { file = "layer0_beta.npy" }, threshold = 1.0 }   # one value per neuron
//! weight = { file = "layer0_weight.npy" }                            # [pre, post] matrix
//! ```
//! The path is relative to the model file. Arrays are f32 or f64, in C order; values are
//! taken as written, in the unit of the field they replace.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyError, read_npy};
use serde::{Serialize, Serializer};

use super::reader::{TableReader, Value};
use super::values::ValueSpec;
use crate::error::Result;
use crate::units::Dim;

/// The numbers of one `.npy` file, in C order.
#[derive(Debug)]
pub struct FileValues {
    pub path: PathBuf,
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// Written as `{ file, shape }` when a spec is serialised, without the values.
impl Serialize for FileValues {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Named<'a> {
            file: &'a Path,
            shape: &'a [usize],
        }
        Named { file: &self.path, shape: &self.shape }.serialize(s)
    }
}

/// Reads `{ file = "..." }` at field `key` (value `v`), checking that the array has `shape`.
/// Returns None when `v` is not a table with a `file` key.
pub fn read_file_values(r: &TableReader, key: &str, v: &Value, shape: &[usize]) -> Result<Option<FileValues>> {
    let Some(table) = v.get_ref().as_table() else { return Ok(None) };
    if table.get("file").is_none() {
        return Ok(None);
    }
    let t = TableReader::new(r.src, table, v.span(), r.field_path(key));
    t.audit(&["file"])?;
    let (name, span) = t.req_str("file")?;
    let dir = r.src.file.parent().unwrap_or(Path::new(""));
    let path = dir.join(name);
    let array = read_f64(&path).map_err(|e| t.error_at("file", span.clone(), format!("cannot read {}: {e}", path.display())))?;
    if array.shape() != shape {
        let message = format!("{} holds an array of shape {:?}, expected {:?}", path.display(), array.shape(), shape);
        return Err(t.error_at("file", span, message));
    }
    if let Some(bad) = array.iter().position(|x| !x.is_finite()) {
        return Err(t.error_at("file", span, format!("{}: element {bad} is not finite", path.display())));
    }
    t.finish()?;
    let values = array.iter().copied().collect();
    Ok(Some(FileValues { path, shape: shape.to_vec(), values }))
}

/// An f64 or f32 array, widened to f64.
fn read_f64(path: &Path) -> std::result::Result<ArrayD<f64>, ReadNpyError> {
    match read_npy::<_, ArrayD<f64>>(path) {
        Err(ReadNpyError::WrongDescriptor(_)) => read_npy::<_, ArrayD<f32>>(path).map(|a| a.mapv(f64::from)),
        other => other,
    }
}

/// A parameter with one value for the whole population, or one per neuron from a file.
#[derive(Debug, Clone)]
pub enum PerNeuron {
    Same(f64),
    File(Arc<FileValues>),
}

/// Written as the number, or as the file's `{ file, shape }`.
impl Serialize for PerNeuron {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            PerNeuron::Same(x) => x.serialize(s),
            PerNeuron::File(f) => f.serialize(s),
        }
    }
}

impl PerNeuron {
    /// Reads field `key` of a population of `size` neurons: a quantity of dimension `dim`, or
    /// `{ file = "..." }` holding `size` values; `default` where the field is absent (None:
    /// required).
    pub fn read(r: &TableReader, key: &str, dim: Dim, size: usize, default: Option<f64>) -> Result<PerNeuron> {
        let Some(v) = r.get(key) else {
            return default.map(PerNeuron::Same).ok_or_else(|| r.missing(key));
        };
        match read_file_values(r, key, v, &[size])? {
            Some(file) => Ok(PerNeuron::File(Arc::new(file))),
            None => r.quantity_value(key, v, dim).map(PerNeuron::Same),
        }
    }

    /// The value of every neuron.
    pub fn values(&self, size: usize) -> Vec<f64> {
        match self {
            PerNeuron::Same(x) => vec![*x; size],
            PerNeuron::File(f) => f.values.clone(),
        }
    }

    /// The first neuron (and its value) outside `allowed`, if any.
    pub fn outside(&self, allowed: impl Fn(f64) -> bool) -> Option<(usize, f64)> {
        match self {
            PerNeuron::Same(x) => (!allowed(*x)).then_some((0, *x)),
            PerNeuron::File(f) => f.values.iter().position(|&x| !allowed(x)).map(|i| (i, f.values[i])),
        }
    }
}

/// A projection's weights: fixed or drawn (`ValueSpec`), or the `[pre, post]` matrix of a
/// file, whose entry `[i, j]` every synapse from `i` to `j` takes (the connectivity rule still
/// says which pairs are connected).
#[derive(Debug, Clone)]
pub enum WeightSpec {
    Value(ValueSpec),
    Matrix(Arc<FileValues>),
}

/// Written as the value, or as the file's `{ file, shape }`.
impl Serialize for WeightSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            WeightSpec::Value(v) => v.serialize(s),
            WeightSpec::Matrix(f) => f.serialize(s),
        }
    }
}

impl WeightSpec {
    /// Reads field `key` of a projection from `n_pre` to `n_post` neurons: a value or
    /// distribution of dimension `dim`, or `{ file = "..." }` holding an `[n_pre, n_post]` array.
    pub fn read(r: &TableReader, key: &str, dim: Dim, n_pre: usize, n_post: usize) -> Result<Option<WeightSpec>> {
        let Some(v) = r.get(key) else { return Ok(None) };
        match read_file_values(r, key, v, &[n_pre, n_post])? {
            Some(file) => Ok(Some(WeightSpec::Matrix(Arc::new(file)))),
            None => ValueSpec::read_value(r, key, v, dim).map(|v| Some(WeightSpec::Value(v))),
        }
    }

    /// The weight of every synapse, where it is one number.
    pub fn fixed(&self) -> Option<f64> {
        match self {
            WeightSpec::Value(ValueSpec::Fixed(w)) => Some(*w),
            _ => None,
        }
    }

    /// Smallest and largest weights a synapse can take.
    pub fn range(&self) -> (f64, f64) {
        match self {
            WeightSpec::Value(v) => v.range(),
            WeightSpec::Matrix(f) => f.values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &w| (lo.min(w), hi.max(w))),
        }
    }
}
