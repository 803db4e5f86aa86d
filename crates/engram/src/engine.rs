//! The run loop.
//!
//! Every step runs the phases of [`SCHEDULE`] in order (`engram run --schedule` prints it).
//! Shards run in parallel on a rayon pool, one per thread, for the whole run; the only
//! synchronisation is one barrier per step after the spikes are published
//! ([`crate::exchange`]). Each shard adds into its own neurons' channels and ring buffers,
//! in the same order (spikes by increasing index, synapses in table order) for any number
//! of shards: results are bit-identical whatever the thread count.

use std::sync::Mutex;
use std::time::Instant;

use cpu_time::ProcessTime;

use crate::exchange::{SpikeBoard, StepBarrier};
use crate::network::{Delays, LocalSource, Network, PlasticRule, PopulationShard, ProjectionShard, Shard, Weights, row_range};
use crate::neurons::{NeuronConsts, StepInput, lif};
use crate::plasticity::short_term::ShortTermSynapses;
use crate::plasticity::{astrocyte, homeostasis, inhibitory, stdp, three_factor, triplet};
use crate::rng;
use crate::synapses::{Accumulators, ExpInput};

/// The phases of one step, in order, with what each does.
pub const SCHEDULE: &[(&str, &str)] = &[
    ("record_state", "sample monitored state variables (their values at the start of the step, time t)"),
    ("inject", "recompute injected currents where one starts or stops at this step"),
    ("deliver", "add the events due at t from the delay ring buffers to the synapse channels"),
    ("update", "sum the channels' input at t and advance them; integrate each neuron over [t, t+dt] with that input, then threshold and reset; then move homeostatic thresholds by the rate error over [t, t+dt] (this step's spikes included)"),
    ("sources", "emit the spikes of Poisson and spike-time sources"),
    ("exchange", "publish this step's spikes to every shard (one barrier)"),
    ("propagate", "for every spike, add each synapse's weight (times its Tsodyks-Markram efficacy u*x at arrival, where the projection has one) to its target's ring slot t + delay (to the channel itself for a one-step delay)"),
    ("plasticity", "per weight-changing rule: three-factor first integrates the weights over [t-dt, t] in closed form; decay the traces (pair, triplet, three-factor, inhibitory); apply the spikes that reach plastic synapses now, then this step's postsynaptic spikes (astrocyte STDP: both with the traces from before this step, then its traces and astrocyte advance); the three-factor modulator takes this step's spikes; synaptic scaling multiplies each neuron's incoming weights by its rate error over [t, t+dt]"),
    ("record_spikes", "store this step's spikes, stamped with time t"),
];

/// Spikes of one population or source, in (step, index) order.
#[derive(Debug, Clone, Default)]
pub struct SpikeRecord {
    pub steps: Vec<u32>,
    pub ids: Vec<u32>,
}

/// Samples of one state monitor: `values[var][sample * neurons.len() + column]`.
#[derive(Debug, Clone)]
pub struct StateRecord {
    pub population: String,
    pub variables: Vec<String>,
    pub neurons: Vec<u32>,
    pub sample_steps: Vec<u64>,
    pub values: Vec<Vec<f64>>,
}

pub struct RunResult {
    /// Per group (populations, then sources).
    pub spikes: Vec<SpikeRecord>,
    pub states: Vec<StateRecord>,
    pub synaptic_events: u64,
    pub wall_s: f64,
    /// CPU time of the whole process (all threads) during the loop.
    pub cpu_s: f64,
    pub n_steps: u64,
}

/// What all shards share during a run.
struct Exchange {
    board: SpikeBoard,
    barrier: StepBarrier,
}

/// A state monitor's share of one shard.
struct LocalStateMonitor {
    population: usize,
    every: u64,
    var_index: Vec<usize>,
    /// (column in the monitor's neuron list, local index in the shard).
    columns: Vec<(usize, usize)>,
    /// `values[var]` holds, per sample, this shard's columns in `columns` order.
    values: Vec<Vec<f64>>,
}

struct ShardOutput {
    spikes: Vec<SpikeRecord>,
    states: Vec<LocalStateMonitor>,
    events: u64,
}

/// Called with (steps done, total steps) from time to time.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

