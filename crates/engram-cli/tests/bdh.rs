//! `engram bdh train` and `engram bdh generate` end to end on a tiny corpus and model: outputs,
//! resume, and bad input (exit code 2, nothing written).

use std::path::Path;
use std::process::{Command, Output};

fn engram(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(args)
        .output()
        .expect("engram runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A training file for a 2-layer, D 32 model on a corpus in `dir`, with `steps` and `n_head`.
fn write_config(dir: &Path, steps: u64, n_head: usize, corpus: &Path) -> String {
    let path = dir.join(format!("tiny_{steps}_{n_head}.toml"));
    let text = format!(
        "[model]\nn_layer = 2\nn_embd = 32\nn_head = {n_head}\nmult = 4\ndropout = 0.1\n\
         [data]\ncorpus = {corpus:?}\n\
         [train]\nsteps = {steps}\nbatch = 2\nblock = 32\nlr = 1e-3\nweight_decay = 0.1\nseed = 3\n\
         eval_every = 2\neval_batches = 2\nfinal_eval_batches = 2\ncheckpoint_every = 2\n"
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn corpus(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("corpus.txt");
    std::fs::write(&path, "Now is the winter of our discontent. ".repeat(30)).unwrap();
    path
}

#[test]
fn trains_resumes_and_generates() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(dir.path());
    let out = dir.path().join("run");
    let out_s = out.display().to_string();
    let first = engram(&[
        "bdh",
        "train",
        &write_config(dir.path(), 4, 2, &corpus),
        "--out",
        &out_s,
        "--quiet",
        "--threads",
        "1",
    ]);
    assert!(first.status.success(), "{}", stderr(&first));
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.starts_with("step,train_loss,tokens_per_s,validation_loss"));

    let longer = write_config(dir.path(), 6, 2, &corpus);
    let again = engram(&["bdh", "train", &longer, "--out", &out_s, "--quiet"]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing checkpoint needs --resume or --force"
    );
    assert!(stderr(&again).contains("--resume"), "{}", stderr(&again));
    let resumed = engram(&[
        "bdh",
        "train",
        &longer,
        "--out",
        &out_s,
        "--quiet",
        "--resume",
        "--threads",
        "1",
    ]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let steps: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(steps, ["1", "2", "3", "4", "5", "6"]);

    let ck = out.join("checkpoint.safetensors").display().to_string();
    let generated = engram(&[
        "bdh", "generate", &ck, "--prompt", "Now ", "--tokens", "20", "--seed", "1",
    ]);
    assert!(generated.status.success(), "{}", stderr(&generated));
    let text = String::from_utf8_lossy(&generated.stdout);
    assert!(
        text.starts_with("Now ") && text.trim_end_matches('\n').len() >= 4,
        "{text}"
    );
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_s = out.display().to_string();
    let missing = write_config(dir.path(), 2, 2, &dir.path().join("no_corpus.txt"));
    let o = engram(&["bdh", "train", &missing, "--out", &out_s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no_corpus.txt"), "{}", stderr(&o));
    let not_dividing = write_config(dir.path(), 2, 3, &corpus(dir.path()));
    let o = engram(&["bdh", "train", &not_dividing, "--out", &out_s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not divide"), "{}", stderr(&o));
    assert!(!out.exists(), "bad input wrote {}", out.display());
    let corrupt = dir.path().join("corrupt.safetensors");
    std::fs::write(&corrupt, b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage").unwrap();
    let o = engram(&["bdh", "generate", &corrupt.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a valid BDH checkpoint"),
        "{}",
        stderr(&o)
    );
}
