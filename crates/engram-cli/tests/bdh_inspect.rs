//! `engram bdh inspect sparsity|export|probe` end to end on a tiny model at initialisation (a
//! training file as the model): reports, files, the same figures at any thread count, and bad
//! input (exit code 2, nothing written).

use std::path::{Path, PathBuf};
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

/// A corpus of lines of 30–120 bytes, a third of them naming a king, and a training file for
/// a 3-layer, D 16 model on it.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let corpus = dir.join("corpus.txt");
    let mut text = String::new();
    for i in 0..60 {
        text += &match i % 3 {
            0 => format!("The king rides out at dawn with {i} men behind him.\n"),
            1 => format!("Rain falls on the fields of {i} farmers in the valley.\n"),
            _ => format!("A letter came from the city, number {i}, sealed in wax.\n"),
        };
    }
    std::fs::write(&corpus, text).unwrap();
    let config = dir.join("tiny.toml");
    std::fs::write(
        &config,
        format!(
            "[model]\nn_layer = 3\nn_embd = 16\nn_head = 2\nmult = 4\ndropout = 0.1\n\
             [data]\ncorpus = {corpus:?}\n\
             [train]\nsteps = 2\nbatch = 2\nblock = 32\nlr = 1e-3\nweight_decay = 0.1\nseed = 3\n\
             eval_every = 2\neval_batches = 2\nfinal_eval_batches = 2\ncheckpoint_every = 2\n"
        ),
    )
    .unwrap();
    (config, corpus)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn sparsity_reports_every_layer_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = setup(dir.path());
    let config = config.display().to_string();
    let mut reports = Vec::new();
    for threads in ["1", "3"] {
        let out = dir.path().join(format!("sparsity{threads}.json"));
        let o = engram(&[
            "bdh",
            "inspect",
            "sparsity",
            &config,
            "--batches",
            "2",
            "--threads",
            threads,
            "--out",
            &out.display().to_string(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        reports.push(json(&out));
    }
    let r = &reports[0];
    assert_eq!(r["tokens"], 2 * 2 * 32);
    assert_eq!(r["source"]["steps_done"], 0);
    let layers = r["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    for l in layers {
        let g = l["g"]["frac_nonzero"].as_f64().unwrap();
        let x = l["x"]["frac_nonzero"].as_f64().unwrap();
        assert!(g > 0.0 && g < x && x < 1.0, "{l}");
    }
    assert_eq!(r["layers"], reports[1]["layers"]);
}

#[test]
fn export_writes_the_state_sigma_and_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = setup(dir.path());
    let text = dir.path().join("text.txt");
    std::fs::write(&text, "Now is the winter of our discontent").unwrap();
    let out = dir.path().join("export");
    let o = engram(&[
        "bdh",
        "inspect",
        "export",
        &config.display().to_string(),
        "--text",
        &text.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--layers",
        "2,3",
        "--top-k",
        "3",
        "--parameter-graph",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let state: ndarray::ArrayD<f32> = ndarray_npy::read_npy(out.join("state.npy")).unwrap();
    assert_eq!(state.shape(), &[3, 2, 32, 16]);
    let csv = std::fs::read_to_string(out.join("sigma_edges.csv")).unwrap();
    assert!(csv.starts_with("layer,pre,post,weight\n"));
    assert!(csv.lines().any(|l| l.starts_with("3,")));
    let graph = std::fs::read_to_string(out.join("parameter_graph_edges.csv")).unwrap();
    // 3 edges for each of 32 rows of 2 heads, for G_x and G_y.
    assert_eq!(graph.lines().count(), 1 + 2 * 2 * 32 * 3);
    let manifest = json(&out.join("manifest.json"));
    assert_eq!(manifest["tokens"], 35);
    assert_eq!(manifest["source"]["text"]["bytes"], 35);
    assert_eq!(
        manifest["source"]["model_file"],
        config.display().to_string()
    );
    let tails = manifest["parameter_graph_tails"].as_array().unwrap();
    assert_eq!(tails.len(), 2 * 2, "G_x and G_y, 2 heads");
    assert!(tails.iter().all(|t| t["std"].as_f64().unwrap() > 0.0));
}

#[test]
fn probe_reports_each_concept_layer_and_its_shuffled_control() {
    let dir = tempfile::tempdir().unwrap();
    let (config, corpus) = setup(dir.path());
    let out = dir.path().join("probe.json");
    let o = engram(&[
        "bdh",
        "inspect",
        "probe",
        &config.display().to_string(),
        "--corpus",
        &corpus.display().to_string(),
        "--concept",
        "royalty=king,queen",
        "--per-class",
        "12",
        "--out",
        &out.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = json(&out);
    assert_eq!(report["candidate_lines"], 60);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "layers 2 and 3");
    for r in results {
        for part in ["concept_vs_contrast", "shuffled_labels"] {
            let s = &r[part];
            assert_eq!(s["n_test"], serde_json::json!([6, 6]));
            assert_eq!(s["test"]["u_max"], 36.0);
            let [pre, post] = [0, 1].map(|k| s["synapse_pre_post"][k].as_u64().unwrap());
            assert!(pre < 64 && post < 64);
        }
    }
}

#[test]
fn bad_input_is_refused_with_exit_code_2_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let (config, corpus) = setup(dir.path());
    let config = config.display().to_string();
    let out = dir.path().join("out");
    let out_s = out.display().to_string();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let corrupt = dir.path().join("bad.safetensors");
    std::fs::write(&corrupt, "not a checkpoint").unwrap();
    let (corrupt, empty) = (corrupt.display().to_string(), empty.display().to_string());
    let corpus = corpus.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "export",
                "missing.safetensors",
                "--text",
                &corpus,
                "--out",
                &out_s,
            ],
            "missing.safetensors",
        ),
        (
            vec!["sparsity", &corrupt, "--out", &out_s],
            "not a valid BDH checkpoint",
        ),
        (
            vec!["export", &config, "--text", &empty, "--out", &out_s],
            "the text is empty",
        ),
        (
            vec![
                "export", &config, "--text", &corpus, "--out", &out_s, "--layers", "4",
            ],
            "layer 4 is out of range",
        ),
        (
            vec!["probe", &config, "--layers", "1", "--out", &out_s],
            "layer 1 is out of range",
        ),
        (
            vec!["probe", &config, "--concept", "royalty", "--out", &out_s],
            "expected NAME=WORD",
        ),
        (
            vec!["probe", &config, "--per-class", "50", "--out", &out_s],
            "fewer than the 50 per class",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["bdh", "inspect"];
        all.extend(&args);
        let o = engram(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert!(!out.exists(), "{args:?} wrote {out_s}");
    }
}
