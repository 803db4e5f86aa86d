//! Adaptive leaky integrate-and-fire neuron: an adaptation current and an adaptive threshold.
//!
//! ```text
//! C_m dV/dt   = -g_L (V - E_L) - w + I_syn(V) + I_e + I_ext,   g_L = C_m / tau_m
//! tau_w dw/dt = a (V - E_L) - w                 (spike: w <- w + b)
//! tau_th dth/dt = -th                           (spike: th <- th + th_jump)
//! V >= V_th + th  ->  spike, V <- V_reset, held for t_ref
//! ```
//! Integration is exponential Euler: V exactly with w and the input held over the step,
//! then w exactly with V held at its start-of-step value, then th decays exactly.
//! With `th_jump = beta (1 - exp(-dt/tau_th))` the threshold is the ALIF/LSNN rule
//! `A = b0 + beta a`, `a <- rho a + (1 - rho) z` of Bellec et al. (2018, NeurIPS).
//! The adaptation current is that of Brette & Gerstner (2005) without the exponential term.

use serde::Serialize;

use super::{RefractoryEnd, Integration, StepInput, check_non_negative, check_positive};
use crate::error::Result;
use crate::spec::reader::TableReader;
use crate::units::Dim;

pub const VARS: &[&str] = &["v", "w", "th"];

#[derive(Debug, Clone, Serialize)]
pub struct AdaptiveLifParams {
    pub c_m: f64,
    pub tau_m: f64,
    pub e_l: f64,
    pub v_th: f64,
    pub v_reset: f64,
    pub t_ref: f64,
    pub i_e: f64,
    /// Subthreshold adaptation conductance.
    pub a: f64,
    /// Spike-triggered adaptation current increment.
    pub b: f64,
    pub tau_w: f64,
    pub th_jump: f64,
    pub tau_th: f64,
}

impl AdaptiveLifParams {
    pub fn read(r: &TableReader) -> Result<Self> {
        let p = AdaptiveLifParams {
            c_m: r.req_quantity("c_m", Dim::CAPACITANCE)?,
            tau_m: r.req_quantity("tau_m", Dim::TIME)?,
            e_l: r.req_quantity("e_l", Dim::VOLTAGE)?,
            v_th: r.req_quantity("v_th", Dim::VOLTAGE)?,
            v_reset: r.req_quantity("v_reset", Dim::VOLTAGE)?,
            t_ref: r.quantity_or("t_ref", Dim::TIME, 0.0)?,
            i_e: r.quantity_or("i_e", Dim::CURRENT, 0.0)?,
            a: r.quantity_or("a", Dim::CONDUCTANCE, 0.0)?,
            b: r.quantity_or("b", Dim::CURRENT, 0.0)?,
            tau_w: r.quantity_or("tau_w", Dim::TIME, 100.0)?,
            th_jump: r.quantity_or("th_jump", Dim::VOLTAGE, 0.0)?,
            tau_th: r.quantity_or("tau_th", Dim::TIME, 100.0)?,
        };
        Integration::read(r, &[Integration::Exact], Integration::Exact)?;
        check_positive(r, "c_m", p.c_m)?;
        check_positive(r, "tau_m", p.tau_m)?;
        check_positive(r, "tau_w", p.tau_w)?;
        check_positive(r, "tau_th", p.tau_th)?;
        check_non_negative(r, "t_ref", p.t_ref)?;
        Ok(p)
    }

    pub fn lower(&self, dt: f64) -> AdaptiveLifConsts {
        AdaptiveLifConsts {
            dt,
            c_m: self.c_m,
            g_l: self.c_m / self.tau_m,
            e_l: self.e_l,
            v_th: self.v_th,
            v_reset: self.v_reset,
            i_e: self.i_e,
            a: self.a,
            b: self.b,
            th_jump: self.th_jump,
            ref_steps: super::refractory_steps(self.t_ref, dt),
            w_decay: (-dt / self.tau_w).exp(),
            th_decay: (-dt / self.tau_th).exp(),
        }
    }

