//! `engram train`, `engram eval` and `engram bench-train`: thin wrappers around engram-train.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use engram_train::checkpoint::{self, CheckpointError};
use engram_train::config::{self, ConfigError, TrainConfig};
use engram_train::data::DataError;
use engram_train::data::mnist::{self, Dataset};
use engram_train::loss::count_correct;
use engram_train::train::{Batch, EpochMetrics, Trainer, cpu_seconds};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{EXIT_BAD_INPUT, default_out};

/// Why a training command stopped; bad input exits with code 2, anything else with 1.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TrainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Compute(#[from] candle_core::Error),
    #[error("{}: {source}", path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn exit_code(result: Result<(), TrainError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                TrainError::Config(_)
                | TrainError::Data(_)
                | TrainError::Checkpoint(_)
                | TrainError::Usage(_) => ExitCode::from(EXIT_BAD_INPUT),
                TrainError::Compute(_) | TrainError::Output { .. } => ExitCode::FAILURE,
            }
        }
    }
}

/// Sizes the worker pool (rayon, and candle's matrix products, which read `RAYON_NUM_THREADS`).
pub(crate) fn set_threads(threads: Option<usize>) -> Result<usize, TrainError> {
    let threads = match threads {
        Some(0) => return Err(TrainError::Usage("--threads must be at least 1".into())),
        Some(t) => t,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    keep_freed_memory();
    // SAFETY: called at start-up, before any other thread of this process exists.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| TrainError::Usage(e.to_string()))?;
    Ok(threads)
}

/// Keeps freed memory in the process instead of returning it to the system.
///
/// A training step allocates the same few large activations (13 MB each for a 1000-neuron
/// layer at T = 25, batch 128) and frees them again. glibc serves such blocks with `mmap` and
/// unmaps them on free, so every step paid for re-faulting fresh zeroed pages: a third of the
/// step's time. Raising the mmap and trim thresholds lets the heap keep and reuse them (what
/// PyTorch's caching allocator does); peak memory is unchanged.
fn keep_freed_memory() {
    const MMAP_THRESHOLD: libc::c_int = 1 << 30;
    const TRIM_THRESHOLD: libc::c_int = 1 << 30;
    // SAFETY: mallopt only tunes glibc's allocator; it is called before the training threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// The dataset a config names, checked against its network.
pub(crate) fn load_data(config: &TrainConfig) -> Result<Dataset, TrainError> {
    let data = Dataset::load(&config.data.dir)?;
    let classes = usize::from(mnist::NUM_CLASSES);
    let last = config.model.layers.last().map_or(0, |l| l.size);
    if last != classes {
        return Err(TrainError::Usage(format!(
            "the last layer has {last} neurons but {} has {classes} classes",
            config.data.dir.display()
        )));
    }
    Ok(data)
}

pub(crate) fn features(data: &Dataset) -> usize {
    data.train.rows * data.train.cols
}

/// Writes `text` to `path` atomically (see [`checkpoint::write_atomically`]).
fn write_atomically(path: &Path, text: &str) -> Result<(), TrainError> {
    checkpoint::write_atomically(path, text.as_bytes()).map_err(|source| TrainError::Output {
        path: path.into(),
        source,
    })
}

pub struct TrainArgs {
    pub config: PathBuf,
    pub out: Option<PathBuf>,
    pub resume: bool,
    pub force: bool,
    pub threads: Option<usize>,
    pub quiet: bool,
}

pub fn train(args: TrainArgs) -> ExitCode {
    exit_code(run_training(args))
}

fn run_training(args: TrainArgs) -> Result<(), TrainError> {
    let threads = set_threads(args.threads)?;
    let config = config::load(&args.config)?;
    let data = load_data(&config)?;
    let out = args.out.unwrap_or_else(|| default_out(&args.config));
    let checkpoint_path = out.join("checkpoint.safetensors");
    let mut trainer = if args.resume {
        checkpoint::load(&checkpoint_path)?
            .into_trainer(config, features(&data))
            .map_err(|e| TrainError::Usage(format!("{}: {e}", checkpoint_path.display())))?
    } else if checkpoint_path.exists() && !args.force {
        return Err(TrainError::Usage(format!(
            "{} already holds a checkpoint; pass --resume to continue that run, or --force to start again and replace it",
            checkpoint_path.display()
        )));
    } else {
        Trainer::new(config, features(&data))?
    };
    std::fs::create_dir_all(&out).map_err(|source| TrainError::Output {
        path: out.clone(),
        source,
    })?;
    let epochs = trainer.config.train.epochs;
    if trainer.epochs_done >= epochs && !args.quiet {
        println!(
            "the checkpoint has already trained {} of {epochs} epochs",
            trainer.epochs_done
        );
    }
    while trainer.epochs_done < epochs {
        let samples = trainer.config.data.train_samples(data.train.count);
        let bar = if args.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(trainer.batches_per_epoch(samples) as u64)
        };
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} {bar:30} {pos}/{len} {msg} [{elapsed_precise}<{eta_precise}]",
            )
            .expect("progress template"),
        );
        bar.set_prefix(format!("{}/{epochs}", trainer.epochs_done + 1));
        let metrics = trainer.train_epoch(&data.train, &data.test, &mut |r| {
            bar.set_position(r.batch as u64);
            bar.set_message(format!(
                "loss {:.4} acc {:.2}% {:.0} samples/s",
                r.loss,
                100.0 * r.accuracy,
                r.samples_per_s
            ));
        })?;
        bar.finish_and_clear();
        checkpoint::save(&checkpoint_path, &trainer)?;
        write_outputs(&out, &args.config, &trainer, threads)?;
        if !args.quiet {
            print_epoch(&metrics);
        }
    }
    if !args.quiet {
        println!("outputs in {}", out.display());
    }
    Ok(())
}

