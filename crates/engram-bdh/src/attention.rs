//! One BDH layer's neuron work, from the residual `v` to the decoded message `m`, as a single
//! fused candle op (forward and backward written out over `gemm` calls and slice loops). Per
//! head `h` and sequence:
//!
//! ```text
//! Xpre = V·encoder[h],  X = ReLU(Xpre),  X̃ = R X                 [T, N]
//! Sc   = tril₋₁(X̃ X̃ᵀ),  A = Sc·V,  Â = LN(A)                    [T, T], [T, D]
//! Ypre = Â·encoder_v[h],  G = X ⊙ ReLU(Ypre) ⊙ M                  M: dropout multipliers
//! m   += G·decoder[h]                                            [T, D], summed over heads
//! ```
//!
//! Backward, with `∂m` given (`tril₋₁` keeps `s < t`; LN's backward uses the saved `Â` and
//! `1/σ`; `G` and `X̃` are recomputed from the saved `Xpre`, `Ypre`):
//!
//! ```text
//! ∂decoder[h] = Gᵀ ∂m,                  ∂G = ∂m · decoder[h]ᵀ
//! ∂X   = ∂G ⊙ ReLU(Ypre) ⊙ M,           ∂Ypre = ∂G ⊙ X ⊙ 1[Ypre > 0] ⊙ M
//! ∂encoder_v[h] = Âᵀ ∂Ypre,             ∂Â = ∂Ypre · encoder_v[h]ᵀ
//! ∂A   = (∂Â − mean(∂Â) − Â·mean(∂Â ⊙ Â)) / σ
//! ∂Sc  = tril₋₁(∂A Vᵀ),  ∂V += Scᵀ ∂A,  ∂X̃ = (∂Sc + ∂Scᵀ) X̃
//! ∂Xpre = 1[Xpre > 0] ⊙ (∂X + Rᵀ ∂X̃),  ∂encoder[h] = Vᵀ ∂Xpre,  ∂V += ∂Xpre · encoder[h]ᵀ
//! ```
//!
//! Compared with one candle op per operation it makes no intermediate graph nodes (no
//! gradient accumulation passes, no `[H, B·T, N]` tensors between ops); it works one head and
//! one sequence at a time, so the `[T, N]` intermediates stay in cache; and the causal products
//! are computed block-triangularly (blocks of `products::BLOCK` tokens): only the blocks on or
//! below the diagonal are multiplied. Heads run in parallel (rayon); their terms of `m` and `∂V`
//! are added in head order, so results do not depend on the thread count. Tested against
//! [`crate::model::Kernels::Reference`].

use std::sync::{Arc, Mutex, OnceLock};

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Storage, Tensor, bail};
use rayon::prelude::*;

use crate::pointwise::{
    gate, gate_backward, gate_backward_unmasked, layer_norm, layer_norm_backward,
};
use crate::products::{BLOCK, blocks, causal_scores, product, symmetric_product, transposed};
use crate::rope::{self, RopeTable};
use crate::scratch;

/// Sizes: `batch` sequences of `block` tokens, residual `d`, `heads` of `n` neurons.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub batch: usize,
    pub block: usize,
    pub d: usize,
    pub heads: usize,
    pub n: usize,
}

impl Dims {
    fn rows(&self) -> usize {
        self.batch * self.block
    }

    /// The length of the packed weights ([`PackedWeights`]).
    fn weights(&self) -> usize {
        3 * self.heads * self.d * self.n
    }
}

/// The three weight tensors of a layer as the one flat tensor the op takes:
/// `encoder [H, D, N]`, then `encoder_v [H, D, N]`, then `decoder [H·N, D]`; and, made once by
/// the first backward pass that needs them, their transposes (`products::transposed`), shared by
/// the layers of a forward pass (all layers share the weights).
pub struct PackedWeights {
    tensor: Tensor,
    transposed: Arc<OnceLock<Vec<f32>>>,
}

