//! Hodgkin-Huxley neuron: the classic squid axon (Hodgkin & Huxley 1952, J Physiol 117:500)
//! and the Traub-Miles cell of the COBAHH benchmark (Traub & Miles 1991; Brette et al. 2007,
//! benchmark 3).
//!
//! ```text
//! C_m dV/dt = -g_L (V - E_L) - g_Na m^3 h (V - E_Na) - g_K n^4 (V - E_K) + I_syn(V) + I_e + I_ext
//! dx/dt     = alpha_x(V) (1 - x) - beta_x(V) x         for x in m, h, n
//! ```
//! Rate functions (V in mV, rates in 1/ms), `kinetics = "classic"`:
//! `alpha_m = 0.1 (V+40)/(1 - e^{-(V+40)/10})`, `beta_m = 4 e^{-(V+65)/18}`,
//! `alpha_h = 0.07 e^{-(V+65)/20}`, `beta_h = 1/(1 + e^{-(V+35)/10})`,
//! `alpha_n = 0.01 (V+55)/(1 - e^{-(V+55)/10})`, `beta_n = 0.125 e^{-(V+65)/80}`.
//! `kinetics = "traub_miles"`, with `V' = V - V_T`:
//! `alpha_m = 0.32 (13-V')/(e^{(13-V')/4} - 1)`, `beta_m = 0.28 (V'-40)/(e^{(V'-40)/5} - 1)`,
//! `alpha_h = 0.128 e^{(17-V')/18}`, `beta_h = 4/(1 + e^{(40-V')/5})`,
//! `alpha_n = 0.032 (15-V')/(e^{(15-V')/5} - 1)`, `beta_n = 0.5 e^{(10-V')/40}`.
//! The removable singularities are evaluated through their limits.
//!
//! Integration: exponential Euler for every variable (each is linear in itself given the
//! others), all from the start-of-step state, as Brian2's `exponential_euler`.
//! A spike is an upward crossing of `v_spike` (default 0 mV classic, -20 mV Traub-Miles);
//! there is no reset.

use serde::Serialize;

use super::{RefractoryEnd, StepInput, check_non_negative, check_positive};
use crate::error::Result;
use crate::spec::reader::TableReader;
use crate::units::Dim;

