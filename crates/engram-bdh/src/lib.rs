//! The Dragon Hatchling, BDH-GPU (Kosowski, Uznański, Chorowski, Stamirowska,
//! Bartoszkiewicz, *The Dragon Hatchling: The Missing Link between the Transformer and Models
//! of the Brain*, arXiv:2509.26507, 2025), as the reference repository `pathwaycom/bdh`
//! (commit 714bc80) implements it; the equations are in [`model`], the specification in
//! `shared/specs/bdh.md`.
//!
//! - [`config`]: the model's shape ([`BdhConfig`]) and a training run ([`TrainConfig`]).
//! - [`rope`]: the rotary phases, in the reference's float32 rule.
//! - [`model`]: the five parameter tensors and the token-parallel (training) forward pass.
//! - [`recurrent`]: the same function as a recurrence over a per-layer, per-head synaptic state
//!   `S ∈ R^{N×D}` (a rank-1 Hebbian write per token), and sampling from it.
//! - [`attention`]: a layer's neuron work (projections, ReLU, RoPE, causal linear attention,
//!   LayerNorm, gating, dropout, decoder) as one fused op with a hand-written backward, over
//!   the `gemm` products of `products.rs` and the element-wise loops of `pointwise.rs`;
//!   [`scratch`] keeps its large buffers between steps.
//! - [`data`], [`train`], [`checkpoint`]: byte corpus, training loop, safetensors checkpoints.
//! - [`inspect`]: interpretability tools: activation sparsity, the synaptic state and neuron
//!   graph of a text, the monosemantic synapse probe.
//!
//! Neuron tensors are laid out `[H, B·T, N]` (head, batch-major tokens, neuron in the head).

pub mod attention;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod inspect;
pub mod model;
mod pointwise;
mod products;
pub mod recurrent;
pub mod rope;
pub mod scratch;
pub mod train;

pub use config::{BdhConfig, TrainConfig};

/// Why a BDH command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum BdhError {
    #[error("{0}")]
    Config(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Data {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("{}: not a valid BDH checkpoint: {message}", path.display())]
    Checkpoint {
        path: std::path::PathBuf,
        message: String,
    },
    #[error(transparent)]
    Compute(#[from] candle_core::Error),
}

#[cfg(test)]
mod tests;
