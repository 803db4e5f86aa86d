//! The fused recurrent LIF kernel against the op-by-op reference, the reference against finite
//! differences with the smooth spike function, and a trace worked by hand.

use candle_core::{DType, Device, Result, Tensor, Var};

use super::*;
use crate::layer_tests::{all_rules, flat, relative_error, uniform};
use crate::lif::{LifOutput, LifRule, lif};
use crate::surrogate::SpikeForward;

/// Recurrent weights in `[−0.3, 0.3]` on a grid of 1/1024: sums of up to thousands of them are
/// exact in f32, so the sparse gather of the kernel and the dense product of the reference
/// agree bit for bit whatever their order of summation.
fn grid_weights(n: usize, seed: u64, dtype: DType) -> Result<Tensor> {
    uniform(&[n, n], -0.3, 0.3, seed, DType::F64)?
        .affine(1024.0, 0.0)?
        .round()?
        .affine(1.0 / 1024.0, 0.0)?
        .to_dtype(dtype)
}

/// Current `[T, B, N]` that makes every neuron fire several times, recurrent weights `[N, N]`
/// and per-neuron `β`, `θ`.
fn inputs(dims: [usize; 3], seed: u64, dtype: DType) -> Result<[Tensor; 4]> {
    let n = dims[2];
    Ok([
        uniform(&dims, -0.3, 0.9, seed, dtype)?,
        grid_weights(n, seed + 1, dtype)?,
        uniform(&[n], 0.6, 0.98, seed + 2, dtype)?,
        uniform(&[n], 0.5, 1.5, seed + 3, dtype)?,
    ])
}

