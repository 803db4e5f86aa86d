//! Tsodyks-Markram short-term plasticity, event-based form (Tsodyks, Pawelzik & Markram 1998,
//! Neural Comput 10:821; Markram, Wang & Tsodyks 1998, PNAS 95:5323; spec §9.9).
//!
//! ```text
//! between spikes:  tau_rec dx/dt = 1 - x,   tau_fac du/dt = -u
//! at a spike, Δ after the previous one:
//!   1. recover      x <- 1 - (1 - x) exp(-Δ/tau_rec)
//!   2. decay        u <- u exp(-Δ/tau_fac)
//!   3. facilitate   u <- u + U (1 - u)                 (tau_fac = 0: u = U at every spike)
//!   4. efficacy     u x          (the PSC amplitude is A u x, A the synaptic weight)
//!   5. deplete      x <- x - u x
//! ```
//! Units: times in ms; `U`, `u`, `x` dimensionless in [0, 1]. Before its first spike a synapse
//! is fully recovered (x = 1, u = 0), so the first efficacy is `U`.
//!
//! The state ([`TsodyksState`]) is per synapse and is touched only at the synapse's
//! presynaptic spikes (arrival times, so heterogeneous delays need nothing special). The
//! canonical sets are those of NEST's `test_tsodyks_depressing.sli` / `..._facilitating.sli`;
//! their amplitudes (250 pA, 1540 pA) and PSC time constants (3 ms, 1.5 ms) belong to the
//! synapse's weight and current kernel, not to this rule.

use serde::Serialize;

use super::check_positive;
use crate::error::{EngramError, Result};
use crate::spec::reader::TableReader;
use crate::units::Dim;

/// What a model file gives for Tsodyks-Markram short-term plasticity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TsodyksParams {
    /// Utilisation increment U, in (0, 1].
    pub u: f64,
    /// Recovery time constant of the resources x (ms, > 0).
    pub tau_rec: f64,
    /// Facilitation time constant of u (ms, >= 0; 0 means no facilitation: u = U).
    pub tau_fac: f64,
}

impl TsodyksParams {
    /// The depressing set: U = 0.5, tau_rec = 800 ms, tau_fac = 0.
    pub fn depressing() -> TsodyksParams {
        TsodyksParams { u: 0.5, tau_rec: 800.0, tau_fac: 0.0 }
    }

    /// The facilitating set: U = 0.03, tau_rec = 130 ms, tau_fac = 530 ms.
    pub fn facilitating() -> TsodyksParams {
        TsodyksParams { u: 0.03, tau_rec: 130.0, tau_fac: 530.0 }
    }

    /// Reads the `plasticity` table of a projection: `u` (in (0, 1]), `tau_rec` (time, > 0)
    /// and `tau_fac` (time, >= 0, default 0: no facilitation).
    pub fn read(r: &TableReader) -> Result<TsodyksParams> {
        let p = TsodyksParams {
            u: r.req_quantity("u", Dim::DIMENSIONLESS)?,
            tau_rec: r.req_quantity("tau_rec", Dim::TIME)?,
            tau_fac: r.quantity_or("tau_fac", Dim::TIME, 0.0)?,
        };
        if !(p.u > 0.0 && p.u <= 1.0) {
            return Err(r.field_error("u", format!("`u` must be in (0, 1], got {}", p.u)));
        }
        if p.tau_rec <= 0.0 || p.tau_rec.is_nan() {
            return Err(r.field_error("tau_rec", format!("`tau_rec` must be positive, got {} ms", p.tau_rec)));
        }
        if p.tau_fac < 0.0 || p.tau_fac.is_nan() {
            return Err(r.field_error("tau_fac", format!("`tau_fac` must not be negative (0: no facilitation), got {} ms", p.tau_fac)));
        }
        Ok(p)
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.u > 0.0 && self.u <= 1.0) {
            return Err(EngramError::Model(format!("Tsodyks-Markram: `U` must be in (0, 1], got {}", self.u)));
        }
        check_positive("Tsodyks-Markram", "tau_rec", self.tau_rec)?;
        if !(self.tau_fac >= 0.0 && self.tau_fac.is_finite()) {
            return Err(EngramError::Model(format!(
                "Tsodyks-Markram: `tau_fac` must be >= 0 (0: no facilitation), got {}",
                self.tau_fac
            )));
        }
        Ok(())
    }

    pub fn lower(&self) -> Result<TsodyksConsts> {
        self.validate()?;
        Ok(TsodyksConsts {
            u: self.u,
            inv_tau_rec: 1.0 / self.tau_rec,
            inv_tau_fac: if self.tau_fac > 0.0 { 1.0 / self.tau_fac } else { 0.0 },
            facilitating: self.tau_fac > 0.0,
        })
    }

    /// The efficacy `u x` a regular train of period `delta` (ms) settles to.
    ///
    /// With `u* = U / (1 - (1 - U) e_f)` (u after facilitation, `e_f = exp(-Δ/τ_fac)`, 0 if
    /// τ_fac = 0) and `x* = (1 - e_r) / (1 - (1 - u*) e_r)` (x before the spike,
    /// `e_r = exp(-Δ/τ_rec)`); for τ_fac = 0 this is `U (1 - e_r) / (1 - (1 - U) e_r)`.
    pub fn steady_state_efficacy(&self, delta: f64) -> f64 {
        let e_r = (-delta / self.tau_rec).exp();
        let e_f = if self.tau_fac > 0.0 { (-delta / self.tau_fac).exp() } else { 0.0 };
        let u = self.u / (1.0 - (1.0 - self.u) * e_f);
        let x = (1.0 - e_r) / (1.0 - (1.0 - u) * e_r);
        u * x
    }
}

