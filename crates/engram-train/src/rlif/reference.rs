//! The recurrent LIF layer as one candle op per operation: the reference every fused result is
//! tested against, and (with [`SpikeForward::Smooth`]) the form whose gradients finite
//! differences check.

use candle_core::{Result, Tensor};

use crate::lif::spike;
use crate::lif::{LifOutput, LifRule, Reset};
use crate::surrogate::SpikeForward;

/// The same output as [`super::rlif`], step by step in candle ops (the recurrent input as a
/// dense `[B, N]×[N, N]` product); `forward` picks binary spikes or their smooth counterpart.
pub fn rlif_reference(
    current: &Tensor,
    w_rec: &Tensor,
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
        let before_reset = v
            .broadcast_mul(beta)?
            .add(&current.get(t)?)?
            .add(&s.matmul(w_rec)?)?;
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
