//! engram: an engine for spiking and brain-inspired neural computation.
//!
//! Layers: a model file is read into a [`spec::NetworkSpec`] (plain data, units checked),
//! lowered into a [`network::Network`] (structure-of-arrays state, synapse tables, delay
//! ring buffers), run by [`engine::run`] through a named schedule, and written out by
//! [`output`].

pub mod connectivity;
pub mod engine;
pub mod error;
pub mod exchange;
pub mod network;
pub mod neurons;
pub mod output;
pub mod plasticity;
pub mod rng;
pub mod spec;
pub mod stats;
pub mod synapses;
pub mod units;

pub use error::{EngramError, Result};

/// The engine's version, recorded in every output.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
