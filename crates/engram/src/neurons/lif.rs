//! Leaky integrate-and-fire neuron, current- or conductance-based through its synapses.
//!
//! ```text
//! C_m dV/dt = -g_L (V - E_L) + I_syn(V) + I_e + I_ext,     g_L = C_m / tau_m
//! I_syn(V)  = sum_current I_k + sum_conductance g_k (E_k - V)   (= a - b V)
//! V >= V_th  ->  spike, V <- V_reset, V clamped for t_ref
//! ```
//! `integration = "exact"` (default) integrates the linear equation exactly over a step with
//! the synaptic input held at its value at the start of the step:
//! `V(t+dt) = V_inf + (V - V_inf) exp(-dt (g_L + b) / C_m)`, `V_inf = (g_L E_L + a + I)/(g_L + b)`.
//! With current-based input only (b = 0) the propagator is a constant. `"euler"` is the
//! forward-Euler step Brian2 uses in the COBA benchmark.
//!
//! Lapicque (1907); Brette et al. (2007) J Comput Neurosci 23:349 (benchmarks 1 and 2).

use serde::Serialize;

use super::threshold::{Reset, fused_exp_loop, threshold_loop};
use super::{RefractoryEnd, Integration, StepInput, check_positive};
use crate::synapses::ExpInput;
use crate::error::Result;
use crate::spec::reader::TableReader;
use crate::units::Dim;

pub const VARS: &[&str] = &["v"];

#[derive(Debug, Clone, Serialize)]
pub struct LifParams {
    pub c_m: f64,
    pub tau_m: f64,
    pub e_l: f64,
    pub v_th: f64,
    pub v_reset: f64,
    pub t_ref: f64,
    pub i_e: f64,
    pub integration: Integration,
}

impl LifParams {
    pub fn read(r: &TableReader) -> Result<Self> {
        let p = LifParams {
            c_m: r.req_quantity("c_m", Dim::CAPACITANCE)?,
            tau_m: r.req_quantity("tau_m", Dim::TIME)?,
            e_l: r.req_quantity("e_l", Dim::VOLTAGE)?,
            v_th: r.req_quantity("v_th", Dim::VOLTAGE)?,
            v_reset: r.req_quantity("v_reset", Dim::VOLTAGE)?,
            t_ref: r.quantity_or("t_ref", Dim::TIME, 0.0)?,
            i_e: r.quantity_or("i_e", Dim::CURRENT, 0.0)?,
            integration: Integration::read(r, &[Integration::Exact, Integration::Euler], Integration::Exact)?,
        };
        check_positive(r, "c_m", p.c_m)?;
        check_positive(r, "tau_m", p.tau_m)?;
        super::check_non_negative(r, "t_ref", p.t_ref)?;
        Ok(p)
    }

    pub fn lower(&self, dt: f64) -> LifConsts {
        let g_l = self.c_m / self.tau_m;
        LifConsts {
            dt,
            c_m: self.c_m,
            g_l,
            e_l: self.e_l,
            v_th: self.v_th,
            v_reset: self.v_reset,
            i_e: self.i_e,
            ref_steps: super::refractory_steps(self.t_ref, dt),
            decay: (-dt / self.tau_m).exp(),
            r_m: 1.0 / g_l,
            euler: self.integration == Integration::Euler,
            dt_over_c: dt / self.c_m,
            rest_current: g_l * self.e_l + self.i_e,
        }
    }

