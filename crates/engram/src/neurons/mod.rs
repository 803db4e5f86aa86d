//! Neuron models. One model per file with the same contract: `*Params` (what the user
//! writes, read from the model file with units), `*Consts` (lowered for a given dt), the
//! state as named structure-of-arrays variables (`VARS`), and a `step` kernel over slices
//! that integrates, applies the threshold and the reset, and reports spiking neurons.

pub mod adaptive_lif;
pub mod adex;
pub mod hh;
pub mod izhikevich;
pub mod leaky;
pub mod lif;
pub mod threshold;

use serde::Serialize;

use crate::error::Result;
use crate::spec::reader::TableReader;

/// Names accepted in `model = "..."`.
pub const MODEL_NAMES: &[&str] = &["lif", "adaptive_lif", "izhikevich", "adex", "hh", "leaky"];

/// Synaptic and external input for one step of a population.
///
/// The synaptic current at membrane potential V is `syn_a - syn_b * V` (current-based
/// synapses add to `a`, conductance-based ones add `g E` to `a` and `g` to `b`), held
/// constant over the step. `v_jump` holds voltage jumps from delta synapses.
pub struct StepInput<'a> {
    pub syn_a: &'a [f64],
    syn_b: &'a [f64],
    pub i_ext: &'a [f64],
    v_jump: &'a [f64],
    /// Whether any conductance-based synapse targets the population (`syn_b` non-zero).
    pub conductance: bool,
    /// Whether any delta synapse targets the population.
    pub jumps: bool,
}

impl<'a> StepInput<'a> {
    pub fn new(syn_a: &'a [f64], syn_b: &'a [f64], i_ext: &'a [f64], v_jump: &'a [f64], conductance: bool, jumps: bool) -> Self {
        StepInput { syn_a, syn_b, i_ext, v_jump, conductance, jumps }
    }

    /// Input with current-based synapses only.
    pub fn current_only(syn_a: &'a [f64], i_ext: &'a [f64]) -> Self {
        StepInput { syn_a, syn_b: &[], i_ext, v_jump: &[], conductance: false, jumps: false }
    }

    #[inline(always)]
    pub fn syn_b(&self, i: usize) -> f64 {
        if self.conductance { self.syn_b[i] } else { 0.0 }
    }

    #[inline(always)]
    pub fn v_jump(&self, i: usize) -> f64 {
        if self.jumps { self.v_jump[i] } else { 0.0 }
    }

    /// Total synaptic current at potential `v`.
    #[inline(always)]
    pub fn syn_current(&self, i: usize, v: f64) -> f64 {
        self.syn_a[i] - self.syn_b(i) * v
    }
}

/// The first step at which a neuron integrates again after its last spike (0 before any
/// spike; see [`is_refractory`]). 64 bits wide so that the vectorised loops keep it in the
/// same lanes as the f64 state.
pub type RefractoryEnd = i64;

/// Integration scheme names shared by the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Integration {
    /// Exact (linear) or exponential-Euler (conditionally linear) integration.
    Exact,
    Euler,
    /// Izhikevich's published scheme: two half steps of v, then u.
    Paper,
}

impl Integration {
    fn name(self) -> &'static str {
        match self {
            Integration::Exact => "exact",
            Integration::Euler => "euler",
            Integration::Paper => "paper",
        }
    }

    pub fn read(r: &TableReader, allowed: &[Integration], default: Integration) -> Result<Self> {
        let Some((name, span)) = r.opt_str("integration")? else { return Ok(default) };
        allowed.iter().copied().find(|i| i.name() == name).ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|i| i.name()).collect();
            r.error_at("integration", span, format!("unknown integration `{name}` (expected one of: {})", names.join(", ")))
        })
    }
}

pub(crate) fn check_positive(r: &TableReader, key: &str, x: f64) -> Result<()> {
    if x > 0.0 { Ok(()) } else { Err(r.field_error(key, format!("`{key}` must be positive, got {x}"))) }
}

pub(crate) fn check_non_negative(r: &TableReader, key: &str, x: f64) -> Result<()> {
    if x >= 0.0 { Ok(()) } else { Err(r.field_error(key, format!("`{key}` must not be negative, got {x}"))) }
}

pub(crate) fn refractory_steps(t_ref: f64, dt: f64) -> i64 {
    (t_ref / dt).round() as i64
}

/// Refractory bookkeeping: a neuron that spiked at step k is held (no integration, no
/// threshold) during steps k+1 .. k+n-1 and integrates again from step k+n, i.e. from the
/// spike time + t_ref (Brian2's convention). Its [`RefractoryEnd`] is k+n; returns whether
/// it is held at `step`.
#[inline(always)]
pub(crate) fn is_refractory(end: RefractoryEnd, step: i64) -> bool {
    step < end
}

/// Borrowed views of owned state columns, as the kernels take them.
pub fn views(columns: &mut [Vec<f64>]) -> Vec<&mut [f64]> {
    columns.iter_mut().map(|c| c.as_mut_slice()).collect()
}

