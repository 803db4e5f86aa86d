//! Plasticity in the run loop: single spike pairs give the pair-STDP weight changes of the
//! specification (`shared/specs/model-specs.md` §9.7: A+ = 0.01, A- = -0.0105, tau 20 ms;
//! +10 ms gives 0.01 e^-0.5, -10 ms gives -0.0105 e^-0.5), a synaptic delay shifts the pre
//! spike's arrival (per synapse where delays are drawn), 60 pairs at 20 Hz give the triplet-STDP changes of §9.8, a 20 Hz train
//! through Tsodyks-Markram synapses gives the efficacies of §9.9, a pre/post pair and one
//! modulator spike change a three-factor synapse by the closed-form integral, astrocyte STDP
//! gives the NALSM values of §3.7 (and its depression follows the astrocyte), synaptic
//! scaling and threshold adaptation follow the exact rate-error integral, the three-factor
//! and astrocyte rules tag each synapse at its own delay, and Poisson-driven networks with
//! plastic synapses learn the same weights and spikes at any thread count.

use engram::engine::{self, RunResult};
use engram::network::{Delays, Network, PlasticRule};
use engram_validation::*;

/// A presynaptic source spiking at `t_pre`, a postsynaptic LIF neuron forced to spike at
/// `t_post` (a 30 mV kick sent one step before), and one plastic synapse pre -> post of
/// initial weight `w0` (pA) and delay `delay`.
fn pair_model(t_pre: f64, t_post: f64, w0: f64, delay: f64) -> String {
    format!(
        r#"
[run]
dt = "0.1 ms"
duration = "200 ms"

[[populations]]
name = "post"
size = 1
model = "lif"
params = {{ c_m = "250 pF", tau_m = "10 ms", e_l = "-65 mV", v_th = "-50 mV", v_reset = "-65 mV" }}

[[sources]]
name = "pre"
kind = "spike_times"
ids = [0]
times = ["{t_pre} ms"]

[[sources]]
name = "kick"
kind = "spike_times"
ids = [0]
times = ["{kick} ms"]

[[projections]]
pre = "pre"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = {{ model = "exp_current", tau = "5 ms" }}
weight = "{w0} pA"
delay = "{delay} ms"
plasticity = {{ rule = "stdp", tau_plus = "20 ms", tau_minus = "20 ms", a_plus = "0.01 pA", a_minus = "-0.0105 pA", w_max = "1000 pA" }}

[[projections]]
pre = "kick"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = "delta"
weight = "30 mV"
delay = "0.1 ms"

[monitors]
spikes = ["post"]
"#,
        kick = t_post - 0.1
    )
}

/// Runs a model; returns the run and the plastic weights of projection `projection` in the
/// model's unit times 1000 (pA for currents, pS for conductances), in (pre, post) order.
fn run_weights(text: &str, threads: usize, projection: usize) -> (RunResult, Vec<f64>) {
    let mut spec = parse(text);
    spec.run.threads = threads;
    let mut net = Network::build(spec).expect("builds");
    let result = engine::run(&mut net, None);
    let synapses = net.plastic_weights(projection).expect("a plastic projection");
    (result, synapses.into_iter().map(|s| s.2 * 1e3).collect())
}

fn assert_same_weights(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: synapse counts differ");
    let differing = a.iter().zip(b).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
    assert_eq!(differing, 0, "{what}: {differing} of {} weights differ", a.len());
}

#[test]
fn a_pre_post_pair_potentiates_by_the_spec_value() {
    let (r, w) = run_weights(&pair_model(100.0, 110.0, 0.0, 0.1), 1, 0);
    assert_eq!(group_times(&r, 0, 0.1), vec![110.0], "the kick makes the neuron spike at 110 ms");
    assert!((w[0] - 0.006065307).abs() < 1e-9, "dw = {}", w[0]);
}

#[test]
fn a_post_pre_pair_depresses_by_the_spec_value() {
    let (r, w) = run_weights(&pair_model(110.0, 100.0, 1.0, 0.1), 1, 0);
    assert_eq!(group_times(&r, 0, 0.1), vec![100.0]);
    assert!((w[0] - (1.0 - 0.006368572)).abs() < 1e-9, "w = {}", w[0]);
}

#[test]
fn the_delay_shifts_the_pre_spike_arrival() {
    // One step of delay is Brian2's zero delay; a 1 ms delay reaches the synapse 0.9 ms later.
    let (_, w) = run_weights(&pair_model(100.0, 110.0, 0.0, 1.0), 1, 0);
    let expected = 0.01 * (-9.1f64 / 20.0).exp();
    assert!((w[0] - expected).abs() < 1e-9, "dw = {} vs {expected}", w[0]);
}

