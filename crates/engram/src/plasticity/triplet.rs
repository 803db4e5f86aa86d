//! Triplet STDP (Pfister & Gerstner 2006, J Neurosci 26:9673; spec §9.8), all-to-all.
//!
//! ```text
//! presynaptic traces   tau_plus  dr1/dt = -r1,   tau_x dr2/dt = -r2,   pre spike:  r1, r2 += 1
//! postsynaptic traces  tau_minus do1/dt = -o1,   tau_y do2/dt = -o2,   post spike: o1, o2 += 1
//! post spike at t:  w <- w + r1(t) (A2_plus  + A3_plus  o2(t - eps))
//! pre spike at t:   w <- w - o1(t) (A2_minus + A3_minus r2(t - eps))
//! ```
//! `o2(t - eps)` and `r2(t - eps)` are read before the spike's own increment: at a spike the
//! weight is updated first, with the traces as they are just before it, and the spiking
//! side's traces are incremented afterwards. With `w_max` set, w is clipped to [0, w_max]
//! after each update (additive hard bounds); without it, w is unbounded.
//!
//! Units: times in ms; the amplitudes `A` in weight units (whatever the projection's weight
//! is), traces dimensionless.
//!
//! Traces decay exactly between events: each is stored with the time of its last update and
//! decayed by `exp(-Δt/τ)` when read, so they need touching only at spikes. The presynaptic
//! traces ([`PreTraces`]) belong to a presynaptic neuron and the postsynaptic ones
//! ([`PostTraces`]) to a postsynaptic neuron, shared by all their synapses (all-to-all
//! interaction); with heterogeneous delays keep one `PreTraces` per distinct arrival delay
//! (or per synapse) and pass arrival times. Order for a spike at `t`: update the weights of
//! every synapse of the neuron with [`on_pre`] / [`on_post`], then call
//! [`PreTraces::spike`] / [`PostTraces::spike`] once.
//!
//! Parameters: the visual-cortex all-to-all set of the paper's Table 3 as in NEST's
//! `stdp_triplet_synapse` (τ+ = 16.8 ms, τx = 101 ms, A2+ = 5e-10, A3+ = 6.2e-3,
//! A2- = 7e-3, A3- = 2.3e-4) with the paper's τ- = 33.7 ms and τy = 125 ms.

use serde::Serialize;

use super::check_positive;
use super::stdp::{Interaction, ScaledTraces};
use crate::error::{EngramError, Result};
use crate::network::{Arrivals, Delays, PlasticRule, ProjectionShard, Weights, row_range};
use crate::spec::reader::TableReader;
use crate::units::Dim;

/// What a model file gives for triplet STDP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TripletParams {
    /// τ+ of the presynaptic pair trace r1 (ms).
    pub tau_plus: f64,
    /// τx of the presynaptic triplet trace r2 (ms).
    pub tau_x: f64,
    /// τ- of the postsynaptic pair trace o1 (ms).
    pub tau_minus: f64,
    /// τy of the postsynaptic triplet trace o2 (ms).
    pub tau_y: f64,
    /// Pair potentiation amplitude A2+ (>= 0, weight units).
    pub a2_plus: f64,
    /// Triplet potentiation amplitude A3+ (>= 0).
    pub a3_plus: f64,
    /// Pair depression amplitude A2- (>= 0; the rule subtracts it).
    pub a2_minus: f64,
    /// Triplet depression amplitude A3- (>= 0).
    pub a3_minus: f64,
    /// Upper bound; with `Some`, w is clipped to [0, w_max] after each update.
    pub w_max: Option<f64>,
}

impl TripletParams {
    /// The visual-cortex all-to-all parameters (spec §9.8), unbounded.
    pub fn visual_cortex_all_to_all() -> TripletParams {
        TripletParams {
            tau_plus: 16.8,
            tau_x: 101.0,
            tau_minus: 33.7,
            tau_y: 125.0,
            a2_plus: 5e-10,
            a3_plus: 6.2e-3,
            a2_minus: 7e-3,
            a3_minus: 2.3e-4,
            w_max: None,
        }
    }

