//! A stack of LIF layers, each fed by the previous one's spikes through a dense projection, as
//! one candle op: `(x [T,B,I], W¹ [I,N¹], rest) → output of the last layer [T,B,N^L]`.
//!
//! ```text
//! x⁰ = x,   I^k = x^{k−1} · W^k + b^k,   x^k = LIF(I^k; β^k, θ^k)      k = 1 … L
//! backward, from g^L = ∂L/∂x^L:
//!   ∂L/∂I^k = LIF backward (super::kernel),   ∂L/∂W^k, ∂L/∂b^k from the runs of x^{k−1}
//!   g^{k−1} = ∂L/∂I^k · (W^k)ᵀ                (a dense product, k > 1, or for x if tracked)
//! ```
//!
//! The same function as [`super::lif_dense`] applied layer after layer, which the tests check it
//! against. Fusing the stack keeps the hidden layers' spikes out of candle's graph: candle's
//! backward gives every node's gradient a zeroed buffer and adds into it, which for a hidden
//! layer of an MNIST network is a `[T, B, N]` buffer zeroed, added to and computed by a
//! candle matmul on every step (about a seventh of a training step). Here `g^{k−1}` is written
//! once by a `gemm` call and consumed directly by layer `k − 1`'s backward; above a layer of a
//! few neurons (an MNIST readout) it is not stored at all: layer `k − 1`'s backward sums the
//! few products of each row where it uses it ([`kernel::OutputGrad::Through`]).
//!
//! A candle custom op takes three tensors, so everything but `x` and the first (largest)
//! weight matrix travels flattened in `rest`: per layer `[b; β; θ]` (`3N`), preceded for
//! `k > 1` by `W^k` (row-major `[N^{k−1}, N^k]`). The op keeps each layer's input runs and
//! current from its forward pass for its backward pass.

use std::mem::MaybeUninit;
use std::ops::Range;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};
use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::LifRule;
use super::dense::split;
use super::kernel::{self, Dims, OutputGrad, Params};
use crate::cpu::{
    DisjointWriter, ForBackward, Real, filled, same_dtype, storage_slice, with_slice,
};
use crate::event_linear::{self, Events};

/// One layer of a [`lif_stack`]: its projection `weight` `[inputs, N]`, per-neuron `bias`,
/// `beta`, `threshold` `[N]`, and its rule.
pub struct StackLayer<'a> {
    pub weight: &'a Tensor,
    pub bias: &'a Tensor,
    pub beta: &'a Tensor,
    pub threshold: &'a Tensor,
    pub rule: LifRule,
}

/// The last layer's output for spikes `x` `[T, B, I]` through `layers`, first layer first.
/// Gradients reach every weight, bias, `β` and `θ`, and `x` when it is itself the output of a
/// differentiable op.
pub fn lif_stack(x: &Tensor, layers: &[StackLayer]) -> Result<Tensor> {
    let Some(first) = layers.first() else {
        bail!("lif_stack: a stack needs at least one layer")
    };
    let mut feeds = x.dims3()?.2;
    let mut parts = Vec::with_capacity(2 * layers.len());
    let mut shapes = Vec::with_capacity(layers.len());
    for (k, layer) in layers.iter().enumerate() {
        let (inputs, neurons) = layer.weight.dims2()?;
        if inputs != feeds {
            bail!(
                "lif_stack: layer {k} takes {inputs} inputs but is fed {feeds} (input {:?}, first weight {:?})",
                x.shape(),
                first.weight.shape()
            )
        }
        for (name, p) in [
            ("bias", layer.bias),
            ("beta", layer.beta),
            ("threshold", layer.threshold),
        ] {
            if p.dims() != [neurons] {
                bail!(
                    "lif_stack: layer {k}'s {name} is {:?}, expected [{neurons}]",
                    p.shape()
                )
            }
        }
        if k > 0 {
            parts.push(layer.weight.flatten_all()?);
        }
        parts.push(Tensor::cat(&[layer.bias, layer.beta, layer.threshold], 0)?);
        shapes.push(Shaped {
            inputs,
            neurons,
            rule: layer.rule,
        });
        feeds = neurons;
    }
    let op = LifStack {
        layers: shapes,
        kept: ForBackward::default(),
    };
    x.contiguous()?
        .apply_op3(&first.weight.contiguous()?, &Tensor::cat(&parts, 0)?, op)
}

