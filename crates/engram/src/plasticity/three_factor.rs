//! A generic three-factor rule: STDP-like coincidences tag a synapse with an eligibility
//! trace, and a neuromodulator (or error) signal M(t) turns the tag into a weight change
//! (Izhikevich 2007, Cereb Cortex 17:2443; Frémaux & Gerstner 2016, Front Neural Circuits
//! 9:85; Gerstner et al. 2018, Front Neural Circuits 12:53).
//!
//! ```text
//! coincidence traces  tau_plus dx/dt = -x (pre spike: x += 1),  tau_minus dy/dt = -y (post: y += 1)
//! eligibility         tau_e de/dt = -e,   pre spike: e += a_minus y,   post spike: e += a_plus x
//! weight              dw/dt = eta M(t) e(t)
//! ```
//! With M constant (= m) from t0 to t1, the interval integrates exactly:
//! `w(t1) = w(t0) + eta m e(t0) tau_e (1 - exp(-(t1 - t0)/tau_e))`, `e(t1) = e(t0) exp(-(t1 - t0)/tau_e)`.
//! Within such an interval dw/dt has a constant sign, so clipping w to the optional bounds
//! at its end equals clipping in continuous time.
//!
//! Units: times in ms; `a_plus`, `a_minus` and `e` dimensionless; `eta` in weight units per
//! ms per unit of M, so that `eta m e` is a weight change per ms.
//!
//! State: [`PreTrace`] per presynaptic neuron (or delay class), [`PostTrace`] per
//! postsynaptic neuron, [`Eligibility`] and the weight per synapse. Everything is lazy: a
//! synapse is advanced at its own spikes, and **whenever M changes** it must be advanced to
//! the change with the old value ([`advance`]) — a run loop with M given per step advances
//! the synapses of the modulated projection every step, or at each change of M. At a spike,
//! update the synapses with [`on_pre`] / [`on_post`] (which read the other side's trace),
//! then register the spike on the neuron's own trace once.

use serde::Serialize;

use super::check_positive;
use crate::error::{EngramError, Result};

/// What a model file gives for a three-factor rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreeFactorParams {
    /// Time constant of the presynaptic coincidence trace x (ms).
    pub tau_plus: f64,
    /// Time constant of the postsynaptic coincidence trace y (ms).
    pub tau_minus: f64,
    /// Eligibility added per post spike, times x (>= 0).
    pub a_plus: f64,
    /// Eligibility added per pre spike, times y (<= 0).
    pub a_minus: f64,
    /// Decay time constant of the eligibility trace (ms).
    pub tau_e: f64,
    /// Learning rate (>= 0; the sign of the change comes from M and e).
    pub eta: f64,
    /// Optional weight bounds [w_min, w_max], w_min < w_max.
    pub bounds: Option<[f64; 2]>,
}

impl ThreeFactorParams {
    pub fn validate(&self) -> Result<()> {
        check_positive("three-factor", "tau_plus", self.tau_plus)?;
        check_positive("three-factor", "tau_minus", self.tau_minus)?;
        check_positive("three-factor", "tau_e", self.tau_e)?;
        let err = |msg: String| Err(EngramError::Model(format!("three-factor: {msg}")));
        let signs_ok = self.a_plus >= 0.0 && self.a_minus <= 0.0 && self.a_plus.is_finite() && self.a_minus.is_finite();
        if !signs_ok {
            return err(format!("`a_plus` must be >= 0 and `a_minus` <= 0, got {} and {}", self.a_plus, self.a_minus));
        }
        if !(self.eta >= 0.0 && self.eta.is_finite()) {
            return err(format!("`eta` must be >= 0 (M carries the sign), got {}", self.eta));
        }
        if let Some([lo, hi]) = self.bounds
            && !(lo < hi && lo.is_finite() && hi.is_finite())
        {
            return err(format!("bounds must satisfy w_min < w_max, got [{lo}, {hi}]"));
        }
        Ok(())
    }

    pub fn lower(&self) -> Result<ThreeFactorConsts> {
        self.validate()?;
        let [w_min, w_max] = self.bounds.unwrap_or([f64::NEG_INFINITY, f64::INFINITY]);
        Ok(ThreeFactorConsts {
            inv_tau_plus: 1.0 / self.tau_plus,
            inv_tau_minus: 1.0 / self.tau_minus,
            inv_tau_e: 1.0 / self.tau_e,
            a_plus: self.a_plus,
            a_minus: self.a_minus,
            eta_tau_e: self.eta * self.tau_e,
            w_min,
            w_max,
        })
    }
}

