//! One BDH layer's neuron block, from the residual `v` to the gated activity `g`, as a single
//! fused candle op (forward and backward written out over `gemm` calls and slice loops):
//!
//! ```text
//! Xpre = V·encoder[h],  X = ReLU(Xpre),  X̃ = R X                 [B·T, N] per head
//! Sc   = tril₋₁(X̃ X̃ᵀ),  A = Sc·V,  Â = LN(A)                    per sequence
//! Ypre = Â·encoder_v[h],  G = X ⊙ ReLU(Ypre) ⊙ M                  M: dropout multipliers
//! ```
//!
//! Backward, with `∂G` given (`tril₋₁` keeps `s < t`; LN's backward uses the saved `Â` and
//! `1/σ`):
//!
//! ```text
//! ∂X   = ∂G ⊙ ReLU(Ypre) ⊙ M,           ∂Ypre = ∂G ⊙ X ⊙ 1[Ypre > 0] ⊙ M
//! ∂encoder_v[h] = Âᵀ ∂Ypre,             ∂Â = ∂Ypre · encoder_v[h]ᵀ
//! ∂A   = (∂Â − mean(∂Â) − Â·mean(∂Â ⊙ Â)) / σ
//! ∂Sc  = tril₋₁(∂A Vᵀ),  ∂V += Scᵀ ∂A,  ∂X̃ = (∂Sc + ∂Scᵀ) X̃
//! ∂Xpre = 1[Xpre > 0] ⊙ (∂X + Rᵀ ∂X̃),  ∂encoder[h] = Vᵀ ∂Xpre,  ∂V += ∂Xpre · encoder[h]ᵀ
//! ```
//!
//! Compared with one candle op per operation it makes no intermediate graph nodes (no
//! gradient accumulation passes), and the causal products are computed block-triangularly
//! (blocks of [`BLOCK`] tokens): only the blocks on or below the diagonal are multiplied.
//! The forward keeps `Xpre`, `X̃`, `Sc`, `Â`, `1/σ` and `Ypre` for the backward when a
//! gradient is wanted. Tested against [`crate::model::Kernels::Reference`].

use std::ops::Range;
use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Storage, Tensor, bail};
use gemm::{Parallelism, gemm};

use crate::model::LN_EPS;
use crate::rope::{self, RopeTable};

/// Tokens per block of the block-triangular causal products.
pub const BLOCK: usize = 64;

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
}

/// A row-major or transposed view for [`product`]: `(data, row stride, column stride)`.
type View<'a> = (&'a [f32], usize, usize);

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, `dst` row-major with row stride `dst_rs`.
fn product(
    dst: &mut [f32],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: View,
    rhs: View,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        k == 0 || last(m, k, lhs.1, lhs.2) < lhs.0.len(),
        "lhs out of bounds"
    );
    assert!(
        k == 0 || last(k, n, rhs.1, rhs.2) < rhs.0.len(),
        "rhs out of bounds"
    );
    assert!(last(m, n, dst_rs, 1) < dst.len(), "dst out of bounds");
    // SAFETY: every element read or written lies in its slice (asserted above); dst is a
    // unique borrow, so it does not alias lhs or rhs.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0.as_ptr(),
            rhs.2 as isize,
            rhs.1 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// The token ranges of the causal blocks of a sequence of `t` tokens.
fn blocks(t: usize) -> impl Iterator<Item = Range<usize>> {
    (0..t.div_ceil(BLOCK)).map(move |i| i * BLOCK..((i + 1) * BLOCK).min(t))
}

/// What the forward keeps for the backward, all heads: `[H, B·T, N]`, `[H·B, T, T]`,
/// `[H, B·T, D]`, `[H, B·T]`.
struct Saved {
    xpre: Vec<f32>,
    xr: Vec<f32>,
    scores: Vec<f32>,
    ahat: Vec<f32>,
    inv_sigma: Vec<f32>,
    ypre: Vec<f32>,
}

