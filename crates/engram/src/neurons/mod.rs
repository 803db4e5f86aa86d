//! Neuron models. One model per file with the same contract: `*Params` (what the user
//! writes, read from the model file with units), `*Consts` (lowered for a given dt), the
//! state as named structure-of-arrays variables (`VARS`), and a `step` kernel over slices
//! that integrates, applies the threshold and the reset, and reports spiking neurons.

pub mod adaptive_lif;
pub mod adex;
pub mod hh;
pub mod izhikevich;
pub mod lif;

use serde::Serialize;

use crate::error::Result;
use crate::spec::reader::TableReader;

/// Names accepted in `model = "..."`.
pub const MODEL_NAMES: &[&str] = &["lif", "adaptive_lif", "izhikevich", "adex", "hh"];

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

pub(crate) fn refractory_steps(t_ref: f64, dt: f64) -> u32 {
    (t_ref / dt).round() as u32
}

/// Refractory bookkeeping: a neuron that spiked at step k is held (no integration, no
/// threshold) during steps k+1 .. k+n-1 and integrates again from step k+n, i.e. from the
/// spike time + t_ref (Brian2's convention). Returns whether the neuron is held this step.
#[inline(always)]
pub(crate) fn hold_refractory(counter: &mut u32) -> bool {
    if *counter > 0 {
        *counter -= 1;
    }
    *counter > 0
}

/// The integrate-threshold-reset loop of models whose only state is `v` and whose reset is
/// `v <- v_reset`, written without branches or indexing so that it vectorises:
/// `integrate(v, a, b, i_ext)` returns the potential after one step given the synaptic sums
/// `a`, `b` (b is 0 without conductance synapses) and the injected current. Neurons are
/// processed in blocks whose spike flags are then scanned, so spikes come out in
/// increasing index order.
#[inline(always)]
pub(crate) fn threshold_loop(
    v: &mut [f64],
    refractory: &mut [u32],
    input: &StepInput,
    reset: (f64, f64, u32),
    spikes: &mut Vec<u32>,
    integrate: impl Fn(f64, f64, f64, f64) -> f64,
) {
    const BLOCK: usize = 256;
    let (v_th, v_reset, ref_steps) = reset;
    let n = v.len();
    let zeros = [0.0f64; BLOCK];
    let mut flags = [0u8; BLOCK];
    let mut start = 0;
    while start < n {
        let end = (start + BLOCK).min(n);
        let len = end - start;
        let vb = &mut v[start..end];
        let rb = &mut refractory[start..end];
        let ab = &input.syn_a[start..end];
        let bb = if input.conductance { &input.syn_b[start..end] } else { &zeros[..len] };
        let jb = if input.jumps { &input.v_jump[start..end] } else { &zeros[..len] };
        let eb = &input.i_ext[start..end];
        let fb = &mut flags[..len];
        for k in 0..len {
            let r = rb[k];
            let held = r > 1;
            let old = vb[k];
            let next = integrate(old + jb[k], ab[k], bb[k], eb[k]);
            let next = if held { old } else { next };
            let spike = !held & (next >= v_th);
            vb[k] = if spike { v_reset } else { next };
            rb[k] = if spike { ref_steps } else { r.saturating_sub(1) };
            fb[k] = spike as u8;
        }
        let mut k = 0;
        while k < len {
            if k + 8 <= len && u64::from_ne_bytes(fb[k..k + 8].try_into().expect("8 bytes")) == 0 {
                k += 8;
                continue;
            }
            if fb[k] != 0 {
                spikes.push((start + k) as u32);
            }
            k += 1;
        }
        start = end;
    }
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
}

/// Lowered constants of any neuron model.
#[derive(Debug, Clone)]
pub enum NeuronConsts {
    Lif(lif::LifConsts),
    AdaptiveLif(adaptive_lif::AdaptiveLifConsts),
    Izhikevich(izhikevich::IzhikevichConsts),
    Adex(adex::AdexConsts),
    Hh(hh::HhConsts),
}

impl NeuronParams {
    /// Reads the `params` table of a population whose `model` is `model`; None if unknown.
    pub fn read(model: &str, r: &TableReader) -> Option<Result<Self>> {
        Some(match model {
            "lif" => lif::LifParams::read(r).map(NeuronParams::Lif),
            "adaptive_lif" => adaptive_lif::AdaptiveLifParams::read(r).map(NeuronParams::AdaptiveLif),
            "izhikevich" => izhikevich::IzhikevichParams::read(r).map(NeuronParams::Izhikevich),
            "adex" => adex::AdexParams::read(r).map(NeuronParams::Adex),
            "hh" => hh::HhParams::read(r).map(NeuronParams::Hh),
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
        }
    }

    pub fn lower(&self, dt: f64) -> NeuronConsts {
        match self {
            NeuronParams::Lif(p) => NeuronConsts::Lif(p.lower(dt)),
            NeuronParams::AdaptiveLif(p) => NeuronConsts::AdaptiveLif(p.lower(dt)),
            NeuronParams::Izhikevich(p) => NeuronConsts::Izhikevich(p.lower(dt)),
            NeuronParams::Adex(p) => NeuronConsts::Adex(p.lower(dt)),
            NeuronParams::Hh(p) => NeuronConsts::Hh(p.lower(dt)),
        }
    }
}

impl NeuronConsts {
    /// One step of a population: integrate, threshold, reset. Local spiking indices are
    /// appended to `spikes` in increasing order.
    pub fn step(&self, vars: &mut [&mut [f64]], refractory: &mut [u32], input: &StepInput, spikes: &mut Vec<u32>) {
        match self {
            NeuronConsts::Lif(c) => lif::step(c, vars, refractory, input, spikes),
            NeuronConsts::AdaptiveLif(c) => adaptive_lif::step(c, vars, refractory, input, spikes),
            NeuronConsts::Izhikevich(c) => izhikevich::step(c, vars, refractory, input, spikes),
            NeuronConsts::Adex(c) => adex::step(c, vars, refractory, input, spikes),
            NeuronConsts::Hh(c) => hh::step(c, vars, refractory, input, spikes),
        }
    }
}
