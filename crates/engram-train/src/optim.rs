//! Optimizers over named f32 [`Var`]s on the CPU, with learning-rate schedules, gradient
//! clipping and a state that exports to named tensors, so a checkpoint resumes bit for bit.
//!
//! With gradient `g`, parameter `θ`, learning rate `η`, weight decay `λ` and per-parameter step
//! count `k` (1 at the first update; PyTorch semantics, a parameter without a gradient is
//! skipped and its `k` does not advance):
//!
//! - **adam** (Kingma & Ba 2015; PyTorch `torch.optim.Adam`, L2 decay in the gradient):
//!   `g ← g + λθ`, `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
//!   `θ ← θ − (η/(1−β₁ᵏ))·m / (√v/√(1−β₂ᵏ) + ε)`.
//! - **adamw** (Loshchilov & Hutter 2019; PyTorch `torch.optim.AdamW`, candle `AdamW`): decoupled
//!   decay `θ ← θ(1 − ηλ)` first, then the Adam update with the raw gradient.
//! - **sgd** (PyTorch `torch.optim.SGD`): `g ← g + λθ`; with momentum `μ ≠ 0`, `b ← g` at the
//!   first step and `b ← μb + (1−τ)g` after (dampening `τ`), then `d = g + μb` (nesterov) or
//!   `d = b`; without momentum `d = g`; `θ ← θ − ηd`.
//!
//! The update of each parameter is one fused pass over f32 slices, in place in the parameter's
//! storage (a candle [`InplaceOp2`] with the gradient; moments kept as `Vec<f32>`). Scalar
//! coefficients (`η/(1−β₁ᵏ)`, `√(1−β₂ᵏ)`) are computed in f64 and rounded to f32 once, as
//! PyTorch's single-tensor path does; `m` and `v` use the textbook `β·m + (1−β)·g` form
//! (PyTorch writes the first moment as a `lerp`, which can differ in the last bit).
//!
//! Learning-rate schedules are in [`schedule`] ([`Schedule`]).
//!
//! Clipping ([`GradClip`]): by global L2 norm `‖g‖ = √(Σ g²)` over all parameters (accumulated
//! in f64), scaling every gradient by `c/(‖g‖ + 10⁻⁶)` when that is below 1 (PyTorch
//! `clip_grad_norm_`), or by value, clamping each entry to `[−c, c]` (`clip_grad_value_`).
//!
//! State export names: `<kind>.m.<param>`, `<kind>.v.<param>` (adam, adamw),
//! `sgd.momentum.<param>` (sgd with momentum), and `<kind>.step.<param>` (an i64 scalar).

use candle_core::backprop::GradStore;
use candle_core::{
    CpuStorage, DType, Device, InplaceOp2, Layout, Result, Storage, Tensor, Var, bail,
};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashSet;

mod schedule;
pub use schedule::Schedule;

/// Which optimizer, with its hyper-parameters; see the module documentation.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Adam with optional L2 weight decay added to the gradient.
    Adam {
        lr: f64,
        #[serde(default = "default_betas")]
        betas: [f64; 2],
        #[serde(default = "default_eps")]
        eps: f64,
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam with decoupled weight decay (PyTorch's default `weight_decay = 0.01`).
    #[serde(rename = "adamw")]
    AdamW {
        lr: f64,
        #[serde(default = "default_betas")]
        betas: [f64; 2],
        #[serde(default = "default_eps")]
        eps: f64,
        #[serde(default = "default_adamw_decay")]
        weight_decay: f64,
    },
    /// Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.
    Sgd {
        lr: f64,
        #[serde(default)]
        momentum: f64,
        #[serde(default)]
        dampening: f64,
        #[serde(default)]
        nesterov: bool,
        #[serde(default)]
        weight_decay: f64,
    },
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}

fn default_eps() -> f64 {
    1e-8
}

fn default_adamw_decay() -> f64 {
    0.01
}

impl OptimizerConfig {
    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            Self::Adam { lr, .. } | Self::AdamW { lr, .. } | Self::Sgd { lr, .. } => lr,
        }
    }

    /// The prefix of this optimizer's exported state names.
    fn kind(&self) -> &'static str {
        match self {
            Self::Adam { .. } => "adam",
            Self::AdamW { .. } => "adamw",
            Self::Sgd { .. } => "sgd",
        }
    }

    /// The exported names of a parameter's first and second state vectors.
    fn state_labels(&self) -> [&'static str; 2] {
        match self {
            Self::Adam { .. } | Self::AdamW { .. } => ["m", "v"],
            Self::Sgd { .. } => ["momentum", ""],
        }
    }

    /// Checks the hyper-parameters: `lr ≥ 0`, `betas` in `[0, 1)`, `eps ≥ 0`, `weight_decay ≥
    /// 0`, `momentum ≥ 0`, `dampening` in `[0, 1]`, nesterov only with momentum and no
    /// dampening (as PyTorch); all finite.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let kind = self.kind();
        let non_negative = |name: &str, x: f64| {
            if x.is_finite() && x >= 0.0 {
                Ok(())
            } else {
                Err(format!(
                    "{kind} optimizer: {name} must be finite and >= 0, got {x}"
                ))
            }
        };
        non_negative("lr", self.lr())?;
        match *self {
            Self::Adam {
                betas,
                eps,
                weight_decay,
                ..
            }
            | Self::AdamW {
                betas,
                eps,
                weight_decay,
                ..
            } => {
                for (i, b) in betas.into_iter().enumerate() {
                    if !(0.0..1.0).contains(&b) {
                        return Err(format!(
                            "{kind} optimizer: betas[{i}] must lie in [0, 1), got {b}"
                        ));
                    }
                }
                non_negative("eps", eps)?;
                non_negative("weight_decay", weight_decay)
            }
            Self::Sgd {
                momentum,
                dampening,
                nesterov,
                weight_decay,
                ..
            } => {
                non_negative("momentum", momentum)?;
                non_negative("weight_decay", weight_decay)?;
                if !(0.0..=1.0).contains(&dampening) {
                    return Err(format!(
                        "sgd optimizer: dampening must lie in [0, 1], got {dampening}"
                    ));
                }
                if nesterov && (momentum == 0.0 || dampening != 0.0) {
                    return Err(
                        "sgd optimizer: nesterov needs momentum > 0 and dampening = 0".into(),
                    );
                }
                Ok(())
            }
        }
    }
}

