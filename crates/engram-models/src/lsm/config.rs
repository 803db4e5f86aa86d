//! The `engram lsm` file (`examples/lsm/`): a TOML table per stage, checked before anything
//! runs; every error names the file, the line and the field.
//!
//! ```toml
//! seed = 1
//! [data]
//! dir = "../../data/mnist"     # MNIST IDX files, relative to this file
//! train = 50000                # first `train` training images
//! valid = 10000                # last `valid` training images (model selection)
//! test = 10000                 # first `test` t10k images
//! [liquid]
//! neurons = 1000               # a cube: 1000 (NALSM1000) or 8000 (NALSM8000)
//! weight = 3.0                 # initial |w| of liquid synapses (input ones are ±3)
//! [organise]                   # unsupervised STDP + astrocyte phase
//! astrocyte = true             # false: the plain LSM with its initial (maximal) weights
//! samples = 50000              # random training images, 20 ms each
//! ms = 20
//! w_a = 0.015                  # default 0.015 (1000) or 0.0075 (8000)
//! [readout]
//! kind = "softmax"             # or "ridge", "three_factor" (online)
//! ms = 250                     # presentation per sample
//! epochs = 30                  # softmax: epochs, batch, learning_rate, l2; three_factor:
//!                              # epochs, learning_rate (eta)
//! lambda = 1e-4                # ridge penalty
//! [branching]
//! samples = 20                 # test samples whose spikes give the branching factor
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LsmConfig {
    #[serde(default = "one")]
    pub seed: u64,
    pub data: DataConfig,
    pub liquid: LiquidConfig,
    pub organise: OrganiseConfig,
    #[serde(default)]
    pub readout: ReadoutConfig,
    #[serde(default)]
    pub branching: BranchingConfig,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub dir: PathBuf,
    pub train: usize,
    #[serde(default)]
    pub valid: usize,
    pub test: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiquidConfig {
    pub neurons: usize,
    /// Initial |weight| of the liquid's own synapses (default 3, NALSM's; the reference's
    /// fixed-weight LSM takes a smaller value chosen per run).
    #[serde(default = "three")]
    pub weight: f64,
}

fn three() -> f64 {
    3.0
}

impl LiquidConfig {
    /// The grid edge (the cube root of `neurons`).
    pub fn side(&self) -> usize {
        (self.neurons as f64).cbrt().round() as usize
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganiseConfig {
    pub astrocyte: bool,
    #[serde(default)]
    pub samples: usize,
    #[serde(default = "twenty")]
    pub ms: usize,
    pub w_a: Option<f64>,
}

fn twenty() -> usize {
    20
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadoutKind {
    Softmax,
    Ridge,
    /// Softmax units trained online by a three-factor rule (`three_factor.rs`).
    ThreeFactor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadoutConfig {
    pub kind: ReadoutKind,
    pub ms: usize,
    pub epochs: usize,
    /// Default: 250 for 1000-neuron liquids, 50 for larger ones (the reference's).
    pub batch: Option<usize>,
    pub learning_rate: f64,
    pub l2: f64,
    pub lambda: f64,
}

impl Default for ReadoutConfig {
    fn default() -> ReadoutConfig {
        ReadoutConfig {
            kind: ReadoutKind::Softmax,
            ms: 250,
            epochs: 30,
            batch: None,
            learning_rate: 1e-2,
            l2: 5e-10,
            lambda: 1e-4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BranchingConfig {
    pub samples: usize,
}

impl Default for BranchingConfig {
    fn default() -> BranchingConfig {
        BranchingConfig { samples: 20 }
    }
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
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

/// MNIST's split sizes, which bound `train + valid` and `test`.
pub const MNIST_TRAIN: usize = 60_000;
pub const MNIST_TEST: usize = 10_000;

pub fn load(path: &Path) -> Result<LsmConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.into(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and checks config text; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<LsmConfig, ConfigError> {
    let invalid = |line: usize, field: String, message: String| ConfigError::Invalid {
        path: path.into(),
        line,
        field,
        message,
    };
    let config: LsmConfig = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        });
        invalid(
            line,
            field_on(text, line),
            e.message().trim_end().to_string(),
        )
    })?;
    config
        .validate()
        .map_err(|(field, message)| invalid(line_of(text, &field), field, message))?;
    Ok(config)
}

impl LsmConfig {
    /// Checks what types alone cannot; an error names the dotted field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let fail = |field: &str, message: String| Err((field.to_string(), message));
        let d = &self.data;
        if d.train == 0 {
            return fail("data.train", "needs at least one training sample".into());
        }
        if d.train + d.valid > MNIST_TRAIN {
            return fail(
                "data.valid",
                format!(
                    "train + valid = {} exceeds the {MNIST_TRAIN} training images",
                    d.train + d.valid
                ),
            );
        }
        if d.test == 0 || d.test > MNIST_TEST {
            return fail(
                "data.test",
                format!("must be 1..={MNIST_TEST}, got {}", d.test),
            );
        }
        let side = self.liquid.side();
        if side.pow(3) != self.liquid.neurons || !(2..=40).contains(&side) {
            return fail(
                "liquid.neurons",
                format!(
                    "must be a cube n^3 with 2 <= n <= 40 (1000, 8000), got {}",
                    self.liquid.neurons
                ),
            );
        }
        if !(self.liquid.weight > 0.0 && self.liquid.weight <= 3.0) {
            return fail(
                "liquid.weight",
                format!(
                    "must be in (0, 3] (3 is the weight bound), got {}",
                    self.liquid.weight
                ),
            );
        }
        let o = &self.organise;
        if o.astrocyte && (o.samples == 0 || o.ms == 0) {
            return fail(
                "organise.samples",
                "the astrocyte phase needs samples >= 1 and ms >= 1".into(),
            );
        }
        if let Some(w) = o.w_a
            && !(w >= 0.0 && w.is_finite())
        {
            return fail("organise.w_a", format!("must be >= 0, got {w}"));
        }
        let r = &self.readout;
        if !(1..=765).contains(&r.ms) {
            return fail(
                "readout.ms",
                format!(
                    "must be 1..=765 ms (8-bit spike counts; a neuron fires at most every 3 ms), got {}",
                    r.ms
                ),
            );
        }
        if r.epochs == 0 {
            return fail("readout.epochs", "must be at least 1".into());
        }
        if r.batch == Some(0) {
            return fail("readout.batch", "must be at least 1".into());
        }
        if !(r.learning_rate > 0.0 && r.learning_rate.is_finite()) {
            return fail(
                "readout.learning_rate",
                format!("must be positive, got {}", r.learning_rate),
            );
        }
        if !(r.l2 >= 0.0 && r.l2.is_finite()) {
            return fail("readout.l2", format!("must be >= 0, got {}", r.l2));
        }
        if !(r.lambda >= 0.0 && r.lambda.is_finite()) {
            return fail("readout.lambda", format!("must be >= 0, got {}", r.lambda));
        }
        if self.branching.samples > d.test {
            return fail(
                "branching.samples",
                format!(
                    "at most data.test = {} samples, got {}",
                    d.test, self.branching.samples
                ),
            );
        }
        Ok(())
    }

    /// w_A: the file's, else the reference's for the liquid size.
    pub fn w_a(&self) -> f64 {
        self.organise.w_a.unwrap_or(if self.liquid.neurons <= 1000 {
            0.015
        } else {
            0.0075
        })
    }

    pub fn batch(&self) -> usize {
        self.readout
            .batch
            .unwrap_or(if self.liquid.neurons <= 1000 { 250 } else { 50 })
    }
}

/// The dotted key set on line `line` (`table.key`), or the table that line opens.
fn field_on(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let content = lines.get(line.saturating_sub(1)).map_or("", |l| l.trim());
    let key = content
        .split('=')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches(['[', ']']);
    if key.is_empty() {
        return "(file)".into();
    }
    if content.starts_with('[') {
        return key.into();
    }
    let table = lines[..line.saturating_sub(1)]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['));
    match table {
        Some(t) => format!("{}.{key}", t.trim_matches(['[', ']']).trim()),
        None => key.into(),
    }
}

/// The line where `table.key` is set, else the table's header, else 1.
fn line_of(text: &str, field: &str) -> usize {
    let (table, key) = field.split_once('.').unwrap_or(("", field));
    let mut in_table = table.is_empty();
    let mut header = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_table = trimmed.trim_matches(['[', ']']).trim() == table;
            if in_table {
                header = Some(index + 1);
            }
        } else if in_table && trimmed.split('=').next().is_some_and(|k| k.trim() == key) {
            return index + 1;
        }
    }
    header.unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "seed = 3\n[data]\ndir = \"d\"\ntrain = 100\nvalid = 10\ntest = 50\n[liquid]\nneurons = 1000\n[organise]\nastrocyte = true\nsamples = 20\n[readout]\nkind = \"ridge\"\n";

    fn error(text: &str) -> (usize, String, String) {
        match parse(text, Path::new("x.toml")).unwrap_err() {
            ConfigError::Invalid {
                line,
                field,
                message,
                ..
            } => (line, field, message),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn a_good_file_parses_with_the_reference_defaults() {
        let c = parse(GOOD, Path::new("x.toml")).unwrap();
        assert_eq!(
            (c.seed, c.liquid.side(), c.readout.kind, c.readout.ms),
            (3, 10, ReadoutKind::Ridge, 250)
        );
        assert_eq!(
            (c.w_a(), c.batch(), c.organise.ms, c.branching.samples),
            (0.015, 250, 20, 20)
        );
    }

    #[test]
    fn errors_name_the_file_line_and_field() {
        let (line, field, message) = error(&GOOD.replace("neurons = 1000", "neurons = 999"));
        assert_eq!((line, field.as_str()), (8, "liquid.neurons"), "{message}");
        let (line, field, _) = error(&GOOD.replace("test = 50", "test = 20000"));
        assert_eq!((line, field.as_str()), (6, "data.test"));
        let (line, field, _) = error(&GOOD.replace("kind = \"ridge\"", "kind = \"lasso\""));
        assert_eq!((line, field.as_str()), (13, "readout.kind"));
        let (line, field, message) = error(&GOOD.replace("samples = 20", "sample = 20"));
        assert_eq!((line, field.as_str()), (11, "organise.sample"), "{message}");
        let (line, field, _) = error(&GOOD.replace("seed = 3", "seed = -3"));
        assert_eq!((line, field.as_str()), (1, "seed"));
        let (line, field, _) = error(&GOOD.replace("[readout]\n", "[readout]\nepochs = 0\n"));
        assert_eq!((line, field.as_str()), (13, "readout.epochs"));
        let (line, field, _) = error(&GOOD.replace(
            "astrocyte = true\nsamples = 20",
            "astrocyte = true\nsamples = 0",
        ));
        assert_eq!((line, field.as_str()), (11, "organise.samples"));
        let text = format!("{GOOD}[branching]\nsamples = 51\n");
        let shown = parse(&text, Path::new("cfg/x.toml"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            shown,
            "cfg/x.toml:15: branching.samples: at most data.test = 50 samples, got 51"
        );
    }
}