/// Lowered constants: inverse time constants (1/ms), amplitudes, `eta tau_e`, bounds
/// (±inf when unbounded).
#[derive(Debug, Clone, PartialEq)]
pub struct ThreeFactorConsts {
    inv_tau_plus: f64,
    inv_tau_minus: f64,
    inv_tau_e: f64,
    a_plus: f64,
    a_minus: f64,
    eta_tau_e: f64,
    w_min: f64,
    w_max: f64,
}

/// exp(-(t - t_last)/τ); 0 when t_last = -inf.
#[inline]
fn decay(t: f64, t_last: f64, inv_tau: f64) -> f64 {
    (-(t - t_last) * inv_tau).exp()
}

/// A trace stored with the time of its last update; -inf before the first spike.
macro_rules! trace_type {
    ($name:ident, $inv_tau:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $name {
            pub value: f64,
            pub t_last: f64,
        }

        impl Default for $name {
            fn default() -> Self {
                $name { value: 0.0, t_last: f64::NEG_INFINITY }
            }
        }

        impl $name {
            /// The value at `t` >= `t_last`.
            #[inline]
            pub fn at(&self, c: &ThreeFactorConsts, t: f64) -> f64 {
                if self.value == 0.0 { 0.0 } else { self.value * decay(t, self.t_last, c.$inv_tau) }
            }

            /// A spike of the neuron at `t`: decay to `t`, add 1.
            #[inline]
            pub fn spike(&mut self, c: &ThreeFactorConsts, t: f64) {
                *self = $name { value: self.at(c, t) + 1.0, t_last: t };
            }
        }
    };
}

trace_type!(PreTrace, inv_tau_plus, "The presynaptic coincidence trace x (time constant tau_plus).");
trace_type!(PostTrace, inv_tau_minus, "The postsynaptic coincidence trace y (time constant tau_minus).");

/// The eligibility trace of one synapse, as of `t_last`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eligibility {
    pub e: f64,
    pub t_last: f64,
}

impl Default for Eligibility {
    fn default() -> Self {
        Eligibility { e: 0.0, t_last: f64::NEG_INFINITY }
    }
}

/// Integrates the synapse from `el.t_last` to `t` with the modulator held at `m` over the
/// whole interval: returns the new weight and leaves `el` decayed to `t`.
#[inline]
pub fn advance(c: &ThreeFactorConsts, el: &mut Eligibility, w: f64, m: f64, t: f64) -> f64 {
    if el.e == 0.0 {
        el.t_last = t;
        return w;
    }
    let x = -(t - el.t_last) * c.inv_tau_e;
    // 1 - exp(x) without cancellation for short intervals.
    let w = (c.eta_tau_e * m * el.e).mul_add(-x.exp_m1(), w).clamp(c.w_min, c.w_max);
    *el = Eligibility { e: el.e * x.exp(), t_last: t };
    w
}

/// A presynaptic spike arriving at `t`, with the modulator at `m` since `el.t_last`:
/// advances the synapse, then tags it with `a_minus y(t)`. Returns the new weight.
#[inline]
pub fn on_pre(c: &ThreeFactorConsts, el: &mut Eligibility, w: f64, post: &PostTrace, m: f64, t: f64) -> f64 {
    let w = advance(c, el, w, m, t);
    el.e = c.a_minus.mul_add(post.at(c, t), el.e);
    w
}