/// `G` `[H, B·T, N]` for the residual `v` `[B·T, D]`, with dropout multipliers `mask`
/// (`[H, B·T, N]`) if given; gradients reach `v`, `encoder` and `encoder_v`.
pub fn neuron_block(
    v: &Tensor,
    encoder: &Tensor,
    encoder_v: &Tensor,
    table: &Arc<RopeTable>,
    dims: Dims,
    mask: Option<Vec<f32>>,
) -> Result<Tensor> {
    let keep = v.track_op() || encoder.track_op() || encoder_v.track_op();
    v.contiguous()?.apply_op3(
        &encoder.contiguous()?,
        &encoder_v.contiguous()?,
        NeuronBlock {
            dims,
            table: table.clone(),
            mask,
            keep,
            saved: Mutex::new(None),
        },
    )
}

struct NeuronBlock {
    dims: Dims,
    table: Arc<RopeTable>,
    mask: Option<Vec<f32>>,
    keep: bool,
    saved: Mutex<Option<Saved>>,
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
        _ => bail!("{what}: the fused BDH block runs on the CPU only"),
    }
}

impl NeuronBlock {
    fn check(&self, v: &[usize], enc: &[usize], enc_v: &[usize]) -> Result<()> {
        let Dims { d, heads, n, .. } = self.dims;
        if v != [self.dims.rows(), d] || enc != [heads, d, n] || enc_v != [heads, d, n] {
            bail!(
                "neuron block: v {v:?}, encoder {enc:?}, encoder_v {enc_v:?} do not fit {:?}",
                self.dims
            )
        }
        if self.table.n != n || self.table.cos.len() != self.dims.block * n {
            bail!(
                "neuron block: the RoPE table is not for {} positions of {n}",
                self.dims.block
            )
        }
        if self
            .mask
            .as_ref()
            .is_some_and(|m| m.len() != heads * self.dims.rows() * n)
        {
            bail!("neuron block: the dropout mask is not [H, B·T, N]")
        }
        Ok(())
    }

    fn mask(&self, i: usize) -> f32 {
        self.mask.as_ref().map_or(1.0, |m| m[i])
    }

    fn forward(&self, v: &[f32], enc: &[f32], enc_v: &[f32]) -> (Vec<f32>, Saved) {
        let Dims {
            batch,
            block: t,
            d,
            heads,
            n,
        } = self.dims;
        let rows = self.dims.rows();
        let mut s = Saved {
            xpre: vec![0.0; heads * rows * n],
            xr: vec![0.0; heads * rows * n],
            scores: vec![0.0; heads * batch * t * t],
            ahat: vec![0.0; heads * rows * d],
            inv_sigma: vec![0.0; heads * rows],
            ypre: vec![0.0; heads * rows * n],
        };
        let mut g = vec![0.0; heads * rows * n];
        let mut x = vec![0.0; n];
        for h in 0..heads {
            let (wx, wy) = (
                &enc[h * d * n..(h + 1) * d * n],
                &enc_v[h * d * n..(h + 1) * d * n],
            );
            let head = h * rows * n..(h + 1) * rows * n;
            let xpre = &mut s.xpre[head.clone()];
            product(xpre, n, (rows, n, d), (v, d, 1), (wx, n, 1), false);
            for (r, (xp, xr)) in xpre
                .chunks_exact(n)
                .zip(s.xr[head.clone()].chunks_exact_mut(n))
                .enumerate()
            {
                x.iter_mut().zip(xp).for_each(|(x, p)| *x = p.max(0.0));
                let (c, sn) = self.table.at(r % t);
                rope::rotate(&x, c, sn, xr);
            }
            let ahat = &mut s.ahat[h * rows * d..(h + 1) * rows * d];
            for b in 0..batch {
                let xr = &s.xr[head.start + b * t * n..head.start + (b + 1) * t * n];
                let sc = &mut s.scores[(h * batch + b) * t * t..(h * batch + b + 1) * t * t];
                let vb = &v[b * t * d..(b + 1) * t * d];
                let a = &mut ahat[b * t * d..(b + 1) * t * d];
                for rb in blocks(t) {
                    let (r0, m) = (rb.start, rb.len());
                    product(
                        &mut sc[r0 * t..],
                        t,
                        (m, rb.end, n),
                        (&xr[r0 * n..], n, 1),
                        (xr, 1, n),
                        false,
                    );
                    for r in rb.clone() {
                        sc[r * t + r..r * t + rb.end].fill(0.0);
                    }
                    product(
                        &mut a[r0 * d..],
                        d,
                        (m, d, rb.end),
                        (&sc[r0 * t..], t, 1),
                        (vb, d, 1),
                        false,
                    );
                }
            }
            for (row, inv) in ahat
                .chunks_exact_mut(d)
                .zip(&mut s.inv_sigma[h * rows..(h + 1) * rows])
            {
                *inv = layer_norm(row);
            }
            product(
                &mut s.ypre[head.clone()],
                n,
                (rows, n, d),
                (ahat, d, 1),
                (wy, n, 1),
                false,
            );
            for i in head {
                g[i] = s.xpre[i].max(0.0) * s.ypre[i].max(0.0) * self.mask(i);
            }
        }
        (g, s)
    }

