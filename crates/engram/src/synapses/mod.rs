//! Synapse models: how a presynaptic spike acts on the postsynaptic neuron.
//!
//! ```text
//! delta            V <- V + w                                     (w a voltage)
//! exp_current      tau ds/dt = -s,  spike: s += w;  I = s         (w a current)
//! alpha_current    tau dx/dt = -x,  tau ds/dt = -s + tau x,  spike: x += w e / tau;  I = s
//! exp_cond         as exp_current with s a conductance;  I = s (E_rev - V)
//! alpha_cond       as alpha_current with s a conductance; I = s (E_rev - V)
//! ```
//! The alpha kernel of a single spike is `w (t/tau) e^{1 - t/tau}`, peaking at w at t = tau.
//! All five are linear in their state, so every projection with the same model, tau and
//! reversal potential onto a population shares one state per postsynaptic neuron (a
//! "channel"); events wait in a per-channel ring buffer of delay slots. The decay is exact.

use serde::Serialize;

use crate::units::Dim;

pub const MODEL_NAMES: &[&str] = &["delta", "exp_current", "alpha_current", "exp_cond", "alpha_cond"];

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum SynapseModel {
    Delta,
    ExpCurrent { tau: f64 },
    AlphaCurrent { tau: f64 },
    ExpCond { tau: f64, e_rev: f64 },
    AlphaCond { tau: f64, e_rev: f64 },
}

impl SynapseModel {
    /// The dimension of a weight of this synapse.
    pub fn weight_dim(&self) -> Dim {
        match self {
            SynapseModel::Delta => Dim::VOLTAGE,
            SynapseModel::ExpCurrent { .. } | SynapseModel::AlphaCurrent { .. } => Dim::CURRENT,
            SynapseModel::ExpCond { .. } | SynapseModel::AlphaCond { .. } => Dim::CONDUCTANCE,
        }
    }

    pub fn is_conductance(&self) -> bool {
        matches!(self, SynapseModel::ExpCond { .. } | SynapseModel::AlphaCond { .. })
    }

    fn tau(&self) -> f64 {
        match *self {
            SynapseModel::Delta => 0.0,
            SynapseModel::ExpCurrent { tau }
            | SynapseModel::AlphaCurrent { tau }
            | SynapseModel::ExpCond { tau, .. }
            | SynapseModel::AlphaCond { tau, .. } => tau,
        }
    }
}

/// Shape of a channel's kernel.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kernel {
    Delta,
    Exp,
    Alpha,
}

/// Lowered constants of a channel.
#[derive(Debug, Clone)]
pub struct ChannelConsts {
    kernel: Kernel,
    /// Reversal potential for conductance channels.
    e_rev: Option<f64>,
    /// exp(-dt / tau).
    decay: f64,
    dt: f64,
    /// Factor applied to an arriving weight (e / tau for the alpha kernel's x).
    jump_scale: f64,
}

impl ChannelConsts {
    pub fn lower(model: &SynapseModel, dt: f64) -> Self {
        let tau = model.tau();
        let kernel = match model {
            SynapseModel::Delta => Kernel::Delta,
            SynapseModel::ExpCurrent { .. } | SynapseModel::ExpCond { .. } => Kernel::Exp,
            SynapseModel::AlphaCurrent { .. } | SynapseModel::AlphaCond { .. } => Kernel::Alpha,
        };
        let e_rev = match *model {
            SynapseModel::ExpCond { e_rev, .. } | SynapseModel::AlphaCond { e_rev, .. } => Some(e_rev),
            _ => None,
        };
        ChannelConsts {
            kernel,
            e_rev,
            decay: if tau > 0.0 { (-dt / tau).exp() } else { 0.0 },
            dt,
            jump_scale: if kernel == Kernel::Alpha { std::f64::consts::E / tau } else { 1.0 },
        }
    }

    pub fn is_delta(&self) -> bool {
        self.kernel == Kernel::Delta
    }

    pub fn is_conductance(&self) -> bool {
        self.e_rev.is_some()
    }

    pub fn is_exponential(&self) -> bool {
        self.kernel == Kernel::Exp
    }
}

/// State of one channel for a contiguous block of postsynaptic neurons.
#[derive(Debug, Clone)]
pub struct Channel {
    pub consts: ChannelConsts,
    /// The synaptic variable s (current, conductance, or pending voltage jump for delta).
    pub s: Vec<f64>,
    /// The alpha kernel's auxiliary variable x.
    x: Vec<f64>,
    /// `slots` rows of `n` pending weights; row `step % slots` arrives at `step`.
    ring: Vec<f64>,
    slots: usize,
}

impl Channel {
    pub fn new(consts: ChannelConsts, n: usize, slots: usize) -> Self {
        let slots = slots.max(1);
        let x = if consts.kernel == Kernel::Alpha { vec![0.0; n] } else { Vec::new() };
        Channel { consts, s: vec![0.0; n], x, ring: vec![0.0; n * slots], slots }
    }

    pub fn len(&self) -> usize {
        self.s.len()
    }

    pub fn is_empty(&self) -> bool {
        self.s.is_empty()
    }

    /// The ring buffer, the row length and the number of slots, for the propagation loop.
    #[inline(always)]
    pub fn ring_parts(&mut self) -> (&mut [f64], usize, usize) {
        let n = self.s.len();
        (&mut self.ring, n, self.slots)
    }

