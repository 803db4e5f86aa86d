//! BDH checkpoints: one safetensors file with the parameters (`model.<name>`), the AdamW
//! state (`optimizer.<name>`, see [`engram_train::optim`]) and, as metadata, the format, the
//! training config (TOML), the seed, the engram version, the steps done and the per-step
//! history. Written through [`engram_train::checkpoint::write_atomically`]: an interrupted
//! write leaves the previous checkpoint whole.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::{Dtype, SafeTensors};

use crate::BdhError;
use crate::config::{self, TrainConfig};
use crate::train::{StepRecord, Trainer};

/// The `format` metadata value this version writes and reads.
pub const FORMAT: &str = "engram-bdh-checkpoint/1";

/// What a checkpoint holds.
pub struct Checkpoint {
    pub config: TrainConfig,
    pub engram_version: String,
    pub steps_done: u64,
    pub history: Vec<StepRecord>,
    pub parameters: Vec<(String, Tensor)>,
    pub optimizer: Vec<(String, Tensor)>,
    /// The CRC-32 of the file, as [`crate::inspect::export::crc32`] writes it, so that outputs
    /// can name the checkpoint they came from without reading it again.
    pub crc32: String,
}

/// Writes `trainer`'s state to `path` atomically.
pub fn save(path: &Path, trainer: &Trainer) -> Result<(), BdhError> {
    let mut tensors: Vec<(String, Tensor)> = trainer
        .params
        .named()
        .into_iter()
        .map(|(n, v)| (format!("model.{n}"), v.as_tensor().clone()))
        .collect();
    tensors.extend(
        trainer
            .optimizer
            .export_state()?
            .into_iter()
            .map(|(n, t)| (format!("optimizer.{n}"), t)),
    );
    let text = |e: String| BdhError::Config(format!("checkpoint metadata: {e}"));
    let metadata = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        (
            "engram_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "config".to_string(),
            toml::to_string(&trainer.config).map_err(|e| text(e.to_string()))?,
        ),
        ("seed".to_string(), trainer.config.train.seed.to_string()),
        ("steps_done".to_string(), trainer.steps_done.to_string()),
        (
            "history".to_string(),
            serde_json::to_string(&trainer.history).map_err(|e| text(e.to_string()))?,
        ),
    ]);
    let bytes =
        safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata))
            .map_err(|e| text(e.to_string()))?;
    engram_train::checkpoint::write_atomically(path, &bytes).map_err(|source| BdhError::Io {
        path: path.into(),
        source,
    })
}

/// Reads a checkpoint, checking its format, metadata and parameter shapes.
pub fn load(path: &Path) -> Result<Checkpoint, BdhError> {
    let bytes = std::fs::read(path).map_err(|source| BdhError::Io {
        path: path.into(),
        source,
    })?;
    let corrupt = |message: String| BdhError::Checkpoint {
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
    let steps_done = field("steps_done")?
        .parse::<u64>()
        .map_err(|e| corrupt(format!("`steps_done`: {e}")))?;
    let history =
        serde_json::from_str(field("history")?).map_err(|e| corrupt(format!("`history`: {e}")))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let (mut parameters, mut optimizer) = (Vec::new(), Vec::new());
    for (name, view) in file.tensors() {
        let dtype = match view.dtype() {
            Dtype::F32 => DType::F32,
            Dtype::I64 => DType::I64,
            other => return Err(corrupt(format!("tensor {name} has dtype {other:?}"))),
        };
        let tensor = Tensor::from_raw_buffer(view.data(), dtype, view.shape(), &Device::Cpu)
            .map_err(|e| corrupt(format!("tensor {name}: {e}")))?;
        if let Some(p) = name.strip_prefix("model.") {
            parameters.push((p.to_string(), tensor));
        } else if let Some(s) = name.strip_prefix("optimizer.") {
            optimizer.push((s.to_string(), tensor));
        } else {
            return Err(corrupt(format!("unexpected tensor {name}")));
        }
    }
    for (name, shape) in config.model.parameter_shapes() {
        match parameters.iter().find(|(n, _)| n == name) {
            Some((_, t)) if t.dims() == shape.as_slice() && t.dtype() == DType::F32 => {}
            Some((_, t)) => {
                return Err(corrupt(format!(
                    "parameter {name} is {:?} {:?}, the config gives F32 {shape:?}",
                    t.dtype(),
                    t.dims()
                )));
            }
            None => return Err(corrupt(format!("parameter {name} is missing"))),
        }
    }
    Ok(Checkpoint {
        config,
        engram_version: field("engram_version")?.clone(),
        steps_done,
        history,
        parameters,
        optimizer,
        crc32: crate::inspect::export::crc32(&bytes),
    })
}

impl Checkpoint {
    /// A trainer in the recorded state, continuing under `config` (the same run, apart from
    /// its number of steps).
    pub fn into_trainer(self, config: TrainConfig, path: &Path) -> Result<Trainer, BdhError> {
        let corrupt = |message: String| BdhError::Checkpoint {
            path: path.into(),
            message,
        };
        if !config.same_run_as(&self.config) {
            return Err(BdhError::Config(format!(
                "{}: the checkpoint was made by a different configuration (only train.steps may change when resuming)",
                path.display()
            )));
        }
        let mut trainer = Trainer::new(config)?;
        trainer
            .params
            .load(&trainer.config.model, &self.parameters)
            .map_err(|e| corrupt(e.to_string()))?;
        trainer
            .optimizer
            .import_state(&self.optimizer)
            .map_err(|e| corrupt(e.to_string()))?;
        trainer.steps_done = self.steps_done;
        trainer.history = self.history;
        Ok(trainer)
    }
}
