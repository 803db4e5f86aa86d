//! The leaky integrate-and-fire layer over all time steps, as snnTorch's `Leaky` defines it.
//!
//! For each neuron, with input current `I_t` (already weighted), decay `β`, threshold `θ` and
//! the previous step's spike `s_{t−1}` (`v_{−1} = s_{−1} = 0`):
//!
//! ```text
//! subtract reset:  v_t = β·v_{t−1} + I_t − θ·s_{t−1}
//! zero reset:      v_t = (β·v_{t−1} + I_t)·(1 − s_{t−1})
//! spike:           s_t = H(v_t − θ)           (backward: the surrogate σ'(v_t − θ))
//! ```
//!
//! This is snnTorch 1.0 `snn.Leaky(beta, threshold, reset_mechanism="subtract"|"zero")` with
//! its default `reset_delay=True`: the reset of a spike applies on the next step. With
//! `detach_reset` (snnTorch's default) no gradient flows through `s_{t−1}` in the reset term;
//! `θ` still receives the reset term's gradient. `β` and `θ` are per-neuron tensors `[N]`, so a
//! layer may learn them (`β = exp(−dt/τ)` keeps the time constant as the learned quantity).
//!
//! Layout: `current` is `[T, B, N]` (time, batch, neuron), contiguous, f32 or f64; the output is
//! `[T, B, N]`, spikes or membrane potential ([`LifOutput`]).
//!
//! Two implementations are kept: [`lif`], the fused multi-step kernel ([`kernel`]) wrapped as a
//! candle custom op whose backward recomputes the membrane trace from the input (so nothing but
//! the input current and the output is stored per step), and [`lif_reference`], the same
//! equations as one candle op per operation, which every fused result is tested against.
//! [`lif_dense`] fuses a spike-driven projection ([`crate::event_linear`]) with the layer, and
//! [`lif_stack`] a whole stack of such layers.

mod dense;
pub mod kernel;
mod op;
mod reference;
mod stack;

use serde::{Deserialize, Serialize};

pub use dense::lif_dense;
pub use op::lif;
pub use reference::lif_reference;
/// The spike non-linearity as a candle op, shared with the references of the other layers.
pub(crate) use reference::spike;
pub use stack::{StackLayer, lif_stack};

use crate::surrogate::Surrogate;

/// How a spike resets the membrane.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Reset {
    /// `v ← v − θ` (snnTorch `"subtract"`, its default).
    #[default]
    Subtract,
    /// `v ← 0` (snnTorch `"zero"`).
    Zero,
}

/// What the layer returns at each step.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LifOutput {
    /// The spikes `s_t`.
    #[default]
    Spikes,
    /// The membrane potential `v_t` (for losses on the membrane, such as its maximum over time).
    Membrane,
}

/// The choices that shape a LIF layer's forward and backward pass (its parameters `β`, `θ` are
/// tensors, passed alongside).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LifRule {
    pub reset: Reset,
    pub detach_reset: bool,
    pub surrogate: Surrogate,
    pub output: LifOutput,
}

impl Default for LifRule {
    /// snnTorch's defaults: subtractive, detached reset; fast sigmoid with slope 25; spikes out.
    fn default() -> Self {
        LifRule {
            reset: Reset::Subtract,
            detach_reset: true,
            surrogate: Surrogate::default(),
            output: LifOutput::Spikes,
        }
    }
}

#[cfg(test)]
mod tests;
