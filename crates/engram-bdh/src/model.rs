//! BDH-GPU's parameters and its token-parallel forward pass (the training form), as the
//! reference `bdh.py` (pathwaycom/bdh @ 714bc80) computes it; `shared/specs/bdh.md` §2.2.
//!
//! Parameters (all layers share them; init i.i.d. `N(0, 0.02²)`, no biases):
//! `embed (V,D)`, `encoder (H,D,N)` (paper `D_x`), `encoder_v (H,D,N)` (paper `D_y`),
//! `decoder (H·N,D)` (paper `E`), `lm_head (D,V)`.
//!
//! With `LN` the parameter-free LayerNorm over the last axis (biased variance, ε = 10⁻⁵) and
//! `R_t` the rotation of [`crate::rope`], for bytes `idx` (B, T):
//!
//! ```text
//! v⁰ = LN(embed[idx])                                        (B·T, D)
//! for l = 1..L, per head h:
//!     x_t = ReLU(v_t^{l−1} · encoder[h])                     neuron activity, ≥ 0
//!     a_t = Σ_{s<t} ⟨R_t x_t, R_s x_s⟩ · v_s^{l−1}           strictly causal, no softmax
//!     y_t = ReLU(LN(a_t) · encoder_v[h])
//!     g_t = dropout(x_t ⊙ y_t)                               the paper's sparse "y"
//! m_t = Σ_h g_t[h] · decoder[h]                              heads concatenated head-major
//! v_t^l = LN(v_t^{l−1} + LN(m_t))
//! logits = v^L · lm_head                                      (B·T, V)
//! ```
//!
//! Neuron tensors are `[H, B·T, N]`: head, then batch-major tokens, then neuron. The
//! layer's work from `v^{l−1}` to `m` runs either as one candle op per operation
//! ([`Kernels::Reference`], the definition) or as one fused op ([`Kernels::Fused`],
//! [`crate::attention`]), tested equal.

use std::sync::Arc;

use candle_core::{D, DType, Device, Result, Tensor, Var};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::attention;
use crate::config::BdhConfig;
use crate::rope::RopeTable;
use crate::scratch;

/// LayerNorm's ε.
pub const LN_EPS: f64 = 1e-5;

/// The standard deviation of the initial weights.
pub const INIT_STD: f32 = 0.02;

/// The five trained tensors.
pub struct Params {
    pub embed: Var,
    pub encoder: Var,
    pub encoder_v: Var,
    pub decoder: Var,
    pub lm_head: Var,
}

impl Params {
    /// Weights drawn i.i.d. `N(0, std²)` from `rng`, in the order of
    /// [`BdhConfig::parameter_shapes`].
    pub fn init(config: &BdhConfig, rng: &mut impl Rng, std: f32) -> Result<Self> {
        let tensors = config.parameter_shapes().map(|(_, shape)| {
            let count = shape.iter().product();
            let values: Vec<f32> = (0..count)
                .map(|_| std * Distribution::<f64>::sample(&StandardNormal, rng) as f32)
                .collect();
            Var::from_vec(values, shape, &Device::Cpu)
        });
        let [embed, encoder, encoder_v, decoder, lm_head] = tensors;
        Ok(Params {
            embed: embed?,
            encoder: encoder?,
            encoder_v: encoder_v?,
            decoder: decoder?,
            lm_head: lm_head?,
        })
    }