/// A layer's extents and rule.
#[derive(Clone, Copy)]
struct Shaped {
    inputs: usize,
    neurons: usize,
    rule: LifRule,
}

struct LifStack {
    layers: Vec<Shaped>,
    /// The forward pass's [`Kept`], taken by the backward pass.
    kept: ForBackward,
}

/// Per layer, the runs of its input and its current `[T, B, N]`.
struct Kept<F> {
    layers: Vec<(Events<F>, Vec<F>)>,
}

/// Where layer `k`'s weights (none for the first layer) and `[b; β; θ]` lie in `rest`.
struct Place {
    weight: Option<Range<usize>>,
    params: Range<usize>,
}

impl LifStack {
    fn places(&self) -> Vec<Place> {
        let mut at = 0;
        let mut take = |len: usize| {
            at += len;
            at - len..at
        };
        self.layers
            .iter()
            .enumerate()
            .map(|(k, layer)| Place {
                weight: (k > 0).then(|| take(layer.inputs * layer.neurons)),
                params: take(3 * layer.neurons),
            })
            .collect()
    }

    fn rest_len(&self) -> usize {
        self.places().last().map_or(0, |p| p.params.end)
    }

    /// Layer `k`'s weights, bias and `(β, θ)`.
    fn layer<'a, F>(
        &self,
        place: &Place,
        first_weight: &'a [F],
        rest: &'a [F],
    ) -> (&'a [F], &'a [F], Params<'a, F>) {
        let weight = place.weight.clone().map_or(first_weight, |r| &rest[r]);
        let (bias, p) = split(&rest[place.params.clone()]);
        (weight, bias, p)
    }

    /// Every layer's input runs and current, and the last layer's output.
    fn run_forward<F: Real>(
        &self,
        x: &[F],
        first_weight: &[F],
        rest: &[F],
        (steps, batch): (usize, usize),
    ) -> (Kept<F>, Vec<F>) {
        let mut layers = Vec::with_capacity(self.layers.len());
        let mut output: Option<Vec<F>> = None;
        for (layer, place) in self.layers.iter().zip(self.places()) {
            let (weight, bias, p) = self.layer(&place, first_weight, rest);
            let input = output.as_deref().unwrap_or(x);
            let events = Events::gather(input, steps, layer.inputs, layer.neurons);
            let dims = Dims {
                steps,
                batch,
                neurons: layer.neurons,
            };
            let current = event_linear::forward(&events, weight, bias);
            output = Some(kernel::forward(&layer.rule, dims, &current, p));
            layers.push((events, current));
        }
        (
            Kept { layers },
            output.expect("a stack has at least one layer"),
        )
    }

    fn forward_typed<F: Real>(
        &self,
        inputs: [(&CpuStorage, &Layout); 3],
    ) -> Result<(CpuStorage, Shape)> {
        let [(s1, l1), (s2, l2), (s3, l3)] = inputs;
        let (steps, batch, _) = l1.shape().dims3()?;
        let x = storage_slice::<F>(s1, l1, "lif_stack input")?;
        let first_weight = storage_slice(s2, l2, "lif_stack first weight")?;
        let rest = storage_slice(s3, l3, "lif_stack parameters")?;
        if rest.len() != self.rest_len() {
            bail!(
                "lif_stack: {} parameters, expected {}",
                rest.len(),
                self.rest_len()
            )
        }
        let (kept, out) = self.run_forward(x, first_weight, rest, (steps, batch));
        self.kept.keep(kept);
        let neurons = self.layers.last().expect("checked").neurons;
        Ok((
            F::to_cpu_storage_owned(out),
            Shape::from((steps, batch, neurons)),
        ))
    }

    /// `(∂L/∂x if wanted, ∂L/∂W¹, ∂L/∂rest)`.
    fn backward_typed<F: Real>(
        &self,
        x: &Tensor,
        first_weight: &Tensor,
        rest: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
        let (steps, batch, width) = x.dims3()?;
        let want_x = x.track_op();
        let (d_x, d_first, d_rest) = with_slice::<F, _>(x, "lif_stack input", |x| {
            with_slice(first_weight, "lif_stack first weight", |first_weight| {
                with_slice(rest, "lif_stack parameters", |rest| {
                    with_slice(grad, "lif_stack output gradient", |g| {
                        let kept = self.kept.take().unwrap_or_else(|| {
                            self.run_forward(x, first_weight, rest, (steps, batch)).0
                        });
                        Ok(self.backward_layers(
                            kept,
                            first_weight,
                            rest,
                            g,
                            (steps, batch),
                            want_x,
                        ))
                    })
                })
            })
        })?;
        let device = x.device();
        let first = self.layers.first().expect("checked");
        Ok((
            d_x.map(|d| Tensor::from_vec(d, (steps, batch, width), device))
                .transpose()?,
            Tensor::from_vec(d_first, (first.inputs, first.neurons), device)?,
            Tensor::from_vec(d_rest, rest.dims1()?, device)?,
        ))
    }

    /// Backpropagation from the last layer to the first.
    fn backward_layers<F: Real>(
        &self,
        kept: Kept<F>,
        first_weight: &[F],
        rest: &[F],
        grad: &[F],
        (steps, batch): (usize, usize),
        want_x: bool,
    ) -> (Option<Vec<F>>, Vec<F>, Vec<F>) {
        let places = self.places();
        let mut d_rest = vec![F::zero(); rest.len()];
        let mut d_first = Vec::new();
        let mut from_above = FromAbove::Given(grad.to_vec());
        let mut d_x = None;
        for (k, (events, current)) in kept.layers.iter().enumerate().rev() {
            let (layer, place) = (&self.layers[k], &places[k]);
            let (weight, _, p) = self.layer(place, first_weight, rest);
            let dims = Dims {
                steps,
                batch,
                neurons: layer.neurons,
            };
            let lif = kernel::backward(&layer.rule, dims, current, p, from_above.as_output_grad());
            let (d_weight, d_bias) =
                event_linear::weight_grads(events, layer.inputs, &lif.current, layer.neurons);
            let n = layer.neurons;
            let params = &mut d_rest[place.params.clone()];
            params[..n].copy_from_slice(&d_bias);
            params[n..2 * n].copy_from_slice(&lif.beta);
            params[2 * n..].copy_from_slice(&lif.threshold);
            match &place.weight {
                Some(range) => d_rest[range.clone()].copy_from_slice(&d_weight),
                None => d_first = d_weight,
            }
            if k > 0 && n <= NARROW {
                from_above = FromAbove::Through {
                    d_above: lif.current,
                    weight_t: transpose(weight, layer.inputs, n),
                };
            } else if k > 0 || want_x {
                let input_grad = input_gradient(&lif.current, weight, layer.inputs, n);
                if k > 0 {
                    from_above = FromAbove::Given(input_grad);
                } else {
                    d_x = Some(input_grad);
                }
            }
        }
        (d_x, d_first, d_rest)
    }
}

