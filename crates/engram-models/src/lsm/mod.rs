//! Liquid state machines and NALSM, the neuron-astrocyte liquid state machine (Ivanov &
//! Michmizos 2021, NeurIPS, arXiv:2111.01760; `shared/specs/model-specs.md` §3), behind
//! `engram lsm`.
//!
//! - [`grid`]: the liquid on a 3-D grid, distance-dependent connections, E/I split.
//! - [`sim`]: the 1 ms NALSM step (event-driven propagation, astrocyte-modulated STDP).
//! - [`encode`]: MNIST images as Bernoulli input currents; spike-count features.
//! - [`ridge`], [`softmax`], [`three_factor`]: readouts (closed-form ridge regression;
//!   softmax regression by gradient descent; softmax units trained online by a three-factor
//!   rule).
//! - [`branching`]: the branching factor, NALSM's measure of criticality.
//! - [`config`], [`experiment`]: the TOML file and the protocol (organise, record, read out).

pub mod branching;
pub mod config;
pub mod encode;
pub mod experiment;
pub mod grid;
pub mod ridge;
pub mod sim;
pub mod softmax;
pub mod three_factor;

/// A problem with the parameters of an LSM component, found before anything runs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LsmError {
    #[error("{component}: `{name}` is invalid: {reason}")]
    InvalidParam {
        component: &'static str,
        name: &'static str,
        reason: String,
    },
    #[error("{0}")]
    Model(String),
}

impl LsmError {
    pub(crate) fn invalid(
        component: &'static str,
        name: &'static str,
        reason: impl Into<String>,
    ) -> LsmError {
        LsmError::InvalidParam {
            component,
            name,
            reason: reason.into(),
        }
    }
}

impl From<engram::EngramError> for LsmError {
    fn from(e: engram::EngramError) -> LsmError {
        LsmError::Model(e.to_string())
    }
}

/// A table of samples for a readout: `len()` rows of `dim()` features, each with a class.
pub trait Rows: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn dim(&self) -> usize;
    /// Writes row `r` into `out` (length `dim()`).
    fn row(&self, r: usize, out: &mut [f64]);
    fn label(&self, r: usize) -> usize;
}

impl Rows for encode::Features {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn row(&self, r: usize, out: &mut [f64]) {
        encode::Features::row(self, r, out)
    }
    fn label(&self, r: usize) -> usize {
        usize::from(self.labels[r])
    }
}

/// Dense rows held in memory (`x` is `[len, dim]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub dim: usize,
    pub x: Vec<f64>,
    pub labels: Vec<usize>,
}

impl Rows for Dense {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn row(&self, r: usize, out: &mut [f64]) {
        out.copy_from_slice(&self.x[r * self.dim..(r + 1) * self.dim]);
    }
    fn label(&self, r: usize) -> usize {
        self.labels[r]
    }
}
