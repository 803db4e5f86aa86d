//! Firing-rate homeostasis: synaptic scaling and intrinsic threshold adaptation, driven by a
//! low-pass estimate of the neuron's rate (synaptic scaling: Turrigiano et al. 1998, Nature
//! 391:892, in the form of van Rossum, Bi & Turrigiano 2000, J Neurosci 20:8812; threshold
//! adaptation: e.g. Zenke, Hennequin & Gerstner 2013, PLoS Comput Biol 9:e1003330, and the
//! adaptive thresholds of Diehl & Cook 2015).
//!
//! ```text
//! rate estimate        tau_rate dr/dt = -r + sum_k delta(t - t_k)      (r jumps by 1/tau_rate)
//! synaptic scaling     dw/dt = w (r_target - r) / (r_target tau_scale)  for each incoming w
//! threshold adaptation dtheta/dt = eta (r - r_target)
//! ```
//! Between a neuron's spikes `r(s) = r0 exp(-(s - t0)/tau_rate)`, so the rate error integrates
//! exactly: `E = ∫ (r - r_target) ds = r0 tau_rate (1 - exp(-Δ/tau_rate)) - r_target Δ`. Both
//! mechanisms are functions of `E` alone: the weights are multiplied by
//! `exp(-E / (r_target tau_scale))` (the exact solution, always positive) and the threshold
//! moves by `eta E`. A regular train at the target rate gives `E = 0` over each period once
//! the estimate has settled: the target is a fixed point.
//!
//! Units: times in ms, rates in 1/ms as everywhere in the engine (a model file's "5 Hz" is
//! 0.005 /ms), `eta` in mV (mV/ms per 1/ms), weights in their projection's units.
//!
//! State: [`RateState`] per neuron (estimate and its time). Lazy use: at each spike of the
//! neuron (or at any time, e.g. every N steps) call [`advance`] / [`on_spike`], which return
//! `E` since the previous call; apply [`scaling_factor`] to the neuron's incoming weights
//! with [`scale_incoming`], and add [`threshold_change`] to its threshold.
//!
//! In the run loop both are applied every step, to the rate error integral over the step
//! [t, t + dt] that the neurons have just integrated, after the step's spikes (stamped t)
//! have incremented the estimate ([`StepRates`]: [`on_spike`], then [`advance`] over dt with
//! its factors computed once):
//! synaptic scaling on a projection (`plasticity = { rule = "synaptic_scaling", ... }`,
//! [`scale_projection`]: each neuron's incoming weights of that projection), and threshold
//! adaptation on a population (`homeostasis = { ... }` in its table,
//! [`ThresholdAdaptation`]), for neurons with a threshold variable (`adaptive_lif`'s `th`).

use serde::Serialize;

use super::check_positive;
use crate::error::{EngramError, Result};
use crate::network::{PlasticRule, ProjectionShard, Weights};
use crate::spec::reader::TableReader;
use crate::units::Dim;

/// What a model file gives for homeostasis. Each mechanism is on when its constant is set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HomeostasisParams {
    /// Time constant of the rate estimate (ms).
    pub tau_rate: f64,
    /// Target rate (1/ms, > 0).
    pub target_rate: f64,
    /// Synaptic scaling time constant (ms); `None`: no scaling.
    pub tau_scale: Option<f64>,
    /// Threshold adaptation rate (mV, >= 0); `None`: no adaptation.
    pub eta_threshold: Option<f64>,
    /// Optional bound on the magnitude of scaled weights (> 0).
    pub w_max: Option<f64>,
}

impl HomeostasisParams {
    /// Reads synaptic scaling from a projection's `plasticity` table (weights of dimension
    /// `weight`): `target_rate` (rate), `tau_rate` and `tau_scale` (times), optional `w_max`.
    pub fn read_scaling(r: &TableReader, weight: Dim) -> Result<HomeostasisParams> {
        let p = HomeostasisParams {
            tau_rate: r.req_quantity("tau_rate", Dim::TIME)?,
            target_rate: r.req_quantity("target_rate", Dim::RATE)?,
            tau_scale: Some(r.req_quantity("tau_scale", Dim::TIME)?),
            eta_threshold: None,
            w_max: r.opt_quantity("w_max", weight)?,
        };
        p.check_fields(r)?;
        Ok(p)
    }

