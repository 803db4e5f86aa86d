//! The training file: data, encoder, network, loss, optimizer, schedule and loop, in TOML.
//!
//! ```toml
//! seed = 0
//! [data]
//! dataset = "mnist"              # or "fashion_mnist"; IDX files (raw or .gz) in `dir`
//! dir = "data/mnist"             # relative to the working directory
//! [encoder]
//! kind = "rate"                  # rate | latency | direct (see `encode`)
//! [model]
//! steps = 25
//! layers = [ { size = 1000, beta = 0.95 }, { size = 10, beta = 0.95 } ]
//! [loss]
//! kind = "ce_count"              # ce_count | ce_max_membrane | mse_count
//! [optimizer]
//! kind = "adam"
//! lr = 5e-4
//! [train]
//! epochs = 1
//! batch_size = 128
//! ```
//!
//! Every table and field is checked before anything runs: an unknown field, a wrong type or
//! an impossible value is an error naming the file, the line and the field.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::encode::Encoder;
use crate::lif::Reset;
use crate::loss::Loss;
use crate::optim::{GradClip, OptimizerConfig, Schedule};
use crate::surrogate::Surrogate;

/// A whole training run.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    #[serde(default)]
    pub seed: u64,
    pub data: DataConfig,
    pub encoder: Encoder,
    pub model: ModelConfig,
    #[serde(default = "default_loss")]
    pub loss: Loss,
    pub optimizer: OptimizerConfig,
    #[serde(default = "constant_schedule")]
    pub schedule: Schedule,
    pub train: LoopConfig,
}

fn constant_schedule() -> Schedule {
    Schedule::Constant {}
}

fn default_loss() -> Loss {
    Loss::CeCount {}
}

/// Which dataset, and where its files are.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub dataset: DatasetKind,
    pub dir: PathBuf,
    /// Use only the first this many training samples (for quick runs and tests).
    #[serde(default)]
    pub train_limit: Option<usize>,
    /// Evaluate on only the first this many test samples.
    #[serde(default)]
    pub test_limit: Option<usize>,
}

impl DataConfig {
    /// How many of a training split's `available` samples a run uses (`train_limit`).
    pub fn train_samples(&self, available: usize) -> usize {
        self.train_limit.map_or(available, |l| l.min(available))
    }

    /// How many of a test split's `available` samples evaluation uses (`test_limit`).
    pub fn test_samples(&self, available: usize) -> usize {
        self.test_limit.map_or(available, |l| l.min(available))
    }
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
}

/// The network: `steps` time steps through a stack of spiking layers, each fed by a dense
/// projection of the layer below (the encoded input for the first).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub steps: usize,
    pub layers: Vec<LayerConfig>,
}

/// One spiking layer: a dense projection into `size` LIF neurons.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LayerConfig {
    pub size: usize,
    /// The neuron: `lif`, `alif` (adaptive threshold) or `rlif` (recurrent, all-to-all).
    #[serde(default)]
    pub neuron: Neuron,
    /// `alif` only: the decay of the threshold adaptation per step, `ρ = exp(−dt/τ_a)`
    /// (default 0.98).
    #[serde(default)]
    pub rho: Option<f64>,
    /// `alif` only: how far one unit of adaptation raises the threshold (default 0.1).
    #[serde(default)]
    pub kappa: Option<f64>,
    #[serde(default = "default_beta")]
    pub beta: f64,
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    #[serde(default)]
    pub reset: Reset,
    #[serde(default = "default_true")]
    pub detach_reset: bool,
    #[serde(default)]
    pub surrogate: Surrogate,
    #[serde(default)]
    pub learn_beta: bool,
    #[serde(default)]
    pub learn_threshold: bool,
}

/// Which fused layer a [`LayerConfig`] builds.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Neuron {
    /// [`crate::lif`].
    #[default]
    Lif,
    /// [`crate::alif`].
    Alif,
    /// [`crate::rlif`], with its recurrent weights trained alongside the projection.
    Rlif,
}

fn default_beta() -> f64 {
    0.95
}

fn default_threshold() -> f64 {
    1.0
}

fn default_true() -> bool {
    true
}

/// The loop: how long, in what batches, with what safeguards.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    pub epochs: usize,
    pub batch_size: usize,
    #[serde(default = "default_eval_batch_size")]
    pub eval_batch_size: usize,
    /// Gradient clipping, e.g. `{ kind = "norm", max_norm = 1.0 }`.
    #[serde(default)]
    pub clip: Option<GradClip>,
}

fn default_eval_batch_size() -> usize {
    1000
}

/// A training file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {field}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
}

