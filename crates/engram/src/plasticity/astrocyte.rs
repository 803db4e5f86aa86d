//! NALSM's astrocyte and astrocyte-modulated STDP (Ivanov & Michmizos 2021, NeurIPS,
//! arXiv:2111.01760, Eq. 7; code `combra-lab/NALSM`, `NALSM_ASTRO.py`, `NALSM_STDP.py`;
//! spec §3.4), on NALSM's 1 ms grid.
//!
//! ```text
//! astrocyte (one per network):
//!   A <- A + (w_A (sum_{liquid} S - sum_{input} S) + b_A - A) / tau_A
//! traces (every neuron):
//!   x <- d (x + 0.1 S)                         d = 0.904774 (d^10 ≈ e^-1, fitted on a grid)
//! weight of synapse j -> i, each step, with the traces from before this step's increment:
//!   pre j excitatory or input:  post spike: w += eta_plus x_j     pre spike: w -= A x_i
//!   pre j inhibitory:           post spike: w -= A x_j            pre spike: w += eta_plus x_i
//!   then clip: excitatory [0, 3], inhibitory [-3, 0], input [-3, 3]
//! ```
//! The astrocyte sets the depression rate (the potentiation rate is fixed at eta_plus =
//! 0.15): liquid activity above the input's raises A and with it depression, which pulls the
//! liquid back toward a branching factor near 1. Constants: tau_A = 100 ms, A(0) = b_A =
//! 0.15, w_A = 0.015 (1000-neuron liquids) or 0.0075 (8000). At a sample's start A returns
//! to A(0).
//!
//! Units: the model's dimensionless units; time in 1 ms steps (lowering refuses another dt).
//! Within a step, after the neurons' phases 1-6 (`nalsm_neuron.rs`): [`stdp_step`] for the
//! synapses whose pre or post neuron spiked (the others do not change), using the current
//! A and the traces from before this step; then [`trace_step`] for every neuron; then
//! [`astrocyte_step`] with this step's spike counts. State: the weight per synapse, `x` per
//! neuron, `A` per network (plain `f64`s).
//!
//! In the run loop a projection takes the rule with `plasticity = { rule = "astrocyte_stdp",
//! pre_kind = "excitatory" | "inhibitory" | "input", ... }` ([`AstroStdpSpec`]), on a 1 ms
//! step. The astrocyte counts the spikes of the groups listed in `liquid` minus those in
//! `input`; each projection keeps its own copy of A, so projections given the same astrocyte
//! fields share one astrocyte as in NALSM (their copies are equal at every step). A spike
//! reaches a synapse after its delay (at once for the one-step minimum); with delays drawn
//! per synapse the presynaptic trace is kept per synapse.

use serde::Serialize;

use super::check_positive;
use super::nalsm_neuron::check_nalsm_dt;
use super::stdp::{Interaction, ScaledTraces};
use crate::error::{EngramError, Result};
use crate::network::{Arrivals, Delays, PlasticRule, ProjectionShard, Weights, row_range};
use crate::spec::reader::TableReader;
use crate::units::Dim;

/// Names accepted in `pre_kind = "..."`, in [`PreKind`] order.
const PRE_KINDS: &[&str] = &["excitatory", "inhibitory", "input"];

/// What a model file gives for the NALSM astrocyte.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AstrocyteParams {
    /// Time constant (ms, >= 1 step).
    pub tau_a: f64,
    /// Weight of the spike-count difference (>= 0).
    pub w_a: f64,
    /// Bias b_A (the value A relaxes to without activity).
    pub b_a: f64,
    /// A at the start of every sample.
    pub a_initial: f64,
}

impl AstrocyteParams {
    /// tau_A = 100 ms, b_A = A(0) = 0.15, and the given w_A (0.015 for NALSM1000, 0.0075 for
    /// NALSM8000).
    pub fn paper(w_a: f64) -> AstrocyteParams {
        AstrocyteParams { tau_a: 100.0, w_a, b_a: 0.15, a_initial: 0.15 }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.tau_a >= 1.0 && self.tau_a.is_finite()) {
            return Err(EngramError::Model(format!("astrocyte: `tau_a` must be >= 1 ms (one step), got {}", self.tau_a)));
        }
        if !(self.w_a >= 0.0 && self.w_a.is_finite()) {
            return Err(EngramError::Model(format!("astrocyte: `w_a` must be >= 0, got {}", self.w_a)));
        }
        if !self.b_a.is_finite() || !self.a_initial.is_finite() {
            return Err(EngramError::Model("astrocyte: `b_a` and `a_initial` must be finite".into()));
        }
        Ok(())
    }

    pub fn lower(&self, dt: f64) -> Result<AstrocyteConsts> {
        self.validate()?;
        check_nalsm_dt("astrocyte", dt)?;
        Ok(AstrocyteConsts { tau_a: self.tau_a, w_a: self.w_a, b_a: self.b_a, a_initial: self.a_initial })
    }
}