impl PackedWeights {
    /// Packs the weights; once per forward pass (its backward splits the gradient again).
    pub fn new(encoder: &Tensor, encoder_v: &Tensor, decoder: &Tensor) -> Result<Self> {
        let parts = [encoder, encoder_v, decoder].map(|w| w.flatten_all());
        let [e, ev, dec] = parts;
        Ok(PackedWeights {
            tensor: Tensor::cat(&[e?, ev?, dec?], 0)?,
            transposed: Arc::new(OnceLock::new()),
        })
    }
}

/// `m` `[B·T, D]` (before its LayerNorm) for the residual `v` `[B·T, D]`, the packed weights
/// and dropout multipliers `mask` (`[H, B·T, N]`) if given; gradients reach `v` and the
/// weights.
pub fn neuron_layer(
    v: &Tensor,
    weights: &PackedWeights,
    table: &Arc<RopeTable>,
    dims: Dims,
    mask: Option<Vec<f32>>,
) -> Result<Tensor> {
    let keep = v.track_op() || weights.tensor.track_op();
    v.contiguous()?.apply_op2(
        &weights.tensor,
        NeuronLayer {
            dims,
            table: table.clone(),
            keep,
            transposed: weights.transposed.clone(),
            saved: Mutex::new(None),
            mask: Mutex::new(mask),
        },
    )
}

/// What the forward keeps for the backward: `[H, B·T, N]`, `[H·B, T, T]`, `[H, B·T, D]`,
/// `[H, B·T]`, the dropout multipliers.
struct Saved {
    xpre: Vec<f32>,
    ypre: Vec<f32>,
    scores: Vec<f32>,
    ahat: Vec<f32>,
    inv_sigma: Vec<f32>,
    mask: Option<Vec<f32>>,
}

impl Saved {
    fn give_back(self) {
        for buffer in [self.xpre, self.ypre, self.scores, self.ahat, self.inv_sigma] {
            scratch::give(buffer);
        }
        if let Some(mask) = self.mask {
            scratch::give(mask);
        }
    }
}

struct NeuronLayer {
    dims: Dims,
    table: Arc<RopeTable>,
    keep: bool,
    transposed: Arc<OnceLock<Vec<f32>>>,
    saved: Mutex<Option<Saved>>,
    mask: Mutex<Option<Vec<f32>>>,
}

/// A head's three weight matrices: `encoder[h]`, `encoder_v[h]` (`[D, N]`), `decoder[h]`
/// (`[N, D]`).
fn head(weights: &[f32], dims: Dims, h: usize) -> [&[f32]; 3] {
    let size = dims.d * dims.n;
    let part = dims.heads * size;
    [0, 1, 2].map(|p| &weights[p * part + h * size..p * part + (h + 1) * size])
}

/// The scratch rows one head and sequence work in: `[T, N]` ×3, `[T, D]`, `[T, T]`, `[BLOCK,
/// BLOCK]`.
struct Work {
    xr: Vec<f32>,
    g: Vec<f32>,
    dy: Vec<f32>,
    a: Vec<f32>,
    sc: Vec<f32>,
    diagonal: Vec<f32>,
}

impl Work {
    fn new(dims: Dims) -> Self {
        let (t, d, n) = (dims.block, dims.d, dims.n);
        Work {
            xr: scratch::take(t * n),
            g: scratch::take(t * n),
            dy: scratch::take(t * n),
            a: scratch::take(t * d),
            sc: scratch::take(t * t),
            diagonal: vec![0.0; BLOCK * BLOCK],
        }
    }

    fn give_back(self) {
        for buffer in [self.xr, self.g, self.dy, self.a, self.sc] {
            scratch::give(buffer);
        }
    }
}

