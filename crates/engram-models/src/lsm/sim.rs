//! The NALSM simulation loop (Ivanov & Michmizos 2021, arXiv:2111.01760; spec §3.2-3.4):
//! input and liquid neurons are the discrete LIF of `engram::plasticity::nalsm_neuron`, the
//! plasticity is the astrocyte-modulated STDP of `engram::plasticity::astrocyte`, and one
//! 1 ms step runs the reference code's nine phases in order:
//!
//! ```text
//! 1-3  S = [v >= v_th] unless refractory; v = 0 and Δ = 0 where S
//! 4    v += -v/tau_v + U + I_in          U_i = sum_j w_ij exp(-Δ_j/tau_u)/tau_u
//! 5-6  Δ = min(Δ + 1, 100); refractory counters
//! 7    STDP with the traces from before this step          (organisation phase only)
//! 8    x = d (x + 0.1 S)                                     (organisation phase only)
//! 9    A += (w_A (liquid spikes - input spikes) + b_A - A)/tau_A  (organisation phase only)
//! input: I_in = 100 with probability p_k each step (a Bernoulli draw per input neuron)
//! ```
//! Event-driven: the synaptic input `U` is kept per liquid neuron instead of summed over all
//! synapses every step. Because the kernel is exponential, `U` decays by exp(-1/tau_u) per
//! step; a spike of j moves its term from `w exp(-Δ_j)` to `w` (only j's last spike counts,
//! as in the reference), and an STDP change `dw` adds `dw exp(-Δ_j)`. Only synapses of
//! neurons that spiked are touched. This equals the reference sum except that the reference
//! keeps `exp(-100)` once Δ is clipped at 100, a term below 1e-43 per synapse.
//!
//! Randomness: the Bernoulli draws are `rng::uniform(key, step · n_inputs + k)`, with a key
//! per sample, so a sample's run does not depend on which thread runs it.

use engram::plasticity::astrocyte::{self, AstroStdpConsts, AstrocyteConsts, PreKind};
use engram::plasticity::nalsm_neuron::{self as lif, NalsmNeuronConsts, NalsmNeuronState};
use engram::rng;

use super::grid::Topology;

/// Lowered constants of a run.
#[derive(Debug, Clone)]
pub struct SimConsts {
    pub neuron: NalsmNeuronConsts,
    /// exp(-1/tau_u): the per-step decay of the synaptic input.
    pub psc_decay: f64,
    /// The input current of one Bernoulli event (100).
    pub input_current: f64,
}

impl SimConsts {
    pub fn new(neuron: NalsmNeuronConsts, input_current: f64) -> SimConsts {
        let psc_decay = lif::psc(&neuron, 1) / lif::psc(&neuron, 0);
        SimConsts {
            neuron,
            psc_decay,
            input_current,
        }
    }
}

/// The organisation phase's plasticity: STDP constants, the astrocyte and the per-neuron
/// traces (kept across samples; the astrocyte restarts at A(0) every sample).
#[derive(Debug, Clone)]
pub struct Plasticity {
    pub stdp: AstroStdpConsts,
    pub astro: AstrocyteConsts,
    /// Trace of every presynaptic-numbered neuron (inputs, then liquid).
    pub x: Vec<f64>,
    /// Sum of A over all steps run, and the number of steps (for the mean A).
    pub a_sum: f64,
    pub a_steps: u64,
}

/// One sample's drive: the input neurons with a non-zero firing probability, and it.
#[derive(Debug, Clone, PartialEq)]
pub struct Drive {
    pub inputs: Vec<(u32, f64)>,
}

/// The weights a run uses: frozen, or changed by STDP under the astrocyte.
#[derive(Debug)]
pub enum Weights<'a> {
    Frozen(&'a [f64]),
    Plastic(&'a mut [f64], &'a mut Plasticity),
}

impl Weights<'_> {
    fn get(&self) -> &[f64] {
        match self {
            Weights::Frozen(w) => w,
            Weights::Plastic(w, _) => w,
        }
    }
}

