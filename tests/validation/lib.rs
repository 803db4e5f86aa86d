//! Shared helpers of the validation tests (`single_neuron.rs`, `networks.rs`).
//!
//! The tests build models from TOML text, exactly as a user would write them, run them
//! through the public engine API and compare with analytic results and published
//! reference numbers (`shared/specs/model-specs.md` §9, `shared/anchors/sim-anchors.md` §4).

use std::path::{Path, PathBuf};

use engram::engine::{self, RunResult};
use engram::network::Network;
use engram::spec::{self, NetworkSpec};
use engram::stats::{self, SpikeStats};

/// Parses model text (panics with the loader's message on an error).
pub fn parse(text: &str) -> NetworkSpec {
    spec::parse(Path::new("<validation>"), text).unwrap_or_else(|e| panic!("model does not load: {e}\n{text}"))
}

/// Builds and runs a network.
pub fn run_spec(spec: NetworkSpec) -> RunResult {
    let mut net = Network::build(spec).unwrap_or_else(|e| panic!("network does not build: {e}"));
    engine::run(&mut net, None)
}

/// Path of a file in the workspace's `examples/` directory.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

/// Loads an example model file.
pub fn load_example(name: &str) -> NetworkSpec {
    let path = example(name);
    spec::load(&path).unwrap_or_else(|e| panic!("{} does not load: {e}", path.display()))
}

/// One neuron of `model` with the given `params` (TOML key = value lines), simulated for
/// `duration_ms` at `dt_ms`. `init` holds TOML key = value lines of the `init` table
/// (may be empty); `extra` is appended to the model text (e.g. `[[currents]]` tables).
pub struct SingleNeuron<'a> {
    pub model: &'a str,
    pub params: &'a str,
    pub init: &'a str,
    pub extra: &'a str,
    pub dt_ms: f64,
    pub duration_ms: f64,
    /// Record the state variables (every step, value at the start of each step).
    pub record: &'a [&'a str],
}

/// The outcome of a single-neuron run.
pub struct SingleRun {
    pub dt: f64,
    /// Spike times (ms): the step whose integration crossed threshold, times dt.
    pub spikes: Vec<f64>,
    /// Per recorded variable: the value at the start of every step (t = k dt).
    pub traces: Vec<Vec<f64>>,
}

impl SingleNeuron<'_> {
    pub fn text(&self) -> String {
        let mut t = format!(
            "[run]\ndt = \"{} ms\"\nduration = \"{} ms\"\n\n[[populations]]\nname = \"n\"\nsize = 1\nmodel = \"{}\"\n\n[populations.params]\n{}\n",
            self.dt_ms, self.duration_ms, self.model, self.params
        );
        if !self.init.trim().is_empty() {
            t += &format!("\n[populations.init]\n{}\n", self.init);
        }
        t += "\n";
        t += self.extra;
        t += "\n[monitors]\nspikes = [\"n\"]\n";
        if !self.record.is_empty() {
            let vars: Vec<String> = self.record.iter().map(|v| format!("\"{v}\"")).collect();
            t += &format!(
                "state = [{{ population = \"n\", variables = [{}], neurons = [0], every = \"{} ms\" }}]\n",
                vars.join(", "),
                self.dt_ms
            );
        }
        t
    }

    pub fn run(&self) -> SingleRun {
        let spec = parse(&self.text());
        let dt = spec.run.dt;
        let r = run_spec(spec);
        let spikes = r.spikes[0].steps.iter().map(|&k| k as f64 * dt).collect();
        let traces = r.states.first().map(|s| s.values.clone()).unwrap_or_default();
        SingleRun { dt, spikes, traces }
    }
}

/// Spike times (ms) of one neuron: shorthand for a run without recording.
pub fn spike_times(model: &str, params: &str, init: &str, dt_ms: f64, duration_ms: f64) -> Vec<f64> {
    SingleNeuron { model, params, init, extra: "", dt_ms, duration_ms, record: &[] }.run().spikes
}

/// Per-group spike times (ms) of a network run.
pub fn group_times(r: &RunResult, group: usize, dt: f64) -> Vec<f64> {
    r.spikes[group].steps.iter().map(|&k| k as f64 * dt).collect()
}

/// Statistics of the reference scripts for populations `groups` (pooled: their neuron
/// indices are offset so that they do not collide).
pub fn pooled_stats(r: &RunResult, sizes: &[(usize, usize)], dt: f64, duration_ms: f64) -> SpikeStats {
    let mut events: Vec<(f64, u32)> = Vec::new();
    let mut offset = 0u32;
    let mut n = 0;
    for &(group, size) in sizes {
        let rec = &r.spikes[group];
        events.extend(rec.steps.iter().zip(&rec.ids).map(|(&k, &i)| (k as f64 * dt, i + offset)));
        offset += size as u32;
        n += size;
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let times: Vec<f64> = events.iter().map(|e| e.0).collect();
    let ids: Vec<u32> = events.iter().map(|e| e.1).collect();
    stats::spike_stats(&times, &ids, n, duration_ms)
}

/// Mean and (sample) standard deviation.
pub fn mean_sd(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let var = if x.len() > 1 { x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (m, var.sqrt())
}
