//! `engram bdh inspect sparsity|export|probe`: thin wrappers around `engram_bdh::inspect`
//! (activation sparsity, the synaptic state and neuron graph of a text, the monosemantic
//! synapse probe; `shared/specs/bdh.md` §6). The model is a checkpoint or, for the weights at
//! initialisation, a training file. Bad input (a missing or corrupt model file, an empty text,
//! a layer outside the model, a malformed concept) exits with code 2 before anything runs.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use engram_bdh::BdhError;
use engram_bdh::checkpoint;
use engram_bdh::config::{self, TrainConfig};
use engram_bdh::data::Corpus;
use engram_bdh::inspect::export::{self, Options, Source};
use engram_bdh::inspect::{probe, sigma, sparsity};
use engram_bdh::model::Params;
use engram_bdh::recurrent::Recurrent;
use engram_bdh::train::Trainer;

use super::{Failure, bad, failed};

#[derive(Subcommand)]
pub enum InspectCommand {
    /// Fraction of non-zero entries of x, y and g = x ⊙ y per layer (eval mode), their spread
    /// over tokens and the neurons never active, on validation windows of the corpus or a text.
    Sparsity {
        /// A checkpoint, or a training file (.toml) for its weights at initialisation.
        model: PathBuf,
        /// Measure on this text, read as one sequence, instead of validation windows.
        #[arg(long)]
        text: Option<PathBuf>,
        /// The corpus whose validation part gives the windows (default: the model's).
        #[arg(long, conflicts_with = "text")]
        corpus: Option<PathBuf>,
        /// Batches of windows, each of the training batch size and block.
        #[arg(long, default_value_t = 4)]
        batches: usize,
        /// Seed of the window draws.
        #[arg(long, default_value_t = 777)]
        seed: u64,
        /// Worker threads (default: all cores); the figures do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Write the JSON report to this file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// After reading a text: the synaptic state S (state.npy), the strongest synapses of
    /// sigma_l (sigma_edges.csv), optionally sigma_l dense and the parameter graph, and a
    /// manifest.
    Export {
        /// A checkpoint, or a training file (.toml) for its weights at initialisation.
        model: PathBuf,
        /// The text to read.
        #[arg(long)]
        text: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// sigma layers l (from 1; sigma_l pairs layer l - 1 with layer l), default all.
        #[arg(long, value_delimiter = ',')]
        layers: Option<Vec<usize>>,
        /// Edges kept per neuron.
        #[arg(long, default_value_t = 8)]
        top_k: usize,
        /// Also write each sigma_l as a dense n x n .npy.
        #[arg(long)]
        dense_sigma: bool,
        /// Also write the top-k edges of G_x = D_x E and G_y = D_y E per head.
        #[arg(long)]
        parameter_graph: bool,
        /// Worker threads (default: all cores); the files do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// The monosemantic synapse probe: the synapse of sigma_l that best separates sentences
    /// mentioning a concept (discovery half, Welch t), tested on held-out sentences (one-sided
    /// Mann-Whitney U, rank-biserial r) against a shuffled-label control.
    Probe {
        /// A checkpoint, or a training file (.toml) for its weights at initialisation.
        model: PathBuf,
        /// Take the sentences from this file (default: the model's corpus, all of it, as the
        /// reference).
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// sigma layers l (from 1), default all.
        #[arg(long, value_delimiter = ',')]
        layers: Option<Vec<usize>>,
        /// A concept as NAME=WORD,WORD,... (repeatable; default: the reference's royalty and
        /// numbers).
        #[arg(long)]
        concept: Vec<String>,
        /// Sentences per class.
        #[arg(long, default_value_t = 120)]
        per_class: usize,
        /// Seed of the sentence draws (split: seed + 1, label shuffle: seed + 2).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Worker threads (default: all cores); the figures do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Write the JSON report to this file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// A model to inspect: its training file, weights and where they came from.
struct Model {
    config: TrainConfig,
    params: Params,
    recurrent: Recurrent,
    source: Source,
}

/// The layers asked for (checked against the model's `n_layer`), or by default every layer
/// that has a layer below it (2 ..= n_layer), as σ pairs layer l − 1 with layer l.
fn layers_to_inspect(asked: Option<Vec<usize>>, n_layer: usize) -> Result<Vec<usize>, Failure> {
    let layers = asked.unwrap_or_else(|| (2..=n_layer).collect());
    probe::check_layers(&layers, n_layer).map_err(bad)?;
    Ok(layers)
}

/// Loads a checkpoint, or a training file's initial weights (`.toml`).
fn load_model(path: &Path) -> Result<Model, Failure> {
    let (config, params, steps_done, crc32) = if path.extension().is_some_and(|e| e == "toml") {
        let config = config::load(path).map_err(bad)?;
        let trainer = Trainer::new(config.clone()).map_err(failed)?;
        let bytes = std::fs::read(path).map_err(|source| {
            failed(BdhError::Io {
                path: path.into(),
                source,
            })
        })?;
        (config, trainer.params, 0, export::crc32(&bytes))
    } else {
        let saved = checkpoint::load(path).map_err(bad)?;
        let params =
            Params::from_tensors(&saved.config.model, &saved.parameters).map_err(failed)?;
        (saved.config, params, saved.steps_done, saved.crc32)
    };
    let recurrent = Recurrent::new(&config.model, &params).map_err(failed)?;
    let source = Source {
        engram_version: env!("CARGO_PKG_VERSION"),
        model_file: path.display().to_string(),
        model_file_crc32: crc32,
        steps_done,
        model: config.model.clone(),
        text: None,
    };
    Ok(Model {
        config,
        params,
        recurrent,
        source,
    })
}

fn set_threads(threads: Option<usize>) -> Result<usize, Failure> {
    crate::train::set_threads(threads).map_err(|e| bad(BdhError::Config(e.to_string())))
}

/// Writes `report` to `out`, or prints it.
fn emit(report: &serde_json::Value, out: Option<&Path>) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(report).expect("the report serialises");
    match out {
        Some(path) => export::write_file(path, text.as_bytes()).map_err(failed),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

pub fn run(command: InspectCommand) -> Result<(), Failure> {
    match command {
        InspectCommand::Sparsity {
            model,
            text,
            corpus,
            batches,
            seed,
            threads,
            out,
        } => {
            set_threads(threads)?;
            let mut m = load_model(&model)?;
            let (sequences, measured_on) = match text {
                Some(path) => {
                    let (bytes, source) = export::read_text(&path).map_err(bad)?;
                    m.source.text = Some(source);
                    (
                        vec![bytes],
                        serde_json::json!({"text": path.display().to_string()}),
                    )
                }
                None => {
                    if batches == 0 {
                        return Err(bad(BdhError::Config("--batches must be at least 1".into())));
                    }
                    let path = corpus.unwrap_or_else(|| m.config.data.corpus.clone());
                    let t = &m.config.train;
                    let corpus = Corpus::load(&path, m.config.data.validation_fraction, t.block)
                        .map_err(bad)?;
                    let windows =
                        sparsity::validation_windows(&corpus, batches * t.batch, t.block, seed);
                    let on = serde_json::json!({
                        "corpus": path.display().to_string(),
                        "split": "validation",
                        "windows": windows.len(),
                        "block": t.block,
                        "seed": seed,
                    });
                    (windows, on)
                }
            };
            let slices: Vec<&[u8]> = sequences.iter().map(Vec::as_slice).collect();
            let counts = sparsity::measure(&m.recurrent, &slices);
            let layers = counts.report();
            eprintln!("layer   x       y       g       g per token p10/p50/p90   g never active");
            for l in &layers {
                let [p10, p50, p90] = l.g.per_token_p10_p50_p90;
                eprintln!(
                    "{:>5}   {:.3}   {:.3}   {:.3}   {p10:.3} / {p50:.3} / {p90:.3}       {:.2} %",
                    l.layer,
                    l.x.frac_nonzero,
                    l.y.frac_nonzero,
                    l.g.frac_nonzero,
                    100.0 * l.g.frac_neurons_never_active
                );
            }
            let report = serde_json::json!({
                "tool": "engram bdh inspect sparsity",
                "source": m.source,
                "measured_on": measured_on,
                "tokens": counts.tokens(),
                "layers": layers,
            });
            emit(&report, out.as_deref())
        }
        InspectCommand::Export {
            model,
            text,
            out,
            layers,
            top_k,
            dense_sigma,
            parameter_graph,
            threads,
        } => {
            set_threads(threads)?;
            let mut m = load_model(&model)?;
            let layers = layers_to_inspect(layers, m.config.model.n_layer)?;
            if top_k == 0 {
                return Err(bad(BdhError::Config("--top-k must be at least 1".into())));
            }
            if dense_sigma {
                sigma::check_dense(m.config.model.neurons(), "--dense-sigma").map_err(bad)?;
            }
            let (bytes, source) = export::read_text(&text).map_err(bad)?;
            m.source.text = Some(source);
            let options = Options {
                layers,
                top_k,
                dense_sigma,
                parameter_graph,
            };
            let files = export::export(&out, &m.recurrent, &m.params, &bytes, &options, &m.source)
                .map_err(failed)?;
            for f in files {
                println!("{}", f.display());
            }
            Ok(())
        }
        InspectCommand::Probe {
            model,
            corpus,
            layers,
            concept,
            per_class,
            seed,
            threads,
            out,
        } => {
            set_threads(threads)?;
            let mut m = load_model(&model)?;
            let layers = layers_to_inspect(layers, m.config.model.n_layer)?;
            sigma::check_dense(m.config.model.neurons(), "the synapse probe").map_err(bad)?;
            let concepts = if concept.is_empty() {
                probe::reference_concepts()
            } else {
                concept
                    .iter()
                    .map(|c| parse_concept(c))
                    .collect::<Result<_, _>>()?
            };
            let path = corpus.unwrap_or_else(|| m.config.data.corpus.clone());
            let (bytes, source) = export::read_text(&path).map_err(bad)?;
            m.source.text = Some(source);
            let text = String::from_utf8_lossy(&bytes);
            let settings = probe::Settings {
                per_class,
                seed,
                ..probe::Settings::default()
            };
            let lines = probe::candidate_lines(&text, &settings);
            let mut results = Vec::new();
            for c in &concepts {
                let found =
                    probe::probe(&m.recurrent, &lines, c, &layers, &settings).map_err(bad)?;
                for r in &found {
                    let (real, null) = (&r.concept_vs_contrast, &r.shuffled_labels);
                    eprintln!(
                        "{} sigma_{} ({}->{}): synapse {:?}, held-out U {}/{}, r {:.2}, p {:.1e}; shuffled labels: r {:.2}, p {:.2}",
                        r.concept,
                        r.layer,
                        r.layer - 1,
                        r.layer,
                        real.synapse_pre_post,
                        real.test.u,
                        real.test.u_max,
                        real.test.rank_biserial,
                        real.test.p_one_sided,
                        null.test.rank_biserial,
                        null.test.p_one_sided
                    );
                }
                results.extend(found);
            }
            let report = serde_json::json!({
                "tool": "engram bdh inspect probe",
                "source": m.source,
                "settings": settings,
                "candidate_lines": lines.len(),
                "concepts": concepts,
                "results": results,
            });
            emit(&report, out.as_deref())
        }
    }
}

/// `NAME=WORD,WORD,...`.
fn parse_concept(spec: &str) -> Result<probe::Concept, Failure> {
    let malformed = || {
        bad(BdhError::Config(format!(
            "--concept {spec:?}: expected NAME=WORD,WORD,..."
        )))
    };
    let (name, words) = spec.split_once('=').ok_or_else(malformed)?;
    let words: Vec<String> = words
        .split(',')
        .map(|w| w.trim().to_string())
        .filter(|w| !w.is_empty())
        .collect();
    if name.trim().is_empty() || words.is_empty() {
        return Err(malformed());
    }
    Ok(probe::Concept {
        name: name.trim().into(),
        words,
    })
}