/// Lowered astrocyte constants.
#[derive(Debug, Clone, PartialEq)]
pub struct AstrocyteConsts {
    tau_a: f64,
    w_a: f64,
    b_a: f64,
    a_initial: f64,
}

impl AstrocyteConsts {
    /// A at the start of a sample.
    pub fn initial(&self) -> f64 {
        self.a_initial
    }

    /// The value A settles to under constant counts: b_A + w_A (liquid - input).
    pub fn fixed_point(&self, liquid_spikes: u32, input_spikes: u32) -> f64 {
        self.w_a.mul_add(liquid_spikes as f64 - input_spikes as f64, self.b_a)
    }
}

/// One step of the astrocyte, with this step's spike counts in the liquid and the input.
#[inline]
pub fn astrocyte_step(c: &AstrocyteConsts, a: f64, liquid_spikes: u32, input_spikes: u32) -> f64 {
    a + (c.fixed_point(liquid_spikes, input_spikes) - a) / c.tau_a
}

/// The kind of a synapse's presynaptic neuron, which sets the rule's signs and the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PreKind {
    Excitatory,
    Inhibitory,
    Input,
}

/// What a model file gives for astrocyte-modulated STDP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AstroStdpParams {
    /// Fixed potentiation rate (>= 0).
    pub eta_plus: f64,
    /// Per-step trace decay d, in (0, 1).
    pub trace_decay: f64,
    /// Trace increment per spike (> 0).
    pub trace_increment: f64,
    /// [min, max] of weights from excitatory, inhibitory and input neurons.
    pub excitatory_bounds: [f64; 2],
    pub inhibitory_bounds: [f64; 2],
    pub input_bounds: [f64; 2],
}

impl AstroStdpParams {
    /// eta_plus = 0.15, d = 0.904774, increment 0.1, bounds [0, 3], [-3, 0], [-3, 3].
    pub fn paper() -> AstroStdpParams {
        AstroStdpParams {
            eta_plus: 0.15,
            trace_decay: 0.904774,
            trace_increment: 0.1,
            excitatory_bounds: [0.0, 3.0],
            inhibitory_bounds: [-3.0, 0.0],
            input_bounds: [-3.0, 3.0],
        }
    }

    pub fn validate(&self) -> Result<()> {
        let err = |msg: String| Err(EngramError::Model(format!("astrocyte STDP: {msg}")));
        if !(self.eta_plus >= 0.0 && self.eta_plus.is_finite()) {
            return err(format!("`eta_plus` must be >= 0, got {}", self.eta_plus));
        }
        if !(self.trace_decay > 0.0 && self.trace_decay < 1.0) {
            return err(format!("`trace_decay` must be in (0, 1), got {}", self.trace_decay));
        }
        check_positive("astrocyte STDP", "trace_increment", self.trace_increment)?;
        for (name, [lo, hi], ok) in [
            ("excitatory_bounds", self.excitatory_bounds, self.excitatory_bounds[0] >= 0.0),
            ("inhibitory_bounds", self.inhibitory_bounds, self.inhibitory_bounds[1] <= 0.0),
            ("input_bounds", self.input_bounds, true),
        ] {
            if !(lo < hi && lo.is_finite() && hi.is_finite() && ok) {
                return err(format!(
                    "`{name}` must be [min, max] with min < max (excitatory >= 0, inhibitory <= 0), got [{lo}, {hi}]"
                ));
            }
        }
        Ok(())
    }

    pub fn lower(&self, dt: f64) -> Result<AstroStdpConsts> {
        self.validate()?;
        check_nalsm_dt("astrocyte STDP", dt)?;
        Ok(AstroStdpConsts {
            eta_plus: self.eta_plus,
            d: self.trace_decay,
            increment: self.trace_increment,
            bounds: [self.excitatory_bounds, self.inhibitory_bounds, self.input_bounds],
        })
    }
}

