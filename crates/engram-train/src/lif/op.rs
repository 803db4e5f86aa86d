//! The fused LIF kernel as a candle custom op: `(current [T,B,N], β [N], θ [N]) → output [T,B,N]`.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};

use super::LifRule;
use super::kernel::{self, Dims, OutputGrad, Params};
use crate::cpu::{Real, storage_slice, with_slice};

/// The layer's output for input `current` `[T, B, N]`, decays `beta` `[N]` and thresholds
/// `threshold` `[N]`, computed by the fused kernel. Gradients reach all three inputs.
pub fn lif(current: &Tensor, beta: &Tensor, threshold: &Tensor, rule: LifRule) -> Result<Tensor> {
    current.contiguous()?.apply_op3(
        &beta.contiguous()?,
        &threshold.contiguous()?,
        LifOp { rule },
    )
}

struct LifOp {
    rule: LifRule,
}

fn dims_of(current: &Shape, beta: &Shape, threshold: &Shape) -> Result<Dims> {
    let (steps, batch, neurons) = current.dims3()?;
    if beta.dims() != [neurons] || threshold.dims() != [neurons] {
        bail!(
            "lif: current is {current:?} but beta is {beta:?} and threshold {threshold:?}; both must be [{neurons}]"
        )
    }
    Ok(Dims {
        steps,
        batch,
        neurons,
    })
}

fn forward_typed<F: Real>(
    rule: &LifRule,
    inputs: [(&CpuStorage, &Layout); 3],
) -> Result<(CpuStorage, Shape)> {
    let [(s1, l1), (s2, l2), (s3, l3)] = inputs;
    let dims = dims_of(l1.shape(), l2.shape(), l3.shape())?;
    let current = storage_slice::<F>(s1, l1, "lif current")?;
    let p = Params {
        beta: storage_slice(s2, l2, "lif beta")?,
        threshold: storage_slice(s3, l3, "lif threshold")?,
    };
    let out = kernel::forward(rule, dims, current, p);
    Ok((F::to_cpu_storage_owned(out), l1.shape().clone()))
}

fn backward_typed<F: Real>(
    rule: &LifRule,
    current: &Tensor,
    beta: &Tensor,
    threshold: &Tensor,
    grad: &Tensor,
) -> Result<[Tensor; 3]> {
    let dims = dims_of(current.shape(), beta.shape(), threshold.shape())?;
    let grads = with_slice::<F, _>(current, "lif current", |i| {
        with_slice(beta, "lif beta", |beta| {
            with_slice(threshold, "lif threshold", |threshold| {
                with_slice(grad, "lif output gradient", |g| {
                    Ok(kernel::backward(
                        rule,
                        dims,
                        i,
                        Params { beta, threshold },
                        OutputGrad::Given(g),
                    ))
                })
            })
        })
    })?;
    let device = current.device();
    Ok([
        Tensor::from_vec(grads.current, current.shape(), device)?,
        Tensor::from_vec(grads.beta, beta.shape(), device)?,
        Tensor::from_vec(grads.threshold, threshold.shape(), device)?,
    ])
}

impl CustomOp3 for LifOp {
    fn name(&self) -> &'static str {
        "engram-lif"
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
            other => bail!("lif: the current must be f32 or f64, got {other:?}"),
        }
    }

    fn bwd(
        &self,
        current: &Tensor,
        beta: &Tensor,
        threshold: &Tensor,
        _output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let [g_current, g_beta, g_threshold] = match current.dtype() {
            DType::F32 => backward_typed::<f32>(&self.rule, current, beta, threshold, &grad)?,
            DType::F64 => backward_typed::<f64>(&self.rule, current, beta, threshold, &grad)?,
            other => bail!("lif: the current must be f32 or f64, got {other:?}"),
        };
        Ok((Some(g_current), Some(g_beta), Some(g_threshold)))
    }
}
