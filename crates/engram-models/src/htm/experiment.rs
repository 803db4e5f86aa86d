//! `engram htm CONFIG.toml`: the HTM experiments as a user runs them, from a TOML file
//! (`examples/htm/`).
//!
//! ```toml
//! task = "sequences"          # Cui et al. 2016 high-order sequences (generated)
//! [sequences]
//! elements = 20000
//! perturb_at = 10000
//! seed = 1
//! ```
//! ```toml
//! task = "stream"             # online prediction and anomaly scores on a CSV stream
//! [input]
//! file = "nyc_taxi.csv"       # relative to the config file; or `generate_days = 120`
//! value_column = "value"
//! timestamp_column = "timestamp"
//! bad_rows = "error"          # or "skip": left out, counted and listed in the summary
//! [stream]                    # pipeline parameters (defaults: the paper's taxi model)
//! steps = [1, 5]
//! [metrics]
//! skip = 10000                # records before scoring (the paper skips 10000)
//! ```
//! Outputs go to a directory written whole or not at all: `summary.json` (the config,
//! seed, engine version, metrics, time per step), a CSV of the per-step results and a PNG.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::datasets;
use super::pipeline::{self, StreamModel, StreamParams};
use super::sequences::{self, SequenceParams};
use super::stream::{self, BadRows, Record, StreamSpec};
use super::{HtmError, plot};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtmConfig {
    pub task: Task,
    pub sequences: Option<SequencesConfig>,
    pub input: Option<InputConfig>,
    #[serde(default)]
    pub stream: StreamParams,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Sequences,
    Stream,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequencesConfig {
    pub elements: usize,
    pub perturb_at: Option<usize>,
    #[serde(default = "one")]
    pub seed: u64,
}

fn one() -> u64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    pub file: Option<PathBuf>,
    pub generate_days: Option<usize>,
    #[serde(default = "value_column")]
    pub value_column: String,
    pub timestamp_column: Option<String>,
    #[serde(default = "error_on_bad_rows")]
    pub bad_rows: BadRows,
}

fn value_column() -> String {
    "value".into()
}