    pub fn initial(&self, var: &str) -> f64 {
        match var {
            "v" => self.e_l,
            _ => unreachable!("LIF has no variable {var}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LifConsts {
    dt: f64,
    c_m: f64,
    g_l: f64,
    e_l: f64,
    v_th: f64,
    v_reset: f64,
    i_e: f64,
    ref_steps: i64,
    /// exp(-dt / tau_m), the propagator without conductance input.
    decay: f64,
    r_m: f64,
    euler: bool,
    /// dt / C_m and g_L E_L + I_e: the forward-Euler step is
    /// `V + dt/C_m ((g_L E_L + I_e + I_ext + a) - (g_L + b) V)`.
    dt_over_c: f64,
    rest_current: f64,
}

impl LifConsts {
    fn reset(&self) -> Reset {
        Reset { v_th: self.v_th, v_reset: self.v_reset, ref_steps: self.ref_steps }
    }

    #[inline(always)]
    fn euler(&self, v: f64, a: f64, b: f64, i: f64) -> f64 {
        let current = (-(self.g_l + b)).mul_add(v, self.rest_current + i + a);
        self.dt_over_c.mul_add(current, v)
    }

    /// The exact step, with (`conductance`) or without conductance input.
    #[inline(always)]
    fn exact(&self, conductance: bool, v: f64, a: f64, b: f64, i: f64) -> f64 {
        if conductance { self.exact_conductance(v, a, b, i) } else { self.exact_current(v, a, b, i) }
    }

    #[inline(always)]
    fn exact_conductance(&self, v: f64, a: f64, b: f64, i: f64) -> f64 {
        let g = self.g_l + b;
        let v_inf = (self.g_l * self.e_l + self.i_e + i + a) / g;
        v_inf + (v - v_inf) * (-self.dt * g / self.c_m).exp()
    }

    #[inline(always)]
    fn exact_current(&self, v: f64, a: f64, _b: f64, i: f64) -> f64 {
        let v_inf = self.e_l + (self.i_e + i + a) * self.r_m;
        v_inf + (v - v_inf) * self.decay
    }
}

/// Advances every neuron by one step; pushes local indices of spiking neurons.
/// One loop per integration mode, so that each vectorises.
pub fn step(c: &LifConsts, step: i64, vars: &mut [&mut [f64]], refractory: &mut [RefractoryEnd], input: &StepInput, spikes: &mut Vec<u32>) {
    let [v] = vars else { unreachable!("LIF state is [v]") };
    if c.euler {
        threshold_loop(step, v, refractory, input, c.reset(), spikes, |v, a, b, i| c.euler(v, a, b, i));
    } else if input.conductance {
        threshold_loop(step, v, refractory, input, c.reset(), spikes, |v, a, b, i| c.exact_conductance(v, a, b, i));
    } else {
        threshold_loop(step, v, refractory, input, c.reset(), spikes, |v, a, b, i| c.exact_current(v, a, b, i));
    }
}

/// [`step`] for a population whose synapses are the `C` exponential `channels`, the first
/// `COND` conductance-based, advanced inside the neuron loop; `i_ext` is None where no
/// current is injected. Gives the same numbers as the channels' `advance` followed by
/// [`step`].
pub fn step_fused<const C: usize, const COND: usize>(
    c: &LifConsts,
    step: i64,
    v: &mut [f64],
    refractory: &mut [RefractoryEnd],
    i_ext: Option<&[f64]>,
    channels: [ExpInput; C],
    spikes: &mut Vec<u32>,
) {
    let (r, reset) = (refractory, c.reset());
    match (i_ext, c.euler) {
        (Some(i), true) => fused_exp_loop::<C, COND, true>(step, v, r, i, channels, reset, spikes, |v, a, b, i| c.euler(v, a, b, i)),
        (None, true) => fused_exp_loop::<C, COND, false>(step, v, r, &[], channels, reset, spikes, |v, a, b, i| c.euler(v, a, b, i)),
        (Some(i), false) => fused_exp_loop::<C, COND, true>(step, v, r, i, channels, reset, spikes, |v, a, b, i| c.exact(COND > 0, v, a, b, i)),
        (None, false) => fused_exp_loop::<C, COND, false>(step, v, r, &[], channels, reset, spikes, |v, a, b, i| c.exact(COND > 0, v, a, b, i)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(integration: Integration) -> LifParams {
        LifParams {
            c_m: 1.0,
            tau_m: 10.0,
            e_l: -65.0,
            v_th: -50.0,
            v_reset: -65.0,
            t_ref: 2.0,
            i_e: 0.0,
            integration,
        }
    }

    #[test]
    fn exact_step_matches_the_analytic_decay_at_any_dt() {
        for dt in [0.01, 0.1, 1.0, 5.0] {
            let c = params(Integration::Exact).lower(dt);
            let mut vars = vec![vec![-55.0]];
            let mut refr = vec![0];
            let zero = [0.0];
            let input = StepInput::current_only(&zero, &zero);
            let steps = (50.0 / dt).round() as usize;
            for t in 0..steps {
                step(&c, t as i64, &mut crate::neurons::views(&mut vars), &mut refr, &input, &mut Vec::new());
            }
            let analytic = -65.0 + 10.0 * (-50.0f64 / 10.0).exp();
            assert!((vars[0][0] - analytic).abs() < 1e-12, "dt {dt}: {} vs {analytic}", vars[0][0]);
        }
    }

    #[test]
    fn refractory_neuron_holds_its_reset_value() {
        let c = params(Integration::Exact).lower(0.1);
        let mut vars = vec![vec![-49.0]];
        let mut refr = vec![0];
        let drive = [10.0];
        let zero = [0.0];
        let input = StepInput::current_only(&zero, &drive);
        let mut spikes = Vec::new();
        step(&c, 0, &mut crate::neurons::views(&mut vars), &mut refr, &input, &mut spikes);
        assert_eq!(spikes, vec![0]);
        for t in 1..20 {
            step(&c, t, &mut crate::neurons::views(&mut vars), &mut refr, &input, &mut spikes);
            assert_eq!(vars[0][0], -65.0);
        }
        step(&c, 20, &mut crate::neurons::views(&mut vars), &mut refr, &input, &mut spikes);
        assert!(vars[0][0] > -65.0, "integration resumes t_ref after the spike");
    }
}
