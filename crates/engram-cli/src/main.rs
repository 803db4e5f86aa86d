//! The `engram` command: parse arguments, load a model, call the library, write outputs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use engram::network::Network;
use engram::units::{self, Dim};
use engram::{EngramError, engine, output, spec};
use indicatif::{ProgressBar, ProgressStyle};

mod allocator;
mod bdh;
mod export;
mod lsm;
mod train;

#[derive(Parser)]
#[command(name = "engram", version, about = "Spiking and brain-inspired neural computation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a network described by a TOML model file.
    Run {
        /// The model file.
        model: PathBuf,
        /// Simulated time, overriding the file (e.g. "10 s", "500 ms"; a bare number is seconds).
        #[arg(long)]
        duration: Option<String>,
        /// Random seed, overriding the file.
        #[arg(long)]
        seed: Option<u64>,
        /// Worker threads, overriding the file.
        #[arg(long)]
        threads: Option<usize>,
        /// Output directory (default: out/<model name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print no progress bar and no summary line.
        #[arg(long)]
        quiet: bool,
        /// Use the plain reference kernels instead of the fused fast paths (same results,
        /// slower; for checking the fast paths).
        #[arg(long)]
        reference_kernels: bool,
    },
    /// Validate a model file without running it.
    Check { model: PathBuf },
    /// Run an HTM experiment: high-order sequence learning, or online prediction and
    /// anomaly scores on a CSV stream (see examples/htm/).
    Htm {
        /// The experiment file.
        config: PathBuf,
        /// Output directory (default: out/<config name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print no summary.
        #[arg(long)]
        quiet: bool,
    },
    /// Run a liquid state machine (NALSM, Ivanov & Michmizos 2021) on MNIST: organise the
    /// liquid, record spike counts, fit a readout (see examples/lsm/).
    Lsm {
        /// The LSM file.
        config: PathBuf,
        /// Output directory for results.json (default: out/<config name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Seed instead of the file's `seed` (recorded in results.json).
        #[arg(long)]
        seed: Option<u64>,
        /// Print no progress bar and no summary.
        #[arg(long)]
        quiet: bool,
    },
    /// The Dragon Hatchling (BDH) byte-level language model: train, generate.
    Bdh {
        #[command(subcommand)]
        command: bdh::BdhCommand,
    },
    /// Print the phases of a simulation step, in order.
    Schedule,
    /// Train a spiking network with surrogate gradients (see examples/train/).
    Train {
        /// The training file.
        config: PathBuf,
        /// Output directory for metrics.csv, summary.json and checkpoint.safetensors
        /// (default: out/<config name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue the run whose checkpoint is in the output directory.
        #[arg(long)]
        resume: bool,
        /// Start again even though the output directory holds a checkpoint (it is replaced).
        #[arg(long, conflicts_with = "resume")]
        force: bool,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Print no progress bar and no per-epoch lines.
        #[arg(long)]
        quiet: bool,
    },
    /// Evaluate a training checkpoint on its dataset's test split.
    Eval {
        /// The checkpoint (checkpoint.safetensors from `engram train`).
        checkpoint: PathBuf,
        /// Dataset directory, overriding the one the checkpoint's config names.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Write a training checkpoint's network as simulator model files (`leaky` layers, weights
    /// in .npy files), one per test sample, driven by that sample's encoded spikes.
    Export {
        /// The checkpoint (checkpoint.safetensors from `engram train`).
        checkpoint: PathBuf,
        /// Output directory (default: `export` next to the checkpoint).
        #[arg(long)]
        out: Option<PathBuf>,
        /// How many test samples, from the first (one model file each).
        #[arg(long, default_value_t = 1)]
        samples: usize,
        /// Dataset directory, overriding the one the checkpoint's config names.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Then run every sample in the simulator and compare spikes and accuracy with training.
        #[arg(long)]
        simulate: bool,
    },
    /// Measure training or inference samples/s of a training file's network (bench/train.sh).
    BenchTrain {
        /// The training file.
        config: PathBuf,
        /// "train" (encode, forward, loss, backward, optimizer step) or "infer".
        #[arg(long, default_value = "train")]
        what: String,
        /// Batches per timed repeat.
        #[arg(long, default_value_t = 10)]
        batches: usize,
        /// Timed repeats.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Untimed batches first.
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
}

/// Exit code for invalid input (model files, arguments).
const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    allocator::keep_large_blocks();
    let cli = Cli::parse();
    let model_path = match &cli.command {
        Command::Run { model, .. } | Command::Check { model } => Some(model.clone()),
        Command::Htm { config, out, quiet } => return htm(config, out.clone(), *quiet),
        Command::Bdh { .. } => None,
        Command::Lsm { config, out, threads, seed, quiet } => return lsm::lsm(config, out.clone(), *threads, *seed, *quiet),
        Command::Train { config, out, resume, force, threads, quiet } => {
            let (config, out, resume, force, threads, quiet) = (config.clone(), out.clone(), *resume, *force, *threads, *quiet);
            return train::train(train::TrainArgs { config, out, resume, force, threads, quiet });
        }
        Command::Eval { checkpoint, data, threads } => return train::eval(checkpoint, data.clone(), *threads),
        Command::Export { checkpoint, out, samples, data, simulate } => {
            let (checkpoint, out, data) = (checkpoint.clone(), out.clone(), data.clone());
            return export::export(export::ExportArgs { checkpoint, out, samples: *samples, data, simulate: *simulate });
        }
        Command::BenchTrain { config, what, batches, repeats, warmup, threads } => {
            let (config, what) = (config.clone(), what.clone());
            return train::bench(train::BenchArgs { config, what, batches: *batches, repeats: *repeats, warmup: *warmup, threads: *threads });
        }
        Command::Schedule => None,
    };
    let result = match cli.command {
        Command::Bdh { command } => return bdh::run(command),
        Command::Run { model, duration, seed, threads, out, quiet, reference_kernels } => {
            run(&model, duration.as_deref(), seed, threads, out, quiet, reference_kernels)
        }
        Command::Check { model } => spec::load(&model).map(|s| {
            println!(
                "{}: ok ({} populations, {} sources, {} projections)",
                model.display(),
                s.populations.len(),
                s.sources.len(),
                s.projections.len()
            )
        }),
        Command::Schedule => {
            print!("{}", engine::describe_schedule());
            Ok(())
        }
        Command::Htm { .. } | Command::Lsm { .. } | Command::Train { .. } | Command::Eval { .. } | Command::Export { .. } | Command::BenchTrain { .. } => {
            unreachable!("handled above")
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                EngramError::Spec { .. } | EngramError::Model(_) => ExitCode::from(EXIT_BAD_INPUT),
                // The model file itself cannot be read (missing, a directory, not UTF-8).
                EngramError::Io { ref path, .. } if model_path.as_deref() == Some(path.as_path()) => ExitCode::from(EXIT_BAD_INPUT),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn default_out(file: &Path) -> PathBuf {
    PathBuf::from("out").join(file.file_stem().map_or_else(|| "run".into(), |s| s.to_string_lossy().into_owned()))
}

fn htm(config_path: &Path, out: Option<PathBuf>, quiet: bool) -> ExitCode {
    use engram_models::htm::experiment::{self, ExperimentError};
    let out = out.unwrap_or_else(|| default_out(config_path));
    let result = experiment::load(config_path).and_then(|config| experiment::run(&config, config_path, &out));
    match result {
        Ok(summary) => {
            if !quiet {
                println!("{}", serde_json::to_string_pretty(&summary.results).expect("results serialise"));
                println!("outputs in {}", out.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                ExperimentError::Output(_) => ExitCode::FAILURE,
                _ => ExitCode::from(EXIT_BAD_INPUT),
            }
        }
    }
}

fn run(
    model: &Path,
    duration: Option<&str>,
    seed: Option<u64>,
    threads: Option<usize>,
    out: Option<PathBuf>,
    quiet: bool,
    reference_kernels: bool,
) -> engram::Result<()> {
    let setup = Instant::now();
    let mut spec = spec::load(model)?;
    if let Some(d) = duration {
        let ms = match d.trim().parse::<f64>() {
            Ok(seconds) => seconds * 1e3,
            Err(_) => units::parse_expecting(d, Dim::TIME).map_err(|e| EngramError::Model(format!("--duration: {e}")))?,
        };
        if ms < 0.0 || !ms.is_finite() {
            return Err(EngramError::Model(format!("--duration must be a non-negative time, got {d}")));
        }
        spec.run.duration = ms;
    }
    if let Some(s) = seed {
        spec.run.seed = s;
    }
    if let Some(t) = threads {
        if t == 0 {
            return Err(EngramError::Model("--threads must be at least 1".into()));
        }
        spec.run.threads = t;
    }
    let out = out.unwrap_or_else(|| default_out(model));
    let mut net = Network::build(spec)?;
    net.reference_kernels = reference_kernels;
    let setup_s = setup.elapsed().as_secs_f64();

    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(net.n_steps) };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {elapsed_precise} eta {eta}").expect("progress template"),
    );
    let report = |done: u64, _total: u64| bar.set_position(done);
    let result = engine::run(&mut net, Some(&report));
    bar.finish_and_clear();

    let summary = output::Summary::new(model, &net, &result, setup_s);
    output::write_all(&out, &net, &result, &summary)?;
    if !quiet {
        println!("{}", summary.one_line());
        println!("outputs in {}", out.display());
    }
    Ok(())
}
