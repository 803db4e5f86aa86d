//! Configurations: the model's shape ([`BdhConfig`], the reference's `BDHConfig`) and a
//! training run ([`TrainConfig`], the TOML file `engram bdh train` reads).
//!
//! Derived sizes: `N = mult·D/H` neurons per head (refused unless it divides exactly and is
//! even, since RoPE rotates coordinate pairs), `n = H·N` neurons in all. The parameter count
//! is `2·V·D + 3·D·n` (embed, lm_head; encoder, encoder_v, decoder), independent of the depth
//! because all layers share the five tensors.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::BdhError;

/// The byte vocabulary.
pub const VOCAB: usize = 256;

/// The model's shape and its one regularisation hyper-parameter.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BdhConfig {
    /// Number of (weight-shared) layers `L`.
    pub n_layer: usize,
    /// Residual width `D`.
    pub n_embd: usize,
    /// Heads `H`; they split the neuron space.
    pub n_head: usize,
    /// Neuron multiplier: `N = mult·D/H` per head.
    pub mult: usize,
    /// Dropout probability on the gated neuron vector `g` (training only).
    pub dropout: f64,
}

impl Default for BdhConfig {
    /// The reference's default: 6 layers, D 256, 4 heads, mult 128 (25,296,896 parameters).
    fn default() -> Self {
        BdhConfig {
            n_layer: 6,
            n_embd: 256,
            n_head: 4,
            mult: 128,
            dropout: 0.1,
        }
    }
}

impl BdhConfig {
    /// The anchor configuration of `shared/specs/bdh.md` §8.2 (851,968 parameters).
    pub fn small() -> Self {
        BdhConfig {
            n_layer: 4,
            n_embd: 128,
            n_head: 4,
            mult: 16,
            dropout: 0.1,
        }
    }

    /// Checks that the shapes divide: every size at least 1, `mult·D` divisible by `H`, `N`
    /// even, and `0 ≤ dropout < 1`.
    pub fn validate(&self) -> Result<(), BdhError> {
        let bad = |m: String| Err(BdhError::Config(m));
        for (name, value) in [
            ("n_layer", self.n_layer),
            ("n_embd", self.n_embd),
            ("n_head", self.n_head),
            ("mult", self.mult),
        ] {
            if value == 0 {
                return bad(format!("model.{name} must be at least 1"));
            }
        }
        let neurons = self.mult * self.n_embd;
        if !neurons.is_multiple_of(self.n_head) {
            return bad(format!(
                "model: mult·n_embd = {}·{} = {neurons} does not divide into n_head = {} heads",
                self.mult, self.n_embd, self.n_head
            ));
        }
        if !(neurons / self.n_head).is_multiple_of(2) {
            return bad(format!(
                "model: N = mult·n_embd/n_head = {} neurons per head must be even (RoPE rotates pairs)",
                neurons / self.n_head
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!(
                "model.dropout must lie in [0, 1), got {}",
                self.dropout
            ));
        }
        Ok(())
    }

    /// Neurons per head, `N = mult·D/H`.
    pub fn neurons_per_head(&self) -> usize {
        self.mult * self.n_embd / self.n_head
    }

    /// All neurons, `n = H·N`.
    pub fn neurons(&self) -> usize {
        self.n_head * self.neurons_per_head()
    }

    /// The shapes of the five parameter tensors, in the reference's order and names.
    pub fn parameter_shapes(&self) -> [(&'static str, Vec<usize>); 5] {
        let (d, h, n) = (self.n_embd, self.n_head, self.neurons_per_head());
        [
            ("embed", vec![VOCAB, d]),
            ("encoder", vec![h, d, n]),
            ("encoder_v", vec![h, d, n]),
            ("decoder", vec![h * n, d]),
            ("lm_head", vec![d, VOCAB]),
        ]
    }

    /// The number of trained parameters, counted from the shapes.
    pub fn parameter_count(&self) -> usize {
        self.parameter_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

/// A training run: model, corpus and recipe (`examples/bdh/small.toml`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub model: BdhConfig,
    pub data: DataConfig,
    pub train: RecipeConfig,
}

/// The byte corpus and its split.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The corpus file (`scripts/bdh_corpus.sh` writes `data/shakespeare/corpus.txt`); a
    /// relative path is taken from the directory the command runs in.
    pub corpus: PathBuf,
    /// The fraction at the end held out for validation (the reference: 0.1).
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
}

fn default_validation_fraction() -> f64 {
    0.1
}

/// The optimisation recipe (the reference's `train.py`: AdamW, constant learning rate, weight
/// decay on all parameters, random windows).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecipeConfig {
    pub steps: u64,
    pub batch: usize,
    pub block: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Validation every this many steps (and after the last).
    pub eval_every: u64,
    /// Windows of `batch` sequences per periodic validation.
    pub eval_batches: usize,
    /// Windows of `batch` sequences for the validation after the last step.
    pub final_eval_batches: usize,
    /// Checkpoint every this many steps (and after the last).
    pub checkpoint_every: u64,
}

impl TrainConfig {
    /// Checks the model shape and the recipe.
    pub fn validate(&self) -> Result<(), BdhError> {
        self.model.validate()?;
        let bad = |m: String| Err(BdhError::Config(m));
        let t = &self.train;
        for (name, value) in [
            ("steps", t.steps as usize),
            ("batch", t.batch),
            ("block", t.block),
            ("eval_every", t.eval_every as usize),
            ("eval_batches", t.eval_batches),
            ("final_eval_batches", t.final_eval_batches),
            ("checkpoint_every", t.checkpoint_every as usize),
        ] {
            if value == 0 {
                return bad(format!("train.{name} must be at least 1"));
            }
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return bad(format!("train.lr must be finite and > 0, got {}", t.lr));
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
            return bad(format!(
                "train.weight_decay must be finite and >= 0, got {}",
                t.weight_decay
            ));
        }
        let f = self.data.validation_fraction;
        if !(f > 0.0 && f < 1.0) {
            return bad(format!(
                "data.validation_fraction must lie in (0, 1), got {f}"
            ));
        }
        Ok(())
    }