fn error_on_bad_rows() -> BadRows {
    BadRows::Error
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Records before scoring.
    #[serde(default)]
    pub skip: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error(transparent)]
    Params(#[from] HtmError),
    #[error(transparent)]
    Stream(#[from] stream::StreamError),
    #[error("{}:{line}: {message}", path.display())]
    Record { path: PathBuf, line: u64, message: String },
    #[error(transparent)]
    Output(#[from] engram::EngramError),
}

/// Reads and checks a config file.
pub fn load(path: &Path) -> Result<HtmConfig, ExperimentError> {
    let fail = |message: String| ExperimentError::Config { path: path.into(), message };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let config: HtmConfig = toml::from_str(&text).map_err(|e| fail(e.to_string().trim_end().to_string()))?;
    match config.task {
        Task::Sequences if config.sequences.is_none() => return Err(fail("task \"sequences\" needs a [sequences] table".into())),
        Task::Stream => match &config.input {
            None => return Err(fail("task \"stream\" needs an [input] table".into())),
            Some(i) if i.file.is_some() == i.generate_days.is_some() => {
                return Err(fail("[input] needs exactly one of `file` and `generate_days`".into()));
            }
            _ => {}
        },
        _ => {}
    }
    if config.stream.steps.is_empty() {
        return Err(fail("[stream] steps must list at least one step".into()));
    }
    Ok(config)
}

/// What a run reports (also written as `summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub engram_version: &'static str,
    pub config_file: String,
    pub config: HtmConfig,
    pub results: serde_json::Value,
}

/// A plot: title, x label, named series of (x, y), and vertical marks.
struct Plot {
    title: &'static str,
    x_label: &'static str,
    series: Vec<(String, Vec<(usize, f64)>)>,
    marks: Vec<f64>,
}

/// What a task produces: its results, a CSV and a plot.
struct TaskOutput {
    results: serde_json::Value,
    csv: (&'static str, String),
    plot: (&'static str, Plot),
}

/// Runs the experiment of `config` (read from `config_path`) and writes its outputs to `out`.
pub fn run(config: &HtmConfig, config_path: &Path, out: &Path) -> Result<Summary, ExperimentError> {
    let output = match config.task {
        Task::Sequences => run_sequences(config.sequences.as_ref().expect("checked by `load`"))?,
        Task::Stream => run_stream(config, config_path)?,
    };
    let summary =
        Summary { engram_version: engram::VERSION, config_file: config_path.display().to_string(), config: config.clone(), results: output.results };
    engram::output::write_dir_atomically(out, |dir| {
        let (name, text) = &output.csv;
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| engram::EngramError::Output { path: path.clone(), message: e.to_string() })?;
        let (name, p) = &output.plot;
        let series: Vec<(&str, &[(usize, f64)])> = p.series.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
        plot::lines(&dir.join(name), p.title, p.x_label, &series, &p.marks)?;
        engram::output::write_json(&dir.join("summary.json"), &summary)
    })?;
    Ok(summary)
}

fn run_sequences(c: &SequencesConfig) -> Result<TaskOutput, ExperimentError> {
    let run = sequences::run(&SequenceParams { elements: c.elements, perturb_at: c.perturb_at, seed: c.seed })?;
    let window = 25;
    let last = run.accuracy_curve(window, true);
    let switch = c.perturb_at.unwrap_or(c.elements);
    let before: Vec<_> = run.outcomes.iter().filter(|o| o.last && o.index < switch).rev().take(window).collect();
    let final_before = before.iter().filter(|o| o.correct).count() as f64 / before.len().max(1) as f64;
    let recovered_at = c.perturb_at.and_then(|p| last.iter().find(|&&(end, acc)| end > p + 1000 && acc >= 0.95).map(|&(end, _)| end));
    let results = serde_json::json!({
        "task": "sequences",
        "window_last_elements": window,
        "accuracy_last_elements_before_switch": final_before,
        "accuracy_last_elements_final": last.last().map(|p| p.1),
        "third_and_later_elements_accuracy_final_quarter": run.accuracy_in(c.elements * 3 / 4..c.elements, |o| o.position >= 2),
        "first_window_at_0_95_after_switch": recovered_at,
        "tm_step_us": run.step_s * 1e6,
    });
    let mut csv = String::from("element,accuracy_last_elements\n");
    for (end, acc) in &last {
        csv += &format!("{end},{acc}\n");
    }
    let plot = Plot {
        title: "high-order sequences: accuracy on the last element (windows of 25 sequences)",
        x_label: "element",
        series: vec![("HTM".into(), last)],
        marks: c.perturb_at.map(|p| p as f64).into_iter().collect(),
    };
    Ok(TaskOutput { results, csv: ("accuracy.csv", csv), plot: ("accuracy.png", plot) })
}

fn run_stream(config: &HtmConfig, config_path: &Path) -> Result<TaskOutput, ExperimentError> {
    let input = config.input.as_ref().expect("checked by `load`");
    let (records, skipped, source) = match (&input.file, input.generate_days) {
        (Some(file), _) => {
            let path = config_path.parent().unwrap_or(Path::new(".")).join(file);
            let spec = StreamSpec {
                path: path.clone(),
                value_column: input.value_column.clone(),
                timestamp_column: input.timestamp_column.clone(),
                bad_rows: input.bad_rows,
            };
            let s = stream::read(&spec)?;
            (s.records, s.skipped, path.display().to_string())
        }
        (None, Some(days)) => {
            let series = datasets::periodic_demand(config.stream.seed, days);
            let records = series.iter().enumerate().map(|(i, &(t, value))| Record { line: i as u64 + 2, timestamp: Some(t), value }).collect();
            (records, Vec::new(), format!("generated: {days} days of periodic demand"))
        }
        (None, None) => unreachable!("checked by `load`"),
    };
    let steps = config.stream.steps.clone();
    let mut model = StreamModel::new(config.stream.clone())?;
    let mut outputs = Vec::with_capacity(records.len());
    let start = Instant::now();
    for r in &records {
        let o = model.step(r).map_err(|e| ExperimentError::Record { path: source.clone().into(), line: r.line, message: e.to_string() })?;
        outputs.push(o);
    }
    let step_us = start.elapsed().as_secs_f64() * 1e6 / records.len() as f64;
    let mut metrics = Vec::new();
    let shown = records.len().saturating_sub(7 * 48)..records.len();
    let mut series: Vec<(String, Vec<(usize, f64)>)> = vec![("truth".into(), shown.clone().map(|i| (i, records[i].value)).collect())];
    for (s, &k) in steps.iter().enumerate() {
        // The prediction made at record i is for record i + k; the shift baseline repeats record i.
        let scored: Vec<(f64, f64, f64)> = (config.metrics.skip.max(k)..records.len())
            .filter_map(|i| outputs[i - k].predictions[s].map(|p| (p, records[i].value, records[i - k].value)))
            .collect();
        let p: Vec<f64> = scored.iter().map(|x| x.0).collect();
        let y: Vec<f64> = scored.iter().map(|x| x.1).collect();
        let shift: Vec<f64> = scored.iter().map(|x| x.2).collect();
        metrics.push(serde_json::json!({
            "steps_ahead": k,
            "scored_records": p.len(),
            "nrmse": pipeline::nrmse(&p, &y),
            "mape": pipeline::mape(&p, &y),
            "shift_baseline_nrmse": pipeline::nrmse(&shift, &y),
            "shift_baseline_mape": pipeline::mape(&shift, &y),
        }));
        let predicted = shown.clone().filter(|&i| i >= k).filter_map(|i| outputs[i - k].predictions[s].map(|p| (i, p))).collect();
        series.push((format!("HTM, {k} steps ahead"), predicted));
    }
    let results = serde_json::json!({
        "task": "stream",
        "source": source,
        "records": records.len(),
        "skipped_rows": skipped.len(),
        "skipped": skipped.iter().map(|(line, why)| format!("line {line}: {why}")).collect::<Vec<_>>(),
        "metrics_from_record": config.metrics.skip,
        "metrics": metrics,
        "step_us": step_us,
        "segments": model.memory().num_segments(),
        "synapses": model.memory().num_synapses(),
    });
    let mut csv = String::from("line,timestamp,value");
    steps.iter().for_each(|k| csv += &format!(",prediction_{k}"));
    csv += ",anomaly_score,anomaly_likelihood\n";
    for (r, o) in records.iter().zip(&outputs) {
        csv += &format!("{},{},{}", r.line, r.timestamp.map(|t| t.to_string()).unwrap_or_default(), r.value);
        o.predictions.iter().for_each(|p| csv += &format!(",{}", p.map(|v| v.to_string()).unwrap_or_default()));
        csv += &format!(",{},{}\n", o.anomaly, o.likelihood);
    }
    let plot = Plot { title: "stream: value and predictions (the last 336 records)", x_label: "record", series, marks: Vec::new() };
    Ok(TaskOutput { results, csv: ("predictions.csv", csv), plot: ("predictions.png", plot) })
}
