//! The event-driven dense layer: a linear map whose input is spikes, computed from the active
//! inputs only.
//!
//! ```text
//! y[r, :] = b + Σ_{i : x[r,i] ≠ 0} x[r,i] · W[i, :]          (forward: gather-add of weight rows)
//! ∂L/∂W[i, :] = Σ_{r : x[r,i] ≠ 0} x[r,i] · ∂L/∂y[r, :]       (weight gradient: sparse outer product)
//! ∂L/∂b = Σ_r ∂L/∂y[r, :]
//! ```
//!
//! `x` is `[..., I]` (any leading dimensions, e.g. `[T, B, I]`), `W` is `[I, O]` (row = input,
//! the transpose of candle-nn's `Linear`), `b` is `[O]`, `y` is `[..., O]`. With rate-coded MNIST
//! about 13 % of inputs are active, so both passes do about an eighth of a dense product's work.
//! The input gradient `∂L/∂x = ∂L/∂y · Wᵀ` is dense; it is computed (by candle's matmul) only when
//! `x` is itself the output of a differentiable op, never for data.
//!
//! Forward rows and backward column blocks run in parallel (rayon); every output element is
//! summed in a fixed order by one task, so results do not depend on the thread count.

use std::any::Any;
use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

use crate::cpu::{DisjointWriter, Real, storage_slice, with_slice};

/// `x · W + b`, touching only the non-zero elements of `x`.
pub fn event_linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        EventLinear::default(),
    )
}

/// The non-zero inputs of each row, in compressed-row form.
pub struct Events<F> {
    /// Row `r`'s events are `offsets[r]..offsets[r + 1]` of `inputs` and `values`.
    offsets: Vec<usize>,
    inputs: Vec<u32>,
    values: Vec<F>,
}

impl<F: Real> Events<F> {
    /// The events of `x`, read as rows of `width` elements.
    pub fn gather(x: &[F], width: usize) -> Self {
        let rows = x.len() / width;
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        // Every element is written and the cursor advances only past non-zero ones: no branch
        // on the (unpredictable) spike, so the scan runs at a few cycles per element. The
        // buffers are written, not zeroed first: they are as long as the input.
        let (mut inputs, mut values) = (Vec::with_capacity(x.len()), Vec::with_capacity(x.len()));
        let (input_slots, value_slots) = (inputs.spare_capacity_mut(), values.spare_capacity_mut());
        let mut count = 0;
        for row in x.chunks_exact(width) {
            for (i, &value) in row.iter().enumerate() {
                input_slots[count].write(i as u32);
                value_slots[count].write(value);
                count += usize::from(value != F::zero());
            }
            offsets.push(count);
        }
        // SAFETY: the first `count` slots of both buffers were written above.
        unsafe {
            inputs.set_len(count);
            values.set_len(count);
        }
        Events {
            offsets,
            inputs,
            values,
        }
    }

