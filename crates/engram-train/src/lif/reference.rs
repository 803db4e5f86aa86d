//! The LIF layer as one candle op per operation: the reference every fused result is tested
//! against, and (with [`SpikeForward::Smooth`]) the form whose gradients finite differences check.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, bail};

use super::{LifOutput, LifRule, Reset};
use crate::cpu::{Real, storage_slice};
use crate::surrogate::{SpikeForward, Surrogate};

/// The same output as [`super::lif`], step by step in candle ops; `forward` picks binary spikes
/// or their smooth counterpart.
pub fn lif_reference(
    current: &Tensor,
    beta: &Tensor,
    threshold: &Tensor,
    rule: LifRule,
    forward: SpikeForward,
) -> Result<Tensor> {
    let (steps, batch, neurons) = current.dims3()?;
    let mut v = Tensor::zeros((batch, neurons), current.dtype(), current.device())?;
    let mut s = v.clone();
    let mut outputs = Vec::with_capacity(steps);
    for t in 0..steps {
        let reset = if rule.detach_reset {
            s.detach()
        } else {
            s.clone()
        };
        let before_reset = v.broadcast_mul(beta)?.add(&current.get(t)?)?;
        v = match rule.reset {
            Reset::Subtract => before_reset.sub(&reset.broadcast_mul(threshold)?)?,
            Reset::Zero => before_reset.mul(&reset.affine(-1.0, 1.0)?)?,
        };
        s = spike(&v.broadcast_sub(threshold)?, rule.surrogate, forward)?;
        outputs.push(match rule.output {
            LifOutput::Spikes => s.clone(),
            LifOutput::Membrane => v.clone(),
        });
    }
    Tensor::stack(&outputs, 0)
}

/// The spike non-linearity of distance-to-threshold `x` as a candle op: forward `H(x)` or `σ(x)`,
/// backward the surrogate `σ'(x)`.
pub fn spike(x: &Tensor, surrogate: Surrogate, forward: SpikeForward) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Spike { surrogate, forward })
}

struct Spike {
    surrogate: Surrogate,
    forward: SpikeForward,
}

/// `f` applied to every element of a CPU tensor of a float dtype.
fn map_float(
    storage: &CpuStorage,
    layout: &Layout,
    f32_map: impl Fn(&[f32]) -> Vec<f32>,
    f64_map: impl Fn(&[f64]) -> Vec<f64>,
) -> Result<(CpuStorage, Shape)> {
    let out = match storage.dtype() {
        DType::F32 => CpuStorage::F32(f32_map(storage_slice(storage, layout, "spike input")?)),
        DType::F64 => CpuStorage::F64(f64_map(storage_slice(storage, layout, "spike input")?)),
        other => bail!("spike: the input must be f32 or f64, got {other:?}"),
    };
    Ok((out, layout.shape().clone()))
}

fn apply_forward<F: Real>(forward: SpikeForward, surrogate: &Surrogate, x: &[F]) -> Vec<F> {
    x.iter().map(|&x| forward.apply(surrogate, x)).collect()
}

fn apply_derivative<F: Real>(surrogate: &Surrogate, x: &[F]) -> Vec<F> {
    let mut out = vec![F::zero(); x.len()];
    surrogate.derivative_into(x, &mut out);
    out
}

impl CustomOp1 for Spike {
    fn name(&self) -> &'static str {
        "engram-spike"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (f, s) = (self.forward, &self.surrogate);
        map_float(
            storage,
            layout,
            |x| apply_forward(f, s, x),
            |x| apply_forward(f, s, x),
        )
    }

    fn bwd(&self, x: &Tensor, _output: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let slope = x.apply_op1_no_bwd(&SurrogateSlope {
            surrogate: self.surrogate,
        })?;
        Ok(Some(grad.mul(&slope)?))
    }
}

/// `σ'(x)` elementwise, the backward half of [`Spike`].
struct SurrogateSlope {
    surrogate: Surrogate,
}

impl CustomOp1 for SurrogateSlope {
    fn name(&self) -> &'static str {
        "engram-surrogate-slope"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let s = &self.surrogate;
        map_float(
            storage,
            layout,
            |x| apply_derivative(s, x),
            |x| apply_derivative(s, x),
        )
    }
}
