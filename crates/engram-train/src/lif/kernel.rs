//! The fused LIF kernels on plain slices: the forward pass over all `T` steps, and the backward
//! pass (backpropagation through time) that recomputes one batch row's membrane trace and sweeps
//! it in reverse.
//!
//! Backward, with `dv_t = ∂L/∂v_t` accumulated from `t = T−1` down (`dv_T = 0`), `σ'_t` the
//! surrogate at `v_t − θ`, `g^s_t`/`g^v_t` the incoming gradient of the spike or membrane output:
//!
//! ```text
//! subtract:  ∂L/∂s_t = g^s_t − [not detached]·θ·dv_{t+1}
//!            dv_t    = g^v_t + ∂L/∂s_t·σ'_t + β·dv_{t+1}
//!            ∂L/∂I_t = dv_t,   ∂L/∂β += dv_t·v_{t−1},   ∂L/∂θ += −∂L/∂s_t·σ'_t − s_t·dv_{t+1}
//! zero:      u_{t+1} = β·v_t + I_{t+1}   (the value before the reset)
//!            ∂L/∂s_t = g^s_t − [not detached]·u_{t+1}·dv_{t+1}
//!            dv_t    = g^v_t + ∂L/∂s_t·σ'_t + (1 − s_t)·β·dv_{t+1}
//!            ∂L/∂I_t = (1 − s_{t−1})·dv_t,   ∂L/∂β += (1 − s_{t−1})·dv_t·v_{t−1},   ∂L/∂θ += −∂L/∂s_t·σ'_t
//! ```
//!
//! Batch rows run in parallel (rayon). The per-neuron gradients of `β` and `θ` are summed per
//! row and then over rows in batch order, so results do not depend on the thread count.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{LifOutput, LifRule, Reset};
use crate::cpu::{DisjointWriter, Real, filled, write_all};
use crate::surrogate::heaviside;

/// The extent of a `[T, B, N]` tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub steps: usize,
    pub batch: usize,
    pub neurons: usize,
}

impl Dims {
    /// Where step `t`, batch row `b` begins.
    pub(crate) fn at(&self, t: usize, b: usize) -> usize {
        (t * self.batch + b) * self.neurons
    }

    pub(crate) fn len(&self) -> usize {
        self.steps * self.batch * self.neurons
    }
}

/// Per-neuron parameters, each of length `N`.
#[derive(Clone, Copy)]
pub struct Params<'a, F> {
    pub beta: &'a [F],
    pub threshold: &'a [F],
}

/// The gradients of a LIF layer's inputs.
pub struct Grads<F> {
    pub current: Vec<F>,
    pub beta: Vec<F>,
    pub threshold: Vec<F>,
}

/// One step of every neuron of a row: `v` and `s` hold step `t−1` on entry and step `t` on exit.
fn step<F: Real>(reset: Reset, p: Params<F>, current: &[F], v: &mut [F], s: &mut [F]) {
    let one = F::one();
    let lanes = v
        .iter_mut()
        .zip(s.iter_mut())
        .zip(current)
        .zip(p.beta.iter().zip(p.threshold));
    match reset {
        Reset::Subtract => lanes.for_each(|(((v, s), &i), (&beta, &theta))| {
            *v = beta * *v + i - *s * theta;
            *s = heaviside(*v - theta);
        }),
        Reset::Zero => lanes.for_each(|(((v, s), &i), (&beta, &theta))| {
            *v = (beta * *v + i) * (one - *s);
            *s = heaviside(*v - theta);
        }),
    }
}

/// The layer's output (spikes or membrane, per `rule.output`) for input `current` `[T, B, N]`.
pub fn forward<F: Real>(rule: &LifRule, dims: Dims, current: &[F], p: Params<F>) -> Vec<F> {
    assert_eq!(current.len(), dims.len(), "current is not [T, B, N]");
    let n = dims.neurons;
    let fill = |out: &mut [MaybeUninit<F>]| {
        let writer = DisjointWriter::new(out);
        (0..dims.batch).into_par_iter().for_each(|b| {
            let (mut v, mut s) = (vec![F::zero(); n], vec![F::zero(); n]);
            for t in 0..dims.steps {
                let at = dims.at(t, b);
                step(rule.reset, p, &current[at..at + n], &mut v, &mut s);
                // SAFETY: step t of batch row b is written by this task alone.
                let row = unsafe { writer.run(at, n) };
                write_all(
                    row,
                    match rule.output {
                        LifOutput::Spikes => &s,
                        LifOutput::Membrane => &v,
                    },
                );
            }
        })
    };
    // SAFETY: every (step, batch row) is written above.
    unsafe { filled(dims.len(), fill) }
}