    /// The parameters with the reference's names.
    pub fn named(&self) -> Vec<(String, Var)> {
        [
            ("embed", &self.embed),
            ("encoder", &self.encoder),
            ("encoder_v", &self.encoder_v),
            ("decoder", &self.decoder),
            ("lm_head", &self.lm_head),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect()
    }

    /// The number of scalars held.
    pub fn count(&self) -> usize {
        self.named().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// The parameters held by `tensors` (by name), checking that all five are there, f32,
    /// with the shapes `config` gives.
    pub fn from_tensors(config: &BdhConfig, tensors: &[(String, Tensor)]) -> Result<Self> {
        let [embed, encoder, encoder_v, decoder, lm_head] =
            config.parameter_shapes().map(|(name, shape)| {
                let Some((_, t)) = tensors.iter().find(|(n, _)| n == name) else {
                    candle_core::bail!("parameter {name} is missing")
                };
                if t.dims() != shape.as_slice() || t.dtype() != DType::F32 {
                    candle_core::bail!(
                        "parameter {name} is {:?} {:?}, expected F32 {shape:?}",
                        t.dtype(),
                        t.dims()
                    )
                }
                Var::from_tensor(t)
            });
        Ok(Params {
            embed: embed?,
            encoder: encoder?,
            encoder_v: encoder_v?,
            decoder: decoder?,
            lm_head: lm_head?,
        })
    }

    /// Overwrites every parameter with the tensor of the same name in `tensors` (checked as
    /// [`Params::from_tensors`] does), keeping the variables (and so an optimizer's hold on
    /// them).
    pub fn load(&self, config: &BdhConfig, tensors: &[(String, Tensor)]) -> Result<()> {
        let loaded = Params::from_tensors(config, tensors)?;
        for ((_, var), (_, new)) in self.named().iter().zip(loaded.named()) {
            var.set(new.as_tensor())?;
        }
        Ok(())
    }
}

/// How the element-wise work on the neuron tensors is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// One candle op per operation: the definition.
    Reference,
    /// The fused neuron block of [`crate::attention`].
    Fused,
}

/// What the parallel form derives from the shape for sequences of `block` tokens: RoPE tables
/// `[T, N]` (sines signed for the pair swap), the pair-swap permutation and the strictly
/// causal mask `[T, T]`.
pub struct Lowered {
    pub block: usize,
    pub table: Arc<RopeTable>,
    cos: Tensor,
    signed_sin: Tensor,
    swap: Tensor,
    causal: Tensor,
}

impl Lowered {
    pub fn new(config: &BdhConfig, block: usize) -> Result<Self> {
        let n = config.neurons_per_head();
        let table = RopeTable::new(block, n);
        let dev = &Device::Cpu;
        let swap: Vec<u32> = (0..n as u32).map(|i| i ^ 1).collect();
        let causal: Vec<f32> = (0..block * block)
            .map(|k| if k % block < k / block { 1.0 } else { 0.0 })
            .collect();
        Ok(Lowered {
            cos: Tensor::from_slice(&table.cos, (block, n), dev)?,
            signed_sin: Tensor::from_slice(&table.signed_sin, (block, n), dev)?,
            swap: Tensor::from_vec(swap, n, dev)?,
            causal: Tensor::from_vec(causal, (block, block), dev)?,
            table: Arc::new(table),
            block,
        })
    }
}

/// LayerNorm over the last axis without affine parameters (biased variance, ε = 10⁻⁵).
pub fn layer_norm(z: &Tensor) -> Result<Tensor> {
    let centred = z.broadcast_sub(&z.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + LN_EPS)?.sqrt()?)
}

/// `count` dropout multipliers: 0 with probability `p` (to 2⁻³² resolution: a uniform 32-bit
/// draw below `p·2³²`), else `1/(1−p)` (inverted dropout). Each 64-bit draw of `rng` gives two
/// 32-bit ones (low half first): the generator was 4 % of a training step.
pub fn dropout_mask(count: usize, p: f64, rng: &mut impl Rng) -> Vec<f32> {
    let keep = (1.0 / (1.0 - p)) as f32;
    let threshold = (p * 2f64.powi(32)) as u64;
    let multiplier = |draw: u64| if draw < threshold { 0.0 } else { keep };
    let mut mask = scratch::take(count);
    for pair in mask.chunks_mut(2) {
        let draw = rng.next_u64();
        pair[0] = multiplier(draw & 0xFFFF_FFFF);
        if let Some(second) = pair.get_mut(1) {
            *second = multiplier(draw >> 32);
        }
    }
    mask
}

