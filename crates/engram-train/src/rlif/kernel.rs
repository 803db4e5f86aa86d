//! The fused recurrent LIF kernels on plain slices: the forward pass over all `T` steps, and the
//! backward pass (backpropagation through time) that recomputes the membrane trace and sweeps it
//! in reverse.
//!
//! Backward, with `dv_t = ∂L/∂v_t` accumulated from `t = T−1` down, `du_t = ∂L/∂u_t` for the
//! value before the reset `u_t = β·v_{t−1} + I_t + r_t` (`du_T = dv_T = 0`), `σ'_t` the
//! surrogate at `v_t − θ` and `g^s_t`/`g^v_t` the incoming gradient of the spike or membrane
//! output:
//!
//! ```text
//! ∂L/∂s_t = g^s_t + du_{t+1}·Wᵀ − [not detached]·(θ·dv_{t+1}  (subtract) | u_{t+1}·dv_{t+1}  (zero))
//! dx_t    = ∂L/∂s_t·σ'_t
//! dv_t    = g^v_t + dx_t + β·du_{t+1}
//! du_t    = dv_t·(1  (subtract) | 1 − s_{t−1}  (zero))
//! ∂L/∂I_t = du_t,  ∂L/∂β += du_t·v_{t−1},  ∂L/∂θ += −dx_t − [subtract]·s_t·dv_{t+1}
//! ∂L/∂W   = Σ_t s_{t−1}ᵀ·du_t
//! ```
//!
//! Parallelism, chosen so that no result depends on the thread count:
//! - forward: batch rows in parallel (rayon); each row adds, per step, the rows of `W` of its
//!   active neurons in increasing order;
//! - backward: blocks of [`BLOCK`] consecutive batch rows in parallel (the blocks depend only on
//!   `B`); each block recomputes its trace and makes one `[rows, N]×[N, N]` product
//!   `du_{t+1}·Wᵀ` per step with single-threaded `gemm`; `∂L/∂β`, `∂L/∂θ` are summed per block
//!   in a fixed order (step down, row up) and then over blocks in batch order;
//! - `∂L/∂W` after the sweep: rows of `W` (presynaptic neurons) in parallel, each the sum of
//!   `du_t` rows over that neuron's spikes in `(t, b)` order (sparse in `s`).

use std::ops::Range;

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use crate::cpu::{DisjointWriter, Real};
pub use crate::lif::kernel::Dims;
use crate::lif::kernel::add_into;
use crate::lif::{LifOutput, LifRule, Reset};
use crate::surrogate::heaviside;

/// Batch rows per block of the backward pass (one `gemm` of `BLOCK` rows per step).
pub const BLOCK: usize = 16;

/// The recurrent weights `W` `[N, N]` (row = presynaptic) and the per-neuron parameters `[N]`.
#[derive(Clone, Copy)]
pub struct Params<'a, F> {
    pub weights: &'a [F],
    pub beta: &'a [F],
    pub threshold: &'a [F],
}

/// The gradients of a recurrent LIF layer's inputs.
pub struct Grads<F> {
    pub current: Vec<F>,
    pub weights: Vec<F>,
    pub beta: Vec<F>,
    pub threshold: Vec<F>,
}

/// One batch row's state: `v` and `s` hold step `t−1` on entry and step `t` on exit, `before`
/// the step's values before the reset `u_t`; `active` lists the neurons with `s = 1`.
struct Row<F> {
    v: Vec<F>,
    s: Vec<F>,
    before: Vec<F>,
    active: Vec<usize>,
}

impl<F: Real> Row<F> {
    fn new(n: usize) -> Self {
        let zeros = vec![F::zero(); n];
        Row {
            v: zeros.clone(),
            s: zeros.clone(),
            before: zeros,
            active: Vec::new(),
        }
    }

    /// One step of every neuron of the row.
    fn step(&mut self, reset: Reset, p: Params<F>, current: &[F]) {
        let n = current.len();
        let one = F::one();
        // r_t, gathered into `before`: the rows of W of the neurons that spiked, in order.
        self.before.fill(F::zero());
        for &i in &self.active {
            let row = &p.weights[i * n..(i + 1) * n];
            self.before.iter_mut().zip(row).for_each(|(r, &w)| *r += w);
        }
        let (v, s, before) = (&mut self.v[..n], &mut self.s[..n], &mut self.before[..n]);
        let (beta, threshold) = (&p.beta[..n], &p.threshold[..n]);
        for j in 0..n {
            let u = beta[j] * v[j] + current[j] + before[j];
            before[j] = u;
            v[j] = match reset {
                Reset::Subtract => u - s[j] * threshold[j],
                Reset::Zero => u * (one - s[j]),
            };
            s[j] = heaviside(v[j] - threshold[j]);
        }
        self.active.clear();
        self.active.extend((0..n).filter(|&j| s[j] > F::zero()));
    }
}