    fn backward(
        &self,
        s: &Saved,
        v: &[f32],
        enc: &[f32],
        enc_v: &[f32],
        dg: &[f32],
    ) -> [Vec<f32>; 3] {
        let Dims {
            batch,
            block: t,
            d,
            heads,
            n,
        } = self.dims;
        let rows = self.dims.rows();
        let (mut dv, mut denc, mut denc_v) = (
            vec![0.0; rows * d],
            vec![0.0; heads * d * n],
            vec![0.0; heads * d * n],
        );
        let mut dx = vec![0.0; rows * n];
        let mut dypre = vec![0.0; rows * n];
        let mut da = vec![0.0; rows * d];
        let mut dsc = vec![0.0; t * t];
        let mut dxr = vec![0.0; t * n];
        let mut back = vec![0.0; n];
        for h in 0..heads {
            let (wx, wy) = (
                &enc[h * d * n..(h + 1) * d * n],
                &enc_v[h * d * n..(h + 1) * d * n],
            );
            let head = h * rows * n..(h + 1) * rows * n;
            let (xpre, ypre, xr) = (
                &s.xpre[head.clone()],
                &s.ypre[head.clone()],
                &s.xr[head.clone()],
            );
            for (k, i) in head.clone().enumerate() {
                let gm = dg[i] * self.mask(i);
                dx[k] = gm * ypre[k].max(0.0);
                dypre[k] = if ypre[k] > 0.0 {
                    gm * xpre[k].max(0.0)
                } else {
                    0.0
                };
            }
            let ahat = &s.ahat[h * rows * d..(h + 1) * rows * d];
            let dwy = &mut denc_v[h * d * n..(h + 1) * d * n];
            product(dwy, n, (d, n, rows), (ahat, 1, d), (&dypre, n, 1), false);
            product(&mut da, d, (rows, d, n), (&dypre, n, 1), (wy, 1, n), false);
            for ((g, a), inv) in da
                .chunks_exact_mut(d)
                .zip(ahat.chunks_exact(d))
                .zip(&s.inv_sigma[h * rows..(h + 1) * rows])
            {
                layer_norm_backward(g, a, *inv);
            }
            for b in 0..batch {
                let tokens = b * t..(b + 1) * t;
                let sc = &s.scores[(h * batch + b) * t * t..(h * batch + b + 1) * t * t];
                let vb = &v[tokens.start * d..tokens.end * d];
                let dab = &da[tokens.start * d..tokens.end * d];
                let xrb = &xr[tokens.start * n..tokens.end * n];
                for rb in blocks(t) {
                    let (r0, m) = (rb.start, rb.len());
                    product(
                        &mut dsc[r0 * t..],
                        t,
                        (m, rb.end, d),
                        (&dab[r0 * d..], d, 1),
                        (vb, 1, d),
                        false,
                    );
                    for r in rb.clone() {
                        dsc[r * t + r..r * t + rb.end].fill(0.0);
                    }
                    let dvb = &mut dv[(tokens.start + r0) * d..];
                    product(
                        dvb,
                        d,
                        (m, d, t - r0),
                        (&sc[r0 * t + r0..], 1, t),
                        (&dab[r0 * d..], d, 1),
                        true,
                    );
                }
                for rb in blocks(t) {
                    let (r0, m) = (rb.start, rb.len());
                    product(
                        &mut dxr[r0 * n..],
                        n,
                        (m, n, rb.end),
                        (&dsc[r0 * t..], t, 1),
                        (xrb, n, 1),
                        false,
                    );
                    product(
                        &mut dxr[r0 * n..],
                        n,
                        (m, n, t - r0),
                        (&dsc[r0 * t + r0..], 1, t),
                        (&xrb[r0 * n..], n, 1),
                        true,
                    );
                }
                for (r, dxr_row) in dxr.chunks_exact(n).enumerate() {
                    let (c, sn) = self.table.at(r);
                    rope::rotate_back(dxr_row, c, sn, &mut back);
                    let k = (tokens.start + r) * n;
                    for (j, bk) in back.iter().enumerate() {
                        dx[k + j] = if xpre[k + j] > 0.0 {
                            dx[k + j] + bk
                        } else {
                            0.0
                        };
                    }
                }
            }
            let dwx = &mut denc[h * d * n..(h + 1) * d * n];
            product(dwx, n, (d, n, rows), (v, 1, d), (&dx, n, 1), false);
            product(&mut dv, d, (rows, d, n), (&dx, n, 1), (wx, 1, n), true);
        }
        [dv, denc, denc_v]
    }
}