    /// Reads the `plasticity` table of a projection whose weights have dimension `weight`:
    /// `tau_plus`, `tau_x`, `tau_minus`, `tau_y` (times, > 0), `a2_plus`, `a3_plus`,
    /// `a2_minus`, `a3_minus` (weight units, >= 0: the rule gives the sign) and an optional
    /// `w_max` (> 0).
    pub fn read(r: &TableReader, weight: Dim) -> Result<TripletParams> {
        let p = TripletParams {
            tau_plus: r.req_quantity("tau_plus", Dim::TIME)?,
            tau_x: r.req_quantity("tau_x", Dim::TIME)?,
            tau_minus: r.req_quantity("tau_minus", Dim::TIME)?,
            tau_y: r.req_quantity("tau_y", Dim::TIME)?,
            a2_plus: r.req_quantity("a2_plus", weight)?,
            a3_plus: r.req_quantity("a3_plus", weight)?,
            a2_minus: r.req_quantity("a2_minus", weight)?,
            a3_minus: r.req_quantity("a3_minus", weight)?,
            w_max: r.opt_quantity("w_max", weight)?,
        };
        let taus = [("tau_plus", p.tau_plus), ("tau_x", p.tau_x), ("tau_minus", p.tau_minus), ("tau_y", p.tau_y)];
        if let Some((key, tau)) = taus.into_iter().find(|&(_, tau)| tau <= 0.0 || tau.is_nan()) {
            return Err(r.field_error(key, format!("`{key}` must be positive, got {tau} ms")));
        }
        let amplitudes = [("a2_plus", p.a2_plus), ("a3_plus", p.a3_plus), ("a2_minus", p.a2_minus), ("a3_minus", p.a3_minus)];
        if let Some((key, _)) = amplitudes.into_iter().find(|&(_, a)| a < 0.0 || a.is_nan()) {
            return Err(r.field_error(key, format!("`{key}` must not be negative (the rule gives the sign: `a2_minus`, `a3_minus` depress)")));
        }
        if p.w_max.is_some_and(|w| w <= 0.0 || w.is_nan()) {
            return Err(r.field_error("w_max", "`w_max` must be positive"));
        }
        Ok(p)
    }

    pub fn validate(&self) -> Result<()> {
        for (name, tau) in
            [("tau_plus", self.tau_plus), ("tau_x", self.tau_x), ("tau_minus", self.tau_minus), ("tau_y", self.tau_y)]
        {
            check_positive("triplet STDP", name, tau)?;
        }
        for (name, a) in [
            ("a2_plus", self.a2_plus),
            ("a3_plus", self.a3_plus),
            ("a2_minus", self.a2_minus),
            ("a3_minus", self.a3_minus),
        ] {
            if !(a >= 0.0 && a.is_finite()) {
                return Err(EngramError::Model(format!(
                    "triplet STDP: `{name}` must be a finite number >= 0 (the sign is part of the rule), got {a}"
                )));
            }
        }
        if let Some(w_max) = self.w_max {
            check_positive("triplet STDP", "w_max", w_max)?;
        }
        Ok(())
    }

    /// Validates and precomputes the inverse time constants.
    pub fn lower(&self) -> Result<TripletConsts> {
        self.validate()?;
        Ok(TripletConsts {
            inv_tau_plus: 1.0 / self.tau_plus,
            inv_tau_x: 1.0 / self.tau_x,
            inv_tau_minus: 1.0 / self.tau_minus,
            inv_tau_y: 1.0 / self.tau_y,
            a2_plus: self.a2_plus,
            a3_plus: self.a3_plus,
            a2_minus: self.a2_minus,
            a3_minus: self.a3_minus,
            w_max: self.w_max,
        })
    }
}

/// Lowered triplet STDP: inverse time constants (1/ms) and amplitudes.
#[derive(Debug, Clone, PartialEq)]
pub struct TripletConsts {
    inv_tau_plus: f64,
    inv_tau_x: f64,
    inv_tau_minus: f64,
    inv_tau_y: f64,
    a2_plus: f64,
    a3_plus: f64,
    a2_minus: f64,
    a3_minus: f64,
    w_max: Option<f64>,
}

impl TripletConsts {
    /// The per-step decay factors of r1, r2, o1, o2 for a step of `dt` ms.
    pub fn step_decays(&self, dt: f64) -> [f64; 4] {
        [self.inv_tau_plus, self.inv_tau_x, self.inv_tau_minus, self.inv_tau_y].map(|inv_tau| (-dt * inv_tau).exp())
    }

