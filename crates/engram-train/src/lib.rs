//! Gradient training of spiking networks for engram (issue 3).
//!
//! This first part holds only the data layer, [`data`]: readers for the IDX files of MNIST and
//! Fashion-MNIST (raw or gzip) and for NumPy `.npy`/`.npz` arrays, each checking what it reads
//! and answering a bad file with a [`data::DataError`] that names the file, never a panic.
//! Tensors, spiking layers, kernels and the training loop come later.

pub mod alif;
mod cpu;
pub mod data;
pub mod encode;
pub mod event_linear;
pub mod loss;
pub mod optim;
pub mod lif;
pub mod surrogate;

pub use cpu::Real;
