//! The reference's training recipe (`train.py` of pathwaycom/bdh): random byte windows of the
//! training part, mean next-byte cross-entropy, AdamW at a constant learning rate with weight
//! decay on every parameter, no clipping; plus what the reference lacks: a validation loss on
//! the held-out part every `eval_every` steps.
//!
//! Randomness is keyed by (seed, purpose, step): the windows and dropout masks of step `k` do
//! not depend on what ran before, so a resumed run draws what an uninterrupted one would.
//! Validation always uses the same windows (drawn once from the seed), so its values compare
//! across steps.

use std::time::Instant;

use candle_core::Result;
use engram_train::optim::{Optimizer, OptimizerConfig};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::{Corpus, Split};
use crate::model::{self, INIT_STD, Kernels, Lowered, Params};

/// What a random stream is for.
#[derive(Clone, Copy)]
enum Purpose {
    Init = 1,
    Batch = 2,
    Dropout = 3,
    Validation = 4,
}

/// The generator for `purpose` at `index` of a run seeded with `seed`.
fn stream(seed: u64, purpose: Purpose, index: u64) -> Xoshiro256PlusPlus {
    let key = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((purpose as u64) << 56)
        .wrapping_add(index);
    Xoshiro256PlusPlus::seed_from_u64(key)
}

/// One row of `metrics.csv`: a training step, with the validation loss when one was taken.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StepRecord {
    pub step: u64,
    pub train_loss: f64,
    pub tokens_per_s: f64,
    pub validation_loss: Option<f64>,
}

impl StepRecord {
    pub const CSV_HEADER: &'static str = "step,train_loss,tokens_per_s,validation_loss";

    pub fn csv_row(&self) -> String {
        let val = self
            .validation_loss
            .map_or(String::new(), |v| format!("{v:.6}"));
        format!(
            "{},{:.6},{:.1},{val}",
            self.step, self.train_loss, self.tokens_per_s
        )
    }
}

/// A training run: its config, parameters, optimizer and progress.
pub struct Trainer {
    pub config: TrainConfig,
    pub params: Params,
    pub optimizer: Optimizer,
    pub lowered: Lowered,
    pub kernels: Kernels,
    pub steps_done: u64,
    pub history: Vec<StepRecord>,
}

impl Trainer {
    /// A fresh run: weights drawn from the seed, optimizer state zero.
    pub fn new(config: TrainConfig) -> Result<Self> {
        let mut init = stream(config.train.seed, Purpose::Init, 0);
        let params = Params::init(&config.model, &mut init, INIT_STD)?;
        let t = &config.train;
        let optimizer = Optimizer::new(
            OptimizerConfig::AdamW {
                lr: t.lr,
                betas: [0.9, 0.999],
                eps: 1e-8,
                weight_decay: t.weight_decay,
            },
            params.named(),
        )?;
        let lowered = Lowered::new(&config.model, t.block)?;
        Ok(Trainer {
            config,
            params,
            optimizer,
            lowered,
            kernels: Kernels::Fused,
            steps_done: 0,
            history: Vec::new(),
        })
    }

    /// One optimisation step on fresh training windows; returns its record (no validation).
    pub fn step(&mut self, corpus: &Corpus) -> Result<StepRecord> {
        let clock = Instant::now();
        let t = &self.config.train;
        let step = self.steps_done + 1;
        let w = corpus.windows(
            Split::Train,
            t.batch,
            t.block,
            &mut stream(t.seed, Purpose::Batch, step),
        );
        let mut dropout = stream(t.seed, Purpose::Dropout, step);
        let logits = model::forward(
            &self.config.model,
            &self.params,
            &self.lowered,
            &w.inputs,
            t.batch,
            Some(&mut dropout),
            self.kernels,
        )?;
        let loss = model::loss(&logits, &w.targets)?;
        let grads = loss.backward()?;
        self.optimizer.step(&grads)?;
        self.steps_done = step;
        Ok(StepRecord {
            step,
            train_loss: f64::from(loss.to_scalar::<f32>()?),
            tokens_per_s: (t.batch * t.block) as f64 / clock.elapsed().as_secs_f64(),
            validation_loss: None,
        })
    }

    /// The mean loss over the first `batches` validation batches (no dropout).
    pub fn validation_loss(&self, corpus: &Corpus, batches: usize) -> Result<f64> {
        let t = &self.config.train;
        let mut rng = stream(t.seed, Purpose::Validation, 0);
        let mut sum = 0.0;
        for _ in 0..batches {
            let w = corpus.windows(Split::Validation, t.batch, t.block, &mut rng);
            let logits = model::forward(
                &self.config.model,
                &self.params,
                &self.lowered,
                &w.inputs,
                t.batch,
                None,
                self.kernels,
            )?;
            sum += f64::from(model::loss(&logits, &w.targets)?.to_scalar::<f32>()?);
        }
        Ok(sum / batches as f64)
    }
}
