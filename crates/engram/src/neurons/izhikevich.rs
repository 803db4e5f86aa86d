//! Izhikevich neuron (Izhikevich 2003, IEEE Trans Neural Netw 14:1569).
//!
//! ```text
//! dv/dt = 0.04 v^2 + 5 v + 140 - u + I / C_m      (v in mV, t in ms)
//! du/dt = a (b v - u)
//! v >= v_peak  ->  spike, v <- c, u <- u + d
//! ```
//! `I` is the total input current (synaptic, `i_e` and injected); `C_m` (default 1 nF)
//! converts it to mV/ms, so `i_e = "10 nA"` is the paper's I = 10.
//!
//! Two integration schemes, pinned because spike counts depend on them:
//! - `"euler"` (default): forward Euler at dt, threshold checked after the update.
//! - `"paper"`: the published code: two half steps of v, then u with the new v
//!   (`v += dt/2 f; v += dt/2 f; u += dt a (b v - u)`).

use serde::Serialize;

use super::{RefractoryEnd, Integration, StepInput, check_positive};
use crate::error::Result;
use crate::spec::reader::TableReader;
use crate::units::Dim;

pub const VARS: &[&str] = &["v", "u"];

#[derive(Debug, Clone, Serialize)]
pub struct IzhikevichParams {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
    pub v_peak: f64,
    pub c_m: f64,
    pub i_e: f64,
    pub t_ref: f64,
    pub integration: Integration,
}

impl IzhikevichParams {
    pub fn read(r: &TableReader) -> Result<Self> {
        let p = IzhikevichParams {
            a: r.req_quantity("a", Dim::RATE)?,
            b: r.req_quantity("b", Dim::RATE)?,
            c: r.req_quantity("c", Dim::VOLTAGE)?,
            d: r.req_quantity("d", Dim::VOLTAGE_RATE)?,
            v_peak: r.quantity_or("v_peak", Dim::VOLTAGE, 30.0)?,
            c_m: r.quantity_or("c_m", Dim::CAPACITANCE, 1.0)?,
            i_e: r.quantity_or("i_e", Dim::CURRENT, 0.0)?,
            t_ref: r.quantity_or("t_ref", Dim::TIME, 0.0)?,
            integration: Integration::read(r, &[Integration::Euler, Integration::Paper], Integration::Euler)?,
        };
        check_positive(r, "c_m", p.c_m)?;
        super::check_non_negative(r, "t_ref", p.t_ref)?;
        Ok(p)
    }

    pub fn lower(&self, dt: f64) -> IzhikevichConsts {
        IzhikevichConsts {
            dt,
            a: self.a,
            b: self.b,
            c: self.c,
            d: self.d,
            v_peak: self.v_peak,
            inv_c_m: 1.0 / self.c_m,
            i_e: self.i_e,
            ref_steps: super::refractory_steps(self.t_ref, dt),
            paper: self.integration == Integration::Paper,
        }
    }

    pub fn initial(&self, var: &str, v: f64) -> f64 {
        match var {
            "v" => -65.0,
            "u" => self.b * v,
            _ => unreachable!("Izhikevich has no variable {var}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct IzhikevichConsts {
    dt: f64,
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    v_peak: f64,
    inv_c_m: f64,
    i_e: f64,
    ref_steps: i64,
    paper: bool,
}

#[inline(always)]
fn dv(v: f64, u: f64, i: f64) -> f64 {
    0.04 * v * v + 5.0 * v + 140.0 - u + i
}

pub fn step(c: &IzhikevichConsts, step: i64, vars: &mut [&mut [f64]], refractory: &mut [RefractoryEnd], input: &StepInput, spikes: &mut Vec<u32>) {
    let [v, u] = vars else { unreachable!("Izhikevich state is [v, u]") };
    for i in 0..v.len() {
        if super::is_refractory(refractory[i], step) {
            continue;
        }
        let mut vi = v[i] + input.v_jump(i);
        let ui = u[i];
        let current = |v: f64| (c.i_e + input.i_ext[i] + input.syn_current(i, v)) * c.inv_c_m;
        if c.paper {
            vi += 0.5 * c.dt * dv(vi, ui, current(vi));
            vi += 0.5 * c.dt * dv(vi, ui, current(vi));
            u[i] = ui + c.dt * c.a * (c.b * vi - ui);
        } else {
            let v_old = vi;
            vi += c.dt * dv(v_old, ui, current(v_old));
            u[i] = ui + c.dt * c.a * (c.b * v_old - ui);
        }
        if vi >= c.v_peak {
            vi = c.c;
            u[i] += c.d;
            refractory[i] = step + c.ref_steps;
            spikes.push(i as u32);
        }
        v[i] = vi;
    }
}