fn layer(rule: LifRule, forward: Option<SpikeForward>) -> impl Fn(&[Tensor]) -> Result<Tensor> {
    move |x: &[Tensor]| match forward {
        None => rlif(&x[0], &x[1], &x[2], &x[3], rule),
        Some(f) => rlif_reference(&x[0], &x[1], &x[2], &x[3], rule, f),
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

const NAMES: [&str; 4] = ["current", "w_rec", "beta", "threshold"];

#[test]
fn a_spike_adds_its_row_of_the_weights_on_the_next_step() -> Result<()> {
    // Neuron 0 gets I = 0.625 and excites itself (W[0,0] = 0.125) and neuron 1 (W[0,1] = 0.5);
    // W[1,0] = −0.25 never acts, since neuron 1 (no input) stays below θ = 1; β = 0.5. Worked by
    // hand (dyadic, so exact): neuron 0 fires at t = 2, 5, 8 (a LIF neuron at t = 2, 6), and
    // neuron 1 receives 0.5 one step after each of its spikes.
    let dev = &Device::Cpu;
    let current = Tensor::new(&[0.625f64, 0.0], dev)?
        .reshape((1, 1, 2))?
        .repeat((9, 1, 1))?;
    let w_rec = Tensor::new(&[[0.125f64, 0.5], [-0.25, 0.0]], dev)?;
    let (beta, theta) = (
        Tensor::new(&[0.5f64, 0.5], dev)?,
        Tensor::new(&[1.0f64, 1.0], dev)?,
    );
    let membrane = LifRule {
        output: LifOutput::Membrane,
        ..LifRule::default()
    };
    let v = rlif(&current, &w_rec, &beta, &theta, membrane)?
        .squeeze(1)?
        .to_vec2::<f64>()?;
    let s = rlif(&current, &w_rec, &beta, &theta, LifRule::default())?
        .squeeze(1)?
        .to_vec2::<f64>()?;
    let want_v0 = [
        0.625,
        0.9375,
        1.09375,
        0.296875,
        0.7734375,
        1.01171875,
        0.255859375,
        0.7529296875,
        1.00146484375,
    ];
    let want_v1 = [0.0, 0.0, 0.0, 0.5, 0.25, 0.125, 0.5625, 0.28125, 0.140625];
    assert_eq!(v.iter().map(|v| v[0]).collect::<Vec<_>>(), want_v0);
    assert_eq!(v.iter().map(|v| v[1]).collect::<Vec<_>>(), want_v1);
    assert_eq!(
        s.iter().map(|s| s[0]).collect::<Vec<_>>(),
        [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    );
    assert!(s.iter().all(|s| s[1] == 0.0));
    let alone = flat(&lif(
        &current.narrow(2, 0, 1)?,
        &beta.narrow(0, 0, 1)?,
        &theta.narrow(0, 0, 1)?,
        LifRule::default(),
    )?);
    assert_eq!(alone, [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    Ok(())
}

#[test]
fn without_recurrent_weights_the_layer_is_the_lif_layer() -> Result<()> {
    let [current, _, beta, theta] = inputs([15, 2, 6], 41, DType::F64)?;
    let zero = Tensor::zeros((6, 6), DType::F64, &Device::Cpu)?;
    let weights = uniform(&[15, 2, 6], -1.0, 1.0, 7, DType::F64)?;
    for rule in all_rules() {
        let rlif_in = [current.clone(), zero.clone(), beta.clone(), theta.clone()];
        let (_, recurrent) = loss_and_grads(layer(rule, None), &rlif_in, &weights)?;
        let lif_in = [current.clone(), beta.clone(), theta.clone()];
        let (_, plain) = loss_and_grads(|x| lif(&x[0], &x[1], &x[2], rule), &lif_in, &weights)?;
        assert_eq!(
            flat(&layer(rule, None)(&rlif_in)?),
            flat(&lif(&current, &beta, &theta, rule)?),
            "{rule:?}"
        );
        for (k, l) in [(0, 0), (2, 1), (3, 2)] {
            let error = relative_error(&recurrent[k], &plain[l]);
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
        for (dims, seed) in [([20, 3, 9], 11), ([12, 21, 37], 12)] {
            let inputs = inputs(dims, seed, dtype)?;
            for rule in all_rules() {
                let fused = layer(rule, None)(&inputs)?;
                let reference = layer(rule, Some(SpikeForward::Heaviside))(&inputs)?;
                assert_eq!(
                    flat(&fused),
                    flat(&reference),
                    "{dtype:?} {dims:?} {rule:?}"
                );
            }
            let spikes = flat(&layer(LifRule::default(), None)(&inputs)?);
            let rate = spikes.iter().sum::<f64>() / spikes.len() as f64;
            assert!(
                rate > 0.1 && rate < 0.6,
                "the test currents should make neurons fire often, rate {rate}"
            );
        }
    }
    Ok(())
}

#[test]
fn fused_backward_equals_the_reference() -> Result<()> {
    for (dtype, tolerance) in [(DType::F32, 2e-5), (DType::F64, 1e-12)] {
        // The second size spans two blocks of the backward pass (21 rows) and a product wider
        // than gemm's register tiles (37 neurons).
        for (dims, seed) in [([20, 3, 9], 21), ([12, 21, 37], 22)] {
            let inputs = inputs(dims, seed, dtype)?;
            let weights = uniform(&dims, -1.0, 1.0, 5, dtype)?;
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
                        "{dtype:?} {dims:?} {rule:?}: d/d{name} differs by {error:e} (relative)"
                    );
                }
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
    // 40 rows: three blocks of the backward pass, the last one short.
    let inputs = inputs([12, 40, 19], 51, DType::F32)?;
    let weights = uniform(&[12, 40, 19], -1.0, 1.0, 8, DType::F32)?;
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
    let [current, w_rec, beta, theta] = inputs([4, 2, 5], 1, DType::F32)?;
    let wide = uniform(&[5, 6], -0.1, 0.1, 2, DType::F32)?;
    let message = rlif(&current, &wide, &beta, &theta, LifRule::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("w_rec"), "{message}");
    let short = uniform(&[4], 0.5, 0.9, 3, DType::F32)?;
    let message = rlif(&current, &w_rec, &beta, &short, LifRule::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("threshold"), "{message}");
    let message = rlif(
        &current,
        &w_rec.to_dtype(DType::F64)?,
        &beta,
        &theta,
        LifRule::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("w_rec"), "{message}");
    let message = rlif(&current.get(0)?, &w_rec, &beta, &theta, LifRule::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("rank"), "{message}");
    let u = |t: &Tensor| t.to_dtype(DType::U32);
    let message = rlif(
        &u(&current)?,
        &u(&w_rec)?,
        &u(&beta)?,
        &u(&theta)?,
        LifRule::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(message.contains("f32 or f64"), "{message}");
    Ok(())
}
