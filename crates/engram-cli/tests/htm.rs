//! `engram htm`: the experiment files in `examples/htm/` are valid, the stream pipeline
//! runs on a CSV file a user points it at (a generated series with daily and weekly
//! periods, since the NYC taxi file cannot be downloaded here), and bad input is refused
//! with the file, line and field, or skipped and counted when the file asks for that.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use engram_models::htm::datasets;

fn engram_htm(config: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engram")).arg("htm").arg(config).arg("--out").arg(out).arg("--quiet").output().expect("runs")
}

fn summary(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("json")
}

/// A directory holding `series.csv` (30 days of generated demand, optionally with an extra
/// line appended) and `stream.toml` reading it.
fn stream_case(extra_line: Option<&str>, bad_rows: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("series.csv");
    datasets::write_csv(&csv, &datasets::periodic_demand(3, 30)).expect("write csv");
    if let Some(line) = extra_line {
        let mut text = std::fs::read_to_string(&csv).expect("read csv");
        text += line;
        std::fs::write(&csv, text).expect("write csv");
    }
    let config = dir.path().join("stream.toml");
    let toml = format!(
        "task = \"stream\"\n[input]\nfile = \"series.csv\"\ntimestamp_column = \"timestamp\"\nbad_rows = \"{bad_rows}\"\n[stream]\nsteps = [5]\n[metrics]\nskip = 960\n"
    );
    std::fs::write(&config, toml).expect("write config");
    (dir, config)
}

#[test]
fn the_stream_pipeline_predicts_a_periodic_csv_better_than_the_shift_baseline() {
    let (dir, config) = stream_case(None, "error");
    let out = dir.path().join("out");
    let run = engram_htm(&config, &out);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let s = summary(&out);
    let m = &s["results"]["metrics"][0];
    let (htm, shift) = (m["nrmse"].as_f64().expect("nrmse"), m["shift_baseline_nrmse"].as_f64().expect("shift"));
    eprintln!("days 21-30, 5 steps ahead: NRMSE HTM {htm:.3}, shift {shift:.3}; {} us per record", s["results"]["step_us"]);
    assert!(htm < 0.8 * shift, "HTM {htm} vs shift baseline {shift}");
    assert_eq!(s["results"]["records"], 30 * 48);
    assert_eq!(s["engram_version"], env!("CARGO_PKG_VERSION"));
    let csv = std::fs::read_to_string(out.join("predictions.csv")).expect("predictions.csv");
    assert!(csv.starts_with("line,timestamp,value,prediction_5,anomaly_score,anomaly_likelihood\n"));
    assert_eq!(csv.lines().count(), 30 * 48 + 1);
    assert!(out.join("predictions.png").metadata().expect("plot").len() > 10_000);
}

#[test]
fn a_bad_row_is_an_error_naming_the_line_and_leaves_no_output() {
    let bad = "2014-07-31 00:00:00,many\n";
    let (dir, config) = stream_case(Some(bad), "error");
    let out = dir.path().join("out");
    let run = engram_htm(&config, &out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("series.csv:{}: column `value`: `many` is not a number", 30 * 48 + 2)), "{stderr}");
    assert!(!out.exists(), "no output directory after an error");
}

#[test]
fn skipped_rows_are_counted_and_listed() {
    let (dir, config) = stream_case(Some("2014-07-01 00:30:00,5\n"), "skip");
    let out = dir.path().join("out");
    let run = engram_htm(&config, &out);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let s = summary(&out);
    assert_eq!(s["results"]["skipped_rows"], 1);
    let why = s["results"]["skipped"][0].as_str().expect("reason");
    assert!(why.starts_with(&format!("line {}: ", 30 * 48 + 2)) && why.contains("does not come after"), "{why}");
}

#[test]
fn a_config_with_an_unknown_field_is_refused_with_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "task = \"sequences\"\n[sequences]\nelements = 100\nperturb = 50\n").expect("write");
    let run = engram_htm(&config, &dir.path().join("out"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.toml") && stderr.contains("line 4") && stderr.contains("unknown field `perturb`"), "{stderr}");
}

#[test]
fn the_example_experiment_files_load() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/htm");
    for name in ["sequences.toml", "stream.toml"] {
        let path = examples.join(name);
        engram_models::htm::experiment::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn a_short_sequence_run_writes_its_accuracy_curve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("seq.toml");
    std::fs::write(&config, "task = \"sequences\"\n[sequences]\nelements = 3000\nperturb_at = 2000\nseed = 4\n").expect("write");
    let out = dir.path().join("out");
    let run = engram_htm(&config, &out);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let s = summary(&out);
    assert!(s["results"]["tm_step_us"].as_f64().expect("time") > 0.0);
    let csv = std::fs::read_to_string(out.join("accuracy.csv")).expect("accuracy.csv");
    assert!(csv.lines().count() > 5);
    assert!(out.join("accuracy.png").exists());
}
