//! A LIF layer fed by spikes through a dense projection, as one candle op:
//! `(x [T,B,I], W [I,N], [b; β; θ] [3,N]) → output [T,B,N]`.
//!
//! ```text
//! I = x · W + b                 (crate::event_linear: runs of the active inputs only)
//! output = LIF(I; β, θ)         (super::kernel)
//! ```
//!
//! The same function as [`crate::event_linear::event_linear`] followed by [`super::lif`], which
//! the tests check it against. Fusing them keeps the current `I` out of candle's graph: candle's
//! backward allocates, zeroes and adds a gradient buffer for every node, and for `I` that is a
//! `[T, B, N]` tensor per step, about a tenth of a training step on MNIST. The op keeps `I` and
//! the input's runs from its forward pass for its backward pass (an op's inputs cannot change
//! in between), so neither is computed twice. `b`, `β` and `θ` travel as one `[3, N]` tensor
//! because a candle custom op takes at most three inputs.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};

use super::LifRule;
use super::kernel::{self, Dims, OutputGrad, Params};
use crate::cpu::{ForBackward, Real, same_dtype, storage_slice, with_slice};
use crate::event_linear::{self, Events};

/// The layer's output for spikes `x` `[T, B, I]`, weights `weight` `[I, N]` and per-neuron
/// `bias`, `beta`, `threshold` `[N]`. Gradients reach all of them, and `x` when it is itself
/// the output of a differentiable op.
pub fn lif_dense(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    beta: &Tensor,
    threshold: &Tensor,
    rule: LifRule,
) -> Result<Tensor> {
    let neuron_params = Tensor::stack(&[bias, beta, threshold], 0)?;
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &neuron_params,
        LifDense {
            rule,
            kept: ForBackward::default(),
        },
    )
}

struct LifDense {
    rule: LifRule,
    /// The forward pass's [`Kept`], taken by the backward pass.
    kept: ForBackward,
}

/// What the backward pass needs from the forward pass.
struct Kept<F> {
    events: Events<F>,
    current: Vec<F>,
}

/// The extents, checked: `x` `[T, B, I]`, `W` `[I, N]`, parameters `[3, N]`.
fn dims_of(x: &Shape, weight: &Shape, neuron_params: &Shape) -> Result<(Dims, usize)> {
    let (steps, batch, inputs) = x.dims3()?;
    let (weight_inputs, neurons) = weight.dims2()?;
    if weight_inputs != inputs || neuron_params.dims() != [3, neurons] {
        bail!(
            "lif_dense: input {x:?}, weight {weight:?} and parameters {neuron_params:?} do not fit ([T, B, I], [I, N], [3, N])"
        )
    }
    let dims = Dims {
        steps,
        batch,
        neurons,
    };
    Ok((dims, inputs))
}

/// `(b, β, θ)` from the rows of the `[3, N]` parameters (one layer's `[b; β; θ]`).
pub(super) fn split<F>(neuron_params: &[F]) -> (&[F], Params<'_, F>) {
    let n = neuron_params.len() / 3;
    let (bias, rest) = neuron_params.split_at(n);
    let (beta, threshold) = rest.split_at(n);
    (bias, Params { beta, threshold })
}

impl LifDense {
    fn forward_typed<F: Real>(
        &self,
        inputs: [(&CpuStorage, &Layout); 3],
    ) -> Result<(CpuStorage, Shape)> {
        let [(s1, l1), (s2, l2), (s3, l3)] = inputs;
        let (dims, inputs) = dims_of(l1.shape(), l2.shape(), l3.shape())?;
        let x = storage_slice::<F>(s1, l1, "lif_dense input")?;
        let weight = storage_slice(s2, l2, "lif_dense weight")?;
        let (bias, p) = split(storage_slice(s3, l3, "lif_dense parameters")?);
        let events = Events::gather(x, dims.steps, inputs, dims.neurons);
        let current = event_linear::forward(&events, weight, bias);
        let out = kernel::forward(&self.rule, dims, &current, p);
        self.kept.keep(Kept { events, current });
        let shape = Shape::from((dims.steps, dims.batch, dims.neurons));
        Ok((F::to_cpu_storage_owned(out), shape))
    }

    /// The forward pass's runs and current, or (if there are none of this dtype) computed anew.
    fn kept<F: Real>(
        &self,
        x: &[F],
        weight: &[F],
        bias: &[F],
        dims: Dims,
        inputs: usize,
    ) -> Kept<F> {
        self.kept.take().unwrap_or_else(|| {
            let events = Events::gather(x, dims.steps, inputs, dims.neurons);
            let current = event_linear::forward(&events, weight, bias);
            Kept { events, current }
        })
    }

    /// `(∂L/∂I, ∂L/∂W, ∂L/∂[b; β; θ])`.
    fn backward_typed<F: Real>(
        &self,
        x: &Tensor,
        weight: &Tensor,
        neuron_params: &Tensor,
        grad: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (dims, inputs) = dims_of(x.shape(), weight.shape(), neuron_params.shape())?;
        let (d_current, d_weight, d_params) = with_slice::<F, _>(x, "lif_dense input", |x| {
            with_slice(weight, "lif_dense weight", |weight| {
                with_slice(neuron_params, "lif_dense parameters", |neuron_params| {
                    with_slice(grad, "lif_dense output gradient", |g| {
                        let (bias, p) = split(neuron_params);
                        let Kept { events, current } = self.kept(x, weight, bias, dims, inputs);
                        let lif =
                            kernel::backward(&self.rule, dims, &current, p, OutputGrad::Given(g));
                        let (d_weight, d_bias) =
                            event_linear::weight_grads(&events, inputs, &lif.current, dims.neurons);
                        Ok((
                            lif.current,
                            d_weight,
                            [d_bias, lif.beta, lif.threshold].concat(),
                        ))
                    })
                })
            })
        })?;
        let device = x.device();
        Ok((
            Tensor::from_vec(d_current, (dims.steps, dims.batch, dims.neurons), device)?,
            Tensor::from_vec(d_weight, (inputs, dims.neurons), device)?,
            Tensor::from_vec(d_params, (3, dims.neurons), device)?,
        ))
    }
}

