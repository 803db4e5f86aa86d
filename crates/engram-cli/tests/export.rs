//! `engram export`: a network trained for one epoch on generated data, exported as `leaky`
//! model files, runs in the simulator with every layer's spikes equal, step for step, to the
//! training forward pass (shifted by the layer's delay); broken weight files are refused
//! before the run, naming file, line and field.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use candle_core::IndexOp;
use engram::network::Network;
use engram::{engine, spec};
use engram_train::checkpoint;
use engram_train::train::Batch;

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("engram runs")
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

/// A 10-class dataset of 4×4 images in the MNIST layout: class `c` lights pixels `c` and
/// `c + 6` fully and pixel `15 − c` at half intensity (so rate coding draws).
fn write_dataset(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, count) in [("train", 200u32), ("t10k", 50)] {
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        let images: Vec<u8> = labels
            .iter()
            .flat_map(|&c| {
                (0..16u8).map(move |p| match p {
                    _ if p == c || p == c + 6 => 255,
                    _ if p == 15 - c => 128,
                    _ => 0,
                })
            })
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

/// Learned β and θ (so they differ per neuron), a subtractive and a zero reset.
const CONFIG: &str = r#"
seed = 3
[data]
dataset = "mnist"
dir = "data"
[encoder]
kind = "rate"
[model]
steps = 8
layers = [
  { size = 24, beta = 0.8, learn_beta = true },
  { size = 10, beta = 0.9, reset = "zero", learn_beta = true },
]
[optimizer]
kind = "adam"
lr = 1e-2
[train]
epochs = 1
batch_size = 20
"#;

const SAMPLES: usize = 12;
/// The config's `steps`.
const STEPS: u32 = 8;

/// Trains the network, exports `SAMPLES` test samples with `--simulate`; returns the
/// temporary directory and the simulation report.
fn trained_and_exported() -> (tempfile::TempDir, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    write_dataset(&dir.path().join("data"));
    std::fs::write(dir.path().join("small.toml"), CONFIG).unwrap();
    let trained = run(
        &[
            "train",
            "small.toml",
            "--out",
            "trained",
            "--quiet",
            "--threads",
            "1",
        ],
        dir.path(),
    );
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let samples = SAMPLES.to_string();
    let exported = run(
        &[
            "export",
            "trained/checkpoint.safetensors",
            "--out",
            "exported",
            "--samples",
            &samples,
            "--simulate",
        ],
        dir.path(),
    );
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let stdout = String::from_utf8_lossy(&exported.stdout);
    let report = serde_json::from_str(&stdout[stdout.find('{').expect("a report")..])
        .expect("the report is JSON");
    (dir, report)
}

/// (step, neuron) pairs of a `[T, N]` spike tensor, each step shifted by `delay`.
fn spike_set(spikes: &candle_core::Tensor, delay: u32) -> BTreeSet<(u32, u32)> {
    let rows = spikes.to_vec2::<f32>().unwrap();
    let mut set = BTreeSet::new();
    for (t, row) in rows.iter().enumerate() {
        for (i, &s) in row.iter().enumerate() {
            assert!(s == 0.0 || s == 1.0, "spikes are 0 or 1");
            if s == 1.0 {
                set.insert((t as u32 + delay, i as u32));
            }
        }
    }
    set
}

#[test]
fn exported_network_spikes_like_the_training_forward_pass_step_for_step() {
    let (dir, report) = trained_and_exported();
    for reference in ["", "_f64_forward"] {
        let key = format!("differing_spikes_per_layer{reference}");
        assert_eq!(report[&key], serde_json::json!([0, 0]), "{report}");
    }
    assert_eq!(report["same_prediction"], 1.0, "{report}");
    assert_eq!(
        report["training_accuracy"], report["simulator_accuracy"],
        "{report}"
    );
    let saved = checkpoint::load(&dir.path().join("trained/checkpoint.safetensors")).unwrap();
    let config = saved.config.clone();
    let trainer = saved.into_trainer(config, 16).unwrap();
    let data = engram_train::data::mnist::Dataset::load(&dir.path().join("data")).unwrap();
    let batch = Batch::gather(&data.test, &(0..SAMPLES).collect::<Vec<_>>()).unwrap();
    let input = trainer.encode_test(&batch).unwrap();
    let engram_train::model::Input::Spikes(encoded) = &input else {
        panic!("rate coding gives spikes")
    };
    let layers = trainer.net.forward_layers(&input).unwrap();
    let beta = trainer.net.layers[0]
        .beta
        .as_tensor()
        .to_vec1::<f32>()
        .unwrap();
    assert!(
        beta.iter().any(|&b| b != beta[0]),
        "learned β differs between neurons: {beta:?}"
    );

    let mut layer_spikes = [0usize; 2];
    for b in 0..SAMPLES {
        let path = dir.path().join(format!("exported/sample_{b}.toml"));
        // One thread, and three shards so that per-neuron constants are split into blocks.
        for threads in [1, 3] {
            let mut model = spec::load(&path).unwrap_or_else(|e| panic!("{e}"));
            model.run.threads = threads;
            let mut net = Network::build(model).unwrap();
            let result = engine::run(&mut net, None);
            let recorded = |group: usize| -> BTreeSet<(u32, u32)> {
                let r = &result.spikes[group];
                r.steps.iter().copied().zip(r.ids.iter().copied()).collect()
            };
            // Groups: layer0, layer1, then the sources input and bias. Layer k's training
            // steps are its steps k + 1 ..= T + k.
            assert_eq!(
                recorded(2),
                spike_set(&encoded.i((.., b, ..)).unwrap(), 0),
                "sample {b}: input"
            );
            for (k, layer) in layers.iter().enumerate() {
                let expected = spike_set(&layer.i((.., b, ..)).unwrap(), k as u32 + 1);
                let window: BTreeSet<(u32, u32)> = recorded(k)
                    .into_iter()
                    .filter(|&(step, _)| step <= STEPS + k as u32)
                    .collect();
                assert_eq!(window, expected, "sample {b}, layer {k}, {threads} threads");
                layer_spikes[k] += expected.len();
            }
        }
    }
    assert!(
        layer_spikes.iter().all(|&n| n > 20),
        "both layers spike: {layer_spikes:?}"
    );
    let training_spikes: Vec<usize> = layer_spikes.iter().map(|n| n / 2).collect();
    assert_eq!(
        report["training_spikes_per_layer"],
        serde_json::json!(training_spikes),
        "{report}"
    );
}

#[test]
fn broken_weight_files_are_refused_naming_file_line_and_field() {
    let (dir, _) = trained_and_exported();
    let exported = dir.path().join("exported");
    let check = |what: &str| {
        let o = run(&["check", "exported/sample_0.toml"], dir.path());
        assert_eq!(
            o.status.code(),
            Some(2),
            "{what}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let model = std::fs::read_to_string(exported.join("sample_0.toml")).unwrap();
    let line_of = |needle: &str| model.lines().position(|l| l.contains(needle)).unwrap() + 1;

    std::fs::rename(
        exported.join("layer1_weight.npy"),
        exported.join("kept.npy"),
    )
    .unwrap();
    let err = check("missing weight file");
    let at = format!("sample_0.toml:{}:", line_of("\"layer1_weight.npy"));
    assert!(
        err.contains(&at)
            && err.contains("projections[2].weight.file")
            && err.contains("cannot read"),
        "{err}"
    );

    std::fs::copy(
        exported.join("layer0_weight.npy"),
        exported.join("layer1_weight.npy"),
    )
    .unwrap();
    let err = check("wrong shape");
    assert!(
        err.contains(&at) && err.contains("shape [16, 24], expected [24, 10]"),
        "{err}"
    );
    std::fs::rename(
        exported.join("kept.npy"),
        exported.join("layer1_weight.npy"),
    )
    .unwrap();

    std::fs::rename(exported.join("layer1_beta.npy"), exported.join("kept.npy")).unwrap();
    std::fs::copy(
        exported.join("layer0_beta.npy"),
        exported.join("layer1_beta.npy"),
    )
    .unwrap();
    let err = check("per-neuron values of the wrong length");
    assert!(
        err.contains("populations[1].params.beta.file")
            && err.contains("shape [24], expected [10]"),
        "{err}"
    );
    let mut beta = ndarray::Array1::from_elem(10, 0.5f32);
    beta[7] = 1.5;
    ndarray_npy::write_npy(exported.join("layer1_beta.npy"), &beta).unwrap();
    let err = check("beta outside [0, 1]");
    assert!(
        err.contains("populations[1].params.beta")
            && err.contains("must lie in [0, 1], got 1.5 (neuron 7)"),
        "{err}"
    );
    std::fs::rename(exported.join("kept.npy"), exported.join("layer1_beta.npy")).unwrap();

    std::fs::write(
        exported.join("bad.toml"),
        model.replace(
            "synapse = \"delta\"",
            "synapse = { model = \"exp_current\", tau = \"5 ms\" }",
        ),
    )
    .unwrap();
    let o = run(&["check", "exported/bad.toml"], dir.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(2)
            && err.contains("projections[0].synapse")
            && err.contains("must be \"delta\""),
        "{err}"
    );
}
