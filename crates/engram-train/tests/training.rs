//! The training loop end to end on a small generated dataset: it learns, a run resumed from a
//! checkpoint continues exactly as the uninterrupted run, the thread count changes nothing, and
//! bad training files and checkpoints are clear errors.

use std::path::Path;

use candle_core::Result;
use engram_train::checkpoint::{self, CheckpointError};
use engram_train::config::{self, ConfigError, TrainConfig};
use engram_train::data::mnist::Split;
use engram_train::train::{EpochMetrics, Trainer};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const SIDE: usize = 6;

/// `count` noisy 6×6 images of 4 classes: class `c` lights row `c` and column `5 − c`.
fn patterns(count: usize, seed: u64) -> Split {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut images = Vec::with_capacity(count * SIDE * SIDE);
    let mut labels = Vec::with_capacity(count);
    for _ in 0..count {
        let class = rng.random_range(0..4u8);
        for y in 0..SIDE {
            for x in 0..SIDE {
                let on = y == usize::from(class) || x == SIDE - 1 - usize::from(class);
                let value: f64 = if on {
                    rng.random_range(0.6..1.0)
                } else {
                    rng.random_range(0.0..0.15)
                };
                images.push((value * 255.0) as u8);
            }
        }
        labels.push(class);
    }
    Split {
        count,
        rows: SIDE,
        cols: SIDE,
        images,
        labels,
    }
}

fn config_text(epochs: usize, extra_layer: &str) -> String {
    format!(
        r#"
seed = 3
[data]
dataset = "mnist"
dir = "unused"
[encoder]
kind = "rate"
[model]
steps = 8
layers = [ {extra_layer} {{ size = 24, beta = 0.9 }}, {{ size = 4, beta = 0.9 }} ]
[optimizer]
kind = "adam"
lr = 1e-2
[train]
epochs = {epochs}
batch_size = 16
eval_batch_size = 50
"#
    )
}

fn config(epochs: usize) -> TrainConfig {
    config::parse(&config_text(epochs, ""), Path::new("test.toml"))
        .expect("the test config is valid")
}

/// Every parameter's values, in name order.
fn parameters(trainer: &Trainer) -> Vec<(String, Vec<f32>)> {
    trainer
        .net
        .named_parameters()
        .into_iter()
        .map(|(name, var)| {
            (
                name,
                var.flatten_all()
                    .and_then(|t| t.to_vec1())
                    .expect("f32 parameters"),
            )
        })
        .collect()
}

fn train(trainer: &mut Trainer, train: &Split, test: &Split) -> Result<f64> {
    let mut last = 0.0;
    while trainer.epochs_done < trainer.config.train.epochs {
        last = trainer.train_epoch(train, test, &mut |_| {})?.test_accuracy;
    }
    Ok(last)
}

#[test]
fn a_small_network_learns_the_patterns() -> Result<()> {
    let (train_split, test_split) = (patterns(320, 1), patterns(100, 2));
    let mut trainer = Trainer::new(config(4), SIDE * SIDE)?;
    let (_, chance) = trainer.evaluate(&test_split)?;
    let accuracy = train(&mut trainer, &train_split, &test_split)?;
    assert!(
        accuracy >= 0.9,
        "test accuracy {accuracy} after 4 epochs (before training {chance})"
    );
    let losses: Vec<f64> = trainer.history.iter().map(|m| m.train_loss).collect();
    assert!(
        losses.last() < losses.first(),
        "the training loss should fall: {losses:?}"
    );
    Ok(())
}

#[test]
fn adaptive_and_recurrent_layers_train_too() -> Result<()> {
    let (train_split, test_split) = (patterns(320, 1), patterns(100, 2));
    let text = config_text(
        4,
        r#"{ size = 24, neuron = "alif", rho = 0.95, kappa = 0.05 }, { size = 24, neuron = "rlif" },"#,
    );
    let mut trainer = Trainer::new(
        config::parse(&text, Path::new("t.toml")).expect("valid"),
        SIDE * SIDE,
    )?;
    let names: Vec<String> = trainer
        .net
        .trainable()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        names.contains(&"layers.1.w_rec".to_string())
            && !names.contains(&"layers.0.rho".to_string()),
        "{names:?}"
    );
    let accuracy = train(&mut trainer, &train_split, &test_split)?;
    assert!(accuracy >= 0.9, "test accuracy {accuracy} after 4 epochs");
    let (_, field, _) = config_error(&config_text(1, "{ size = 8, kappa = 0.2 },"));
    assert_eq!(
        field, "model.layers[0].kappa",
        "kappa on a LIF layer is refused"
    );
    Ok(())
}

