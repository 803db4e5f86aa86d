//! Lowering a `NetworkSpec` into the runtime network: structure-of-arrays neuron state,
//! merged synapse channels with delay ring buffers, and CSR synapse tables, all split into
//! shards. Shard k owns the k-th contiguous block of every population and source, and
//! holds the synapses whose postsynaptic neuron it owns, so shards never write to each
//! other's memory and sums arrive in the same order whatever the shard count.

use std::collections::VecDeque;

use crate::connectivity;
use crate::error::{EngramError, Result};
use crate::neurons::{NeuronConsts, NeuronParams, RefractoryEnd};
use crate::plasticity::SynapseArrivals;
use crate::plasticity::astrocyte::AstroStdpState;
use crate::plasticity::homeostasis::{ScalingState, ThresholdAdaptation};
use crate::plasticity::inhibitory::InhibitoryState;
use crate::plasticity::short_term::ShortTermSynapses;
use crate::plasticity::stdp::{ScaledTraces, StdpParams};
use crate::plasticity::three_factor::ThreeFactorState;
use crate::plasticity::triplet::TripletTraces;
use crate::rng::{self, Purpose};
use crate::spec::{NetworkSpec, Plasticity, SourceKind};
use crate::synapses::{Channel, ChannelConsts, SynapseModel};

/// A population or spike source, as the engine indexes them: populations first.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub size: usize,
    pub is_source: bool,
}

pub struct Network {
    pub spec: NetworkSpec,
    pub groups: Vec<Group>,
    pub shards: Vec<Shard>,
    pub n_steps: u64,
    pub n_synapses: u64,
    /// Bytes held by synapse tables (indices, weights, delays, row pointers).
    pub synapse_bytes: u64,
    /// Run the plain reference kernels instead of the fused fast paths (same results).
    pub reference_kernels: bool,
}

pub struct Shard {
    pub index: usize,
    pub populations: Vec<PopulationShard>,
    pub sources: Vec<SourceShard>,
    pub projections: Vec<ProjectionShard>,
}

/// A block of neurons of one population.
pub struct PopulationShard {
    /// First neuron of the block (population index).
    pub start: usize,
    pub consts: NeuronConsts,
    /// State variables in the order of the model's `VARS`.
    pub vars: Vec<Vec<f64>>,
    pub refractory: Vec<RefractoryEnd>,
    pub channels: Vec<Channel>,
    pub syn_a: Vec<f64>,
    pub syn_b: Vec<f64>,
    pub v_jump: Vec<f64>,
    pub i_ext: Vec<f64>,
    pub currents: Vec<LocalCurrent>,
    pub conductance: bool,
    pub jumps: bool,
    /// Intrinsic threshold adaptation, where the population has `homeostasis`.
    pub homeostasis: Option<ThresholdAdaptation>,
}

impl PopulationShard {
    pub fn len(&self) -> usize {
        self.refractory.len()
    }

    pub fn is_empty(&self) -> bool {
        self.refractory.is_empty()
    }
}

/// An injected current restricted to one block: local neuron indices (None: all).
pub struct LocalCurrent {
    pub neurons: Option<Vec<u32>>,
    pub amplitude: f64,
    pub start_step: u64,
    pub stop_step: u64,
}

pub struct SourceShard {
    pub start: usize,
    pub len: usize,
    pub kind: LocalSource,
}

pub enum LocalSource {
    /// Spike probability per step and the counter-RNG key.
    Poisson { p_step: f64, key: u64 },
    /// (step, population index) sorted by step then index; `next` is the cursor.
    SpikeTimes { events: Vec<(u64, u32)>, next: usize },
}

pub enum Delays {
    Same(u32),
    PerSynapse(Vec<u16>),
}

impl Delays {
    /// The delay of `synapse`, in steps.
    #[inline(always)]
    pub fn at(&self, synapse: usize) -> u32 {
        match self {
            Delays::Same(d) => *d,
            Delays::PerSynapse(d) => d[synapse] as u32,
        }
    }
}

