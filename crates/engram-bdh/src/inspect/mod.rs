//! Interpretability tools for BDH (`shared/specs/bdh.md` §6, reference figures §8.6–8.8; the
//! paper's §4.1, §5.5, §6.2–6.4), all reading text with the recurrent form of
//! [`crate::recurrent`] (no dropout: eval mode):
//!
//! - [`sparsity`]: the fraction of non-zero entries of `x`, `y` and `g = x ⊙ y` per layer, its
//!   spread over tokens, and the neurons never active.
//! - [`trace`]: a text's sparse activity, layer by layer, and the synaptic state it leaves.
//! - [`sigma`]: the neuron–neuron synapse matrix `σ_l = (1/T) Σ_t g_{t,l−1} ⊗ x_{t,l}` and its
//!   strongest edges; [`graph`]: the parameter graph `G_x = D_x E`, `G_y = D_y E`.
//! - [`probe`] with [`stats`]: the monosemantic synapse probe (Welch t on a discovery split,
//!   one-sided Mann–Whitney U and rank-biserial correlation on held-out sentences, a
//!   shuffled-label control).
//! - [`export`]: the state, σ and the parameter graph of a text as `.npy`/CSV files with a
//!   manifest, written atomically.
//!
//! Layers are numbered from 1 in reports and options (as in the spec's tables), from 0 in
//! arrays; neurons are `i = h·N + k` (head-major, the decoder's order).

pub mod export;
pub mod graph;
pub mod probe;
pub mod sigma;
pub mod sparsity;
pub mod stats;
pub mod trace;

#[cfg(test)]
mod tests;