/// `∂L/∂output` of a layer, `[T, B, N]`.
#[derive(Clone, Copy)]
pub enum OutputGrad<'a, F> {
    /// Given element by element.
    Given(&'a [F]),
    /// Through the dense projection `W` `[N, M]` into a layer above: `∂L/∂I^above · Wᵀ`, with
    /// `d_above` `[T, B, M]` and `weight_t` (= `Wᵀ`) `[M, N]`, summed over the `M` (few)
    /// neurons above one row at a time where it is used, so the `[T, B, N]` product is never
    /// stored.
    Through { d_above: &'a [F], weight_t: &'a [F] },
}

impl<F: Real> OutputGrad<'_, F> {
    fn check(&self, dims: Dims) {
        match *self {
            OutputGrad::Given(g) => {
                assert_eq!(g.len(), dims.len(), "the output gradient is not [T, B, N]")
            }
            OutputGrad::Through { d_above, weight_t } => {
                let above = d_above.len() / (dims.steps * dims.batch).max(1);
                assert!(
                    d_above.len() == dims.steps * dims.batch * above
                        && weight_t.len() == above * dims.neurons,
                    "the gradient above is not [T, B, M] with a [M, N] projection"
                )
            }
        }
    }

    /// Row `(t, b)`, computed in `buffer` (`N` long) where it is not given.
    fn row<'b>(&'b self, dims: Dims, t: usize, b: usize, buffer: &'b mut [F]) -> &'b [F] {
        let n = dims.neurons;
        match *self {
            OutputGrad::Given(g) => &g[dims.at(t, b)..][..n],
            OutputGrad::Through { d_above, weight_t } => {
                let above = weight_t.len() / n;
                buffer.fill(F::zero());
                let d = &d_above[(t * dims.batch + b) * above..][..above];
                for (&d, w) in d.iter().zip(weight_t.chunks_exact(n)) {
                    buffer.iter_mut().zip(w).for_each(|(g, &w)| *g += d * w);
                }
                buffer
            }
        }
    }
}

/// The gradients of `Σ grad_out·output` with respect to the current, `β` and `θ`.
pub fn backward<F: Real>(
    rule: &LifRule,
    dims: Dims,
    current: &[F],
    p: Params<F>,
    grad_out: OutputGrad<F>,
) -> Grads<F> {
    assert_eq!(current.len(), dims.len(), "current is not [T, B, N]");
    grad_out.check(dims);
    let mut per_row: Vec<(Vec<F>, Vec<F>)> = Vec::new();
    let fill = |out: &mut [MaybeUninit<F>]| {
        let writer = DisjointWriter::new(out);
        per_row = (0..dims.batch)
            .into_par_iter()
            .map(|b| backward_row(rule, dims, b, current, p, grad_out, &writer))
            .collect();
    };
    // SAFETY: backward_row writes every step of its batch row.
    let grad_current = unsafe { filled(dims.len(), fill) };
    let (mut beta, mut threshold) = (vec![F::zero(); dims.neurons], vec![F::zero(); dims.neurons]);
    for (row_beta, row_threshold) in per_row {
        add_into(&mut beta, &row_beta);
        add_into(&mut threshold, &row_threshold);
    }
    Grads {
        current: grad_current,
        beta,
        threshold,
    }
}

/// `sum += part`, elementwise.
pub(crate) fn add_into<F: Real>(sum: &mut [F], part: &[F]) {
    sum.iter_mut().zip(part).for_each(|(s, &x)| *s += x);
}