/// A postsynaptic spike at `t`, with the modulator at `m` since `el.t_last`: advances the
/// synapse, then tags it with `a_plus x(t)`. Returns the new weight.
#[inline]
pub fn on_post(c: &ThreeFactorConsts, el: &mut Eligibility, w: f64, pre: &PreTrace, m: f64, t: f64) -> f64 {
    let w = advance(c, el, w, m, t);
    el.e = c.a_plus.mul_add(pre.at(c, t), el.e);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ThreeFactorParams {
        ThreeFactorParams {
            tau_plus: 20.0,
            tau_minus: 20.0,
            a_plus: 1.0,
            a_minus: -1.0,
            tau_e: 200.0,
            eta: 0.01,
            bounds: None,
        }
    }

    /// Pre at `t_pre`, post at `t_post` with M = 0, then M = `m` on [t1, t2], 0 after;
    /// returns the weight change by `t_end`.
    fn pair_then_pulse(c: &ThreeFactorConsts, t_pre: f64, t_post: f64, m: f64, t1: f64, t2: f64) -> f64 {
        let (mut x, mut y, mut el, mut w) = (PreTrace::default(), PostTrace::default(), Eligibility::default(), 0.0);
        let mut spikes = [(t_pre, true), (t_post, false)];
        spikes.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (t, is_pre) in spikes {
            if is_pre {
                w = on_pre(c, &mut el, w, &y, 0.0, t);
                x.spike(c, t);
            } else {
                w = on_post(c, &mut el, w, &x, 0.0, t);
                y.spike(c, t);
            }
        }
        w = advance(c, &mut el, w, 0.0, t1);
        w = advance(c, &mut el, w, m, t2);
        advance(c, &mut el, w, 0.0, t2 + 5000.0)
    }

    #[test]
    fn pair_then_constant_pulse_matches_the_closed_form() {
        let p = params();
        let c = p.lower().unwrap();
        // Pre at 0, post at 10: e(10) = a_plus exp(-10/20); M = 2 on [50, 350].
        let e0 = (-0.5f64).exp();
        let want = p.eta * 2.0 * e0 * p.tau_e * ((-40.0 / p.tau_e).exp() - (-340.0 / p.tau_e).exp());
        let got = pair_then_pulse(&c, 0.0, 10.0, 2.0, 50.0, 350.0);
        assert!((got - want).abs() <= 1e-12 * want, "{got} vs {want}");
        // Post before pre: the tag is a_minus exp(-10/20) and the same pulse depresses.
        let got = pair_then_pulse(&c, 10.0, 0.0, 2.0, 50.0, 350.0);
        assert!((got + want).abs() <= 1e-12 * want, "{got} vs {}", -want);
    }

    #[test]
    fn no_modulator_no_change_and_the_sign_of_m_flips_the_change() {
        let c = params().lower().unwrap();
        assert_eq!(pair_then_pulse(&c, 0.0, 10.0, 0.0, 10.0, 500.0), 0.0);
        let up = pair_then_pulse(&c, 0.0, 10.0, 1.5, 10.0, 500.0);
        let down = pair_then_pulse(&c, 0.0, 10.0, -1.5, 10.0, 500.0);
        assert!(up > 0.0 && (up + down).abs() < 1e-15 * up.abs().max(1.0));
    }

    #[test]
    fn integration_does_not_depend_on_how_the_interval_is_split() {
        let c = params().lower().unwrap();
        let (mut one, mut many) = (Eligibility { e: 0.7, t_last: 0.0 }, Eligibility { e: 0.7, t_last: 0.0 });
        let w_one = advance(&c, &mut one, 0.3, 1.2, 300.0);
        let mut w_many = 0.3;
        for k in 1..=3000 {
            w_many = advance(&c, &mut many, w_many, 1.2, k as f64 * 0.1);
        }
        assert!((w_one - w_many).abs() < 1e-12 && (one.e - many.e).abs() < 1e-14);
        // Against forward Euler with a tiny step.
        let (mut e, mut w, h) = (0.7, 0.3, 1e-3);
        for _ in 0..300_000 {
            w += h * 0.01 * 1.2 * e;
            e -= h * e / 200.0;
        }
        assert!((w - w_one).abs() < 1e-6 * w_one, "euler {w} vs exact {w_one}");
    }

    #[test]
    fn bounds_hold() {
        let c = ThreeFactorParams { bounds: Some([0.0, 0.5]), eta: 10.0, ..params() }.lower().unwrap();
        let mut el = Eligibility { e: 1.0, t_last: 0.0 };
        assert_eq!(advance(&c, &mut el, 0.4, 1.0, 100.0), 0.5);
        let mut el = Eligibility { e: 1.0, t_last: 0.0 };
        assert_eq!(advance(&c, &mut el, 0.4, -1.0, 100.0), 0.0);
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in [
            ThreeFactorParams { tau_e: 0.0, ..params() },
            ThreeFactorParams { tau_plus: -1.0, ..params() },
            ThreeFactorParams { eta: -0.01, ..params() },
            ThreeFactorParams { a_plus: -1.0, ..params() },
            ThreeFactorParams { a_minus: 1.0, ..params() },
            ThreeFactorParams { bounds: Some([1.0, 1.0]), ..params() },
        ] {
            assert!(bad.lower().is_err(), "{bad:?}");
        }
        assert!(params().lower().is_ok());
    }
}
