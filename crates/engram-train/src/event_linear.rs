//! The event-driven dense layer: a linear map whose input is spikes, computed from the active
//! inputs only, and from the changes of each input rather than its every step.
//!
//! ```text
//! y[t, b, :] = bias + Σ_{i : x[t,b,i] ≠ 0} x[t,b,i] · W[i, :]        (forward)
//! ∂L/∂W[i, :] = Σ_{t,b : x[t,b,i] ≠ 0} x[t,b,i] · ∂L/∂y[t, b, :]      (weight gradient)
//! ∂L/∂b = Σ_{t,b} ∂L/∂y[t, b, :]
//! ```
//!
//! `x` is `[T, B, I]` (time first; `[B, I]` or more leading dimensions are read as `T = 1` or
//! `[T, B…, I]`), `W` is `[I, O]` (row = input, the transpose of candle-nn's `Linear`), `b` is
//! `[O]`, `y` is `[T, B, O]`. The input gradient `∂L/∂x = ∂L/∂y · Wᵀ` is dense; it is computed
//! (by candle's matmul) only when `x` is itself the output of a differentiable op, never for data.
//!
//! **Runs.** The input is read as runs: input `i` of sample `b` holding one non-zero value `v`
//! over steps `t0..t1`. A short run adds `v·W[i]` to each of its steps. A long run adds it once
//! to a per-sample difference buffer at `t0` and subtracts it at `t1`; a running sum over the
//! steps then adds it to every step in between (Σ-Δ form). In the backward pass a long run's
//! weight gradient is `v·(P[t1] − P[t0])`, with `P` the running sum of `∂L/∂y` over steps. Both
//! forms are exact; they differ only in float rounding. Rate-coded MNIST has about 2,550 active
//! (step, input) pairs per sample but only about 450 runs, most of the long ones pixels near
//! full intensity, so both passes read about a quarter of the weight rows a per-step gather
//! reads. Inputs without temporal structure (hidden-layer spikes) are mostly runs of one step,
//! which take the per-step path.
//!
//! Forward samples and backward column blocks run in parallel (rayon); every output element is
//! summed in a fixed order by one task, so results do not depend on the thread count.

use std::mem::MaybeUninit;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

use crate::cpu::{
    DisjointWriter, ForBackward, Real, filled, same_dtype, storage_slice, with_slice, write_all,
};

/// `x · W + b`, touching only the non-zero elements of `x`.
pub fn event_linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        EventLinear::default(),
    )
}

/// Runs of at most this many steps are added step by step; longer ones through the difference
/// buffer (two row updates, plus the running sum shared by all long runs of the sample).
const SHORT_RUN: u32 = 2;

/// Layers with fewer outputs take every active step as its own event: a long run saves row
/// updates of only a few elements there, less than finding the runs costs.
const RUNS_FROM_OUTPUTS: usize = 64;

/// Elements compared at once when scanning the input for changes.
const SCAN_CHUNK: usize = 16;

/// Elements whose comparisons with zero make one bit mask (the bits of a `u64`).
const MASK_BLOCK: usize = 64;

/// Input `input` holds `value` (non-zero) on steps `start..end` of one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Run<F> {
    input: u32,
    start: u32,
    end: u32,
    value: F,
}

impl<F> Run<F> {
    fn is_long(&self) -> bool {
        self.end - self.start > SHORT_RUN
    }
}

/// The runs of non-zero input of each sample.
pub struct Events<F> {
    steps: usize,
    samples: usize,
    /// Sample `b`'s runs are `offsets[b]..offsets[b + 1]` of `runs`.
    offsets: Vec<usize>,
    runs: Vec<Run<F>>,
}

impl<F: Real> Events<F> {
    /// The runs of `x`, `[steps, samples, width]`, for a layer of `outputs` neurons: runs over
    /// steps when the outputs are many, one run per active step when they are few.
    pub fn gather(x: &[F], steps: usize, width: usize, outputs: usize) -> Self {
        if outputs >= RUNS_FROM_OUTPUTS {
            Self::gather_runs(x, steps, width)
        } else {
            Self::gather_steps(x, steps, width)
        }
    }

