//! The fused ALIF kernel against the op-by-op reference, the reference against finite
//! differences with the smooth spike function, and a trace worked by hand.

use candle_core::{DType, Device, Result, Tensor, Var};

use super::*;
use crate::layer_tests::{all_rules, flat, relative_error, uniform};
use crate::lif::{LifOutput, LifRule, lif};
use crate::surrogate::SpikeForward;

/// Current `[T, B, N]` that makes every neuron fire several times, and per-neuron `β`, `θ`,
/// `ρ`, `κ`.
fn inputs(dims: [usize; 3], seed: u64, dtype: DType) -> Result<[Tensor; 5]> {
    let n = dims[2];
    Ok([
        uniform(&dims, -0.3, 0.9, seed, dtype)?,
        uniform(&[n], 0.6, 0.98, seed + 1, dtype)?,
        uniform(&[n], 0.5, 1.5, seed + 2, dtype)?,
        uniform(&[n], 0.7, 0.98, seed + 3, dtype)?,
        uniform(&[n], 0.05, 0.5, seed + 4, dtype)?,
    ])
}

fn layer(rule: LifRule, forward: Option<SpikeForward>) -> impl Fn(&[Tensor]) -> Result<Tensor> {
    move |x: &[Tensor]| match forward {
        None => alif(&x[0], &x[1], &x[2], &x[3], &x[4], rule),
        Some(f) => alif_reference(&x[0], &x[1], &x[2], &x[3], &x[4], rule, f),
    }
}

/// `L = Σ out·R` and its gradients with respect to every input.
fn loss_and_grads(
    layer: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    weights: &Tensor,
) -> Result<(f64, Vec<Tensor>)> {
    let vars = inputs
        .iter()
        .map(Var::from_tensor)
        .collect::<Result<Vec<_>>>()?;
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let loss = layer(&tensors)?.mul(weights)?.sum_all()?;
    let grads = loss.backward()?;
    // An input the output does not depend on differentiably has no gradient entry: it is zero.
    let grads = vars
        .iter()
        .map(|v| grads.get(v).cloned().map_or_else(|| v.zeros_like(), Ok))
        .collect::<Result<_>>()?;
    Ok((loss.to_dtype(DType::F64)?.to_scalar()?, grads))
}

const NAMES: [&str; 5] = ["current", "beta", "threshold", "rho", "kappa"];

