//! `engram lsm`: a small run writes results.json (accuracy, branching factor, config, seed,
//! version) and nothing else; a bad file exits with status 2 naming file:line:field and
//! writes nothing.

use std::path::Path;
use std::process::{Command, Output};

use tempfile::TempDir;

fn engram(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engram"))
        .args(args)
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

/// A 10-class dataset of 6x6 images in the MNIST layout: class c lights pixels c and c + 20.
fn write_dataset(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, count) in [("train", 120u32), ("t10k", 40)] {
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        let images: Vec<u8> = labels
            .iter()
            .flat_map(|&c| (0..36u8).map(move |p| if p == c || p == c + 20 { 255 } else { 0 }))
            .collect();
        write_idx(
            &dir.join(format!("{name}-images-idx3-ubyte")),
            &[count, 6, 6],
            &images,
        );
        write_idx(
            &dir.join(format!("{name}-labels-idx1-ubyte")),
            &[count],
            &labels,
        );
    }
}

const CONFIG: &str = "seed = 2\n[data]\ndir = \"data\"\ntrain = 100\nvalid = 20\ntest = 40\n[liquid]\nneurons = 64\n\
    [organise]\nastrocyte = true\nsamples = 30\n[readout]\nkind = \"ridge\"\nms = 80\n[branching]\nsamples = 5\n";

#[test]
fn a_small_run_writes_its_results_atomically() {
    let dir = TempDir::new().unwrap();
    write_dataset(&dir.path().join("data"));
    let config = dir.path().join("small.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let out = dir.path().join("out");
    let o = engram(&[
        "lsm",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--threads",
        "2",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["results.json"], "no temporary file left behind");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["seed"], 2);
    assert_eq!(json["engram_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["config"]["liquid"]["neurons"], 64);
    let r = &json["results"];
    let accuracy = r["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy));
    assert!(r["branching_factor"].as_f64().unwrap() > 0.0);
    assert_eq!(r["organisation"]["samples"], 30);
    assert_eq!(json["seed_source"], "config");
}

#[test]
fn the_three_factor_readout_runs_and_seed_overrides_the_file() {
    let dir = TempDir::new().unwrap();
    write_dataset(&dir.path().join("data"));
    let config = dir.path().join("online.toml");
    let text = CONFIG.replace(
        "kind = \"ridge\"",
        "kind = \"three_factor\"\nepochs = 5\nlearning_rate = 0.5",
    );
    std::fs::write(&config, text).unwrap();
    let run = |seed: &str| {
        let out = dir.path().join(format!("out{seed}"));
        let o = engram(&[
            "lsm",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--seed",
            seed,
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(out.join("results.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let (a, b) = (run("9"), run("10"));
    for (json, seed) in [(&a, 9), (&b, 10)] {
        assert_eq!(json["seed"], seed);
        assert_eq!(json["config"]["seed"], seed);
        assert_eq!(json["seed_source"], "--seed");
        assert_eq!(json["config"]["readout"]["kind"], "three_factor");
        let best = json["results"]["best_epoch"].as_u64().unwrap();
        assert!((1..=5).contains(&best), "{json}");
    }
    // Another seed, another liquid and other input draws.
    let results = |json: &serde_json::Value| {
        let mut r = json["results"].clone();
        r.as_object_mut().unwrap().remove("seconds");
        r
    };
    assert_ne!(results(&a), results(&b));
}

#[test]
fn bad_files_exit_2_naming_file_line_and_field_and_write_nothing() {
    let dir = TempDir::new().unwrap();
    write_dataset(&dir.path().join("data"));
    let out = dir.path().join("out");
    for (bad, line, field) in [
        (
            CONFIG.replace("neurons = 64", "neurons = 65"),
            8,
            "liquid.neurons",
        ),
        (
            CONFIG.replace("kind = \"ridge\"", "kind = \"knn\""),
            13,
            "readout.kind",
        ),
        (CONFIG.replace("ms = 80", "ms = 0"), 14, "readout.ms"),
        (CONFIG.replace("test = 40", "test = 10001"), 6, "data.test"),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, &bad).unwrap();
        let o = engram(&[
            "lsm",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("bad.toml:{line}: {field}:")), "{err}");
        assert!(!out.exists());
    }
    let config = dir.path().join("nodata.toml");
    std::fs::write(
        &config,
        CONFIG.replace("dir = \"data\"", "dir = \"missing\""),
    )
    .unwrap();
    let o = engram(&[
        "lsm",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));
    assert!(!out.exists());
}