/// LayerNorm of `row` in place (no affine, biased variance); returns `1/σ`.
fn layer_norm(row: &mut [f32]) -> f32 {
    let len = row.len() as f32;
    let mean = row.iter().sum::<f32>() / len;
    let var = row.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / len;
    let inv = 1.0 / (var + LN_EPS as f32).sqrt();
    row.iter_mut().for_each(|x| *x = (*x - mean) * inv);
    inv
}

/// Turns `grad` (with respect to the normalised row `normed`) into the gradient with respect
/// to the row before normalisation.
fn layer_norm_backward(grad: &mut [f32], normed: &[f32], inv_sigma: f32) {
    let len = grad.len() as f32;
    let mean = grad.iter().sum::<f32>() / len;
    let mean_dot = grad.iter().zip(normed).map(|(g, a)| g * a).sum::<f32>() / len;
    for (g, a) in grad.iter_mut().zip(normed) {
        *g = inv_sigma * (*g - mean - a * mean_dot);
    }
}

impl CustomOp3 for NeuronBlock {
    fn name(&self) -> &'static str {
        "bdh-neuron-block"
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
        self.check(l1.dims(), l2.dims(), l3.dims())?;
        let (g, saved) = self.forward(
            slice(s1, l1, "v")?,
            slice(s2, l2, "encoder")?,
            slice(s3, l3, "encoder_v")?,
        );
        if self.keep {
            *self.saved.lock().expect("saved activations") = Some(saved);
        }
        let Dims { heads, n, .. } = self.dims;
        Ok((
            CpuStorage::F32(g),
            Shape::from((heads, self.dims.rows(), n)),
        ))
    }

    fn bwd(
        &self,
        v: &Tensor,
        enc: &Tensor,
        enc_v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(saved) = self.saved.lock().expect("saved activations").take() else {
            bail!("neuron block: backward without the saved forward activations")
        };
        let [dv, de, dev] = with_slice(v, "v", |v| {
            with_slice(enc, "encoder", |e| {
                with_slice(enc_v, "encoder_v", |ev| {
                    with_slice(&grad.contiguous()?, "gradient", |g| {
                        Ok(self.backward(&saved, v, e, ev, g))
                    })
                })
            })
        })?;
        Ok((
            Some(Tensor::from_vec(dv, v.shape(), v.device())?),
            Some(Tensor::from_vec(de, enc.shape(), enc.device())?),
            Some(Tensor::from_vec(dev, enc_v.shape(), enc_v.device())?),
        ))
    }
}
