//! Writing a run's results: `spikes.npz`, `state.npz`, `raster.png` and `summary.json`,
//! into a directory that appears complete or not at all (written beside the target under
//! a temporary name, then renamed into place).

mod raster;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use ndarray_npy::NpzWriter;
use serde::Serialize;

use crate::engine::{self, RunResult};
use crate::error::{EngramError, Result};
use crate::network::Network;
use crate::neurons::NeuronParams;
use crate::spec::NetworkSpec;
use crate::stats::{self, SpikeStats};
use crate::units::Dim;

#[derive(Debug, Clone, Serialize)]
pub struct GroupSummary {
    pub name: String,
    pub kind: &'static str,
    /// The kernel that advanced a population (see `engine::kernel`); none for sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<&'static str>,
    #[serde(flatten)]
    pub stats: SpikeStats,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub engram_version: &'static str,
    pub model_file: String,
    pub seed: u64,
    pub threads: usize,
    /// "fused" (fast paths where they apply) or "reference".
    pub kernels: &'static str,
    pub duration_s: f64,
    pub dt_s: f64,
    pub steps: u64,
    pub wall_s: f64,
    /// CPU time of the process (all threads) during the simulation loop.
    pub cpu_s: f64,
    pub setup_s: f64,
    pub synapses: u64,
    pub bytes_per_synapse: f64,
    pub synaptic_events: u64,
    pub events_per_s: f64,
    pub populations: Vec<GroupSummary>,
    pub schedule: Vec<&'static str>,
    pub model: NetworkSpec,
}

impl Summary {
    pub fn new(model_file: &Path, net: &Network, result: &RunResult, setup_s: f64) -> Summary {
        let run = &net.spec.run;
        let duration_ms = result.n_steps as f64 * run.dt;
        let populations = net
            .groups
            .iter()
            .zip(&result.spikes)
            .enumerate()
            .map(|(i, (g, s))| {
                let times: Vec<f64> = s.steps.iter().map(|&k| k as f64 * run.dt).collect();
                GroupSummary {
                    name: g.name.clone(),
                    kind: if g.is_source { "source" } else { "population" },
                    kernel: net.shards.first().and_then(|shard| shard.populations.get(i)).map(|p| engine::kernel(p, net.reference_kernels)),
                    stats: stats::spike_stats(&times, &s.ids, g.size, duration_ms),
                }
            })
            .collect();
        Summary {
            engram_version: crate::VERSION,
            model_file: model_file.display().to_string(),
            seed: run.seed,
            threads: run.threads,
            kernels: if net.reference_kernels { "reference" } else { "fused" },
            duration_s: duration_ms * 1e-3,
            dt_s: run.dt * 1e-3,
            steps: result.n_steps,
            wall_s: result.wall_s,
            cpu_s: result.cpu_s,
            setup_s,
            synapses: net.n_synapses,
            bytes_per_synapse: if net.n_synapses > 0 { net.synapse_bytes as f64 / net.n_synapses as f64 } else { 0.0 },
            synaptic_events: result.synaptic_events,
            events_per_s: if result.wall_s > 0.0 { result.synaptic_events as f64 / result.wall_s } else { 0.0 },
            populations,
            schedule: crate::engine::SCHEDULE.iter().map(|(n, _)| *n).collect(),
            model: net.spec.clone(),
        }
    }

    /// The one-line human summary.
    pub fn one_line(&self) -> String {
        let rates: Vec<String> = self
            .populations
            .iter()
            .filter(|p| p.kind == "population")
            .map(|p| format!("{} {:.2} Hz", p.name, p.stats.rate_hz))
            .collect();
        format!(
            "simulated {:.3} s in {:.3} s wall ({:.3} s setup), {} synapses, {:.3e} events/s; {}",
            self.duration_s,
            self.wall_s,
            self.setup_s,
            self.synapses,
            self.events_per_s,
            rates.join(", ")
        )
    }
}

/// Conversion of a state variable of a `neuron` to SI units for output (none for the
/// dimensionless `leaky` model).
fn si_scale(neuron: &NeuronParams, var: &str) -> f64 {
    match var {
        _ if matches!(neuron, NeuronParams::Leaky(_)) => 1.0,
        "v" | "th" => 1e-3,
        "w" => 1e-9,
        _ => 1.0,
    }
}

fn npz_error(path: &Path, e: impl std::fmt::Display) -> EngramError {
    EngramError::Output { path: path.to_path_buf(), message: e.to_string() }
}

fn write_spikes(path: &Path, net: &Network, result: &RunResult) -> Result<()> {
    let file = File::create(path).map_err(|e| EngramError::io(path, e))?;
    let mut npz = NpzWriter::new(BufWriter::new(file));
    let selected = net.spec.monitors.spikes.as_ref();
    for (g, s) in net.groups.iter().zip(&result.spikes) {
        if selected.is_some_and(|names| !names.contains(&g.name)) {
            continue;
        }
        let times: Array1<f64> = s.steps.iter().map(|&k| k as f64 * net.spec.run.dt * 1e-3).collect();
        let ids: Array1<i64> = s.ids.iter().map(|&i| i as i64).collect();
        npz.add_array(format!("{}_times", g.name), &times).map_err(|e| npz_error(path, e))?;
        npz.add_array(format!("{}_ids", g.name), &ids).map_err(|e| npz_error(path, e))?;
    }
    npz.finish().map_err(|e| npz_error(path, e))?;
    Ok(())
}

