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
//! "channel"). The decay is exact.
//!
//! A spike adds its weight to the channel's *arrival variable* (s; x for alpha kernels,
//! whose weights are stored pre-multiplied by e / tau). Events with a delay of more than
//! one step wait in a per-channel ring buffer of delay slots, whose due row is added to
//! the arrival variable at the start of a step (`deliver`); a channel whose projections
//! all have the minimum delay, one step, has no ring: propagation adds straight into the
//! arrival variable, which the next step reads.

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
    /// Factor applied to a weight as it is stored (e / tau for the alpha kernel's x).
    weight_scale: f64,
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
            weight_scale: if kernel == Kernel::Alpha { std::f64::consts::E / tau } else { 1.0 },
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

    /// The factor synapse weights are multiplied by when stored (1 but for alpha kernels).
    pub fn weight_scale(&self) -> f64 {
        self.weight_scale
    }
}

/// The per-neuron sums a channel adds its input to: the synaptic current is `a - b V`;
/// `jumps` holds voltage jumps of delta synapses. A conductance channel adds `g E_rev` to
/// `a` with one fused multiply-add (one rounding).
pub struct Accumulators<'a> {
    pub a: &'a mut [f64],
    pub b: &'a mut [f64],
    pub jumps: &'a mut [f64],
}

/// State of one channel for a contiguous block of postsynaptic neurons.
#[derive(Debug, Clone)]
pub struct Channel {
    pub consts: ChannelConsts,
    /// The synaptic variable s (current, conductance, or pending voltage jump for delta).
    pub s: Vec<f64>,
    /// The alpha kernel's auxiliary variable x.
    x: Vec<f64>,
    /// `slots` rows of `n` pending weights; row `step % slots` is due at `step`. Empty when
    /// every delay is one step (`slots` = 1): weights then go straight to the arrival variable.
    ring: Vec<f64>,
    slots: usize,
}

impl Channel {
    /// A channel for `n` neurons whose longest delay is `slots` steps.
    pub fn new(consts: ChannelConsts, n: usize, slots: usize) -> Self {
        let slots = slots.max(1);
        let x = if consts.kernel == Kernel::Alpha { vec![0.0; n] } else { Vec::new() };
        let ring = if slots > 1 { vec![0.0; n * slots] } else { Vec::new() };
        Channel { consts, s: vec![0.0; n], x, ring, slots }
    }

    pub fn len(&self) -> usize {
        self.s.len()
    }

    pub fn is_empty(&self) -> bool {
        self.s.is_empty()
    }

    fn arrival(&mut self) -> &mut [f64] {
        if self.consts.kernel == Kernel::Alpha { &mut self.x } else { &mut self.s }
    }

    /// Where propagation adds weights, for the propagation loop: `slots` rows of `n`
    /// values, row `(step + delay) % slots` for an event of `delay` steps sent at `step`
    /// (one row, the arrival variable itself, without a ring buffer).
    #[inline(always)]
    pub fn targets(&mut self) -> (&mut [f64], usize, usize) {
        let (n, slots) = (self.s.len(), self.slots);
        if self.ring.is_empty() { (self.arrival(), n, 1) } else { (&mut self.ring, n, slots) }
    }

    /// Adds the ring row due at `step` to the arrival variable and clears it.
    pub fn deliver(&mut self, step: u64) {
        if self.ring.is_empty() {
            return;
        }
        let n = self.s.len();
        let slot = (step % self.slots as u64) as usize;
        let mut ring = std::mem::take(&mut self.ring);
        for (v, r) in self.arrival().iter_mut().zip(&mut ring[slot * n..(slot + 1) * n]) {
            *v += *r;
            *r = 0.0;
        }
        self.ring = ring;
    }

    /// The channel's state for a fused kernel; None unless the kernel is exponential.
    pub fn exp_input(&mut self) -> Option<ExpInput<'_>> {
        if self.consts.kernel != Kernel::Exp {
            return None;
        }
        let e_rev = self.consts.e_rev.unwrap_or(0.0);
        Some(ExpInput { s: &mut self.s, decay: self.consts.decay, e_rev })
    }

    /// Adds the channel's current `a - b V` at the start of the step to the accumulators
    /// (delta channels add their voltage jumps to `jumps`), then advances the channel
    /// state by one step. Works on the neurons `range` of the block; the accumulators
    /// cover that range. The `first` channel of a population assigns its input to the
    /// accumulators instead of adding it (the fused kernels do the same, so that both give
    /// the same numbers).
    pub fn advance(&mut self, range: std::ops::Range<usize>, acc: Accumulators, first: bool) {
        let Accumulators { a, b, jumps } = acc;
        let s_block = &mut self.s[range.clone()];
        let c = &self.consts;
        let p = c.decay;
        match (c.kernel, c.e_rev) {
            (Kernel::Delta, _) => {
                for (j, s) in jumps.iter_mut().zip(s_block.iter_mut()) {
                    *j += *s;
                    *s = 0.0;
                }
            }
            (Kernel::Exp, None) => {
                for (s, a) in s_block.iter_mut().zip(a.iter_mut()) {
                    let g = *s;
                    *a = if first { g } else { *a + g };
                    *s = g * p;
                }
            }
            (Kernel::Exp, Some(e)) => {
                for ((s, a), b) in s_block.iter_mut().zip(a.iter_mut()).zip(b.iter_mut()) {
                    let g = *s;
                    *a = if first { g * e } else { g.mul_add(e, *a) };
                    *b = if first { g } else { *b + g };
                    *s = g * p;
                }
            }
            (Kernel::Alpha, e_rev) => {
                let e = e_rev.unwrap_or(0.0);
                let cond = e_rev.is_some();
                let x_block = &mut self.x[range];
                for (i, (s, x)) in s_block.iter_mut().zip(x_block.iter_mut()).enumerate() {
                    a[i] = match (cond, first) {
                        (true, true) => *s * e,
                        (true, false) => s.mul_add(e, a[i]),
                        (false, true) => *s,
                        (false, false) => a[i] + *s,
                    };
                    if cond {
                        b[i] = if first { *s } else { b[i] + *s };
                    }
                    *s = (*s + c.dt * *x) * p;
                    *x *= p;
                }
            }
        }
    }
}