#[test]
fn a_resumed_run_continues_exactly_as_the_uninterrupted_one() -> Result<()> {
    let (train_split, test_split) = (patterns(96, 1), patterns(40, 2));
    let mut straight = Trainer::new(config(2), SIDE * SIDE)?;
    train(&mut straight, &train_split, &test_split)?;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("checkpoint.safetensors");
    let mut first = Trainer::new(config(1), SIDE * SIDE)?;
    train(&mut first, &train_split, &test_split)?;
    checkpoint::save(&path, &first).expect("the checkpoint is written");
    let saved = checkpoint::load(&path).expect("the checkpoint reads back");
    assert_eq!(
        (
            saved.epochs_done,
            saved.config.seed,
            saved.engram_version.as_str()
        ),
        (1, 3, env!("CARGO_PKG_VERSION"))
    );
    let mut resumed = saved.into_trainer(config(2), SIDE * SIDE)?;
    train(&mut resumed, &train_split, &test_split)?;

    assert_eq!(parameters(&resumed), parameters(&straight));
    // Timings differ from run to run; every other metric must not.
    let untimed = |t: &Trainer| -> Vec<EpochMetrics> {
        t.history
            .iter()
            .map(|m| EpochMetrics {
                train_samples_per_s: 0.0,
                train_wall_s: 0.0,
                train_cpu_s: 0.0,
                ..m.clone()
            })
            .collect()
    };
    assert_eq!(untimed(&resumed), untimed(&straight));
    Ok(())
}

#[test]
fn resuming_under_a_different_configuration_is_refused() -> Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("checkpoint.safetensors");
    checkpoint::save(&path, &Trainer::new(config(1), SIDE * SIDE)?)
        .expect("the checkpoint is written");
    let mut other = config(1);
    other.optimizer = config::parse(
        &config_text(1, "").replace("lr = 1e-2", "lr = 1e-3"),
        Path::new("t"),
    )
    .unwrap()
    .optimizer;
    let message = checkpoint::load(&path)
        .unwrap()
        .into_trainer(other, SIDE * SIDE)
        .err()
        .expect("refused")
        .to_string();
    assert!(message.contains("different configuration"), "{message}");
    Ok(())
}

#[test]
fn training_does_not_depend_on_the_thread_count() -> Result<()> {
    let (train_split, test_split) = (patterns(64, 1), patterns(20, 2));
    let on = |threads| -> Result<Vec<(String, Vec<f32>)>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        pool.install(|| {
            let mut trainer = Trainer::new(config(1), SIDE * SIDE)?;
            train(&mut trainer, &train_split, &test_split)?;
            Ok(parameters(&trainer))
        })
    };
    assert_eq!(on(1)?, on(3)?);
    Ok(())
}

fn config_error(text: &str) -> (usize, String, String) {
    match config::parse(text, Path::new("bad.toml")) {
        Err(ConfigError::Invalid {
            line,
            field,
            message,
            ..
        }) => (line, field, message),
        other => panic!("expected an invalid-config error, got {other:?}"),
    }
}

#[test]
fn bad_training_files_name_the_line_and_the_field() {
    let good = config_text(1, "");
    let line_of = |needle: &str| {
        good.lines()
            .position(|l| l.contains(needle))
            .expect("the needle is in the config")
            + 1
    };

    let (line, field, message) =
        config_error(&good.replace("kind = \"adam\"", "kind = \"adamax\""));
    assert_eq!(line, line_of("kind = \"adam\""), "{message}");
    assert!(message.contains("adamax"), "{field}: {message}");

    let (line, field, message) = config_error(&good.replace("lr = 1e-2", "lr = -1e-2"));
    assert_eq!(
        (line, field.as_str()),
        (line_of("lr = "), "optimizer.lr"),
        "{message}"
    );

    let (line, field, message) = config_error(&good.replace("steps = 8", "steps = 0"));
    assert_eq!(
        (line, field.as_str()),
        (line_of("steps = "), "model.steps"),
        "{message}"
    );

    let (line, field, _) =
        config_error(&good.replace("batch_size = 16", "batch_size = 16\nbatch_sise = 3"));
    assert_eq!(
        (line, field.as_str()),
        (line_of("batch_size = 16") + 1, "batch_sise")
    );

    let (_, field, message) =
        config_error(&good.replace("{ size = 24, beta = 0.9 }", "{ size = 24, beta = 1.5 }"));
    assert_eq!(field, "model.layers[0].beta", "{message}");

    let (_, _, message) = config_error(&config_text(1, "{ size = 8, kind = \"lstm\" },"));
    assert!(
        message.contains("kind"),
        "an unknown layer field is named: {message}"
    );
}

#[test]
fn corrupt_checkpoints_are_errors_not_panics() -> Result<()> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("checkpoint.safetensors");
    checkpoint::save(&path, &Trainer::new(config(1), SIDE * SIDE)?)
        .expect("the checkpoint is written");
    let bytes = std::fs::read(&path).expect("readable");
    for cut in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..cut]).expect("writable");
        assert!(
            matches!(
                checkpoint::load(&path),
                Err(CheckpointError::Corrupt { .. })
            ),
            "a checkpoint cut at {cut} bytes"
        );
    }
    std::fs::write(&path, b"not a checkpoint at all").expect("writable");
    let message = checkpoint::load(&path).err().expect("refused").to_string();
    assert!(
        message.contains("checkpoint.safetensors")
            && message.contains("not a valid engram checkpoint"),
        "{message}"
    );
    assert!(matches!(
        checkpoint::load(&dir.path().join("missing")),
        Err(CheckpointError::Io { .. })
    ));
    Ok(())
}
