//! The element-wise work of a BDH layer on its `[H, B·T, N]` neuron tensors as fused candle
//! custom ops, each one pass over memory forward and one backward:
//!
//! - [`relu_rope`]: `x = ReLU(xpre)`, `x̃ = R_t x` (position `t` = row mod block). Backward:
//!   `∂xpre = 1[xpre > 0] ⊙ (∂x + R_tᵀ ∂x̃)`, done by [`rope`]'s backward (`R_tᵀ ∂x̃`) and the
//!   ReLU's.
//! - [`gate`]: `g = x ⊙ ReLU(ypre) ⊙ mask` (mask: inverted-dropout multipliers or none).
//!   Backward: `∂x = ∂g ⊙ ReLU(ypre) ⊙ mask`, `∂ypre = ∂g ⊙ x ⊙ 1[ypre > 0] ⊙ mask`.
//!
//! [`crate::model::Kernels::Reference`] computes the same with one candle op per operation;
//! the tests below check values and gradients against it. f32 on the CPU only.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Storage, Tensor, bail};

use crate::rope::{self, RopeTable};

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
        _ => bail!("{what}: the fused BDH ops run on the CPU only"),
    }
}

/// `(ReLU(xpre), R ReLU(xpre))` for `xpre` `[H, B·T, N]`, rows at positions `row mod block`
/// of `table` (built for `block` positions).
pub fn relu_rope(xpre: &Tensor, table: &Arc<RopeTable>) -> Result<(Tensor, Tensor)> {
    let x = xpre.relu()?;
    let xr = rope(&x, table)?;
    Ok((x, xr))
}

/// `R_t x` for `x` `[.., N]` whose rows are at positions `row mod block`.
pub fn rope(x: &Tensor, table: &Arc<RopeTable>) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Rope {
        table: table.clone(),
        inverse: false,
    })
}

struct Rope {
    table: Arc<RopeTable>,
    inverse: bool,
}

impl Rope {
    fn run(&self, input: &[f32]) -> Vec<f32> {
        let n = self.table.n;
        let block = self.table.cos.len() / n;
        let mut out = vec![0.0; input.len()];
        for (row, (o, x)) in out
            .chunks_exact_mut(n)
            .zip(input.chunks_exact(n))
            .enumerate()
        {
            let (c, s) = self.table.at(row % block);
            if self.inverse {
                rope::rotate_back(x, c, s, o);
            } else {
                rope::rotate(x, c, s, o);
            }
        }
        out
    }
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "bdh-rope"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        if layout.dims().last() != Some(&self.table.n) {
            bail!(
                "rope: last axis of {:?} is not N = {}",
                layout.dims(),
                self.table.n
            )
        }
        let out = self.run(slice(storage, layout, "rope input")?);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let back = Rope {
            table: self.table.clone(),
            inverse: !self.inverse,
        };
        let g = with_slice(&grad.contiguous()?, "rope gradient", |g| Ok(back.run(g)))?;
        Ok(Some(Tensor::from_vec(g, arg.shape(), arg.device())?))
    }
}

/// `x ⊙ ReLU(ypre) ⊙ mask` for equal-shaped `x`, `ypre` (and `mask`, if given).
pub fn gate(x: &Tensor, ypre: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let mask = match mask {
        Some(m) => Some(with_slice(&m.contiguous()?, "gate mask", |m| {
            Ok(Arc::new(m.to_vec()))
        })?),
        None => None,
    };
    x.contiguous()?
        .apply_op2(&ypre.contiguous()?, Gate { mask })
}

struct Gate {
    mask: Option<Arc<Vec<f32>>>,
}

impl Gate {
    fn check(&self, a: &[usize], b: &[usize], len: usize) -> Result<()> {
        if a != b || self.mask.as_ref().is_some_and(|m| m.len() != len) {
            bail!("gate: x {a:?}, ypre {b:?} and the mask must have one shape")
        }
        Ok(())
    }
}

impl CustomOp2 for Gate {
    fn name(&self) -> &'static str {
        "bdh-gate"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, "gate x")?;
        let y = slice(s2, l2, "gate ypre")?;
        self.check(l1.dims(), l2.dims(), x.len())?;
        let out: Vec<f32> = match &self.mask {
            Some(m) => x
                .iter()
                .zip(y)
                .zip(m.iter())
                .map(|((x, y), m)| x * y.max(0.0) * m)
                .collect(),
            None => x.iter().zip(y).map(|(x, y)| x * y.max(0.0)).collect(),
        };
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        ypre: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dy) = with_slice(x, "gate x", |x| {
            with_slice(ypre, "gate ypre", |y| {
                with_slice(&grad.contiguous()?, "gate gradient", |g| {
                    let len = x.len();
                    let (mut dx, mut dy) = (vec![0.0; len], vec![0.0; len]);
                    for i in 0..len {
                        let gm = g[i] * self.mask.as_ref().map_or(1.0, |m| m[i]);
                        dx[i] = gm * y[i].max(0.0);
                        dy[i] = if y[i] > 0.0 { gm * x[i] } else { 0.0 };
                    }
                    Ok((dx, dy))
                })
            })
        })?;
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(dy, ypre.shape(), ypre.device())?),
        ))
    }
}