/// What one sample's run records: spikes per liquid neuron and, if asked, the liquid spikes
/// of every step.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Spikes per liquid neuron (at most one per t_ref + 1 = 3 steps, so 8 bits hold
    /// 765 ms).
    pub counts: Vec<u8>,
    pub raster: Option<Vec<Vec<u32>>>,
    pub input_spikes: u64,
}

/// Runs one sample of `steps` ms from the reset state (v = 0, not refractory, Δ = 20,
/// A = A(0)).
pub fn run_sample(
    topo: &Topology,
    weights: Weights<'_>,
    c: &SimConsts,
    drive: &Drive,
    steps: usize,
    key: u64,
    record_raster: bool,
) -> Recording {
    let mut weights = weights;
    let (n_in, n) = (topo.n_inputs, topo.n_liquid);
    let init = NalsmNeuronState::initial(&c.neuron);
    let mut neuron = vec![init; topo.n_pre()];
    // U at the start: every synapse's term with Δ = delta_initial.
    let psc0 = lif::psc(&c.neuron, init.delta);
    let mut u = vec![0.0f64; n];
    for (s, &w) in weights.get().iter().enumerate() {
        u[topo.target[s] as usize] += w * psc0;
    }
    let mut a = match &weights {
        Weights::Frozen(_) => 0.0,
        Weights::Plastic(_, p) => p.astro.initial(),
    };
    let mut spiked = vec![false; topo.n_pre()];
    let mut fired: Vec<u32> = Vec::new();
    // Δ of each fired neuron before its reset, in `fired`'s order.
    let mut fired_delta: Vec<u32> = Vec::new();
    let mut counts = vec![0u8; n];
    let mut raster = record_raster.then(|| Vec::with_capacity(steps));
    let mut input_spikes = 0u64;
    for step in 0..steps {
        // Phases 1-3 for the driven inputs (the others never leave v = 0) and the liquid.
        fired.clear();
        fired_delta.clear();
        let mut check = |j: usize, fired: &mut Vec<u32>| {
            let delta_old = neuron[j].delta;
            let spike = lif::threshold(&c.neuron, &mut neuron[j]);
            if spike {
                fired.push(j as u32);
                fired_delta.push(delta_old);
                spiked[j] = true;
            }
            spike
        };
        for &(k, _) in &drive.inputs {
            check(k as usize, &mut fired);
        }
        let n_input_fired = fired.len();
        for (i, count) in counts.iter_mut().enumerate() {
            if check(n_in + i, &mut fired) {
                *count = count.saturating_add(1);
            }
        }
        input_spikes += n_input_fired as u64;
        // Each spike replaces its synapses' term w exp(-Δ_old) by w exp(0).
        let w = weights.get();
        for (&j, &delta_old) in fired.iter().zip(&fired_delta) {
            let gain = 1.0 - lif::psc(&c.neuron, delta_old);
            for s in topo.synapses_of(j as usize) {
                u[topo.target[s] as usize] += w[s] * gain;
            }
        }
        // Phase 4: integrate, then phases 5-6 and the decay of U to the next step's Δ.
        for &(k, p) in &drive.inputs {
            let event = rng::uniform(key, (step * n_in) as u64 + k as u64) < p;
            let s = &mut neuron[k as usize];
            lif::integrate(&c.neuron, s, 0.0, if event { c.input_current } else { 0.0 });
            lif::end_step(&c.neuron, s, spiked[k as usize]);
        }
        for i in 0..n {
            let s = &mut neuron[n_in + i];
            lif::integrate(&c.neuron, s, u[i], 0.0);
            lif::end_step(&c.neuron, s, spiked[n_in + i]);
            u[i] *= c.psc_decay;
        }
        if let Weights::Plastic(weights, p) = &mut weights {
            stdp(topo, weights, c, &neuron, &spiked, &fired, &mut u, p, a);
            for (x, &s) in p.x.iter_mut().zip(&spiked) {
                *x = astrocyte::trace_step(&p.stdp, *x, s);
            }
            let liquid_fired = (fired.len() - n_input_fired) as u32;
            a = astrocyte::astrocyte_step(&p.astro, a, liquid_fired, n_input_fired as u32);
            p.a_sum += a;
            p.a_steps += 1;
        }
        if let Some(r) = raster.as_mut() {
            r.push(
                fired[n_input_fired..]
                    .iter()
                    .map(|&j| j - n_in as u32)
                    .collect(),
            );
        }
        for &j in &fired {
            spiked[j as usize] = false;
        }
    }
    Recording {
        counts,
        raster,
        input_spikes,
    }
}

