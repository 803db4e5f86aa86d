//! Pair-based STDP with traces (Song, Miller & Abbott 2000; spec §9.7).
//!
//! ```text
//! tau_plus  dx/dt = -x,   pre spike:  x <- x + 1   (all-to-all) or x <- 1 (nearest)
//! tau_minus dy/dt = -y,   post spike: y <- y + 1   (all-to-all) or y <- 1 (nearest)
//! pre spike:  w <- w + A_minus * y      (A_minus < 0: depression)
//! post spike: w <- w + A_plus  * x      (potentiation)
//! ```
//! Bounds: `additive` clips w to [0, w_max] after each update; `multiplicative` (soft bounds,
//! van Rossum et al. 2000) scales potentiation by (1 - w/w_max) and depression by w/w_max.
//! At a spike the synapse first updates its weight with the other side's trace, then
//! increments its own trace, as in Brian2's STDP example (`on_pre: Apre += ..; w = clip(w +
//! Apost)` reads the post trace, which the pre spike does not change).

use serde::Serialize;

use super::check_positive;
use crate::error::{EngramError, Result};
use crate::network::{Arrivals, Delays, PlasticRule, ProjectionShard, Weights, row_range};
use crate::spec::reader::TableReader;
use crate::units::Dim;

/// Names accepted in `bounds = "..."` and `interaction = "..."`.
const BOUNDS: &[&str] = &["additive", "multiplicative"];
const INTERACTIONS: &[&str] = &["all_to_all", "nearest"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bounds {
    Additive,
    Multiplicative,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interaction {
    AllToAll,
    Nearest,
}

#[derive(Debug, Clone, Serialize)]
pub struct StdpParams {
    pub tau_plus: f64,
    pub tau_minus: f64,
    /// Potentiation step (weight units, >= 0).
    pub a_plus: f64,
    /// Depression step (weight units, <= 0).
    pub a_minus: f64,
    pub w_max: f64,
    pub bounds: Bounds,
    pub interaction: Interaction,
}

impl StdpParams {
    /// Brian2's STDP example: tau 20 ms, A+ = 0.01 w_max, A- = -1.05 A+ tau+/tau-.
    pub fn brian2_example(w_max: f64) -> StdpParams {
        let a_plus = 0.01 * w_max;
        StdpParams {
            tau_plus: 20.0,
            tau_minus: 20.0,
            a_plus,
            a_minus: -1.05 * a_plus,
            w_max,
            bounds: Bounds::Additive,
            interaction: Interaction::AllToAll,
        }
    }

    /// Reads the `plasticity` table of a projection whose weights have dimension `weight`:
    /// `tau_plus`, `tau_minus` (times), `a_plus` (>= 0), `a_minus` (<= 0) and `w_max` (> 0)
    /// in weight units, `bounds` and `interaction` (names).
    pub fn read(r: &TableReader, weight: Dim) -> Result<StdpParams> {
        let choice = |key: &str, names: &[&str]| -> Result<usize> {
            let Some((name, span)) = r.opt_str(key)? else { return Ok(0) };
            names.iter().position(|n| *n == name).ok_or_else(|| {
                r.error_at(key, span, format!("unknown {key} `{name}` (expected one of: {})", names.join(", ")))
            })
        };
        let p = StdpParams {
            tau_plus: r.req_quantity("tau_plus", Dim::TIME)?,
            tau_minus: r.req_quantity("tau_minus", Dim::TIME)?,
            a_plus: r.req_quantity("a_plus", weight)?,
            a_minus: r.req_quantity("a_minus", weight)?,
            w_max: r.req_quantity("w_max", weight)?,
            bounds: [Bounds::Additive, Bounds::Multiplicative][choice("bounds", BOUNDS)?],
            interaction: [Interaction::AllToAll, Interaction::Nearest][choice("interaction", INTERACTIONS)?],
        };
        for (key, ok, what) in [
            ("tau_plus", p.tau_plus > 0.0, "must be positive"),
            ("tau_minus", p.tau_minus > 0.0, "must be positive"),
            ("a_plus", p.a_plus >= 0.0, "must not be negative (potentiation)"),
            ("a_minus", p.a_minus <= 0.0, "must not be positive (depression)"),
            ("w_max", p.w_max > 0.0, "must be positive"),
        ] {
            if !ok {
                return Err(r.field_error(key, format!("`{key}` {what}")));
            }
        }
        Ok(p)
    }

    pub fn validate(&self) -> Result<()> {
        check_positive("stdp", "tau_plus", self.tau_plus)?;
        check_positive("stdp", "tau_minus", self.tau_minus)?;
        check_positive("stdp", "w_max", self.w_max)?;
        let signs_ok = (0.0..f64::INFINITY).contains(&self.a_plus) && (f64::NEG_INFINITY..=0.0).contains(&self.a_minus);
        if !signs_ok {
            return Err(EngramError::Model(format!(
                "stdp: `a_plus` must be >= 0 and `a_minus` <= 0, got {} and {}",
                self.a_plus, self.a_minus
            )));
        }
        Ok(())
    }
}

/// A trace with the time of its last update, decayed exactly when read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Trace {
    value: f64,
    time: f64,
}

impl Trace {
    /// The value at time `t` (not before the last update).
    pub fn at(&self, t: f64, tau: f64) -> f64 {
        self.value * super::decay(t - self.time, tau)
    }

    /// Registers a spike at `t`: adds 1 (all-to-all) or resets to 1 (nearest).
    pub fn spike(&mut self, t: f64, tau: f64, interaction: Interaction) {
        let before = match interaction {
            Interaction::AllToAll => self.at(t, tau),
            Interaction::Nearest => 0.0,
        };
        *self = Trace { value: before + 1.0, time: t };
    }
}

/// The state of one synapse: its weight and the traces it sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StdpSynapse {
    pub w: f64,
    pub pre: Trace,
    pub post: Trace,
}

