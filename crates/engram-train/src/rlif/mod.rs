//! The recurrent leaky integrate-and-fire layer over all time steps, as snnTorch's `RLeaky`
//! (all-to-all, `linear_features = N`) defines it: a LIF layer whose own spikes of the previous
//! step feed back through a learnable weight matrix `W` `[N, N]`.
//!
//! For each batch row, with input current `I_t` (already weighted, `[N]`), decays `β`,
//! thresholds `θ` and the previous step's spikes `s_{t−1}` (a row vector; `v_{−1} = s_{−1} = 0`):
//!
//! ```text
//! recurrent input: r_t = s_{t−1}·W               r_t[j] = Σ_i s_{t−1}[i]·W[i, j]
//! subtract reset:  v_t = β·v_{t−1} + I_t + r_t − θ·s_{t−1}
//! zero reset:      v_t = (β·v_{t−1} + I_t + r_t)·(1 − s_{t−1})
//! spike:           s_t = H(v_t − θ)             (backward: the surrogate σ'(v_t − θ))
//! ```
//!
//! `W[i, j]` is the weight from presynaptic neuron `i` (its row) to postsynaptic neuron `j`, so
//! a spike of `i` adds row `i` of `W` to the next step's input. snnTorch's `nn.Linear` weight is
//! stored `[out, in]`, the transpose of this `W`; its bias is a constant current, part of `I_t`
//! here. The zero reset clears the recurrent input with the rest, as snnTorch's does. As in
//! [`crate::lif`], a spike's reset applies on the next step and `detach_reset` stops the
//! gradient through `s_{t−1}` in the reset term only; the recurrent term always passes it.
//!
//! Layout: `current` is `[T, B, N]` (time, batch, neuron), contiguous, f32 or f64; the output
//! is `[T, B, N]`, spikes or membrane potential ([`crate::lif::LifOutput`]). `W`, `β` and `θ`
//! all receive gradients.
//!
//! [`rlif`] is the fused kernel ([`kernel`]) as a candle custom op: the forward adds the rows of
//! `W` of the neurons that spiked (spikes are binary and sparse), the backward recomputes the
//! trace and multiplies by `Wᵀ` densely each step. [`rlif_reference`] is the same equations as
//! one candle op per operation, which the fused results are tested against.

pub mod kernel;
mod op;
mod reference;

pub use op::rlif;
pub use reference::rlif_reference;

#[cfg(test)]
mod tests;
