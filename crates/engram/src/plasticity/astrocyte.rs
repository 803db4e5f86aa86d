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

use serde::Serialize;

use super::check_positive;
use super::nalsm_neuron::check_nalsm_dt;
use crate::error::{EngramError, Result};

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
