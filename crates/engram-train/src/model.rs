//! A spiking network: a stack of dense projections, each into a layer of LIF, adaptive LIF or
//! recurrent LIF neurons, run for `T` steps ([`crate::lif`], [`crate::alif`], [`crate::rlif`] for
//! the neurons, [`crate::event_linear`] for spike inputs).
//!
//! ```text
//! I^k_t = x^{k−1}_t · W^k + b^k      (W^k is [inputs, size], row = presynaptic)
//! x^k   = LIF(I^k; β^k, θ^k)          (x^0 = the encoded input)
//! ```
//!
//! A projection whose input is spikes (a spike encoder, or any hidden layer) is computed from
//! the active inputs only. A constant current input (the direct encoder) is projected once and
//! shared by all steps, as snnTorch users hoist `fc1(x)` out of the time loop. Weights and biases
//! start as PyTorch's `nn.Linear`: uniform in `±1/√inputs`, so an snnTorch network of the same
//! shape starts from the same distribution.
//!
//! Parameters are named `layers.<k>.{weight, bias, beta, threshold}`, plus `rho`, `kappa` (ALIF,
//! fixed) or `w_rec` (RLIF, trained, initialised like the projection with fan-in `N`); `β` and `θ` are trained only
//! where the layer config says so, and `β` is clamped to `[0, 1]` in the forward pass.

use candle_core::{DType, Device, Result, Tensor, Var, bail};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::alif::alif;
use crate::config::{LayerConfig, ModelConfig, Neuron};
use crate::encode::stream_seed;
use crate::event_linear::event_linear;
use crate::lif::{LifOutput, LifRule, StackLayer, lif, lif_dense, lif_stack};
use crate::rlif::rlif;

/// The network's input for one batch.
pub enum Input {
    /// Spikes (or any sparse events) at every step, `[T, B, F]`.
    Spikes(Tensor),
    /// The same current at every step, `[B, F]`.
    Constant(Tensor),
}

/// One projection and the LIF layer it drives.
pub struct SpikingLayer {
    pub weight: Var,
    pub bias: Var,
    pub beta: Var,
    pub threshold: Var,
    pub rule: LifRule,
    dynamics: Dynamics,
    learn_beta: bool,
    learn_threshold: bool,
}

/// What a layer's neurons add to LIF, with the parameters that brings.
enum Dynamics {
    Lif,
    /// Threshold adaptation ([`crate::alif`]): decay `ρ` and strength `κ`, both `[N]`, fixed.
    Adaptive {
        rho: Var,
        kappa: Var,
    },
    /// All-to-all recurrence ([`crate::rlif`]): weights `[N, N]`, row = presynaptic, trained.
    Recurrent {
        w_rec: Var,
    },
}

/// The network and its step count.
pub struct SpikingNet {
    pub steps: usize,
    pub layers: Vec<SpikingLayer>,
}

/// ALIF defaults: adaptation decaying with τ_a ≈ 50 steps, each spike raising θ by 0.1.
const DEFAULT_RHO: f64 = 0.98;
const DEFAULT_KAPPA: f64 = 0.1;

/// The stream of the base seed that draws initial weights.
const INIT_STREAM: u64 = 0x1417;