/// One parameter and its optimizer state.
struct Param {
    name: String,
    var: Var,
    /// Updates applied so far (PyTorch's per-parameter `state['step']`).
    steps: u64,
    /// Adam's first moment `m`, or SGD's momentum buffer (empty without momentum).
    first: Vec<f32>,
    /// Adam's second moment `v` (empty for SGD).
    second: Vec<f32>,
}

/// An optimizer over named parameters: its configuration, current learning rate and state.
pub struct Optimizer {
    config: OptimizerConfig,
    lr: f64,
    params: Vec<Param>,
}

impl Optimizer {
    /// An optimizer for `params` (f32, on the CPU, with distinct names), starting at the
    /// configured learning rate with zeroed state.
    pub fn new(config: OptimizerConfig, params: Vec<(String, Var)>) -> Result<Self> {
        if let Err(msg) = config.validate() {
            bail!("{msg}")
        }
        let (mut names, mut ids) = (HashSet::new(), HashSet::new());
        let mut state = Vec::with_capacity(params.len());
        for (name, var) in params {
            if !names.insert(name.clone()) || !ids.insert(var.id()) {
                bail!("optimizer: parameter {name:?} appears twice")
            }
            if var.dtype() != DType::F32 || !var.device().is_cpu() {
                bail!(
                    "optimizer: parameter {name:?} must be f32 on the CPU, is {:?}",
                    var.dtype()
                )
            }
            let n = var.elem_count();
            let (first, second) = match config {
                OptimizerConfig::Adam { .. } | OptimizerConfig::AdamW { .. } => (n, n),
                OptimizerConfig::Sgd { momentum, .. } => (if momentum != 0.0 { n } else { 0 }, 0),
            };
            state.push(Param {
                name,
                var,
                steps: 0,
                first: vec![0.0; first],
                second: vec![0.0; second],
            });
        }
        Ok(Self {
            lr: config.lr(),
            config,
            params: state,
        })
    }