fn print_epoch(m: &EpochMetrics) {
    println!(
        "epoch {}: train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}% | {:.0} samples/s ({:.1} s wall, {:.1} s CPU)",
        m.epoch,
        m.train_loss,
        100.0 * m.train_accuracy,
        m.test_loss,
        100.0 * m.test_accuracy,
        m.train_samples_per_s,
        m.train_wall_s,
        m.train_cpu_s
    );
}

/// `metrics.csv` (one row per epoch so far) and `summary.json` (config, seed, version, results).
fn write_outputs(
    out: &Path,
    config_path: &Path,
    trainer: &Trainer,
    threads: usize,
) -> Result<(), TrainError> {
    let mut csv = format!("{}\n", EpochMetrics::CSV_HEADER);
    for m in &trainer.history {
        csv += &format!("{}\n", m.csv_row());
    }
    write_atomically(&out.join("metrics.csv"), &csv)?;
    let summary = serde_json::json!({
        "engram_version": env!("CARGO_PKG_VERSION"),
        "config_file": config_path.display().to_string(),
        "config": trainer.config,
        "seed": trainer.config.seed,
        "threads": threads,
        "epochs_done": trainer.epochs_done,
        "steps_done": trainer.steps_done,
        "final": trainer.history.last(),
        "history": trainer.history,
        "checkpoint": "checkpoint.safetensors",
    });
    write_atomically(
        &out.join("summary.json"),
        &serde_json::to_string_pretty(&summary).expect("summary serialises"),
    )
}

pub fn eval(checkpoint_path: &Path, data_dir: Option<PathBuf>, threads: Option<usize>) -> ExitCode {
    exit_code((|| {
        set_threads(threads)?;
        let saved = checkpoint::load(checkpoint_path)?;
        let mut config = saved.config.clone();
        if let Some(dir) = data_dir {
            config.data.dir = dir;
        }
        let data = load_data(&config)?;
        let trainer = saved.into_trainer(config, features(&data))?;
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        let (loss, accuracy) = trainer.evaluate(&data.test)?;
        let samples = trainer.config.data.test_samples(data.test.count);
        let result = serde_json::json!({
            "checkpoint": checkpoint_path.display().to_string(),
            "epochs_trained": trainer.epochs_done,
            "test_samples": samples,
            "test_loss": loss,
            "test_accuracy": accuracy,
            "samples_per_s": samples as f64 / wall.elapsed().as_secs_f64(),
            "cpu_s": cpu_seconds() - cpu,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&result).expect("result serialises")
        );
        Ok(())
    })())
}

pub struct BenchArgs {
    pub config: PathBuf,
    pub what: String,
    pub batches: usize,
    pub repeats: usize,
    pub warmup: usize,
    pub threads: Option<usize>,
}

/// Throughput of training or inference steps on the config's network, printed as one
/// `RESULT {json}` line in the format of `bench/train/bench_snn.py`.
pub fn bench(args: BenchArgs) -> ExitCode {
    exit_code((|| {
        let threads = set_threads(args.threads)?;
        let train = match args.what.as_str() {
            "train" => true,
            "infer" => false,
            other => {
                return Err(TrainError::Usage(format!(
                    "--what must be train or infer, got {other:?}"
                )));
            }
        };
        if args.batches == 0 || args.repeats == 0 {
            return Err(TrainError::Usage(
                "--batches and --repeats must be at least 1".into(),
            ));
        }
        let config = config::load(&args.config)?;
        let data = load_data(&config)?;
        let batch_size = config.train.batch_size;
        let mut trainer = Trainer::new(config, features(&data))?;
        let pool = 8192.min(data.train.count);
        let batches: Vec<Batch> = (0..args.batches.min(pool / batch_size).max(1))
            .map(|b| {
                Batch::gather(
                    &data.train,
                    &(b * batch_size..(b + 1) * batch_size)
                        .map(|i| i % pool)
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<candle_core::Result<_>>()?;
        let run = |count: usize, trainer: &mut Trainer| -> Result<(), TrainError> {
            for k in 0..count {
                let batch = &batches[k % batches.len()];
                if train {
                    trainer.step(batch, k as u64, batches.len(), count)?;
                } else {
                    let output = trainer
                        .net
                        .forward(&trainer.encode(batch, k as u64)?)?
                        .detach();
                    count_correct(&trainer.config.loss.scores(&output)?, &batch.labels)?;
                }
            }
            Ok(())
        };
        run(args.warmup, &mut trainer)?;
        let (mut cpu_rates, mut wall_rates) = (Vec::new(), Vec::new());
        for _ in 0..args.repeats {
            let (wall, cpu) = (Instant::now(), cpu_seconds());
            run(args.batches, &mut trainer)?;
            let samples = (args.batches * batch_size) as f64;
            cpu_rates.push(samples / (cpu_seconds() - cpu));
            wall_rates.push(samples / wall.elapsed().as_secs_f64());
        }
        let layers = &trainer.config.model.layers;
        let result = serde_json::json!({
            "lib": "engram",
            "version": env!("CARGO_PKG_VERSION"),
            "what": args.what,
            "T": trainer.net.steps,
            "batch": batch_size,
            "hidden": layers.first().map(|l| l.size),
            "threads": threads,
            "batches_per_repeat": args.batches,
            "samples_per_s_cpu": cpu_rates,
            "samples_per_s_wall": wall_rates,
            "median_cpu": median(&cpu_rates),
            "median_wall": median(&wall_rates),
            "peak_rss_mib": peak_rss_mib(),
            "loadavg_1m": load_average(),
        });
        println!("RESULT {result}");
        Ok(())
    })())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// The process's peak resident memory (`VmHWM` of /proc/self/status), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