/// Reads and checks the training file at `path`.
pub fn load(path: &Path) -> Result<TrainConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.into(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and checks training-file text; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<TrainConfig, ConfigError> {
    let config: TrainConfig = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |span| line_at(text, span.start));
        let message = e.message().trim_end().to_string();
        ConfigError::Invalid {
            path: path.into(),
            line,
            field: field_at(text, line),
            message,
        }
    })?;
    config
        .validate()
        .map_err(|(field, message)| ConfigError::Invalid {
            path: path.into(),
            line: line_of_field(text, &field),
            field,
            message,
        })?;
    Ok(config)
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The key assigned on line `line`, or the table it opens, for naming the field of a parse error.
fn field_at(text: &str, line: usize) -> String {
    let content = text.lines().nth(line - 1).unwrap_or("").trim();
    let key = content
        .split('=')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches(|c| c == '[' || c == ']');
    if key.is_empty() {
        "(file)".into()
    } else {
        key.into()
    }
}

/// The line where the dotted `field` (`optimizer.lr`, `model.layers[1].size`) is set: the line
/// of its last key inside its table, else the table's header, else line 1.
fn line_of_field(text: &str, field: &str) -> usize {
    let table = field.split(['.', '[']).next().unwrap_or("");
    let key = field.rsplit('.').next().unwrap_or(field);
    let mut in_table = table.is_empty();
    let mut table_line = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_table = trimmed.trim_matches(|c| c == '[' || c == ']').trim() == table;
            if in_table {
                table_line = Some(index + 1);
            }
        } else if (in_table || trimmed.starts_with(&format!("{table}.")))
            && mentions_key(trimmed, key)
        {
            return index + 1;
        }
    }
    table_line.unwrap_or(1)
}

fn mentions_key(line: &str, key: &str) -> bool {
    let key = key.split('[').next().unwrap_or(key);
    line.split(['{', ',', '.']).any(|part| {
        part.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })
}

/// `table.key` for a component's message of the form `"<what>: <key> must …"`, else `table`.
fn nested_field(table: &str, message: &str) -> String {
    let key = message
        .split_once(": ")
        .and_then(|(_, rest)| rest.split_whitespace().next());
    match key {
        Some(key) if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
            format!("{table}.{key}")
        }
        _ => table.to_string(),
    }
}

impl TrainConfig {
    /// Checks what types alone cannot; an error names the dotted field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |field: &str, message: String| Err((field.to_string(), message));
        if self.model.steps == 0 {
            return fail("model.steps", "must be at least 1".into());
        }
        if self.model.layers.is_empty() {
            return fail("model.layers", "needs at least one layer".into());
        }
        for (k, layer) in self.model.layers.iter().enumerate() {
            let field = |name: &str| format!("model.layers[{k}].{name}");
            if layer.size == 0 {
                return fail(&field("size"), "must be at least 1".into());
            }
            if !(0.0..=1.0).contains(&layer.beta) {
                return fail(
                    &field("beta"),
                    format!("must lie in [0, 1], got {}", layer.beta),
                );
            }
            if !(layer.threshold.is_finite() && layer.threshold > 0.0) {
                return fail(
                    &field("threshold"),
                    format!("must be a positive number, got {}", layer.threshold),
                );
            }
            layer
                .surrogate
                .validate()
                .map_err(|m| (field("surrogate"), m))?;
            for (name, value) in [("rho", layer.rho), ("kappa", layer.kappa)] {
                match value {
                    Some(_) if layer.neuron != Neuron::Alif => {
                        return fail(&field(name), "applies only to neuron = \"alif\"".into());
                    }
                    Some(v) if name == "rho" && !(0.0..=1.0).contains(&v) => {
                        return fail(&field(name), format!("must lie in [0, 1], got {v}"));
                    }
                    Some(v) if !(v.is_finite() && v >= 0.0) => {
                        return fail(
                            &field(name),
                            format!("must be a non-negative number, got {v}"),
                        );
                    }
                    _ => {}
                }
            }
        }
        self.encoder
            .validate()
            .map_err(|m| (nested_field("encoder", &m), m))?;
        if matches!(self.encoder, Encoder::Delta { .. }) {
            return fail(
                "encoder.kind",
                "delta encodes time series; the image datasets need rate, latency or direct".into(),
            );
        }
        self.loss
            .validate()
            .map_err(|m| (nested_field("loss", &m), m))?;
        self.optimizer
            .validate()
            .map_err(|m| (nested_field("optimizer", &m), m))?;
        self.schedule
            .validate()
            .map_err(|m| (nested_field("schedule", &m), m))?;
        if self.train.epochs == 0 {
            return fail("train.epochs", "must be at least 1".into());
        }
        if self.train.batch_size == 0 {
            return fail("train.batch_size", "must be at least 1".into());
        }
        if self.train.eval_batch_size == 0 {
            return fail("train.eval_batch_size", "must be at least 1".into());
        }
        if let Some(clip) = &self.train.clip {
            clip.validate().map_err(|m| ("train.clip".to_string(), m))?;
        }
        for (name, limit) in [
            ("data.train_limit", self.data.train_limit),
            ("data.test_limit", self.data.test_limit),
        ] {
            if limit == Some(0) {
                return fail(name, "must be at least 1".into());
            }
        }
        Ok(())
    }

    /// The same run apart from its length: what `--resume` requires of the file it is given.
    pub fn same_run_as(&self, other: &TrainConfig) -> bool {
        let mut a = self.clone();
        a.train.epochs = other.train.epochs;
        a == *other
    }
}
