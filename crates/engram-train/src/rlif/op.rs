//! The fused recurrent LIF kernel as a candle custom op: `(current [T,B,N], W [N,N], params
//! [2,N]) → output [T,B,N]`, the parameters packed as the rows `β`, `θ`.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};

use super::kernel::{self, Dims, Params};
use crate::cpu::{Real, storage_slice, with_slice};
use crate::lif::LifRule;

/// The layer's output for input `current` `[T, B, N]`, recurrent weights `w_rec` `[N, N]` (row
/// = presynaptic neuron), decays `beta` `[N]` and thresholds `threshold` `[N]`, computed by the
/// fused kernel. Gradients reach all four inputs (`β` and `θ` are stacked into one `[2, N]`
/// tensor for the op, and the stack passes each its row).
pub fn rlif(
    current: &Tensor,
    w_rec: &Tensor,
    beta: &Tensor,
    threshold: &Tensor,
    rule: LifRule,
) -> Result<Tensor> {
    let (_, _, neurons) = current.dims3()?;
    for (name, p, shape) in [
        ("w_rec", w_rec, &[neurons, neurons][..]),
        ("beta", beta, &[neurons]),
        ("threshold", threshold, &[neurons]),
    ] {
        if p.dims() != shape {
            bail!(
                "rlif: current is {:?} but {name} is {:?}; it must be {shape:?}",
                current.shape(),
                p.shape()
            )
        }
        if p.dtype() != current.dtype() {
            bail!(
                "rlif: current is {:?} but {name} is {:?}",
                current.dtype(),
                p.dtype()
            )
        }
    }
    let params = Tensor::stack(&[beta, threshold], 0)?;
    current
        .contiguous()?
        .apply_op3(&w_rec.contiguous()?, &params, RlifOp { rule })
}

struct RlifOp {
    rule: LifRule,
}

fn dims_of(current: &Shape, weights: &Shape, params: &Shape) -> Result<Dims> {
    let (steps, batch, neurons) = current.dims3()?;
    if weights.dims() != [neurons, neurons] || params.dims() != [2, neurons] {
        bail!(
            "rlif: current is {current:?} but the weights are {weights:?} and the packed parameters {params:?}, not [{neurons}, {neurons}] and [2, {neurons}]"
        )
    }
    Ok(Dims {
        steps,
        batch,
        neurons,
    })
}

fn params<'a, F>(weights: &'a [F], packed: &'a [F], neurons: usize) -> Params<'a, F> {
    let (beta, threshold) = packed.split_at(neurons);
    Params {
        weights,
        beta,
        threshold,
    }
}

fn forward_typed<F: Real>(
    rule: &LifRule,
    inputs: [(&CpuStorage, &Layout); 3],
) -> Result<(CpuStorage, Shape)> {
    let [(s1, l1), (s2, l2), (s3, l3)] = inputs;
    let dims = dims_of(l1.shape(), l2.shape(), l3.shape())?;
    let current = storage_slice::<F>(s1, l1, "rlif current")?;
    let weights = storage_slice::<F>(s2, l2, "rlif weights")?;
    let packed = storage_slice::<F>(s3, l3, "rlif parameters")?;
    let out = kernel::forward(rule, dims, current, params(weights, packed, dims.neurons));
    Ok((F::to_cpu_storage_owned(out), l1.shape().clone()))
}

fn backward_typed<F: Real>(
    rule: &LifRule,
    current: &Tensor,
    weights: &Tensor,
    packed: &Tensor,
    grad: &Tensor,
) -> Result<[Tensor; 3]> {
    let dims = dims_of(current.shape(), weights.shape(), packed.shape())?;
    let grads = with_slice::<F, _>(current, "rlif current", |i| {
        with_slice(weights, "rlif weights", |w| {
            with_slice(packed, "rlif parameters", |packed| {
                with_slice(grad, "rlif output gradient", |g| {
                    Ok(kernel::backward(
                        rule,
                        dims,
                        i,
                        params(w, packed, dims.neurons),
                        g,
                    ))
                })
            })
        })
    })?;
    let device = current.device();
    let mut packed_grad = grads.beta;
    packed_grad.extend(grads.threshold);
    Ok([
        Tensor::from_vec(grads.current, current.shape(), device)?,
        Tensor::from_vec(grads.weights, weights.shape(), device)?,
        Tensor::from_vec(packed_grad, packed.shape(), device)?,
    ])
}

impl CustomOp3 for RlifOp {
    fn name(&self) -> &'static str {
        "engram-rlif"
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
        let inputs = [(s1, l1), (s2, l2), (s3, l3)];
        match s1.dtype() {
            DType::F32 => forward_typed::<f32>(&self.rule, inputs),
            DType::F64 => forward_typed::<f64>(&self.rule, inputs),
            other => bail!("rlif: the current must be f32 or f64, got {other:?}"),
        }
    }

    fn bwd(
        &self,
        current: &Tensor,
        weights: &Tensor,
        packed: &Tensor,
        _output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (grad, weights, packed) = (
            grad.contiguous()?,
            weights.contiguous()?,
            packed.contiguous()?,
        );
        let [g_current, g_weights, g_packed] = match current.dtype() {
            DType::F32 => backward_typed::<f32>(&self.rule, current, &weights, &packed, &grad)?,
            DType::F64 => backward_typed::<f64>(&self.rule, current, &weights, &packed, &grad)?,
            other => bail!("rlif: the current must be f32 or f64, got {other:?}"),
        };
        Ok((Some(g_current), Some(g_weights), Some(g_packed)))
    }
}
