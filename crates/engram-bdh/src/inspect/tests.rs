//! The tools on random-weight models: the exported state against its definition, the
//! initial sparsity against the reference's figures, the export's files and bad input.

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::export::{self, Options, Source};
use super::{sigma, sparsity, trace};
use crate::config::{BdhConfig, VOCAB};
use crate::model::{self, Params};
use crate::recurrent::Recurrent;
use crate::rope::RopeTable;

fn tiny() -> (BdhConfig, Params) {
    let config = BdhConfig {
        n_layer: 3,
        n_embd: 8,
        n_head: 2,
        mult: 4,
        dropout: 0.1,
    };
    let params = Params::init(&config, &mut Xoshiro256PlusPlus::seed_from_u64(3), 0.3).unwrap();
    (config, params)
}

fn flat(v: &candle_core::Var) -> Vec<f32> {
    v.as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

fn layer_norm(z: &[f32]) -> Vec<f32> {
    let n = z.len() as f32;
    let mean = z.iter().sum::<f32>() / n;
    let var = z.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n;
    z.iter()
        .map(|x| (x - mean) / (var + model::LN_EPS as f32).sqrt())
        .collect()
}

#[test]
fn the_exported_state_is_the_sum_of_rotated_outer_products() {
    let (config, params) = tiny();
    let (l_count, h, n, d) = (3, 2, 16, 8);
    let recurrent = Recurrent::new(&config, &params).unwrap();
    let text = b"Now is the winter of our discontent";
    // The inputs v and activities x that each layer and head saw, token by token.
    let mut seen: Vec<Vec<(Vec<f32>, Vec<f32>)>> = vec![Vec::new(); l_count * h];
    let mut state = recurrent.state();
    let mut logits = vec![0.0; VOCAB];
    for &b in text {
        recurrent.step_observed(&mut state, b, &mut logits, |a| {
            seen[a.layer * h + a.head].push((a.input.to_vec(), a.x.to_vec()));
        });
    }
    // Layer 1 from the weights alone: v = LN(embed[b]), x = ReLU(v · encoder[h]).
    let (embed, encoder) = (flat(&params.embed), flat(&params.encoder));
    for (head, tokens) in seen[..h].iter().enumerate() {
        for (&b, (v, x)) in text.iter().zip(tokens) {
            let b = usize::from(b);
            let v0 = layer_norm(&embed[b * d..(b + 1) * d]);
            assert!(v.iter().zip(&v0).all(|(a, b)| (a - b).abs() < 1e-6));
            for (k, &xk) in x.iter().enumerate() {
                let direct: f32 = (0..d)
                    .map(|e| v0[e] * encoder[head * d * n + e * n + k])
                    .sum();
                assert!((xk - direct.max(0.0)).abs() < 1e-5);
            }
        }
    }
    // S_{l,h} = Σ_t R_t x_t ⊗ v_t, compared through the exported file.
    let table = RopeTable::new(text.len(), n);
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        layers: vec![2, 3],
        top_k: 4,
        dense_sigma: true,
        parameter_graph: true,
    };
    let source = Source {
        engram_version: env!("CARGO_PKG_VERSION"),
        model_file: "random".into(),
        model_file_crc32: String::new(),
        steps_done: 0,
        model: config.clone(),
        text: None,
    };
    export::export(dir.path(), &recurrent, &params, text, &options, &source).unwrap();
    let file: ndarray::ArrayD<f32> = ndarray_npy::read_npy(dir.path().join("state.npy")).unwrap();
    assert_eq!(file.shape(), &[l_count, h, n, d]);
    assert_eq!(file.as_slice().unwrap(), state.synapses.as_slice());
    let mut largest = 0.0f32;
    for (block, tokens) in seen.iter().enumerate() {
        let mut direct = vec![0.0f64; n * d];
        for (t, (v, x)) in tokens.iter().enumerate() {
            let (cos, sin) = table.at(t);
            for k in 0..n {
                let pair = k ^ 1;
                let sign = if k % 2 == 0 { -1.0 } else { 1.0 };
                let xr = x[k] * cos[k] + sign * x[pair] * sin[k];
                for e in 0..d {
                    direct[k * d + e] += f64::from(xr) * f64::from(v[e]);
                }
            }
        }
        let exported = &file.as_slice().unwrap()[block * n * d..(block + 1) * n * d];
        for (a, b) in exported.iter().zip(&direct) {
            largest = largest.max(a.abs());
            assert!(
                (f64::from(*a) - b).abs() < 1e-4,
                "block {block}: {a} vs {b}"
            );
        }
    }
    assert!(largest > 1.0, "state too small to test: {largest}");
}