impl NeuronLayer {
    fn check(&self, v: &[usize], weights: &[usize]) -> Result<()> {
        let dims = self.dims;
        if v != [dims.rows(), dims.d] || weights != [dims.weights()] {
            bail!("neuron layer: v {v:?}, weights {weights:?} do not fit {dims:?}")
        }
        if self.table.n != dims.n || self.table.cos.len() != dims.block * dims.n {
            bail!(
                "neuron layer: the RoPE table is not for {} positions of {}",
                dims.block,
                dims.n
            )
        }
        let mask = self.mask.lock().expect("no panic while holding the lock");
        if mask
            .as_ref()
            .is_some_and(|m| m.len() != dims.heads * dims.rows() * dims.n)
        {
            bail!("neuron layer: the dropout mask is not [H, B·T, N]")
        }
        Ok(())
    }

    /// `R ReLU(xpre)` of one sequence into `xr`.
    fn rotate(&self, xpre: &[f32], xr: &mut [f32]) {
        let n = self.dims.n;
        for (r, (xp, out)) in xpre.chunks_exact(n).zip(xr.chunks_exact_mut(n)).enumerate() {
            let (cos, _) = self.table.at(r);
            rope::rotate_relu(xp, cos, &self.table.signed_sin[r * n..(r + 1) * n], out);
        }
    }

    fn forward(&self, v: &[f32], weights: &[f32], mask: Option<Vec<f32>>) -> (Vec<f32>, Saved) {
        let Dims {
            batch,
            block: t,
            d,
            heads,
            n,
        } = self.dims;
        let rows = self.dims.rows();
        let mut s = Saved {
            xpre: scratch::take(heads * rows * n),
            ypre: scratch::take(heads * rows * n),
            scores: scratch::take(heads * batch * t * t),
            ahat: scratch::take(heads * rows * d),
            inv_sigma: scratch::take(heads * rows),
            mask,
        };
        let mask = s.mask.as_deref();
        let per_head: Vec<[&mut [f32]; 5]> = s
            .xpre
            .chunks_mut(rows * n)
            .zip(s.ypre.chunks_mut(rows * n))
            .zip(s.scores.chunks_mut(batch * t * t))
            .zip(s.ahat.chunks_mut(rows * d))
            .zip(s.inv_sigma.chunks_mut(rows))
            .map(|((((xpre, ypre), scores), ahat), inv_sigma)| {
                [xpre, ypre, scores, ahat, inv_sigma]
            })
            .collect();
        let partials = map_heads(per_head, |h, saved| {
            let head_mask = mask.map(|m| &m[h * rows * n..(h + 1) * rows * n]);
            self.forward_head(v, head(weights, self.dims, h), saved, head_mask)
        });
        (sum_in_order(partials), s)
    }

    /// One head's forward pass: fills its part of the saved activations (`Xpre`, `Ypre`, `Sc`,
    /// `Â`, `1/σ`) and returns its term of `m`.
    fn forward_head(
        &self,
        v: &[f32],
        [wx, wy, dec]: [&[f32]; 3],
        [xpre, ypre, scores, ahat, inv_sigma]: [&mut [f32]; 5],
        mask: Option<&[f32]>,
    ) -> Vec<f32> {
        let Dims {
            batch,
            block: t,
            d,
            n,
            ..
        } = self.dims;
        let mut m = scratch::take(batch * t * d);
        let mut w = Work::new(self.dims);
        for b in 0..batch {
            let (tn, td) = (b * t * n..(b + 1) * t * n, b * t * d..(b + 1) * t * d);
            let vb = &v[td.clone()];
            let xpre = &mut xpre[tn.clone()];
            product(xpre, n, (t, n, d), (vb, d, 1), (wx, n, 1), false);
            self.rotate(xpre, &mut w.xr);
            let sc = &mut scores[b * t * t..(b + 1) * t * t];
            causal_scores(sc, &w.xr, &w.xr, t, n);
            let ahat = &mut ahat[td.clone()];
            for rb in blocks(t) {
                let lhs = (&sc[rb.start * t..], t, 1);
                let dst = &mut ahat[rb.start * d..];
                product(dst, d, (rb.len(), d, rb.end), lhs, (vb, d, 1), false);
            }
            for (row, inv) in ahat
                .chunks_exact_mut(d)
                .zip(&mut inv_sigma[b * t..(b + 1) * t])
            {
                *inv = layer_norm(row);
            }
            let ypre = &mut ypre[tn.clone()];
            product(ypre, n, (t, n, d), (ahat, d, 1), (wy, n, 1), false);
            gate(&mut w.g, xpre, ypre, mask.map(|m| &m[tn]));
            product(&mut m[td], d, (t, d, n), (&w.g, n, 1), (dec, d, 1), false);
        }
        w.give_back();
        m
    }