/// An exponential channel as a fused neuron kernel sees it: the state `s` (arrivals
/// included), the decay factor and, for a conductance channel, the reversal potential.
/// `g = s` enters the neuron's input `a - b V` as `a += g E_rev, b += g` (conductance) or
/// `a += g` (current).
pub struct ExpInput<'a> {
    pub s: &'a mut [f64],
    pub decay: f64,
    pub e_rev: f64,
}

impl ExpInput<'_> {
    /// The same view restricted to the neurons `range`.
    #[inline(always)]
    pub fn block(&mut self, range: std::ops::Range<usize>) -> ExpInput<'_> {
        ExpInput { s: &mut self.s[range], decay: self.decay, e_rev: self.e_rev }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input `a` of a channel that receives a weight of 2 due at step 0, through a
    /// ring buffer of `slots` rows (slots = 1: straight into the arrival variable).
    fn response(model: SynapseModel, dt: f64, steps: usize, slots: usize) -> Vec<f64> {
        let mut ch = Channel::new(ChannelConsts::lower(&model, dt), 1, slots);
        ch.targets().0[0] = 2.0 * ch.consts.weight_scale();
        let mut out = Vec::new();
        for step in 0..steps {
            let (mut a, mut b, mut jumps) = ([0.0], [0.0], [0.0]);
            ch.deliver(step as u64);
            ch.advance(0..1, Accumulators { a: &mut a, b: &mut b, jumps: &mut jumps }, true);
            out.push(a[0]);
        }
        out
    }

    #[test]
    fn exponential_kernel_is_exact() {
        for slots in [1, 3] {
            let r = response(SynapseModel::ExpCurrent { tau: 5.0 }, 0.1, 100, slots);
            for (k, s) in r.iter().enumerate() {
                let t = k as f64 * 0.1;
                assert!((s - 2.0 * (-t / 5.0).exp()).abs() < 1e-12, "slots {slots}, t {t}: {s}");
            }
        }
    }

    #[test]
    fn alpha_kernel_is_exact_and_peaks_at_w_at_tau() {
        let tau = 2.0;
        for slots in [1, 4] {
            let r = response(SynapseModel::AlphaCurrent { tau }, 0.1, 200, slots);
            for (k, s) in r.iter().enumerate() {
                let t = k as f64 * 0.1;
                let expected = 2.0 * (t / tau) * (1.0 - t / tau).exp();
                assert!((s - expected).abs() < 1e-12, "slots {slots}, t {t}: {s} vs {expected}");
            }
            assert!((r[20] - 2.0).abs() < 1e-12);
        }
    }

    #[test]
    fn ring_rows_arrive_at_their_step() {
        let mut ch = Channel::new(ChannelConsts::lower(&SynapseModel::Delta, 0.1), 2, 3);
        let (ring, n, slots) = ch.targets();
        assert_eq!((n, slots), (2, 3));
        ring[2 * n + 1] = 0.5;
        let mut jumps = [[0.0; 2]; 5];
        for (step, j) in jumps.iter_mut().enumerate() {
            let (mut a, mut b) = ([0.0; 2], [0.0; 2]);
            ch.deliver(step as u64);
            ch.advance(0..2, Accumulators { a: &mut a, b: &mut b, jumps: j }, true);
        }
        assert_eq!(jumps, [[0.0; 2], [0.0; 2], [0.0, 0.5], [0.0; 2], [0.0; 2]]);
    }

    #[test]
    fn conductance_channel_contributes_g_times_reversal() {
        let mut ch = Channel::new(ChannelConsts::lower(&SynapseModel::ExpCond { tau: 5.0, e_rev: -80.0 }, 0.1), 1, 1);
        ch.targets().0[0] = 0.5;
        let (mut a, mut b, mut jumps) = ([7.0], [7.0], [0.0]);
        ch.advance(0..1, Accumulators { a: &mut a, b: &mut b, jumps: &mut jumps }, false);
        assert_eq!((a[0], b[0]), (7.0 - 40.0, 7.5), "a later channel adds to the sums");
        ch.targets().0[0] += 0.5;
        ch.advance(0..1, Accumulators { a: &mut a, b: &mut b, jumps: &mut jumps }, true);
        let g = 0.5 * (-0.1f64 / 5.0).exp() + 0.5;
        assert_eq!((a[0], b[0]), (g * -80.0, g), "the first channel assigns");
    }
}