    #[inline]
    fn bound(&self, w: f64) -> f64 {
        match self.w_max {
            Some(w_max) => w.clamp(0.0, w_max),
            None => w,
        }
    }
}

/// exp(-(t - t_last)/τ) with the inverse time constant; 0 before any spike (t_last = -inf).
#[inline]
fn decay(t: f64, t_last: f64, inv_tau: f64) -> f64 {
    (-(t - t_last) * inv_tau).exp()
}

/// The presynaptic traces r1, r2 of one neuron (or one delay class), as of `t_last`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreTraces {
    pub r1: f64,
    pub r2: f64,
    /// Time of the last update (ms); -inf before the first spike.
    pub t_last: f64,
}

impl Default for PreTraces {
    fn default() -> Self {
        PreTraces { r1: 0.0, r2: 0.0, t_last: f64::NEG_INFINITY }
    }
}

impl PreTraces {
    /// (r1, r2) at time `t` >= `t_last`.
    #[inline]
    pub fn at(&self, c: &TripletConsts, t: f64) -> (f64, f64) {
        if self.t_last == f64::NEG_INFINITY {
            return (0.0, 0.0);
        }
        (self.r1 * decay(t, self.t_last, c.inv_tau_plus), self.r2 * decay(t, self.t_last, c.inv_tau_x))
    }

    /// A presynaptic spike at `t`: decay to `t`, then add 1 to both traces.
    #[inline]
    pub fn spike(&mut self, c: &TripletConsts, t: f64) {
        let (r1, r2) = self.at(c, t);
        *self = PreTraces { r1: r1 + 1.0, r2: r2 + 1.0, t_last: t };
    }
}

/// The postsynaptic traces o1, o2 of one neuron, as of `t_last`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostTraces {
    pub o1: f64,
    pub o2: f64,
    /// Time of the last update (ms); -inf before the first spike.
    pub t_last: f64,
}

impl Default for PostTraces {
    fn default() -> Self {
        PostTraces { o1: 0.0, o2: 0.0, t_last: f64::NEG_INFINITY }
    }
}

impl PostTraces {
    /// (o1, o2) at time `t` >= `t_last`.
    #[inline]
    pub fn at(&self, c: &TripletConsts, t: f64) -> (f64, f64) {
        if self.t_last == f64::NEG_INFINITY {
            return (0.0, 0.0);
        }
        (self.o1 * decay(t, self.t_last, c.inv_tau_minus), self.o2 * decay(t, self.t_last, c.inv_tau_y))
    }

    /// A postsynaptic spike at `t`: decay to `t`, then add 1 to both traces.
    #[inline]
    pub fn spike(&mut self, c: &TripletConsts, t: f64) {
        let (o1, o2) = self.at(c, t);
        *self = PostTraces { o1: o1 + 1.0, o2: o2 + 1.0, t_last: t };
    }
}

/// The weight after a presynaptic spike arriving at `t` (depression), from the traces as they
/// are just before the spike. Call before `pre.spike(c, t)`.
#[inline]
pub fn on_pre(c: &TripletConsts, w: f64, pre: &PreTraces, post: &PostTraces, t: f64) -> f64 {
    let (_, r2) = pre.at(c, t);
    let (o1, _) = post.at(c, t);
    c.bound(w - o1 * c.a3_minus.mul_add(r2, c.a2_minus))
}

/// The weight after a postsynaptic spike at `t` (potentiation), from the traces as they are
/// just before the spike. Call before `post.spike(c, t)`.
#[inline]
pub fn on_post(c: &TripletConsts, w: f64, pre: &PreTraces, post: &PostTraces, t: f64) -> f64 {
    let (r1, _) = pre.at(c, t);
    let (_, o2) = post.at(c, t);
    c.bound(w + r1 * c.a3_plus.mul_add(o2, c.a2_plus))
}

/// The triplet traces of a projection's share in one shard: r1, r2 for every presynaptic
/// neuron (each shard sees all spikes, so the copies agree), or for every synapse of the
/// shard where delays differ between synapses, o1, o2 for the shard's own postsynaptic
/// neurons, all stored against a common scale ([`ScaledTraces`]).
#[derive(Debug, Clone)]
pub struct TripletTraces {
    pub consts: TripletConsts,
    pub r1: ScaledTraces,
    pub r2: ScaledTraces,
    pub o1: ScaledTraces,
    pub o2: ScaledTraces,
}

