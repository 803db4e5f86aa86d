//! Gradient training of spiking networks for engram (issue 3): surrogate-gradient BPTT on
//! candle tensors, with fused multi-step kernels for the spiking layers.
//!
//! - [`lif`], [`alif`]: fused LIF and adaptive-LIF layers over all `T` steps (forward and
//!   backward), each with its op-by-op reference; [`surrogate`]: the named surrogate gradients.
//! - [`event_linear`]: the event-driven input projection (only active inputs are touched).
//! - [`encode`], [`loss`], [`optim`]: encoders, losses, optimizers and schedules.
//! - [`model`], [`config`], [`train`], [`checkpoint`]: the network built from a training file,
//!   the loop, and safetensors checkpoints that resume exactly.
//! - [`data`]: readers for MNIST / Fashion-MNIST IDX, NumPy `.npy`/`.npz` and the SHD HDF5 layout.
//!
//! Tensor layout throughout is `[T, B, N]`: time, batch, neuron.

pub mod alif;
pub mod checkpoint;
pub mod config;
mod cpu;
pub mod data;
pub mod encode;
pub mod event_linear;
#[cfg(test)]
mod layer_tests;
pub mod lif;
pub mod loss;
pub mod model;
pub mod optim;
pub mod rlif;
pub mod surrogate;
pub mod train;

pub use cpu::Real;