/// Backward over one batch row; writes its current gradient and returns its (`β`, `θ`) parts.
fn backward_row<F: Real>(
    rule: &LifRule,
    dims: Dims,
    b: usize,
    current: &[F],
    p: Params<F>,
    grad_out: OutputGrad<F>,
    writer: &DisjointWriter<MaybeUninit<F>>,
) -> (Vec<F>, Vec<F>) {
    let n = dims.neurons;
    let zero = F::zero();
    let one = F::one();
    let mut trace = vec![zero; dims.steps * n];
    let (mut v, mut s) = (vec![zero; n], vec![zero; n]);
    for t in 0..dims.steps {
        let at = dims.at(t, b);
        step(rule.reset, p, &current[at..at + n], &mut v, &mut s);
        trace[t * n..(t + 1) * n].copy_from_slice(&v);
    }

    let rest = vec![zero; n];
    let (mut dv_next, mut dist, mut slope) = (vec![zero; n], vec![zero; n], vec![zero; n]);
    let (mut d_beta, mut d_theta) = (vec![zero; n], vec![zero; n]);
    let mut g_buffer = vec![zero; n];
    let spikes_out = rule.output == LifOutput::Spikes;
    for t in (0..dims.steps).rev() {
        let v_t = &trace[t * n..(t + 1) * n];
        let v_prev = if t > 0 {
            &trace[(t - 1) * n..t * n]
        } else {
            &rest
        };
        dist.iter_mut()
            .zip(v_t)
            .zip(p.threshold)
            .for_each(|((d, &v), &theta)| *d = v - theta);
        rule.surrogate.derivative_into(&dist, &mut slope);
        let at = dims.at(t, b);
        let g = grad_out.row(dims, t, b, &mut g_buffer);
        // SAFETY: step t of batch row b is written by this task alone.
        let g_current = unsafe { writer.run(at, n) };
        // Each rule's sweep is one branch-free loop over the neurons: the choices enter as
        // 0/1 factors, so the loop vectorizes.
        let (g_s_of, g_v_of) = if spikes_out { (one, zero) } else { (zero, one) };
        let through_reset = if rule.detach_reset { zero } else { one };
        let (g, g_current, dv_next) = (&g[..n], &mut g_current[..n], &mut dv_next[..n]);
        let (dist, slope, v_prev) = (&dist[..n], &slope[..n], &v_prev[..n]);
        let (beta, theta) = (&p.beta[..n], &p.threshold[..n]);
        let (d_beta, d_theta) = (&mut d_beta[..n], &mut d_theta[..n]);
        match rule.reset {
            Reset::Subtract => {
                for j in 0..n {
                    let g_spike = g_s_of * g[j] - through_reset * theta[j] * dv_next[j];
                    let dv = g_v_of * g[j] + g_spike * slope[j] + beta[j] * dv_next[j];
                    g_current[j].write(dv);
                    d_beta[j] += dv * v_prev[j];
                    d_theta[j] = d_theta[j] - g_spike * slope[j] - heaviside(dist[j]) * dv_next[j];
                    dv_next[j] = dv;
                }
            }
            Reset::Zero => {
                let next_current = if t + 1 < dims.steps {
                    &current[dims.at(t + 1, b)..dims.at(t + 1, b) + n]
                } else {
                    &rest[..n]
                };
                // At t = 0 nothing before can have spiked.
                let after_first = if t > 0 { one } else { zero };
                let v_t = &v_t[..n];
                for j in 0..n {
                    let before_reset = beta[j] * v_t[j] + next_current[j];
                    let g_spike = g_s_of * g[j] - through_reset * before_reset * dv_next[j];
                    let s_t = heaviside(dist[j]);
                    let dv =
                        g_v_of * g[j] + g_spike * slope[j] + (one - s_t) * beta[j] * dv_next[j];
                    let kept = one - after_first * heaviside(v_prev[j] - theta[j]);
                    g_current[j].write(dv * kept);
                    d_beta[j] += dv * kept * v_prev[j];
                    d_theta[j] -= g_spike * slope[j];
                    dv_next[j] = dv;
                }
            }
        }
    }
    (d_beta, d_theta)
}
