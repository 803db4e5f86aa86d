//! `engram export`: a network trained by engram-train, as simulator model files that run it on
//! test images, so that a trained network can be run in the simulator.
//!
//! Each LIF layer `k` becomes a `leaky` population `layer<k>` with its trained per-neuron `β`
//! (clamped to [0, 1] as the forward pass clamps it) and `θ`, and each projection an
//! all-to-all delta projection whose weights are the `[inputs, size]` matrix of the checkpoint
//! (`layer<k>_{weight,beta,threshold}.npy`, f32 as trained). One training step is one
//! simulator step (dt = 1 ms, a unit the dynamics do not use).
//!
//! The bias reaches layer `k` through a one-neuron source `bias` that fires at steps
//! `0..T` and an all-to-all projection with the `[1, size]` weights `layer<k>_bias.npy` and
//! the layer's delay, not as the population's `bias` parameter: that parameter drives the
//! neurons from step 0, `k + 1` steps before the layer's first input arrives, where the
//! training starts every layer with its first input.
//!
//! One model file per test sample (`sample_<id>.toml`, `id` the sample's index in the test
//! split), whose `spike_times` source `input` holds the sample's spikes encoded exactly as
//! `engram eval` encodes them (same encoder, the checkpoint's seed, the sample's id): separate
//! runs start every membrane at 0 as the training does, which a gap between samples in one
//! run would not (a bias keeps the membrane away from 0 for ever). `samples.csv` lists each
//! sample's label and the class the training forward pass predicts.
//!
//! With `--simulate`, each exported file is then run in the simulator and compared with the
//! training forward pass: spikes of every layer that differ (in its training window) from the
//! forward pass as trained (f32) and from the same kernels on the same parameters widened to
//! f64 (the simulator's precision), and the accuracy of both on the exported samples (the
//! class with most output spikes, ties broken as the training's `argmax` breaks them).
//!
//! Timing: the input spike of training step `t` is at simulator step `t`, and every
//! projection takes one step (the simulator's minimum delay), so layer `k`'s spike of training
//! step `t` is at simulator step `t + k + 1`; a run lasts `T + L` steps for `L` layers, and
//! spikes of layer `k` after step `T + k` (from the membrane left over when input and bias
//! stop) have no training counterpart.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use candle_core::{DType, IndexOp, Tensor};
use engram_train::checkpoint;
use engram_train::lif::{LifOutput, LifRule, Reset, lif_dense};
use engram_train::model::Input;
use engram_train::model::SpikingNet;
use engram_train::train::Batch;
use ndarray::Array1;

use crate::train::{TrainError, exit_code, features, load_data};

pub struct ExportArgs {
    pub checkpoint: PathBuf,
    pub out: Option<PathBuf>,
    pub samples: usize,
    pub data: Option<PathBuf>,
    pub simulate: bool,
}

pub fn export(args: ExportArgs) -> ExitCode {
    exit_code(run_export(args))
}

fn run_export(args: ExportArgs) -> Result<(), TrainError> {
    let saved = checkpoint::load(&args.checkpoint)?;
    let mut config = saved.config.clone();
    if let Some(dir) = args.data {
        config.data.dir = dir;
    }
    let data = load_data(&config)?;
    let trainer = saved.into_trainer(config, features(&data))?;
    if let Some(k) = trainer.net.layers.iter().position(|l| !l.is_lif()) {
        return Err(TrainError::Usage(format!(
            "layer {k} is not a LIF layer: only LIF layers have a simulator model (`leaky`)"
        )));
    }
    let samples = args.samples.min(data.test.count);
    if samples == 0 {
        return Err(TrainError::Usage("--samples must be at least 1".into()));
    }
    let out = args
        .out
        .unwrap_or_else(|| args.checkpoint.with_file_name("export"));
    std::fs::create_dir_all(&out).map_err(|source| TrainError::Output {
        path: out.clone(),
        source,
    })?;

    let batch = Batch::gather(&data.test, &(0..samples).collect::<Vec<_>>())?;
    let input = trainer.encode_test(&batch)?;
    let Input::Spikes(spikes) = &input else {
        return Err(TrainError::Usage(
            "the direct encoder feeds a current, not spikes: only spike encoders can drive a simulator source".into(),
        ));
    };
    let spikes = spikes.to_dtype(DType::F32)?;
    let last = trainer.net.forward(&input)?;
    let predictions = trainer
        .config
        .loss
        .scores(&last)?
        .argmax(1)?
        .to_vec1::<u32>()?;
    let labels = batch.labels.to_vec1::<u32>()?;

    for (k, layer) in trainer.net.layers.iter().enumerate() {
        let (beta, threshold) = layer.beta_and_threshold()?;
        write_npy(
            &out,
            &format!("layer{k}_weight.npy"),
            layer.weight.as_tensor(),
        )?;
        write_npy(
            &out,
            &format!("layer{k}_bias.npy"),
            &layer.bias.as_tensor().unsqueeze(0)?,
        )?;
        write_npy(&out, &format!("layer{k}_beta.npy"), &beta)?;
        write_npy(&out, &format!("layer{k}_threshold.npy"), &threshold)?;
    }
    let mut csv = String::from("sample,label,training_prediction\n");
    for (b, id) in batch.ids.iter().enumerate() {
        let text = model_file(&trainer, &args.checkpoint, *id, &spikes.i((.., b, ..))?)?;
        write(&out.join(format!("sample_{id}.toml")), &text)?;
        writeln!(csv, "{id},{},{}", labels[b], predictions[b]).expect("writing to a string");
    }
    write(&out.join("samples.csv"), &csv)?;
    println!(
        "{samples} samples exported to {} (run one with: engram run {})",
        out.display(),
        out.join("sample_0.toml").display()
    );
    if args.simulate {
        let reference = [
            forward_spikes(&trainer.net, &spikes, DType::F32)?,
            forward_spikes(&trainer.net, &spikes, DType::F64)?,
        ];
        let report = simulate(&out, &batch.ids, &reference, &labels, &predictions)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    }
    Ok(())
}