    /// The same run as `other`, apart from the number of steps (what `--resume` allows).
    pub fn same_run_as(&self, other: &TrainConfig) -> bool {
        let mut a = self.clone();
        a.train.steps = other.train.steps;
        a == *other
    }
}

/// Parses and checks a training file's text; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<TrainConfig, BdhError> {
    let config: TrainConfig =
        toml::from_str(text).map_err(|e| BdhError::Config(format!("{}: {e}", path.display())))?;
    config
        .validate()
        .map_err(|e| BdhError::Config(format!("{}: {e}", path.display())))?;
    Ok(config)
}

/// Reads and checks a training file.
pub fn load(path: &Path) -> Result<TrainConfig, BdhError> {
    let text = std::fs::read_to_string(path).map_err(|source| BdhError::Io {
        path: path.into(),
        source,
    })?;
    parse(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_has_the_reference_parameter_count() {
        let c = BdhConfig::default();
        c.validate().unwrap();
        assert_eq!(c.neurons_per_head(), 8192);
        assert_eq!(c.neurons(), 32768);
        assert_eq!(c.parameter_count(), 25_296_896);
    }

    #[test]
    fn small_config_has_the_anchor_parameter_count() {
        let c = BdhConfig::small();
        assert_eq!(c.neurons_per_head(), 512);
        assert_eq!(c.parameter_count(), 851_968);
    }

    #[test]
    fn shapes_that_do_not_divide_are_refused() {
        let mut c = BdhConfig::small();
        c.n_head = 3;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("does not divide"), "{e}");
        let mut c = BdhConfig::small();
        (c.n_embd, c.n_head, c.mult) = (3, 1, 1);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("must be even"), "{e}");
        let mut c = BdhConfig::small();
        c.n_layer = 0;
        assert!(c.validate().is_err());
        let mut c = BdhConfig::small();
        c.dropout = 1.0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn the_example_file_is_the_anchor_config() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/bdh/small.toml");
        let c = load(&path).unwrap();
        assert_eq!(c.model, BdhConfig::small());
        let t = &c.train;
        assert_eq!((t.steps, t.batch, t.block, t.seed), (300, 8, 256, 1337));
        assert_eq!((t.lr, t.weight_decay), (1e-3, 0.1));
        assert_eq!(c.data.validation_fraction, 0.1);
    }
}