impl SpikingNet {
    /// A freshly initialised network for `inputs` features; its last layer reads out membrane
    /// potential when `output_membrane`, else spikes.
    pub fn new(
        config: &ModelConfig,
        inputs: usize,
        output_membrane: bool,
        seed: u64,
    ) -> Result<Self> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(stream_seed(seed, INIT_STREAM));
        let mut fan_in = inputs;
        let mut layers = Vec::with_capacity(config.layers.len());
        for (k, layer) in config.layers.iter().enumerate() {
            let last = k + 1 == config.layers.len();
            let output = if last && output_membrane {
                LifOutput::Membrane
            } else {
                LifOutput::Spikes
            };
            layers.push(SpikingLayer::new(layer, fan_in, output, &mut rng)?);
            fan_in = layer.size;
        }
        Ok(SpikingNet {
            steps: config.steps,
            layers,
        })
    }

    /// Every parameter with its name, trained or not (what a checkpoint stores).
    pub fn named_parameters(&self) -> Vec<(String, Var)> {
        self.parameters()
            .map(|(name, var, _)| (name, var))
            .collect()
    }

    /// The parameters the optimizer updates.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.parameters()
            .filter(|(_, _, trained)| *trained)
            .map(|(name, var, _)| (name, var))
            .collect()
    }

    /// `(name, parameter, whether it is trained)` for every parameter, layer by layer.
    fn parameters(&self) -> impl Iterator<Item = (String, Var, bool)> + '_ {
        self.layers.iter().enumerate().flat_map(|(k, layer)| {
            let mut own = vec![
                ("weight", &layer.weight, true),
                ("bias", &layer.bias, true),
                ("beta", &layer.beta, layer.learn_beta),
                ("threshold", &layer.threshold, layer.learn_threshold),
            ];
            match &layer.dynamics {
                Dynamics::Lif => {}
                Dynamics::Adaptive { rho, kappa } => {
                    own.extend([("rho", rho, false), ("kappa", kappa, false)])
                }
                Dynamics::Recurrent { w_rec } => own.push(("w_rec", w_rec, true)),
            }
            own.into_iter().map(move |(name, var, trained)| {
                (format!("layers.{k}.{name}"), var.clone(), trained)
            })
        })
    }

    /// The last layer's output `[T, B, C]` for one batch. A stack of LIF layers fed spikes runs
    /// as one fused op ([`lif_stack`]), which keeps the hidden spikes out of candle's graph.
    pub fn forward(&self, input: &Input) -> Result<Tensor> {
        if let Input::Spikes(x) = input
            && self.layers.iter().all(SpikingLayer::is_lif)
        {
            let betas_and_thresholds = self
                .layers
                .iter()
                .map(SpikingLayer::beta_and_threshold)
                .collect::<Result<Vec<_>>>()?;
            let stack: Vec<StackLayer> = self
                .layers
                .iter()
                .zip(&betas_and_thresholds)
                .map(|(layer, (beta, threshold))| StackLayer {
                    weight: layer.weight.as_tensor(),
                    bias: layer.bias.as_tensor(),
                    beta,
                    threshold,
                    rule: layer.rule,
                })
                .collect();
            return lif_stack(x, &stack);
        }
        let mut outputs = self.forward_layers(input)?;
        Ok(outputs.pop().expect("a network has at least one layer"))
    }

    /// Every layer's output `[T, B, N_k]` for one batch, first layer first.
    pub fn forward_layers(&self, input: &Input) -> Result<Vec<Tensor>> {
        let first = match input {
            Input::Spikes(x) => self.layers[0].drive_with_spikes(x)?,
            Input::Constant(x) => {
                let layer = &self.layers[0];
                let once = x
                    .matmul(layer.weight.as_tensor())?
                    .broadcast_add(layer.bias.as_tensor())?;
                let (batch, size) = once.dims2()?;
                layer.neurons(&once.unsqueeze(0)?.broadcast_as((self.steps, batch, size))?)?
            }
        };
        let mut outputs = vec![first];
        for layer in &self.layers[1..] {
            let previous = outputs.last().expect("starts with the first layer");
            outputs.push(layer.drive_with_spikes(previous)?);
        }
        Ok(outputs)
    }

    /// Replaces every parameter's value with the tensor of the same name from `values`.
    pub fn load(&self, values: &std::collections::HashMap<String, Tensor>) -> Result<()> {
        for (name, var) in self.named_parameters() {
            let Some(value) = values.get(&name) else {
                bail!("the checkpoint has no parameter {name}")
            };
            if value.dims() != var.dims() {
                bail!(
                    "parameter {name} is {:?} in the checkpoint but {:?} in the config",
                    value.dims(),
                    var.dims()
                )
            }
            var.set(&value.to_dtype(DType::F32)?)?;
        }
        Ok(())
    }
}

