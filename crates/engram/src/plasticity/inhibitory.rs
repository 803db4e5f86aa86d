//! Inhibitory spike-timing-dependent plasticity that balances excitation with inhibition
//! and holds each postsynaptic neuron at a target rate (Vogels, Sprekeler, Zenke, Clopath &
//! Gerstner 2011, Science 334:1569, equations in its supplement).
//!
//! ```text
//! tau dx/dt = -x,   pre spike:  x <- x + 1        (presynaptic, inhibitory neuron)
//! tau dy/dt = -y,   post spike: y <- y + 1        (postsynaptic neuron)
//! pre spike:  g <- g + eta (y - alpha)            alpha = 2 rho0 tau
//! post spike: g <- g + eta x
//! g in [0, w_max]
//! ```
//! `g` is the synapse's inhibitory strength: the weight of a conductance synapse whose
//! reversal potential lies below the postsynaptic threshold (`exp_cond`), or the magnitude
//! of a negative weight (`exp_current`, `delta`: the stored weight is `-g`).
//!
//! Why rho0 is the target: for pre and post spike trains at rates rho_pre and rho_post with
//! no correlation, a pre spike meets `<y> = rho_post tau` and a post spike `<x> = rho_pre tau`,
//! so the mean drift is `<dg/dt> = eta rho_pre (2 tau rho_post - alpha) = 2 eta tau rho_pre
//! (rho_post - rho0)`: a neuron firing above rho0 gets stronger inhibition, one firing below
//! weaker, until it fires at rho0. With correlations each synapse adds `∫ C_j(s) e^(-|s|/tau)
//! ds` to the drift (C_j the covariance of pre j and post); an inhibitory spike makes its
//! target less likely to fire for a while (C_j < 0), so the neuron settles above rho0, by
//! `-Σ_j C_j / (2 tau Σ_j rho_j)`. To linear order the numerator follows the total inhibition
//! the neuron needs, so the shift falls as 1 / (number of inhibitory inputs × their rate).
//!
//! Units: times in ms, `target_rate` in 1/ms (a model file's "5 Hz" is 0.005 /ms), `eta` and
//! `w_max` in the projection's weight units, traces and alpha dimensionless.
//!
//! At a spike the synapse first changes with the other side's trace, then increments its own
//! trace, as pair STDP does (`stdp`). In the run loop (`plasticity = { rule =
//! "inhibitory_stdp", ... }`), [`step_projection`] decays both traces by one step, applies
//! the presynaptic spikes that reach the synapses now (per synapse where delays differ) and
//! then the step's postsynaptic spikes.

use serde::Serialize;

use super::check_positive;
use super::stdp::{Interaction, ScaledTraces, Trace};
use crate::error::{EngramError, Result};
use crate::network::{Arrivals, Delays, PlasticRule, ProjectionShard, Weights, row_range};
use crate::spec::reader::TableReader;
use crate::units::Dim;

/// What a model file gives for inhibitory STDP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InhibitoryStdpParams {
    /// Time constant of both traces (ms).
    pub tau: f64,
    /// Learning rate (weight units, > 0).
    pub eta: f64,
    /// Target rate rho0 of the postsynaptic neurons (1/ms, > 0).
    pub target_rate: f64,
    /// Upper bound of the inhibitory strength (weight units, > 0).
    pub w_max: f64,
}

impl InhibitoryStdpParams {
    /// Reads the `plasticity` table of a projection whose weights have dimension `weight`:
    /// `tau` (time), `eta` and `w_max` (weight units), `target_rate` (rate), all required
    /// and positive.
    pub fn read(r: &TableReader, weight: Dim) -> Result<InhibitoryStdpParams> {
        let p = InhibitoryStdpParams {
            tau: r.req_quantity("tau", Dim::TIME)?,
            eta: r.req_quantity("eta", weight)?,
            target_rate: r.req_quantity("target_rate", Dim::RATE)?,
            w_max: r.req_quantity("w_max", weight)?,
        };
        for (key, x) in [("tau", p.tau), ("eta", p.eta), ("target_rate", p.target_rate), ("w_max", p.w_max)] {
            if !(x > 0.0 && x.is_finite()) {
                let why = if key == "eta" { " (a negative rate would drive the neuron away from its target rate)" } else { "" };
                return Err(r.field_error(key, format!("`{key}` must be positive{why}, got {x}")));
            }
        }
        Ok(p)
    }