    /// Every non-zero element as a run of one step. Each block of 64 elements is compared at
    /// once into a bit mask (no branch on the unpredictable spike), and only its set bits are
    /// visited.
    fn gather_steps(x: &[F], steps: usize, width: usize) -> Self {
        let samples = x.len() / (steps * width).max(1);
        let per_sample: Vec<Vec<Run<F>>> = (0..samples)
            .into_par_iter()
            .map(|b| {
                let mut runs = Vec::new();
                for t in 0..steps {
                    let row = &x[(t * samples + b) * width..][..width];
                    for (block, values) in row.chunks(MASK_BLOCK).enumerate() {
                        let mut active = values.iter().enumerate().fold(0u64, |mask, (k, &v)| {
                            mask | (u64::from(v != F::zero()) << k)
                        });
                        while active != 0 {
                            let k = active.trailing_zeros() as usize;
                            runs.push(Run {
                                input: (block * MASK_BLOCK + k) as u32,
                                start: t as u32,
                                end: t as u32 + 1,
                                value: values[k],
                            });
                            active &= active - 1;
                        }
                    }
                }
                runs
            })
            .collect();
        Self::from_samples(steps, per_sample)
    }

    /// The maximal runs of one repeated non-zero value.
    fn gather_runs(x: &[F], steps: usize, width: usize) -> Self {
        let samples = x.len() / (steps * width).max(1);
        let per_sample: Vec<Vec<Run<F>>> = (0..samples)
            .into_par_iter()
            .map_init(
                || (vec![F::zero(); width], vec![0u32; width]),
                |(held, start), b| {
                    let mut runs = Vec::new();
                    for t in 0..steps {
                        let row = &x[(t * samples + b) * width..][..width];
                        // Most elements repeat the previous step's value (zero or the same
                        // spike): a branch-free compare over each chunk finds the few chunks
                        // where something changed, and only those are read element by element.
                        for (c, (values, held)) in row
                            .chunks(SCAN_CHUNK)
                            .zip(held.chunks_mut(SCAN_CHUNK))
                            .enumerate()
                        {
                            let changed = values
                                .iter()
                                .zip(&*held)
                                .fold(false, |any, (v, h)| any | (v != h));
                            if !changed {
                                continue;
                            }
                            let first = c * SCAN_CHUNK;
                            for (k, (&value, held)) in
                                values.iter().zip(held.iter_mut()).enumerate()
                            {
                                if value != *held {
                                    let i = first + k;
                                    if *held != F::zero() {
                                        runs.push(Run {
                                            input: i as u32,
                                            start: start[i],
                                            end: t as u32,
                                            value: *held,
                                        });
                                    }
                                    (start[i], *held) = (t as u32, value);
                                }
                            }
                        }
                    }
                    for (i, held) in held.iter_mut().enumerate() {
                        if *held != F::zero() {
                            runs.push(Run {
                                input: i as u32,
                                start: start[i],
                                end: steps as u32,
                                value: *held,
                            });
                        }
                        *held = F::zero();
                    }
                    runs
                },
            )
            .collect();
        Self::from_samples(steps, per_sample)
    }

    fn from_samples(steps: usize, per_sample: Vec<Vec<Run<F>>>) -> Self {
        let samples = per_sample.len();
        let mut offsets = Vec::with_capacity(samples + 1);
        offsets.push(0);
        for runs in &per_sample {
            offsets.push(offsets.last().expect("starts with 0") + runs.len());
        }
        Events {
            steps,
            samples,
            offsets,
            runs: per_sample.concat(),
        }
    }

    fn sample(&self, b: usize) -> &[Run<F>] {
        &self.runs[self.offsets[b]..self.offsets[b + 1]]
    }

    /// How many runs take the difference form (for tests).
    #[cfg(test)]
    fn long_runs(&self) -> usize {
        self.runs.iter().filter(|r| r.is_long()).count()
    }
}

/// `y += value · w`, elementwise, with a plain add for binary spikes.
fn add_scaled<F: Real>(y: &mut [F], w: &[F], value: F) {
    if value == F::one() {
        y.iter_mut().zip(w).for_each(|(y, &w)| *y += w);
    } else {
        y.iter_mut().zip(w).for_each(|(y, &w)| *y += value * w);
    }
}

