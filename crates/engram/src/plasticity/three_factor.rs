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
//!
//! In the run loop (`plasticity = { rule = "three_factor", modulator = "...", ... }`) M is
//! the activity of a population or spike source, low-pass filtered and less a baseline:
//!
//! ```text
//! tau_modulator dm/dt = -m + (1/N) sum_k delta(t - t_k)     (spikes of the N modulator neurons)
//! M(t) = m(t) - baseline
//! ```
//! so m estimates the modulator's mean rate (1/ms; `eta` is then in weight units) and a
//! single spike of a one-neuron modulator has `∫ m dt = 1`. Between spikes m and e both
//! decay exponentially, so [`step_projection`] integrates each step in closed form, for all
//! synapses of the projection at once:
//! `∫ eta (m - baseline) e ds = eta e(t0) [m(t0) (1 - exp(-dt k)) / k - baseline tau_e (1 - exp(-dt/tau_e))]`
//! with `k = 1/tau_modulator + 1/tau_e` (the baseline term is [`advance`]'s, with M constant);
//! the weight is clipped to its bounds at the end of each step (where M crosses zero within
//! the step, as m decays through the baseline, this approximates clipping in continuous
//! time). Every synapse's e and w move every step: the rule costs O(synapses) per step,
//! unlike STDP, which touches only the synapses of the step's spikes.

use serde::Serialize;

use super::check_positive;
use super::stdp::{Interaction, ScaledTraces};
use crate::error::{EngramError, Result};
use crate::network::{Arrivals, Delays, PlasticRule, ProjectionShard, Weights, row_range};
use crate::spec::reader::TableReader;
use crate::units::Dim;

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

/// What a model file gives for a three-factor projection: the rule, and where its
/// modulator comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreeFactorSpec {
    pub params: ThreeFactorParams,
    /// The population or spike source whose spikes make the modulator.
    pub modulator: String,
    /// Time constant of the modulator trace m (ms).
    pub tau_modulator: f64,
    /// Rate subtracted from m (1/ms, >= 0): M = m - baseline.
    pub baseline: f64,
}

impl ThreeFactorSpec {
    /// Reads the `plasticity` table of a projection whose weights have dimension `weight`:
    /// `modulator` (a name, resolved by the loader), `tau_modulator` (time), optional
    /// `modulator_baseline` (rate, default 0), `tau_plus`, `tau_minus`, `tau_e` (times),
    /// `a_plus` (>= 0), `a_minus` (<= 0) (dimensionless), `eta` (>= 0) and the bounds
    /// `w_max` and optional `w_min` (default 0) in weight units.
    pub fn read(r: &TableReader, weight: Dim) -> Result<ThreeFactorSpec> {
        let (modulator, _) = r.req_str("modulator")?;
        let w_min = r.quantity_or("w_min", weight, 0.0)?;
        let spec = ThreeFactorSpec {
            params: ThreeFactorParams {
                tau_plus: r.req_quantity("tau_plus", Dim::TIME)?,
                tau_minus: r.req_quantity("tau_minus", Dim::TIME)?,
                a_plus: r.req_quantity("a_plus", Dim::DIMENSIONLESS)?,
                a_minus: r.req_quantity("a_minus", Dim::DIMENSIONLESS)?,
                tau_e: r.req_quantity("tau_e", Dim::TIME)?,
                eta: r.req_quantity("eta", weight)?,
                bounds: Some([w_min, r.req_quantity("w_max", weight)?]),
            },
            modulator: modulator.to_string(),
            tau_modulator: r.req_quantity("tau_modulator", Dim::TIME)?,
            baseline: r.quantity_or("modulator_baseline", Dim::RATE, 0.0)?,
        };
        let p = &spec.params;
        for (key, ok, what) in [
            ("tau_plus", p.tau_plus > 0.0, "must be positive"),
            ("tau_minus", p.tau_minus > 0.0, "must be positive"),
            ("tau_e", p.tau_e > 0.0, "must be positive"),
            ("tau_modulator", spec.tau_modulator > 0.0, "must be positive"),
            ("a_plus", p.a_plus >= 0.0, "must not be negative (the tag of a pre-post pair)"),
            ("a_minus", p.a_minus <= 0.0, "must not be positive (the tag of a post-pre pair)"),
            ("eta", p.eta >= 0.0, "must not be negative (the modulator carries the sign)"),
            ("modulator_baseline", spec.baseline >= 0.0, "must not be negative"),
            ("w_max", w_min < p.bounds.map_or(0.0, |[_, hi]| hi), "must be greater than `w_min`"),
        ] {
            if !ok {
                return Err(r.field_error(key, format!("`{key}` {what}")));
            }
        }
        Ok(spec)
    }
}

/// The three-factor state of a projection's share in one shard: coincidence traces x (per
/// presynaptic neuron, or per synapse where delays differ) and y (per local postsynaptic
/// neuron), the eligibility of every synapse, and the modulator trace m (the same in every
/// shard, which all see the same modulator spikes).
#[derive(Debug, Clone)]
pub struct ThreeFactorState {
    consts: ThreeFactorConsts,
    /// Index of the modulator's group (populations, then sources).
    pub modulator: usize,
    pre_trace: ScaledTraces,
    post_trace: ScaledTraces,
    eligibility: Vec<f64>,
    m: f64,
    /// Per step: decay of m, m's jump per modulator spike (1 / (N tau_modulator)), decay of
    /// e, and a step's weight change per unit e: `gain_m m - gain_baseline` with
    /// `gain_m = eta (1 - exp(-dt k)) / k` and `gain_baseline = eta baseline tau_e (1 - exp(-dt/tau_e))`.
    m_decay: f64,
    m_jump: f64,
    e_decay: f64,
    gain_m: f64,
    gain_baseline: f64,
}