    fn row(&self, r: usize) -> impl Iterator<Item = (usize, F)> + '_ {
        let span = self.offsets[r]..self.offsets[r + 1];
        self.inputs[span.clone()]
            .iter()
            .zip(&self.values[span])
            .map(|(&i, &v)| (i as usize, v))
    }

    fn rows(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// Forward: `[rows, O]` from the events, `W` `[I, O]` and `b` `[O]`.
pub fn forward<F: Real>(events: &Events<F>, weight: &[F], bias: &[F]) -> Vec<F> {
    let width = bias.len();
    let mut out = vec![F::zero(); events.rows() * width];
    out.par_chunks_mut(width).enumerate().for_each(|(r, y)| {
        y.copy_from_slice(bias);
        for (i, value) in events.row(r) {
            let w = &weight[i * width..(i + 1) * width];
            if value == F::one() {
                y.iter_mut().zip(w).for_each(|(y, &w)| *y = *y + w);
            } else {
                y.iter_mut().zip(w).for_each(|(y, &w)| *y = *y + value * w);
            }
        }
    });
    out
}

/// Output columns per backward task: the task's block of `∂L/∂W` (`I × 128` values, 400 KB for
/// 784 inputs) stays in L2 while the rows of `∂L/∂y` stream past once.
const GRAD_BLOCK: usize = 128;

/// Backward: the gradients of `W` `[I, O]` and `b` `[O]` from the events and `∂L/∂y` `[rows, O]`.
pub fn weight_grads<F: Real>(
    events: &Events<F>,
    inputs: usize,
    grad: &[F],
    width: usize,
) -> (Vec<F>, Vec<F>) {
    let blocks: Vec<(usize, usize)> = (0..width)
        .step_by(GRAD_BLOCK)
        .map(|j| (j, (j + GRAD_BLOCK).min(width)))
        .collect();
    let mut d_weight = vec![F::zero(); inputs * width];
    let writer = DisjointWriter::new(&mut d_weight);
    let d_bias_parts: Vec<Vec<F>> = blocks
        .par_iter()
        .map(|&(start, end)| {
            let span = end - start;
            let (mut block, mut d_bias) = (vec![F::zero(); inputs * span], vec![F::zero(); span]);
            for r in 0..events.rows() {
                let g = &grad[r * width + start..r * width + end];
                d_bias.iter_mut().zip(g).for_each(|(d, &g)| *d = *d + g);
                for (i, value) in events.row(r) {
                    let d = &mut block[i * span..(i + 1) * span];
                    if value == F::one() {
                        d.iter_mut().zip(g).for_each(|(d, &g)| *d = *d + g);
                    } else {
                        d.iter_mut().zip(g).for_each(|(d, &g)| *d = *d + value * g);
                    }
                }
            }
            for i in 0..inputs {
                // SAFETY: columns start..end of every row belong to this task alone.
                unsafe { writer.run(i * width + start, span) }
                    .copy_from_slice(&block[i * span..(i + 1) * span]);
            }
            d_bias
        })
        .collect();
    (d_weight, d_bias_parts.concat())
}

/// The op; it keeps the events its forward pass gathered for its backward pass (an op's
/// input cannot change in between), so the input is scanned once per step.
#[derive(Default)]
struct EventLinear {
    kept: Mutex<Option<Box<dyn Any + Send>>>,
}

impl EventLinear {
    fn keep<F: Real>(&self, events: Events<F>) {
        *self.kept.lock().expect("no panic while holding the lock") = Some(Box::new(events));
    }

    /// The forward pass's events of `x`, or (if there are none of this dtype) gathered anew.
    fn events_of<F: Real>(&self, x: &[F], inputs: usize) -> Events<F> {
        let kept = self
            .kept
            .lock()
            .expect("no panic while holding the lock")
            .take();
        kept.and_then(|k| k.downcast::<Events<F>>().ok())
            .map_or_else(|| Events::gather(x, inputs), |events| *events)
    }
}

/// `(rows, inputs, outputs)` of `x` `[..., I]`, `W` `[I, O]`, `b` `[O]`.
fn extents(x: &Shape, weight: &Shape, bias: &Shape) -> Result<(usize, usize, usize)> {
    let (inputs, outputs) = weight.dims2()?;
    let x_dims = x.dims();
    if x_dims.last() != Some(&inputs) || bias.dims() != [outputs] {
        bail!(
            "event_linear: input {x:?}, weight {weight:?} and bias {bias:?} do not fit ([..., I], [I, O], [O])"
        )
    }
    Ok((x.elem_count() / inputs.max(1), inputs, outputs))
}

fn forward_typed<F: Real>(
    op: &EventLinear,
    x: (&CpuStorage, &Layout),
    weight: (&CpuStorage, &Layout),
    bias: (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let (_, inputs, outputs) = extents(x.1.shape(), weight.1.shape(), bias.1.shape())?;
    let events = Events::gather(storage_slice::<F>(x.0, x.1, "event_linear input")?, inputs);
    let y = forward(
        &events,
        storage_slice(weight.0, weight.1, "event_linear weight")?,
        storage_slice(bias.0, bias.1, "event_linear bias")?,
    );
    op.keep(events);
    let mut dims = x.1.shape().dims().to_vec();
    *dims.last_mut().expect("checked by extents") = outputs;
    Ok((F::to_cpu_storage_owned(y), Shape::from(dims)))
}

fn weight_grads_typed<F: Real>(
    op: &EventLinear,
    x: &Tensor,
    weight: &Tensor,
    grad: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let (inputs, outputs) = weight.dims2()?;
    let (d_weight, d_bias) = with_slice::<F, _>(x, "event_linear input", |x| {
        let events = op.events_of(x, inputs);
        with_slice(grad, "event_linear output gradient", |g| {
            Ok(weight_grads(&events, inputs, g, outputs))
        })
    })?;
    Ok((
        Tensor::from_vec(d_weight, (inputs, outputs), x.device())?,
        Tensor::from_vec(d_bias, outputs, x.device())?,
    ))
}

impl CustomOp3 for EventLinear {
    fn name(&self) -> &'static str {
        "engram-event-linear"
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
        if s2.dtype() != s1.dtype() || s3.dtype() != s1.dtype() {
            bail!(
                "event_linear: input, weight and bias must share one dtype, got {:?}, {:?}, {:?}",
                s1.dtype(),
                s2.dtype(),
                s3.dtype()
            )
        }
        match s1.dtype() {
            DType::F32 => forward_typed::<f32>(self, (s1, l1), (s2, l2), (s3, l3)),
            DType::F64 => forward_typed::<f64>(self, (s1, l1), (s2, l2), (s3, l3)),
            other => bail!("event_linear: the input must be f32 or f64, got {other:?}"),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (d_weight, d_bias) = match x.dtype() {
            DType::F32 => weight_grads_typed::<f32>(self, x, weight, &grad)?,
            DType::F64 => weight_grads_typed::<f64>(self, x, weight, &grad)?,
            other => bail!("event_linear: the input must be f32 or f64, got {other:?}"),
        };
        let d_x = if x.track_op() {
            Some(grad.broadcast_matmul(&weight.t()?)?)
        } else {
            None
        };
        Ok((d_x, Some(d_weight), Some(d_bias)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};
    use rand::{RngExt, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    use super::*;

    /// A `[T, B, I]` input with about `density` of its elements non-zero: binary spikes, plus a
    /// few graded values to exercise the scaled path.
    fn sparse_input(dims: [usize; 3], density: f64, seed: u64, dtype: DType) -> Result<Tensor> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let values: Vec<f64> = (0..dims.iter().product())
            .map(|_| {
                if rng.random_bool(density) {
                    if rng.random_bool(0.9) {
                        1.0
                    } else {
                        rng.random_range(-2.0..2.0)
                    }
                } else {
                    0.0
                }
            })
            .collect();
        Tensor::from_vec(values, &dims, &Device::Cpu)?.to_dtype(dtype)
    }

    fn dense(shape: &[usize], seed: u64, dtype: DType) -> Result<Tensor> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let values: Vec<f64> = (0..shape.iter().product())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        Tensor::from_vec(values, shape, &Device::Cpu)?.to_dtype(dtype)
    }

    fn max_relative(a: &Tensor, b: &Tensor) -> Result<f64> {
        let (a, b) = (
            a.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?,
            b.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?,
        );
        let scale = b.iter().fold(1e-30f64, |m, x| m.max(x.abs()));
        Ok(a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
            / scale)
    }

    /// Forward output and the gradients of `Σ y·R` for x, W, b through `layer`.
    fn run(
        layer: impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        r: &Tensor,
    ) -> Result<Vec<Tensor>> {
        let (xv, wv, bv) = (
            Var::from_tensor(x)?,
            Var::from_tensor(w)?,
            Var::from_tensor(b)?,
        );
        let y = layer(xv.as_tensor(), wv.as_tensor(), bv.as_tensor())?;
        let grads = y.mul(r)?.sum_all()?.backward()?;
        Ok(vec![
            y,
            grads.get(&xv).unwrap().clone(),
            grads.get(&wv).unwrap().clone(),
            grads.get(&bv).unwrap().clone(),
        ])
    }

    #[test]
    fn matches_the_dense_product_forward_and_backward() -> Result<()> {
        for (dtype, tolerance) in [(DType::F32, 1e-5), (DType::F64, 1e-13)] {
            let x = sparse_input([5, 30, 300], 0.13, 1, dtype)?;
            let (w, b, r) = (
                dense(&[300, 200], 2, dtype)?,
                dense(&[200], 3, dtype)?,
                dense(&[5, 30, 200], 4, dtype)?,
            );
            let fast = run(event_linear, &x, &w, &b, &r)?;
            let reference = run(
                |x, w, b| x.broadcast_matmul(w)?.broadcast_add(b),
                &x,
                &w,
                &b,
                &r,
            )?;
            for (name, (f, d)) in ["output", "d/dx", "d/dW", "d/db"]
                .iter()
                .zip(fast.iter().zip(&reference))
            {
                assert_eq!(f.dims(), d.dims(), "{name}");
                let error = max_relative(f, d)?;
                assert!(
                    error <= tolerance,
                    "{dtype:?} {name}: relative difference {error:e}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn data_inputs_get_no_gradient_and_the_weight_gradient_is_the_event_sum() -> Result<()> {
        let x = Tensor::new(&[[0.0f64, 1.0, 0.0], [1.0, 1.0, 0.0]], &Device::Cpu)?;
        let w = Var::from_tensor(&Tensor::new(
            &[[1.0f64, 2.0], [3.0, 4.0], [5.0, 6.0]],
            &Device::Cpu,
        )?)?;
        let b = Var::from_tensor(&Tensor::new(&[0.5f64, -0.5], &Device::Cpu)?)?;
        let y = event_linear(&x, w.as_tensor(), b.as_tensor())?;
        assert_eq!(y.to_vec2::<f64>()?, [[3.5, 3.5], [4.5, 5.5]]);
        let grads = y.sum_all()?.backward()?;
        assert_eq!(
            grads.get(w.as_tensor()).unwrap().to_vec2::<f64>()?,
            [[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]
        );
        assert_eq!(
            grads.get(b.as_tensor()).unwrap().to_vec1::<f64>()?,
            [2.0, 2.0]
        );
        assert!(grads.get(&x).is_none());
        Ok(())
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() -> Result<()> {
        let x = sparse_input([4, 8, 100], 0.2, 5, DType::F32)?;
        let (w, b, r) = (
            dense(&[100, 300], 6, DType::F32)?,
            dense(&[300], 7, DType::F32)?,
            dense(&[4, 8, 300], 8, DType::F32)?,
        );
        let on = |threads| -> Result<Vec<Vec<f32>>> {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| run(event_linear, &x, &w, &b, &r))?
                .iter()
                .map(|t| t.flatten_all()?.to_vec1())
                .collect()
        };
        assert_eq!(on(1)?, on(3)?);
        Ok(())
    }

    #[test]
    fn shapes_that_do_not_fit_are_errors() -> Result<()> {
        let x = Tensor::zeros((2, 3, 4), DType::F32, &Device::Cpu)?;
        let w = Tensor::zeros((5, 2), DType::F32, &Device::Cpu)?;
        let b = Tensor::zeros(2, DType::F32, &Device::Cpu)?;
        let message = event_linear(&x, &w, &b).unwrap_err().to_string();
        assert!(message.contains("do not fit"), "{message}");
        Ok(())
    }
}