impl TripletTraces {
    /// Traces for `n_pre` presynaptic neurons (or synapses) and `n_post` local postsynaptic
    /// neurons, decaying over steps of `dt` ms.
    pub fn new(consts: TripletConsts, dt: f64, n_pre: usize, n_post: usize) -> TripletTraces {
        let [r1, r2, o1, o2] = consts.step_decays(dt);
        TripletTraces {
            r1: ScaledTraces::new(n_pre, r1),
            r2: ScaledTraces::new(n_pre, r2),
            o1: ScaledTraces::new(n_post, o1),
            o2: ScaledTraces::new(n_post, o2),
            consts,
        }
    }
}

/// One step of triplet STDP on a projection's share of synapses in a shard (the schedule's
/// `plasticity` phase), as [`super::stdp::step_projection`] does for pair STDP: the traces
/// decay by one step; the presynaptic spikes that reach the synapses now depress by
/// `o1 (A2- + A3- r2)` and then increment r1, r2; this step's postsynaptic spikes (local
/// indices) potentiate by `r1 (A2+ + A3+ o2)` and then increment o1, o2 ([`on_pre`],
/// [`on_post`]). With one delay for the whole projection the presynaptic traces are per
/// neuron and spikes are queued for `delay - 1` steps; with per-synapse delays
/// ([`Arrivals::Synapses`]) each spike is scheduled on each of its synapses and r1, r2 are
/// per synapse. Every shard sees the same spikes in the same order, so the result does not
/// depend on the thread count.
pub fn step_projection(proj: &mut ProjectionShard, sent: &[u32], post_spikes: &[u32]) {
    let Some(state) = proj.plastic.as_mut() else { return };
    let Weights::Plastic(w) = &mut proj.weights else { unreachable!("plastic projections have plastic weights") };
    let PlasticRule::Triplet(traces) = &mut state.rule else { unreachable!("called for triplet projections only") };
    let TripletTraces { consts: c, r1, r2, o1, o2 } = traces;
    for t in [&mut *r1, &mut *r2, &mut *o1, &mut *o2] {
        t.step();
    }
    let per_synapse = matches!(state.arrivals, Arrivals::Synapses(_));
    match (&mut state.arrivals, &proj.delays) {
        (Arrivals::Synapses(arrivals), Delays::PerSynapse(delays)) => {
            arrivals.step(sent, &proj.row_start, delays, |s| {
                let depression = c.a3_minus.mul_add(r2.get(s), c.a2_minus);
                w[s] = c.bound(w[s] - o1.get(proj.post[s] as usize) * depression);
                r1.spike(s, Interaction::AllToAll);
                r2.spike(s, Interaction::AllToAll);
            });
        }
        (Arrivals::Synapses(_), Delays::Same(_)) => unreachable!("per-synapse arrivals come with per-synapse delays"),
        (Arrivals::Neurons(in_flight), _) => {
            let mut queued = Vec::new();
            for &i in super::arriving(in_flight, sent, &mut queued) {
                let i = i as usize;
                let depression = c.a3_minus.mul_add(r2.get(i), c.a2_minus);
                let synapses = row_range(&proj.row_start, i as u32);
                for (w, &j) in w[synapses.clone()].iter_mut().zip(&proj.post[synapses]) {
                    *w = c.bound(*w - o1.get(j as usize) * depression);
                }
                r1.spike(i, Interaction::AllToAll);
                r2.spike(i, Interaction::AllToAll);
            }
        }
    }
    for &j in post_spikes {
        let j = j as usize;
        let potentiation = c.a3_plus.mul_add(o2.get(j), c.a2_plus);
        for &(s, i) in state.incoming.of(j as u32) {
            let r = r1.get(if per_synapse { s } else { i } as usize);
            w[s as usize] = c.bound(w[s as usize] + r * potentiation);
        }
        o1.spike(j, Interaction::AllToAll);
        o2.spike(j, Interaction::AllToAll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Δw after `n` pre/post pairs at `rate_hz` with t_post - t_pre = `dt` (ms), from w = 0.
    fn pairs(c: &TripletConsts, n: usize, rate_hz: f64, dt: f64) -> f64 {
        let (mut pre, mut post, mut w) = (PreTraces::default(), PostTraces::default(), 0.0);
        let period = 1000.0 / rate_hz;
        let mut events: Vec<(f64, bool)> = Vec::new();
        for k in 0..n {
            let t_pre = 50.0 + k as f64 * period;
            events.push((t_pre, true));
            events.push((t_pre + dt, false));
        }
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (t, is_pre) in events {
            if is_pre {
                w = on_pre(c, w, &pre, &post, t);
                pre.spike(c, t);
            } else {
                w = on_post(c, w, &pre, &post, t);
                post.spike(c, t);
            }
        }
        w
    }

    fn close(got: f64, want: f64, rel: f64) -> bool {
        (got - want).abs() <= rel * want.abs()
    }

    #[test]
    fn sixty_pairs_reproduce_the_spec_table() {
        let c = TripletParams::visual_cortex_all_to_all().lower().unwrap();
        let table = [
            (1.0, 6.770622e-05, -0.3121614),
            (10.0, 0.1320534, -0.3336230),
            (20.0, 0.2469620, -0.3516221),
            (40.0, 0.5337227, 0.1547950),
            (50.0, 0.7409055, 0.7272472),
        ];
        for (f, plus, minus) in table {
            let got_plus = pairs(&c, 60, f, 10.0);
            let got_minus = pairs(&c, 60, f, -10.0);
            assert!(close(got_plus, plus, 1e-6), "f = {f} Hz, +10 ms: {got_plus} vs {plus}");
            assert!(close(got_minus, minus, 1e-6), "f = {f} Hz, -10 ms: {got_minus} vs {minus}");
        }
    }

    #[test]
    fn one_pair_is_the_pair_term_with_the_own_trace_excluded() {
        // A single pair: the triplet traces are still 0 before their own spike.
        let c = TripletParams::visual_cortex_all_to_all().lower().unwrap();
        let plus = pairs(&c, 1, 1.0, 10.0);
        assert!(close(plus, 5e-10 * (-10.0f64 / 16.8).exp(), 1e-12));
        let minus = pairs(&c, 1, 1.0, -10.0);
        assert!(close(minus, -7e-3 * (-10.0f64 / 33.7).exp(), 1e-12));
    }

    #[test]
    fn lazy_traces_equal_traces_touched_every_millisecond() {
        // Reading a trace at an intermediate time does not change it.
        let c = TripletParams::visual_cortex_all_to_all().lower().unwrap();
        let mut pre = PreTraces::default();
        pre.spike(&c, 0.0);
        pre.spike(&c, 7.0);
        let direct = pre.at(&c, 40.0);
        for k in 8..40 {
            let _ = pre.at(&c, k as f64);
        }
        assert_eq!(pre.at(&c, 40.0), direct);
        let want_r1 = (-40.0f64 / 16.8).exp() + (-33.0f64 / 16.8).exp();
        assert!(close(direct.0, want_r1, 1e-14));
    }

    #[test]
    fn bounds_clip_to_zero_and_w_max() {
        let c = TripletParams { w_max: Some(0.01), ..TripletParams::visual_cortex_all_to_all() }.lower().unwrap();
        let (mut pre, mut post) = (PreTraces::default(), PostTraces::default());
        post.spike(&c, 0.0);
        assert_eq!(on_pre(&c, 0.001, &pre, &post, 1.0), 0.0);
        pre.spike(&c, 1.0);
        let mut w = 0.0099;
        for k in 0..20 {
            let t = 2.0 + k as f64;
            w = on_post(&c, w, &pre, &post, t);
            post.spike(&c, t);
        }
        assert_eq!(w, 0.01);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let good = TripletParams::visual_cortex_all_to_all();
        for bad in [
            TripletParams { tau_plus: 0.0, ..good.clone() },
            TripletParams { tau_y: -125.0, ..good.clone() },
            TripletParams { a2_minus: -7e-3, ..good.clone() },
            TripletParams { a3_plus: f64::NAN, ..good.clone() },
            TripletParams { w_max: Some(0.0), ..good.clone() },
            TripletParams { w_max: Some(-1.0), ..good.clone() },
        ] {
            assert!(bad.lower().is_err(), "{bad:?}");
        }
        assert!(good.lower().is_ok());
    }
}
