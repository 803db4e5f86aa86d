//! Errors of the engine crate: one enum, structured fields, raised before a run starts.

use std::path::PathBuf;

/// Where in a model file a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngramError {
    /// A model file that cannot be read as TOML, or whose content is invalid.
    #[error("{location}: {field}: {message}")]
    Spec {
        location: Location,
        /// Dotted path of the offending field, e.g. `populations[0].tau_m`.
        field: String,
        message: String,
    },
    /// A model that is consistent as a file but cannot be run (checked when lowering).
    #[error("invalid model: {0}")]
    Model(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {message}")]
    Output { path: PathBuf, message: String },
}

impl EngramError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngramError::Io { path: path.into(), source }
    }
}

pub type Result<T> = std::result::Result<T, EngramError>;