/// Lowered astrocyte-modulated STDP.
#[derive(Debug, Clone, PartialEq)]
pub struct AstroStdpConsts {
    eta_plus: f64,
    d: f64,
    increment: f64,
    /// Indexed by `PreKind as usize`.
    bounds: [[f64; 2]; 3],
}

/// Phase 8 for one neuron: x <- d (x + increment S).
#[inline]
pub fn trace_step(c: &AstroStdpConsts, x: f64, spiked: bool) -> f64 {
    c.d * if spiked { x + c.increment } else { x }
}

/// Phase 8 for a population: `x[k] <- d (x[k] + increment S[k])`.
pub fn traces_step(c: &AstroStdpConsts, x: &mut [f64], spiked: &[bool]) {
    for (x, &s) in x.iter_mut().zip(spiked) {
        *x = trace_step(c, *x, s);
    }
}

/// Phase 7 for one synapse j -> i: the weight after this step, from its pre (`x_pre`, j) and
/// post (`x_post`, i) traces as they were before this step and the astrocyte's `a`.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn stdp_step(
    c: &AstroStdpConsts,
    kind: PreKind,
    w: f64,
    pre_spiked: bool,
    post_spiked: bool,
    x_pre: f64,
    x_post: f64,
    a: f64,
) -> f64 {
    // Rates of the post-spike (times x_pre) and pre-spike (times x_post) terms.
    let (at_post, at_pre) = match kind {
        PreKind::Excitatory | PreKind::Input => (c.eta_plus, -a),
        PreKind::Inhibitory => (-a, c.eta_plus),
    };
    let mut dw = 0.0;
    if post_spiked {
        dw += at_post * x_pre;
    }
    if pre_spiked {
        dw += at_pre * x_post;
    }
    let [lo, hi] = c.bounds[kind as usize];
    (w + dw).clamp(lo, hi)
}

/// What a model file gives for an astrocyte-modulated STDP projection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AstroStdpSpec {
    /// The kind of the projection's presynaptic neurons (signs and bounds of the rule).
    pub pre_kind: PreKind,
    /// The rule; only the bounds of `pre_kind` apply.
    pub stdp: AstroStdpParams,
    pub astrocyte: AstrocyteParams,
    /// Groups whose spikes raise A (the liquid) and lower it (the input).
    pub liquid: Vec<String>,
    pub input: Vec<String>,
}

impl AstroStdpSpec {
    /// Reads the `plasticity` table of a projection whose weights have dimension `weight`:
    /// `pre_kind`, `eta_plus` (>= 0), `w_min` < `w_max` (>= 0 for excitatory, <= 0 for
    /// inhibitory presynaptic neurons), `w_a` (>= 0), `b_a` and `a_initial` (default `b_a`) in
    /// weight units; `trace_decay` (default 0.904774) and `trace_increment` (default 0.1);
    /// `tau_a` (time, default 100 ms); `liquid` and `input` (group names, resolved by the
    /// loader; `input` defaults to none).
    pub fn read(r: &TableReader, weight: Dim) -> Result<AstroStdpSpec> {
        let (kind, kind_span) = r.req_str("pre_kind")?;
        let pre_kind = match PRE_KINDS.iter().position(|k| *k == kind) {
            Some(0) => PreKind::Excitatory,
            Some(1) => PreKind::Inhibitory,
            Some(_) => PreKind::Input,
            None => return Err(r.error_at("pre_kind", kind_span, format!("unknown pre_kind `{kind}` (expected one of: {})", PRE_KINDS.join(", ")))),
        };
        let paper = AstroStdpParams::paper();
        let bounds = [r.req_quantity("w_min", weight)?, r.req_quantity("w_max", weight)?];
        let mut stdp = AstroStdpParams {
            eta_plus: r.req_quantity("eta_plus", weight)?,
            trace_decay: r.quantity_or("trace_decay", Dim::DIMENSIONLESS, paper.trace_decay)?,
            trace_increment: r.quantity_or("trace_increment", Dim::DIMENSIONLESS, paper.trace_increment)?,
            ..paper
        };
        *match pre_kind {
            PreKind::Excitatory => &mut stdp.excitatory_bounds,
            PreKind::Inhibitory => &mut stdp.inhibitory_bounds,
            PreKind::Input => &mut stdp.input_bounds,
        } = bounds;
        let b_a = r.req_quantity("b_a", weight)?;
        let astrocyte = AstrocyteParams {
            tau_a: r.quantity_or("tau_a", Dim::TIME, 100.0)?,
            w_a: r.req_quantity("w_a", weight)?,
            b_a,
            a_initial: r.quantity_or("a_initial", weight, b_a)?,
        };
        let names = |key: &str| -> Result<Vec<String>> { Ok(r.opt_str_list(key)?.unwrap_or_default().into_iter().map(|(n, _)| n).collect()) };
        let liquid = names("liquid")?;
        let input = names("input")?;
        let [w_min, w_max] = bounds;
        for (key, ok, what) in [
            ("eta_plus", stdp.eta_plus >= 0.0, "must not be negative (the potentiation rate)"),
            ("trace_decay", stdp.trace_decay > 0.0 && stdp.trace_decay < 1.0, "must be in (0, 1)"),
            ("trace_increment", stdp.trace_increment > 0.0, "must be positive"),
            ("w_max", w_min < w_max, "must be greater than `w_min`"),
            ("w_min", pre_kind != PreKind::Excitatory || w_min >= 0.0, "must not be negative for excitatory presynaptic neurons"),
            ("w_max", pre_kind != PreKind::Inhibitory || w_max <= 0.0, "must not be positive for inhibitory presynaptic neurons"),
            ("tau_a", astrocyte.tau_a >= 1.0, "must be at least one step (1 ms)"),
            ("w_a", astrocyte.w_a >= 0.0, "must not be negative"),
            ("liquid", !liquid.is_empty(), "must name at least one population or source whose spikes the astrocyte counts"),
        ] {
            if !ok {
                return Err(r.field_error(key, format!("`{key}` {what}")));
            }
        }
        Ok(AstroStdpSpec { pre_kind, stdp, astrocyte, liquid, input })
    }

