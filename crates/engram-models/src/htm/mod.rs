//! Hierarchical temporal memory: SDRs, encoders, spatial pooler, temporal memory, anomaly
//! scores and a k-step-ahead classifier, and the online stream pipeline behind `engram htm`.
//!
//! Every component exchanges SDRs as [`Sdr`]: a size and the sorted, unique indices of its
//! active bits.

pub mod sdr;

pub use sdr::Sdr;