pub fn run(net: &mut Network, progress: Option<Progress>) -> RunResult {
    let k = net.shards.len();
    let n_groups = net.groups.len();
    let capacity: Vec<Vec<usize>> = net
        .shards
        .iter()
        .map(|shard| shard.populations.iter().map(|p| p.len()).chain(shard.sources.iter().map(|s| s.len)).collect())
        .collect();
    let exchange = Exchange { board: SpikeBoard::new(&capacity), barrier: StepBarrier::new(k) };
    let monitors = state_monitors(net);
    let n_steps = net.n_steps;
    let reference = net.reference_kernels;
    let shards: Vec<Mutex<Shard>> = net.shards.drain(..).map(Mutex::new).collect();
    let start = Instant::now();
    let cpu_start = ProcessTime::now();
    let run_one = |index: usize| {
        let mut shard = shards[index].lock().expect("shard lock");
        let locals = local_monitors(&monitors, &shard);
        let progress = if index == 0 { progress } else { None };
        run_shard(&mut shard, &exchange, n_steps, n_groups, locals, reference, progress)
    };
    let outputs: Vec<ShardOutput> = if k == 1 {
        vec![run_one(0)]
    } else {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(k).build().expect("thread pool");
        pool.broadcast(|ctx| run_one(ctx.index()))
    };
    let (wall_s, cpu_s) = (start.elapsed().as_secs_f64(), cpu_start.elapsed().as_secs_f64());
    net.shards = shards.into_iter().map(|m| m.into_inner().expect("shard lock")).collect();
    merge(net, outputs, monitors, wall_s, cpu_s)
}

fn run_shard(
    shard: &mut Shard,
    exchange: &Exchange,
    n_steps: u64,
    n_groups: usize,
    mut monitors: Vec<LocalStateMonitor>,
    reference: bool,
    progress: Option<Progress>,
) -> ShardOutput {
    let n_pops = shard.populations.len();
    let n_shards = exchange.board.shards();
    // This step's spikes: of this shard's blocks (local indices), of all shards (global).
    let mut local: Vec<Vec<u32>> = vec![Vec::new(); n_groups];
    let mut incoming: Vec<Vec<u32>> = vec![Vec::new(); n_groups];
    // Local index + offset = index in the group (sources' local lists hold group indices).
    let offsets: Vec<u32> = (0..n_groups).map(|g| if g < n_pops { shard.populations[g].start as u32 } else { 0 }).collect();
    let mut spikes = vec![SpikeRecord::default(); n_groups];
    let mut events = 0u64;
    let report_every = (n_steps / 200).max(1);
    let fused: Vec<bool> = shard.populations.iter().map(|p| kernel(p, reference) == "fused_lif_exp").collect();
    for step in 0..n_steps {
        for m in monitors.iter_mut().filter(|m| step % m.every == 0) {
            let pop = &shard.populations[m.population];
            for (values, &var) in m.values.iter_mut().zip(&m.var_index) {
                values.extend(m.columns.iter().map(|&(_, i)| pop.vars[var][i]));
            }
        }
        for (pi, pop) in shard.populations.iter_mut().enumerate() {
            inject(pop, step);
            pop.channels.iter_mut().for_each(|ch| ch.deliver(step));
            local[pi].clear();
            if let Some(h) = &pop.homeostasis {
                h.before_step(&mut pop.vars[h.th_var]);
            }
            update(pop, step, &mut local[pi], fused[pi]);
            if let Some(h) = &mut pop.homeostasis {
                h.after_step(&mut pop.vars[h.th_var], &local[pi]);
            }
        }
        for (si, src) in shard.sources.iter_mut().enumerate() {
            let out = &mut local[n_pops + si];
            out.clear();
            emit(src.start, src.len, &mut src.kind, step, out);
        }
        let parity = (step & 1) as usize;
        for (g, list) in local.iter().enumerate() {
            exchange.board.publish(shard.index, parity, g, list.iter().map(|&i| i + offsets[g]));
        }
        exchange.barrier.wait();
        for (g, list) in incoming.iter_mut().enumerate() {
            list.clear();
            (0..n_shards).for_each(|from| exchange.board.read_into(from, parity, g, list));
        }
        for proj in &mut shard.projections {
            let channel = &mut shard.populations[proj.post_population].channels[proj.channel];
            let (ring, n, slots) = channel.targets();
            let base = (step % slots as u64) as usize;
            let spikes = &incoming[proj.pre_group];
            events += match &mut proj.short_term {
                Some(stp) => propagate_short_term(&proj.row_start, &proj.post, &proj.weights, &proj.delays, stp, spikes, ring, n, slots, step),
                None => propagate(proj, spikes, ring, n, slots, base),
            };
        }
        for proj in &mut shard.projections {
            let (sent, post_spikes) = (&incoming[proj.pre_group], &local[proj.post_population]);
            match proj.plastic.as_ref().map(|p| &p.rule) {
                Some(PlasticRule::Pair { .. }) => stdp::step_projection(proj, sent, post_spikes),
                Some(PlasticRule::Triplet(_)) => triplet::step_projection(proj, sent, post_spikes),
                Some(PlasticRule::ThreeFactor(tf)) => {
                    let modulator_spikes = incoming[tf.modulator].len();
                    three_factor::step_projection(proj, sent, post_spikes, modulator_spikes)
                }
                Some(PlasticRule::AstrocyteStdp(_)) => astrocyte::step_projection(proj, sent, post_spikes, &incoming),
                Some(PlasticRule::SynapticScaling(_)) => homeostasis::scale_projection(proj, post_spikes),
                Some(PlasticRule::Inhibitory(_)) => inhibitory::step_projection(proj, sent, post_spikes),
                None => {}
            }
        }
        for (g, list) in local.iter().enumerate() {
            spikes[g].steps.extend(std::iter::repeat_n(step as u32, list.len()));
            spikes[g].ids.extend(list.iter().map(|&i| i + offsets[g]));
        }
        if let Some(report) = progress
            && (step + 1) % report_every == 0
        {
            report(step + 1, n_steps);
        }
    }
    ShardOutput { spikes, states: monitors, events }
}

