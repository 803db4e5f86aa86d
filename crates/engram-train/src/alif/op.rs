//! The fused ALIF kernel as a candle custom op: `(current [T,B,N], params [4,N]) → output
//! [T,B,N]`, the parameters packed as the rows `β`, `θ`, `ρ`, `κ`.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor, bail};

use super::kernel::{self, Dims, Params};
use crate::cpu::{Real, storage_slice, with_slice};
use crate::lif::LifRule;

/// The layer's output for input `current` `[T, B, N]` and per-neuron decays `beta`, baseline
/// thresholds `threshold`, adaptation decays `rho` and adaptation strengths `kappa` (each
/// `[N]`), computed by the fused kernel. Gradients reach all five inputs: the parameters are
/// stacked into one `[4, N]` tensor for the op, and the stack passes each its row.
pub fn alif(
    current: &Tensor,
    beta: &Tensor,
    threshold: &Tensor,
    rho: &Tensor,
    kappa: &Tensor,
    rule: LifRule,
) -> Result<Tensor> {
    let (_, _, neurons) = current.dims3()?;
    for (name, p) in [
        ("beta", beta),
        ("threshold", threshold),
        ("rho", rho),
        ("kappa", kappa),
    ] {
        if p.dims() != [neurons] {
            bail!(
                "alif: current is {:?} but {name} is {:?}; it must be [{neurons}]",
                current.shape(),
                p.shape()
            )
        }
        if p.dtype() != current.dtype() {
            bail!(
                "alif: current is {:?} but {name} is {:?}",
                current.dtype(),
                p.dtype()
            )
        }
    }
    let params = Tensor::stack(&[beta, threshold, rho, kappa], 0)?;
    current.contiguous()?.apply_op2(&params, AlifOp { rule })
}

struct AlifOp {
    rule: LifRule,
}

fn dims_of(current: &Shape, params: &Shape) -> Result<Dims> {
    let (steps, batch, neurons) = current.dims3()?;
    if params.dims() != [4, neurons] {
        bail!(
            "alif: current is {current:?} but the packed parameters are {params:?}, not [4, {neurons}]"
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
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let dims = dims_of(l1.shape(), l2.shape())?;
    let current = storage_slice::<F>(s1, l1, "alif current")?;
    let packed = storage_slice::<F>(s2, l2, "alif parameters")?;
    let out = kernel::forward(rule, dims, current, Params::unpack(packed, dims.neurons));
    Ok((F::to_cpu_storage_owned(out), l1.shape().clone()))
}

fn backward_typed<F: Real>(
    rule: &LifRule,
    current: &Tensor,
    params: &Tensor,
    grad: &Tensor,
) -> Result<[Tensor; 2]> {
    let dims = dims_of(current.shape(), params.shape())?;
    let grads = with_slice::<F, _>(current, "alif current", |i| {
        with_slice(params, "alif parameters", |packed| {
            with_slice(grad, "alif output gradient", |g| {
                Ok(kernel::backward(
                    rule,
                    dims,
                    i,
                    Params::unpack(packed, dims.neurons),
                    g,
                ))
            })
        })
    })?;
    let device = current.device();
    Ok([
        Tensor::from_vec(grads.current, current.shape(), device)?,
        Tensor::from_vec(grads.params, params.shape(), device)?,
    ])
}

impl CustomOp2 for AlifOp {
    fn name(&self) -> &'static str {
        "engram-alif"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        match s1.dtype() {
            DType::F32 => forward_typed::<f32>(&self.rule, s1, l1, s2, l2),
            DType::F64 => forward_typed::<f64>(&self.rule, s1, l1, s2, l2),
            other => bail!("alif: the current must be f32 or f64, got {other:?}"),
        }
    }

    fn bwd(
        &self,
        current: &Tensor,
        params: &Tensor,
        _output: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (grad, params) = (grad.contiguous()?, params.contiguous()?);
        let [g_current, g_params] = match current.dtype() {
            DType::F32 => backward_typed::<f32>(&self.rule, current, &params, &grad)?,
            DType::F64 => backward_typed::<f64>(&self.rule, current, &params, &grad)?,
            other => bail!("alif: the current must be f32 or f64, got {other:?}"),
        };
        Ok((Some(g_current), Some(g_params)))
    }
}