/// Synapse weights (scaled as the channel stores them, see `ChannelConsts::weight_scale`):
/// one for the whole projection where the model file gives a fixed weight.
pub enum Weights {
    Same(f64),
    PerSynapse(Vec<f32>),
    /// Weights that plasticity changes, kept in double precision.
    Plastic(Vec<f64>),
}

impl Weights {
    #[inline(always)]
    pub fn at(&self, synapse: usize) -> f64 {
        match self {
            Weights::Same(w) => *w,
            Weights::PerSynapse(w) => w[synapse] as f64,
            Weights::Plastic(w) => w[synapse],
        }
    }
}

/// The state of a weight-changing rule on a projection's share in one shard: the rule's own
/// state, and the index by postsynaptic neuron and the spike queue the rules share.
pub struct PlasticState {
    pub rule: PlasticRule,
    pub incoming: Incoming,
    pub arrivals: Arrivals,
}

/// The synapses of a projection's table by postsynaptic neuron (the transpose of its CSR
/// table): (synapse index, presynaptic neuron) pairs.
pub struct Incoming {
    start: Vec<u32>,
    pairs: Vec<(u32, u32)>,
}

impl Incoming {
    /// The index of the table `row_start`, `post` (local targets among `n_post`).
    fn new(n_post: usize, row_start: &[u64], post: &[u32]) -> Incoming {
        let mut start = vec![0u32; n_post + 1];
        post.iter().for_each(|&j| start[j as usize + 1] += 1);
        for j in 0..n_post {
            start[j + 1] += start[j];
        }
        let mut next = start.clone();
        let mut pairs = vec![(0, 0); post.len()];
        for pre in 0..row_start.len().saturating_sub(1) as u32 {
            let synapses = row_range(row_start, pre);
            for (s, &j) in synapses.clone().zip(&post[synapses]) {
                pairs[next[j as usize] as usize] = (s as u32, pre);
                next[j as usize] += 1;
            }
        }
        Incoming { start, pairs }
    }

    /// The (synapse, presynaptic neuron) pairs onto local neuron `j`.
    #[inline(always)]
    pub fn of(&self, j: u32) -> &[(u32, u32)] {
        &self.pairs[self.start[j as usize] as usize..self.start[j as usize + 1] as usize]
    }

    pub fn bytes(&self) -> usize {
        self.pairs.len() * 8 + self.start.len() * 4
    }
}

/// When presynaptic spikes reach a plastic projection's synapses: a spike reaches a synapse,
/// and changes it, `delay - 1` steps after it is sent (one step of delay is the minimum,
/// Brian2's zero delay).
pub enum Arrivals {
    /// One delay for the whole projection: the spikes sent in the last `delay - 1` steps,
    /// oldest first (see `plasticity::arriving`).
    Neurons(VecDeque<Vec<u32>>),
    /// Delays that differ between synapses.
    Synapses(SynapseArrivals),
}

/// The traces of a weight-changing rule. Presynaptic traces are kept for every presynaptic
/// neuron in every shard (each shard sees all spikes, so the copies agree), or, on a
/// projection with [`Arrivals::Synapses`], for every synapse of the shard; postsynaptic ones
/// for the shard's own neurons.
pub enum PlasticRule {
    /// Pair STDP (`plasticity::stdp`).
    Pair { params: StdpParams, pre_trace: ScaledTraces, post_trace: ScaledTraces },
    /// Triplet STDP (`plasticity::triplet`).
    Triplet(TripletTraces),
    /// Three-factor rule (`plasticity::three_factor`).
    ThreeFactor(ThreeFactorState),
    /// NALSM's astrocyte-modulated STDP (`plasticity::astrocyte`).
    AstrocyteStdp(AstroStdpState),
    /// Synaptic scaling (`plasticity::homeostasis`).
    SynapticScaling(ScalingState),
    /// Inhibitory STDP toward a target rate (`plasticity::inhibitory`).
    Inhibitory(InhibitoryState),
}

/// The synapses of one projection whose targets lie in one shard.
pub struct ProjectionShard {
    pub pre_group: usize,
    pub post_population: usize,
    pub channel: usize,
    pub row_start: Vec<u64>,
    /// Target index local to the shard's block.
    pub post: Vec<u32>,
    pub weights: Weights,
    pub delays: Delays,
    pub plastic: Option<PlasticState>,
    /// Tsodyks-Markram state per synapse, for projections with short-term plasticity.
    pub short_term: Option<ShortTermSynapses>,
}

