//! `engram bdh train`, `engram bdh generate` and `engram bdh inspect`: thin wrappers around
//! engram-bdh (the Dragon Hatchling language model, see examples/bdh/).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use engram_bdh::BdhError;
use engram_bdh::checkpoint;
use engram_bdh::config::{self, TrainConfig};
use engram_bdh::data::Corpus;
use engram_bdh::model::Params;
use engram_bdh::recurrent::Recurrent;
use engram_bdh::train::{StepRecord, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{EXIT_BAD_INPUT, default_out};

mod inspect;

#[derive(Subcommand)]
pub enum BdhCommand {
    /// Train a BDH model on a byte corpus (see examples/bdh/small.toml).
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
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Print no progress bar and no validation lines.
        #[arg(long)]
        quiet: bool,
    },
    /// Sample bytes from a trained checkpoint with the recurrent (synaptic-state) form.
    Generate {
        /// The checkpoint (checkpoint.safetensors from `engram bdh train`).
        checkpoint: PathBuf,
        /// The text to continue.
        #[arg(long, default_value = "To be or ")]
        prompt: String,
        /// Bytes to generate.
        #[arg(long, default_value_t = 100)]
        tokens: usize,
        /// Sample among this many most likely bytes.
        #[arg(long, default_value_t = 3)]
        top_k: usize,
        /// Random seed of the sampling.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Interpretability tools: activation sparsity, the synaptic state and neuron graph of a
    /// text, the monosemantic synapse probe.
    Inspect {
        #[command(subcommand)]
        command: inspect::InspectCommand,
    },
}

/// Bad input exits with code 2 (nothing written), anything else with 1.
enum Failure {
    BadInput(BdhError),
    Failed(BdhError),
}

fn bad(e: impl Into<BdhError>) -> Failure {
    Failure::BadInput(e.into())
}

fn failed(e: impl Into<BdhError>) -> Failure {
    Failure::Failed(e.into())
}

pub fn run(command: BdhCommand) -> ExitCode {
    let result = match command {
        BdhCommand::Train {
            config,
            out,
            resume,
            force,
            threads,
            quiet,
        } => train(&config, out, resume, force, threads, quiet),
        BdhCommand::Generate {
            checkpoint,
            prompt,
            tokens,
            top_k,
            seed,
        } => generate(&checkpoint, &prompt, tokens, top_k, seed),
        BdhCommand::Inspect { command } => inspect::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(Failure::Failed(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn train(
    config_path: &Path,
    out: Option<PathBuf>,
    resume: bool,
    force: bool,
    threads: Option<usize>,
    quiet: bool,
) -> Result<(), Failure> {
    let threads =
        crate::train::set_threads(threads).map_err(|e| bad(BdhError::Config(e.to_string())))?;
    let config = config::load(config_path).map_err(bad)?;
    let corpus = Corpus::load(
        &config.data.corpus,
        config.data.validation_fraction,
        config.train.block,
    )
    .map_err(bad)?;
    let out = out.unwrap_or_else(|| default_out(config_path));
    let checkpoint_path = out.join("checkpoint.safetensors");
    let mut trainer = if resume {
        checkpoint::load(&checkpoint_path)
            .and_then(|c| c.into_trainer(config, &checkpoint_path))
            .map_err(bad)?
    } else if checkpoint_path.exists() && !force {
        return Err(bad(BdhError::Config(format!(
            "{} already holds a checkpoint; pass --resume to continue that run, or --force to start again and replace it",
            checkpoint_path.display()
        ))));
    } else {
        Trainer::new(config).map_err(failed)?
    };
    let t = trainer.config.train.clone();
    if trainer.steps_done >= t.steps && !quiet {
        println!(
            "the checkpoint has already trained {} of {} steps",
            trainer.steps_done, t.steps
        );
    }
    if trainer.steps_done == 0 {
        let initial = trainer
            .validation_loss(&corpus, t.eval_batches)
            .map_err(failed)?;
        if !quiet {
            println!("step 0: validation loss {initial:.4}");
        }
    }
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(t.steps)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps {msg} [{elapsed_precise}<{eta_precise}]",
        )
        .expect("progress template"),
    );
    bar.set_position(trainer.steps_done);
    while trainer.steps_done < t.steps {
        let mut record = trainer.step(&corpus).map_err(failed)?;
        let step = record.step;
        let last = step == t.steps;
        if step % t.eval_every == 0 || last {
            let batches = if last {
                t.final_eval_batches
            } else {
                t.eval_batches
            };
            let loss = trainer.validation_loss(&corpus, batches).map_err(failed)?;
            record.validation_loss = Some(loss);
            bar.suspend(|| {
                if !quiet {
                    println!("step {step}: train loss {:.4}, validation loss {loss:.4} ({batches} batches)", record.train_loss);
                }
            });
        }
        bar.set_position(step);
        bar.set_message(format!(
            "loss {:.4} {:.0} tokens/s",
            record.train_loss, record.tokens_per_s
        ));
        trainer.history.push(record);
        if step % t.checkpoint_every == 0 || last {
            checkpoint::save(&checkpoint_path, &trainer).map_err(failed)?;
            write_outputs(&out, config_path, &trainer, threads).map_err(failed)?;
        }
    }
    bar.finish_and_clear();
    if !quiet {
        println!(
            "median {:.0} tokens/s; outputs in {}",
            median_tokens_per_s(&trainer.history),
            out.display()
        );
    }
    Ok(())
}

fn median_tokens_per_s(history: &[StepRecord]) -> f64 {
    let mut rates: Vec<f64> = history.iter().map(|r| r.tokens_per_s).collect();
    if rates.is_empty() {
        return 0.0;
    }
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// `metrics.csv` (one row per step so far) and `summary.json`.
fn write_outputs(
    out: &Path,
    config_path: &Path,
    trainer: &Trainer,
    threads: usize,
) -> Result<(), BdhError> {
    let write = |name: &str, text: String| {
        let path = out.join(name);
        engram_train::checkpoint::write_atomically(&path, text.as_bytes())
            .map_err(|source| BdhError::Io { path, source })
    };
    let mut csv = format!("{}\n", StepRecord::CSV_HEADER);
    for r in &trainer.history {
        csv += &format!("{}\n", r.csv_row());
    }
    write("metrics.csv", csv)?;
    let config: &TrainConfig = &trainer.config;
    let summary = serde_json::json!({
        "engram_version": env!("CARGO_PKG_VERSION"),
        "config_file": config_path.display().to_string(),
        "config": config,
        "parameters": config.model.parameter_count(),
        "seed": config.train.seed,
        "threads": threads,
        "steps_done": trainer.steps_done,
        "final_validation_loss": trainer.history.iter().rev().find_map(|r| r.validation_loss),
        "median_tokens_per_s": median_tokens_per_s(&trainer.history),
        "checkpoint": "checkpoint.safetensors",
    });
    write(
        "summary.json",
        serde_json::to_string_pretty(&summary).expect("summary serialises"),
    )
}

fn generate(
    path: &Path,
    prompt: &str,
    tokens: usize,
    top_k: usize,
    seed: u64,
) -> Result<(), Failure> {
    if prompt.is_empty() || top_k == 0 {
        return Err(bad(BdhError::Config(
            "--prompt must not be empty and --top-k must be at least 1".into(),
        )));
    }
    let saved = checkpoint::load(path).map_err(bad)?;
    let model = &saved.config.model;
    let params = Params::from_tensors(model, &saved.parameters).map_err(failed)?;
    let recurrent = Recurrent::new(model, &params).map_err(failed)?;
    let clock = Instant::now();
    let sampled = recurrent.generate(prompt.as_bytes(), tokens, top_k, seed);
    let seconds = clock.elapsed().as_secs_f64();
    println!("{prompt}{}", String::from_utf8_lossy(&sampled));
    eprintln!(
        "{tokens} bytes in {seconds:.3} s (prompt of {} included): {:.0} tokens/s, step {} of training",
        prompt.len(),
        tokens as f64 / seconds,
        saved.steps_done
    );
    Ok(())
}