/// Every layer's spikes `[T, B, N_k]` in the training forward pass of the all-LIF `net` on
/// input spikes `x`, in precision `dtype` (the trained f32 parameters, widened for f64).
fn forward_spikes(net: &SpikingNet, x: &Tensor, dtype: DType) -> Result<Vec<Tensor>, TrainError> {
    let mut x = x.to_dtype(dtype)?;
    let mut outputs = Vec::with_capacity(net.layers.len());
    for layer in &net.layers {
        let (beta, threshold) = layer.beta_and_threshold()?;
        let rule = LifRule {
            output: LifOutput::Spikes,
            ..layer.rule
        };
        let [weight, bias, beta, threshold] = [
            layer.weight.as_tensor(),
            layer.bias.as_tensor(),
            &beta,
            &threshold,
        ]
        .map(|t| t.to_dtype(dtype));
        x = lif_dense(&x, &weight?, &bias?, &beta?, &threshold?, rule)?;
        outputs.push(x.to_dtype(DType::F32)?);
    }
    Ok(outputs)
}

/// Runs every exported sample in the simulator; compares its spikes with the training forward
/// pass's in f32 and f64 (`reference`, one `[T, B, N_k]` tensor per layer each) and its
/// predictions with `predictions`.
fn simulate(
    out: &Path,
    ids: &[u64],
    reference: &[Vec<Tensor>; 2],
    labels: &[u32],
    predictions: &[u32],
) -> Result<serde_json::Value, TrainError> {
    let layers = reference[0].len();
    let (mut spikes, mut differing) = (
        vec![0usize; layers],
        [vec![0usize; layers], vec![0usize; layers]],
    );
    let (mut right_training, mut right_simulator, mut agree) = (0, 0, 0);
    for (b, id) in ids.iter().enumerate() {
        let path = out.join(format!("sample_{id}.toml"));
        let simulated = engram::spec::load(&path)
            .and_then(engram::network::Network::build)
            .map(|mut net| engram::engine::run(&mut net, None))
            .map_err(|e| TrainError::Usage(e.to_string()))?;
        let mut counts = Vec::new();
        for k in 0..layers {
            let [trained, wide] = [&reference[0][k], &reference[1][k]]
                .map(|r| r.i((.., b, ..)).and_then(|r| r.to_vec2::<f32>()));
            let (trained, wide) = (trained?, wide?);
            let mut fired = vec![vec![false; trained[0].len()]; trained.len()];
            let record = &simulated.spikes[k];
            for (&step, &i) in record.steps.iter().zip(&record.ids) {
                if let Some(t) = (step as usize)
                    .checked_sub(k + 1)
                    .filter(|&t| t < trained.len())
                {
                    fired[t][i as usize] = true;
                }
            }
            for ((row, wide), fired) in trained.iter().zip(&wide).zip(&fired) {
                for ((&s, &w), &f) in row.iter().zip(wide).zip(fired) {
                    spikes[k] += usize::from(s == 1.0);
                    differing[0][k] += usize::from((s == 1.0) != f);
                    differing[1][k] += usize::from((w == 1.0) != f);
                }
            }
            counts = (0..fired[0].len())
                .map(|i| fired.iter().filter(|row| row[i]).count() as f32)
                .collect();
        }
        let predicted = Tensor::new(counts.as_slice(), &candle_core::Device::Cpu)?
            .argmax(0)?
            .to_scalar::<u32>()?;
        right_training += usize::from(predictions[b] == labels[b]);
        right_simulator += usize::from(predicted == labels[b]);
        agree += usize::from(predicted == predictions[b]);
    }
    let n = ids.len() as f64;
    Ok(serde_json::json!({
        "samples": ids.len(),
        "training_spikes_per_layer": spikes,
        "differing_spikes_per_layer": differing[0],
        "differing_spikes_per_layer_f64_forward": differing[1],
        "training_accuracy": right_training as f64 / n,
        "simulator_accuracy": right_simulator as f64 / n,
        "same_prediction": agree as f64 / n,
    }))
}