/// Phase 7: the STDP of every synapse with a pre or post spike this step, with the traces
/// from before this step and the astrocyte's `a`; each change `dw` also moves U by
/// `dw exp(-Δ_pre)` (Δ as the next step will see it).
#[allow(clippy::too_many_arguments)]
fn stdp(
    topo: &Topology,
    weights: &mut [f64],
    c: &SimConsts,
    neuron: &[NalsmNeuronState],
    spiked: &[bool],
    fired: &[u32],
    u: &mut [f64],
    p: &Plasticity,
    a: f64,
) {
    let n_in = topo.n_inputs;
    let mut apply = |s: usize, pre_spiked: bool, post_spiked: bool| {
        let (j, i) = (topo.source[s] as usize, topo.target[s] as usize);
        let kind: PreKind = topo.kind[j];
        let w = weights[s];
        let new = astrocyte::stdp_step(
            &p.stdp,
            kind,
            w,
            pre_spiked,
            post_spiked,
            p.x[j],
            p.x[n_in + i],
            a,
        );
        if new != w {
            weights[s] = new;
            u[i] += (new - w) * lif::psc(&c.neuron, neuron[j].delta);
        }
    };
    // A synapse whose relevant trace is 0 does not change (its weight is within bounds):
    // such synapses are skipped, most of them from the inputs an image leaves dark.
    for &j in fired {
        for s in topo.synapses_of(j as usize) {
            let i = n_in + topo.target[s] as usize;
            if p.x[i] != 0.0 || spiked[i] {
                apply(s, true, spiked[i]);
            }
        }
    }
    for &j in fired.iter().filter(|&&j| j as usize >= n_in) {
        let (synapses, sources) = topo.synapses_into(j as usize - n_in);
        for (&s, &pre) in synapses.iter().zip(sources) {
            if !spiked[pre as usize] && p.x[pre as usize] != 0.0 {
                apply(s as usize, false, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::grid::{Liquid, LiquidParams};
    use super::*;
    use engram::plasticity::astrocyte::{AstroStdpParams, AstrocyteParams};
    use engram::plasticity::nalsm_neuron::NalsmNeuronParams;
    use engram::rng::Purpose;

    fn consts() -> SimConsts {
        SimConsts::new(NalsmNeuronParams::paper().lower(1.0).unwrap(), 100.0)
    }

    fn plasticity(n_pre: usize) -> Plasticity {
        let stdp = AstroStdpParams::paper().lower(1.0).unwrap();
        let astro = AstrocyteParams::paper(0.015).lower(1.0).unwrap();
        Plasticity {
            stdp,
            astro,
            x: vec![0.0; n_pre],
            a_sum: 0.0,
            a_steps: 0,
        }
    }

    /// The reference's step written out densely: every neuron, every synapse, every step,
    /// U summed afresh from the Δ's. Returns the liquid spikes of every step.
    fn reference(
        topo: &Topology,
        w: &mut [f64],
        c: &SimConsts,
        drive: &Drive,
        steps: usize,
        key: u64,
        mut p: Option<&mut Plasticity>,
    ) -> Vec<Vec<u32>> {
        let n_in = topo.n_inputs;
        let mut s = vec![NalsmNeuronState::initial(&c.neuron); topo.n_pre()];
        let mut prob = vec![0.0; n_in];
        for &(k, pk) in &drive.inputs {
            prob[k as usize] = pk;
        }
        let mut a = p.as_ref().map_or(0.0, |p| p.astro.initial());
        let mut raster = Vec::new();
        for step in 0..steps {
            let spiked: Vec<bool> = s.iter_mut().map(|s| lif::threshold(&c.neuron, s)).collect();
            let mut syn = vec![0.0; topo.n_liquid];
            for (k, &wk) in w.iter().enumerate() {
                syn[topo.target[k] as usize] +=
                    wk * lif::psc(&c.neuron, s[topo.source[k] as usize].delta);
            }
            for (j, sj) in s.iter_mut().enumerate() {
                let (syn_j, i_in) = if j < n_in {
                    let event =
                        prob[j] > 0.0 && rng::uniform(key, (step * n_in + j) as u64) < prob[j];
                    (0.0, if event { c.input_current } else { 0.0 })
                } else {
                    (syn[j - n_in], 0.0)
                };
                lif::integrate(&c.neuron, sj, syn_j, i_in);
                lif::end_step(&c.neuron, sj, spiked[j]);
            }
            if let Some(p) = p.as_deref_mut() {
                for (k, wk) in w.iter_mut().enumerate() {
                    let (j, i) = (topo.source[k] as usize, n_in + topo.target[k] as usize);
                    *wk = astrocyte::stdp_step(
                        &p.stdp,
                        topo.kind[j],
                        *wk,
                        spiked[j],
                        spiked[i],
                        p.x[j],
                        p.x[i],
                        a,
                    );
                }
                for (x, &sp) in p.x.iter_mut().zip(&spiked) {
                    *x = astrocyte::trace_step(&p.stdp, *x, sp);
                }
                let liquid = spiked[n_in..].iter().filter(|&&b| b).count() as u32;
                a = astrocyte::astrocyte_step(
                    &p.astro,
                    a,
                    liquid,
                    spiked[..n_in].iter().filter(|&&b| b).count() as u32,
                );
            }
            raster.push(
                (0..topo.n_liquid as u32)
                    .filter(|&i| spiked[n_in + i as usize])
                    .collect(),
            );
        }
        raster
    }

    fn small() -> (Liquid, Drive) {
        let params = LiquidParams {
            input_density: 0.5,
            ..LiquidParams::paper(5, 40)
        };
        let liquid = Liquid::build(&params, 11).unwrap();
        let drive = Drive {
            inputs: (0..40)
                .filter(|k| k % 4 != 3)
                .map(|k| (k, 0.05 + 0.02 * f64::from(k)))
                .collect(),
        };
        (liquid, drive)
    }

    #[test]
    fn event_driven_run_equals_the_dense_reference_frozen_and_plastic() {
        let (liquid, drive) = small();
        let c = consts();
        let key = rng::counter_key(3, Purpose::Poisson, 0);
        let t = &liquid.topology;
        let frozen = run_sample(
            t,
            Weights::Frozen(&liquid.weights),
            &c,
            &drive,
            150,
            key,
            true,
        );
        let mut w_ref = liquid.weights.clone();
        let raster = reference(t, &mut w_ref, &c, &drive, 150, key, None);
        assert_eq!(frozen.raster.as_ref(), Some(&raster));
        let spikes: usize = raster.iter().map(Vec::len).sum();
        assert!(
            spikes > 200,
            "the liquid must be active for the test to mean anything: {spikes}"
        );
        assert_eq!(
            frozen.counts.iter().map(|&k| usize::from(k)).sum::<usize>(),
            spikes
        );

        let (mut w, mut p) = (liquid.weights.clone(), plasticity(t.n_pre()));
        let plastic = run_sample(
            t,
            Weights::Plastic(&mut w, &mut p),
            &c,
            &drive,
            150,
            key,
            true,
        );
        let (mut w_ref, mut p_ref) = (liquid.weights.clone(), plasticity(t.n_pre()));
        let raster = reference(t, &mut w_ref, &c, &drive, 150, key, Some(&mut p_ref));
        assert_eq!(plastic.raster.as_ref(), Some(&raster));
        assert_ne!(plastic.raster, frozen.raster, "STDP changed the dynamics");
        let changed = w
            .iter()
            .zip(&liquid.weights)
            .filter(|(a, b)| a != b)
            .count();
        assert!(changed > 100, "{changed} weights changed");
        for (a, b) in w.iter().zip(&w_ref) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        assert_eq!(p.x, p_ref.x);
        assert_eq!(p.a_steps, 150);
    }
}
