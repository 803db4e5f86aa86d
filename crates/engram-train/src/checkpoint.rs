//! Checkpoints: one safetensors file holding the parameters (`model.<name>`), the optimizer
//! state (`optimizer.<name>`) and, as metadata, what made them: the training config (TOML), the
//! seed, the engram version, the epochs and steps done and the metrics so far.
//!
//! A checkpoint is written to a temporary file beside the target and renamed over it, so an
//! interrupted run leaves the previous checkpoint whole.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use safetensors::{Dtype, SafeTensors};

use crate::config::{self, TrainConfig};
use crate::train::{EpochMetrics, Trainer};

/// The `format` metadata value this version writes and reads.
pub const FORMAT: &str = "engram-train-checkpoint/1";

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a valid engram checkpoint: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
}

/// What a checkpoint holds.
pub struct Checkpoint {
    pub config: TrainConfig,
    pub engram_version: String,
    pub epochs_done: usize,
    pub steps_done: u64,
    pub history: Vec<EpochMetrics>,
    pub parameters: HashMap<String, Tensor>,
    pub optimizer: Vec<(String, Tensor)>,
}

/// Writes `trainer`'s state to `path` (atomically).
pub fn save(path: &Path, trainer: &Trainer) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.into(),
        source,
    };
    let corrupt = |message: String| CheckpointError::Corrupt {
        path: path.into(),
        message,
    };
    let mut tensors: Vec<(String, Tensor)> = trainer
        .net
        .named_parameters()
        .into_iter()
        .map(|(n, v)| (format!("model.{n}"), v.as_tensor().clone()))
        .collect();
    tensors.extend(
        trainer
            .optimizer
            .export_state()
            .map_err(|e| corrupt(e.to_string()))?
            .into_iter()
            .map(|(n, t)| (format!("optimizer.{n}"), t)),
    );
    let metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        (
            "engram_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "config".to_string(),
            toml::to_string(&trainer.config).map_err(|e| corrupt(e.to_string()))?,
        ),
        ("seed".to_string(), trainer.config.seed.to_string()),
        ("epochs_done".to_string(), trainer.epochs_done.to_string()),
        ("steps_done".to_string(), trainer.steps_done.to_string()),
        (
            "history".to_string(),
            serde_json::to_string(&trainer.history).map_err(|e| corrupt(e.to_string()))?,
        ),
    ]);
    let bytes =
        safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata))
            .map_err(|e| corrupt(e.to_string()))?;
    write_atomically(path, &bytes).map_err(io)
}

/// Writes `bytes` to `path` through a synced temporary file in the same directory, renamed
/// over `path`: readers see the old file or the new one, never part of either.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temporary = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut temporary, bytes)?;
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Reads a checkpoint, checking its format and metadata.
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.into(),
        source,
    })?;
    let corrupt = |message: String| CheckpointError::Corrupt {
        path: path.into(),
        message,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let field = |key: &str| {
        metadata
            .get(key)
            .ok_or_else(|| corrupt(format!("no `{key}` in its metadata")))
    };
    if field("format")? != FORMAT {
        return Err(corrupt(format!(
            "format is {:?}, expected {FORMAT:?}",
            field("format")?
        )));
    }
    let config = config::parse(field("config")?, &path.join("[config metadata]"))
        .map_err(|e| corrupt(e.to_string()))?;
    let number = |key: &str| {
        field(key)?
            .parse::<u64>()
            .map_err(|e| corrupt(format!("`{key}`: {e}")))
    };
    let history =
        serde_json::from_str(field("history")?).map_err(|e| corrupt(format!("`history`: {e}")))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let (mut parameters, mut optimizer) = (HashMap::new(), Vec::new());
    for (name, view) in file.tensors() {
        let tensor = match view.dtype() {
            Dtype::F32 => {
                Tensor::from_raw_buffer(view.data(), DType::F32, view.shape(), &Device::Cpu)
            }
            Dtype::F64 => {
                Tensor::from_raw_buffer(view.data(), DType::F64, view.shape(), &Device::Cpu)
            }
            Dtype::I64 => {
                Tensor::from_raw_buffer(view.data(), DType::I64, view.shape(), &Device::Cpu)
            }
            other => {
                return Err(corrupt(format!(
                    "tensor {name} has dtype {other:?}; checkpoints hold f32, f64 and i64"
                )));
            }
        }
        .map_err(|e| corrupt(format!("tensor {name}: {e}")))?;
        if let Some(parameter) = name.strip_prefix("model.") {
            parameters.insert(parameter.to_string(), tensor);
        } else if let Some(state) = name.strip_prefix("optimizer.") {
            optimizer.push((state.to_string(), tensor));
        } else {
            return Err(corrupt(format!("unexpected tensor {name}")));
        }
    }
    optimizer.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Checkpoint {
        config,
        engram_version: field("engram_version")?.clone(),
        epochs_done: number("epochs_done")? as usize,
        steps_done: number("steps_done")?,
        history,
        parameters,
        optimizer,
    })
}

impl Checkpoint {
    /// A trainer in the state this checkpoint recorded, continuing under `config` (which must
    /// be the same run, apart from its number of epochs).
    pub fn into_trainer(
        self,
        config: TrainConfig,
        features: usize,
    ) -> candle_core::Result<Trainer> {
        if !config.same_run_as(&self.config) {
            candle_core::bail!(
                "the checkpoint was made by a different configuration (only train.epochs may change when resuming)"
            )
        }
        let mut trainer = Trainer::new(config, features)?;
        trainer.net.load(&self.parameters)?;
        trainer.optimizer.import_state(&self.optimizer)?;
        trainer.epochs_done = self.epochs_done;
        trainer.steps_done = self.steps_done;
        trainer.history = self.history;
        Ok(trainer)
    }
}