#[test]
fn the_export_writes_sigma_and_a_manifest() {
    let (config, params) = tiny();
    let recurrent = Recurrent::new(&config, &params).unwrap();
    let text = b"To be, or not to be, that is the question";
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        layers: vec![3],
        top_k: 2,
        dense_sigma: true,
        parameter_graph: true,
    };
    let source = Source {
        engram_version: env!("CARGO_PKG_VERSION"),
        model_file: "random".into(),
        model_file_crc32: String::new(),
        steps_done: 0,
        model: config.clone(),
        text: None,
    };
    let files = export::export(dir.path(), &recurrent, &params, text, &options, &source).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "state.npy",
            "sigma_layer3.npy",
            "sigma_edges.csv",
            "parameter_graph_edges.csv",
            "manifest.json"
        ]
    );
    let (trace, _) = trace::read(&recurrent, text);
    let expected = sigma::dense(&trace.g[1], &trace.x[2]);
    let dense: ndarray::ArrayD<f32> =
        ndarray_npy::read_npy(dir.path().join("sigma_layer3.npy")).unwrap();
    assert_eq!(dense.shape(), &[32, 32]);
    for (a, b) in dense.iter().zip(&expected) {
        assert_eq!(*a, *b as f32);
    }
    let csv = std::fs::read_to_string(dir.path().join("sigma_edges.csv")).unwrap();
    let first = csv.lines().nth(1).unwrap();
    let fields: Vec<&str> = first.split(',').collect();
    let (pre, post): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let weight: f64 = fields[3].parse().unwrap();
    assert_eq!(fields[0], "3");
    assert_eq!(weight, expected[pre * 32 + post]);
    let row = &expected[pre * 32..(pre + 1) * 32];
    assert_eq!(weight, row.iter().copied().fold(0.0, f64::max));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["tokens"], text.len());
    assert_eq!(manifest["source"]["model"]["n_layer"], 3);
    assert_eq!(manifest["files"].as_array().unwrap().len(), 4);
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 5, "temporary files left behind");
}

#[test]
fn bad_export_input_is_refused_before_writing() {
    let (config, params) = tiny();
    let recurrent = Recurrent::new(&config, &params).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = Source {
        engram_version: env!("CARGO_PKG_VERSION"),
        model_file: "random".into(),
        model_file_crc32: String::new(),
        steps_done: 0,
        model: config.clone(),
        text: None,
    };
    let mut options = Options {
        layers: vec![4],
        top_k: 2,
        dense_sigma: false,
        parameter_graph: false,
    };
    let e = export::export(dir.path(), &recurrent, &params, b"abc", &options, &source)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("layer 4 is out of range") && e.contains("2..=3"),
        "{e}"
    );
    options.layers = vec![2];
    let e = export::export(dir.path(), &recurrent, &params, b"", &options, &source)
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-empty text"), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let e = export::read_text(&empty).unwrap_err().to_string();
    assert!(
        e.contains("empty.txt") && e.contains("the text is empty"),
        "{e}"
    );
    let e = export::read_text(&dir.path().join("none.txt"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("none.txt"), "{e}");
}

#[test]
fn initial_sparsity_matches_the_reference_figures() {
    // Spec §8.6, anchor config at initialisation: x 0.50–0.51, y 0.49–0.51, g 0.25–0.26.
    let config = BdhConfig::small();
    let params = Params::init(
        &config,
        &mut Xoshiro256PlusPlus::seed_from_u64(1),
        model::INIT_STD,
    )
    .unwrap();
    let recurrent = Recurrent::new(&config, &params).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    let windows: Vec<Vec<u8>> = (0..2)
        .map(|_| (0..96).map(|_| rng.random_range(b' '..=b'z')).collect())
        .collect();
    let slices: Vec<&[u8]> = windows.iter().map(Vec::as_slice).collect();
    let counts = sparsity::measure(&recurrent, &slices);
    assert_eq!(counts.tokens(), 192);
    for layer in counts.report() {
        let (x, y, g) = (
            layer.x.frac_nonzero,
            layer.y.frac_nonzero,
            layer.g.frac_nonzero,
        );
        eprintln!("layer {}: x {x:.3} y {y:.3} g {g:.3}", layer.layer);
        assert!((0.47..0.53).contains(&x), "layer {}: x {x}", layer.layer);
        assert!((0.47..0.53).contains(&y), "layer {}: y {y}", layer.layer);
        assert!((0.23..0.27).contains(&g), "layer {}: g {g}", layer.layer);
    }
}

#[test]
fn sparsity_counts_agree_with_the_trace() {
    let (config, params) = tiny();
    let recurrent = Recurrent::new(&config, &params).unwrap();
    let text = b"Friends, Romans, countrymen, lend me your ears";
    let report = sparsity::measure(&recurrent, &[text]).report();
    let (trace, _) = trace::read(&recurrent, text);
    for (l, layer) in report.iter().enumerate() {
        for (rows, measured) in [(&trace.x[l], &layer.x), (&trace.g[l], &layer.g)] {
            let nonzero: usize = (0..rows.rows()).map(|t| rows.row(t).0.len()).sum();
            let fraction = nonzero as f64 / (rows.rows() * rows.width) as f64;
            assert!(fraction > 0.0 && fraction < 1.0);
            assert_eq!(measured.frac_nonzero, fraction);
        }
    }
}