    pub fn validate(&self) -> Result<()> {
        check_positive("inhibitory_stdp", "tau", self.tau)?;
        check_positive("inhibitory_stdp", "eta", self.eta)?;
        check_positive("inhibitory_stdp", "target_rate", self.target_rate)?;
        check_positive("inhibitory_stdp", "w_max", self.w_max)
    }

    /// The depression per presynaptic spike, in units of eta: alpha = 2 rho0 tau.
    pub fn alpha(&self) -> f64 {
        2.0 * self.target_rate * self.tau
    }

    /// The constants for weights stored as `sign * g` (+1 for conductances, -1 for
    /// negative current or voltage weights).
    pub fn lower(&self, sign: f64) -> Result<InhibitoryConsts> {
        self.validate()?;
        if sign != 1.0 && sign != -1.0 {
            return Err(EngramError::Model(format!("inhibitory_stdp: the weight sign must be 1 or -1, got {sign}")));
        }
        Ok(InhibitoryConsts { eta: self.eta, eta_alpha: self.eta * self.alpha(), w_max: self.w_max, sign })
    }
}

/// Lowered constants: eta, eta alpha, the bound and the sign of the stored weights.
#[derive(Debug, Clone, PartialEq)]
pub struct InhibitoryConsts {
    eta: f64,
    eta_alpha: f64,
    w_max: f64,
    sign: f64,
}

impl InhibitoryConsts {
    /// The stored weight `w` (= sign g) after its strength g changes by `dg`, g kept in
    /// [0, w_max].
    #[inline]
    fn apply(&self, w: f64, dg: f64) -> f64 {
        self.sign * (self.sign * w + dg).max(0.0).min(self.w_max)
    }

    /// The change of g at a presynaptic spike that meets the post trace `y`.
    #[inline]
    fn on_pre(&self, y: f64) -> f64 {
        self.eta.mul_add(y, -self.eta_alpha)
    }

    /// The change of g at a postsynaptic spike that meets the pre trace `x`.
    #[inline]
    fn on_post(&self, x: f64) -> f64 {
        self.eta * x
    }
}

/// One synapse with its traces kept at their last update (for event-driven use and tests).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InhibitorySynapse {
    /// The stored weight (sign g).
    pub w: f64,
    pub pre: Trace,
    pub post: Trace,
}

impl InhibitorySynapse {
    pub fn new(w: f64) -> InhibitorySynapse {
        InhibitorySynapse { w, pre: Trace::default(), post: Trace::default() }
    }

    /// A presynaptic spike (arriving at the synapse) at time `t`.
    pub fn on_pre(&mut self, t: f64, p: &InhibitoryStdpParams, c: &InhibitoryConsts) {
        self.w = c.apply(self.w, c.on_pre(self.post.at(t, p.tau)));
        self.pre.spike(t, p.tau, Interaction::AllToAll);
    }

    /// A postsynaptic spike at time `t`.
    pub fn on_post(&mut self, t: f64, p: &InhibitoryStdpParams, c: &InhibitoryConsts) {
        self.w = c.apply(self.w, c.on_post(self.pre.at(t, p.tau)));
        self.post.spike(t, p.tau, Interaction::AllToAll);
    }
}

/// The run loop's state of inhibitory STDP on a projection's share in one shard: the
/// presynaptic traces (per presynaptic neuron, or per synapse where delays differ) and the
/// postsynaptic ones (per local neuron), both decaying by exp(-dt/tau) per step.
#[derive(Debug, Clone)]
pub struct InhibitoryState {
    consts: InhibitoryConsts,
    pre_trace: ScaledTraces,
    post_trace: ScaledTraces,
}

