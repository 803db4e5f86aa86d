//! The fused LIF kernel against the op-by-op reference, and the reference against finite
//! differences with the smooth spike function.

use candle_core::{DType, Device, Result, Tensor, Var};

use super::*;
use crate::layer_tests::{all_rules, flat, relative_error, uniform};
use crate::surrogate::SpikeForward;

/// Currents that make every neuron fire several times over `T` steps, with per-neuron `β`, `θ`.
fn inputs(dims: [usize; 3], seed: u64, dtype: DType) -> Result<[Tensor; 3]> {
    Ok([
        uniform(&dims, -0.3, 0.9, seed, dtype)?,
        uniform(&[dims[2]], 0.6, 0.98, seed + 1, dtype)?,
        uniform(&[dims[2]], 0.5, 1.5, seed + 2, dtype)?,
    ])
}

/// `L = Σ out·R` and its gradients with respect to current, β and θ.
fn loss_and_grads(
    layer: impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>,
    inputs: &[Tensor; 3],
    weights: &Tensor,
) -> Result<(f64, [Tensor; 3])> {
    let vars = [
        Var::from_tensor(&inputs[0])?,
        Var::from_tensor(&inputs[1])?,
        Var::from_tensor(&inputs[2])?,
    ];
    let out = layer(
        vars[0].as_tensor(),
        vars[1].as_tensor(),
        vars[2].as_tensor(),
    )?;
    let loss = out.mul(weights)?.sum_all()?;
    let grads = loss.backward()?;
    // An input the output does not depend on differentiably (θ of a zero-reset membrane output
    // with a detached reset) has no gradient entry: its gradient is zero.
    let grad = |v: &Var| grads.get(v).cloned().map_or_else(|| v.zeros_like(), Ok);
    Ok((
        loss.to_dtype(DType::F64)?.to_scalar()?,
        [grad(&vars[0])?, grad(&vars[1])?, grad(&vars[2])?],
    ))
}

#[test]
fn constant_current_fires_when_the_analytic_membrane_crosses_threshold() -> Result<()> {
    // v_t = I (1 − β^{t+1}) / (1 − β) with I = 0.3, β = 0.9 first exceeds θ = 1 at t = 3.
    let current = Tensor::full(0.3f64, (8, 1, 1), &Device::Cpu)?;
    let beta = Tensor::new(&[0.9f64], &Device::Cpu)?;
    let theta = Tensor::new(&[1.0f64], &Device::Cpu)?;
    let membrane = lif(
        &current,
        &beta,
        &theta,
        LifRule {
            output: LifOutput::Membrane,
            ..LifRule::default()
        },
    )?;
    let spikes = lif(&current, &beta, &theta, LifRule::default())?;
    let v = flat(&membrane);
    for (t, &v_t) in v.iter().enumerate().take(4) {
        assert!(
            (v_t - 3.0 * (1.0 - 0.9f64.powi(t as i32 + 1))).abs() < 1e-12,
            "v[{t}] = {v_t}"
        );
    }
    assert_eq!(flat(&spikes)[..5], [0.0, 0.0, 0.0, 1.0, 0.0]);
    assert!(
        (v[4] - (0.9 * v[3] + 0.3 - 1.0)).abs() < 1e-12,
        "the spike at t = 3 is subtracted at t = 4"
    );
    Ok(())
}

#[test]
fn fused_forward_equals_the_reference_exactly() -> Result<()> {
    for dtype in [DType::F32, DType::F64] {
        let inputs = inputs([20, 3, 9], 11, dtype)?;
        for rule in all_rules() {
            let fused = lif(&inputs[0], &inputs[1], &inputs[2], rule)?;
            let reference = lif_reference(
                &inputs[0],
                &inputs[1],
                &inputs[2],
                rule,
                SpikeForward::Heaviside,
            )?;
            assert_eq!(flat(&fused), flat(&reference), "{dtype:?} {rule:?}");
        }
        let spikes = flat(&lif(
            &inputs[0],
            &inputs[1],
            &inputs[2],
            LifRule::default(),
        )?);
        let rate = spikes.iter().sum::<f64>() / spikes.len() as f64;
        assert!(
            rate > 0.1 && rate < 0.6,
            "the test currents should make neurons fire often, rate {rate}"
        );
    }
    Ok(())
}

#[test]
fn fused_backward_equals_the_reference() -> Result<()> {
    for (dtype, tolerance) in [(DType::F32, 2e-5), (DType::F64, 1e-12)] {
        let inputs = inputs([20, 3, 9], 21, dtype)?;
        let weights = uniform(&[20, 3, 9], -1.0, 1.0, 5, dtype)?;
        for rule in all_rules() {
            let (_, fused) = loss_and_grads(|i, b, t| lif(i, b, t, rule), &inputs, &weights)?;
            let (_, reference) = loss_and_grads(
                |i, b, t| lif_reference(i, b, t, rule, SpikeForward::Heaviside),
                &inputs,
                &weights,
            )?;
            for (name, (f, r)) in ["current", "beta", "threshold"]
                .iter()
                .zip(fused.iter().zip(&reference))
            {
                let error = relative_error(f, r);
                assert!(
                    error <= tolerance,
                    "{dtype:?} {rule:?}: d/d{name} differs by {error:e} (relative)"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn reference_gradients_match_finite_differences_with_the_smooth_spike() -> Result<()> {
    let dims = [7, 2, 3];
    let inputs = inputs(dims, 31, DType::F64)?;
    let weights = uniform(&dims, -1.0, 1.0, 6, DType::F64)?;
    let h = 1e-6;
    // A detached reset drops a true dependence on purpose, so only attached resets are checked.
    for rule in all_rules().into_iter().filter(|r| !r.detach_reset) {
        let layer =
            |i: &Tensor, b: &Tensor, t: &Tensor| lif_reference(i, b, t, rule, SpikeForward::Smooth);
        let (_, analytic) = loss_and_grads(layer, &inputs, &weights)?;
        for which in 0..3 {
            let base = flat(&inputs[which]);
            let grad = flat(&analytic[which]);
            let scale = grad.iter().fold(1.0f64, |m, x| m.max(x.abs()));
            for k in (0..base.len()).step_by(if which == 0 { 5 } else { 1 }) {
                let loss_at = |delta: f64| -> Result<f64> {
                    let mut moved = base.clone();
                    moved[k] += delta;
                    let mut perturbed = inputs.clone();
                    perturbed[which] =
                        Tensor::from_vec(moved, inputs[which].shape(), &Device::Cpu)?;
                    let out = layer(&perturbed[0], &perturbed[1], &perturbed[2])?;
                    out.mul(&weights)?.sum_all()?.to_scalar::<f64>()
                };
                let numeric = (loss_at(h)? - loss_at(-h)?) / (2.0 * h);
                assert!(
                    (numeric - grad[k]).abs() <= 1e-6 * scale,
                    "{rule:?} input {which} element {k}: finite difference {numeric}, autograd {}",
                    grad[k]
                );
            }
        }
    }
    Ok(())
}

#[test]
fn mismatched_shapes_and_dtypes_are_errors() -> Result<()> {
    let [current, beta, theta] = inputs([4, 2, 5], 1, DType::F32)?;
    let short = uniform(&[4], 0.5, 0.9, 2, DType::F32)?;
    let message = lif(&current, &short, &theta, LifRule::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("beta"), "{message}");
    let integers = current.to_dtype(DType::U32)?;
    let message = lif(
        &integers,
        &beta.to_dtype(DType::U32)?,
        &theta.to_dtype(DType::U32)?,
        LifRule::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("f32 or f64"), "{message}");
    Ok(())
}