    /// The learning rate the next [`Optimizer::step`] uses.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate (e.g. from a [`Schedule`]) for the following steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// The configuration this optimizer was built from.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Applies one update to every parameter that has a gradient in `grads`, in place.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        for p in &mut self.params {
            let Some(grad) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            if grad.dims() != p.var.dims() {
                bail!(
                    "optimizer: gradient of {:?} has shape {:?}, expected {:?}",
                    p.name,
                    grad.dims(),
                    p.var.dims()
                )
            }
            let k = p.steps + 1;
            let op = FusedStep {
                rule: Rule::new(&self.config, self.lr, k),
                first: RefCell::new(std::mem::take(&mut p.first)),
                second: RefCell::new(std::mem::take(&mut p.second)),
            };
            let done = p.var.as_tensor().inplace_op2(&grad.contiguous()?, &op);
            p.first = op.first.into_inner();
            p.second = op.second.into_inner();
            done?;
            p.steps = k;
        }
        Ok(())
    }

    /// The global L2 norm of the parameters' gradients in `grads` (accumulated in f64).
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut sum = 0.0f64;
        for p in &self.params {
            if let Some(g) = grads.get(p.var.as_tensor()) {
                sum += with_f32(g, sum_of_squares)?;
            }
        }
        Ok(sum.sqrt())
    }

    /// Scales all gradients by `max_norm/(‖g‖ + 10⁻⁶)` if that is below 1; returns the norm
    /// `‖g‖` before clipping.
    pub fn clip_grad_norm(&self, grads: &mut GradStore, max_norm: f64) -> Result<f64> {
        let norm = self.grad_norm(grads)?;
        let coef = max_norm / (norm + 1e-6);
        if coef < 1.0 {
            for p in &self.params {
                if let Some(g) = grads.get(p.var.as_tensor()) {
                    let scaled = (g * coef)?;
                    grads.insert(p.var.as_tensor(), scaled);
                }
            }
        }
        Ok(norm)
    }

    /// Clamps every gradient entry to `[−max_value, max_value]`; returns the global norm before.
    pub fn clip_grad_value(&self, grads: &mut GradStore, max_value: f64) -> Result<f64> {
        let norm = self.grad_norm(grads)?;
        for p in &self.params {
            if let Some(g) = grads.get(p.var.as_tensor()) {
                let clamped = g.clamp(-max_value, max_value)?;
                grads.insert(p.var.as_tensor(), clamped);
            }
        }
        Ok(norm)
    }

    /// The optimizer state as named tensors (see the module documentation for the names), per
    /// parameter in order: first state vector, second, step count.
    pub fn export_state(&self) -> Result<Vec<(String, Tensor)>> {
        let kind = self.config.kind();
        let mut out = Vec::new();
        for p in &self.params {
            for (label, data) in self
                .config
                .state_labels()
                .into_iter()
                .zip([&p.first, &p.second])
            {
                if !data.is_empty() {
                    let t = Tensor::from_slice(data, p.var.shape(), &Device::Cpu)?;
                    out.push((format!("{kind}.{label}.{}", p.name), t));
                }
            }
            let steps = i64::try_from(p.steps).map_err(candle_core::Error::wrap)?;
            out.push((
                format!("{kind}.step.{}", p.name),
                Tensor::new(steps, &Device::Cpu)?,
            ));
        }
        Ok(out)
    }

    /// Restores the state written by [`Optimizer::export_state`] of an optimizer of the same
    /// kind over the same parameter names and shapes. Entries without this optimizer's prefix
    /// (`adam.`, `adamw.`, `sgd.`) are ignored; a missing entry, a wrong shape or dtype, a
    /// negative step count or an entry naming no parameter is an error, and leaves the state
    /// unchanged.
    pub fn import_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let kind = self.config.kind();
        let template = self.export_state()?;
        let prefix = format!("{kind}.");
        for (name, _) in state {
            if name.starts_with(&prefix) && !template.iter().any(|(n, _)| n == name) {
                bail!("optimizer state: {name:?} names no parameter of this {kind} optimizer")
            }
        }
        let mut found = Vec::with_capacity(template.len());
        for (name, like) in &template {
            let Some((_, t)) = state.iter().find(|(n, _)| n == name) else {
                bail!("optimizer state: {name:?} is missing")
            };
            if t.dims() != like.dims() || t.dtype() != like.dtype() {
                bail!(
                    "optimizer state: {name:?} is {:?} {:?}, expected {:?} {:?}",
                    t.dtype(),
                    t.dims(),
                    like.dtype(),
                    like.dims()
                )
            }
            if t.dtype() == DType::I64 && t.to_scalar::<i64>()? < 0 {
                bail!("optimizer state: {name:?} is a negative step count")
            }
            found.push(t);
        }
        // Same order as the export: per parameter, its non-empty state vectors, then its steps.
        let mut found = found.into_iter();
        let mut next = || found.next().expect("one entry per template entry");
        let mut restored = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let mut vectors = [Vec::new(), Vec::new()];
            for (v, data) in vectors.iter_mut().zip([&p.first, &p.second]) {
                if !data.is_empty() {
                    *v = next().flatten_all()?.to_vec1::<f32>()?;
                }
            }
            restored.push((vectors, next().to_scalar::<i64>()? as u64));
        }
        for (p, ([first, second], steps)) in self.params.iter_mut().zip(restored) {
            (p.first, p.second, p.steps) = (first, second, steps);
        }
        Ok(())
    }
}