/// Layers of at most this many neurons pass their current gradient down as it is
/// ([`FromAbove::Through`]): the layer below sums the few products per row where it uses them,
/// instead of this layer writing and that layer reading a `[T, B, I]` product.
const NARROW: usize = 32;

/// What a layer's backward pass receives from the layer above (or the loss).
enum FromAbove<F> {
    /// `∂L/∂output`, `[T, B, N]`.
    Given(Vec<F>),
    /// The current gradient of the layer above `[T, B, M]` and its weights transposed `[M, N]`.
    Through { d_above: Vec<F>, weight_t: Vec<F> },
}

impl<F> FromAbove<F> {
    fn as_output_grad(&self) -> OutputGrad<'_, F> {
        match self {
            FromAbove::Given(g) => OutputGrad::Given(g),
            FromAbove::Through { d_above, weight_t } => OutputGrad::Through { d_above, weight_t },
        }
    }
}

/// `Wᵀ` `[N, I]` of `W` `[I, N]`.
fn transpose<F: Copy>(weight: &[F], inputs: usize, neurons: usize) -> Vec<F> {
    (0..neurons)
        .flat_map(|j| (0..inputs).map(move |i| weight[i * neurons + j]))
        .collect()
}

/// Rows of the input gradient per task: each task's rows are one `gemm` call, so every
/// element is summed in the same order whatever the thread count.
const ROWS_PER_TASK: usize = 256;

