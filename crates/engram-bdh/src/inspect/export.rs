//! Export of a text's synaptic state and neuron graph (`shared/specs/bdh.md` §2.4, §6).
//!
//! After reading the text from an empty state with the recurrent form, the directory gets
//!
//! - `state.npy`: `S` of every layer and head, f32 `[L, H, N, D]`, `S_{l,h} = Σ_t R_t x_{t,l,h}ᵀ
//!   v_t^{l−1}` (the state generation would continue from);
//! - `sigma_edges.csv` (`layer,pre,post,weight`): for every σ layer `l` asked for and every
//!   pre-synaptic neuron of layer `l − 1`, its `k` strongest synapses onto layer `l` in
//!   [`σ_l`](super::sigma) (neurons `h·N + k`, weights `≥ 0`);
//! - `sigma_layer{l}.npy` (on request): σ_l dense, f32 `[n, n]`;
//! - `parameter_graph_edges.csv` (on request; `graph,head,row,column,weight`): the `k` largest
//!   entries of every row of every head block of `G_x = D_x E` and `G_y = D_y E`
//!   ([`super::graph`]);
//! - `manifest.json`: the checkpoint, the text (path, bytes, CRC-32), the engram version, the
//!   options, the files and (with the parameter graph) each head block's mean, standard
//!   deviation and skewness, written last.
//!
//! Every file is written atomically (a temporary file in the directory, then a rename), so an
//! interrupted export leaves no partial file behind.

use std::path::{Path, PathBuf};

use ndarray::{ArrayViewD, IxDyn};
use ndarray_npy::WriteNpyExt;
use serde::Serialize;

use super::graph::{self, Side};
use super::{probe, sigma, trace};
use crate::BdhError;
use crate::config::BdhConfig;
use crate::model::Params;
use crate::recurrent::Recurrent;

/// Where a measurement's model and text came from.
#[derive(Clone, Debug, Serialize)]
pub struct Source {
    pub engram_version: &'static str,
    /// The checkpoint, or the training file whose initial weights were used.
    pub model_file: String,
    /// CRC-32 (IEEE) of that file, hexadecimal.
    pub model_file_crc32: String,
    /// Training steps behind the weights (0: initialisation).
    pub steps_done: u64,
    pub model: BdhConfig,
    pub text: Option<TextSource>,
}

/// A text file read.
#[derive(Clone, Debug, Serialize)]
pub struct TextSource {
    pub path: String,
    pub bytes: usize,
    /// CRC-32 (IEEE) of the bytes, hexadecimal.
    pub crc32: String,
}

/// The CRC-32 (IEEE) of `bytes`, as 8 hexadecimal digits.
pub fn crc32(bytes: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(bytes))
}

/// Reads a text file, refusing an empty one.
pub fn read_text(path: &Path) -> Result<(Vec<u8>, TextSource), BdhError> {
    let bytes = std::fs::read(path).map_err(|source| BdhError::Io {
        path: path.into(),
        source,
    })?;
    if bytes.is_empty() {
        return Err(BdhError::Data {
            path: path.into(),
            message: "the text is empty".into(),
        });
    }
    let source = TextSource {
        path: path.display().to_string(),
        bytes: bytes.len(),
        crc32: crc32(&bytes),
    };
    Ok((bytes, source))
}

/// Writes `bytes` to `path` atomically.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BdhError> {
    engram_train::checkpoint::write_atomically(path, bytes).map_err(|source| BdhError::Io {
        path: path.into(),
        source,
    })
}

/// `data` as the bytes of an f32 `.npy` file of `shape` (C order).
pub fn npy_bytes(shape: &[usize], data: &[f32]) -> Result<Vec<u8>, BdhError> {
    let array = ArrayViewD::from_shape(IxDyn(shape), data)
        .map_err(|e| BdhError::Config(format!("array of shape {shape:?}: {e}")))?;
    let mut bytes = Vec::new();
    array
        .write_npy(&mut bytes)
        .map_err(|e| BdhError::Config(format!("array of shape {shape:?}: {e}")))?;
    Ok(bytes)
}

/// What to export besides the state.
#[derive(Clone, Debug, Serialize)]
pub struct Options {
    /// σ layers (from 1, each in `2..=L`).
    pub layers: Vec<usize>,
    /// Edges kept per neuron.
    pub top_k: usize,
    /// Also write each σ_l dense.
    pub dense_sigma: bool,
    /// Also write the parameter graph's edges.
    pub parameter_graph: bool,
}

