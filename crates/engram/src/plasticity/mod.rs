//! Plasticity rules: how synaptic weights, efficacies and thresholds change with activity.
//!
//! One rule per file, each with its equations and citation, its `*Params` (what a model file
//! gives, validated), and its state kept apart. Rules are event-driven: traces decay exactly
//! between events (`exp(-Δt/τ)`), so they can be advanced lazily, at spikes only, or densely,
//! every step, with the same result. Times are in ms, as everywhere in the engine.
//!
//! Verified against the specification (`shared/specs/model-specs.md` §3.4, §3.7, §9.7-9.9).
//! In the run loop, a projection takes pair STDP with `plasticity = { rule = "stdp", ... }`
//! (`stdp::step_projection`, the schedule's `plasticity` phase); the other rules are
//! components the run loop does not call yet.

pub mod astrocyte;
pub mod homeostasis;
pub mod nalsm_neuron;
pub mod short_term;
pub mod stdp;
pub mod three_factor;
pub mod triplet;

use crate::error::{EngramError, Result};

/// exp(-dt / tau): the factor by which a trace of time constant `tau` decays over `dt`.
pub fn decay(dt: f64, tau: f64) -> f64 {
    (-dt / tau).exp()
}

pub(crate) fn check_positive(rule: &str, name: &str, x: f64) -> Result<()> {
    if x > 0.0 && x.is_finite() { Ok(()) } else { Err(EngramError::Model(format!("{rule}: `{name}` must be positive, got {x}"))) }
}