/// Forward: `[T, B, O]` from the events, `W` `[I, O]` and `b` `[O]`. Each sample's rows are
/// summed in a buffer of the task's own and written to the output once.
pub fn forward<F: Real>(events: &Events<F>, weight: &[F], bias: &[F]) -> Vec<F> {
    let (steps, samples, width) = (events.steps, events.samples, bias.len());
    let fill = |out: &mut [MaybeUninit<F>]| {
        let writer = DisjointWriter::new(out);
        (0..samples).into_par_iter().for_each_init(
            || {
                let buffer = || vec![F::zero(); steps * width];
                (buffer(), buffer(), vec![F::zero(); width])
            },
            |(rows, diff, sum), b| {
                rows.chunks_exact_mut(width)
                    .for_each(|row| row.copy_from_slice(bias));
                let mut any_long = false;
                for run in events.sample(b) {
                    let w = &weight[run.input as usize * width..][..width];
                    let (start, end) = (run.start as usize, run.end as usize);
                    if run.is_long() {
                        any_long = true;
                        add_scaled(&mut diff[start * width..][..width], w, run.value);
                        if end < steps {
                            add_scaled(&mut diff[end * width..][..width], w, -run.value);
                        }
                    } else {
                        (start..end).for_each(|t| {
                            add_scaled(&mut rows[t * width..][..width], w, run.value)
                        });
                    }
                }
                sum.fill(F::zero());
                for (t, row) in rows.chunks_exact_mut(width).enumerate() {
                    if any_long {
                        let d = &mut diff[t * width..][..width];
                        sum.iter_mut().zip(d.iter_mut()).for_each(|(s, d)| {
                            *s += *d;
                            *d = F::zero();
                        });
                        add_scaled(row, sum, F::one());
                    }
                    // SAFETY: the rows (t, b), for every t, belong to this task alone.
                    write_all(unsafe { writer.run((t * samples + b) * width, width) }, row);
                }
            },
        )
    };
    // SAFETY: every row (t, b) is written above.
    unsafe { filled(steps * samples * width, fill) }
}

/// Output columns per backward task: the task's block of `∂L/∂W` (`I × 128` values, 400 KB for
/// 784 inputs) stays in L2 while the rows of `∂L/∂y` stream past once.
const GRAD_BLOCK: usize = 128;

