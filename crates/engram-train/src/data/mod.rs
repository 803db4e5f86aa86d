//! Dataset readers and their one error type.
//!
//! - [`idx`]: one IDX file (the MNIST format), raw or gzip-compressed, into shape and bytes.
//! - [`mnist`]: the four-file MNIST / Fashion-MNIST directory layout as train and test splits.
//! - [`npz`]: named arrays from NumPy `.npy` / `.npz` files, in the dtype the file stores.
//! - [`shd`]: Spiking Heidelberg Digits HDF5 files as per-sample spike times, units and labels,
//!   and their binning into dense `[T][channels]` spike rasters.
//!
//! Every reader checks the header against the payload before handing data on, so a truncated,
//! oversized or mislabelled file is a [`DataError`] naming the file, what was expected and what
//! was found. Real MNIST and Fashion-MNIST are obtained offline by `scripts/fetch_data.sh`.

pub mod idx;
pub mod mnist;
pub mod npz;
pub mod shd;

use std::path::PathBuf;

/// Why a dataset file could not be read. Each variant names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read (including a corrupt gzip stream).
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file's content disagrees with its format or with what the caller needs.
    #[error("{path}: expected {expected}, found {found}")]
    Invalid {
        path: PathBuf,
        expected: String,
        found: String,
    },
    /// A required file of a dataset directory is absent.
    #[error("{dir}: missing dataset file: expected {expected}")]
    MissingFile { dir: PathBuf, expected: String },
    /// An images file and its labels file describe different numbers of samples.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        images: PathBuf,
        labels: PathBuf,
        image_count: usize,
        label_count: usize,
    },
    /// A `.npz` archive has no array of the requested name.
    #[error("{path}: no array named {name:?}; the file holds {available:?}")]
    MissingArray {
        path: PathBuf,
        name: String,
        available: Vec<String>,
    },
}