    fn backward(&self, s: &Saved, v: &[f32], weights: &[f32], dm: &[f32]) -> [Vec<f32>; 2] {
        let dims = self.dims;
        let size = dims.d * dims.n;
        let mut dweights = vec![0.0; dims.weights()];
        let (dwx, rest) = dweights.split_at_mut(dims.heads * size);
        let (dwy, ddec) = rest.split_at_mut(dims.heads * size);
        let transposed = self.transposed.get_or_init(|| transposed(weights, dims));
        let per_head: Vec<[&mut [f32]; 3]> = dwx
            .chunks_mut(size)
            .zip(dwy.chunks_mut(size))
            .zip(ddec.chunks_mut(size))
            .map(|((dwx, dwy), ddec)| [dwx, dwy, ddec])
            .collect();
        let partials = map_heads(per_head, |h, grads| {
            self.backward_head(s, h, v, head(transposed, dims, h), dm, grads)
        });
        [sum_in_order(partials), dweights]
    }

    /// One head's backward pass: writes the head's weight gradients (`∂encoder[h]`,
    /// `∂encoder_v[h]`, `∂decoder[h]`) and returns its term of `∂V`, given the head's
    /// transposed weights (`products::transposed`).
    fn backward_head(
        &self,
        s: &Saved,
        h: usize,
        v: &[f32],
        [wx_t, wy_t, dec_t]: [&[f32]; 3],
        dm: &[f32],
        [dwx, dwy, ddec]: [&mut [f32]; 3],
    ) -> Vec<f32> {
        let Dims {
            batch,
            block: t,
            d,
            n,
            ..
        } = self.dims;
        let mut dv = scratch::take(batch * t * d);
        let mut w = Work::new(self.dims);
        let mut dx = scratch::take(t * n);
        for b in 0..batch {
            let c = h * batch + b;
            let (tn, td) = (c * t * n..(c + 1) * t * n, c * t * d..(c + 1) * t * d);
            let (xpre, ypre) = (&s.xpre[tn.clone()], &s.ypre[tn.clone()]);
            let mask = s.mask.as_ref().map(|mask| &mask[tn]);
            let (ahat, inv_sigma) = (&s.ahat[td], &s.inv_sigma[c * t..(c + 1) * t]);
            let sc = &s.scores[c * t * t..(c + 1) * t * t];
            let tokens = b * t * d..(b + 1) * t * d;
            let (vb, dmb) = (&v[tokens.clone()], &dm[tokens.clone()]);
            let dvb = &mut dv[tokens];
            let first = b == 0;

            gate(&mut w.g, xpre, ypre, mask);
            product(ddec, d, (n, d, t), (&w.g, 1, n), (dmb, d, 1), !first);
            product(&mut dx, n, (t, n, d), (dmb, d, 1), (dec_t, n, 1), false);
            match mask {
                Some(mask) => gate_backward(&mut dx, &mut w.dy, xpre, ypre, mask),
                None => gate_backward_unmasked(&mut dx, &mut w.dy, xpre, ypre),
            }
            product(dwy, n, (d, n, t), (ahat, 1, d), (&w.dy, n, 1), !first);
            product(&mut w.a, d, (t, d, n), (&w.dy, n, 1), (wy_t, d, 1), false);
            for ((g, a), inv) in
                w.a.chunks_exact_mut(d)
                    .zip(ahat.chunks_exact(d))
                    .zip(inv_sigma)
            {
                layer_norm_backward(g, a, *inv);
            }
            causal_scores(&mut w.sc, &w.a, vb, t, d);
            for rb in blocks(t) {
                let (r0, m) = (rb.start, rb.len());
                let lhs = (&sc[r0 * t + r0..], 1, t);
                let rhs = (&w.a[r0 * d..], d, 1);
                product(&mut dvb[r0 * d..], d, (m, d, t - r0), lhs, rhs, false);
            }
            self.rotate(xpre, &mut w.xr);
            symmetric_product(&mut w.dy, &w.sc, &w.xr, &mut w.diagonal, t, n);
            for (r, ((dxr, xp), dx)) in
                w.dy.chunks_exact(n)
                    .zip(xpre.chunks_exact(n))
                    .zip(dx.chunks_exact_mut(n))
                    .enumerate()
            {
                let (cos, _) = self.table.at(r);
                let ss = &self.table.signed_sin[r * n..(r + 1) * n];
                rope::rotate_back_relu(dxr, cos, ss, xp, dx);
            }
            product(dwx, n, (d, n, t), (vb, 1, d), (&dx, n, 1), !first);
            product(dvb, d, (t, d, n), (&dx, n, 1), (wx_t, d, 1), true);
        }
        w.give_back();
        scratch::give(dx);
        dv
    }
}