/// The layer's output (spikes or membrane, per `rule.output`) for input `current` `[T, B, N]`.
pub fn forward<F: Real>(rule: &LifRule, dims: Dims, current: &[F], p: Params<F>) -> Vec<F> {
    check(dims, current, p);
    let n = dims.neurons;
    let mut out = vec![F::zero(); dims.len()];
    let writer = DisjointWriter::new(&mut out);
    (0..dims.batch).into_par_iter().for_each(|b| {
        let mut row = Row::new(n);
        for t in 0..dims.steps {
            let start = dims.at(t, b);
            row.step(rule.reset, p, &current[start..start + n]);
            // SAFETY: step t of batch row b is written by this task alone.
            let out = unsafe { writer.run(start, n) };
            out.copy_from_slice(match rule.output {
                LifOutput::Spikes => &row.s,
                LifOutput::Membrane => &row.v,
            });
        }
    });
    out
}

fn check<F>(dims: Dims, current: &[F], p: Params<F>) {
    let n = dims.neurons;
    assert_eq!(current.len(), dims.len(), "current is not [T, B, N]");
    assert_eq!(
        p.weights.len(),
        n * n,
        "the recurrent weights are not [N, N]"
    );
    assert!(
        p.beta.len() == n && p.threshold.len() == n,
        "beta or threshold is not [N]"
    );
}

/// The gradients of `Σ grad_out·output` with respect to the current, `W`, `β` and `θ`.
pub fn backward<F: Real>(
    rule: &LifRule,
    dims: Dims,
    current: &[F],
    p: Params<F>,
    grad_out: &[F],
) -> Grads<F> {
    check(dims, current, p);
    assert_eq!(
        grad_out.len(),
        dims.len(),
        "the output gradient is not [T, B, N]"
    );
    let n = dims.neurons;
    let mut grad_current = vec![F::zero(); dims.len()];
    let mut spikes = vec![0u8; dims.len()];
    let current_writer = DisjointWriter::new(&mut grad_current);
    let spike_writer = DisjointWriter::new(&mut spikes);
    let blocks: Vec<Range<usize>> = (0..dims.batch)
        .step_by(BLOCK)
        .map(|b| b..(b + BLOCK).min(dims.batch))
        .collect();
    let per_block: Vec<(Vec<F>, Vec<F>)> = blocks
        .into_par_iter()
        .map(|rows| {
            backward_block(
                rule,
                dims,
                rows,
                current,
                p,
                grad_out,
                &current_writer,
                &spike_writer,
            )
        })
        .collect();
    let (mut beta, mut threshold) = (vec![F::zero(); n], vec![F::zero(); n]);
    for (block_beta, block_threshold) in per_block {
        add_into(&mut beta, &block_beta);
        add_into(&mut threshold, &block_threshold);
    }
    let weights = weight_gradient(dims, &spikes, &grad_current);
    Grads {
        current: grad_current,
        weights,
        beta,
        threshold,
    }
}


/// `∂L/∂W = Σ_t s_{t−1}ᵀ·du_t`, with `du_t = ∂L/∂I_t`: row `i` sums the `du_t` rows of the
/// steps after neuron `i` spiked, in `(t, b)` order.
fn weight_gradient<F: Real>(dims: Dims, spikes: &[u8], du: &[F]) -> Vec<F> {
    let n = dims.neurons;
    let rows = dims.steps.saturating_sub(1) * dims.batch;
    let mut after_spike: Vec<Vec<usize>> = vec![Vec::new(); n];
    for r in 0..rows {
        for (i, _) in spikes[r * n..(r + 1) * n]
            .iter()
            .enumerate()
            .filter(|(_, s)| **s != 0)
        {
            after_spike[i].push(r + dims.batch);
        }
    }
    let mut weights = vec![F::zero(); n * n];
    if n > 0 {
        weights
            .par_chunks_mut(n)
            .zip(&after_spike)
            .for_each(|(w, rows)| {
                for &r in rows {
                    add_into(w, &du[r * n..(r + 1) * n]);
                }
            });
    }
    weights
}