    pub fn initial(&self, var: &str) -> f64 {
        match var {
            "v" => self.e_l,
            "w" | "th" => 0.0,
            _ => unreachable!("adaptive LIF has no variable {var}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AdaptiveLifConsts {
    dt: f64,
    c_m: f64,
    g_l: f64,
    e_l: f64,
    v_th: f64,
    v_reset: f64,
    i_e: f64,
    a: f64,
    b: f64,
    th_jump: f64,
    ref_steps: i64,
    w_decay: f64,
    th_decay: f64,
}

pub fn step(c: &AdaptiveLifConsts, step: i64, vars: &mut [&mut [f64]], refractory: &mut [RefractoryEnd], input: &StepInput, spikes: &mut Vec<u32>) {
    let [v, w, th] = vars else { unreachable!("adaptive LIF state is [v, w, th]") };
    for i in 0..v.len() {
        let v_old = v[i];
        let w_inf = c.a * (v_old - c.e_l);
        let w_old = w[i];
        w[i] = w_inf + (w_old - w_inf) * c.w_decay;
        th[i] *= c.th_decay;
        if super::is_refractory(refractory[i], step) {
            continue;
        }
        let vi = v_old + input.v_jump(i);
        let g = c.g_l + input.syn_b(i);
        let v_inf = (c.g_l * c.e_l + c.i_e + input.i_ext[i] + input.syn_a[i] - w_old) / g;
        let mut vi = v_inf + (vi - v_inf) * (-c.dt * g / c.c_m).exp();
        if vi >= c.v_th + th[i] {
            vi = c.v_reset;
            w[i] += c.b;
            th[i] += c.th_jump;
            refractory[i] = step + c.ref_steps;
            spikes.push(i as u32);
        }
        v[i] = vi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_follows_the_alif_recursion() {
        // Spec 9.4: b0 = 1, beta = 1, rho = 0.9, forced spikes at steps 0 and 1: A_2 = 1.19.
        let dt = 1.0;
        let tau_th = -dt / 0.9f64.ln();
        let p = AdaptiveLifParams {
            c_m: 1.0,
            tau_m: 1e9,
            e_l: 0.0,
            v_th: 1.0,
            v_reset: 0.0,
            t_ref: 0.0,
            i_e: 0.0,
            a: 0.0,
            b: 0.0,
            tau_w: 100.0,
            th_jump: 1.0 * (1.0 - 0.9),
            tau_th,
        };
        let c = p.lower(dt);
        let mut vars = vec![vec![0.0], vec![0.0], vec![0.0]];
        let mut refr = vec![0];
        let zero = [0.0];
        let mut spikes = Vec::new();
        // A jump of 10 mV forces a spike regardless of the current threshold.
        let kick = [10.0];
        let forced = StepInput::new(&zero, &zero, &zero, &kick, false, true);
        step(&c, 0, &mut crate::neurons::views(&mut vars), &mut refr, &forced, &mut spikes);
        assert!((vars[2][0] - 0.1).abs() < 1e-12);
        step(&c, 1, &mut crate::neurons::views(&mut vars), &mut refr, &forced, &mut spikes);
        assert_eq!(spikes, vec![0, 0]);
        assert!((c.v_th + vars[2][0] - 1.19).abs() < 1e-12, "A_2 = {}", c.v_th + vars[2][0]);
    }

    #[test]
    fn spike_triggered_current_decays_with_tau_w() {
        let p = AdaptiveLifParams {
            c_m: 0.2,
            tau_m: 20.0,
            e_l: -70.0,
            v_th: -50.0,
            v_reset: -70.0,
            t_ref: 0.0,
            i_e: 0.0,
            a: 0.0,
            b: 0.05,
            tau_w: 100.0,
            th_jump: 0.0,
            tau_th: 100.0,
        };
        let c = p.lower(0.1);
        let mut vars = vec![vec![-70.0], vec![0.05], vec![0.0]];
        let mut refr = vec![0];
        let zero = [0.0];
        let input = StepInput::current_only(&zero, &zero);
        for t in 0..1000 {
            step(&c, t, &mut crate::neurons::views(&mut vars), &mut refr, &input, &mut Vec::new());
        }
        let expected = 0.05 * (-100.0f64 / 100.0).exp();
        assert!((vars[1][0] - expected).abs() < 1e-12);
        assert!(vars[0][0] < -70.0, "the adaptation current hyperpolarises");
    }
}
