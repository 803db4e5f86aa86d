//! The model zoo of engram, built on the engine (never the other way round).
//!
//! - [`htm`]: sparse distributed representations, active dendrites and HTM sequence memory
//!   (Ahmad & Hawkins 2016; Cui, Ahmad & Hawkins 2016), `shared/specs/model-specs.md` §1–2.
//! - [`lsm`]: liquid state machines and NALSM, the neuron-astrocyte LSM (Ivanov & Michmizos
//!   2021), §3.

pub mod htm;
pub mod lsm;