/// `∂L/∂I · Wᵀ`: `[R, N] · [N, I] → [R, I]` with `W` `[I, N]` row-major.
fn input_gradient<F: Real>(d_current: &[F], weight: &[F], inputs: usize, neurons: usize) -> Vec<F> {
    let rows = d_current.len() / neurons.max(1);
    if inputs == 0 || neurons == 0 {
        return vec![F::zero(); rows * inputs];
    }
    assert!(d_current.len() == rows * neurons && weight.len() == inputs * neurons);
    let fill = |out: &mut [MaybeUninit<F>]| {
        let writer = DisjointWriter::new(out);
        d_current
            .par_chunks(ROWS_PER_TASK * neurons)
            .enumerate()
            .for_each(|(task, d_current)| {
                let m = d_current.len() / neurons;
                // SAFETY: this task's rows belong to it alone.
                let out = unsafe { writer.run(task * ROWS_PER_TASK * inputs, m * inputs) };
                // SAFETY: out is [m, I] and d_current [m, N] row-major (column stride 1); Wᵀ is
                // read as [N, I] with element (j, i) at W[i·N + j] (row stride 1, column
                // stride N); all in bounds (asserted above); out does not alias the inputs,
                // and gemm writes it without reading it (read_dst false).
                unsafe {
                    gemm(
                        m,
                        inputs,
                        neurons,
                        out.as_mut_ptr().cast::<F>(),
                        1,
                        inputs as isize,
                        false,
                        d_current.as_ptr(),
                        1,
                        neurons as isize,
                        weight.as_ptr(),
                        neurons as isize,
                        1,
                        F::zero(),
                        F::one(),
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
            })
    };
    // SAFETY: the tasks' rows cover all `rows`, and gemm writes every element of each.
    unsafe { filled(rows * inputs, fill) }
}

impl CustomOp3 for LifStack {
    fn name(&self) -> &'static str {
        "engram-lif-stack"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        same_dtype("lif_stack", "input, weight and parameters", [s1, s2, s3])?;
        let inputs = [(s1, l1), (s2, l2), (s3, l3)];
        match s1.dtype() {
            DType::F32 => self.forward_typed::<f32>(inputs),
            DType::F64 => self.forward_typed::<f64>(inputs),
            other => bail!("lif_stack: the input must be f32 or f64, got {other:?}"),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        first_weight: &Tensor,
        rest: &Tensor,
        _output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (d_x, d_first, d_rest) = match x.dtype() {
            DType::F32 => self.backward_typed::<f32>(x, first_weight, rest, &grad)?,
            DType::F64 => self.backward_typed::<f64>(x, first_weight, rest, &grad)?,
            other => bail!("lif_stack: the input must be f32 or f64, got {other:?}"),
        };
        Ok((d_x, Some(d_first), Some(d_rest)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::layer_tests::{all_rules, relative_error, uniform};
    use crate::lif::{LifOutput, lif_dense};

    /// A stack of `sizes` (inputs first) with random parameters, as variables.
    fn parameters(sizes: &[usize], dtype: DType) -> Result<Vec<[Var; 4]>> {
        sizes
            .windows(2)
            .enumerate()
            .map(|(k, pair)| {
                let seed = 10 * k as u64;
                let (inputs, neurons) = (pair[0], pair[1]);
                Ok([
                    Var::from_tensor(&uniform(&[inputs, neurons], -0.3, 0.6, seed, dtype)?)?,
                    Var::from_tensor(&uniform(&[neurons], -0.1, 0.2, seed + 1, dtype)?)?,
                    Var::from_tensor(&uniform(&[neurons], 0.7, 0.95, seed + 2, dtype)?)?,
                    Var::from_tensor(&uniform(&[neurons], 0.8, 1.2, seed + 3, dtype)?)?,
                ])
            })
            .collect()
    }

    /// The output and the gradients of `Σ output·R` for every parameter (and `x` if tracked).
    fn run(
        stacked: bool,
        x: &Tensor,
        params: &[[Var; 4]],
        rules: &[LifRule],
        r: &Tensor,
    ) -> Result<Vec<Tensor>> {
        let out = if stacked {
            let layers: Vec<StackLayer> = params
                .iter()
                .zip(rules)
                .map(|([w, b, beta, th], &rule)| StackLayer {
                    weight: w.as_tensor(),
                    bias: b.as_tensor(),
                    beta: beta.as_tensor(),
                    threshold: th.as_tensor(),
                    rule,
                })
                .collect();
            lif_stack(x, &layers)?
        } else {
            let mut out = x.clone();
            for ([w, b, beta, th], &rule) in params.iter().zip(rules) {
                out = lif_dense(&out, w, b, beta, th, rule)?;
            }
            out
        };
        let grads = out.mul(r)?.sum_all()?.backward()?;
        let mut all = vec![out];
        if let Some(g) = grads.get(x) {
            all.push(g.clone());
        }
        for var in params.iter().flatten() {
            all.push(
                grads
                    .get(var)
                    .expect("every parameter has a gradient")
                    .clone(),
            );
        }
        Ok(all)
    }

    #[test]
    fn equals_lif_dense_layer_after_layer() -> Result<()> {
        let (steps, batch) = (9, 4);
        for (dtype, tolerance) in [(DType::F32, 2e-5), (DType::F64, 1e-12)] {
            for sizes in [&[30, 70, 6][..], &[20, 80, 40, 5][..]] {
                let spikes = uniform(&[steps, batch, sizes[0]], 0.0, 1.0, 7, dtype)?
                    .ge(0.6)?
                    .to_dtype(dtype)?;
                let params = parameters(sizes, dtype)?;
                let outputs = *sizes.last().expect("non-empty");
                let r = uniform(&[steps, batch, outputs], -1.0, 1.0, 8, dtype)?;
                for (k, rule) in all_rules().into_iter().enumerate() {
                    // Hidden layers emit spikes; the last takes the rule under test. Alternate
                    // data inputs (no input gradient) and inputs from a differentiable op.
                    let hidden = LifRule {
                        output: LifOutput::Spikes,
                        ..rule
                    };
                    let mut rules = vec![hidden; sizes.len() - 2];
                    rules.push(rule);
                    let x = if k % 2 == 1 {
                        Var::from_tensor(&spikes)?.as_tensor().clone()
                    } else {
                        spikes.clone()
                    };
                    let stacked = run(true, &x, &params, &rules, &r)?;
                    let layered = run(false, &x, &params, &rules, &r)?;
                    assert_eq!(stacked.len(), layered.len(), "{rule:?}");
                    for (j, (s, l)) in stacked.iter().zip(&layered).enumerate() {
                        assert_eq!(s.dims(), l.dims(), "{rule:?}: tensor {j}");
                        let error = relative_error(s, l);
                        assert!(
                            error <= tolerance,
                            "{dtype:?} {sizes:?} {rule:?}: tensor {j} differs by {error:e}"
                        );
                    }
                }
            }
        }
        Ok(())
    }

    #[test]
    fn layers_that_do_not_chain_are_errors() -> Result<()> {
        let device = &Device::Cpu;
        let x = Tensor::zeros((2, 3, 4), DType::F32, device)?;
        let (w1, w2) = (
            Tensor::zeros((4, 6), DType::F32, device)?,
            Tensor::zeros((5, 2), DType::F32, device)?,
        );
        let (p6, p2) = (
            Tensor::zeros(6, DType::F32, device)?,
            Tensor::zeros(2, DType::F32, device)?,
        );
        let layer = |weight, p| StackLayer {
            weight,
            bias: p,
            beta: p,
            threshold: p,
            rule: LifRule::default(),
        };
        let message = lif_stack(&x, &[layer(&w1, &p6), layer(&w2, &p2)])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("layer 1 takes 5 inputs but is fed 6"),
            "{message}"
        );
        let message = lif_stack(&x, &[layer(&w1, &p2)]).unwrap_err().to_string();
        assert!(
            message.contains("layer 0's bias is [2], expected [6]"),
            "{message}"
        );
        let message = lif_stack(&x, &[]).unwrap_err().to_string();
        assert!(message.contains("at least one layer"), "{message}");
        Ok(())
    }
}