/// `work(h, item)` for each head's item, in parallel on rayon's pool when it has more than one
/// thread; with one, in the calling thread, which keeps its caches (the pool's single worker may
/// run on another core).
fn map_heads<I: Send, R: Send>(items: Vec<I>, work: impl Fn(usize, I) -> R + Sync) -> Vec<R> {
    if rayon::current_num_threads() == 1 {
        items
            .into_iter()
            .enumerate()
            .map(|(h, i)| work(h, i))
            .collect()
    } else {
        items
            .into_par_iter()
            .enumerate()
            .map(|(h, i)| work(h, i))
            .collect()
    }
}

/// The element-wise sum of `parts`, added in their order (so the result does not depend on how
/// many threads computed them); the parts go back to [`scratch`].
fn sum_in_order(parts: Vec<Vec<f32>>) -> Vec<f32> {
    let mut parts = parts.into_iter();
    let first = parts.next().expect("at least one head");
    let mut sum = first.clone();
    scratch::give(first);
    for part in parts {
        sum.iter_mut().zip(&part).for_each(|(s, p)| *s += p);
        scratch::give(part);
    }
    sum
}

fn slice<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [f32]> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        bail!("{what} must be contiguous")
    };
    Ok(&storage.as_slice::<f32>()?[start..end])
}

fn with_slice<R>(t: &Tensor, what: &str, body: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => body(slice(cpu, layout, what)?),
        _ => bail!("{what}: the fused BDH layer runs on the CPU only"),
    }
}

impl CustomOp2 for NeuronLayer {
    fn name(&self) -> &'static str {
        "bdh-neuron-layer"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.check(l1.dims(), l2.dims())?;
        let mask = self
            .mask
            .lock()
            .expect("no panic while holding the lock")
            .take();
        let (m, saved) = self.forward(slice(s1, l1, "v")?, slice(s2, l2, "weights")?, mask);
        if self.keep {
            *self.saved.lock().expect("no panic while holding the lock") = Some(saved);
        } else {
            saved.give_back();
        }
        Ok((
            CpuStorage::F32(m),
            Shape::from((self.dims.rows(), self.dims.d)),
        ))
    }

    fn bwd(
        &self,
        v: &Tensor,
        weights: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let Some(saved) = self
            .saved
            .lock()
            .expect("no panic while holding the lock")
            .take()
        else {
            bail!("neuron layer: backward without the saved forward activations")
        };
        let [dv, dw] = with_slice(v, "v", |v| {
            with_slice(weights, "weights", |w| {
                with_slice(&grad.contiguous()?, "gradient", |g| {
                    Ok(self.backward(&saved, v, w, g))
                })
            })
        })?;
        saved.give_back();
        Ok((
            Some(Tensor::from_vec(dv, v.shape(), v.device())?),
            Some(Tensor::from_vec(dw, weights.shape(), weights.device())?),
        ))
    }
}