    /// Reads threshold adaptation from a population's `homeostasis` table: `target_rate`
    /// (rate), `tau_rate` (time), `eta_threshold` (voltage, >= 0).
    pub fn read_threshold(r: &TableReader) -> Result<HomeostasisParams> {
        let p = HomeostasisParams {
            tau_rate: r.req_quantity("tau_rate", Dim::TIME)?,
            target_rate: r.req_quantity("target_rate", Dim::RATE)?,
            tau_scale: None,
            eta_threshold: Some(r.req_quantity("eta_threshold", Dim::VOLTAGE)?),
            w_max: None,
        };
        p.check_fields(r)?;
        Ok(p)
    }

    /// [`Self::validate`] with each problem reported at its field.
    fn check_fields(&self, r: &TableReader) -> Result<()> {
        for (key, ok, what) in [
            ("tau_rate", self.tau_rate > 0.0, "must be positive"),
            ("target_rate", self.target_rate > 0.0, "must be positive"),
            ("tau_scale", self.tau_scale.is_none_or(|tau| tau > 0.0), "must be positive"),
            ("w_max", self.w_max.is_none_or(|w| w > 0.0), "must be positive"),
            ("eta_threshold", self.eta_threshold.is_none_or(|eta| eta >= 0.0), "must not be negative (a negative rate drives the rate away from the target)"),
        ] {
            if !ok {
                return Err(r.field_error(key, format!("`{key}` {what}")));
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<()> {
        check_positive("homeostasis", "tau_rate", self.tau_rate)?;
        check_positive("homeostasis", "target_rate", self.target_rate)?;
        if let Some(tau) = self.tau_scale {
            check_positive("homeostasis", "tau_scale", tau)?;
        }
        if let Some(w_max) = self.w_max {
            check_positive("homeostasis", "w_max", w_max)?;
        }
        if let Some(eta) = self.eta_threshold
            && !(eta >= 0.0 && eta.is_finite())
        {
            return Err(EngramError::Model(format!(
                "homeostasis: `eta_threshold` must be >= 0 (a negative value drives the rate away from the target), got {eta}"
            )));
        }
        Ok(())
    }

    pub fn lower(&self) -> Result<HomeostasisConsts> {
        self.validate()?;
        Ok(HomeostasisConsts {
            tau_rate: self.tau_rate,
            inv_tau_rate: 1.0 / self.tau_rate,
            target: self.target_rate,
            scale_per_error: self.tau_scale.map_or(0.0, |tau| 1.0 / (self.target_rate * tau)),
            eta_threshold: self.eta_threshold.unwrap_or(0.0),
            w_max: self.w_max.unwrap_or(f64::INFINITY),
        })
    }
}

/// Lowered homeostasis constants.
#[derive(Debug, Clone, PartialEq)]
pub struct HomeostasisConsts {
    tau_rate: f64,
    inv_tau_rate: f64,
    target: f64,
    /// 1 / (r_target tau_scale), 0 without scaling.
    scale_per_error: f64,
    /// 0 without threshold adaptation.
    eta_threshold: f64,
    w_max: f64,
}

/// A neuron's rate estimate (1/ms) as of `t_last` (ms).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RateState {
    pub rate: f64,
    pub t_last: f64,
}

impl RateState {
    pub fn new(rate: f64, t: f64) -> RateState {
        RateState { rate, t_last: t }
    }
}

/// The rate estimate at `t` >= `s.t_last`.
#[inline]
pub fn rate_at(c: &HomeostasisConsts, s: &RateState, t: f64) -> f64 {
    s.rate * (-(t - s.t_last) * c.inv_tau_rate).exp()
}

/// Moves the estimate to `t` and returns the rate error integral `∫ (r - r_target)` (ms/ms,
/// dimensionless) over [s.t_last, t].
#[inline]
pub fn advance(c: &HomeostasisConsts, s: &mut RateState, t: f64) -> f64 {
    let dt = t - s.t_last;
    let x = -dt * c.inv_tau_rate;
    let error = (s.rate * c.tau_rate).mul_add(-x.exp_m1(), -c.target * dt);
    *s = RateState { rate: s.rate * x.exp(), t_last: t };
    error
}

/// A spike of the neuron at `t`: [`advance`]s to `t` (returning the error integral), then
/// adds 1/tau_rate to the estimate.
#[inline]
pub fn on_spike(c: &HomeostasisConsts, s: &mut RateState, t: f64) -> f64 {
    let error = advance(c, s, t);
    s.rate += c.inv_tau_rate;
    error
}

/// The factor by which synaptic scaling multiplies the incoming weights over an interval
/// with rate error integral `error` (1 without scaling).
#[inline]
pub fn scaling_factor(c: &HomeostasisConsts, error: f64) -> f64 {
    (-c.scale_per_error * error).exp()
}

/// Multiplies the neuron's incoming weights by `factor`, keeping |w| <= w_max.
#[inline]
pub fn scale_incoming(c: &HomeostasisConsts, factor: f64, weights: &mut [f64]) {
    for w in weights {
        *w = scale(c, factor, *w);
    }
}

/// One weight multiplied by `factor`, kept within |w| <= w_max.
#[inline]
pub fn scale(c: &HomeostasisConsts, factor: f64, w: f64) -> f64 {
    (w * factor).clamp(-c.w_max, c.w_max)
}

/// The threshold change (mV) over an interval with rate error integral `error`.
#[inline]
pub fn threshold_change(c: &HomeostasisConsts, error: f64) -> f64 {
    c.eta_threshold * error
}

/// The rate estimates of a block of neurons advanced one step of dt at a time: [`advance`]
/// and [`on_spike`] over an interval of exactly dt, with `exp(-dt/tau_rate)` and
/// `tau_rate (1 - exp(-dt/tau_rate))` computed once.
#[derive(Debug, Clone)]
pub struct StepRates {
    rates: Vec<f64>,
    decay: f64,
    /// Integral of the estimate over a step, per unit of its value at the step's start.
    mean: f64,
    /// target_rate dt.
    target: f64,
    jump: f64,
}

impl StepRates {
    /// `n` neurons with no rate estimate yet, on a step of `dt` ms.
    pub fn new(c: &HomeostasisConsts, n: usize, dt: f64) -> StepRates {
        let x = -dt * c.inv_tau_rate;
        StepRates { rates: vec![0.0; n], decay: x.exp(), mean: -c.tau_rate * x.exp_m1(), target: c.target * dt, jump: c.inv_tau_rate }
    }

    /// Registers the step's `spikes` (local indices), then calls `f(j, E)` for every neuron j
    /// with its rate error integral over the step and advances its estimate by dt.
    fn step(&mut self, spikes: &[u32], mut f: impl FnMut(usize, f64)) {
        spikes.iter().for_each(|&j| self.rates[j as usize] += self.jump);
        for (j, r) in self.rates.iter_mut().enumerate() {
            f(j, r.mul_add(self.mean, -self.target));
            *r *= self.decay;
        }
    }
}

/// The rate estimates of a projection's local postsynaptic neurons, for synaptic scaling.
#[derive(Debug, Clone)]
pub struct ScalingState {
    consts: HomeostasisConsts,
    rates: StepRates,
}

impl ScalingState {
    /// `n_post` neurons with no rate estimate yet (0 at t = 0), on a step of `dt` ms; `params`
    /// with its `w_max` in the projection's stored weight units.
    pub fn new(params: &HomeostasisParams, n_post: usize, dt: f64) -> Result<ScalingState> {
        let consts = params.lower()?;
        Ok(ScalingState { rates: StepRates::new(&consts, n_post, dt), consts })
    }
}

/// One step of synaptic scaling on a projection's share in a shard, with this step's
/// postsynaptic spikes `post_spikes` (local indices): each local neuron's incoming weights of
/// the projection are multiplied by [`scaling_factor`] of its rate error integral over the
/// step. Each shard scales its own neurons' synapses, so the result does not depend on the
/// thread count.
pub fn scale_projection(proj: &mut ProjectionShard, post_spikes: &[u32]) {
    let Some(state) = proj.plastic.as_mut() else { return };
    let Weights::Plastic(w) = &mut proj.weights else { unreachable!("plastic projections have plastic weights") };
    let PlasticRule::SynapticScaling(sc) = &mut state.rule else { unreachable!("called for synaptic scaling projections only") };
    let incoming = &state.incoming;
    sc.rates.step(post_spikes, |j, error| {
        let factor = scaling_factor(&sc.consts, error);
        for &(s, _) in incoming.of(j as u32) {
            w[s as usize] = scale(&sc.consts, factor, w[s as usize]);
        }
    });
}

/// Threshold adaptation of a population's block of neurons in one shard, for a neuron
/// model whose threshold is `v_th + th` with a state variable `th` that decays by
/// `th_decay` per step before the threshold test (`adaptive_lif`). The homeostatic offset θ
/// of each neuron is kept in `th` and exempt from that decay: [`Self::before_step`] adds
/// `θ (1/th_decay - 1)` so that the model's decay leaves θ in place for the test, and
/// [`Self::after_step`] moves θ by [`threshold_change`]. Between steps `th` = the model's
/// spike-triggered part + θ.
#[derive(Debug, Clone)]
pub struct ThresholdAdaptation {
    consts: HomeostasisConsts,
    rates: StepRates,
    offset: Vec<f64>,
    /// 1/th_decay - 1.
    undo_decay: f64,
    /// Index of `th` among the model's state variables.
    pub th_var: usize,
}

impl ThresholdAdaptation {
    pub fn new(params: &HomeostasisParams, n: usize, dt: f64, th_decay: f64, th_var: usize) -> Result<ThresholdAdaptation> {
        let consts = params.lower()?;
        Ok(ThresholdAdaptation {
            rates: StepRates::new(&consts, n, dt),
            consts,
            offset: vec![0.0; n],
            undo_decay: 1.0 / th_decay - 1.0,
            th_var,
        })
    }

    /// Before the neurons' step: compensates the decay the model applies to θ.
    pub fn before_step(&self, th: &mut [f64]) {
        for (th, &offset) in th.iter_mut().zip(&self.offset) {
            *th = offset.mul_add(self.undo_decay, *th);
        }
    }

    /// After the neurons' step with spikes `spikes` (local indices): each neuron's θ (and
    /// `th`) moves by `eta_threshold E`.
    pub fn after_step(&mut self, th: &mut [f64], spikes: &[u32]) {
        let (c, offset) = (&self.consts, &mut self.offset);
        self.rates.step(spikes, |j, error| {
            let change = threshold_change(c, error);
            offset[j] += change;
            th[j] += change;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(target_hz: f64) -> HomeostasisParams {
        HomeostasisParams {
            tau_rate: 200.0,
            target_rate: target_hz / 1000.0,
            tau_scale: Some(2000.0),
            eta_threshold: Some(0.5),
            w_max: None,
        }
    }

    #[test]
    fn a_regular_train_at_the_target_rate_is_a_fixed_point() {
        // Period 50 ms, target 20 Hz: once the estimate has settled, E over a period is 0.
        let c = params(20.0).lower().unwrap();
        let mut s = RateState::default();
        let mut error = f64::NAN;
        for k in 0..400 {
            error = on_spike(&c, &mut s, k as f64 * 50.0);
        }
        assert!(error.abs() < 1e-12, "E over one period: {error}");
        assert_eq!(scaling_factor(&c, error), (-error / 0.02 / 2000.0).exp());
        assert!((scaling_factor(&c, error) - 1.0).abs() < 1e-12 && threshold_change(&c, error).abs() < 1e-12);
        // The estimate just after a spike is (1/tau) / (1 - exp(-T/tau)).
        let peak = (1.0 / 200.0) / (1.0 - (-50.0f64 / 200.0).exp());
        assert!((s.rate - peak).abs() < 1e-15);
        // At another target the period's error is 1 - r_target T.
        let c = params(10.0).lower().unwrap();
        assert!((on_spike(&c, &mut s, 400.0 * 50.0) - (1.0 - 0.01 * 50.0)).abs() < 1e-12);
    }

    #[test]
    fn a_silent_neuron_scales_up_exponentially_and_lowers_its_threshold_linearly() {
        let c = params(5.0).lower().unwrap();
        let mut s = RateState::new(0.0, 0.0);
        let (mut w, mut theta) = ([0.5, -0.2, 1.0], -50.0);
        for k in 1..=100 {
            let e = advance(&c, &mut s, k as f64 * 10.0);
            scale_incoming(&c, scaling_factor(&c, e), &mut w);
            theta += threshold_change(&c, e);
        }
        // dw/dt = w / tau_scale and dtheta/dt = -eta r_target over 1000 ms.
        let g = (1000.0f64 / 2000.0).exp();
        for (got, w0) in w.iter().zip([0.5, -0.2, 1.0]) {
            assert!((got - w0 * g).abs() < 1e-12, "{got} vs {}", w0 * g);
        }
        assert!((theta - (-50.0 - 0.5 * 0.005 * 1000.0)).abs() < 1e-12);
    }

    #[test]
    fn rate_error_is_exact_whatever_the_update_times() {
        let c = params(8.0).lower().unwrap();
        let (mut a, mut b) = (RateState::new(0.03, 0.0), RateState::new(0.03, 0.0));
        let once = advance(&c, &mut a, 321.0);
        let split: f64 = (1..=321).map(|k| advance(&c, &mut b, k as f64)).sum();
        assert!((once - split).abs() < 1e-12 && (a.rate - b.rate).abs() < 1e-15);
        let want = 0.03 * 200.0 * (1.0 - (-321.0f64 / 200.0).exp()) - 0.008 * 321.0;
        assert!((once - want).abs() < 1e-12);
    }

    #[test]
    fn step_rates_equal_the_lazy_estimate() {
        // The run loop's per-step form: spikes of the step first, then the step's error.
        let c = params(8.0).lower().unwrap();
        let dt = 0.1;
        let spikes = [3usize, 40, 41, 400, 1234];
        let mut steps = StepRates::new(&c, 1, dt);
        let (mut lazy, mut per_step, mut total) = (RateState::default(), 0.0, 0.0);
        for n in 0..2000 {
            let spiked: &[u32] = if spikes.contains(&n) { &[0] } else { &[] };
            steps.step(spiked, |_, e| per_step += e);
            if !spiked.is_empty() {
                total += on_spike(&c, &mut lazy, n as f64 * dt);
            }
        }
        total += advance(&c, &mut lazy, 2000.0 * dt);
        assert!((per_step - total).abs() < 1e-12, "{per_step} vs {total}");
        assert!((steps.rates[0] - lazy.rate).abs() < 1e-15);
    }

    #[test]
    fn scaling_drives_a_rate_neuron_to_the_target() {
        // A neuron firing regularly at rate k * W: scaling W at each spike converges to
        // W* = r_target / k, the only weight at which a period's error vanishes.
        let (k, target) = (0.04, 0.01);
        let c = HomeostasisParams { eta_threshold: None, ..params(10.0) }.lower().unwrap();
        let (mut s, mut w, mut t) = (RateState::default(), [3.0, 1.0], 0.0);
        for _ in 0..3000 {
            let e = on_spike(&c, &mut s, t);
            scale_incoming(&c, scaling_factor(&c, e), &mut w);
            t += 1.0 / (k * (w[0] + w[1]));
        }
        let w_total = w[0] + w[1];
        assert!((w_total - target / k).abs() < 1e-9 * (target / k), "W = {w_total}");
        assert!((w[0] / w[1] - 3.0).abs() < 1e-12, "scaling is multiplicative");
    }

    #[test]
    fn threshold_adaptation_drives_a_driven_lif_to_the_target_rate() {
        // LIF (tau_m = 20 ms, reset and rest 0) under constant drive V_inf = 30 mV fires with
        // period T(theta) = tau_m ln(V_inf / (V_inf - theta)); the threshold is updated at
        // each spike. The target 20 Hz (T* = 50 ms) needs theta* = V_inf (1 - exp(-T*/tau_m)).
        let (tau_m, v_inf) = (20.0, 30.0);
        let c = HomeostasisParams { tau_scale: None, ..params(20.0) }.lower().unwrap();
        let (mut s, mut theta, mut t) = (RateState::default(), 20.0, 0.0);
        for _ in 0..3000 {
            theta += threshold_change(&c, on_spike(&c, &mut s, t));
            t += tau_m * (v_inf / (v_inf - theta)).ln();
        }
        let theta_star = v_inf * (1.0 - (-50.0f64 / tau_m).exp());
        assert!((theta - theta_star).abs() < 1e-9, "theta = {theta}, theta* = {theta_star}");
    }

    #[test]
    fn bad_parameters_are_refused() {
        for bad in [
            HomeostasisParams { tau_rate: 0.0, ..params(5.0) },
            HomeostasisParams { target_rate: 0.0, ..params(5.0) },
            HomeostasisParams { tau_scale: Some(-1.0), ..params(5.0) },
            HomeostasisParams { eta_threshold: Some(-0.1), ..params(5.0) },
            HomeostasisParams { w_max: Some(0.0), ..params(5.0) },
        ] {
            assert!(bad.lower().is_err(), "{bad:?}");
        }
        assert!(params(5.0).lower().is_ok());
    }
}