impl StdpSynapse {
    pub fn new(w: f64) -> StdpSynapse {
        StdpSynapse { w, pre: Trace::default(), post: Trace::default() }
    }

    /// A presynaptic spike (arriving at the synapse) at time `t`.
    pub fn on_pre(&mut self, t: f64, p: &StdpParams) {
        let y = self.post.at(t, p.tau_minus);
        self.w = apply(self.w, p.a_minus * y, p);
        self.pre.spike(t, p.tau_plus, p.interaction);
    }

    /// A postsynaptic spike at time `t`.
    pub fn on_post(&mut self, t: f64, p: &StdpParams) {
        let x = self.pre.at(t, p.tau_plus);
        self.w = apply(self.w, p.a_plus * x, p);
        self.post.spike(t, p.tau_minus, p.interaction);
    }
}

/// One step of STDP on a projection's share of synapses in a shard (the `plasticity` phase
/// of the run loop): the traces decay by one step, the presynaptic spikes that reach the
/// synapses now depress by the post trace and then increment the pre trace, and this step's
/// postsynaptic spikes (`post_spikes`, local indices) potentiate by the pre trace and then
/// increment the post trace, in the order of [`StdpSynapse`]. With one delay for the whole
/// projection, spikes `sent` at this step are queued for `delay - 1` steps and the pre traces
/// are per presynaptic neuron; with per-synapse delays ([`Arrivals::Synapses`]) each spike is
/// scheduled on each of its synapses and the pre traces are per synapse. Every shard sees the
/// same spikes in the same order, so the result does not depend on the thread count.
pub fn step_projection(proj: &mut ProjectionShard, sent: &[u32], post_spikes: &[u32]) {
    let Some(state) = proj.plastic.as_mut() else { return };
    let Weights::Plastic(w) = &mut proj.weights else { unreachable!("plastic projections have plastic weights") };
    let PlasticRule::Pair { params: p, pre_trace, post_trace } = &mut state.rule else {
        unreachable!("called for pair STDP projections only")
    };
    pre_trace.step();
    post_trace.step();
    // Presynaptic traces are kept per synapse where delays differ, else per neuron.
    let per_synapse = matches!(state.arrivals, Arrivals::Synapses(_));
    match (&mut state.arrivals, &proj.delays) {
        (Arrivals::Synapses(arrivals), Delays::PerSynapse(delays)) => {
            arrivals.step(sent, &proj.row_start, delays, |s| {
                w[s] = apply(w[s], p.a_minus * post_trace.get(proj.post[s] as usize), p);
                pre_trace.spike(s, p.interaction);
            });
        }
        (Arrivals::Synapses(_), Delays::Same(_)) => unreachable!("per-synapse arrivals come with per-synapse delays"),
        (Arrivals::Neurons(in_flight), _) => {
            let mut queued = Vec::new();
            for &i in super::arriving(in_flight, sent, &mut queued) {
                for s in row_range(&proj.row_start, i) {
                    w[s] = apply(w[s], p.a_minus * post_trace.get(proj.post[s] as usize), p);
                }
                pre_trace.spike(i as usize, p.interaction);
            }
        }
    }
    for &j in post_spikes {
        for &(s, i) in state.incoming.of(j) {
            let x = pre_trace.get(if per_synapse { s } else { i } as usize);
            w[s as usize] = apply(w[s as usize], p.a_plus * x, p);
        }
        post_trace.spike(j as usize, p.interaction);
    }
}