/// The model file of one sample, whose encoded input is `spikes` `[T, F]`.
fn model_file(
    trainer: &engram_train::train::Trainer,
    checkpoint: &Path,
    id: u64,
    spikes: &Tensor,
) -> Result<String, TrainError> {
    let (steps, inputs) = spikes.dims2()?;
    let layers = &trainer.net.layers;
    let (mut ids, mut times) = (Vec::new(), Vec::new());
    for (t, row) in spikes.to_vec2::<f32>()?.iter().enumerate() {
        for (f, &x) in row.iter().enumerate() {
            match x {
                0.0 => {}
                1.0 => {
                    ids.push(f.to_string());
                    times.push(format!("\"{t} ms\""));
                }
                other => {
                    return Err(TrainError::Usage(format!(
                        "the encoder gives {other}, not a spike, at step {t}, input {f}"
                    )));
                }
            }
        }
    }
    let mut text = format!(
        "# Exported by `engram export` from {}: test sample {id}.\n\
         # One training step = one step (dt = 1 ms). Layer k's spike of training step t is at\n\
         # step t + k + 1 (one step of delay per projection).\n\
         [run]\ndt = \"1 ms\"\nduration = \"{} ms\"\nseed = {}\n\n\
         [[sources]]\nname = \"input\"\nkind = \"spike_times\"\nsize = {inputs}\nids = [{}]\ntimes = [{}]\n\n\
         [[sources]]\nname = \"bias\"\nkind = \"spike_times\"\nsize = 1\nids = [{}]\ntimes = [{}]\n",
        checkpoint.display(),
        steps + layers.len(),
        trainer.config.seed,
        ids.join(", "),
        times.join(", "),
        vec!["0"; steps].join(", "),
        (0..steps)
            .map(|t| format!("\"{t} ms\""))
            .collect::<Vec<_>>()
            .join(", "),
    );
    for (k, layer) in layers.iter().enumerate() {
        let reset = match layer.rule.reset {
            Reset::Subtract => "subtract",
            Reset::Zero => "zero",
        };
        let size = layer.bias.dims1()?;
        let pre = if k == 0 {
            "input".to_string()
        } else {
            format!("layer{}", k - 1)
        };
        write!(
            text,
            "\n[[populations]]\nname = \"layer{k}\"\nsize = {size}\nmodel = \"leaky\"\n\
             params = {{ beta = {{ file = \"layer{k}_beta.npy\" }}, threshold = {{ file = \"layer{k}_threshold.npy\" }}, \
             reset = \"{reset}\" }}\n\n\
             [[projections]]\npre = \"{pre}\"\npost = \"layer{k}\"\nconnect = {{ rule = \"all_to_all\" }}\n\
             synapse = \"delta\"\nweight = {{ file = \"layer{k}_weight.npy\" }}\ndelay = \"1 ms\"\n\n\
             [[projections]]\npre = \"bias\"\npost = \"layer{k}\"\nconnect = {{ rule = \"all_to_all\" }}\n\
             synapse = \"delta\"\nweight = {{ file = \"layer{k}_bias.npy\" }}\ndelay = \"{} ms\"\n",
            k + 1
        )
        .expect("writing to a string");
    }
    Ok(text)
}

/// Writes an f32 tensor (1-D or 2-D) as `dir/name`.
fn write_npy(dir: &Path, name: &str, tensor: &Tensor) -> Result<(), TrainError> {
    let path = dir.join(name);
    let tensor = tensor.to_dtype(DType::F32)?;
    let result = match tensor.dims() {
        [_, cols] => {
            let flat = tensor.flatten_all()?.to_vec1::<f32>()?;
            let rows = flat.len() / cols;
            let array = ndarray::Array2::from_shape_vec((rows, *cols), flat)
                .expect("shape from the tensor");
            ndarray_npy::write_npy(&path, &array)
        }
        _ => ndarray_npy::write_npy(
            &path,
            &Array1::from(tensor.flatten_all()?.to_vec1::<f32>()?),
        ),
    };
    result.map_err(|e| TrainError::Output {
        path,
        source: std::io::Error::other(e),
    })
}

fn write(path: &Path, text: &str) -> Result<(), TrainError> {
    std::fs::write(path, text).map_err(|source| TrainError::Output {
        path: path.into(),
        source,
    })
}