    /// The bounds of the projection's weights.
    pub fn bounds(&self) -> [f64; 2] {
        match self.pre_kind {
            PreKind::Excitatory => self.stdp.excitatory_bounds,
            PreKind::Inhibitory => self.stdp.inhibitory_bounds,
            PreKind::Input => self.stdp.input_bounds,
        }
    }
}

/// The astrocyte-modulated STDP state of a projection's share in one shard: the rule, the
/// astrocyte's A, the traces x / `trace_increment` of the presynaptic neurons (or synapses,
/// where delays differ) and of the local postsynaptic neurons, and this step's arrivals.
#[derive(Debug, Clone)]
pub struct AstroStdpState {
    consts: AstroStdpConsts,
    kind: PreKind,
    astrocyte: AstrocyteConsts,
    a: f64,
    /// Group indices whose spikes the astrocyte counts as liquid and as input.
    liquid: Vec<usize>,
    input: Vec<usize>,
    pre_trace: ScaledTraces,
    post_trace: ScaledTraces,
    /// Whether a spike reached presynaptic trace k at this step, and the list of those k.
    pre_now: Vec<bool>,
    arrived: Vec<u32>,
    /// Whether local postsynaptic neuron j spiked at this step.
    post_now: Vec<bool>,
}

impl AstroStdpState {
    /// The state for `n_pre_traces` presynaptic traces and `n_post` local postsynaptic
    /// neurons; `liquid` and `input` are the group indices of the spec's lists.
    pub fn new(spec: &AstroStdpSpec, liquid: Vec<usize>, input: Vec<usize>, dt: f64, n_pre_traces: usize, n_post: usize) -> Result<AstroStdpState> {
        let consts = spec.stdp.lower(dt)?;
        let astrocyte = spec.astrocyte.lower(dt)?;
        Ok(AstroStdpState {
            kind: spec.pre_kind,
            a: astrocyte.initial(),
            liquid,
            input,
            pre_trace: ScaledTraces::new(n_pre_traces, consts.d),
            post_trace: ScaledTraces::new(n_post, consts.d),
            pre_now: vec![false; n_pre_traces],
            arrived: Vec::new(),
            post_now: vec![false; n_post],
            consts,
            astrocyte,
        })
    }

    /// The astrocyte's A, which sets the depression rate of the next step.
    pub fn astrocyte(&self) -> f64 {
        self.a
    }
}