#[test]
fn adaptation_delays_the_second_spike_and_the_reset_subtracts_the_raised_threshold() -> Result<()> {
    // I = 0.625, β = 0.5, θ = 1, ρ = 0.5, κ = 1, worked by hand (all values dyadic, so exact):
    // the spike at t = 2 raises the threshold to 2, 1.5, 1.25, 1.125, 1.0625; a LIF neuron would
    // fire again at t = 6 (v = 1.115234375 > 1), this one waits for t = 7 (1.1826171875 >
    // 1.0625), and at t = 8 the reset subtracts A_7 = 1.0625, not θ.
    let dev = &Device::Cpu;
    let current = Tensor::full(0.625f64, (9, 1, 1), dev)?;
    let [beta, theta, rho, kappa] = [0.5, 1.0, 0.5, 1.0].map(|x| Tensor::new(&[x], dev));
    let (beta, theta, rho, kappa) = (beta?, theta?, rho?, kappa?);
    let membrane = LifRule {
        output: LifOutput::Membrane,
        ..LifRule::default()
    };
    let v = flat(&alif(&current, &beta, &theta, &rho, &kappa, membrane)?);
    let s = flat(&alif(
        &current,
        &beta,
        &theta,
        &rho,
        &kappa,
        LifRule::default(),
    )?);
    let want_v = [
        0.625,
        0.9375,
        1.09375,
        0.171875,
        0.7109375,
        0.98046875,
        1.115234375,
        1.1826171875,
        0.15380859375,
    ];
    assert_eq!(v, want_v);
    assert_eq!(s, [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let lif_spikes = flat(&lif(&current, &beta, &theta, LifRule::default())?);
    assert_eq!(lif_spikes[..7], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    Ok(())
}

#[test]
fn without_adaptation_the_layer_is_the_lif_layer() -> Result<()> {
    let [current, beta, theta, rho, _] = inputs([15, 2, 6], 41, DType::F64)?;
    let kappa = Tensor::zeros(6, DType::F64, &Device::Cpu)?;
    let weights = uniform(&[15, 2, 6], -1.0, 1.0, 7, DType::F64)?;
    for rule in all_rules() {
        let alif_in = [
            current.clone(),
            beta.clone(),
            theta.clone(),
            rho.clone(),
            kappa.clone(),
        ];
        let (_, adaptive) = loss_and_grads(layer(rule, None), &alif_in, &weights)?;
        let lif_in = [current.clone(), beta.clone(), theta.clone()];
        let (_, plain) = loss_and_grads(|x| lif(&x[0], &x[1], &x[2], rule), &lif_in, &weights)?;
        assert_eq!(
            flat(&layer(rule, None)(&alif_in)?),
            flat(&lif(&current, &beta, &theta, rule)?),
            "{rule:?}"
        );
        for k in 0..3 {
            let error = relative_error(&adaptive[k], &plain[k]);
            assert!(
                error <= 1e-13,
                "{rule:?}: d/d{} differs by {error:e}",
                NAMES[k]
            );
        }
    }
    Ok(())
}

#[test]
fn fused_forward_equals_the_reference_exactly() -> Result<()> {
    for dtype in [DType::F32, DType::F64] {
        let inputs = inputs([20, 3, 9], 11, dtype)?;
        for rule in all_rules() {
            let fused = layer(rule, None)(&inputs)?;
            let reference = layer(rule, Some(SpikeForward::Heaviside))(&inputs)?;
            assert_eq!(flat(&fused), flat(&reference), "{dtype:?} {rule:?}");
        }
        let spikes = flat(&layer(LifRule::default(), None)(&inputs)?);
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
            let (_, fused) = loss_and_grads(layer(rule, None), &inputs, &weights)?;
            let (_, reference) = loss_and_grads(
                layer(rule, Some(SpikeForward::Heaviside)),
                &inputs,
                &weights,
            )?;
            for (name, (f, r)) in NAMES.iter().zip(fused.iter().zip(&reference)) {
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
        let smooth = layer(rule, Some(SpikeForward::Smooth));
        let (_, analytic) = loss_and_grads(&smooth, &inputs, &weights)?;
        for which in 0..inputs.len() {
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
                    smooth(&perturbed)?
                        .mul(&weights)?
                        .sum_all()?
                        .to_scalar::<f64>()
                };
                let numeric = (loss_at(h)? - loss_at(-h)?) / (2.0 * h);
                assert!(
                    (numeric - grad[k]).abs() <= 1e-6 * scale,
                    "{rule:?} d/d{} element {k}: finite difference {numeric}, autograd {}",
                    NAMES[which],
                    grad[k]
                );
            }
        }
    }
    Ok(())
}

#[test]
fn gradients_do_not_depend_on_the_thread_count() -> Result<()> {
    let inputs = inputs([12, 7, 5], 51, DType::F32)?;
    let weights = uniform(&[12, 7, 5], -1.0, 1.0, 8, DType::F32)?;
    let run = |threads: usize| -> Result<Vec<Vec<f64>>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        let (_, grads) =
            pool.install(|| loss_and_grads(layer(LifRule::default(), None), &inputs, &weights))?;
        Ok(grads.iter().map(flat).collect())
    };
    assert_eq!(run(1)?, run(3)?);
    Ok(())
}

#[test]
fn mismatched_shapes_and_dtypes_are_errors() -> Result<()> {
    let [current, beta, theta, rho, kappa] = inputs([4, 2, 5], 1, DType::F32)?;
    let short = uniform(&[4], 0.5, 0.9, 2, DType::F32)?;
    let message = alif(&current, &beta, &theta, &short, &kappa, LifRule::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("rho"), "{message}");
    let message = alif(
        &current,
        &beta,
        &theta,
        &rho,
        &kappa.to_dtype(DType::F64)?,
        LifRule::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("kappa"), "{message}");
    let message = alif(
        &current.get(0)?,
        &beta,
        &theta,
        &rho,
        &kappa,
        LifRule::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("rank"), "{message}");
    let u = |t: &Tensor| t.to_dtype(DType::U32);
    let message = alif(
        &u(&current)?,
        &u(&beta)?,
        &u(&theta)?,
        &u(&rho)?,
        &u(&kappa)?,
        LifRule::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("f32 or f64"), "{message}");
    Ok(())
}