/// The traces of many neurons, all decaying by the same factor each step, stored divided by
/// the decay since a reference step (`trace = stored * scale`), so that a step costs one
/// multiplication instead of one per neuron. When `scale` gets small the stored values are
/// brought back to scale 1, long before they could overflow.
#[derive(Debug, Clone)]
pub struct ScaledTraces {
    stored: Vec<f64>,
    scale: f64,
    inverse: f64,
    decay: f64,
}

impl ScaledTraces {
    const RENORMALISE_BELOW: f64 = 1e-100;

    /// `n` zero traces that decay by `decay` per step.
    pub fn new(n: usize, decay: f64) -> ScaledTraces {
        ScaledTraces { stored: vec![0.0; n], scale: 1.0, inverse: 1.0, decay }
    }

    /// Advances every trace by one step.
    pub fn step(&mut self) {
        self.scale *= self.decay;
        if self.scale < Self::RENORMALISE_BELOW {
            let scale = self.scale;
            self.stored.iter_mut().for_each(|x| *x *= scale);
            self.scale = 1.0;
        }
        self.inverse = 1.0 / self.scale;
    }

    pub fn get(&self, i: usize) -> f64 {
        self.stored[i] * self.scale
    }

    /// A spike of neuron `i`: its trace gains 1 (all-to-all) or is set to 1 (nearest).
    pub fn spike(&mut self, i: usize, interaction: Interaction) {
        match interaction {
            Interaction::AllToAll => self.stored[i] += self.inverse,
            Interaction::Nearest => self.stored[i] = self.inverse,
        }
    }
}