/// Lowered Tsodyks-Markram constants.
#[derive(Debug, Clone, PartialEq)]
pub struct TsodyksConsts {
    u: f64,
    inv_tau_rec: f64,
    inv_tau_fac: f64,
    facilitating: bool,
}

/// The per-synapse state: resources `x`, utilisation `u` (just after the last spike) and
/// the time of the last spike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TsodyksState {
    pub u: f64,
    pub x: f64,
    /// Time of the last presynaptic spike (ms); -inf before the first.
    pub t_last: f64,
}

impl Default for TsodyksState {
    fn default() -> Self {
        TsodyksState { u: 0.0, x: 1.0, t_last: f64::NEG_INFINITY }
    }
}

/// A presynaptic spike arriving at `t` (>= the last one): returns the efficacy `u x` that
/// scales this spike's PSC, and leaves the state depleted for the next one.
#[inline]
pub fn on_spike(c: &TsodyksConsts, s: &mut TsodyksState, t: f64) -> f64 {
    let delta = t - s.t_last;
    // exp(-inf) = 0 before the first spike: fully recovered, no facilitation left.
    let x = 1.0 - (1.0 - s.x) * (-delta * c.inv_tau_rec).exp();
    let u = if c.facilitating {
        let decayed = s.u * (-delta * c.inv_tau_fac).exp();
        c.u.mul_add(1.0 - decayed, decayed)
    } else {
        c.u
    };
    let efficacy = u * x;
    *s = TsodyksState { u, x: x - efficacy, t_last: t };
    efficacy
}

/// The Tsodyks-Markram state of a projection's share in one shard: one [`TsodyksState`] per
/// synapse, in the shard's table order. The schedule's `propagate` phase asks each synapse
/// for the efficacy of a spike at its arrival step; a synapse's spikes arrive in the order
/// they are sent (its delay is fixed), so heterogeneous delays need nothing special.
#[derive(Debug, Clone)]
pub struct ShortTermSynapses {
    consts: TsodyksConsts,
    state: Vec<TsodyksState>,
    dt: f64,
}

impl ShortTermSynapses {
    /// `n` fully recovered synapses, for steps of `dt` ms.
    pub fn new(consts: TsodyksConsts, n: usize, dt: f64) -> ShortTermSynapses {
        ShortTermSynapses { consts, state: vec![TsodyksState::default(); n], dt }
    }

    /// Bytes held by the per-synapse state.
    pub fn bytes(&self) -> usize {
        self.state.len() * size_of::<TsodyksState>()
    }

    /// The efficacy `u x` of a spike reaching synapse `s` at step `arrival` ([`on_spike`]).
    #[inline]
    pub fn efficacy(&mut self, s: usize, arrival: u64) -> f64 {
        on_spike(&self.consts, &mut self.state[s], arrival as f64 * self.dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Efficacies of the first `n` spikes of a regular train with period `delta`.
    fn train(p: &TsodyksParams, n: usize, delta: f64) -> Vec<f64> {
        let c = p.lower().unwrap();
        let mut s = TsodyksState::default();
        (0..n).map(|k| on_spike(&c, &mut s, 10.0 + k as f64 * delta)).collect()
    }

    fn check_table(p: &TsodyksParams, table: &[(usize, f64)]) {
        let got = train(p, 20, 50.0);
        for &(spike, want) in table {
            let g = got[spike - 1];
            // The table is printed to 6 decimals: agreement to 1e-6 absolute is all it can show.
            assert!((g - want).abs() <= 1e-6, "{p:?} spike {spike}: {g} vs {want}");
        }
    }

    #[test]
    fn depressing_set_at_20_hz_matches_the_spec_table() {
        let table = [(1, 0.5), (2, 0.265147), (3, 0.154835), (4, 0.103020), (5, 0.078683), (20, 0.057126)];
        check_table(&TsodyksParams::depressing(), &table);
    }

    #[test]
    fn facilitating_set_at_20_hz_matches_the_spec_table() {
        let table = [(1, 0.03), (2, 0.055327), (3, 0.075736), (4, 0.091777), (5, 0.104279), (20, 0.157973)];
        check_table(&TsodyksParams::facilitating(), &table);
    }

    #[test]
    fn long_trains_settle_to_the_analytic_steady_state() {
        let dep = TsodyksParams::depressing();
        let want = dep.steady_state_efficacy(50.0);
        assert!((want - 0.0571259).abs() < 1e-7, "spec's closed form: {want}");
        assert!((train(&dep, 400, 50.0)[399] - want).abs() < 1e-12);
        let fac = TsodyksParams::facilitating();
        let want = fac.steady_state_efficacy(50.0);
        assert!((train(&fac, 400, 50.0)[399] - want).abs() < 1e-12);
    }

    #[test]
    fn after_a_long_pause_the_synapse_is_recovered() {
        let c = TsodyksParams::facilitating().lower().unwrap();
        let mut s = TsodyksState::default();
        for k in 0..10 {
            on_spike(&c, &mut s, k as f64 * 20.0);
        }
        let after_pause = on_spike(&c, &mut s, 1e7);
        assert!((after_pause - 0.03).abs() < 1e-12);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let good = TsodyksParams::depressing();
        for bad in [
            TsodyksParams { u: 0.0, ..good.clone() },
            TsodyksParams { u: 1.5, ..good.clone() },
            TsodyksParams { tau_rec: 0.0, ..good.clone() },
            TsodyksParams { tau_fac: -1.0, ..good.clone() },
        ] {
            assert!(bad.lower().is_err(), "{bad:?}");
        }
        assert!(good.lower().is_ok() && TsodyksParams::facilitating().lower().is_ok());
    }
}
