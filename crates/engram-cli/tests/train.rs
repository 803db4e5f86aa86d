//! `engram train` and `engram eval` from the command line: a small run on generated IDX files,
//! resume, evaluation of the checkpoint, and bad input refused before training starts.

use std::path::Path;
use std::process::{Command, Output};

fn engram() -> Command {
    Command::new(env!("CARGO_BIN_EXE_engram"))
}

fn run(args: &[&str], dir: &Path) -> Output {
    engram()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("engram runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes an IDX file: magic (type 0x08 = u8, `dims.len()` dimensions), sizes, bytes.
fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut bytes = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(data);
    std::fs::write(path, bytes).expect("writable");
}

/// A 10-class dataset of 4×4 images in the MNIST file layout: class `c` lights pixel `c`.
fn write_dataset(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, count) in [("train", 200u32), ("t10k", 50)] {
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        let images: Vec<u8> = labels
            .iter()
            .flat_map(|&c| (0..16u8).map(move |p| if p == c || p == c + 6 { 255 } else { 0 }))
            .collect();
        write_idx(
            &dir.join(format!("{name}-images-idx3-ubyte")),
            &[count, 4, 4],
            &images,
        );
        write_idx(
            &dir.join(format!("{name}-labels-idx1-ubyte")),
            &[count],
            &labels,
        );
    }
}

const CONFIG: &str = r#"
seed = 1
[data]
dataset = "mnist"
dir = "data"
[encoder]
kind = "rate"
[model]
steps = 6
layers = [ { size = 32 }, { size = 10 } ]
[optimizer]
kind = "adam"
lr = 1e-2
[train]
epochs = 2
batch_size = 20
eval_batch_size = 25
"#;

#[test]
fn train_resume_and_eval_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(&dir.path().join("data"));
    std::fs::write(
        dir.path().join("small.toml"),
        CONFIG.replace("epochs = 2", "epochs = 1"),
    )
    .unwrap();
    let first = run(
        &["train", "small.toml", "--quiet", "--threads", "1"],
        dir.path(),
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let out = dir.path().join("out/small");
    for file in ["metrics.csv", "summary.json", "checkpoint.safetensors"] {
        assert!(out.join(file).is_file(), "{file} is written");
    }
    let again = run(&["train", "small.toml", "--quiet"], dir.path());
    assert_eq!(
        again.status.code(),
        Some(2),
        "a second fresh run would replace the checkpoint: {}",
        stderr(&again)
    );
    assert!(stderr(&again).contains("--resume"), "{}", stderr(&again));

    std::fs::write(dir.path().join("small.toml"), CONFIG).unwrap();
    let resumed = run(
        &[
            "train",
            "small.toml",
            "--quiet",
            "--resume",
            "--threads",
            "2",
        ],
        dir.path(),
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "a header and two epochs: {csv}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["epochs_done"], 2);
    assert_eq!(summary["seed"], 1);
    assert!(summary["engram_version"].is_string() && summary["config"]["model"]["steps"] == 6);

    let eval = run(
        &["eval", "out/small/checkpoint.safetensors", "--threads", "1"],
        dir.path(),
    );
    assert!(eval.status.success(), "{}", stderr(&eval));
    let result: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let trained = summary["final"]["test_accuracy"].as_f64().unwrap();
    assert_eq!(
        result["test_accuracy"].as_f64().unwrap(),
        trained,
        "eval repeats the run's own test evaluation"
    );
    assert!(trained > 0.5, "the toy task is learned: {trained}");
}

#[test]
fn bad_input_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let refuse = |text: &str, expect: &[&str]| {
        std::fs::write(&config, text).unwrap();
        let o = run(&["train", "c.toml", "--quiet"], dir.path());
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        for e in expect {
            assert!(stderr(&o).contains(e), "expected {e:?} in {}", stderr(&o));
        }
        assert!(!dir.path().join("out/c/checkpoint.safetensors").exists());
    };
    refuse(CONFIG, &["data", "missing dataset file"]);
    write_dataset(&dir.path().join("data"));
    refuse(
        &CONFIG.replace("kind = \"adam\"", "kind = \"rmsprop\""),
        &["c.toml:", "rmsprop"],
    );
    refuse(
        &CONFIG.replace("{ size = 32 }", "{ size = 32, type = \"conv\" }"),
        &["c.toml:", "type"],
    );
    refuse(
        &CONFIG.replace("{ size = 10 }", "{ size = 7 }"),
        &["7 neurons", "10 classes"],
    );
    let labels = dir.path().join("data/t10k-labels-idx1-ubyte");
    std::fs::write(&labels, b"\x00\x00\x09\x01garbage").unwrap();
    refuse(CONFIG, &["t10k-labels-idx1-ubyte"]);
    let images = dir.path().join("data/train-images-idx3-ubyte");
    let bytes = std::fs::read(&images).unwrap();
    std::fs::write(&images, &bytes[..bytes.len() / 2]).unwrap();
    refuse(CONFIG, &["train-images-idx3-ubyte"]);
}

#[test]
fn eval_of_a_corrupt_checkpoint_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.safetensors"),
        b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":",
    )
    .unwrap();
    let o = run(&["eval", "bad.safetensors"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bad.safetensors")
            && stderr(&o).contains("not a valid engram checkpoint"),
        "{}",
        stderr(&o)
    );
}