fn write_state(path: &Path, net: &Network, result: &RunResult) -> Result<()> {
    let file = File::create(path).map_err(|e| EngramError::io(path, e))?;
    let mut npz = NpzWriter::new(BufWriter::new(file));
    let dt_s = net.spec.run.dt * 1e-3;
    for rec in &result.states {
        let width = rec.neurons.len();
        let samples = rec.sample_steps.len();
        let neuron = &net.spec.populations.iter().find(|p| p.name == rec.population).expect("resolved by the loader").neuron;
        let t: Array1<f64> = rec.sample_steps.iter().map(|&k| k as f64 * dt_s).collect();
        npz.add_array(format!("{}_t", rec.population), &t).map_err(|e| npz_error(path, e))?;
        let ids: Array1<i64> = rec.neurons.iter().map(|&i| i as i64).collect();
        npz.add_array(format!("{}_ids", rec.population), &ids).map_err(|e| npz_error(path, e))?;
        for (var, values) in rec.variables.iter().zip(&rec.values) {
            let scale = si_scale(neuron, var);
            let a = Array2::from_shape_vec((samples, width), values.iter().map(|x| x * scale).collect())
                .map_err(|e| npz_error(path, e))?;
            npz.add_array(format!("{}_{var}", rec.population), &a).map_err(|e| npz_error(path, e))?;
        }
    }
    for rate in &net.spec.monitors.rates {
        let g = net.groups.iter().position(|g| g.name == rate.population).expect("resolved by the loader");
        let bin_steps = ((rate.bin / net.spec.run.dt).round() as u64).max(1);
        let bins = result.n_steps.div_ceil(bin_steps) as usize;
        let mut counts = vec![0u64; bins];
        for &k in &result.spikes[g].steps {
            counts[(k as u64 / bin_steps) as usize] += 1;
        }
        let width_s = bin_steps as f64 * dt_s;
        let hz: Array1<f64> = counts.iter().map(|&c| c as f64 / (net.groups[g].size as f64 * width_s)).collect();
        let t: Array1<f64> = (0..bins).map(|b| b as f64 * width_s).collect();
        npz.add_array(format!("rate_{}", rate.population), &hz).map_err(|e| npz_error(path, e))?;
        npz.add_array(format!("rate_{}_t", rate.population), &t).map_err(|e| npz_error(path, e))?;
    }
    for (index, proj) in net.spec.projections.iter().enumerate() {
        let Some(synapses) = net.plastic_weights(index) else { continue };
        let scale = weight_si_scale(proj.synapse.weight_dim());
        let pre: Array1<i64> = synapses.iter().map(|s| s.0 as i64).collect();
        let post: Array1<i64> = synapses.iter().map(|s| s.1 as i64).collect();
        let w: Array1<f64> = synapses.iter().map(|s| s.2 * scale).collect();
        npz.add_array(format!("weights_{}_pre", proj.name), &pre).map_err(|e| npz_error(path, e))?;
        npz.add_array(format!("weights_{}_post", proj.name), &post).map_err(|e| npz_error(path, e))?;
        npz.add_array(format!("weights_{}", proj.name), &w).map_err(|e| npz_error(path, e))?;
    }
    npz.finish().map_err(|e| npz_error(path, e))?;
    Ok(())
}

/// Conversion of a weight to SI units (S, A or V).
fn weight_si_scale(dim: Dim) -> f64 {
    if dim == Dim::CONDUCTANCE {
        1e-6
    } else if dim == Dim::CURRENT {
        1e-9
    } else {
        1e-3
    }
}

/// Writes all outputs into `dir`, replacing an earlier run there only once everything is
/// written.
pub fn write_all(dir: &Path, net: &Network, result: &RunResult, summary: &Summary) -> Result<()> {
    write_dir_atomically(dir, |staging| {
        write_spikes(&staging.join("spikes.npz"), net, result)?;
        write_state(&staging.join("state.npz"), net, result)?;
        raster::draw(&staging.join("raster.png"), net, result)?;
        write_json(&staging.join("summary.json"), summary)
    })
}

/// Writes `value` as pretty JSON.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let json = serde_json::to_string_pretty(value).map_err(|e| npz_error(path, e))?;
    std::fs::write(path, json + "\n").map_err(|e| EngramError::io(path, e))
}

/// Creates the output directory `dir` whole or not at all: `write` fills a staging
/// directory beside it, which then replaces `dir` (an earlier `dir` is kept if `write`
/// fails).
pub fn write_dir_atomically(dir: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| EngramError::io(parent, e))?;
    let name = dir.file_name().ok_or_else(|| npz_error(dir, "output path has no directory name"))?;
    let staging = parent.join(format!(".{}.partial-{}", name.to_string_lossy(), std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| EngramError::io(&staging, e))?;
    }
    std::fs::create_dir(&staging).map_err(|e| EngramError::io(&staging, e))?;
    if let Err(e) = write(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    replace_dir(&staging, dir)
}

fn replace_dir(staging: &Path, dir: &Path) -> Result<()> {
    if dir.exists() {
        let old: PathBuf = staging.with_extension("old");
        std::fs::rename(dir, &old).map_err(|e| EngramError::io(dir, e))?;
        std::fs::rename(staging, dir).map_err(|e| EngramError::io(dir, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| EngramError::io(&old, e))?;
    } else {
        std::fs::rename(staging, dir).map_err(|e| EngramError::io(dir, e))?;
    }
    Ok(())
}
