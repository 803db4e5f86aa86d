//! Discrete-time leaky integrate-and-fire neuron, the one engram-train trains (snnTorch's
//! `Leaky`), so that a trained network runs in the simulator step for step.
//!
//! One update per simulator step, dimensionless, with the previous step's spike `s_{t−1}`
//! (`v_{−1} = s_{−1} = 0`):
//!
//! ```text
//! I_t = bias + Σ w                     (the weights of the delta-synapse spikes arriving at t)
//! reset = "subtract":  v_t = β·v_{t−1} + I_t − θ·s_{t−1}
//! reset = "zero":      v_t = (β·v_{t−1} + I_t)·(1 − s_{t−1})
//! s_t = H(v_t − θ)                     (a spike when v_t is strictly above θ)
//! ```
//! The reset of a spike applies on the next step (snnTorch's `reset_delay=True`), which is why
//! `s` is state. `β` ∈ [0, 1], `θ` and `bias` are per neuron (a number, or `{ file = "x.npy" }`
//! with one value per neuron, see `spec::files`) because training learns them per neuron. The
//! step `dt` only sets when things happen, not the dynamics: `β = exp(−dt/τ)` if the layer
//! models a time constant τ. Only delta synapses, with dimensionless weights, drive it.
//!
//! Eshraghian et al. (2023) "Training spiking neural networks using lessons from deep
//! learning", Proc. IEEE 111:1016 (snnTorch); engram-train's `lif` module, same equations.

use serde::Serialize;

use super::StepInput;
use crate::error::Result;
use crate::spec::files::PerNeuron;
use crate::spec::reader::TableReader;
use crate::units::Dim;

/// The membrane potential and the previous step's spike (0 or 1).
pub const VARS: &[&str] = &["v", "s"];

/// How a spike resets the membrane, on the step after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakyReset {
    /// `v ← v − θ` (snnTorch's default).
    Subtract,
    /// `v ← 0`.
    Zero,
}

#[derive(Debug, Clone, Serialize)]
pub struct LeakyParams {
    pub beta: PerNeuron,
    pub threshold: PerNeuron,
    pub bias: PerNeuron,
    pub reset: LeakyReset,
    /// Neurons in the population (the length of the per-neuron values).
    #[serde(skip)]
    pub size: usize,
}

impl LeakyParams {
    /// Reads the parameters of a population of `size` neurons; `beta` is required,
    /// `threshold` defaults to 1, `bias` to 0, `reset` to "subtract".
    pub fn read(r: &TableReader, size: usize) -> Result<Self> {
        let beta = PerNeuron::read(r, "beta", Dim::DIMENSIONLESS, size, None)?;
        if let Some((i, b)) = beta.outside(|b| (0.0..=1.0).contains(&b)) {
            return Err(r.field_error("beta", format!("`beta` must lie in [0, 1], got {b} (neuron {i})")));
        }
        let threshold = PerNeuron::read(r, "threshold", Dim::DIMENSIONLESS, size, Some(1.0))?;
        let bias = PerNeuron::read(r, "bias", Dim::DIMENSIONLESS, size, Some(0.0))?;
        let reset = match r.opt_str("reset")? {
            None | Some(("subtract", _)) => LeakyReset::Subtract,
            Some(("zero", _)) => LeakyReset::Zero,
            Some((other, span)) => {
                return Err(r.error_at("reset", span, format!("unknown reset `{other}` (expected subtract or zero)")));
            }
        };
        Ok(LeakyParams { beta, threshold, bias, reset, size })
    }

    /// The per-neuron constants of the whole population (one update per step, whatever dt).
    pub fn lower(&self) -> LeakyConsts {
        LeakyConsts {
            beta: self.beta.values(self.size),
            threshold: self.threshold.values(self.size),
            bias: self.bias.values(self.size),
            reset: self.reset,
        }
    }

    pub fn initial(&self, var: &str) -> f64 {
        match var {
            "v" | "s" => 0.0,
            _ => unreachable!("leaky has no variable {var}"),
        }
    }
}