/// How many spikes ahead the propagation loop prefetches synapse rows: a row is far in
/// memory from the previous one, and rows are short (tens of synapses).
const PREFETCH_AHEAD: usize = 4;

/// Adds the weights of the synapses of `spikes` (presynaptic indices, increasing) to the
/// rows `base + delay` of their targets in `ring` (`Channel::targets`); returns the number
/// of synaptic events.
fn propagate(proj: &ProjectionShard, spikes: &[u32], ring: &mut [f64], n: usize, slots: usize, base: usize) -> u64 {
    let mut events = 0;
    match &proj.delays {
        Delays::Same(d) => {
            let slot = (base + *d as usize) % slots;
            let row = &mut ring[slot * n..(slot + 1) * n];
            for (s, &pre) in spikes.iter().enumerate() {
                if let Some(&ahead) = spikes.get(s + PREFETCH_AHEAD) {
                    proj.prefetch_row(ahead);
                }
                let synapses = proj.row(pre);
                events += synapses.len() as u64;
                let targets = &proj.post[synapses.clone()];
                debug_assert!(targets.iter().all(|&j| (j as usize) < row.len()));
                // SAFETY (both loops): `Network::build` stores only targets inside the
                // shard's block, whose length is the ring row length `n`.
                match &proj.weights {
                    Weights::Same(w) => {
                        for &j in targets {
                            unsafe { *row.get_unchecked_mut(j as usize) += *w };
                        }
                    }
                    Weights::PerSynapse(weights) => {
                        for (&j, &w) in targets.iter().zip(&weights[synapses]) {
                            unsafe { *row.get_unchecked_mut(j as usize) += w as f64 };
                        }
                    }
                    Weights::Plastic(weights) => {
                        for (&j, &w) in targets.iter().zip(&weights[synapses]) {
                            unsafe { *row.get_unchecked_mut(j as usize) += w };
                        }
                    }
                }
            }
        }
        Delays::PerSynapse(delays) => {
            for &pre in spikes {
                let synapses = proj.row(pre);
                events += synapses.len() as u64;
                for s in synapses {
                    let slot = (base + delays[s] as usize) % slots;
                    ring[slot * n + proj.post[s] as usize] += proj.weights.at(s);
                }
            }
        }
    }
    events
}

/// [`propagate`] for a projection with Tsodyks-Markram short-term plasticity: each synapse's
/// weight is scaled by its efficacy `u x` for a spike arriving at step + delay, which updates
/// the synapse's state (`stp`, in table order). `row_start`, `post`, `weights` and `delays`
/// are the projection's table.
#[allow(clippy::too_many_arguments)]
fn propagate_short_term(
    row_start: &[u64],
    post: &[u32],
    weights: &Weights,
    delays: &Delays,
    stp: &mut ShortTermSynapses,
    spikes: &[u32],
    ring: &mut [f64],
    n: usize,
    slots: usize,
    step: u64,
) -> u64 {
    let mut events = 0;
    for &pre in spikes {
        let synapses = row_range(row_start, pre);
        events += synapses.len() as u64;
        for s in synapses {
            let delay = delays.at(s) as u64;
            let slot = ((step + delay) % slots as u64) as usize;
            ring[slot * n + post[s] as usize] += weights.at(s) * stp.efficacy(s, step + delay);
        }
    }
    events
}