/// Runs `f` on the f32 elements of `t` in logical order, in place when `t` is contiguous.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    if !t.is_contiguous() {
        return with_f32(&t.contiguous()?, f);
    }
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        bail!("optimizer: tensors must be on the CPU")
    };
    let (start, end) = layout.contiguous_offsets().expect("checked contiguous");
    Ok(f(&cpu.as_slice::<f32>()?[start..end]))
}

/// `Σ x²` in f64, over eight interleaved partial sums (a fixed order, so deterministic).
fn sum_of_squares(x: &[f32]) -> f64 {
    let mut lanes = [0f64; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(c) {
            *lane += f64::from(v) * f64::from(v);
        }
    }
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum();
    lanes.iter().sum::<f64>() + tail
}

/// The update rule of one step, with its scalars rounded to f32 once.
enum Rule {
    Adam {
        beta1: f32,
        beta2: f32,
        one_minus_beta1: f32,
        one_minus_beta2: f32,
        /// `η/(1−β₁ᵏ)`.
        step_size: f32,
        /// `√(1−β₂ᵏ)`.
        bias2_sqrt: f32,
        eps: f32,
        /// `1 − ηλ` for AdamW, 1 for Adam.
        decay: f32,
        /// `λ` added to the gradient for Adam, 0 for AdamW.
        l2: f32,
    },
    Sgd {
        lr: f32,
        momentum: f32,
        /// `1 − dampening`.
        keep: f32,
        weight_decay: f32,
        nesterov: bool,
        /// Whether this is the parameter's first update (the buffer starts as the gradient).
        first: bool,
    },
}

impl Rule {
    /// The rule of `config` at learning rate `lr` for a parameter's `k`-th update.
    fn new(config: &OptimizerConfig, lr: f64, k: u64) -> Self {
        let adam = |betas: [f64; 2], eps: f64, decay: f64, l2: f64| {
            let k = i32::try_from(k).unwrap_or(i32::MAX);
            Rule::Adam {
                beta1: betas[0] as f32,
                beta2: betas[1] as f32,
                one_minus_beta1: (1.0 - betas[0]) as f32,
                one_minus_beta2: (1.0 - betas[1]) as f32,
                step_size: (lr / (1.0 - betas[0].powi(k))) as f32,
                bias2_sqrt: (1.0 - betas[1].powi(k)).sqrt() as f32,
                eps: eps as f32,
                decay: decay as f32,
                l2: l2 as f32,
            }
        };
        match *config {
            OptimizerConfig::Adam {
                betas,
                eps,
                weight_decay,
                ..
            } => adam(betas, eps, 1.0, weight_decay),
            OptimizerConfig::AdamW {
                betas,
                eps,
                weight_decay,
                ..
            } => adam(betas, eps, 1.0 - lr * weight_decay, 0.0),
            OptimizerConfig::Sgd {
                momentum,
                dampening,
                nesterov,
                weight_decay,
                ..
            } => Rule::Sgd {
                lr: lr as f32,
                momentum: momentum as f32,
                keep: (1.0 - dampening) as f32,
                weight_decay: weight_decay as f32,
                nesterov,
                first: k == 1,
            },
        }
    }
}

/// One fused in-place update of a parameter (the destination) from its gradient, with the
/// parameter's state (Adam's `m`, `v`; SGD's momentum buffer) lent for the call.
struct FusedStep {
    rule: Rule,
    first: RefCell<Vec<f32>>,
    second: RefCell<Vec<f32>>,
}