/// Adds the change `dw` (potentiation if positive) to `w` within the bounds.
fn apply(w: f64, dw: f64, p: &StdpParams) -> f64 {
    match p.bounds {
        Bounds::Additive => (w + dw).clamp(0.0, p.w_max),
        Bounds::Multiplicative if dw >= 0.0 => w + dw * (1.0 - w / p.w_max),
        Bounds::Multiplicative => w + dw * (w / p.w_max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's parameters: A+ = 0.01, A- = -0.0105, tau 20 ms, bounds far away.
    fn spec_params() -> StdpParams {
        StdpParams { w_max: 1e9, ..StdpParams::brian2_example(1.0) }
    }

    /// Weight change after `pairs` pairs at `rate_hz` with t_post - t_pre = `dt_ms`,
    /// starting from w = 0 (additive bounds at ±1e9 so they never bind).
    fn pairs(pairs: usize, rate_hz: f64, dt_ms: f64) -> f64 {
        let p = StdpParams { bounds: Bounds::Additive, ..spec_params() };
        let start = 1e6;
        let mut s = StdpSynapse::new(start);
        let period = 1000.0 / rate_hz;
        for k in 0..pairs {
            let t_pre = 100.0 + k as f64 * period;
            let t_post = t_pre + dt_ms;
            if dt_ms >= 0.0 {
                s.on_pre(t_pre, &p);
                s.on_post(t_post, &p);
            } else {
                s.on_post(t_post, &p);
                s.on_pre(t_pre, &p);
            }
        }
        s.w - start
    }

    #[test]
    fn single_pairs_match_the_spec() {
        assert!((pairs(1, 1.0, 10.0) - 0.006065307).abs() < 1e-9);
        assert!((pairs(1, 1.0, -10.0) - -0.006368572).abs() < 1e-9);
    }

    #[test]
    fn sixty_pairs_at_1_hz_match_the_spec() {
        assert!((pairs(60, 1.0, 10.0) - 0.3639184).abs() < 1e-6);
        assert!((pairs(60, 1.0, -10.0) - -0.3821143).abs() < 1e-6);
    }

    #[test]
    fn additive_bounds_clip_and_soft_bounds_approach_w_max() {
        let hard = StdpParams { a_plus: 0.6, ..StdpParams::brian2_example(1.0) };
        let mut s = StdpSynapse::new(0.9);
        s.on_pre(0.0, &hard);
        s.on_post(0.0, &hard);
        assert_eq!(s.w, 1.0);
        let soft = StdpParams { bounds: Bounds::Multiplicative, ..hard };
        let mut s = StdpSynapse::new(0.9);
        for k in 0..50 {
            s.on_pre(k as f64 * 100.0, &soft);
            s.on_post(k as f64 * 100.0, &soft);
        }
        assert!(s.w < 1.0 && s.w > 0.99, "soft bound: {}", s.w);
    }

    #[test]
    fn nearest_spike_traces_reset_instead_of_adding() {
        let p = StdpParams { interaction: Interaction::Nearest, ..spec_params() };
        let mut s = StdpSynapse::new(1e6);
        s.on_pre(0.0, &p);
        s.on_pre(5.0, &p);
        s.on_post(15.0, &p);
        assert!((s.w - 1e6 - 0.01 * (-0.5f64).exp()).abs() < 1e-9, "only the nearest pre spike counts");
    }

    #[test]
    fn scaled_traces_decay_exactly_and_survive_renormalisation() {
        let decay = super::super::decay(0.1, 20.0);
        let mut t = ScaledTraces::new(2, decay);
        t.spike(0, Interaction::AllToAll);
        // Far past the renormalisation point (scale 1e-100 after about 46 000 steps).
        for _ in 0..100_000 {
            t.step();
        }
        t.spike(1, Interaction::AllToAll);
        t.spike(1, Interaction::AllToAll);
        for _ in 0..200 {
            t.step();
        }
        assert!((t.get(1) - 2.0 * (-1.0f64).exp()).abs() < 1e-12, "{}", t.get(1));
        let old = (-100_200.0 * 0.1 / 20.0f64).exp();
        assert!((t.get(0) / old - 1.0).abs() < 1e-9, "{} vs {old}", t.get(0));
        t.spike(1, Interaction::Nearest);
        assert!((t.get(1) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in [
            StdpParams { tau_plus: 0.0, ..spec_params() },
            StdpParams { a_minus: 0.01, ..spec_params() },
            StdpParams { a_plus: -0.01, ..spec_params() },
            StdpParams { w_max: -1.0, ..spec_params() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert!(spec_params().validate().is_ok());
    }
}