/// Twenty presynaptic sources all spiking at 100 ms onto one LIF neuron forced to spike at
/// 105 ms, through pair-STDP synapses of 1 pA whose delays are drawn from 0.1-10 ms: each
/// synapse sees its own pre spike arrive `d - 1` steps after 100 ms, before the post spike
/// (potentiation by a_plus e^(-Δt/τ+)) or after it (depression by a_minus e^(-Δt/τ-)).
#[test]
fn per_synapse_delays_shift_each_synapse_s_pre_spike_arrival() {
    let n = 20;
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let times = vec![r#""100 ms""#; n].join(", ");
    let text = pair_model(100.0, 105.0, 1.0, 0.1)
        .replace("ids = [0]\ntimes = [\"100 ms\"]", &format!("ids = [{}]\ntimes = [{times}]", ids.join(", ")))
        .replace(r#"delay = "0.1 ms"
plasticity"#, r#"delay = { uniform = ["0.1 ms", "10 ms"] }
plasticity"#);
    let mut spec = parse(&text);
    spec.run.threads = 1;
    let mut net = Network::build(spec).expect("builds");
    let result = engine::run(&mut net, None);
    assert_eq!(group_times(&result, 0, 0.1), vec![105.0], "the kick makes the neuron spike at 105 ms");
    let proj = &net.shards[0].projections[0];
    let Delays::PerSynapse(delays) = &proj.delays else { panic!("the delays are drawn per synapse") };
    let w = net.plastic_weights(0).expect("a plastic projection");
    assert_eq!(w.len(), n);
    let (mut potentiated, mut depressed) = (0, 0);
    for (i, &(pre, _, w)) in w.iter().enumerate() {
        assert_eq!(pre as usize, i);
        let d = delays[proj.row(pre).start] as f64;
        let gap = 105.0 - (100.0 + (d - 1.0) * 0.1);
        let dw = if gap >= 0.0 { 0.01 * (-gap / 20.0).exp() } else { -0.0105 * (gap / 20.0).exp() };
        if gap >= 0.0 { potentiated += 1 } else { depressed += 1 }
        assert!((w * 1e3 - (1.0 + dw)).abs() < 1e-9, "synapse {i}, delay {d} steps: w = {} pA, expected {}", w * 1e3, 1.0 + dw);
    }
    let mut distinct: Vec<u16> = delays.clone();
    distinct.sort_unstable();
    distinct.dedup();
    eprintln!("per-synapse delays: {} distinct of {n}, {potentiated} potentiated, {depressed} depressed", distinct.len());
    assert!(distinct.len() > 10 && potentiated > 3 && depressed > 3, "{delays:?}");
}

/// 400 LIF neurons driven by 300 Poisson inputs, with recurrent excitation: `input` is the
/// plasticity line of the input projection (projection 0), `recurrent` the weight, delay and
/// plasticity lines of the recurrent one (projection 1).
fn poisson_net(seed: u64, input: &str, recurrent: &str) -> String {
    format!(
        r#"
[run]
dt = "0.1 ms"
duration = "300 ms"
seed = {seed}

[[populations]]
name = "exc"
size = 400
model = "lif"
params = {{ c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "2 ms" }}
init = {{ v = {{ uniform = ["-60 mV", "-50 mV"] }} }}

[[sources]]
name = "noise"
kind = "poisson"
size = 300
rate = "15 Hz"

[[projections]]
pre = "noise"
post = "exc"
connect = {{ rule = "fixed_in_degree", k = 40 }}
synapse = {{ model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }}
weight = {{ uniform = ["1 nS", "4 nS"] }}
delay = "0.5 ms"
{input}

[[projections]]
pre = "exc"
post = "exc"
connect = {{ rule = "fixed_probability", p = 0.05 }}
synapse = {{ model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }}
{recurrent}

[monitors]
spikes = ["exc", "noise"]
"#
    )
}

/// Pair STDP on both projections: all-to-all with additive bounds on the inputs, nearest
/// spikes with multiplicative bounds on the recurrent synapses.
fn plastic_net() -> String {
    let input = r#"plasticity = { rule = "stdp", tau_plus = "20 ms", tau_minus = "20 ms", a_plus = "0.1 nS", a_minus = "-0.105 nS", w_max = "6 nS" }"#;
    let recurrent = r#"weight = "0.5 nS"
delay = "0.1 ms"
plasticity = { rule = "stdp", tau_plus = "16.8 ms", tau_minus = "33.7 ms", a_plus = "0.02 nS", a_minus = "-0.01 nS", w_max = "2 nS", bounds = "multiplicative", interaction = "nearest" }"#;
    poisson_net(21, input, recurrent)
}

#[test]
fn plastic_weights_and_spikes_do_not_depend_on_the_thread_count() {
    let (one, w_one) = run_weights(&plastic_net(), 1, 0);
    let (_, recurrent_one) = run_weights(&plastic_net(), 1, 1);
    let spikes = one.spikes[0].steps.len();
    eprintln!("plastic network: {spikes} spikes in 300 ms, {} noise synapses, {} recurrent", w_one.len(), recurrent_one.len());
    assert!(spikes > 500, "the network must be active: {spikes}");
    let changed = w_one.iter().filter(|&&w| !(1000.0..=4000.0).contains(&w) || w.fract() != 0.0).count();
    assert!(changed > w_one.len() / 2, "most input weights change ({changed} of {})", w_one.len());
    for threads in [2, 3] {
        let (r, w) = run_weights(&plastic_net(), threads, 0);
        let (_, recurrent) = run_weights(&plastic_net(), threads, 1);
        assert!(r.spikes[0].steps == one.spikes[0].steps && r.spikes[0].ids == one.spikes[0].ids, "spikes differ with {threads} threads");
        assert_same_weights(&w, &w_one, &format!("input weights, {threads} threads"));
        assert_same_weights(&recurrent, &recurrent_one, &format!("recurrent weights, {threads} threads"));
    }
}

#[test]
fn plastic_weights_with_per_synapse_delays_do_not_depend_on_the_thread_count() {
    let text = plastic_net()
        .replace(r#"delay = "0.5 ms""#, r#"delay = { uniform = ["0.1 ms", "3 ms"] }"#)
        .replace(r#"delay = "0.1 ms""#, r#"delay = { uniform = ["0.1 ms", "2 ms"] }"#);
    let (one, input_one) = run_weights(&text, 1, 0);
    let (_, recurrent_one) = run_weights(&text, 1, 1);
    let spikes = one.spikes[0].steps.len();
    eprintln!("per-synapse delays: {spikes} spikes in 300 ms, {} input synapses, {} recurrent", input_one.len(), recurrent_one.len());
    assert!(spikes > 500, "the network must be active: {spikes}");
    let changed = input_one.iter().filter(|&&w| !(1000.0..=4000.0).contains(&w) || w.fract() != 0.0).count();
    assert!(changed > input_one.len() / 2, "most input weights change ({changed} of {})", input_one.len());
    assert!(recurrent_one.iter().any(|&w| w != 500.0), "recurrent weights change");
    for threads in [2, 3] {
        let (r, input) = run_weights(&text, threads, 0);
        let (_, recurrent) = run_weights(&text, threads, 1);
        assert!(r.spikes[0].steps == one.spikes[0].steps && r.spikes[0].ids == one.spikes[0].ids, "spikes differ with {threads} threads");
        assert_same_weights(&input, &input_one, &format!("input weights, {threads} threads"));
        assert_same_weights(&recurrent, &recurrent_one, &format!("recurrent weights, {threads} threads"));
    }
}

/// `n` pre/post pairs at `rate_hz` with t_post - t_pre = `dt_ms` through one triplet-STDP
/// synapse (the spec's visual-cortex parameters in pA, no bounds) of initial weight `w0` pA;
/// each post spike is forced by a 30 mV kick sent one step before.
fn triplet_pairs_model(n: usize, rate_hz: f64, dt_ms: f64, w0: f64) -> String {
    let period = 1000.0 / rate_hz;
    let t_pre: Vec<f64> = (0..n).map(|k| 100.0 + k as f64 * period).collect();
    let list = |times: &mut dyn Iterator<Item = f64>| times.map(|t| format!("\"{t:.1} ms\"")).collect::<Vec<_>>().join(", ");
    let pre_times = list(&mut t_pre.iter().copied());
    let kick_times = list(&mut t_pre.iter().map(|t| t + dt_ms - 0.1));
    let duration = t_pre[n - 1] + 200.0;
    format!(
        r#"
[run]
dt = "0.1 ms"
duration = "{duration} ms"

[[populations]]
name = "post"
size = 1
model = "lif"
params = {{ c_m = "250 pF", tau_m = "10 ms", e_l = "-65 mV", v_th = "-50 mV", v_reset = "-65 mV" }}

[[sources]]
name = "pre"
kind = "spike_times"
ids = [{ids}]
times = [{pre_times}]

[[sources]]
name = "kick"
kind = "spike_times"
ids = [{ids}]
times = [{kick_times}]

[[projections]]
pre = "pre"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = {{ model = "exp_current", tau = "5 ms" }}
weight = "{w0} pA"
delay = "0.1 ms"
plasticity = {{ rule = "triplet", tau_plus = "16.8 ms", tau_x = "101 ms", tau_minus = "33.7 ms", tau_y = "125 ms", a2_plus = "5e-10 pA", a3_plus = "6.2e-3 pA", a2_minus = "7e-3 pA", a3_minus = "2.3e-4 pA" }}

[[projections]]
pre = "kick"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = "delta"
weight = "30 mV"
delay = "0.1 ms"

[monitors]
spikes = ["post"]
"#,
        ids = vec!["0"; n].join(", "),
    )
}

#[test]
fn sixty_triplet_pairs_at_20_hz_reproduce_the_spec_table() {
    for (dt_ms, w0, want) in [(10.0, 0.0, 0.2469620), (-10.0, 1.0, -0.3516221)] {
        let (r, w) = run_weights(&triplet_pairs_model(60, 20.0, dt_ms, w0), 1, 0);
        let post = group_times(&r, 0, 0.1);
        assert_eq!(post.len(), 60, "Δt = {dt_ms} ms: every kick makes the neuron spike");
        assert!((post[0] - (100.0 + dt_ms)).abs() < 1e-9 && (post[59] - (100.0 + 59.0 * 50.0 + dt_ms)).abs() < 1e-9, "{post:?}");
        let dw = w[0] - w0;
        assert!((dw - want).abs() <= 1e-6 * want.abs(), "Δt = {dt_ms} ms: Δw = {dw} vs {want}");
    }
}

/// A neuron at rest at 0 mV, far below threshold, receiving a 20 Hz train (20 spikes from
/// 10 ms) through a 1 mV delta synapse with Tsodyks-Markram plasticity `stp`; its voltage
/// is recorded every step.
fn tsodyks_model(stp: &str, delay: &str) -> String {
    let times: Vec<String> = (0..20).map(|k| format!("\"{} ms\"", 10 + 50 * k)).collect();
    format!(
        r#"
[run]
dt = "0.1 ms"
duration = "1020 ms"

[[populations]]
name = "post"
size = 1
model = "lif"
params = {{ c_m = "250 pF", tau_m = "10 ms", e_l = "0 mV", v_th = "50 mV", v_reset = "0 mV" }}

[[sources]]
name = "pre"
kind = "spike_times"
ids = [{ids}]
times = [{times}]

[[projections]]
pre = "pre"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = "delta"
weight = "1 mV"
delay = "{delay}"
plasticity = {stp}

[monitors]
state = [{{ population = "post", variables = ["v"], neurons = [0], every = "0.1 ms" }}]
"#,
        ids = vec!["0"; 20].join(", "),
        times = times.join(", "),
    )
}

/// The voltage jumps (mV) of the neuron of [`tsodyks_model`]: with e_l = 0 a step takes v to
/// (v + jump) e^(-dt/tau_m), so each step's jump is v_next e^(dt/tau_m) - v.
fn voltage_jumps(text: &str) -> Vec<f64> {
    let r = run_spec(parse(text));
    let v = &r.states[0].values[0];
    let growth = (0.1f64 / 10.0).exp();
    v.windows(2).map(|p| p[1] * growth - p[0]).filter(|&jump| jump.abs() > 1e-3).collect()
}

#[test]
fn tsodyks_markram_synapses_transmit_the_spec_efficacies() {
    let depressing = r#"{ rule = "tsodyks_markram", u = 0.5, tau_rec = "800 ms", tau_fac = "0 ms" }"#;
    let facilitating = r#"{ rule = "tsodyks_markram", u = 0.03, tau_rec = "130 ms", tau_fac = "530 ms" }"#;
    let tables = [
        (depressing, [0.5, 0.265147, 0.154835, 0.103020, 0.078683, 0.057126]),
        (facilitating, [0.03, 0.055327, 0.075736, 0.091777, 0.104279, 0.157973]),
    ];
    for (stp, table) in tables {
        for delay in ["0.1 ms", "2.5 ms"] {
            let jumps = voltage_jumps(&tsodyks_model(stp, delay));
            assert_eq!(jumps.len(), 20, "{stp}, delay {delay}: one jump per spike: {jumps:?}");
            for (&spike, want) in [1, 2, 3, 4, 5, 20].iter().zip(table) {
                let got = jumps[spike - 1];
                // The table is printed to 6 decimals.
                assert!((got - want).abs() <= 1e-6, "{stp}, delay {delay}, spike {spike}: u x = {got} vs {want}");
            }
        }
    }
}

/// Triplet STDP on the input synapses; the recurrent ones (heterogeneous delays) take the
/// plasticity line `stp` (empty: static).
fn triplet_stp_net(stp: &str) -> String {
    let input = r#"plasticity = { rule = "triplet", tau_plus = "16.8 ms", tau_x = "101 ms", tau_minus = "33.7 ms", tau_y = "125 ms", a2_plus = "0.05 nS", a3_plus = "0.05 nS", a2_minus = "0.07 nS", a3_minus = "0.002 nS", w_max = "6 nS" }"#;
    let recurrent = format!("weight = \"1.5 nS\"\ndelay = {{ uniform = [\"0.1 ms\", \"3 ms\"] }}\n{stp}");
    poisson_net(5, input, &recurrent)
}

#[test]
fn triplet_and_short_term_plasticity_do_not_depend_on_the_thread_count() {
    let stp = r#"plasticity = { rule = "tsodyks_markram", u = 0.5, tau_rec = "800 ms" }"#;
    let text = triplet_stp_net(stp);
    let (one, w_one) = run_weights(&text, 1, 0);
    let spikes = one.spikes[0].steps.len();
    assert!(spikes > 500, "the network must be active: {spikes}");
    let changed = w_one.iter().filter(|&&w| !(1000.0..=4000.0).contains(&w) || w.fract() != 0.0).count();
    assert!(changed > w_one.len() / 2, "most input weights change ({changed} of {})", w_one.len());
    let (static_recurrent, _) = run_weights(&triplet_stp_net(""), 1, 0);
    let static_spikes = static_recurrent.spikes[0].steps.len();
    eprintln!("triplet + STP network: {spikes} spikes in 300 ms ({static_spikes} with static recurrent synapses)");
    assert!(spikes < static_spikes, "depressing recurrent synapses must lower the activity: {spikes} vs {static_spikes}");
    for threads in [2, 3] {
        let (r, w) = run_weights(&text, threads, 0);
        assert!(r.spikes[0].steps == one.spikes[0].steps && r.spikes[0].ids == one.spikes[0].ids, "spikes differ with {threads} threads");
        assert_same_weights(&w, &w_one, &format!("triplet weights, {threads} threads"));
    }
}

/// One LIF neuron `post` (forced to spike by 30 mV kicks at `kicks`, sent one step early),
/// presynaptic sources `pre` (neuron k spikes at `pre_times[k]`) and `dopamine` (one neuron,
/// spiking at `modulator_times`), on a step of `dt` ms for `duration` ms. Projection 0 is
/// pre -> post (exp_current, `weight`, `delay`) with plasticity `rule` (none if empty).
#[allow(clippy::too_many_arguments)]
fn modulated_model(dt: f64, duration: f64, pre_times: &[f64], kicks: &[f64], modulator_times: &[f64], weight: &str, delay: &str, rule: &str) -> String {
    let list = |times: &[f64]| times.iter().map(|t| format!("\"{t} ms\"")).collect::<Vec<_>>().join(", ");
    let ids = |n: usize| (0..n).map(|k| k.to_string()).collect::<Vec<_>>().join(", ");
    let kick_times: Vec<f64> = kicks.iter().map(|t| t - dt).collect();
    format!(
        r#"
[run]
dt = "{dt} ms"
duration = "{duration} ms"

[[populations]]
name = "post"
size = 1
model = "lif"
params = {{ c_m = "250 pF", tau_m = "10 ms", e_l = "-65 mV", v_th = "-50 mV", v_reset = "-65 mV" }}

[[sources]]
name = "pre"
kind = "spike_times"
ids = [{pre_ids}]
times = [{pre}]

[[sources]]
name = "kick"
kind = "spike_times"
ids = [{kick_ids}]
times = [{kick}]

[[sources]]
name = "dopamine"
kind = "spike_times"
ids = [{modulator_ids}]
times = [{modulator}]
size = 1

[[projections]]
pre = "pre"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = {{ model = "exp_current", tau = "5 ms" }}
weight = {weight}
delay = {delay}
{plasticity}

[[projections]]
pre = "kick"
post = "post"
connect = {{ rule = "all_to_all" }}
synapse = "delta"
weight = "30 mV"
delay = "{dt} ms"

[monitors]
spikes = ["post"]
"#,
        pre_ids = ids(pre_times.len()),
        pre = list(pre_times),
        kick_ids = vec!["0"; kicks.len()].join(", "),
        kick = list(&kick_times),
        modulator_ids = vec!["0"; modulator_times.len()].join(", "),
        modulator = list(modulator_times),
        plasticity = if rule.is_empty() { String::new() } else { format!("plasticity = {rule}") },
    )
}

/// The three-factor rule of the tests below: tags a_plus = 1, a_minus = -1 with tau 20 ms,
/// eligibility tau_e = 200 ms, eta = 1 pA, modulator trace tau 20 ms, bounds [0, 1000 pA].
const THREE_FACTOR: &str = r#"{ rule = "three_factor", modulator = "dopamine", tau_modulator = "20 ms", tau_plus = "20 ms", tau_minus = "20 ms", a_plus = 1, a_minus = -1, tau_e = "200 ms", eta = "1 pA", w_max = "1000 pA" }"#;

/// The weight change (pA) of a three-factor synapse with eta = 1 pA, tau_e = 200 ms,
/// tau_modulator = 20 ms, tagged with `tag` at `t_tag` and modulated by one spike of a
/// one-neuron modulator at `t_m` > `t_tag`, up to the end T of a run of `n_steps` steps of
/// `dt`: with m(t) = exp(-(t - t_m)/tau_m) / tau_m and e(t) = e(t_m) exp(-(t - t_m)/tau_e),
/// eta ∫ m e dt from t_m to T = eta e(t_m) (1 - exp(-(T - t_m)(1/tau_m + 1/tau_e))) tau_e / (tau_m + tau_e),
/// where the last step integrated ends at T = (n_steps - 1) dt.
fn three_factor_change(dt: f64, tag: f64, t_tag: f64, t_m: f64, n_steps: u64) -> f64 {
    let (eta, tau_e, tau_m) = (1.0, 200.0, 20.0);
    let e_m = tag * (-(t_m - t_tag) / tau_e).exp();
    let span = (n_steps - 1) as f64 * dt - t_m;
    eta * e_m * (1.0 - (-span * (1.0 / tau_m + 1.0 / tau_e)).exp()) * tau_e / (tau_m + tau_e)
}

#[test]
fn a_pair_then_one_modulator_spike_changes_the_weight_by_the_closed_form() {
    let dt = 0.1;
    let rule = THREE_FACTOR;
    // Pre at 100 ms, post at 110 ms: the post spike tags e = a_plus exp(-10/20).
    let (r, w) = run_weights(&modulated_model(dt, 600.0, &[100.0], &[110.0], &[150.0], r#""1 pA""#, r#""0.1 ms""#, rule), 1, 0);
    assert_eq!(group_times(&r, 0, dt), vec![110.0]);
    let want = three_factor_change(dt, (-0.5f64).exp(), 110.0, 150.0, 6000);
    assert!((w[0] - 1.0 - want).abs() < 1e-10, "dw = {} vs {want}", w[0] - 1.0);
    // Post at 100 ms, pre at 110 ms: the pre spike tags a_minus exp(-10/20), the same pulse
    // depresses by as much.
    let (_, w) = run_weights(&modulated_model(dt, 600.0, &[110.0], &[100.0], &[150.0], r#""10 pA""#, r#""0.1 ms""#, rule), 1, 0);
    assert!((w[0] - 10.0 + want).abs() < 1e-10, "dw = {} vs {}", w[0] - 10.0, -want);
    // Without a modulator spike the tag changes nothing.
    let (_, w) = run_weights(&modulated_model(dt, 600.0, &[100.0], &[110.0], &[700.0], r#""1 pA""#, r#""0.1 ms""#, rule), 1, 0);
    assert_eq!(w[0], 1.0);
    // A baseline of 5 Hz makes M = m - 0.005 /ms: before the pulse it depresses the tagged
    // synapse by eta 0.005 tau_e (1 - exp(-(t - 110)/tau_e)) on top of the pulse.
    let with_baseline = rule.replace("a_plus = 1", "a_plus = 1, modulator_baseline = \"5 Hz\"");
    let (_, w) = run_weights(&modulated_model(dt, 600.0, &[100.0], &[110.0], &[150.0], r#""1 pA""#, r#""0.1 ms""#, &with_baseline), 1, 0);
    let baseline_change = -0.005 * 200.0 * (-0.5f64).exp() * (1.0 - (-(599.9 - 110.0) / 200.0f64).exp());
    assert!((w[0] - 1.0 - (want + baseline_change)).abs() < 1e-9, "dw = {} vs {}", w[0] - 1.0, want + baseline_change);
}

/// Twenty presynaptic sources spiking at 100 ms through three-factor synapses with delays
/// drawn from 0.1-10 ms onto a neuron forced to spike at 105 ms, one modulator spike at
/// 150 ms: each synapse is tagged when its own pre spike arrives (depression, at arrival
/// after the post spike) or at the post spike (potentiation, arrival before it).
#[test]
fn three_factor_tags_follow_per_synapse_delays() {
    let (dt, n) = (0.1, 20);
    let text = modulated_model(dt, 400.0, &[100.0; 20], &[105.0], &[150.0], r#""10 pA""#, r#"{ uniform = ["0.1 ms", "10 ms"] }"#, THREE_FACTOR);
    let mut net = Network::build(parse(&text)).expect("builds");
    let r = engine::run(&mut net, None);
    assert_eq!(group_times(&r, 0, dt), vec![105.0]);
    let proj = &net.shards[0].projections[0];
    let Delays::PerSynapse(delays) = &proj.delays else { panic!("the delays are drawn per synapse") };
    let w = net.plastic_weights(0).expect("a plastic projection");
    let (mut potentiated, mut depressed) = (0, 0);
    for (i, &(pre, _, w)) in w.iter().enumerate() {
        let d = delays[proj.row(pre).start] as f64;
        let arrival = 100.0 + (d - 1.0) * dt;
        let gap = 105.0 - arrival;
        // An arrival in the post spike's step sees y = 0 and tags at the post spike.
        let (tag, t_tag) = if gap >= -1e-9 { ((-gap / 20.0).exp(), 105.0) } else { (-(gap / 20.0).exp(), arrival) };
        if tag > 0.0 { potentiated += 1 } else { depressed += 1 }
        let want = 10.0 + three_factor_change(dt, tag, t_tag, 150.0, 4000);
        assert!((w * 1e3 - want).abs() < 1e-10, "synapse {i}, delay {d} steps: w = {} pA, expected {want}", w * 1e3);
    }
    assert!(potentiated > 3 && depressed > 3, "{delays:?}");
    assert_eq!(potentiated + depressed, n);
}

/// Astrocyte-modulated STDP as in NALSM (dt = 1 ms, d = 0.9047745, eta_plus = 0.15 mV,
/// A(0) = b_A = 0.15 mV, tau_A = 100 ms) on input synapses (bounds [-3, 3] mV), with the
/// post neuron as the liquid and the presynaptic sources as the input; `w_a` in mV.
fn astrocyte_rule(w_a: f64) -> String {
    format!(
        r#"{{ rule = "astrocyte_stdp", pre_kind = "input", eta_plus = "0.15 mV", w_min = "-3 mV", w_max = "3 mV", trace_decay = 0.9047745, w_a = "{w_a} mV", b_a = "0.15 mV", liquid = ["post"], input = ["pre"] }}"#
    )
}

#[test]
fn astrocyte_stdp_gives_the_spec_values() {
    // Spec §3.7: pre at step 0, post at step 5: dw = 0.15 * 0.1 d^5 = 0.00909480.
    let delta = |text: String| -> Vec<f64> { run_weights(&text.replace("exp_current\", tau = \"5 ms\"", "delta\""), 1, 0).1 };
    let w = delta(modulated_model(1.0, 20.0, &[0.0], &[5.0], &[], r#""1 mV""#, r#""1 ms""#, &astrocyte_rule(1.0)));
    let dw = w[0] * 1e-3 - 1.0;
    assert!((dw - 0.00909480).abs() < 1e-8, "dw = {dw}");
    // Post at step 2, pre at step 5: depression by A_5 x_post, with x_post = 0.1 d^3 and A
    // relaxing from 0.15 + w_A/tau_A (one liquid spike at step 2) back toward b_A:
    // A_5 = 0.15 + 0.01 * 0.99^2 mV for w_A = 1 mV.
    let w = delta(modulated_model(1.0, 20.0, &[5.0], &[2.0], &[], r#""1 mV""#, r#""1 ms""#, &astrocyte_rule(1.0)));
    let a_5 = 0.15 + 0.01 * 0.99f64.powi(2);
    let want = -a_5 * 0.1 * 0.9047745f64.powi(3);
    assert!((w[0] * 1e-3 - 1.0 - want).abs() < 1e-12, "dw = {} vs {want}", w[0] * 1e-3 - 1.0);
    // Without the liquid spike's effect on A (w_A = 0) the depression rate is b_A.
    let w = delta(modulated_model(1.0, 20.0, &[5.0], &[2.0], &[], r#""1 mV""#, r#""1 ms""#, &astrocyte_rule(0.0)));
    assert!((w[0] * 1e-3 - 1.0 + 0.15 * 0.1 * 0.9047745f64.powi(3)).abs() < 1e-12);
}

/// Twenty inputs spiking at step 10 through astrocyte-STDP synapses with delays drawn from
/// 1-15 ms onto a neuron forced to spike at step 18 (A fixed at b_A with w_A = 0): a spike
/// reaching its synapse before step 18 potentiates by eta_plus x_pre, one after it depresses
/// by A x_post, one in the same step sees both traces at 0.
#[test]
fn astrocyte_stdp_follows_per_synapse_delays() {
    let text = modulated_model(1.0, 40.0, &[10.0; 20], &[18.0], &[], r#""1 mV""#, r#"{ uniform = ["1 ms", "15 ms"] }"#, &astrocyte_rule(0.0))
        .replace("exp_current\", tau = \"5 ms\"", "delta\"");
    let mut net = Network::build(parse(&text)).expect("builds");
    let r = engine::run(&mut net, None);
    assert_eq!(group_times(&r, 0, 1.0), vec![18.0]);
    let proj = &net.shards[0].projections[0];
    let Delays::PerSynapse(delays) = &proj.delays else { panic!("the delays are drawn per synapse") };
    let w = net.plastic_weights(0).expect("a plastic projection");
    let d = 0.9047745f64;
    let (mut potentiated, mut depressed) = (0, 0);
    for &(pre, _, w) in &w {
        let arrival = 10 + delays[proj.row(pre).start] as i32 - 1;
        let dw = match arrival.cmp(&18) {
            std::cmp::Ordering::Less => 0.15 * 0.1 * d.powi(18 - arrival),
            std::cmp::Ordering::Greater => -0.15 * 0.1 * d.powi(arrival - 18),
            std::cmp::Ordering::Equal => 0.0,
        };
        if dw > 0.0 { potentiated += 1 } else if dw < 0.0 { depressed += 1 }
        assert!((w - (1.0 + dw)).abs() < 1e-12, "arrival at step {arrival}: w = {w} mV, expected {}", 1.0 + dw);
    }
    assert!(potentiated > 3 && depressed > 3, "{delays:?}");
}

/// Synaptic scaling (target 5 Hz, tau_rate 100 ms, tau_scale 1 s) on 2 pA synapses onto two
/// neurons, the first forced to spike once at 200 ms: after the last step (which integrates
/// up to t = 500 ms) each weight is w0 exp(-E / (r_target tau_scale)) with the rate error
/// integral E = (1 - exp(-(t - 200)/100)) - 0.005 t for the first neuron and -0.005 t for the
/// silent one.
#[test]
fn synaptic_scaling_follows_the_rate_error_integral() {
    let rule = r#"{ rule = "synaptic_scaling", target_rate = "5 Hz", tau_rate = "100 ms", tau_scale = "1 s", w_max = "100 pA" }"#;
    let text = modulated_model(0.1, 500.0, &[600.0], &[200.0], &[], r#""2 pA""#, r#""0.1 ms""#, rule)
        .replacen("size = 1\nmodel = \"lif\"", "size = 2\nmodel = \"lif\"", 1)
        .replace("pre = \"kick\"\npost = \"post\"\nconnect = { rule = \"all_to_all\" }", "pre = \"kick\"\npost = \"post\"\nconnect = { rule = \"explicit\", pre = [0], post = [0] }");
    let (r, w) = run_weights(&text, 1, 0);
    assert_eq!(group_times(&r, 0, 0.1), vec![200.0]);
    let t = 500.0;
    let fired = (1.0 - (-(t - 200.0) / 100.0f64).exp()) - 0.005 * t;
    let silent = -0.005 * t;
    for (got, error) in w.iter().zip([fired, silent]) {
        let want = 2.0 * (-error / (0.005 * 1000.0)).exp();
        assert!((got - want).abs() < 1e-10 * want, "w = {got} pA vs {want}");
    }
    // The silent neuron's weight grows as exp(t / tau_scale).
    assert!((w[1] - 2.0 * (t / 1000.0f64).exp()).abs() < 1e-10);
}

/// Threshold adaptation (target 5 Hz, tau_rate 100 ms, eta_threshold 2 mV) on two adaptive
/// LIF neurons with a spike-triggered threshold (th_jump 1 mV, tau_th 100 ms), the first
/// forced to spike at 200 ms: `th` recorded at the start of step n is the spike-triggered part
/// exp(-((n - 1) dt - 200)/tau_th) (it decays from the next step on) plus eta E(n dt), with E
/// as for synaptic scaling (the step before integrated up to n dt).
#[test]
fn threshold_adaptation_follows_the_rate_error_integral() {
    let text = modulated_model(0.1, 500.0, &[600.0], &[200.0], &[], r#""2 pA""#, r#""0.1 ms""#, "")
        .replacen(
            "size = 1\nmodel = \"lif\"\nparams = { c_m = \"250 pF\", tau_m = \"10 ms\", e_l = \"-65 mV\", v_th = \"-50 mV\", v_reset = \"-65 mV\" }",
            "size = 2\nmodel = \"adaptive_lif\"\nparams = { c_m = \"250 pF\", tau_m = \"10 ms\", e_l = \"-65 mV\", v_th = \"-50 mV\", v_reset = \"-65 mV\", th_jump = \"1 mV\", tau_th = \"100 ms\" }\nhomeostasis = { target_rate = \"5 Hz\", tau_rate = \"100 ms\", eta_threshold = \"2 mV\" }",
            1,
        )
        .replace("pre = \"kick\"\npost = \"post\"\nconnect = { rule = \"all_to_all\" }", "pre = \"kick\"\npost = \"post\"\nconnect = { rule = \"explicit\", pre = [0], post = [0] }")
        .replace("spikes = [\"post\"]", "spikes = [\"post\"]\nstate = [{ population = \"post\", variables = [\"th\"], neurons = [0, 1], every = \"0.1 ms\" }]");
    let r = run_spec(parse(&text));
    assert_eq!(group_times(&r, 0, 0.1), vec![200.0]);
    let th = &r.states[0].values[0];
    for n in [1usize, 1000, 2000, 2001, 2500, 4999] {
        let (t, t_jump) = (n as f64 * 0.1, (n - 1) as f64 * 0.1);
        let rate_term = if t >= 200.0 { 1.0 - (-(t - 200.0) / 100.0f64).exp() } else { 0.0 };
        let jump = if t_jump >= 200.0 { (-(t_jump - 200.0) / 100.0f64).exp() } else { 0.0 };
        let want = [jump + 2.0 * (rate_term - 0.005 * t), 2.0 * -0.005 * t];
        for (k, want) in want.into_iter().enumerate() {
            let got = th[n * 2 + k];
            assert!((got - want).abs() < 1e-9, "neuron {k}, step {n}: th = {got} mV vs {want}");
        }
    }
}

/// 400 adaptive LIF neurons (threshold adaptation toward 8 Hz) driven by 300 Poisson inputs
/// through three-factor synapses modulated by a 20-neuron Poisson "dopamine" source (with a
/// baseline, so M changes sign) with delays drawn from 0.1-3 ms, and recurrent excitation
/// with synaptic scaling toward 8 Hz and drawn delays; `th` of ten neurons is recorded.
fn modulated_net() -> String {
    r#"
[run]
dt = "0.1 ms"
duration = "300 ms"
seed = 8

[[populations]]
name = "exc"
size = 400
model = "adaptive_lif"
params = { c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "2 ms", th_jump = "0.5 mV", tau_th = "50 ms" }
init = { v = { uniform = ["-60 mV", "-50 mV"] } }
homeostasis = { target_rate = "8 Hz", tau_rate = "100 ms", eta_threshold = "20 mV" }

[[sources]]
name = "noise"
kind = "poisson"
size = 300
rate = "15 Hz"

[[sources]]
name = "dopamine"
kind = "poisson"
size = 20
rate = "10 Hz"

[[projections]]
pre = "noise"
post = "exc"
connect = { rule = "fixed_in_degree", k = 40 }
synapse = { model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }
weight = { uniform = ["1 nS", "4 nS"] }
delay = { uniform = ["0.1 ms", "3 ms"] }
plasticity = { rule = "three_factor", modulator = "dopamine", tau_modulator = "50 ms", modulator_baseline = "8 Hz", tau_plus = "20 ms", tau_minus = "20 ms", a_plus = 1, a_minus = -1.05, tau_e = "200 ms", eta = "50 nS", w_max = "6 nS" }

[[projections]]
pre = "exc"
post = "exc"
connect = { rule = "fixed_probability", p = 0.05 }
synapse = { model = "exp_cond", tau = "5 ms", e_rev = "0 mV" }
weight = "0.5 nS"
delay = { uniform = ["0.1 ms", "2 ms"] }
plasticity = { rule = "synaptic_scaling", target_rate = "8 Hz", tau_rate = "100 ms", tau_scale = "500 ms", w_max = "3 nS" }

[monitors]
spikes = ["exc", "noise", "dopamine"]
state = [{ population = "exc", variables = ["th"], neurons = [0, 50, 99, 100, 150, 199, 200, 250, 300, 399], every = "1 ms" }]
"#
    .to_string()
}

#[test]
fn three_factor_scaling_and_threshold_adaptation_do_not_depend_on_the_thread_count() {
    let text = modulated_net();
    let (one, input_one) = run_weights(&text, 1, 0);
    let (_, recurrent_one) = run_weights(&text, 1, 1);
    let spikes = one.spikes[0].steps.len();
    let th = &one.states[0].values[0];
    eprintln!("modulated network: {spikes} spikes in 300 ms, {} input synapses, {} recurrent", input_one.len(), recurrent_one.len());
    assert!(spikes > 500, "the network must be active: {spikes}");
    let changed = input_one.iter().filter(|&&w| !(1000.0..=4000.0).contains(&w) || w.fract() != 0.0).count();
    assert!(changed > input_one.len() / 2, "most input weights change ({changed} of {})", input_one.len());
    assert!(recurrent_one.iter().all(|&w| w != 500.0), "every recurrent weight is scaled");
    assert!(th.iter().any(|&x| x < -0.1) && th.iter().any(|&x| x > 0.1), "thresholds move both ways");
    for threads in [2, 3] {
        let (r, input) = run_weights(&text, threads, 0);
        let (_, recurrent) = run_weights(&text, threads, 1);
        assert!(r.spikes[0].steps == one.spikes[0].steps && r.spikes[0].ids == one.spikes[0].ids, "spikes differ with {threads} threads");
        assert_same_weights(&input, &input_one, &format!("three-factor weights, {threads} threads"));
        assert_same_weights(&recurrent, &recurrent_one, &format!("scaled weights, {threads} threads"));
        assert_same_weights(&r.states[0].values[0], th, &format!("thresholds, {threads} threads"));
    }
}

/// A NALSM-like liquid on a 1 ms step: 300 Poisson inputs onto 400 excitatory and 100
/// inhibitory LIF neurons (delta synapses), every projection with astrocyte-modulated
/// STDP and the same astrocyte (liquid: exc and inh, input: the inputs); the input
/// projection has delays drawn from 1-4 ms.
fn astrocyte_net() -> String {
    let astrocyte = r#"eta_plus = "0.05 mV", w_a = "0.005 mV", b_a = "0.05 mV", liquid = ["exc", "inh"], input = ["input"]"#;
    let lif = r#"{ c_m = "200 pF", tau_m = "20 ms", e_l = "-60 mV", v_th = "-50 mV", v_reset = "-60 mV", t_ref = "2 ms" }"#;
    let projection = |pre: &str, post: &str, p: f64, weight: &str, delay: &str, kind: &str, bounds: &str| {
        format!(
            "[[projections]]\npre = \"{pre}\"\npost = \"{post}\"\nconnect = {{ rule = \"fixed_probability\", p = {p} }}\nsynapse = \"delta\"\nweight = {weight}\ndelay = {delay}\nplasticity = {{ rule = \"astrocyte_stdp\", pre_kind = \"{kind}\", {bounds}, {astrocyte} }}\n\n"
        )
    };
    let mut text = format!(
        "[run]\ndt = \"1 ms\"\nduration = \"400 ms\"\nseed = 4\n\n[[populations]]\nname = \"exc\"\nsize = 400\nmodel = \"lif\"\nparams = {lif}\ninit = {{ v = {{ uniform = [\"-60 mV\", \"-50 mV\"] }} }}\n\n[[populations]]\nname = \"inh\"\nsize = 100\nmodel = \"lif\"\nparams = {lif}\n\n[[sources]]\nname = \"input\"\nkind = \"poisson\"\nsize = 300\nrate = \"20 Hz\"\n\n"
    );
    text += &projection("input", "exc", 0.15, r#"{ uniform = ["-1 mV", "3 mV"] }"#, r#"{ uniform = ["1 ms", "4 ms"] }"#, "input", r#"w_min = "-3 mV", w_max = "3 mV""#);
    text += &projection("exc", "exc", 0.05, r#""1 mV""#, r#""1 ms""#, "excitatory", r#"w_min = "0 mV", w_max = "3 mV""#);
    text += &projection("exc", "inh", 0.1, r#""1 mV""#, r#""1 ms""#, "excitatory", r#"w_min = "0 mV", w_max = "3 mV""#);
    text += &projection("inh", "exc", 0.2, r#""-2 mV""#, r#""1 ms""#, "inhibitory", r#"w_min = "-3 mV", w_max = "0 mV""#);
    text + "[monitors]\nspikes = [\"exc\", \"inh\"]\n"
}

#[test]
fn astrocyte_stdp_does_not_depend_on_the_thread_count() {
    let text = astrocyte_net();
    let runs: Vec<(RunResult, Vec<Vec<f64>>, f64)> = [1, 2, 3]
        .into_iter()
        .map(|threads| {
            let mut spec = parse(&text);
            spec.run.threads = threads;
            let mut net = Network::build(spec).expect("builds");
            let r = engine::run(&mut net, None);
            let weights = (0..4).map(|p| net.plastic_weights(p).expect("plastic").into_iter().map(|s| s.2).collect()).collect();
            // Every projection's copy of the astrocyte, in every shard, ends at the same A.
            let a: Vec<f64> = net
                .shards
                .iter()
                .flat_map(|shard| &shard.projections)
                .map(|proj| match &proj.plastic.as_ref().expect("plastic").rule {
                    PlasticRule::AstrocyteStdp(st) => st.astrocyte(),
                    _ => panic!("astrocyte STDP projections"),
                })
                .collect();
            assert!(a.iter().all(|x| x.to_bits() == a[0].to_bits()), "{threads} threads: astrocyte copies differ: {a:?}");
            (r, weights, a[0])
        })
        .collect();
    let (one, w_one, a_one) = &runs[0];
    eprintln!("astrocyte A at the end: {a_one} mV (b_A = 0.05 mV)");
    assert!((a_one - 0.05).abs() > 1e-3, "the astrocyte follows the activity: A = {a_one}");
    let spikes = one.spikes[0].steps.len() + one.spikes[1].steps.len();
    eprintln!("astrocyte network: {spikes} liquid spikes in 400 ms");
    assert!(spikes > 1000, "the liquid must be active: {spikes}");
    for (p, w) in w_one.iter().enumerate() {
        let initial = [None, Some(1.0), Some(1.0), Some(-2.0)][p];
        let changed = w.iter().filter(|&&x| initial.is_none_or(|w0| x != w0) && (initial.is_some() || x.fract() != 0.0)).count();
        assert!(changed > w.len() / 10, "projection {p}: {changed} of {} weights change", w.len());
    }
    for (threads, (r, w, a)) in [2, 3].into_iter().zip(&runs[1..]) {
        assert_eq!(a.to_bits(), a_one.to_bits(), "astrocyte A with {threads} threads");
        for g in 0..2 {
            assert!(r.spikes[g].steps == one.spikes[g].steps && r.spikes[g].ids == one.spikes[g].ids, "spikes differ with {threads} threads");
        }
        for (p, (a, b)) in w.iter().zip(w_one).enumerate() {
            assert_same_weights(a, b, &format!("projection {p}, {threads} threads"));
        }
    }
}

/// `examples/three_factor.toml` gives the values of its header: cue A's weights rise from
/// 4 mV to 6.006 mV, cue B's fall to 2.983 mV, where cue B stops driving the output.
#[test]
fn the_three_factor_example_gives_its_header_values() {
    let mut net = Network::build(load_example("three_factor.toml")).expect("builds");
    let r = engine::run(&mut net, None);
    let trial = |t: f64, k: f64| (t - k) / 500.0 - ((t - k) / 500.0).round();
    let spikes = |k: f64| group_times(&r, 2, 0.1).iter().filter(|&&t| trial(t, k).abs() < 1e-6).count();
    assert_eq!((spikes(100.2), spikes(350.2)), (20, 9), "output spikes after cue A and cue B");
    for (projection, want) in [(2, 6.006), (3, 2.983)] {
        let w = net.plastic_weights(projection).expect("plastic");
        assert_eq!(w.len(), 5);
        assert!(w.iter().all(|s| (s.2 - want).abs() < 5e-4), "projection {projection}: {w:?}, expected {want} mV");
    }
}

/// Twenty presynaptic sources spiking at 100 ms through triplet-STDP synapses of 1 pA with
/// delays drawn from 0.1-10 ms onto a neuron forced to spike at 105 ms: with one pair per
/// synapse the triplet terms see traces still at 0, so a pre spike reaching its synapse
/// before the post spike potentiates by a2_plus e^(-Δt/τ+), one after it depresses by
/// a2_minus e^(-Δt/τ-).
#[test]
fn triplet_stdp_follows_per_synapse_delays() {
    let rule = r#"{ rule = "triplet", tau_plus = "16.8 ms", tau_x = "101 ms", tau_minus = "33.7 ms", tau_y = "125 ms", a2_plus = "0.01 pA", a3_plus = "0.02 pA", a2_minus = "0.007 pA", a3_minus = "0.003 pA" }"#;
    let text = modulated_model(0.1, 200.0, &[100.0; 20], &[105.0], &[], r#""1 pA""#, r#"{ uniform = ["0.1 ms", "10 ms"] }"#, rule);
    let mut net = Network::build(parse(&text)).expect("builds");
    let r = engine::run(&mut net, None);
    assert_eq!(group_times(&r, 0, 0.1), vec![105.0]);
    let proj = &net.shards[0].projections[0];
    let Delays::PerSynapse(delays) = &proj.delays else { panic!("the delays are drawn per synapse") };
    let (mut potentiated, mut depressed) = (0, 0);
    for &(pre, _, w) in &net.plastic_weights(0).expect("a plastic projection") {
        let d = delays[proj.row(pre).start] as f64;
        let gap = 105.0 - (100.0 + (d - 1.0) * 0.1);
        let dw = if gap >= -1e-9 { 0.01 * (-gap / 16.8).exp() } else { -0.007 * (gap / 33.7).exp() };
        if dw > 0.0 { potentiated += 1 } else { depressed += 1 }
        assert!((w * 1e3 - (1.0 + dw)).abs() < 1e-12, "delay {d} steps: w = {} pA, expected {}", w * 1e3, 1.0 + dw);
    }
    assert!(potentiated > 3 && depressed > 3, "{delays:?}");
}

#[test]
fn triplet_stdp_with_per_synapse_delays_does_not_depend_on_the_thread_count() {
    let text = triplet_stp_net("").replace(r#"delay = "0.5 ms""#, r#"delay = { uniform = ["0.1 ms", "3 ms"] }"#);
    assert_ne!(text, triplet_stp_net(""), "the input delays are drawn");
    let (one, w_one) = run_weights(&text, 1, 0);
    let spikes = one.spikes[0].steps.len();
    assert!(spikes > 500, "the network must be active: {spikes}");
    let changed = w_one.iter().filter(|&&w| !(1000.0..=4000.0).contains(&w) || w.fract() != 0.0).count();
    assert!(changed > w_one.len() / 2, "most input weights change ({changed} of {})", w_one.len());
    for threads in [2, 3] {
        let (r, w) = run_weights(&text, threads, 0);
        assert!(r.spikes[0].steps == one.spikes[0].steps && r.spikes[0].ids == one.spikes[0].ids, "spikes differ with {threads} threads");
        assert_same_weights(&w, &w_one, &format!("triplet weights, {threads} threads"));
    }
}