impl ProjectionShard {
    /// The synapses of presynaptic neuron `pre`: indices into `post`, `weight`, delays.
    #[inline(always)]
    pub fn row(&self, pre: u32) -> std::ops::Range<usize> {
        row_range(&self.row_start, pre)
    }

    /// Asks the processor to start loading the first synapses of `pre` into the cache.
    #[inline(always)]
    pub fn prefetch_row(&self, pre: u32) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let start = self.row_start[pre as usize] as usize;
            if let Some(post) = self.post.get(start) {
                // SAFETY: a prefetch is only a hint; it reads nothing and faults on nothing.
                unsafe { _mm_prefetch::<_MM_HINT_T0>((post as *const u32).cast()) };
            }
            if let Weights::PerSynapse(w) = &self.weights
                && let Some(weight) = w.get(start)
            {
                // SAFETY: as above.
                unsafe { _mm_prefetch::<_MM_HINT_T0>((weight as *const f32).cast()) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = pre;
    }
}

/// The synapses of presynaptic neuron `pre` in a CSR table with row pointers `row_start`:
/// indices into the table's per-synapse arrays.
#[inline(always)]
pub fn row_range(row_start: &[u64], pre: u32) -> std::ops::Range<usize> {
    row_start[pre as usize] as usize..row_start[pre as usize + 1] as usize
}

fn weight_at(synapse: usize, per_synapse: &[f32], same: Option<f64>) -> f64 {
    same.unwrap_or_else(|| per_synapse[synapse] as f64)
}

impl Network {
    /// The synapses of plastic projection `projection` (index in the model file) as
    /// (presynaptic, postsynaptic neuron, weight) in internal units, ordered by (pre, post)
    /// whatever the number of shards (repeated pairs keep their order); None if the
    /// projection is not plastic.
    pub fn plastic_weights(&self, projection: usize) -> Option<Vec<(u32, u32, f64)>> {
        let mut synapses = Vec::new();
        for shard in &self.shards {
            let proj = &shard.projections[projection];
            let Weights::Plastic(w) = &proj.weights else { return None };
            let offset = shard.populations[proj.post_population].start as u32;
            for pre in 0..proj.row_start.len().saturating_sub(1) as u32 {
                synapses.extend(proj.row(pre).map(|s| (pre, proj.post[s] + offset, w[s])));
            }
        }
        synapses.sort_by_key(|&(pre, post, _)| (pre, post));
        Some(synapses)
    }
}

/// Splits `n` items into `k` contiguous blocks; returns the start of block `i`.
pub fn block_start(n: usize, k: usize, i: usize) -> usize {
    (n * i) / k
}

impl Network {
    pub fn build(spec: NetworkSpec) -> Result<Network> {
        let dt = spec.run.dt;
        let k = spec.run.threads.max(1);
        let seed = spec.run.seed;
        let mut groups: Vec<Group> =
            spec.populations.iter().map(|p| Group { name: p.name.clone(), size: p.size, is_source: false }).collect();
        groups.extend(spec.sources.iter().map(|s| Group { name: s.name.clone(), size: s.size, is_source: true }));
        let group_index = |name: &str| groups.iter().position(|g| g.name == name).expect("names resolved by the loader");

        // Merge linear synapse models per postsynaptic population into channels.
        let mut channel_models: Vec<Vec<(SynapseModel, Option<String>, u32)>> = vec![Vec::new(); spec.populations.len()];
        let mut projection_channel = Vec::new();
        for proj in &spec.projections {
            let post = group_index(&proj.post);
            let max_delay = connectivity::delay_steps(proj.delay.range().1, dt);
            let list = &mut channel_models[post];
            let found = list.iter().position(|(m, name, _)| {
                *m == proj.synapse && (proj.channel.is_none() || name.is_none() || *name == proj.channel)
            });
            let c = match found {
                Some(c) => {
                    list[c].2 = list[c].2.max(max_delay);
                    if list[c].1.is_none() {
                        list[c].1 = proj.channel.clone();
                    }
                    c
                }
                None => {
                    if let Some(name) = &proj.channel
                        && list.iter().any(|(_, n, _)| n.as_deref() == Some(name))
                    {
                        return Err(EngramError::Model(format!(
                            "synapse name `{name}` on `{}` is used by projections with different synapse models",
                            proj.post
                        )));
                    }
                    list.push((proj.synapse, proj.channel.clone(), max_delay));
                    list.len() - 1
                }
            };
            projection_channel.push(c);
        }

        let mut shards: Vec<Shard> = (0..k)
            .map(|index| Shard { index, populations: Vec::new(), sources: Vec::new(), projections: Vec::new() })
            .collect();

        for (pi, pop) in spec.populations.iter().enumerate() {
            let vars = pop.neuron.vars();
            let consts = pop.neuron.lower(dt);
            // Initial values are drawn over the whole population, then split.
            let mut values: Vec<Vec<f64>> = Vec::with_capacity(vars.len());
            for (vi, &var) in vars.iter().enumerate() {
                let given = pop.init.iter().find(|(name, _)| name == var).map(|(_, v)| *v);
                let column: Vec<f64> = match given {
                    Some(dist) => {
                        let mut r = rng::stream(seed, Purpose::InitialState, ((pi as u64) << 32) | vi as u64);
                        (0..pop.size).map(|_| dist.sample(&mut r)).collect()
                    }
                    None if vi == 0 => vec![pop.neuron.initial("v", 0.0); pop.size],
                    None => values[0].iter().map(|&v| pop.neuron.initial(var, v)).collect(),
                };
                values.push(column);
            }
            let models = &channel_models[pi];
            let mut channel_init: Vec<Option<Vec<f64>>> = vec![None; models.len()];
            for (ii, (name, dist)) in pop.init.iter().enumerate() {
                let Some(channel) = name.strip_prefix("s_") else { continue };
                let c = models.iter().position(|(_, n, _)| n.as_deref() == Some(channel)).ok_or_else(|| {
                    EngramError::Model(format!(
                        "population `{}` sets `init.{name}`, but no projection onto it has a synapse named `{channel}`",
                        pop.name
                    ))
                })?;
                if models[c].0 == SynapseModel::Delta {
                    return Err(EngramError::Model(format!("`init.{name}`: delta synapses have no state")));
                }
                let mut r = rng::stream(seed, Purpose::InitialState, ((pi as u64) << 32) | (1000 + ii as u64));
                channel_init[c] = Some((0..pop.size).map(|_| dist.sample(&mut r)).collect());
            }
            let th_decay = match &pop.neuron {
                NeuronParams::AdaptiveLif(p) => (-dt / p.tau_th).exp(),
                _ => 1.0,
            };
            let th_var = vars.iter().position(|&v| v == "th");
            let conductance = models.iter().any(|(m, _, _)| m.is_conductance());
            let jumps = models.iter().any(|(m, _, _)| *m == SynapseModel::Delta);
            for (si, shard) in shards.iter_mut().enumerate() {
                let (start, end) = (block_start(pop.size, k, si), block_start(pop.size, k, si + 1));
                let n = end - start;
                let channels = models
                    .iter()
                    .zip(&channel_init)
                    .map(|((m, _, slots), init)| {
                        let mut ch = Channel::new(ChannelConsts::lower(m, dt), n, *slots as usize);
                        if let Some(init) = init {
                            ch.s.copy_from_slice(&init[start..end]);
                        }
                        ch
                    })
                    .collect();
                let currents = spec
                    .currents
                    .iter()
                    .filter(|c| c.target == pop.name)
                    .map(|c| LocalCurrent {
                        neurons: c.neurons.as_ref().map(|ids| {
                            ids.iter().filter(|&&i| (start..end).contains(&(i as usize))).map(|&i| i - start as u32).collect()
                        }),
                        amplitude: c.amplitude,
                        start_step: (c.start / dt).round() as u64,
                        stop_step: if c.stop.is_finite() { (c.stop / dt).round() as u64 } else { u64::MAX },
                    })
                    .collect();
                shard.populations.push(PopulationShard {
                    start,
                    consts: consts.block(start, end),
                    vars: values.iter().map(|col| col[start..end].to_vec()).collect(),
                    refractory: vec![0; n],
                    channels,
                    syn_a: vec![0.0; n],
                    syn_b: vec![0.0; n],
                    v_jump: vec![0.0; n],
                    i_ext: vec![0.0; n],
                    currents,
                    conductance,
                    jumps,
                    homeostasis: match (&pop.homeostasis, th_var) {
                        (Some(params), Some(th_var)) => Some(ThresholdAdaptation::new(params, n, dt, th_decay, th_var)?),
                        (Some(_), None) => {
                            return Err(EngramError::Model(format!("population `{}`: threshold adaptation needs a threshold variable `th`", pop.name)));
                        }
                        (None, _) => None,
                    },
                });
            }
        }

        for (si, src) in spec.sources.iter().enumerate() {
            for (ki, shard) in shards.iter_mut().enumerate() {
                let (start, end) = (block_start(src.size, k, ki), block_start(src.size, k, ki + 1));
                let kind = match &src.kind {
                    SourceKind::Poisson { rate } => LocalSource::Poisson {
                        p_step: rate * dt,
                        key: rng::counter_key(seed, Purpose::Poisson, si as u64),
                    },
                    SourceKind::SpikeTimes { ids, times } => {
                        let mut events: Vec<(u64, u32)> = ids
                            .iter()
                            .zip(times)
                            .filter(|&(&id, _)| (start..end).contains(&(id as usize)))
                            .map(|(&id, &t)| ((t / dt).round() as u64, id))
                            .collect();
                        events.sort_unstable();
                        events.dedup();
                        LocalSource::SpikeTimes { events, next: 0 }
                    }
                };
                shard.sources.push(SourceShard { start, len: end - start, kind });
            }
        }

        let mut n_synapses = 0;
        let mut synapse_bytes = 0;
        for (pj, proj) in spec.projections.iter().enumerate() {
            let pre_group = group_index(&proj.pre);
            let post_population = group_index(&proj.post);
            let (n_pre, n_post) = (groups[pre_group].size, groups[post_population].size);
            let syn = connectivity::build(proj, pj, n_pre, n_post, seed, dt);
            n_synapses += syn.post.len() as u64;
            if let Some(&d) = syn.delay.iter().max()
                && d > u16::MAX as u32
            {
                return Err(EngramError::Model(format!(
                    "projection `{}`: a delay of {d} steps exceeds the supported {} steps",
                    proj.name,
                    u16::MAX
                )));
            }
            let same_delay = syn.delay.first().copied().filter(|&d| syn.delay.iter().all(|&x| x == d));
            let weight_scale = ChannelConsts::lower(&proj.synapse, dt).weight_scale();
            let same_weight = proj.weight.fixed().map(|w| w * weight_scale);
            for (ki, shard) in shards.iter_mut().enumerate() {
                let (start, end) = (block_start(n_post, k, ki), block_start(n_post, k, ki + 1));
                let mut row_start = Vec::with_capacity(n_pre + 1);
                let (mut post, mut weight, mut delay) = (Vec::new(), Vec::new(), Vec::new());
                row_start.push(0u64);
                for i in 0..n_pre {
                    for s in syn.row_start[i] as usize..syn.row_start[i + 1] as usize {
                        let j = syn.post[s] as usize;
                        if (start..end).contains(&j) {
                            post.push((j - start) as u32);
                            if same_weight.is_none() {
                                weight.push((syn.weight[s] as f64 * weight_scale) as f32);
                            }
                            if same_delay.is_none() {
                                delay.push(syn.delay[s] as u16);
                            }
                        }
                    }
                    row_start.push(post.len() as u64);
                }
                let delay_bytes = delay.len() * 2;
                let delays = match same_delay {
                    Some(d) => Delays::Same(d),
                    None => Delays::PerSynapse(delay),
                };
                let n_local = end - start;
                // A shard without synapses takes the one-delay path: nothing reaches it.
                let arrivals = match &delays {
                    Delays::PerSynapse(d) if !d.is_empty() => {
                        Arrivals::Synapses(SynapseArrivals::new(d.iter().copied().max().unwrap_or(1) as u32))
                    }
                    Delays::Same(d) => Arrivals::Neurons((1..*d).map(|_| Vec::new()).collect()),
                    Delays::PerSynapse(_) => Arrivals::Neurons(VecDeque::new()),
                };
                // Presynaptic traces per synapse where delays differ, else per neuron.
                let n_pre_traces = if matches!(arrivals, Arrivals::Synapses(_)) { post.len() } else { n_pre };
                let rule = match &proj.plasticity {
                    Some(Plasticity::Stdp(params)) => Some(PlasticRule::Pair {
                        params: params.clone(),
                        pre_trace: ScaledTraces::new(n_pre_traces, crate::plasticity::decay(dt, params.tau_plus)),
                        post_trace: ScaledTraces::new(n_local, crate::plasticity::decay(dt, params.tau_minus)),
                    }),
                    Some(Plasticity::Triplet(params)) => {
                        Some(PlasticRule::Triplet(TripletTraces::new(params.lower()?, dt, n_pre_traces, n_local)))
                    }
                    Some(Plasticity::ThreeFactor(spec)) => {
                        let m = group_index(&spec.modulator);
                        let state = ThreeFactorState::new(spec, m, groups[m].size, dt, n_pre_traces, n_local, post.len())?;
                        Some(PlasticRule::ThreeFactor(state))
                    }
                    Some(Plasticity::AstrocyteStdp(spec)) => {
                        let indices = |names: &[String]| names.iter().map(|n| group_index(n)).collect();
                        let state = AstroStdpState::new(spec, indices(&spec.liquid), indices(&spec.input), dt, n_pre_traces, n_local)?;
                        Some(PlasticRule::AstrocyteStdp(state))
                    }
                    Some(Plasticity::SynapticScaling(params)) => Some(PlasticRule::SynapticScaling(ScalingState::new(params, n_local, dt)?)),
                    Some(Plasticity::InhibitoryStdp(params)) => {
                        // Conductances are stored as g, current and voltage weights as -g.
                        let sign = if proj.synapse.is_conductance() { 1.0 } else { -1.0 };
                        Some(PlasticRule::Inhibitory(InhibitoryState::new(params, sign, dt, n_pre_traces, n_local)?))
                    }
                    Some(Plasticity::TsodyksMarkram(_)) | None => None,
                };
                let short_term = match &proj.plasticity {
                    Some(Plasticity::TsodyksMarkram(params)) => Some(ShortTermSynapses::new(params.lower()?, post.len(), dt)),
                    _ => None,
                };
                let (weights, plastic) = match (rule, same_weight) {
                    (Some(rule), _) => {
                        let w: Vec<f64> = (0..post.len()).map(|s| weight_at(s, &weight, same_weight)).collect();
                        let state = PlasticState { rule, incoming: Incoming::new(n_local, &row_start, &post), arrivals };
                        (Weights::Plastic(w), Some(state))
                    }
                    (None, Some(w)) => (Weights::Same(w), None),
                    (None, None) => (Weights::PerSynapse(weight), None),
                };
                let weight_bytes = match &weights {
                    Weights::Same(_) => 8,
                    Weights::PerSynapse(w) => w.len() * 4,
                    Weights::Plastic(w) => w.len() * 8,
                };
                let index_bytes = plastic.as_ref().map_or(0, |p| p.incoming.bytes());
                let short_term_bytes = short_term.as_ref().map_or(0, ShortTermSynapses::bytes);
                synapse_bytes +=
                    (row_start.len() * 8 + post.len() * 4 + delay_bytes + weight_bytes + index_bytes + short_term_bytes) as u64;
                shard.projections.push(ProjectionShard {
                    pre_group,
                    post_population,
                    channel: projection_channel[pj],
                    row_start,
                    post,
                    weights,
                    delays,
                    plastic,
                    short_term,
                });
            }
        }
        let n_steps = (spec.run.duration / dt).round() as u64;
        Ok(Network { spec, groups, shards, n_steps, n_synapses, synapse_bytes, reference_kernels: false })
    }
}