/// `out = x·Wᵀ` for `x` `[rows, N]`: `out[b, i] = Σ_j x[b, j]·W[i, j]`, single-threaded.
fn times_transpose<F: Real>(x: &[F], weights: &[F], n: usize, out: &mut [F]) {
    let rows = x.len() / n.max(1);
    assert!(x.len() == rows * n && out.len() == x.len() && weights.len() == n * n);
    if rows == 0 || n == 0 {
        return;
    }
    let n_stride = n as isize;
    // SAFETY: out is [rows, N] and x [rows, N] row-major (row stride N, column stride 1);
    // Wᵀ is read as a [N, N] matrix with element (j, i) at W[i·N + j] (row stride 1, column
    // stride N); all in bounds (asserted above); out does not alias x or W.
    unsafe {
        gemm(
            rows,
            n,
            n,
            out.as_mut_ptr(),
            1,
            n_stride,
            false,
            x.as_ptr(),
            1,
            n_stride,
            weights.as_ptr(),
            n_stride,
            1,
            F::zero(),
            F::one(),
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// Backward over the batch rows `rows`: writes their current gradient and spikes, and returns
/// their (`β`, `θ`) gradients.
#[allow(clippy::too_many_arguments)]
fn backward_block<F: Real>(
    rule: &LifRule,
    dims: Dims,
    rows: Range<usize>,
    current: &[F],
    p: Params<F>,
    grad_out: &[F],
    current_writer: &DisjointWriter<F>,
    spike_writer: &DisjointWriter<u8>,
) -> (Vec<F>, Vec<F>) {
    let n = dims.neurons;
    let m = rows.len();
    let (zero, one) = (F::zero(), F::one());
    // v_t and (for an attached zero reset) u_t of every row of the block, [T, m, N].
    let keep_before = rule.reset == Reset::Zero && !rule.detach_reset;
    let mut v_trace = vec![zero; dims.steps * m * n];
    let mut before_trace = if keep_before {
        vec![zero; dims.steps * m * n]
    } else {
        Vec::new()
    };
    for (r, b) in rows.clone().enumerate() {
        let mut row = Row::new(n);
        for t in 0..dims.steps {
            let start = dims.at(t, b);
            row.step(rule.reset, p, &current[start..start + n]);
            let local = (t * m + r) * n;
            v_trace[local..local + n].copy_from_slice(&row.v);
            if keep_before {
                before_trace[local..local + n].copy_from_slice(&row.before);
            }
            // SAFETY: step t of batch row b is written by this task alone.
            let spikes = unsafe { spike_writer.run(start, n) };
            spikes
                .iter_mut()
                .zip(&row.s)
                .for_each(|(o, &s)| *o = u8::from(s > zero));
        }
    }

    let rest = vec![zero; m * n];
    // du_{t+1}, dv_{t+1} and du_{t+1}·Wᵀ of the block's rows, [m, N].
    let (mut du_next, mut dv_next, mut recurrent) =
        (vec![zero; m * n], vec![zero; m * n], vec![zero; m * n]);
    let (mut dist, mut slope) = (vec![zero; m * n], vec![zero; m * n]);
    let (mut d_beta, mut d_theta) = (vec![zero; n], vec![zero; n]);
    let spikes_out = rule.output == LifOutput::Spikes;
    for t in (0..dims.steps).rev() {
        let v_t = &v_trace[t * m * n..(t + 1) * m * n];
        let v_prev = if t > 0 {
            &v_trace[(t - 1) * m * n..t * m * n]
        } else {
            &rest
        };
        for (d, v) in dist.chunks_mut(n).zip(v_t.chunks(n)) {
            d.iter_mut()
                .zip(v)
                .zip(p.threshold)
                .for_each(|((d, &v), &theta)| *d = v - theta);
        }
        rule.surrogate.derivative_into(&dist, &mut slope);
        // Rows rows.start.. of step t are contiguous in [T, B, N].
        let start = dims.at(t, rows.start);
        let g = &grad_out[start..start + m * n];
        // SAFETY: step t of the block's batch rows is written by this task alone.
        let g_current = unsafe { current_writer.run(start, m * n) };
        for (r, j) in (0..m).flat_map(|r| (0..n).map(move |j| (r, j))) {
            let k = r * n + j;
            let (beta, theta) = (p.beta[j], p.threshold[j]);
            let (g_s, g_v) = if spikes_out {
                (g[k], zero)
            } else {
                (zero, g[k])
            };
            let s_t = heaviside(dist[k]);
            let reset_term = match (rule.detach_reset, rule.reset) {
                (true, _) => zero,
                (false, Reset::Subtract) => theta * dv_next[k],
                (false, Reset::Zero) if t + 1 < dims.steps => {
                    before_trace[((t + 1) * m) * n + k] * dv_next[k]
                }
                (false, Reset::Zero) => zero,
            };
            let dx = (g_s + recurrent[k] - reset_term) * slope[k];
            let dv = g_v + dx + beta * du_next[k];
            let du = match rule.reset {
                Reset::Zero if t > 0 => dv * (one - heaviside(v_prev[k] - theta)),
                _ => dv,
            };
            d_theta[j] = match rule.reset {
                Reset::Subtract => d_theta[j] - dx - s_t * dv_next[k],
                Reset::Zero => d_theta[j] - dx,
            };
            d_beta[j] += du * v_prev[k];
            g_current[k] = du;
            dv_next[k] = dv;
            du_next[k] = du;
        }
        if t > 0 {
            times_transpose(&du_next, p.weights, n, &mut recurrent);
        }
    }
    (d_beta, d_theta)
}