impl InhibitoryState {
    /// The state on a step of `dt` ms for weights stored as `sign * g`.
    pub fn new(params: &InhibitoryStdpParams, sign: f64, dt: f64, n_pre_traces: usize, n_post: usize) -> Result<InhibitoryState> {
        let decay = super::decay(dt, params.tau);
        Ok(InhibitoryState {
            consts: params.lower(sign)?,
            pre_trace: ScaledTraces::new(n_pre_traces, decay),
            post_trace: ScaledTraces::new(n_post, decay),
        })
    }
}

/// One step of inhibitory STDP on a projection's share of synapses in a shard (the
/// schedule's `plasticity` phase): the traces decay by one step; the presynaptic spikes
/// that reach the synapses now change g by `eta (y - alpha)` and then increment x; this
/// step's postsynaptic spikes (`post_spikes`, local indices) change g by `eta x` and then
/// increment y. Spikes `sent` at this step reach a one-delay projection's synapses after
/// `delay - 1` steps; with per-synapse delays each spike is scheduled on each synapse. Every
/// shard sees the same spikes in the same order, so the result does not depend on the
/// thread count.
pub fn step_projection(proj: &mut ProjectionShard, sent: &[u32], post_spikes: &[u32]) {
    let Some(state) = proj.plastic.as_mut() else { return };
    let Weights::Plastic(w) = &mut proj.weights else { unreachable!("plastic projections have plastic weights") };
    let PlasticRule::Inhibitory(InhibitoryState { consts: c, pre_trace, post_trace }) = &mut state.rule else {
        unreachable!("called for inhibitory STDP projections only")
    };
    pre_trace.step();
    post_trace.step();
    let per_synapse = matches!(state.arrivals, Arrivals::Synapses(_));
    match (&mut state.arrivals, &proj.delays) {
        (Arrivals::Synapses(arrivals), Delays::PerSynapse(delays)) => {
            arrivals.step(sent, &proj.row_start, delays, |s| {
                w[s] = c.apply(w[s], c.on_pre(post_trace.get(proj.post[s] as usize)));
                pre_trace.spike(s, Interaction::AllToAll);
            });
        }
        (Arrivals::Synapses(_), Delays::Same(_)) => unreachable!("per-synapse arrivals come with per-synapse delays"),
        (Arrivals::Neurons(in_flight), _) => {
            let mut queued = Vec::new();
            for &i in super::arriving(in_flight, sent, &mut queued) {
                for s in row_range(&proj.row_start, i) {
                    w[s] = c.apply(w[s], c.on_pre(post_trace.get(proj.post[s] as usize)));
                }
                pre_trace.spike(i as usize, Interaction::AllToAll);
            }
        }
    }
    for &j in post_spikes {
        for &(s, i) in state.incoming.of(j) {
            let x = pre_trace.get(if per_synapse { s } else { i } as usize);
            w[s as usize] = c.apply(w[s as usize], c.on_post(x));
        }
        post_trace.spike(j as usize, Interaction::AllToAll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vogels et al.'s tau = 20 ms with a 5 Hz target (alpha = 0.2), eta 0.01, w_max 100.
    fn params() -> InhibitoryStdpParams {
        InhibitoryStdpParams { tau: 20.0, eta: 0.01, target_rate: 0.005, w_max: 100.0 }
    }

    #[test]
    fn alpha_is_twice_the_target_rate_times_tau() {
        assert!((params().alpha() - 0.2).abs() < 1e-15);
    }

    #[test]
    fn a_pre_post_pair_changes_g_by_the_closed_form() {
        // Pre at 100 ms (y = 0: -eta alpha), post at 110 ms (+eta e^(-10/20)).
        let (p, c) = (params(), params().lower(1.0).unwrap());
        let mut s = InhibitorySynapse::new(1.0);
        s.on_pre(100.0, &p, &c);
        assert!((s.w - (1.0 - 0.01 * 0.2)).abs() < 1e-15, "{}", s.w);
        s.on_post(110.0, &p, &c);
        let want = 1.0 - 0.01 * 0.2 + 0.01 * (-0.5f64).exp();
        assert!((s.w - want).abs() < 1e-15, "{} vs {want}", s.w);
    }

    #[test]
    fn a_post_pre_pair_is_potentiated_by_the_same_kernel() {
        // The window is symmetric: post at 100 ms (x = 0), pre at 110 ms: eta (e^(-1/2) - alpha).
        let (p, c) = (params(), params().lower(1.0).unwrap());
        let mut s = InhibitorySynapse::new(1.0);
        s.on_post(100.0, &p, &c);
        assert_eq!(s.w, 1.0);
        s.on_pre(110.0, &p, &c);
        let want = 1.0 + 0.01 * ((-0.5f64).exp() - 0.2);
        assert!((s.w - want).abs() < 1e-15, "{} vs {want}", s.w);
    }

    #[test]
    fn negative_weights_change_in_magnitude_and_bounds_hold() {
        let p = InhibitoryStdpParams { eta: 0.5, w_max: 1.0, ..params() };
        let c = p.lower(-1.0).unwrap();
        let mut s = InhibitorySynapse::new(-0.9);
        s.on_pre(0.0, &p, &c);
        assert!((s.w - -(0.9 - 0.5 * 0.2)).abs() < 1e-15, "depression lowers |w|: {}", s.w);
        s.on_post(0.0, &p, &c);
        assert_eq!(s.w, -1.0, "|w| is clipped at w_max");
        let mut s = InhibitorySynapse::new(-0.05);
        s.on_pre(1000.0, &p, &c);
        assert_eq!(s.w, 0.0, "|w| is clipped at 0");
        let c = p.lower(1.0).unwrap();
        let mut s = InhibitorySynapse::new(0.05);
        s.on_pre(1000.0, &p, &c);
        assert_eq!(s.w, 0.0);
    }

    #[test]
    fn uncorrelated_trains_drift_toward_the_target() {
        // Regular pre and post trains with incommensurate periods meet at every phase, so the
        // mean change per ms is eta rho_pre (2 tau rho_post - alpha): negative below the
        // 5 Hz target, zero at it, positive above.
        let (p, c) = (params(), params().lower(1.0).unwrap());
        let pre_period = 100.0 / 1.618_033_988_749_895;
        let duration = 200_000.0;
        for post_hz in [2.0f64, 5.0, 12.0] {
            let post_period = 1000.0 / post_hz;
            let mut s = InhibitorySynapse::new(50.0);
            let (mut t_pre, mut t_post) = (0.0f64, 3.7);
            while t_pre.min(t_post) < duration {
                if t_pre <= t_post {
                    s.on_pre(t_pre, &p, &c);
                    t_pre += pre_period;
                } else {
                    s.on_post(t_post, &p, &c);
                    t_post += post_period;
                }
            }
            let per_second = (s.w - 50.0) / duration * 1000.0;
            let want = 1000.0 * p.eta / pre_period * (2.0 * p.tau / post_period - p.alpha());
            assert!((per_second - want).abs() < 5e-4, "{post_hz} Hz: {per_second} per s, expected {want}");
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in [
            InhibitoryStdpParams { eta: -0.01, ..params() },
            InhibitoryStdpParams { eta: 0.0, ..params() },
            InhibitoryStdpParams { tau: 0.0, ..params() },
            InhibitoryStdpParams { target_rate: 0.0, ..params() },
            InhibitoryStdpParams { w_max: -1.0, ..params() },
        ] {
            assert!(bad.lower(1.0).is_err(), "{bad:?}");
        }
        assert!(params().lower(0.5).is_err());
        assert!(params().lower(-1.0).is_ok());
    }
}
