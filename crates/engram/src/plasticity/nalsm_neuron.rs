//! The discrete LIF neuron of NALSM (Ivanov & Michmizos 2021, "Increasing liquid state
//! machine performance with edge-of-chaos dynamics organized by astrocyte-modulated
//! plasticity", NeurIPS, arXiv:2111.01760; code `combra-lab/NALSM`, `NALSM_LIF_v1.py`;
//! spec §3.2), used for both input and liquid neurons, on a 1 ms grid.
//!
//! ```text
//! v <- v - v/tau_v + sum_j w_ij exp(-Δ_j/tau_u)/tau_u + I_in + b
//! spike when v >= v_th and not refractory; then v <- 0 and t_ref steps of refractoriness
//! Δ_j: steps since presynaptic neuron j last spiked (0 in its spike's step), clipped to 100
//! ```
//! Units: dimensionless model units (the paper's); time in steps of 1 ms. tau_v = 64,
//! tau_u = 1, v_th = 20, t_ref = 2, b = 0. A refractory neuron keeps integrating; only its
//! threshold is masked (`register_spikes` multiplies v by the refractory mask), and it can
//! spike again `t_ref + 1` steps after a spike.
//!
//! One 1 ms step, in the repo's order (`NALSM_CONSTRUCTOR_MNIST.py`), see [`STEP_ORDER`]:
//! [`threshold`] for every neuron (phases 1-3), then [`integrate`] with the synaptic input
//! `sum_j w_ij psc(Δ_j)` built from the Δ's after phase 3 (so a spike contributes `w e^0` in
//! its own step), then [`end_step`] (phases 5-6), then the astrocyte-modulated STDP, the
//! trace and the astrocyte updates of `astrocyte.rs` (phases 7-9). With this order a
//! neuron whose `v` crosses `v_th` during step n's integration spikes at the threshold check
//! that opens step n + 1: from v = 0 under I = 0.35 the first spike is at step 142 (steps
//! counted from 0), and an input event `I_in = 100` integrated in step n fires the input
//! neuron at the check of step n + 1, whose targets receive it in that same step.

use serde::Serialize;

use super::check_positive;
use crate::error::{EngramError, Result};

/// The NALSM grid step (ms). The model is defined per 1 ms step.
pub const NALSM_DT: f64 = 1.0;

/// The phases of one NALSM step, in the order the reference code runs them.
pub const STEP_ORDER: [&str; 9] = [
    "1 threshold: S = [v >= v_th] unless refractory",
    "2 reset: v = 0 where S",
    "3 propagate: Δ = 0 where S",
    "4 integrate: v += -v/tau_v + sum w psc(Δ) + I_in + b",
    "5 age: Δ = min(Δ + 1, Δ_max)",
    "6 refractory counters",
    "7 STDP with the traces from before this step",
    "8 traces: x = d (x + 0.1 S)",
    "9 astrocyte: A += (w_A (liquid spikes - input spikes) + b_A - A) / tau_A",
];

/// The NALSM model is discrete on a 1 ms grid: any other `dt` is refused.
pub(crate) fn check_nalsm_dt(what: &str, dt: f64) -> Result<()> {
    if dt == NALSM_DT {
        Ok(())
    } else {
        Err(EngramError::Model(format!("{what}: NALSM is defined on a 1 ms grid, got dt = {dt} ms")))
    }
}

/// What a model file gives for the NALSM neuron (defaults: [`NalsmNeuronParams::paper`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NalsmNeuronParams {
    /// Leak time constant (steps, >= 1).
    pub tau_v: f64,
    /// Synaptic current time constant (steps, > 0).
    pub tau_u: f64,
    pub v_th: f64,
    /// Refractory period (ms, a whole number of steps).
    pub t_ref: f64,
    /// Constant bias current b.
    pub bias: f64,
    /// Clip of the steps-since-spike counter Δ (the repo's 100).
    pub delta_max: u32,
    /// Δ at the start of a sample (the repo's `t_lim` = 20, where e^-Δ/tau_u < 0.01).
    pub delta_initial: u32,
}