/// Backward: the gradients of `W` `[I, O]` and `b` `[O]` from the events and `∂L/∂y` `[T, B, O]`.
pub fn weight_grads<F: Real>(
    events: &Events<F>,
    inputs: usize,
    grad: &[F],
    width: usize,
) -> (Vec<F>, Vec<F>) {
    let (steps, samples) = (events.steps, events.samples);
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
            // `running[t]` = Σ_{s<t} ∂L/∂y[s, b, start..end], for t = 0..=T.
            let mut running = vec![F::zero(); (steps + 1) * span];
            for b in 0..samples {
                let g = |t: usize| &grad[(t * samples + b) * width + start..][..span];
                for t in 0..steps {
                    let (before, after) = running.split_at_mut((t + 1) * span);
                    let next = &mut after[..span];
                    next.copy_from_slice(&before[t * span..]);
                    add_scaled(next, g(t), F::one());
                }
                add_scaled(&mut d_bias, &running[steps * span..], F::one());
                for run in events.sample(b) {
                    let d = &mut block[run.input as usize * span..][..span];
                    if run.is_long() {
                        let (from, to) = (run.start as usize * span, run.end as usize * span);
                        let (before, after) =
                            (&running[from..from + span], &running[to..to + span]);
                        if run.value == F::one() {
                            d.iter_mut()
                                .zip(after.iter().zip(before))
                                .for_each(|(d, (&a, &b))| *d += a - b);
                        } else {
                            d.iter_mut()
                                .zip(after.iter().zip(before))
                                .for_each(|(d, (&a, &b))| *d += run.value * (a - b));
                        }
                    } else {
                        (run.start as usize..run.end as usize)
                            .for_each(|t| add_scaled(d, g(t), run.value));
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
    kept: ForBackward,
}

impl EventLinear {
    /// The forward pass's events of `x`, or (if there are none of this dtype) gathered anew.
    fn events_of<F: Real>(
        &self,
        x: &[F],
        steps: usize,
        inputs: usize,
        outputs: usize,
    ) -> Events<F> {
        self.kept
            .take()
            .unwrap_or_else(|| Events::gather(x, steps, inputs, outputs))
    }
}

/// The steps of `x`: its first dimension when it has time, batch and feature dimensions.
fn steps_of(x: &Shape) -> usize {
    match x.dims() {
        [steps, _, _, ..] => *steps,
        _ => 1,
    }
}

/// `(steps, inputs, outputs)` of `x` `[T, ..., I]`, `W` `[I, O]`, `b` `[O]`.
fn extents(x: &Shape, weight: &Shape, bias: &Shape) -> Result<(usize, usize, usize)> {
    let (inputs, outputs) = weight.dims2()?;
    let x_dims = x.dims();
    if x_dims.last() != Some(&inputs) || bias.dims() != [outputs] {
        bail!(
            "event_linear: input {x:?}, weight {weight:?} and bias {bias:?} do not fit ([..., I], [I, O], [O])"
        )
    }
    Ok((steps_of(x), inputs, outputs))
}

fn forward_typed<F: Real>(
    op: &EventLinear,
    x: (&CpuStorage, &Layout),
    weight: (&CpuStorage, &Layout),
    bias: (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let (steps, inputs, outputs) = extents(x.1.shape(), weight.1.shape(), bias.1.shape())?;
    let x_elements = storage_slice::<F>(x.0, x.1, "event_linear input")?;
    let events = Events::gather(x_elements, steps, inputs, outputs);
    let y = forward(
        &events,
        storage_slice(weight.0, weight.1, "event_linear weight")?,
        storage_slice(bias.0, bias.1, "event_linear bias")?,
    );
    op.kept.keep(events);
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
    let steps = steps_of(x.shape());
    let (d_weight, d_bias) = with_slice::<F, _>(x, "event_linear input", |x| {
        let events = op.events_of(x, steps, inputs, outputs);
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
        same_dtype("event_linear", "input, weight and bias", [s1, s2, s3])?;
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

    /// A `[T, B, I]` rate-coded input: each (sample, input) fires with a rate drawn from
    /// {0, 0.3, 0.9, 1}, so runs of every length occur, up to the whole window; a few inputs
    /// carry a graded value instead of 1.
    fn rate_coded_input(dims: [usize; 3], seed: u64, dtype: DType) -> Result<Tensor> {
        let [steps, samples, inputs] = dims;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let rates: Vec<(f64, f64)> = (0..samples * inputs)
            .map(|_| {
                let rate = [0.0, 0.3, 0.9, 1.0][rng.random_range(0..4)];
                let value = if rng.random_bool(0.9) {
                    1.0
                } else {
                    rng.random_range(-2.0..2.0)
                };
                (rate, value)
            })
            .collect();
        let values: Vec<f64> = (0..steps)
            .flat_map(|_| rates.iter())
            .map(|&(rate, value)| if rng.random_bool(rate) { value } else { 0.0 })
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

    /// Asserts that `event_linear` on `x` `[T, B, I]` into `outputs` neurons gives the dense
    /// product's output and gradients, within `tolerance` relative to the largest value.
    fn assert_matches_the_dense_product(x: &Tensor, outputs: usize, tolerance: f64) -> Result<()> {
        let (steps, batch, inputs) = x.dims3()?;
        let dtype = x.dtype();
        let (w, b, r) = (
            dense(&[inputs, outputs], 2, dtype)?,
            dense(&[outputs], 3, dtype)?,
            dense(&[steps, batch, outputs], 4, dtype)?,
        );
        let fast = run(event_linear, x, &w, &b, &r)?;
        let reference = run(
            |x, w, b| x.broadcast_matmul(w)?.broadcast_add(b),
            x,
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
                "{dtype:?} {outputs} outputs, {name}: relative difference {error:e}"
            );
        }
        Ok(())
    }

    #[test]
    fn matches_the_dense_product_forward_and_backward() -> Result<()> {
        // 200 outputs take the runs, 10 the per-step events.
        for (dtype, tolerance) in [(DType::F32, 1e-5), (DType::F64, 1e-13)] {
            for outputs in [200, 10] {
                let x = sparse_input([5, 30, 300], 0.13, 1, dtype)?;
                assert_matches_the_dense_product(&x, outputs, tolerance)?;
            }
        }
        Ok(())
    }

    #[test]
    fn long_runs_match_the_dense_product_forward_and_backward() -> Result<()> {
        for (dtype, tolerance) in [(DType::F32, 1e-5), (DType::F64, 1e-13)] {
            let x = rate_coded_input([25, 12, 200], 11, dtype)?;
            let values = x.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
            let long_runs = Events::gather(&values, 25, 200, 150).long_runs();
            assert!(long_runs > 500, "{dtype:?}: only {long_runs} long runs");
            assert_matches_the_dense_product(&x, 150, tolerance)?;
        }
        Ok(())
    }

    #[test]
    fn runs_are_the_spans_of_one_repeated_value() {
        // One sample, two inputs, five steps: input 0 is 1,1,0,1,1; input 1 is 2,2,2,3,0.
        let x = [1.0f32, 2.0, 1.0, 2.0, 0.0, 2.0, 1.0, 3.0, 1.0, 0.0];
        let events = Events::gather(&x, 5, 2, RUNS_FROM_OUTPUTS);
        let runs = |input, start, end, value| Run {
            input,
            start,
            end,
            value,
        };
        assert_eq!(
            events.sample(0),
            [
                runs(0, 0, 2, 1.0),
                runs(1, 0, 3, 2.0),
                runs(1, 3, 4, 3.0),
                runs(0, 3, 5, 1.0)
            ]
        );
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