impl InplaceOp2 for FusedStep {
    fn name(&self) -> &'static str {
        "optimizer-step"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let (CpuStorage::F32(theta), CpuStorage::F32(g)) = (s1, s2) else {
            bail!("optimizer: parameters and gradients must be f32")
        };
        let (Some((a1, b1)), Some((a2, b2))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            bail!("optimizer: parameters and gradients must be contiguous")
        };
        let (theta, g) = (&mut theta[a1..b1], &g[a2..b2]);
        let (mut first, mut second) = (self.first.borrow_mut(), self.second.borrow_mut());
        match self.rule {
            Rule::Adam {
                beta1,
                beta2,
                one_minus_beta1,
                one_minus_beta2,
                step_size,
                bias2_sqrt,
                eps,
                decay,
                l2,
            } => {
                let (m, v) = (&mut first[..], &mut second[..]);
                let n = theta.len();
                if g.len() != n || m.len() != n || v.len() != n {
                    bail!("optimizer: parameter, gradient and state lengths differ")
                }
                for (((p, &g), m), v) in theta.iter_mut().zip(g).zip(m).zip(v) {
                    let g = g + l2 * *p;
                    *m = beta1 * *m + one_minus_beta1 * g;
                    *v = beta2 * *v + one_minus_beta2 * g * g;
                    *p = *p * decay - step_size * (*m / (v.sqrt() / bias2_sqrt + eps));
                }
            }
            Rule::Sgd {
                lr,
                momentum,
                keep,
                weight_decay,
                nesterov,
                first: is_first,
            } => {
                if g.len() != theta.len() || !(first.is_empty() || first.len() == theta.len()) {
                    bail!("optimizer: parameter, gradient and state lengths differ")
                }
                if first.is_empty() {
                    for (p, &g) in theta.iter_mut().zip(g) {
                        *p -= lr * (g + weight_decay * *p);
                    }
                } else {
                    for ((p, &g), b) in theta.iter_mut().zip(g).zip(first.iter_mut()) {
                        let g = g + weight_decay * *p;
                        *b = if is_first {
                            g
                        } else {
                            momentum * *b + keep * g
                        };
                        let d = if nesterov { g + momentum * *b } else { *b };
                        *p -= lr * d;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Gradient clipping applied between `backward` and [`Optimizer::step`].
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GradClip {
    /// Rescale so the global L2 norm is at most `max_norm`.
    Norm { max_norm: f64 },
    /// Clamp each entry to `[−max_value, max_value]`.
    Value { max_value: f64 },
}

impl GradClip {
    /// Checks the bound: finite and > 0.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let (GradClip::Norm { max_norm: c } | GradClip::Value { max_value: c }) = *self;
        if c.is_finite() && c > 0.0 {
            Ok(())
        } else {
            Err(format!(
                "gradient clipping: the bound must be finite and > 0, got {c}"
            ))
        }
    }

    /// Clips the gradients of `optimizer`'s parameters; returns their global norm before.
    pub fn apply(&self, optimizer: &Optimizer, grads: &mut GradStore) -> Result<f64> {
        match *self {
            GradClip::Norm { max_norm } => optimizer.clip_grad_norm(grads, max_norm),
            GradClip::Value { max_value } => optimizer.clip_grad_value(grads, max_value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(v: &[f32]) -> Var {
        Var::from_vec(v.to_vec(), v.len(), &Device::Cpu).unwrap()
    }

    fn values(v: &Var) -> Vec<f32> {
        v.as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    }

    /// Gradients of `½ Σ θ²` (so `g = θ`) over all `vars`.
    fn half_square_grads(vars: &[&Var]) -> GradStore {
        let mut loss = Tensor::new(0f32, &Device::Cpu).unwrap();
        for v in vars {
            loss =
                (loss + (v.as_tensor().sqr().unwrap().sum_all().unwrap() * 0.5).unwrap()).unwrap();
        }
        loss.backward().unwrap()
    }

    fn adam(lr: f64, weight_decay: f64) -> OptimizerConfig {
        OptimizerConfig::Adam {
            lr,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay,
        }
    }

    fn sgd(lr: f64, momentum: f64, nesterov: bool, weight_decay: f64) -> OptimizerConfig {
        OptimizerConfig::Sgd {
            lr,
            momentum,
            dampening: 0.0,
            nesterov,
            weight_decay,
        }
    }

    fn assert_close(got: &[f32], want: &[f64], tol: f64) {
        for (g, w) in got.iter().zip(want) {
            assert!(
                (f64::from(*g) - w).abs() <= tol * (1.0 + w.abs()),
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn adam_first_three_steps_follow_the_pytorch_formulas() {
        let theta0 = [1.0f32, -2.0, 3.0];
        let p = var(&theta0);
        let mut opt = Optimizer::new(adam(0.1, 0.0), vec![("w".into(), p.clone())]).unwrap();
        // Reference in f64: g = θ, PyTorch's Adam written out.
        let (b1, b2, lr, eps) = (0.9f64, 0.999f64, 0.1f64, 1e-8f64);
        let mut th: Vec<f64> = theta0.iter().map(|&x| x.into()).collect();
        let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
        for k in 1..=3 {
            opt.step(&half_square_grads(&[&p])).unwrap();
            for ((th, m), v) in th.iter_mut().zip(&mut m).zip(&mut v) {
                let g = *th;
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                let denom = v.sqrt() / (1.0 - b2.powi(k)).sqrt() + eps;
                *th -= lr / (1.0 - b1.powi(k)) * *m / denom;
            }
            assert_close(&values(&p), &th, 1e-6);
            if k == 1 {
                // The first Adam step moves every coordinate by lr against the gradient's sign.
                assert_close(&values(&p), &[0.9, -1.9, 2.9], 1e-6);
            }
        }
    }

    #[test]
    fn sgd_momentum_first_three_steps_match_hand_values() {
        // g = θ, lr 0.1, μ 0.9: b = θ₀, θ₁ = 0.9θ₀; b = 1.8θ₀, θ₂ = 0.72θ₀; b = 2.34θ₀,
        // θ₃ = 0.486θ₀.
        let p = var(&[1.0, -2.0, 3.0]);
        let mut opt =
            Optimizer::new(sgd(0.1, 0.9, false, 0.0), vec![("w".into(), p.clone())]).unwrap();
        for factor in [0.9, 0.72, 0.486] {
            opt.step(&half_square_grads(&[&p])).unwrap();
            assert_close(&values(&p), &[factor, -2.0 * factor, 3.0 * factor], 1e-6);
        }
        // Nesterov: d = g + μb: θ₁ = 0.81θ₀; b = 1.71θ₀, d = 2.349θ₀, θ₂ = 0.5751θ₀.
        let p = var(&[1.0, -2.0, 3.0]);
        let mut opt =
            Optimizer::new(sgd(0.1, 0.9, true, 0.0), vec![("w".into(), p.clone())]).unwrap();
        for factor in [0.81, 0.5751] {
            opt.step(&half_square_grads(&[&p])).unwrap();
            assert_close(&values(&p), &[factor, -2.0 * factor, 3.0 * factor], 1e-6);
        }
        // Plain SGD with L2 decay 0.1: θ₁ = θ₀ − 0.1(θ₀ + 0.1θ₀) = 0.89θ₀.
        let p = var(&[1.0, -2.0, 3.0]);
        let mut opt =
            Optimizer::new(sgd(0.1, 0.0, false, 0.1), vec![("w".into(), p.clone())]).unwrap();
        opt.step(&half_square_grads(&[&p])).unwrap();
        assert_close(&values(&p), &[0.89, -1.78, 2.67], 1e-6);
    }

    #[test]
    fn adamw_decays_decoupled_and_adam_decays_through_the_gradient() {
        // `θ − θ`, not `0·θ`: candle's backward skips an affine map with factor 0.
        let zero_grads = |p: &Var| {
            (p.as_tensor() - p.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
        };
        let theta0 = [1.0f32, -2.0, 3.0];
        // AdamW with a zero gradient: θ ← θ(1 − ηλ) each step, the Adam part is 0.
        let p = var(&theta0);
        let cfg = OptimizerConfig::AdamW {
            lr: 0.1,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.5,
        };
        let mut opt = Optimizer::new(cfg, vec![("w".into(), p.clone())]).unwrap();
        for _ in 0..3 {
            opt.step(&zero_grads(&p)).unwrap();
        }
        let want: Vec<f64> = theta0
            .iter()
            .map(|&x| f64::from(x) * 0.95f64.powi(3))
            .collect();
        assert_close(&values(&p), &want, 1e-6);
        // Adam's L2 decay enters the normalised gradient: the first step is −lr·sign(θ).
        let p = var(&theta0);
        let mut opt = Optimizer::new(adam(0.1, 0.5), vec![("w".into(), p.clone())]).unwrap();
        opt.step(&zero_grads(&p)).unwrap();
        assert_close(&values(&p), &[0.9, -1.9, 2.9], 1e-6);
    }

    #[test]
    fn parameters_without_gradient_are_skipped() {
        let (a, b) = (var(&[1.0, 2.0]), var(&[3.0]));
        let params = vec![("a".into(), a.clone()), ("b".into(), b.clone())];
        let mut opt = Optimizer::new(adam(0.1, 0.0), params).unwrap();
        opt.step(&half_square_grads(&[&a])).unwrap();
        assert_eq!(values(&b), [3.0]);
        let state = opt.export_state().unwrap();
        let steps = |n: &str| {
            state
                .iter()
                .find(|(k, _)| k == n)
                .unwrap()
                .1
                .to_scalar::<i64>()
                .unwrap()
        };
        assert_eq!((steps("adam.step.a"), steps("adam.step.b")), (1, 0));
    }

    #[test]
    fn clipping_by_norm_and_value() {
        // g = θ: ‖g‖ = √(9 + 16 + 0 + 144) = 13 over two parameters.
        let (a, b) = (var(&[3.0, 4.0, 0.0]), var(&[12.0]));
        let opt = Optimizer::new(
            sgd(0.1, 0.0, false, 0.0),
            vec![("a".into(), a.clone()), ("b".into(), b.clone())],
        )
        .unwrap();
        let mut grads = half_square_grads(&[&a, &b]);
        let norm = GradClip::Norm { max_norm: 1.3 }
            .apply(&opt, &mut grads)
            .unwrap();
        assert!((norm - 13.0).abs() < 1e-9);
        assert!((opt.grad_norm(&grads).unwrap() - 1.3).abs() < 1e-6);
        let scale = 1.3 / (13.0 + 1e-6);
        let ga = grads.get(&a).unwrap().to_vec1::<f32>().unwrap();
        assert_close(&ga, &[3.0 * scale, 4.0 * scale, 0.0], 1e-7);
        // Below the bound nothing changes.
        let mut grads = half_square_grads(&[&a, &b]);
        assert!((opt.clip_grad_norm(&mut grads, 20.0).unwrap() - 13.0).abs() < 1e-9);
        assert_eq!(grads.get(&b).unwrap().to_vec1::<f32>().unwrap(), [12.0]);
        // By value.
        let mut grads = half_square_grads(&[&a, &b]);
        GradClip::Value { max_value: 3.5 }
            .apply(&opt, &mut grads)
            .unwrap();
        assert_eq!(
            grads.get(&a).unwrap().to_vec1::<f32>().unwrap(),
            [3.0, 3.5, 0.0]
        );
        assert_eq!(grads.get(&b).unwrap().to_vec1::<f32>().unwrap(), [3.5]);
    }

    /// A loss whose gradient changes every step: Σ (θ − c)⁴ / 4 + θ₀θ₁.
    fn rough_grads(p: &Var) -> GradStore {
        let c = Tensor::new(&[0.5f32, -0.25, 1.0, 2.0], &Device::Cpu).unwrap();
        let d = p.as_tensor().broadcast_sub(&c).unwrap();
        let quartic = (d.sqr().unwrap().sqr().unwrap().sum_all().unwrap() * 0.25).unwrap();
        let cross = (p.as_tensor().narrow(0, 0, 1).unwrap()
            * p.as_tensor().narrow(0, 1, 1).unwrap())
        .unwrap();
        (quartic + cross.sum_all().unwrap())
            .unwrap()
            .backward()
            .unwrap()
    }

    #[test]
    fn exported_state_resumes_bit_for_bit() {
        let configs = [
            adam(0.05, 0.01),
            OptimizerConfig::AdamW {
                lr: 0.05,
                betas: [0.8, 0.99],
                eps: 1e-6,
                weight_decay: 0.1,
            },
            sgd(0.05, 0.9, true, 0.01),
            OptimizerConfig::Sgd {
                lr: 0.05,
                momentum: 0.5,
                dampening: 0.3,
                nesterov: false,
                weight_decay: 0.0,
            },
        ];
        let theta0 = [1.5f32, -0.7, 0.2, 3.0];
        for cfg in configs {
            let schedule = Schedule::Cosine {
                warmup_steps: 2,
                min_lr: 0.001,
            };
            let run = |opt: &mut Optimizer, p: &Var, steps: std::ops::Range<usize>| {
                for s in steps {
                    opt.set_lr(schedule.lr(cfg.lr(), s, 3, 6));
                    opt.step(&rough_grads(p)).unwrap();
                }
            };
            let p = var(&theta0);
            let mut opt = Optimizer::new(cfg.clone(), vec![("w".into(), p.clone())]).unwrap();
            run(&mut opt, &p, 0..6);
            let uninterrupted = values(&p);

            let p = var(&theta0);
            let mut opt = Optimizer::new(cfg.clone(), vec![("w".into(), p.clone())]).unwrap();
            run(&mut opt, &p, 0..3);
            let state = opt.export_state().unwrap();
            let saved = values(&p);
            drop(opt);
            let p = var(&saved);
            let mut opt = Optimizer::new(cfg.clone(), vec![("w".into(), p.clone())]).unwrap();
            opt.import_state(&state).unwrap();
            run(&mut opt, &p, 3..6);
            let resumed = values(&p);
            assert_eq!(
                uninterrupted
                    .iter()
                    .map(|x| x.to_bits())
                    .collect::<Vec<_>>(),
                resumed.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "{cfg:?}"
            );
            // Without the state the continuation differs.
            let p = var(&saved);
            let mut fresh = Optimizer::new(cfg.clone(), vec![("w".into(), p.clone())]).unwrap();
            run(&mut fresh, &p, 3..6);
            assert_ne!(values(&p), uninterrupted, "{cfg:?}");
        }
    }

    #[test]
    fn import_rejects_missing_misshapen_and_unknown_entries() {
        let p = var(&[1.0, 2.0]);
        let mut opt = Optimizer::new(adam(0.1, 0.0), vec![("w".into(), p.clone())]).unwrap();
        opt.step(&half_square_grads(&[&p])).unwrap();
        let state = opt.export_state().unwrap();
        // A failed import leaves the state as it was.
        let mut negative = state.clone();
        negative[2].1 = Tensor::new(-1i64, &Device::Cpu).unwrap();
        assert!(opt.import_state(&negative).is_err());
        let unchanged = opt.export_state().unwrap();
        for ((_, a), (_, b)) in state.iter().zip(&unchanged) {
            let (a, b) = (a.flatten_all().unwrap(), b.flatten_all().unwrap());
            assert_eq!(a.to_string(), b.to_string());
        }
        let names: Vec<&str> = state.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["adam.m.w", "adam.v.w", "adam.step.w"]);
        assert!(opt.import_state(&state[1..]).is_err());
        let mut bad = state.clone();
        bad[0].1 = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
        assert!(opt.import_state(&bad).is_err());
        let mut extra = state.clone();
        extra.push((
            "adam.m.gone".into(),
            Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap(),
        ));
        assert!(opt.import_state(&extra).is_err());
        let mut other = state.clone();
        other.push((
            "model.w".into(),
            Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap(),
        ));
        assert!(opt.import_state(&other).is_ok());
    }

    #[test]
    fn minimising_a_quadratic_converges() {
        // ½ Σ aᵢ(θᵢ − cᵢ)², condition number 10.
        let a = Tensor::new(&[1.0f32, 4.0, 10.0], &Device::Cpu).unwrap();
        let c = [0.5f32, -1.0, 2.0];
        let target = Tensor::new(&c, &Device::Cpu).unwrap();
        let grads = |p: &Var| {
            let d = (p.as_tensor() - &target).unwrap();
            ((d.sqr().unwrap() * &a).unwrap().sum_all().unwrap() * 0.5)
                .unwrap()
                .backward()
                .unwrap()
        };
        let total = 400;
        let schedule = Schedule::Cosine {
            warmup_steps: 10,
            min_lr: 0.0,
        };
        for cfg in [
            adam(0.1, 0.0),
            sgd(0.05, 0.9, false, 0.0),
            sgd(0.05, 0.9, true, 0.0),
        ] {
            let p = var(&[3.0, 3.0, -3.0]);
            let mut opt = Optimizer::new(cfg.clone(), vec![("w".into(), p.clone())]).unwrap();
            for s in 0..total {
                opt.set_lr(schedule.lr(cfg.lr(), s, 10, total));
                opt.step(&grads(&p)).unwrap();
            }
            let c64: Vec<f64> = c.iter().map(|&x| x.into()).collect();
            assert_close(&values(&p), &c64, 1e-3);
        }
    }

    #[test]
    fn configs_parse_from_toml_and_validate() {
        let parse = |s: &str| toml::from_str::<OptimizerConfig>(s);
        assert_eq!(
            parse(
                "kind = \"adam\"\nlr = 5e-4\nbetas = [0.9, 0.999]\neps = 1e-8\nweight_decay = 0.0"
            )
            .unwrap(),
            adam(5e-4, 0.0)
        );
        assert_eq!(
            parse("kind = \"sgd\"\nlr = 0.1\nmomentum = 0.9\nnesterov = false").unwrap(),
            sgd(0.1, 0.9, false, 0.0)
        );
        assert_eq!(
            parse("kind = \"adamw\"\nlr = 1e-3").unwrap(),
            OptimizerConfig::AdamW {
                lr: 1e-3,
                betas: [0.9, 0.999],
                eps: 1e-8,
                weight_decay: 0.01
            }
        );
        assert!(parse("kind = \"adam\"\nlr = 1e-3\nbeta = [0.9, 0.99]").is_err());
        assert!(parse("kind = \"adam\"").is_err());
        assert!(adam(-1e-3, 0.0).validate().is_err());
        let betas = |b| OptimizerConfig::Adam {
            lr: 1e-3,
            betas: b,
            eps: 1e-8,
            weight_decay: 0.0,
        };
        assert!(betas([1.0, 0.999]).validate().is_err());
        assert!(betas([0.9, -0.1]).validate().is_err());
        assert!(sgd(0.1, 0.0, true, 0.0).validate().is_err());
        assert!(Optimizer::new(adam(f64::NAN, 0.0), vec![]).is_err());
        let p = var(&[1.0]);
        let twice = |a: &str, b: &str| {
            Optimizer::new(
                adam(0.1, 0.0),
                vec![(a.into(), p.clone()), (b.into(), p.clone())],
            )
        };
        assert!(twice("w", "w").is_err() && twice("w", "u").is_err());
        assert!(
            Optimizer::new(
                adam(0.1, 0.0),
                vec![("w".into(), p), ("u".into(), var(&[1.0]))]
            )
            .is_ok()
        );

        let clip = |s: &str| toml::from_str::<GradClip>(s);
        assert_eq!(
            clip("kind = \"norm\"\nmax_norm = 1.0").unwrap(),
            GradClip::Norm { max_norm: 1.0 }
        );
        assert!(GradClip::Value { max_value: 0.0 }.validate().is_err());
    }
}