impl NalsmNeuronParams {
    /// tau_v = 64, tau_u = 1, v_th = 20, t_ref = 2 ms, b = 0, Δ clipped to 100, starting at 20.
    pub fn paper() -> NalsmNeuronParams {
        NalsmNeuronParams { tau_v: 64.0, tau_u: 1.0, v_th: 20.0, t_ref: 2.0, bias: 0.0, delta_max: 100, delta_initial: 20 }
    }

    pub fn validate(&self) -> Result<()> {
        check_positive("NALSM neuron", "tau_u", self.tau_u)?;
        if !(self.tau_v >= 1.0 && self.tau_v.is_finite()) {
            return Err(EngramError::Model(format!("NALSM neuron: `tau_v` must be >= 1 step, got {}", self.tau_v)));
        }
        if !(self.t_ref >= 0.0 && self.t_ref.fract() == 0.0 && self.t_ref <= u32::MAX as f64) {
            return Err(EngramError::Model(format!(
                "NALSM neuron: `t_ref` must be a whole number of 1 ms steps >= 0, got {}",
                self.t_ref
            )));
        }
        if !self.v_th.is_finite() || !self.bias.is_finite() {
            return Err(EngramError::Model("NALSM neuron: `v_th` and `bias` must be finite".into()));
        }
        if self.delta_max == 0 || self.delta_initial > self.delta_max {
            return Err(EngramError::Model(format!(
                "NALSM neuron: need 0 < delta_initial <= delta_max, got {} and {}",
                self.delta_initial, self.delta_max
            )));
        }
        Ok(())
    }

    /// Validates (dt must be 1 ms) and tabulates the PSC kernel exp(-Δ/tau_u)/tau_u.
    pub fn lower(&self, dt: f64) -> Result<NalsmNeuronConsts> {
        self.validate()?;
        check_nalsm_dt("NALSM neuron", dt)?;
        Ok(NalsmNeuronConsts {
            inv_tau_v: 1.0 / self.tau_v,
            v_th: self.v_th,
            ref_steps: self.t_ref as u32,
            bias: self.bias,
            kernel: (0..=self.delta_max).map(|d| (-(d as f64) / self.tau_u).exp() / self.tau_u).collect(),
            delta_max: self.delta_max,
            delta_initial: self.delta_initial,
        })
    }
}

/// Lowered NALSM neuron constants, with the PSC kernel tabulated for Δ = 0..=delta_max.
#[derive(Debug, Clone, PartialEq)]
pub struct NalsmNeuronConsts {
    inv_tau_v: f64,
    v_th: f64,
    ref_steps: u32,
    bias: f64,
    kernel: Vec<f64>,
    delta_max: u32,
    delta_initial: u32,
}

/// One neuron's state: membrane `v`, refractory steps left, steps since its last spike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NalsmNeuronState {
    pub v: f64,
    pub refractory: u32,
    pub delta: u32,
}

impl NalsmNeuronState {
    /// The state at the start of a sample: v = 0, not refractory, Δ = delta_initial.
    pub fn initial(c: &NalsmNeuronConsts) -> NalsmNeuronState {
        NalsmNeuronState { v: 0.0, refractory: 0, delta: c.delta_initial }
    }
}

/// Phases 1-3: whether the neuron spikes at this step's check; if so, v <- 0 and Δ <- 0.
#[inline]
pub fn threshold(c: &NalsmNeuronConsts, s: &mut NalsmNeuronState) -> bool {
    let spiked = s.refractory == 0 && s.v >= c.v_th;
    if spiked {
        s.v = 0.0;
        s.delta = 0;
    }
    spiked
}

/// The current a presynaptic neuron with counter `delta` sends through a unit weight,
/// exp(-Δ/tau_u)/tau_u.
#[inline]
pub fn psc(c: &NalsmNeuronConsts, delta: u32) -> f64 {
    c.kernel[delta.min(c.delta_max) as usize]
}

