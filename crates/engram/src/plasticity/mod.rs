//! Plasticity rules: how synaptic weights, efficacies and thresholds change with activity.
//!
//! One rule per file, each with its equations and citation, its `*Params` (what a model file
//! gives, validated), and its state kept apart. Rules are event-driven: traces decay exactly
//! between events (`exp(-Δt/τ)`), so they can be advanced lazily, at spikes only, or densely,
//! every step, with the same result. Times are in ms, as everywhere in the engine.
//!
//! Verified against the specification (`shared/specs/model-specs.md` §3.4, §3.7, §9.7-9.9).
//! In the run loop, a projection selects its rule with `plasticity = { rule = "...", ... }`:
//! pair STDP (`"stdp"`), triplet STDP (`"triplet"`), the three-factor rule
//! (`"three_factor"`), NALSM's astrocyte-modulated STDP (`"astrocyte_stdp"`), inhibitory STDP
//! toward a target rate (`"inhibitory_stdp"`) and synaptic scaling (`"synaptic_scaling"`) change the stored weights in the schedule's `plasticity`
//! phase (each module's `step_projection` / `scale_projection`); Tsodyks-Markram short-term
//! plasticity (`"tsodyks_markram"`, `short_term::ShortTermSynapses`) scales transmitted
//! spikes in the `propagate` phase. A population takes intrinsic threshold adaptation with
//! `homeostasis = { ... }` (`homeostasis::ThresholdAdaptation`, around its `update`).
//! The NALSM neuron (`nalsm_neuron`) is a component the run loop does not call.

pub mod astrocyte;
pub mod homeostasis;
pub mod inhibitory;
pub mod nalsm_neuron;
pub mod short_term;
pub mod stdp;
pub mod three_factor;
pub mod triplet;

use std::collections::VecDeque;

use crate::error::{EngramError, Result};
use crate::network::row_range;

/// exp(-dt / tau): the factor by which a trace of time constant `tau` decays over `dt`.
pub fn decay(dt: f64, tau: f64) -> f64 {
    (-dt / tau).exp()
}

pub(crate) fn check_positive(rule: &str, name: &str, x: f64) -> Result<()> {
    if x > 0.0 && x.is_finite() { Ok(()) } else { Err(EngramError::Model(format!("{rule}: `{name}` must be positive, got {x}"))) }
}

/// The presynaptic spikes that reach a plastic projection's synapses at this step, given the
/// spikes `sent` now and the queue `in_flight` of the last `delay - 1` steps' spikes (oldest
/// first; empty for a one-step delay, whose spikes reach the synapses at once). `queued`
/// holds the spikes taken from the queue.
pub(crate) fn arriving<'a>(in_flight: &mut VecDeque<Vec<u32>>, sent: &'a [u32], queued: &'a mut Vec<u32>) -> &'a [u32] {
    if in_flight.is_empty() {
        return sent;
    }
    in_flight.push_back(sent.to_vec());
    *queued = in_flight.pop_front().expect("this step's spikes were just queued");
    queued
}

/// The presynaptic spikes on their way to the synapses of a plastic projection whose delays
/// differ from synapse to synapse: `slots[(now + k) % slots.len()]` lists the synapses that
/// spikes reach `k` steps from now. A spike sent over a synapse of delay `d` steps reaches it
/// `d - 1` steps after it is sent (one step of delay is the minimum, Brian2's zero delay), so
/// the ring needs as many slots as the longest delay.
#[derive(Debug, Clone)]
pub struct SynapseArrivals {
    slots: Vec<Vec<u32>>,
    now: usize,
}

impl SynapseArrivals {
    /// An empty ring for delays of at most `max_delay` steps.
    pub fn new(max_delay: u32) -> SynapseArrivals {
        SynapseArrivals { slots: (0..max_delay.max(1)).map(|_| Vec::new()).collect(), now: 0 }
    }

    /// Schedules the spikes `sent` at this step over their synapses (the CSR table `row_start`
    /// with per-synapse `delays` in steps), spikes in the order given and synapses in table
    /// order, then calls `arrive` for every synapse a spike reaches at this step, in the order
    /// they were scheduled, and moves on to the next step.
    pub fn step(&mut self, sent: &[u32], row_start: &[u64], delays: &[u16], mut arrive: impl FnMut(usize)) {
        let n = self.slots.len();
        for &i in sent {
            let synapses = row_range(row_start, i);
            for (s, &d) in synapses.clone().zip(&delays[synapses]) {
                self.slots[(self.now + d as usize - 1) % n].push(s as u32);
            }
        }
        let now = &mut self.slots[self.now];
        now.iter().for_each(|&s| arrive(s as usize));
        now.clear();
        self.now = (self.now + 1) % n;
    }
}