/// The decoded message `m` `[B·T, D]` (before its LayerNorm) from the residual `v` `[B·T, D]`,
/// one candle op per operation: ReLU, RoPE (as `x ⊙ cos + swap(x) ⊙ sin±`), masked scores,
/// LN, gate, dropout, decoder summed over heads.
pub fn neuron_layer_reference(
    params: &Params,
    low: &Lowered,
    v: &Tensor,
    dims: attention::Dims,
    mask: Option<Vec<f32>>,
) -> Result<Tensor> {
    let attention::Dims {
        batch,
        block: t,
        d,
        heads: h,
        n,
    } = dims;
    let bt = batch * t;
    let v_heads = v.unsqueeze(0)?.broadcast_as((h, bt, d))?.contiguous()?;
    let x = v_heads.matmul(params.encoder.as_tensor())?.relu()?;
    let x4 = x.reshape((h, batch, t, n))?;
    let swapped = x4.index_select(&low.swap, 3)?;
    let xr = (x4.broadcast_mul(&low.cos)? + swapped.broadcast_mul(&low.signed_sin)?)?;
    let xr = xr.reshape((h * batch, t, n))?;
    let scores = xr.matmul(&xr.t()?)?.broadcast_mul(&low.causal)?;
    let a = scores.matmul(&v_heads.reshape((h * batch, t, d))?)?;
    let y = layer_norm(&a.reshape((h, bt, d))?)?
        .matmul(params.encoder_v.as_tensor())?
        .relu()?;
    let g = (x * y)?;
    let g = match mask {
        Some(m) => (g * Tensor::from_vec(m, (h, bt, n), &Device::Cpu)?)?,
        None => g,
    };
    g.matmul(&params.decoder.as_tensor().reshape((h, n, d))?)?
        .sum(0)
}

/// The logits `(B·T, V)` for `tokens`, `batch` sequences of `low.block` bytes each
/// (batch-major). With `dropout = Some(rng)` the dropout masks are drawn from `rng` (training).
pub fn forward(
    config: &BdhConfig,
    params: &Params,
    low: &Lowered,
    tokens: &[u32],
    batch: usize,
    mut dropout: Option<&mut Xoshiro256PlusPlus>,
    kernels: Kernels,
) -> Result<Tensor> {
    let (t, d, h, n) = (
        low.block,
        config.n_embd,
        config.n_head,
        config.neurons_per_head(),
    );
    let bt = batch * t;
    if tokens.len() != bt {
        candle_core::bail!(
            "forward: {} tokens for {batch} sequences of {t}",
            tokens.len()
        )
    }
    let ids = Tensor::from_slice(tokens, bt, &Device::Cpu)?;
    let dims = attention::Dims {
        batch,
        block: t,
        d,
        heads: h,
        n,
    };
    let weights = match kernels {
        Kernels::Reference => None,
        Kernels::Fused => Some(attention::PackedWeights::new(
            params.encoder.as_tensor(),
            params.encoder_v.as_tensor(),
            params.decoder.as_tensor(),
        )?),
    };
    let mut v = layer_norm(&params.embed.as_tensor().index_select(&ids, 0)?)?;
    for _ in 0..config.n_layer {
        let mask = match dropout.as_deref_mut() {
            Some(rng) if config.dropout > 0.0 => {
                Some(dropout_mask(h * bt * n, config.dropout, rng))
            }
            _ => None,
        };
        let m = match &weights {
            None => neuron_layer_reference(params, low, &v, dims, mask)?,
            Some(weights) => attention::neuron_layer(&v, weights, &low.table, dims, mask)?,
        };
        v = layer_norm(&(&v + layer_norm(&m)?)?)?;
    }
    v.matmul(params.lm_head.as_tensor())
}

/// The mean next-byte cross-entropy of `logits` `(B·T, V)` against `targets`.
pub fn loss(logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let targets = Tensor::from_slice(targets, targets.len(), &Device::Cpu)?;
    candle_nn::loss::cross_entropy(logits, &targets)
}