fn inject(pop: &mut PopulationShard, step: u64) {
    if !pop.currents.iter().any(|c| c.start_step == step || c.stop_step == step) {
        return;
    }
    pop.i_ext.fill(0.0);
    for c in pop.currents.iter().filter(|c| c.start_step <= step && step < c.stop_step) {
        match &c.neurons {
            None => pop.i_ext.iter_mut().for_each(|i| *i += c.amplitude),
            Some(ids) => ids.iter().for_each(|&i| pop.i_ext[i as usize] += c.amplitude),
        }
    }
}

/// Neurons are advanced in blocks small enough that a block's synaptic sums, state and
/// input stay in the L1 cache between the channel pass and the neuron pass.
const BLOCK: usize = 256;

/// Advances a population by one step: with the fused kernel where `fused` (see
/// [`kernel`]), else with the channels' pass then the model's.
fn update(pop: &mut PopulationShard, step: u64, spikes: &mut Vec<u32>, fused: bool) {
    if fused {
        update_fused(pop, step, spikes);
        return;
    }
    let n = pop.len();
    let mut lo = 0;
    while lo < n {
        let hi = (lo + BLOCK).min(n);
        let a = &mut pop.syn_a[lo..hi];
        let b = &mut pop.syn_b[lo..hi];
        let jumps = &mut pop.v_jump[lo..hi];
        a.fill(0.0);
        if pop.conductance {
            b.fill(0.0);
        }
        if pop.jumps {
            jumps.fill(0.0);
        }
        for (c, ch) in pop.channels.iter_mut().enumerate() {
            ch.advance(lo..hi, Accumulators { a: &mut *a, b: &mut *b, jumps: &mut *jumps }, c == 0);
        }
        let input = StepInput::new(a, b, &pop.i_ext[lo..hi], jumps, pop.conductance, pop.jumps);
        let mut vars: Vec<&mut [f64]> = pop.vars.iter_mut().map(|v| &mut v[lo..hi]).collect();
        let before = spikes.len();
        pop.consts.step(step as i64, lo, &mut vars, &mut pop.refractory[lo..hi], &input, spikes);
        for s in &mut spikes[before..] {
            *s += lo as u32;
        }
        lo = hi;
    }
}

/// The kernel that advances a population: `"fused_lif_exp"` for LIF populations whose
/// synapses are one or two exponential channels, conductance-based ones first (unless
/// `reference` asks for the reference kernels), else `"reference"` (the channels' pass,
/// then the model's step).
pub fn kernel(pop: &PopulationShard, reference: bool) -> &'static str {
    let leading = leading_conductance_channels(pop);
    let fusable = matches!(pop.consts, NeuronConsts::Lif(_))
        && (1..=2).contains(&pop.channels.len())
        && pop.channels.iter().all(|ch| ch.consts.is_exponential())
        && pop.channels[leading..].iter().all(|ch| !ch.consts.is_conductance());
    if fusable && !reference { "fused_lif_exp" } else { "reference" }
}

fn leading_conductance_channels(pop: &PopulationShard) -> usize {
    pop.channels.iter().take_while(|ch| ch.consts.is_conductance()).count()
}

/// The fused kernel, for a population [`kernel`] gives it to.
fn update_fused(pop: &mut PopulationShard, step: u64, spikes: &mut Vec<u32>) {
    let conductance_channels = leading_conductance_channels(pop);
    let NeuronConsts::Lif(c) = &pop.consts else { unreachable!("checked by `kernel`") };
    let inputs: Vec<ExpInput> = pop.channels.iter_mut().map(|ch| ch.exp_input().expect("checked by `kernel`")).collect();
    let i_ext = if pop.currents.is_empty() { None } else { Some(pop.i_ext.as_slice()) };
    let (v, r, t) = (&mut pop.vars[0], &mut pop.refractory, step as i64);
    match (inputs.len(), conductance_channels) {
        (1, 0) => lif::step_fused::<1, 0>(c, t, v, r, i_ext, array(inputs), spikes),
        (1, 1) => lif::step_fused::<1, 1>(c, t, v, r, i_ext, array(inputs), spikes),
        (2, 0) => lif::step_fused::<2, 0>(c, t, v, r, i_ext, array(inputs), spikes),
        (2, 1) => lif::step_fused::<2, 1>(c, t, v, r, i_ext, array(inputs), spikes),
        (2, 2) => lif::step_fused::<2, 2>(c, t, v, r, i_ext, array(inputs), spikes),
        _ => unreachable!("checked by `kernel`"),
    }
}