/// Per-neuron constants of a block of neurons.
#[derive(Debug, Clone)]
pub struct LeakyConsts {
    beta: Vec<f64>,
    threshold: Vec<f64>,
    bias: Vec<f64>,
    reset: LeakyReset,
}

impl LeakyConsts {
    /// The constants of neurons `start..end`.
    pub fn block(&self, start: usize, end: usize) -> LeakyConsts {
        LeakyConsts {
            beta: self.beta[start..end].to_vec(),
            threshold: self.threshold[start..end].to_vec(),
            bias: self.bias[start..end].to_vec(),
            reset: self.reset,
        }
    }
}

/// Advances neurons `first..first + v.len()` of the block `c` describes by one step; pushes
/// the local indices (from 0 at `first`) of spiking neurons in increasing order.
pub fn step(c: &LeakyConsts, first: usize, vars: &mut [&mut [f64]], input: &StepInput, spikes: &mut Vec<u32>) {
    let [v, s] = vars else { unreachable!("leaky state is [v, s]") };
    let n = v.len();
    let (beta, threshold, bias) = (&c.beta[first..first + n], &c.threshold[first..first + n], &c.bias[first..first + n]);
    for k in 0..n {
        let current = bias[k] + input.v_jump(k);
        let leaked = beta[k] * v[k] + current;
        v[k] = match c.reset {
            LeakyReset::Subtract => leaked - threshold[k] * s[k],
            LeakyReset::Zero => leaked * (1.0 - s[k]),
        };
        let fired = v[k] > threshold[k];
        s[k] = f64::from(u8::from(fired));
        if fired {
            spikes.push(k as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consts(beta: &[f64], threshold: f64, bias: f64, reset: LeakyReset) -> LeakyConsts {
        let n = beta.len();
        LeakyConsts { beta: beta.to_vec(), threshold: vec![threshold; n], bias: vec![bias; n], reset }
    }

    /// Runs `c` on the inputs `jumps[t]` (one value per neuron), returning v and s per step.
    fn run(c: &LeakyConsts, jumps: &[Vec<f64>]) -> (Vec<Vec<f64>>, Vec<Vec<u32>>) {
        let n = jumps[0].len();
        let mut state = vec![vec![0.0; n], vec![0.0; n]];
        let zero = vec![0.0; n];
        let (mut vs, mut spiked) = (Vec::new(), Vec::new());
        for jump in jumps {
            let input = StepInput::new(&zero, &zero, &zero, jump, false, true);
            let mut out = Vec::new();
            step(c, 0, &mut crate::neurons::views(&mut state), &input, &mut out);
            vs.push(state[0].clone());
            spiked.push(out);
        }
        (vs, spiked)
    }

    #[test]
    fn subtract_reset_matches_hand_computed_values() {
        // β = 0.5, θ = 1, bias 0.25, inputs 0.5, 1.0, 0, 0.5:
        // v0 = 0.75; v1 = 0.375 + 1.25 = 1.625 > 1 (spike); v2 = 0.8125 + 0.25 − 1 = 0.0625;
        // v3 = 0.03125 + 0.75 = 0.78125.
        let c = consts(&[0.5], 1.0, 0.25, LeakyReset::Subtract);
        let (v, s) = run(&c, &[vec![0.5], vec![1.0], vec![0.0], vec![0.5]]);
        let v: Vec<f64> = v.iter().map(|v| v[0]).collect();
        assert_eq!(v, [0.75, 1.625, 0.0625, 0.78125]);
        assert_eq!(s, [vec![], vec![0], vec![], vec![]]);
    }

    #[test]
    fn zero_reset_clears_the_step_after_a_spike() {
        // v0 = 1.5 (spike); v1 = (0.75 + 0.5)·0 = 0; v2 = 0.5.
        let c = consts(&[0.5], 1.0, 0.0, LeakyReset::Zero);
        let (v, s) = run(&c, &[vec![1.5], vec![0.5], vec![0.5]]);
        let v: Vec<f64> = v.iter().map(|v| v[0]).collect();
        assert_eq!(v, [1.5, 0.0, 0.5]);
        assert_eq!(s, [vec![0], vec![], vec![]]);
    }

    #[test]
    fn a_potential_equal_to_the_threshold_does_not_spike() {
        let c = consts(&[1.0, 1.0], 1.0, 0.0, LeakyReset::Subtract);
        let (_, s) = run(&c, &[vec![1.0, 1.0 + 1e-12]]);
        assert_eq!(s, [vec![1]]);
    }

    #[test]
    fn a_model_file_with_per_neuron_beta_from_a_file_spikes_at_the_hand_computed_steps() {
        // bias 0.25, one input of weight 0.5 arriving at step 1, θ = 1. Neuron 2 (β = 1):
        // v = 0.25, 1.0 (not above θ), 1.25 (spike at 2), 0.5, 0.75, 1.0, 1.25 (spike at 6).
        // Neurons 0 (β = 0) and 1 (β = 0.5) stay below θ.
        let dir = tempfile::tempdir().unwrap();
        ndarray_npy::write_npy(dir.path().join("beta.npy"), &ndarray::arr1(&[0.0f32, 0.5, 1.0])).unwrap();
        let model = r#"
            [run]
            dt = "1 ms"
            duration = "7 ms"
            [[populations]]
            name = "layer"
            size = 3
            model = "leaky"
            params = { beta = { file = "beta.npy" }, bias = 0.25 }
            [[sources]]
            name = "input"
            kind = "spike_times"
            ids = [0]
            times = ["0 ms"]
            [[projections]]
            pre = "input"
            post = "layer"
            connect = { rule = "all_to_all" }
            synapse = "delta"
            weight = 0.5
            [monitors]
            state = [{ population = "layer", variables = ["v"], neurons = [2] }]
        "#;
        let path = dir.path().join("model.toml");
        std::fs::write(&path, model).unwrap();
        for threads in [1, 2] {
            let mut spec = crate::spec::load(&path).unwrap();
            spec.run.threads = threads;
            let mut net = crate::network::Network::build(spec).unwrap();
            let result = crate::engine::run(&mut net, None);
            let spikes = &result.spikes[0];
            assert_eq!((spikes.steps.as_slice(), spikes.ids.as_slice()), ([2, 6].as_slice(), [2, 2].as_slice()), "{threads} threads");
            // Written as it is (dimensionless), sampled at the start of each step.
            let out = dir.path().join(format!("out{threads}"));
            let summary = crate::output::Summary::new(&path, &net, &result, 0.0);
            crate::output::write_all(&out, &net, &result, &summary).unwrap();
            let file = std::fs::File::open(out.join("state.npz")).unwrap();
            let v: ndarray::Array2<f64> = ndarray_npy::NpzReader::new(file).unwrap().by_name("layer_v").unwrap();
            assert_eq!(v.column(0).to_vec(), [0.0, 0.25, 1.0, 1.25, 0.5, 0.75, 1.0]);
        }
        let current = "[[currents]]\ntarget = \"layer\"\namplitude = \"1 nA\"\n";
        let err = crate::spec::parse(&path, &format!("{model}\n{current}")).unwrap_err().to_string();
        assert!(err.contains("currents[0].target") && err.contains("takes no injected current"), "{err}");
        let stdp = r#"plasticity = { rule = "stdp", tau_plus = "20 ms", tau_minus = "20 ms", a_plus = "0.1 mV", a_minus = "-0.1 mV", w_max = "1 mV" }"#;
        let err = crate::spec::parse(&path, &model.replace("weight = 0.5", &format!("weight = 0.5\n{stdp}"))).unwrap_err().to_string();
        assert!(err.contains("projections[0].plasticity") && err.contains("take no plasticity rule"), "{err}");
    }

    #[test]
    fn per_neuron_constants_follow_the_block_offset() {
        let c = consts(&[0.0, 0.5, 1.0], 10.0, 0.0, LeakyReset::Subtract).block(1, 3);
        let mut state = vec![vec![2.0], vec![0.0]];
        let zero = [0.0];
        let input = StepInput::new(&zero, &zero, &zero, &zero, false, true);
        step(&c, 1, &mut crate::neurons::views(&mut state), &input, &mut Vec::new());
        assert_eq!(state[0], [2.0], "neuron 2 of the population has β = 1");
    }
}
