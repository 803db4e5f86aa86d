//! The fused ALIF kernels on plain slices: the forward pass over all `T` steps, and the backward
//! pass (backpropagation through time) that recomputes one batch row's membrane and adaptation
//! traces and sweeps them in reverse.
//!
//! Backward, with `dv_t = ∂L/∂v_t` and `da_t = ∂L/∂a_t` accumulated from `t = T−1` down
//! (`dv_T = da_T = 0`), `σ'_t` the surrogate at `v_t − A_t`, `g^s_t`/`g^v_t` the incoming
//! gradient of the spike or membrane output, and `u_{t+1} = β·v_t + I_{t+1}` the value before
//! a zero reset:
//!
//! ```text
//! ∂L/∂s_t = g^s_t + da_{t+1} − [not detached]·(A_t·dv_{t+1}  (subtract) | u_{t+1}·dv_{t+1}  (zero))
//! dx_t    = ∂L/∂s_t·σ'_t
//! dA_t    = −dx_t − [subtract]·s_t·dv_{t+1}
//! dv_t    = g^v_t + dx_t + β·dv_{t+1}·(1  (subtract) | 1 − s_t  (zero))
//! da_t    = κ·dA_t + ρ·da_{t+1}
//! du_t    = dv_t·(1  (subtract) | 1 − s_{t−1}  (zero))
//! ∂L/∂I_t = du_t,  ∂L/∂β += du_t·v_{t−1},  ∂L/∂θ += dA_t,  ∂L/∂κ += dA_t·a_t,  ∂L/∂ρ += da_t·a_{t−1}
//! ```
//!
//! Batch rows run in parallel (rayon). The per-neuron parameter gradients are summed per row and
//! then over rows in batch order, so results do not depend on the thread count.

use rayon::prelude::*;

use crate::cpu::{DisjointWriter, Real};
pub use crate::lif::kernel::Dims;
use crate::lif::{LifOutput, LifRule, Reset};
use crate::surrogate::heaviside;

/// Per-neuron parameters, each of length `N`.
#[derive(Clone, Copy)]
pub struct Params<'a, F> {
    pub beta: &'a [F],
    pub threshold: &'a [F],
    pub rho: &'a [F],
    pub kappa: &'a [F],
}

impl<'a, F> Params<'a, F> {
    /// The parameters packed as the rows of a `[4, N]` array: `β`, `θ`, `ρ`, `κ`.
    pub fn unpack(packed: &'a [F], neurons: usize) -> Self {
        assert_eq!(
            packed.len(),
            4 * neurons,
            "the packed parameters are not [4, N]"
        );
        let (beta, rest) = packed.split_at(neurons);
        let (threshold, rest) = rest.split_at(neurons);
        let (rho, kappa) = rest.split_at(neurons);
        Params {
            beta,
            threshold,
            rho,
            kappa,
        }
    }
}

/// The gradients of an ALIF layer's inputs: the current `[T, B, N]` and the parameters packed
/// as `[4, N]` (`β`, `θ`, `ρ`, `κ`).
pub struct Grads<F> {
    pub current: Vec<F>,
    pub params: Vec<F>,
}

/// One row's state: `v`, `a` and `s` hold step `t−1` on entry and step `t` on exit.
struct State<F> {
    v: Vec<F>,
    a: Vec<F>,
    s: Vec<F>,
}

impl<F: Real> State<F> {
    fn new(n: usize) -> Self {
        State {
            v: vec![F::zero(); n],
            a: vec![F::zero(); n],
            s: vec![F::zero(); n],
        }
    }

    /// One step of every neuron of the row.
    #[allow(clippy::needless_range_loop)] // one index into seven arrays
    fn step(&mut self, reset: Reset, p: Params<F>, current: &[F]) {
        let one = F::one();
        for j in 0..current.len() {
            let (a_prev, s_prev) = (self.a[j], self.s[j]);
            let threshold_prev = p.kappa[j] * a_prev + p.threshold[j];
            let a = p.rho[j] * a_prev + s_prev;
            let before_reset = p.beta[j] * self.v[j] + current[j];
            let v = match reset {
                Reset::Subtract => before_reset - s_prev * threshold_prev,
                Reset::Zero => before_reset * (one - s_prev),
            };
            self.a[j] = a;
            self.v[j] = v;
            self.s[j] = heaviside(v - (p.kappa[j] * a + p.threshold[j]));
        }
    }
}

/// The layer's output (spikes or membrane, per `rule.output`) for input `current` `[T, B, N]`.
pub fn forward<F: Real>(rule: &LifRule, dims: Dims, current: &[F], p: Params<F>) -> Vec<F> {
    assert_eq!(current.len(), dims.len(), "current is not [T, B, N]");
    let n = dims.neurons;
    let mut out = vec![F::zero(); dims.len()];
    let writer = DisjointWriter::new(&mut out);
    (0..dims.batch).into_par_iter().for_each(|b| {
        let mut state = State::new(n);
        for t in 0..dims.steps {
            let start = dims.at(t, b);
            state.step(rule.reset, p, &current[start..start + n]);
            // SAFETY: step t of batch row b is written by this task alone.
            let row = unsafe { writer.run(start, n) };
            row.copy_from_slice(match rule.output {
                LifOutput::Spikes => &state.s,
                LifOutput::Membrane => &state.v,
            });
        }
    });
    out
}