impl ThreeFactorState {
    /// The state for `n_pre_traces` presynaptic traces, `n_post` local postsynaptic neurons
    /// and `n_synapses` synapses, with a modulator of `modulator_size` neurons (group index
    /// `modulator`), on a step of `dt` ms.
    pub fn new(spec: &ThreeFactorSpec, modulator: usize, modulator_size: usize, dt: f64, n_pre_traces: usize, n_post: usize, n_synapses: usize) -> Result<ThreeFactorState> {
        let consts = spec.params.lower()?;
        check_positive("three-factor", "tau_modulator", spec.tau_modulator)?;
        let (e_decay, m_decay) = (super::decay(dt, spec.params.tau_e), super::decay(dt, spec.tau_modulator));
        let k = 1.0 / spec.tau_modulator + 1.0 / spec.params.tau_e;
        Ok(ThreeFactorState {
            pre_trace: ScaledTraces::new(n_pre_traces, super::decay(dt, spec.params.tau_plus)),
            post_trace: ScaledTraces::new(n_post, super::decay(dt, spec.params.tau_minus)),
            eligibility: vec![0.0; n_synapses],
            m: 0.0,
            m_decay,
            m_jump: 1.0 / (modulator_size as f64 * spec.tau_modulator),
            e_decay,
            gain_m: spec.params.eta * -(-dt * k).exp_m1() / k,
            gain_baseline: consts.eta_tau_e * spec.baseline * -(-dt * consts.inv_tau_e).exp_m1(),
            modulator,
            consts,
        })
    }
}

/// One step of the three-factor rule on a projection's share of synapses in a shard (the
/// schedule's `plasticity` phase), for spikes stamped t: every synapse is advanced over
/// [t - dt, t] in closed form (`w += e (gain_m m - gain_baseline)`, then clipped to the
/// bounds; e and m decay over the step); the coincidence traces decay by one step; presynaptic spikes reaching the
/// synapses now tag them with `a_minus y` and increment x, this step's postsynaptic spikes
/// (local indices) tag theirs with `a_plus x` and increment y; then m decays by one step and
/// gains `1/(N tau_modulator)` for each of the `modulator_spikes` of this step. Every shard
/// sees the same spikes in the same order, so the result does not depend on the thread count.
pub fn step_projection(proj: &mut ProjectionShard, sent: &[u32], post_spikes: &[u32], modulator_spikes: usize) {
    let Some(state) = proj.plastic.as_mut() else { return };
    let Weights::Plastic(w) = &mut proj.weights else { unreachable!("plastic projections have plastic weights") };
    let PlasticRule::ThreeFactor(tf) = &mut state.rule else { unreachable!("called for three-factor projections only") };
    let ThreeFactorState { consts: c, pre_trace, post_trace, eligibility, .. } = tf;
    let gain = tf.gain_m.mul_add(tf.m, -tf.gain_baseline);
    if gain == 0.0 {
        eligibility.iter_mut().for_each(|e| *e *= tf.e_decay);
    } else {
        // `max` / `min` rather than `clamp`, which asserts its bounds at every call.
        let (lo, hi, decay) = (c.w_min, c.w_max, tf.e_decay);
        for (w, e) in w.iter_mut().zip(eligibility.iter_mut()) {
            *w = gain.mul_add(*e, *w).max(lo).min(hi);
            *e *= decay;
        }
    }
    pre_trace.step();
    post_trace.step();
    let per_synapse = matches!(state.arrivals, Arrivals::Synapses(_));
    match (&mut state.arrivals, &proj.delays) {
        (Arrivals::Synapses(arrivals), Delays::PerSynapse(delays)) => {
            arrivals.step(sent, &proj.row_start, delays, |s| {
                eligibility[s] = c.a_minus.mul_add(post_trace.get(proj.post[s] as usize), eligibility[s]);
                pre_trace.spike(s, Interaction::AllToAll);
            });
        }
        (Arrivals::Synapses(_), Delays::Same(_)) => unreachable!("per-synapse arrivals come with per-synapse delays"),
        (Arrivals::Neurons(in_flight), _) => {
            let mut queued = Vec::new();
            for &i in super::arriving(in_flight, sent, &mut queued) {
                for s in row_range(&proj.row_start, i) {
                    eligibility[s] = c.a_minus.mul_add(post_trace.get(proj.post[s] as usize), eligibility[s]);
                }
                pre_trace.spike(i as usize, Interaction::AllToAll);
            }
        }
    }
    for &j in post_spikes {
        for &(s, i) in state.incoming.of(j) {
            let x = pre_trace.get(if per_synapse { s } else { i } as usize);
            eligibility[s as usize] = c.a_plus.mul_add(x, eligibility[s as usize]);
        }
        post_trace.spike(j as usize, Interaction::AllToAll);
    }
    tf.m = tf.m_jump.mul_add(modulator_spikes as f64, tf.m * tf.m_decay);
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
    fn the_spec_api_case_gives_one() {
        // Spec §8: eta = 0.1, e = 0.5, M = 2 held for 10 steps of 1 ms, tau_e = inf: ΔW = 1.0
        // (tau_e = 1e15 ms stands for inf); M = 0 changes nothing, whatever e.
        let c = ThreeFactorParams { eta: 0.1, tau_e: 1e15, ..params() }.lower().unwrap();
        let (mut el, mut w) = (Eligibility { e: 0.5, t_last: 0.0 }, 0.0);
        for k in 1..=10 {
            w = advance(&c, &mut el, w, 2.0, k as f64);
        }
        assert!((w - 1.0).abs() < 1e-12, "{w}");
        let mut el = Eligibility { e: 0.5, t_last: 0.0 };
        assert_eq!(advance(&c, &mut el, 0.3, 0.0, 10.0), 0.3);
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