fn array<const C: usize>(inputs: Vec<ExpInput>) -> [ExpInput; C] {
    inputs.try_into().ok().expect("one input per channel")
}

fn emit(start: usize, len: usize, kind: &mut LocalSource, step: u64, out: &mut Vec<u32>) {
    match kind {
        LocalSource::Poisson { p_step, key } => {
            for i in 0..len {
                let global = (start + i) as u64;
                if rng::uniform(*key, (step << 32) ^ global) < *p_step {
                    out.push(i as u32);
                }
            }
            for s in out.iter_mut() {
                *s += start as u32;
            }
        }
        LocalSource::SpikeTimes { events, next } => {
            while *next < events.len() && events[*next].0 < step {
                *next += 1;
            }
            while *next < events.len() && events[*next].0 == step {
                out.push(events[*next].1);
                *next += 1;
            }
        }
    }
}

/// State monitors resolved against the network: (population index, every, var indices).
struct MonitorPlan {
    population: usize,
    every: u64,
    var_index: Vec<usize>,
    record: StateRecord,
}

fn state_monitors(net: &Network) -> Vec<MonitorPlan> {
    let dt = net.spec.run.dt;
    net.spec
        .monitors
        .states
        .iter()
        .map(|m| {
            let population = net.spec.populations.iter().position(|p| p.name == m.population).expect("resolved by the loader");
            let vars = net.spec.populations[population].neuron.vars();
            let var_index = m.variables.iter().map(|v| vars.iter().position(|x| x == v).expect("checked by the loader")).collect();
            let every = ((m.every / dt).round() as u64).max(1);
            MonitorPlan {
                population,
                every,
                var_index,
                record: StateRecord {
                    population: m.population.clone(),
                    variables: m.variables.clone(),
                    neurons: m.neurons.clone(),
                    sample_steps: (0..net.n_steps).step_by(every as usize).collect(),
                    values: vec![Vec::new(); m.variables.len()],
                },
            }
        })
        .collect()
}

fn local_monitors(plans: &[MonitorPlan], shard: &Shard) -> Vec<LocalStateMonitor> {
    plans
        .iter()
        .map(|m| {
            let pop = &shard.populations[m.population];
            let range = pop.start..pop.start + pop.len();
            let columns = m
                .record
                .neurons
                .iter()
                .enumerate()
                .filter(|&(_, &id)| range.contains(&(id as usize)))
                .map(|(c, &id)| (c, id as usize - pop.start))
                .collect();
            LocalStateMonitor {
                population: m.population,
                every: m.every,
                var_index: m.var_index.clone(),
                columns,
                values: vec![Vec::new(); m.var_index.len()],
            }
        })
        .collect()
}

fn merge(net: &Network, outputs: Vec<ShardOutput>, plans: Vec<MonitorPlan>, wall_s: f64, cpu_s: f64) -> RunResult {
    let n_groups = net.groups.len();
    let mut spikes = Vec::with_capacity(n_groups);
    for g in 0..n_groups {
        let mut pairs: Vec<(u32, u32)> = outputs
            .iter()
            .flat_map(|o| o.spikes[g].steps.iter().copied().zip(o.spikes[g].ids.iter().copied()))
            .collect();
        pairs.sort_unstable();
        spikes.push(SpikeRecord { steps: pairs.iter().map(|p| p.0).collect(), ids: pairs.iter().map(|p| p.1).collect() });
    }
    let mut states = Vec::with_capacity(plans.len());
    for (mi, plan) in plans.into_iter().enumerate() {
        let mut record = plan.record;
        let width = record.neurons.len();
        let samples = record.sample_steps.len();
        for (vi, values) in record.values.iter_mut().enumerate() {
            *values = vec![0.0; samples * width];
            for o in &outputs {
                let local = &o.states[mi];
                let cols = local.columns.len();
                for s in 0..samples {
                    for (ci, &(column, _)) in local.columns.iter().enumerate() {
                        values[s * width + column] = local.values[vi][s * cols + ci];
                    }
                }
            }
        }
        states.push(record);
    }
    RunResult {
        spikes,
        states,
        synaptic_events: outputs.iter().map(|o| o.events).sum(),
        wall_s,
        cpu_s,
        n_steps: net.n_steps,
    }
}

/// The schedule as printable text.
pub fn describe_schedule() -> String {
    SCHEDULE.iter().enumerate().map(|(i, (name, what))| format!("{:>2}. {name:<14} {what}\n", i + 1)).collect()
}