/// One step (phases 7-9) of astrocyte-modulated STDP on a projection's share of synapses in
/// a shard: every synapse that a presynaptic spike reaches now, or whose postsynaptic neuron
/// (`post_spikes`, local indices) spiked now, takes [`stdp_step`] with the traces from
/// before this step and the current A (once, with both spikes where both happen); then the
/// traces of those neurons (or synapses) gain `trace_increment` and all decay by d; then A
/// takes [`astrocyte_step`] with this step's spike counts of the `liquid` and `input` groups
/// (`spikes[g]`: group g's spikes at this step). Every shard sees the same spikes in the same
/// order, so the result does not depend on the thread count.
pub fn step_projection(proj: &mut ProjectionShard, sent: &[u32], post_spikes: &[u32], spikes: &[Vec<u32>]) {
    let Some(state) = proj.plastic.as_mut() else { return };
    let Weights::Plastic(w) = &mut proj.weights else { unreachable!("plastic projections have plastic weights") };
    let PlasticRule::AstrocyteStdp(st) = &mut state.rule else { unreachable!("called for astrocyte STDP projections only") };
    let AstroStdpState { consts: c, kind, a, pre_trace, post_trace, pre_now, arrived, post_now, .. } = st;
    let (c, kind, a) = (&*c, *kind, *a);
    let x = |traces: &ScaledTraces, k: usize| c.increment * traces.get(k);
    post_spikes.iter().for_each(|&j| post_now[j as usize] = true);
    let per_synapse = matches!(state.arrivals, Arrivals::Synapses(_));
    match (&mut state.arrivals, &proj.delays) {
        (Arrivals::Synapses(arrivals), Delays::PerSynapse(delays)) => {
            arrivals.step(sent, &proj.row_start, delays, |s| {
                let j = proj.post[s] as usize;
                w[s] = stdp_step(c, kind, w[s], true, post_now[j], x(pre_trace, s), x(post_trace, j), a);
                pre_now[s] = true;
                arrived.push(s as u32);
            });
        }
        (Arrivals::Synapses(_), Delays::Same(_)) => unreachable!("per-synapse arrivals come with per-synapse delays"),
        (Arrivals::Neurons(in_flight), _) => {
            let mut queued = Vec::new();
            for &i in super::arriving(in_flight, sent, &mut queued) {
                let x_pre = x(pre_trace, i as usize);
                for s in row_range(&proj.row_start, i) {
                    let j = proj.post[s] as usize;
                    w[s] = stdp_step(c, kind, w[s], true, post_now[j], x_pre, x(post_trace, j), a);
                }
                pre_now[i as usize] = true;
                arrived.push(i);
            }
        }
    }
    for &j in post_spikes {
        let x_post = x(post_trace, j as usize);
        for &(s, i) in state.incoming.of(j) {
            let k = if per_synapse { s } else { i } as usize;
            if !pre_now[k] {
                w[s as usize] = stdp_step(c, kind, w[s as usize], false, true, x(pre_trace, k), x_post, a);
            }
        }
    }
    for k in arrived.drain(..) {
        pre_now[k as usize] = false;
        pre_trace.spike(k as usize, Interaction::AllToAll);
    }
    for &j in post_spikes {
        post_now[j as usize] = false;
        post_trace.spike(j as usize, Interaction::AllToAll);
    }
    pre_trace.step();
    post_trace.step();
    let count = |groups: &[usize]| groups.iter().map(|&g| spikes[g].len() as u32).sum::<u32>();
    st.a = astrocyte_step(&st.astrocyte, a, count(&st.liquid), count(&st.input));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn astrocyte_step_and_fixed_point_match_the_spec() {
        let c = AstrocyteParams::paper(0.015).lower(1.0).unwrap();
        let a = astrocyte_step(&c, c.initial(), 30, 10);
        assert!((a - 0.153000).abs() < 1e-12, "{a}");
        assert!((c.fixed_point(30, 10) - 0.45).abs() < 1e-15);
        let mut a = c.initial();
        for _ in 0..10_000 {
            a = astrocyte_step(&c, a, 30, 10);
        }
        assert!((a - 0.45).abs() < 1e-12, "converges to the fixed point: {a}");
        // More input than liquid activity lowers the depression rate below b_A.
        assert!(astrocyte_step(&c, 0.15, 5, 50) < 0.15);
    }

    /// Runs one synapse of `kind` through `steps` steps with the given spike steps, A fixed.
    fn run_synapse(c: &AstroStdpConsts, kind: PreKind, w0: f64, pre: &[usize], post: &[usize], a: f64) -> f64 {
        let (mut w, mut x_pre, mut x_post) = (w0, 0.0, 0.0);
        let last = pre.iter().chain(post).copied().max().unwrap_or(0);
        for step in 0..=last {
            let (sp, so) = (pre.contains(&step), post.contains(&step));
            w = stdp_step(c, kind, w, sp, so, x_pre, x_post, a);
            x_pre = trace_step(c, x_pre, sp);
            x_post = trace_step(c, x_post, so);
        }
        w
    }

    #[test]
    fn pre_at_0_post_at_5_potentiates_by_0_00909480() {
        let c = AstroStdpParams { trace_decay: 0.9047745, ..AstroStdpParams::paper() }.lower(1.0).unwrap();
        let dw = run_synapse(&c, PreKind::Excitatory, 1.0, &[0], &[5], 0.15) - 1.0;
        assert!((dw - 0.00909480).abs() < 1e-8, "{dw}");
        assert!((dw - 0.15 * 0.1 * 0.9047745f64.powi(5)).abs() < 1e-15);
        // Input synapses follow the excitatory rule.
        assert_eq!(run_synapse(&c, PreKind::Input, 1.0, &[0], &[5], 0.15) - 1.0, dw);
    }

    #[test]
    fn depression_rate_is_the_astrocyte_and_inhibitory_signs_flip() {
        let c = AstroStdpParams::paper().lower(1.0).unwrap();
        let x = 0.1 * 0.904774f64.powi(3);
        // Post at 0, pre at 3: excitatory depression by A x_post.
        let dw = run_synapse(&c, PreKind::Excitatory, 1.0, &[3], &[0], 0.4) - 1.0;
        assert!((dw + 0.4 * x).abs() < 1e-15, "{dw}");
        // Inhibitory: pre then post depresses by A x_pre (w more negative)...
        let dw = run_synapse(&c, PreKind::Inhibitory, -1.0, &[0], &[3], 0.4) + 1.0;
        assert!((dw + 0.4 * x).abs() < 1e-15, "{dw}");
        // ...and post then pre moves w by +eta_plus x_post.
        let dw = run_synapse(&c, PreKind::Inhibitory, -1.0, &[3], &[0], 0.4) + 1.0;
        assert!((dw - 0.15 * x).abs() < 1e-15, "{dw}");
    }

    #[test]
    fn same_step_spikes_use_the_old_traces_and_bounds_hold() {
        let c = AstroStdpParams::paper().lower(1.0).unwrap();
        // Both spike at step 0 with zero traces: no change, then the traces are incremented.
        assert_eq!(stdp_step(&c, PreKind::Excitatory, 1.0, true, true, 0.0, 0.0, 0.15), 1.0);
        assert_eq!(stdp_step(&c, PreKind::Excitatory, 2.99, false, true, 1.0, 0.0, 0.15), 3.0);
        assert_eq!(stdp_step(&c, PreKind::Excitatory, 0.01, true, false, 0.0, 1.0, 0.15), 0.0);
        assert_eq!(stdp_step(&c, PreKind::Inhibitory, -0.01, true, false, 0.0, 1.0, 0.15), 0.0);
        assert_eq!(stdp_step(&c, PreKind::Inhibitory, -2.99, false, true, 1.0, 0.0, 0.15), -3.0);
        assert_eq!(stdp_step(&c, PreKind::Input, -2.99, true, false, 0.0, 1.0, 0.15), -3.0);
        let mut x = [0.0, 0.5];
        traces_step(&c, &mut x, &[true, false]);
        assert_eq!(x, [0.904774 * 0.1, 0.904774 * 0.5]);
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(AstrocyteParams::paper(0.015).lower(0.1).is_err());
        for bad in [
            AstrocyteParams { tau_a: 0.0, ..AstrocyteParams::paper(0.015) },
            AstrocyteParams { w_a: -0.01, ..AstrocyteParams::paper(0.015) },
            AstrocyteParams { b_a: f64::NAN, ..AstrocyteParams::paper(0.015) },
        ] {
            assert!(bad.lower(1.0).is_err(), "{bad:?}");
        }
        let p = AstroStdpParams::paper();
        assert!(p.lower(2.0).is_err());
        for bad in [
            AstroStdpParams { eta_plus: -0.15, ..p.clone() },
            AstroStdpParams { trace_decay: 1.0, ..p.clone() },
            AstroStdpParams { trace_increment: 0.0, ..p.clone() },
            AstroStdpParams { excitatory_bounds: [-1.0, 3.0], ..p.clone() },
            AstroStdpParams { inhibitory_bounds: [-3.0, 1.0], ..p.clone() },
            AstroStdpParams { input_bounds: [3.0, -3.0], ..p.clone() },
        ] {
            assert!(bad.lower(1.0).is_err(), "{bad:?}");
        }
        assert!(p.lower(1.0).is_ok());
    }
}