/// The gradients of `Σ grad_out·output` with respect to the current and the four parameters.
pub fn backward<F: Real>(
    rule: &LifRule,
    dims: Dims,
    current: &[F],
    p: Params<F>,
    grad_out: &[F],
) -> Grads<F> {
    assert_eq!(current.len(), dims.len(), "current is not [T, B, N]");
    assert_eq!(
        grad_out.len(),
        dims.len(),
        "the output gradient is not [T, B, N]"
    );
    let mut grad_current = vec![F::zero(); dims.len()];
    let writer = DisjointWriter::new(&mut grad_current);
    let per_row: Vec<Vec<F>> = (0..dims.batch)
        .into_par_iter()
        .map(|b| backward_row(rule, dims, b, current, p, grad_out, &writer))
        .collect();
    let mut params = vec![F::zero(); 4 * dims.neurons];
    for row in per_row {
        params.iter_mut().zip(&row).for_each(|(sum, &x)| *sum += x);
    }
    Grads {
        current: grad_current,
        params,
    }
}

/// Backward over one batch row; writes its current gradient and returns its parameter
/// gradients packed as `[4, N]`.
fn backward_row<F: Real>(
    rule: &LifRule,
    dims: Dims,
    b: usize,
    current: &[F],
    p: Params<F>,
    grad_out: &[F],
    writer: &DisjointWriter<F>,
) -> Vec<F> {
    let n = dims.neurons;
    let (zero, one) = (F::zero(), F::one());
    let (mut v_trace, mut a_trace) = (vec![zero; dims.steps * n], vec![zero; dims.steps * n]);
    let mut state = State::new(n);
    for t in 0..dims.steps {
        let start = dims.at(t, b);
        state.step(rule.reset, p, &current[start..start + n]);
        v_trace[t * n..(t + 1) * n].copy_from_slice(&state.v);
        a_trace[t * n..(t + 1) * n].copy_from_slice(&state.a);
    }

    let rest = vec![zero; n];
    let (mut dv_next, mut da_next) = (vec![zero; n], vec![zero; n]);
    let (mut dist, mut slope) = (vec![zero; n], vec![zero; n]);
    let mut grads = vec![zero; 4 * n];
    let (d_beta, grads_rest) = grads.split_at_mut(n);
    let (d_theta, grads_rest) = grads_rest.split_at_mut(n);
    let (d_rho, d_kappa) = grads_rest.split_at_mut(n);
    let spikes_out = rule.output == LifOutput::Spikes;
    let threshold = |a: F, j: usize| p.kappa[j] * a + p.threshold[j];
    for t in (0..dims.steps).rev() {
        let (v_t, a_t) = (&v_trace[t * n..(t + 1) * n], &a_trace[t * n..(t + 1) * n]);
        let (v_prev, a_prev) = if t > 0 {
            (&v_trace[(t - 1) * n..t * n], &a_trace[(t - 1) * n..t * n])
        } else {
            (&rest[..], &rest[..])
        };
        for j in 0..n {
            dist[j] = v_t[j] - threshold(a_t[j], j);
        }
        rule.surrogate.derivative_into(&dist, &mut slope);
        let start = dims.at(t, b);
        let g = &grad_out[start..start + n];
        // SAFETY: step t of batch row b is written by this task alone.
        let g_current = unsafe { writer.run(start, n) };
        let next_current = (t + 1 < dims.steps).then(|| {
            let next = dims.at(t + 1, b);
            &current[next..next + n]
        });
        for j in 0..n {
            let (beta, rho, kappa) = (p.beta[j], p.rho[j], p.kappa[j]);
            let (g_s, g_v) = if spikes_out {
                (g[j], zero)
            } else {
                (zero, g[j])
            };
            let s_t = heaviside(dist[j]);
            let through_reset = match rule.reset {
                Reset::Subtract => threshold(a_t[j], j),
                Reset::Zero => next_current.map_or(zero, |i| beta * v_t[j] + i[j]),
            };
            let reset_term = if rule.detach_reset {
                zero
            } else {
                through_reset * dv_next[j]
            };
            let g_spike = g_s + da_next[j] - reset_term;
            let dx = g_spike * slope[j];
            let (d_threshold, dv) = match rule.reset {
                Reset::Subtract => (-dx - s_t * dv_next[j], g_v + dx + beta * dv_next[j]),
                Reset::Zero => (-dx, g_v + dx + (one - s_t) * beta * dv_next[j]),
            };
            let da = kappa * d_threshold + rho * da_next[j];
            let du = match rule.reset {
                Reset::Zero if t > 0 => dv * (one - heaviside(v_prev[j] - threshold(a_prev[j], j))),
                _ => dv,
            };
            g_current[j] = du;
            d_beta[j] += du * v_prev[j];
            d_theta[j] += d_threshold;
            d_kappa[j] += d_threshold * a_t[j];
            d_rho[j] += da * a_prev[j];
            dv_next[j] = dv;
            da_next[j] = da;
        }
    }
    grads
}