pub const VARS: &[&str] = &["v", "m", "h", "n"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kinetics {
    Classic,
    TraubMiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct HhParams {
    pub kinetics: Kinetics,
    pub c_m: f64,
    pub g_na: f64,
    pub g_k: f64,
    pub g_l: f64,
    pub e_na: f64,
    pub e_k: f64,
    pub e_l: f64,
    /// Voltage offset of the Traub-Miles rate functions.
    pub v_t: f64,
    pub v_spike: f64,
    pub t_ref: f64,
    pub i_e: f64,
}

impl HhParams {
    pub fn read(r: &TableReader) -> Result<Self> {
        let kinetics = match r.opt_str("kinetics")? {
            None | Some(("classic", _)) => Kinetics::Classic,
            Some(("traub_miles", _)) => Kinetics::TraubMiles,
            Some((other, span)) => {
                return Err(r.error_at("kinetics", span, format!("unknown kinetics `{other}` (expected classic or traub_miles)")));
            }
        };
        let default_spike = if kinetics == Kinetics::Classic { 0.0 } else { -20.0 };
        let p = HhParams {
            kinetics,
            c_m: r.req_quantity("c_m", Dim::CAPACITANCE)?,
            g_na: r.req_quantity("g_na", Dim::CONDUCTANCE)?,
            g_k: r.req_quantity("g_k", Dim::CONDUCTANCE)?,
            g_l: r.req_quantity("g_l", Dim::CONDUCTANCE)?,
            e_na: r.req_quantity("e_na", Dim::VOLTAGE)?,
            e_k: r.req_quantity("e_k", Dim::VOLTAGE)?,
            e_l: r.req_quantity("e_l", Dim::VOLTAGE)?,
            v_t: r.quantity_or("v_t", Dim::VOLTAGE, -63.0)?,
            v_spike: r.quantity_or("v_spike", Dim::VOLTAGE, default_spike)?,
            t_ref: r.quantity_or("t_ref", Dim::TIME, 0.0)?,
            i_e: r.quantity_or("i_e", Dim::CURRENT, 0.0)?,
        };
        check_positive(r, "c_m", p.c_m)?;
        check_non_negative(r, "g_na", p.g_na)?;
        check_non_negative(r, "g_k", p.g_k)?;
        check_non_negative(r, "g_l", p.g_l)?;
        check_non_negative(r, "t_ref", p.t_ref)?;
        Ok(p)
    }

    pub fn lower(&self, dt: f64) -> HhConsts {
        HhConsts { p: self.clone(), dt, ref_steps: super::refractory_steps(self.t_ref, dt) }
    }

    /// Without `init`, V starts at rest: -65 mV for the classic cell (whose E_L of
    /// -54.387 mV is not its resting potential), E_L for Traub-Miles. Gates start at their
    /// steady state for the initial potential.
    pub fn initial(&self, var: &str, v: f64) -> f64 {
        let rates = self.rates(v);
        let steady = |(a, b): (f64, f64)| a / (a + b);
        match var {
            "v" if self.kinetics == Kinetics::Classic => -65.0,
            "v" => self.e_l,
            "m" => steady(rates[0]),
            "h" => steady(rates[1]),
            "n" => steady(rates[2]),
            _ => unreachable!("HH has no variable {var}"),
        }
    }

    /// (alpha, beta) for m, h, n at potential v.
    #[inline(always)]
    fn rates(&self, v: f64) -> [(f64, f64); 3] {
        match self.kinetics {
            Kinetics::Classic => [
                (0.1 * x_over_expm1(-(v + 40.0), 10.0), 4.0 * (-(v + 65.0) / 18.0).exp()),
                (0.07 * (-(v + 65.0) / 20.0).exp(), 1.0 / (1.0 + (-(v + 35.0) / 10.0).exp())),
                (0.01 * x_over_expm1(-(v + 55.0), 10.0), 0.125 * (-(v + 65.0) / 80.0).exp()),
            ],
            Kinetics::TraubMiles => {
                let u = v - self.v_t;
                [
                    (0.32 * x_over_expm1(13.0 - u, 4.0), 0.28 * x_over_expm1(u - 40.0, 5.0)),
                    (0.128 * ((17.0 - u) / 18.0).exp(), 4.0 / (1.0 + ((40.0 - u) / 5.0).exp())),
                    (0.032 * x_over_expm1(15.0 - u, 5.0), 0.5 * ((10.0 - u) / 40.0).exp()),
                ]
            }
        }
    }
}

/// `x / (exp(x/k) - 1)`, with its limit `k` at x = 0.
#[inline(always)]
fn x_over_expm1(x: f64, k: f64) -> f64 {
    let y = x / k;
    if y.abs() < 1e-9 { k * (1.0 - 0.5 * y) } else { x / y.exp_m1() }
}

#[derive(Debug, Clone)]
pub struct HhConsts {
    p: HhParams,
    dt: f64,
    ref_steps: i64,
}

pub fn step(c: &HhConsts, step: i64, vars: &mut [&mut [f64]], refractory: &mut [RefractoryEnd], input: &StepInput, spikes: &mut Vec<u32>) {
    let p = &c.p;
    let [v, m, h, n] = vars else { unreachable!("HH state is [v, m, h, n]") };
    for i in 0..v.len() {
        let held = super::is_refractory(refractory[i], step);
        let v_old = v[i] + input.v_jump(i);
        let (mi, hi, ni) = (m[i], h[i], n[i]);
        let rates = p.rates(v_old);
        for (x, (a, b)) in [&mut m[i], &mut h[i], &mut n[i]].into_iter().zip(rates) {
            let x_inf = a / (a + b);
            *x = x_inf + (*x - x_inf) * (-c.dt * (a + b)).exp();
        }
        let g_na = p.g_na * mi * mi * mi * hi;
        let g_k = p.g_k * ni * ni * ni * ni;
        let g_total = p.g_l + g_na + g_k + input.syn_b(i);
        let drive = p.g_l * p.e_l + g_na * p.e_na + g_k * p.e_k + input.syn_a[i] + p.i_e + input.i_ext[i];
        let v_inf = drive / g_total;
        let vi = v_inf + (v_old - v_inf) * (-c.dt * g_total / p.c_m).exp();
        if !held && v_old < p.v_spike && vi >= p.v_spike {
            refractory[i] = step + c.ref_steps;
            spikes.push(i as u32);
        }
        v[i] = vi;
    }
}
