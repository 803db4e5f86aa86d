//! BDH-GPU as a recurrence: per layer `l` and head `h` a synaptic state `S ∈ R^{N×D}`
//! (`shared/specs/bdh.md` §2.4; the paper's ρ, transposed, with its rotation operator absorbed
//! into absolute rotations). For the token at position `t`, layer by layer:
//!
//! ```text
//! x_t = ReLU(v_t^{l−1} · encoder[h]);   x̃_t = R_t x_t
//! a_t = x̃_t · S                        read: S holds the tokens s < t only
//! S  ← S + x̃_tᵀ · v_t^{l−1}            write: a rank-1 Hebbian outer product
//! y_t = ReLU(LN(a_t) · encoder_v[h]);  g_t = x_t ⊙ y_t
//! v_t^l = LN(v_t^{l−1} + LN(Σ_h g_t[h] · decoder[h]))
//! ```
//!
//! which is the token-parallel function of [`crate::model`] (without dropout) up to float
//! rounding, since `a_t = Σ_{s<t} ⟨x̃_t, x̃_s⟩ v_s = x̃_t · Σ_{s<t} x̃_sᵀ v_s`. A token costs
//! `5·D·n` multiply-adds per layer whatever the length of the prefix. Rows of `S` whose
//! rotated activity is zero are neither read nor written, and decoder rows of inactive `g` are
//! skipped (ReLU makes both sparse).

use rand::{Rng, RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::config::{BdhConfig, VOCAB};
use crate::model::{LN_EPS, Params};
use crate::rope::{self, turns_per_token};

/// The weights as plain row-major arrays, with the RoPE frequencies.
pub struct Recurrent {
    config: BdhConfig,
    embed: Vec<f32>,
    encoder: Vec<f32>,
    encoder_v: Vec<f32>,
    decoder: Vec<f32>,
    lm_head: Vec<f32>,
    turns: Vec<f32>,
}

/// One sequence's state: `S` for every layer and head (`[L, H, N, D]`), the next position,
/// and scratch space for a step.
pub struct State {
    pub synapses: Vec<f32>,
    pub position: usize,
    scratch: Scratch,
}

struct Scratch {
    cos: Vec<f32>,
    sin: Vec<f32>,
    v: Vec<f32>,
    x: Vec<f32>,
    xr: Vec<f32>,
    a: Vec<f32>,
    y: Vec<f32>,
    m: Vec<f32>,
}

/// What a step computed in one layer and head, shown to the observer of
/// [`Recurrent::step_observed`] (the interpretability tools of [`crate::inspect`]).
pub struct HeadActivity<'a> {
    /// The layer, from 0.
    pub layer: usize,
    pub head: usize,
    /// The layer's input `v^{l−1}` (D).
    pub input: &'a [f32],
    /// `x = ReLU(v^{l−1} · encoder[h])`, before the rotation (N).
    pub x: &'a [f32],
    /// `LN(a) · encoder_v[h]` before the ReLU (N): `y = max(·, 0)`, `g = x ⊙ y`.
    pub y_pre: &'a [f32],
}

/// `out += w · row` over equal-length slices.
fn axpy(out: &mut [f32], w: f32, row: &[f32]) {
    for (o, r) in out.iter_mut().zip(row) {
        *o += w * r;
    }
}

/// LayerNorm in place (no affine, biased variance, ε = 10⁻⁵); an all-zero row stays zero.
fn layer_norm(z: &mut [f32]) {
    let n = z.len() as f32;
    let mean = z.iter().sum::<f32>() / n;
    let var = z.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n;
    let scale = 1.0 / (var + LN_EPS as f32).sqrt();
    for x in z {
        *x = (*x - mean) * scale;
    }
}

/// `out = Σ_d input[d] · matrix[d, ..]` for a row-major `(input.len(), out.len())` matrix.
fn vec_mat(input: &[f32], matrix: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    let width = out.len();
    for (w, row) in input.iter().zip(matrix.chunks_exact(width)) {
        axpy(out, *w, row);
    }
}