/// Parameters of any neuron model, as written in the model file.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum NeuronParams {
    Lif(lif::LifParams),
    AdaptiveLif(adaptive_lif::AdaptiveLifParams),
    Izhikevich(izhikevich::IzhikevichParams),
    Adex(adex::AdexParams),
    Hh(hh::HhParams),
    Leaky(leaky::LeakyParams),
}

/// Lowered constants of any neuron model.
#[derive(Debug, Clone)]
pub enum NeuronConsts {
    Lif(lif::LifConsts),
    AdaptiveLif(adaptive_lif::AdaptiveLifConsts),
    Izhikevich(izhikevich::IzhikevichConsts),
    Adex(adex::AdexConsts),
    Hh(hh::HhConsts),
    Leaky(leaky::LeakyConsts),
}

impl NeuronParams {
    /// Reads the `params` table of a population of `size` neurons whose `model` is `model`;
    /// None if unknown.
    pub fn read(model: &str, r: &TableReader, size: usize) -> Option<Result<Self>> {
        Some(match model {
            "lif" => lif::LifParams::read(r).map(NeuronParams::Lif),
            "adaptive_lif" => adaptive_lif::AdaptiveLifParams::read(r).map(NeuronParams::AdaptiveLif),
            "izhikevich" => izhikevich::IzhikevichParams::read(r).map(NeuronParams::Izhikevich),
            "adex" => adex::AdexParams::read(r).map(NeuronParams::Adex),
            "hh" => hh::HhParams::read(r).map(NeuronParams::Hh),
            "leaky" => leaky::LeakyParams::read(r, size).map(NeuronParams::Leaky),
            _ => return None,
        })
    }

    /// State variable names; index 0 is always the membrane potential `v`.
    pub fn vars(&self) -> &'static [&'static str] {
        match self {
            NeuronParams::Lif(_) => lif::VARS,
            NeuronParams::AdaptiveLif(_) => adaptive_lif::VARS,
            NeuronParams::Izhikevich(_) => izhikevich::VARS,
            NeuronParams::Adex(_) => adex::VARS,
            NeuronParams::Hh(_) => hh::VARS,
            NeuronParams::Leaky(_) => leaky::VARS,
        }
    }

    /// Default initial value of a state variable, given the initial membrane potential
    /// (Hodgkin-Huxley gates start at their steady state, Izhikevich u at b v).
    pub fn initial(&self, var: &str, v: f64) -> f64 {
        match self {
            NeuronParams::Lif(p) => p.initial(var),
            NeuronParams::AdaptiveLif(p) => p.initial(var),
            NeuronParams::Izhikevich(p) => p.initial(var, v),
            NeuronParams::Adex(p) => p.initial(var),
            NeuronParams::Hh(p) => p.initial(var, v),
            NeuronParams::Leaky(p) => p.initial(var),
        }
    }

    pub fn lower(&self, dt: f64) -> NeuronConsts {
        match self {
            NeuronParams::Lif(p) => NeuronConsts::Lif(p.lower(dt)),
            NeuronParams::AdaptiveLif(p) => NeuronConsts::AdaptiveLif(p.lower(dt)),
            NeuronParams::Izhikevich(p) => NeuronConsts::Izhikevich(p.lower(dt)),
            NeuronParams::Adex(p) => NeuronConsts::Adex(p.lower(dt)),
            NeuronParams::Hh(p) => NeuronConsts::Hh(p.lower(dt)),
            NeuronParams::Leaky(p) => NeuronConsts::Leaky(p.lower()),
        }
    }
}

impl NeuronConsts {
    /// The constants of neurons `start..end` of the population (the same for models whose
    /// constants are shared by all neurons).
    pub fn block(&self, start: usize, end: usize) -> NeuronConsts {
        match self {
            NeuronConsts::Leaky(c) => NeuronConsts::Leaky(c.block(start, end)),
            shared => shared.clone(),
        }
    }

    /// One step of neurons `first..first + n` of a block (`n` the length of the slices):
    /// integrate, threshold, reset. Spiking indices (from 0 at `first`) are appended to
    /// `spikes` in increasing order.
    pub fn step(
        &self,
        step: i64,
        first: usize,
        vars: &mut [&mut [f64]],
        refractory: &mut [RefractoryEnd],
        input: &StepInput,
        spikes: &mut Vec<u32>,
    ) {
        match self {
            NeuronConsts::Lif(c) => lif::step(c, step, vars, refractory, input, spikes),
            NeuronConsts::AdaptiveLif(c) => adaptive_lif::step(c, step, vars, refractory, input, spikes),
            NeuronConsts::Izhikevich(c) => izhikevich::step(c, step, vars, refractory, input, spikes),
            NeuronConsts::Adex(c) => adex::step(c, step, vars, refractory, input, spikes),
            NeuronConsts::Hh(c) => hh::step(c, step, vars, refractory, input, spikes),
            NeuronConsts::Leaky(c) => leaky::step(c, first, vars, input, spikes),
        }
    }
}
