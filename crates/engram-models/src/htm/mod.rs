//! Hierarchical temporal memory: SDRs, encoders, spatial pooler, temporal memory, anomaly
//! scores and a k-step-ahead classifier, and the online stream pipeline behind `engram htm`.
//!
//! Every component exchanges SDRs as [`Sdr`]: a size and the sorted, unique indices of its
//! active bits.

pub mod anomaly;
pub mod classifier;
mod connections;
pub mod datasets;
pub mod encoders;
pub mod error;
pub mod experiment;
pub mod pipeline;
mod plot;
pub mod probability;
pub mod sdr;
pub mod sequences;
pub mod spatial_pooler;
pub mod stream;
pub mod temporal_memory;

pub use error::HtmError;
pub use sdr::Sdr;