impl Recurrent {
    /// Copies the parameters out of their tensors.
    pub fn new(config: &BdhConfig, params: &Params) -> candle_core::Result<Self> {
        let flat = |v: &candle_core::Var| v.as_tensor().flatten_all()?.to_vec1::<f32>();
        Ok(Recurrent {
            config: config.clone(),
            embed: flat(&params.embed)?,
            encoder: flat(&params.encoder)?,
            encoder_v: flat(&params.encoder_v)?,
            decoder: flat(&params.decoder)?,
            lm_head: flat(&params.lm_head)?,
            turns: turns_per_token(config.neurons_per_head()),
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &BdhConfig {
        &self.config
    }

    /// An empty state (no token seen).
    pub fn state(&self) -> State {
        let (d, h, n) = (
            self.config.n_embd,
            self.config.n_head,
            self.config.neurons_per_head(),
        );
        State {
            synapses: vec![0.0; self.config.n_layer * h * n * d],
            position: 0,
            scratch: Scratch {
                cos: vec![0.0; n],
                sin: vec![0.0; n],
                v: vec![0.0; d],
                x: vec![0.0; h * n],
                xr: vec![0.0; n],
                a: vec![0.0; d],
                y: vec![0.0; n],
                m: vec![0.0; d],
            },
        }
    }

    /// Consumes `token` at the state's position and writes the next-byte logits (length
    /// [`VOCAB`]) to `logits`.
    pub fn step(&self, state: &mut State, token: u8, logits: &mut [f32]) {
        self.step_observed(state, token, logits, |_| {});
    }

    /// [`Recurrent::step`], showing `observe` every layer's and head's activity in order
    /// (layer by layer, heads in order within a layer).
    pub fn step_observed(
        &self,
        state: &mut State,
        token: u8,
        logits: &mut [f32],
        mut observe: impl FnMut(&HeadActivity),
    ) {
        let (d, h, n) = (
            self.config.n_embd,
            self.config.n_head,
            self.config.neurons_per_head(),
        );
        let State {
            synapses,
            position,
            scratch: sc,
        } = state;
        for ((c, s), &f) in sc.cos.iter_mut().zip(&mut sc.sin).zip(&self.turns) {
            (*s, *c) = rope::phase(*position, f).sin_cos();
        }
        let t = usize::from(token);
        sc.v.copy_from_slice(&self.embed[t * d..(t + 1) * d]);
        layer_norm(&mut sc.v);
        for (layer, synapses) in synapses.chunks_exact_mut(h * n * d).enumerate() {
            sc.m.fill(0.0);
            for (head, s) in synapses.chunks_exact_mut(n * d).enumerate() {
                let weights = head * d * n..(head + 1) * d * n;
                let x = &mut sc.x[head * n..(head + 1) * n];
                vec_mat(&sc.v, &self.encoder[weights.clone()], x);
                x.iter_mut().for_each(|e| *e = e.max(0.0));
                rope::rotate(x, &sc.cos, &sc.sin, &mut sc.xr);
                sc.a.fill(0.0);
                for (&w, row) in sc.xr.iter().zip(s.chunks_exact_mut(d)) {
                    if w != 0.0 {
                        axpy(&mut sc.a, w, row);
                        axpy(row, w, &sc.v);
                    }
                }
                layer_norm(&mut sc.a);
                vec_mat(&sc.a, &self.encoder_v[weights], &mut sc.y);
                observe(&HeadActivity {
                    layer,
                    head,
                    input: &sc.v,
                    x,
                    y_pre: &sc.y,
                });
                let rows = &self.decoder[head * n * d..(head + 1) * n * d];
                for ((&xi, &yi), row) in x.iter().zip(&sc.y).zip(rows.chunks_exact(d)) {
                    let g = xi * yi.max(0.0);
                    if g != 0.0 {
                        axpy(&mut sc.m, g, row);
                    }
                }
            }
            layer_norm(&mut sc.m);
            for (v, m) in sc.v.iter_mut().zip(&sc.m) {
                *v += m;
            }
            layer_norm(&mut sc.v);
        }
        vec_mat(&sc.v, &self.lm_head, logits);
        *position += 1;
    }

    /// Feeds `prompt` (at least one byte), then samples `count` bytes one at a time from the
    /// `top_k` most likely (softmax at temperature 1 over them), drawing from a generator
    /// seeded with `seed`; returns the sampled bytes.
    pub fn generate(&self, prompt: &[u8], count: usize, top_k: usize, seed: u64) -> Vec<u8> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut state = self.state();
        let mut logits = vec![0.0; VOCAB];
        for &b in prompt {
            self.step(&mut state, b, &mut logits);
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let next = sample_top_k(&logits, top_k, &mut rng);
            out.push(next);
            self.step(&mut state, next, &mut logits);
        }
        out
    }
}

/// A byte drawn from the softmax of the `k` largest `logits` (ties broken by lower index).
pub fn sample_top_k(logits: &[f32], k: usize, rng: &mut impl Rng) -> u8 {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    order.truncate(k.clamp(1, logits.len()));
    let top = logits[order[0]];
    let weights: Vec<f64> = order
        .iter()
        .map(|&i| f64::from(logits[i] - top).exp())
        .collect();
    let mut u = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (&i, w) in order.iter().zip(&weights) {
        if u < *w {
            return i as u8;
        }
        u -= w;
    }
    order[order.len() - 1] as u8
}