/// One file written, for the manifest.
#[derive(Serialize)]
struct FileEntry {
    name: String,
    content: String,
}

/// The files written so far into a directory.
struct Written<'a> {
    dir: &'a Path,
    files: Vec<FileEntry>,
}

impl Written<'_> {
    /// Writes `bytes` to the file `name` atomically and records it with a description.
    fn file(&mut self, name: String, content: String, bytes: &[u8]) -> Result<(), BdhError> {
        write_file(&self.dir.join(&name), bytes)?;
        self.files.push(FileEntry { name, content });
        Ok(())
    }
}

/// A head block's tails, for the manifest.
#[derive(Serialize)]
struct BlockTails {
    graph: &'static str,
    head: usize,
    #[serde(flatten)]
    tails: graph::Tails,
}

/// Reads `text` and writes the files of the module header into `out`; returns their paths
/// (the manifest last).
pub fn export(
    out: &Path,
    recurrent: &Recurrent,
    params: &Params,
    text: &[u8],
    options: &Options,
    source: &Source,
) -> Result<Vec<PathBuf>, BdhError> {
    let config = recurrent.config().clone();
    probe::check_layers(&options.layers, config.n_layer)?;
    if options.dense_sigma {
        sigma::check_dense(config.neurons(), "--dense-sigma")?;
    }
    if options.top_k == 0 || text.is_empty() {
        return Err(BdhError::Config(
            "the export needs a non-empty text and --top-k of at least 1".into(),
        ));
    }
    let (h, n, d) = (config.n_head, config.neurons_per_head(), config.n_embd);
    let (trace, state) = trace::read(recurrent, text);
    let mut written = Written {
        dir: out,
        files: Vec::new(),
    };
    let shape = [config.n_layer, h, n, d];
    written.file(
        "state.npy".into(),
        format!("synaptic state S, f32 [L, H, N, D] = {shape:?}"),
        &npy_bytes(&shape, &state.synapses)?,
    )?;
    let mut csv = String::from("layer,pre,post,weight\n");
    for &l in &options.layers {
        let (g, x) = (&trace.g[l - 2], &trace.x[l - 1]);
        for e in sigma::top_edges(g, x, options.top_k) {
            csv += &format!("{l},{},{},{}\n", e.pre, e.post, e.weight);
        }
        if options.dense_sigma {
            let dense: Vec<f32> = sigma::dense(g, x).iter().map(|&v| v as f32).collect();
            written.file(
                format!("sigma_layer{l}.npy"),
                format!(
                    "sigma_{l} = (1/T) sum_t g_(t,{}) outer x_(t,{l}), f32 [n, n]",
                    l - 1
                ),
                &npy_bytes(&[h * n, h * n], &dense)?,
            )?;
        }
    }
    written.file(
        "sigma_edges.csv".into(),
        format!(
            "the {} strongest synapses of sigma_l per pre-synaptic neuron",
            options.top_k
        ),
        csv.as_bytes(),
    )?;
    let mut graph_tails = Vec::new();
    if options.parameter_graph {
        let mut csv = String::from("graph,head,row,column,weight\n");
        for side in [Side::X, Side::Y] {
            for head in 0..h {
                let block = graph::block(&config, params, side, head)?;
                graph_tails.push(BlockTails {
                    graph: side.name(),
                    head,
                    tails: graph::tails(&block),
                });
                for e in graph::top_edges(&block, n, head, options.top_k) {
                    csv += &format!(
                        "{},{},{},{},{}\n",
                        side.name(),
                        e.head,
                        e.row,
                        e.column,
                        e.weight
                    );
                }
            }
        }
        written.file(
            "parameter_graph_edges.csv".into(),
            format!(
                "the {} largest entries of every row of each head block of G_x = D_x E and G_y = D_y E (row, column within the head)",
                options.top_k
            ),
            csv.as_bytes(),
        )?;
    }
    let manifest = serde_json::json!({
        "tool": "engram bdh inspect export",
        "source": source,
        "tokens": trace.tokens(),
        "options": options,
        "parameter_graph_tails": graph_tails,
        "files": written.files,
    });
    let path = out.join("manifest.json");
    write_file(
        &path,
        serde_json::to_string_pretty(&manifest)
            .expect("the manifest serialises")
            .as_bytes(),
    )?;
    let mut paths: Vec<PathBuf> = written.files.iter().map(|f| out.join(&f.name)).collect();
    paths.push(path);
    Ok(paths)
}