impl SpikingLayer {
    fn new(
        config: &LayerConfig,
        fan_in: usize,
        output: LifOutput,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<Self> {
        let bound = 1.0 / (fan_in as f64).sqrt();
        let mut uniform = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| rng.random_range(-bound..bound) as f32)
                .collect()
        };
        let device = &Device::Cpu;
        let weight =
            Tensor::from_vec(uniform(fan_in * config.size), (fan_in, config.size), device)?;
        let bias = Tensor::from_vec(uniform(config.size), config.size, device)?;
        let full = |value: f64| {
            Tensor::full(value as f32, config.size, device).and_then(|t| Var::from_tensor(&t))
        };
        let dynamics = match config.neuron {
            Neuron::Lif => Dynamics::Lif,
            Neuron::Alif => Dynamics::Adaptive {
                rho: full(config.rho.unwrap_or(DEFAULT_RHO))?,
                kappa: full(config.kappa.unwrap_or(DEFAULT_KAPPA))?,
            },
            Neuron::Rlif => {
                let recurrent_bound = 1.0 / (config.size as f64).sqrt();
                let w: Vec<f32> = (0..config.size * config.size)
                    .map(|_| rng.random_range(-recurrent_bound..recurrent_bound) as f32)
                    .collect();
                Dynamics::Recurrent {
                    w_rec: Var::from_tensor(&Tensor::from_vec(
                        w,
                        (config.size, config.size),
                        device,
                    )?)?,
                }
            }
        };
        Ok(SpikingLayer {
            dynamics,
            weight: Var::from_tensor(&weight)?,
            bias: Var::from_tensor(&bias)?,
            beta: Var::from_tensor(&Tensor::full(config.beta as f32, config.size, device)?)?,
            threshold: Var::from_tensor(&Tensor::full(
                config.threshold as f32,
                config.size,
                device,
            )?)?,
            rule: LifRule {
                reset: config.reset,
                detach_reset: config.detach_reset,
                surrogate: config.surrogate,
                output,
            },
            learn_beta: config.learn_beta,
            learn_threshold: config.learn_threshold,
        })
    }

    /// The layer's output for spikes (or other sparse events) `[T, B, F]`: a LIF layer in one
    /// fused op ([`lif_dense`]), the others through [`event_linear`] and their neurons.
    fn drive_with_spikes(&self, spikes: &Tensor) -> Result<Tensor> {
        if let Dynamics::Lif = self.dynamics {
            let (beta, threshold) = self.beta_and_threshold()?;
            let (weight, bias) = (self.weight.as_tensor(), self.bias.as_tensor());
            return lif_dense(spikes, weight, bias, &beta, &threshold, self.rule);
        }
        self.neurons(&event_linear(
            spikes,
            self.weight.as_tensor(),
            self.bias.as_tensor(),
        )?)
    }

    /// Whether the layer is plain LIF (no adaptation, no recurrence).
    pub fn is_lif(&self) -> bool {
        matches!(self.dynamics, Dynamics::Lif)
    }

    /// `β` (clamped to [0, 1]) and `θ`, detached where the layer does not learn them.
    pub fn beta_and_threshold(&self) -> Result<(Tensor, Tensor)> {
        let beta = if self.learn_beta {
            self.beta.as_tensor().clamp(0f32, 1f32)?
        } else {
            self.beta.as_tensor().detach()
        };
        let threshold = if self.learn_threshold {
            self.threshold.as_tensor().clone()
        } else {
            self.threshold.as_tensor().detach()
        };
        Ok((beta, threshold))
    }

    /// The layer's output for the current `[T, B, N]`.
    fn neurons(&self, current: &Tensor) -> Result<Tensor> {
        let (beta, threshold) = self.beta_and_threshold()?;
        match &self.dynamics {
            Dynamics::Lif => lif(current, &beta, &threshold, self.rule),
            Dynamics::Adaptive { rho, kappa } => alif(
                current,
                &beta,
                &threshold,
                &rho.as_tensor().detach(),
                &kappa.as_tensor().detach(),
                self.rule,
            ),
            Dynamics::Recurrent { w_rec } => {
                rlif(current, w_rec.as_tensor(), &beta, &threshold, self.rule)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LayerConfig;

    fn config(sizes: &[usize]) -> ModelConfig {
        let layer = |size| LayerConfig {
            size,
            neuron: Neuron::Lif,
            rho: None,
            kappa: None,
            beta: 0.9,
            threshold: 1.0,
            reset: Default::default(),
            detach_reset: true,
            surrogate: Default::default(),
            learn_beta: false,
            learn_threshold: true,
        };
        ModelConfig {
            steps: 6,
            layers: sizes.iter().map(|&s| layer(s)).collect(),
        }
    }

    #[test]
    fn initial_weights_follow_the_seed_and_pytorch_bounds() -> Result<()> {
        let a = SpikingNet::new(&config(&[20, 3]), 16, false, 7)?;
        let b = SpikingNet::new(&config(&[20, 3]), 16, false, 7)?;
        let c = SpikingNet::new(&config(&[20, 3]), 16, false, 8)?;
        let w = |n: &SpikingNet| {
            n.layers[0]
                .weight
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
        };
        assert_eq!(w(&a)?, w(&b)?);
        assert_ne!(w(&a)?, w(&c)?);
        assert!(w(&a)?.iter().all(|x| x.abs() <= 0.25));
        let names: Vec<String> = a.trainable().into_iter().map(|(n, _)| n).collect();
        assert!(
            names.contains(&"layers.1.threshold".to_string())
                && !names.contains(&"layers.1.beta".to_string()),
            "{names:?}"
        );
        Ok(())
    }

    #[test]
    fn a_constant_input_equals_the_same_current_as_spikes_at_every_step() -> Result<()> {
        let net = SpikingNet::new(&config(&[12, 4]), 5, false, 1)?;
        let x = Tensor::new(
            &[[0.0f32, 1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0, 1.0]],
            &Device::Cpu,
        )?;
        let hoisted = net.forward(&Input::Constant(x.clone()))?;
        let repeated = net.forward(&Input::Spikes(
            x.unsqueeze(0)?.broadcast_as((6, 2, 5))?.contiguous()?,
        ))?;
        assert_eq!(hoisted.dims(), [6, 2, 4]);
        assert_eq!(
            hoisted.flatten_all()?.to_vec1::<f32>()?,
            repeated.flatten_all()?.to_vec1::<f32>()?
        );
        Ok(())
    }
}
