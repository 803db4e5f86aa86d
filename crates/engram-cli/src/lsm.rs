//! `engram lsm CONFIG.toml`: NALSM / LSM on MNIST (see examples/lsm/), a thin wrapper around
//! `engram_models::lsm`. Writes `results.json` (config, seed, engine version, accuracy,
//! branching factor, timings) to the output directory, atomically. `--seed N` replaces the
//! file's seed; results.json then records N (in `seed` and in the config) and where it came
//! from (`seed_source`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use engram_models::lsm::LsmError;
use engram_models::lsm::config::{self, ConfigError};
use engram_models::lsm::experiment::{self, Images};
use engram_train::checkpoint::write_atomically;
use engram_train::data::DataError;
use engram_train::data::mnist::Dataset;
use indicatif::{ProgressBar, ProgressStyle};

use crate::{EXIT_BAD_INPUT, default_out};

#[derive(Debug, thiserror::Error)]
enum LsmCliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Model(#[from] LsmError),
    #[error("{}: {source}", path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub fn lsm(
    config_path: &Path,
    out: Option<PathBuf>,
    threads: Option<usize>,
    seed: Option<u64>,
    quiet: bool,
) -> ExitCode {
    match run(config_path, out, threads, seed, quiet) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                LsmCliError::Output { .. } => ExitCode::FAILURE,
                _ => ExitCode::from(EXIT_BAD_INPUT),
            }
        }
    }
}

fn run(
    config_path: &Path,
    out: Option<PathBuf>,
    threads: Option<usize>,
    seed: Option<u64>,
    quiet: bool,
) -> Result<(), LsmCliError> {
    let mut config = config::load(config_path)?;
    if let Some(seed) = seed {
        config.seed = seed;
    }
    let threads = match threads {
        Some(0) => return Err(LsmCliError::Usage("--threads must be at least 1".into())),
        Some(t) => t,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let data_dir = config_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&config.data.dir);
    let data = Dataset::load(&data_dir)?;
    let out = out.unwrap_or_else(|| default_out(config_path));
    let images = Images {
        size: data.train.rows * data.train.cols,
        train_images: &data.train.images,
        train_labels: &data.train.labels,
        test_images: &data.test.images,
        test_labels: &data.test.labels,
    };
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:9} {bar:40} {pos}/{len}  {elapsed_precise} eta {eta}")
            .expect("progress template"),
    );
    let progress = |stage: &str, done: usize, total: usize| {
        if bar.message() != stage {
            bar.set_message(stage.to_string());
            bar.set_length(total as u64);
            bar.reset_eta();
        }
        bar.set_position(done as u64);
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| LsmCliError::Usage(e.to_string()))?;
    let results = pool.install(|| experiment::run(&config, images, &progress))?;
    bar.finish_and_clear();
    let summary = serde_json::json!({
        "engram_version": engram::VERSION,
        "config_file": config_path.display().to_string(),
        "config": config,
        "seed": config.seed,
        "seed_source": if seed.is_some() { "--seed" } else { "config" },
        "threads": threads,
        "results": results,
    });
    let path = out.join("results.json");
    let text = serde_json::to_string_pretty(&summary).expect("results serialise") + "\n";
    write_atomically(&path, text.as_bytes()).map_err(|source| LsmCliError::Output {
        path: path.clone(),
        source,
    })?;
    if !quiet {
        println!(
            "test accuracy {:.2} %, branching factor {}, {:.1} ms per recorded sample",
            100.0 * results.test_accuracy,
            results
                .branching_factor
                .map_or("-".into(), |b| format!("{b:.3}")),
            1e3 * results.seconds.record_per_sample
        );
        println!("results in {}", path.display());
    }
    Ok(())
}