/// Phase 4: v <- v + syn + I_in + b - v/tau_v (the repo's sum order), with `syn` =
/// sum_j w_ij psc(Δ_j) over the neuron's incoming synapses.
#[inline]
pub fn integrate(c: &NalsmNeuronConsts, s: &mut NalsmNeuronState, syn: f64, i_in: f64) {
    s.v = s.v + syn + i_in + c.bias + -(s.v * c.inv_tau_v);
}

/// Phases 5-6: Δ <- min(Δ + 1, delta_max); refractory counter set on a spike, else counted
/// down.
#[inline]
pub fn end_step(c: &NalsmNeuronConsts, s: &mut NalsmNeuronState, spiked: bool) {
    s.delta = (s.delta + 1).min(c.delta_max);
    s.refractory = if spiked { c.ref_steps } else { s.refractory.saturating_sub(1) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consts() -> NalsmNeuronConsts {
        NalsmNeuronParams::paper().lower(1.0).unwrap()
    }

    /// Steps (from 0) at which a lone neuron under constant drive `i` spikes, over `n` steps.
    fn spike_steps(c: &NalsmNeuronConsts, i: impl Fn(usize) -> f64, n: usize) -> Vec<usize> {
        let mut s = NalsmNeuronState { v: 0.0, ..NalsmNeuronState::initial(c) };
        let mut out = Vec::new();
        for step in 0..n {
            let spiked = threshold(c, &mut s);
            if spiked {
                out.push(step);
            }
            integrate(c, &mut s, 0.0, i(step));
            end_step(c, &mut s, spiked);
        }
        out
    }

    #[test]
    fn constant_drive_0_35_first_spikes_at_step_142() {
        let c = consts();
        assert_eq!(spike_steps(&c, |_| 0.35, 200).first(), Some(&142));
        // v_n = 64 I (1 - (63/64)^n) crosses 20 between n = 141 and 142.
        let v = |n: i32| 64.0 * 0.35 * (1.0 - (63.0f64 / 64.0).powi(n));
        assert!(v(141) < 20.0 && v(142) >= 20.0);
    }

    #[test]
    fn drive_at_or_below_20_over_64_never_fires() {
        let c = consts();
        for i in [0.3125, 0.31, 0.2, 0.0] {
            assert!(spike_steps(&c, |_| i, 100_000).is_empty(), "I = {i}");
        }
    }

    #[test]
    fn one_input_event_fires_an_input_neuron_at_the_next_check() {
        let c = consts();
        assert_eq!(spike_steps(&c, |step| if step == 7 { 100.0 } else { 0.0 }, 50), vec![8]);
    }

    #[test]
    fn refractory_neurons_integrate_but_spike_again_only_after_t_ref_steps() {
        // Input 100 every step: spikes at 1, then 4, 7, ... (t_ref = 2 masks two checks).
        let c = consts();
        let steps = spike_steps(&c, |_| 100.0, 12);
        assert_eq!(steps, vec![1, 4, 7, 10]);
    }

    #[test]
    fn psc_kernel_sums_to_1_581977_per_unit_weight() {
        let c = consts();
        assert_eq!(psc(&c, 0), 1.0);
        let total: f64 = (0..=100).map(|d| psc(&c, d)).sum();
        assert!((total - 1.581977).abs() < 1e-6, "{total}");
        assert_eq!(psc(&c, 500), psc(&c, 100), "Δ is clipped");
    }

    #[test]
    fn bad_parameters_and_other_grids_are_refused() {
        let p = NalsmNeuronParams::paper();
        assert!(p.lower(0.5).is_err());
        for bad in [
            NalsmNeuronParams { tau_v: 0.5, ..p.clone() },
            NalsmNeuronParams { tau_u: 0.0, ..p.clone() },
            NalsmNeuronParams { t_ref: 1.5, ..p.clone() },
            NalsmNeuronParams { t_ref: -1.0, ..p.clone() },
            NalsmNeuronParams { delta_initial: 101, ..p.clone() },
        ] {
            assert!(bad.lower(1.0).is_err(), "{bad:?}");
        }
    }
}
