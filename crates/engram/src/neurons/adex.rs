//! Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005, J Neurophysiol 94:3637).
//!
//! ```text
//! C_m dV/dt   = -g_L (V - E_L) + g_L Delta_T exp((V - V_T)/Delta_T) - w + I_syn(V) + I_e + I_ext
//! tau_w dw/dt = a (V - E_L) - w
//! V >= V_peak  ->  spike, V <- V_reset, w <- w + b, held for t_ref
//! ```
//! Integration: forward Euler for V and w, both from the start-of-step state. The exponent
//! is capped at 50 so that an overshooting step stays finite before the reset.

use serde::Serialize;

use super::{RefractoryEnd, Integration, StepInput, check_non_negative, check_positive};
use crate::error::Result;
use crate::spec::reader::TableReader;
use crate::units::Dim;

pub const VARS: &[&str] = &["v", "w"];

#[derive(Debug, Clone, Serialize)]
pub struct AdexParams {
    pub c_m: f64,
    pub g_l: f64,
    pub e_l: f64,
    pub v_t: f64,
    pub delta_t: f64,
    pub tau_w: f64,
    pub a: f64,
    pub b: f64,
    pub v_reset: f64,
    pub v_peak: f64,
    pub t_ref: f64,
    pub i_e: f64,
}

impl AdexParams {
    pub fn read(r: &TableReader) -> Result<Self> {
        let p = AdexParams {
            c_m: r.req_quantity("c_m", Dim::CAPACITANCE)?,
            g_l: r.req_quantity("g_l", Dim::CONDUCTANCE)?,
            e_l: r.req_quantity("e_l", Dim::VOLTAGE)?,
            v_t: r.req_quantity("v_t", Dim::VOLTAGE)?,
            delta_t: r.req_quantity("delta_t", Dim::VOLTAGE)?,
            tau_w: r.req_quantity("tau_w", Dim::TIME)?,
            a: r.req_quantity("a", Dim::CONDUCTANCE)?,
            b: r.req_quantity("b", Dim::CURRENT)?,
            v_reset: r.req_quantity("v_reset", Dim::VOLTAGE)?,
            v_peak: r.req_quantity("v_peak", Dim::VOLTAGE)?,
            t_ref: r.quantity_or("t_ref", Dim::TIME, 0.0)?,
            i_e: r.quantity_or("i_e", Dim::CURRENT, 0.0)?,
        };
        Integration::read(r, &[Integration::Euler], Integration::Euler)?;
        check_positive(r, "c_m", p.c_m)?;
        check_positive(r, "g_l", p.g_l)?;
        check_positive(r, "delta_t", p.delta_t)?;
        check_positive(r, "tau_w", p.tau_w)?;
        check_non_negative(r, "t_ref", p.t_ref)?;
        Ok(p)
    }

    pub fn lower(&self, dt: f64) -> AdexConsts {
        AdexConsts {
            p: self.clone(),
            dt,
            ref_steps: super::refractory_steps(self.t_ref, dt),
        }
    }

    pub fn initial(&self, var: &str) -> f64 {
        match var {
            "v" => self.e_l,
            "w" => 0.0,
            _ => unreachable!("AdEx has no variable {var}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AdexConsts {
    p: AdexParams,
    dt: f64,
    ref_steps: i64,
}

pub fn step(c: &AdexConsts, step: i64, vars: &mut [&mut [f64]], refractory: &mut [RefractoryEnd], input: &StepInput, spikes: &mut Vec<u32>) {
    let p = &c.p;
    let [v, w] = vars else { unreachable!("AdEx state is [v, w]") };
    for i in 0..v.len() {
        let held = super::is_refractory(refractory[i], step);
        let v_old = if held { v[i] } else { v[i] + input.v_jump(i) };
        let w_old = w[i];
        w[i] = w_old + c.dt / p.tau_w * (p.a * (v_old - p.e_l) - w_old);
        if held {
            continue;
        }
        let spike_current = p.g_l * p.delta_t * ((v_old - p.v_t) / p.delta_t).min(50.0).exp();
        let i_total = -p.g_l * (v_old - p.e_l) + spike_current - w_old
            + p.i_e
            + input.i_ext[i]
            + input.syn_current(i, v_old);
        let mut vi = v_old + c.dt / p.c_m * i_total;
        if vi >= p.v_peak {
            vi = p.v_reset;
            w[i] += p.b;
            refractory[i] = step + c.ref_steps;
            spikes.push(i as u32);
        }
        v[i] = vi;
    }
}
