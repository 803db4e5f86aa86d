//! The ALIF layer as one candle op per operation: the reference every fused result is tested
//! against, and (with [`SpikeForward::Smooth`]) the form whose gradients finite differences check.

use candle_core::{Result, Tensor};

use crate::lif::spike;
use crate::lif::{LifOutput, LifRule, Reset};
use crate::surrogate::SpikeForward;

/// The same output as [`super::alif`], step by step in candle ops; `forward` picks binary
/// spikes or their smooth counterpart.
pub fn alif_reference(
    current: &Tensor,
    beta: &Tensor,
    threshold: &Tensor,
    rho: &Tensor,
    kappa: &Tensor,
    rule: LifRule,
    forward: SpikeForward,
) -> Result<Tensor> {
    let (steps, batch, neurons) = current.dims3()?;
    let mut v = Tensor::zeros((batch, neurons), current.dtype(), current.device())?;
    let (mut a, mut s) = (v.clone(), v.clone());
    // A_{t−1}, the threshold the previous step's spike crossed.
    let mut adaptive = a.broadcast_mul(kappa)?.broadcast_add(threshold)?;
    let mut outputs = Vec::with_capacity(steps);
    for t in 0..steps {
        let reset = if rule.detach_reset {
            s.detach()
        } else {
            s.clone()
        };
        a = a.broadcast_mul(rho)?.add(&s)?;
        let before_reset = v.broadcast_mul(beta)?.add(&current.get(t)?)?;
        v = match rule.reset {
            Reset::Subtract => before_reset.sub(&reset.mul(&adaptive)?)?,
            Reset::Zero => before_reset.mul(&reset.affine(-1.0, 1.0)?)?,
        };
        adaptive = a.broadcast_mul(kappa)?.broadcast_add(threshold)?;
        s = spike(&v.sub(&adaptive)?, rule.surrogate, forward)?;
        outputs.push(match rule.output {
            LifOutput::Spikes => s.clone(),
            LifOutput::Membrane => v.clone(),
        });
    }
    Tensor::stack(&outputs, 0)
}
