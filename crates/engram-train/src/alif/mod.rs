//! The adaptive leaky integrate-and-fire layer (ALIF) over all time steps: the LSNN neuron of
//! Bellec, Salaj, Subramoney, Legenstein & Maass (2018), "Long short-term memory and
//! learning-to-learn in networks of spiking neurons", NeurIPS 31, in the form of Bellec et al.
//! (2020), "A solution to the learning dilemma for recurrent networks of spiking neurons",
//! Nature Communications 11:3625 (e-prop, Methods, "ALIF").
//!
//! For each neuron, with input current `I_t` (already weighted), membrane decay `β`, baseline
//! threshold `θ`, adaptation decay `ρ` and adaptation strength `κ`, starting from
//! `v_{−1} = a_{−1} = s_{−1} = 0`:
//!
//! ```text
//! adaptation:      a_t = ρ·a_{t−1} + s_{t−1}
//! threshold:       A_t = θ + κ·a_t
//! subtract reset:  v_t = β·v_{t−1} + I_t − A_{t−1}·s_{t−1}
//! zero reset:      v_t = (β·v_{t−1} + I_t)·(1 − s_{t−1})
//! spike:           s_t = H(v_t − A_t)            (backward: the surrogate σ'(v_t − A_t))
//! ```
//!
//! The subtractive reset removes the threshold the spike crossed, `A_{t−1}`, so a spike leaves
//! `v − A_{t−1}` just as the LIF layer's leaves `v − θ` (e-prop subtracts the baseline `θ`
//! instead). With `κ = 0` the layer is exactly [`crate::lif::lif`]. The 2018 paper writes
//! `a_t = ρ·a_{t−1} + (1 − ρ)·s_{t−1}` with strength `β_LSNN`; that is this layer with
//! `κ = β_LSNN·(1 − ρ)` (the 2020 form, used here, keeps the increment per spike independent of
//! `ρ`). `ρ = exp(−dt/τ_a)` and `β = exp(−dt/τ_m)`.
//!
//! All four parameters are per-neuron tensors `[N]` and all four receive gradients. The
//! reset and spike timing follow [`LifRule`] as for the LIF layer: the reset of a spike applies
//! on the next step, and `detach_reset` stops the gradient through `s_{t−1}` in the reset term
//! only (the threshold `A_{t−1}` it multiplies still gets its gradient, and the adaptation
//! `a_t = ρ·a_{t−1} + s_{t−1}` always passes gradient to the spike, as in LSNN's BPTT).
//!
//! Layout: `current` is `[T, B, N]` (time, batch, neuron), contiguous, f32 or f64; the output
//! is `[T, B, N]`, spikes or membrane potential ([`crate::lif::LifOutput`]).
//!
//! [`alif`] is the fused kernel ([`kernel`]) as a candle custom op, whose backward recomputes
//! one batch row's membrane and adaptation traces from the input; [`alif_reference`] is the
//! same equations as one candle op per operation, which the fused results are tested against.

pub mod kernel;
mod op;
mod reference;

pub use op::alif;
pub use reference::alif_reference;

#[cfg(test)]
mod tests;