    /// The channel's state and arriving weights at `step` for a fused kernel; None unless
    /// the kernel is exponential.
    pub fn exp_input(&mut self, step: u64) -> Option<ExpInput<'_>> {
        if self.consts.kernel != Kernel::Exp {
            return None;
        }
        let n = self.s.len();
        let slot = (step % self.slots as u64) as usize;
        let (to_a, to_b) = match self.consts.e_rev {
            Some(e) => (e, 1.0),
            None => (1.0, 0.0),
        };
        Some(ExpInput { s: &mut self.s, arriving: &mut self.ring[slot * n..(slot + 1) * n], decay: self.consts.decay, to_a, to_b })
    }

    /// Takes the events due at `step` from the ring buffer, adds the channel's current
    /// `a - b V` at the start of the step to the accumulators (delta channels add their
    /// voltage jumps to `jumps`), then advances the channel state by one step.
    /// Works on the neurons `range` of the block; the accumulators cover that range.
    pub fn advance(&mut self, step: u64, range: std::ops::Range<usize>, a: &mut [f64], b: &mut [f64], jumps: &mut [f64]) {
        let n = self.s.len();
        let slot = (step % self.slots as u64) as usize;
        let row = &mut self.ring[slot * n + range.start..slot * n + range.end];
        let s_block = &mut self.s[range.clone()];
        let c = &self.consts;
        let p = c.decay;
        match (c.kernel, c.e_rev) {
            (Kernel::Delta, _) => {
                for (j, r) in jumps.iter_mut().zip(row.iter_mut()) {
                    *j += *r;
                    *r = 0.0;
                }
            }
            (Kernel::Exp, None) => {
                for ((s, r), a) in s_block.iter_mut().zip(row.iter_mut()).zip(a.iter_mut()) {
                    let g = *s + *r;
                    *r = 0.0;
                    *a += g;
                    *s = g * p;
                }
            }
            (Kernel::Exp, Some(e)) => {
                for (((s, r), a), b) in s_block.iter_mut().zip(row.iter_mut()).zip(a.iter_mut()).zip(b.iter_mut()) {
                    let g = *s + *r;
                    *r = 0.0;
                    *a += g * e;
                    *b += g;
                    *s = g * p;
                }
            }
            (Kernel::Alpha, e_rev) => {
                let (dt, scale) = (c.dt, c.jump_scale);
                let e = e_rev.unwrap_or(0.0);
                let cond = e_rev.is_some();
                let x_block = &mut self.x[range];
                for (i, ((s, x), r)) in s_block.iter_mut().zip(x_block.iter_mut()).zip(row.iter_mut()).enumerate() {
                    let xi = *x + *r * scale;
                    *r = 0.0;
                    if cond {
                        a[i] += *s * e;
                        b[i] += *s;
                    } else {
                        a[i] += *s;
                    }
                    *s = (*s + dt * xi) * p;
                    *x = xi * p;
                }
            }
        }
    }
}

/// An exponential channel as a fused neuron kernel sees it for one step: the state `s`,
/// the ring row of weights arriving now, and how the conductance or current `g = s + arriving`
/// enters the neuron's input `a - b V`: `a += g * to_a`, `b += g * to_b`.
pub struct ExpInput<'a> {
    pub s: &'a mut [f64],
    pub arriving: &'a mut [f64],
    pub decay: f64,
    pub to_a: f64,
    pub to_b: f64,
}

impl ExpInput<'_> {
    /// The same view restricted to the neurons `range`.
    #[inline(always)]
    pub fn block(&mut self, range: std::ops::Range<usize>) -> ExpInput<'_> {
        ExpInput {
            s: &mut self.s[range.clone()],
            arriving: &mut self.arriving[range],
            decay: self.decay,
            to_a: self.to_a,
            to_b: self.to_b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(model: SynapseModel, dt: f64, steps: usize) -> Vec<f64> {
        let mut ch = Channel::new(ChannelConsts::lower(&model, dt), 1, 1);
        ch.ring_parts().0[0] = 2.0;
        let mut out = Vec::new();
        for step in 0..steps {
            let (mut a, mut b, mut jumps) = ([0.0], [0.0], [0.0]);
            ch.advance(step as u64, 0..1, &mut a, &mut b, &mut jumps);
            out.push(a[0]);
        }
        out
    }

    #[test]
    fn exponential_kernel_is_exact() {
        let r = response(SynapseModel::ExpCurrent { tau: 5.0 }, 0.1, 100);
        for (k, s) in r.iter().enumerate() {
            let t = k as f64 * 0.1;
            assert!((s - 2.0 * (-t / 5.0).exp()).abs() < 1e-12);
        }
    }

    #[test]
    fn alpha_kernel_is_exact_and_peaks_at_w_at_tau() {
        let tau = 2.0;
        let r = response(SynapseModel::AlphaCurrent { tau }, 0.1, 200);
        for (k, s) in r.iter().enumerate() {
            let t = k as f64 * 0.1;
            let expected = 2.0 * (t / tau) * (1.0 - t / tau).exp();
            assert!((s - expected).abs() < 1e-12, "t {t}: {s} vs {expected}");
        }
        assert!((r[20] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn conductance_channel_contributes_g_times_reversal() {
        let mut ch = Channel::new(ChannelConsts::lower(&SynapseModel::ExpCond { tau: 5.0, e_rev: -80.0 }, 0.1), 1, 1);
        ch.ring_parts().0[0] = 0.5;
        let (mut a, mut b, mut jumps) = ([0.0], [0.0], [0.0]);
        ch.advance(0, 0..1, &mut a, &mut b, &mut jumps);
        assert_eq!((a[0], b[0]), (-40.0, 0.5));
    }
}