impl CustomOp3 for LifDense {
    fn name(&self) -> &'static str {
        "engram-lif-dense"
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
        same_dtype("lif_dense", "input, weight and parameters", [s1, s2, s3])?;
        let inputs = [(s1, l1), (s2, l2), (s3, l3)];
        match s1.dtype() {
            DType::F32 => self.forward_typed::<f32>(inputs),
            DType::F64 => self.forward_typed::<f64>(inputs),
            other => bail!("lif_dense: the input must be f32 or f64, got {other:?}"),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        neuron_params: &Tensor,
        _output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (d_current, d_weight, d_params) = match x.dtype() {
            DType::F32 => self.backward_typed::<f32>(x, weight, neuron_params, &grad)?,
            DType::F64 => self.backward_typed::<f64>(x, weight, neuron_params, &grad)?,
            other => bail!("lif_dense: the input must be f32 or f64, got {other:?}"),
        };
        let d_x = if x.track_op() {
            Some(d_current.broadcast_matmul(&weight.t()?)?)
        } else {
            None
        };
        Ok((d_x, Some(d_weight), Some(d_params)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::event_linear::event_linear;
    use crate::layer_tests::{all_rules, relative_error, uniform};
    use crate::lif::lif;

    /// Output and the gradients of `Σ output·R` for x (when `x_tracked`), W, b, β, θ.
    fn run(
        layer: impl Fn(&Tensor, &Tensor, &Tensor, &Tensor, &Tensor) -> Result<Tensor>,
        inputs: &[Tensor; 5],
        r: &Tensor,
        x_tracked: bool,
    ) -> Result<Vec<Tensor>> {
        let vars: Vec<Var> = inputs.iter().map(Var::from_tensor).collect::<Result<_>>()?;
        let x = if x_tracked {
            vars[0].as_tensor().clone()
        } else {
            inputs[0].clone()
        };
        let [_, w, b, beta, threshold] = [0, 1, 2, 3, 4].map(|k| vars[k].as_tensor());
        let out = layer(&x, w, b, beta, threshold)?;
        let grads = out.mul(r)?.sum_all()?.backward()?;
        let mut all = vec![out];
        for (k, var) in vars.iter().enumerate() {
            match grads.get(var) {
                Some(g) => all.push(g.clone()),
                None => assert!(k == 0 && !x_tracked, "input {k} got no gradient"),
            }
        }
        Ok(all)
    }

    #[test]
    fn equals_event_linear_then_lif() -> Result<()> {
        let (steps, batch, inputs, neurons) = (12, 5, 40, 70);
        // Fused and composed differ only in summation order: the forward is identical, the
        // gradients agree to rounding.
        for (dtype, tolerance) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
            let spikes = uniform(&[steps, batch, inputs], 0.0, 1.0, 0, dtype)?
                .ge(0.6)?
                .to_dtype(dtype)?;
            let tensors = [
                spikes,
                uniform(&[inputs, neurons], -0.4, 0.6, 1, dtype)?,
                uniform(&[neurons], -0.1, 0.2, 2, dtype)?,
                uniform(&[neurons], 0.7, 0.95, 3, dtype)?,
                uniform(&[neurons], 0.8, 1.2, 4, dtype)?,
            ];
            let r = uniform(&[steps, batch, neurons], -1.0, 1.0, 5, dtype)?;
            for (k, rule) in all_rules().into_iter().enumerate() {
                // Alternate data inputs (no input gradient) and hidden-layer inputs.
                let x_tracked = k % 2 == 1;
                let fused = run(
                    |x, w, b, beta, th| lif_dense(x, w, b, beta, th, rule),
                    &tensors,
                    &r,
                    x_tracked,
                )?;
                let composed = run(
                    |x, w, b, beta, th| lif(&event_linear(x, w, b)?, beta, th, rule),
                    &tensors,
                    &r,
                    x_tracked,
                )?;
                assert_eq!(fused.len(), composed.len());
                for (k, (f, c)) in fused.iter().zip(&composed).enumerate() {
                    assert_eq!(f.dims(), c.dims(), "{rule:?}: tensor {k}");
                    let error = relative_error(f, c);
                    assert!(
                        error <= tolerance,
                        "{dtype:?} {rule:?}: tensor {k} differs by {error:e}"
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn shapes_that_do_not_fit_are_errors() -> Result<()> {
        let x = Tensor::zeros((2, 3, 4), DType::F32, &Device::Cpu)?;
        let w = Tensor::zeros((5, 6), DType::F32, &Device::Cpu)?;
        let p = Tensor::zeros(6, DType::F32, &Device::Cpu)?;
        let message = lif_dense(&x, &w, &p, &p, &p, LifRule::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains("do not fit"), "{message}");
        Ok(())
    }
}
