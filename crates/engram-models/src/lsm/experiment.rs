//! The NALSM protocol on MNIST (Ivanov & Michmizos 2021, arXiv:2111.01760; spec §3.5),
//! as `engram lsm` runs it:
//!
//! 1. build the liquid from the seed (`grid.rs`);
//! 2. with the astrocyte: organise it, `organise.samples` random training images of
//!    `organise.ms` each, one after another, STDP and astrocyte on; then freeze the weights
//!    (without: the plain LSM keeps its initial weights);
//! 3. run every train, validation and test image for `readout.ms` with frozen weights, in
//!    parallel over samples (each sample's randomness is keyed by its index, so the
//!    features do not depend on the thread count), and record spike counts, plus the
//!    spikes of the first `branching.samples` test images for the branching factor;
//! 4. fit the readout on the training features and report test accuracy (softmax and the
//!    online three-factor readout: at the epoch with the best validation accuracy).

use std::time::Instant;

use engram::plasticity::astrocyte::{AstroStdpParams, AstrocyteParams, PreKind};
use engram::plasticity::nalsm_neuron::NalsmNeuronParams;
use engram::rng::{self, Purpose};
use rand::RngExt;
use rayon::prelude::*;
use serde::Serialize;

use super::LsmError;
use super::branching::{self, BranchingParams};
use super::config::{LsmConfig, ReadoutKind};
use super::encode::{self, Features};
use super::grid::{Liquid, LiquidParams};
use super::ridge::Ridge;
use super::sim::{self, Plasticity, Recording, SimConsts, Weights};
use super::softmax::{Softmax, SoftmaxParams};
use super::three_factor::{self, ThreeFactorParams};

/// Images and labels of both splits (`[count, size]` bytes).
#[derive(Debug, Clone, Copy)]
pub struct Images<'a> {
    pub size: usize,
    pub train_images: &'a [u8],
    pub train_labels: &'a [u8],
    pub test_images: &'a [u8],
    pub test_labels: &'a [u8],
}

/// The input current of one Bernoulli event (spec §3.3).
pub const INPUT_CURRENT: f64 = 100.0;
const CLASSES: usize = 10;

/// Stream indices of the per-sample input draws: organisation, then recorded sets.
const KEY_ORGANISE: u64 = 1 << 40;
const KEY_TRAIN: u64 = 2 << 40;
const KEY_TEST: u64 = 3 << 40;

/// Everything a run reports.
#[derive(Debug, Clone, Serialize)]
pub struct LsmResults {
    pub neurons: usize,
    pub synapses_liquid: usize,
    pub synapses_input: usize,
    pub astrocyte: bool,
    pub organisation: Option<Organisation>,
    pub test_accuracy: f64,
    pub valid_accuracy: Option<f64>,
    pub train_accuracy: f64,
    pub best_epoch: Option<usize>,
    pub branching_factor: Option<f64>,
    /// Mean liquid firing rate over the recorded test samples (Hz).
    pub liquid_rate_hz: f64,
    /// Mean input spikes per ms over the recorded test samples.
    pub input_spikes_per_ms: f64,
    pub seconds: Timings,
}

/// What the organisation phase did to the liquid.
#[derive(Debug, Clone, Serialize)]
pub struct Organisation {
    pub samples: usize,
    pub mean_astrocyte: f64,
    /// Mean weight of E -> liquid, I -> liquid and |input -> liquid| synapses, after.
    pub mean_weight_excitatory: f64,
    pub mean_weight_inhibitory: f64,
    pub mean_abs_weight_input: f64,
}

/// Wall-clock seconds of each stage, and per sample.
#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    pub build: f64,
    pub organise: f64,
    pub organise_per_sample: f64,
    pub record: f64,
    /// Wall time of the recording per sample (all threads together).
    pub record_per_sample: f64,
    pub readout: f64,
}

/// Runs the protocol; `progress(stage, done, total)` is called as it goes.
pub fn run<'a>(
    config: &LsmConfig,
    images: Images<'a>,
    progress: &(dyn Fn(&str, usize, usize) + Sync),
) -> Result<LsmResults, LsmError> {
    let start = Instant::now();
    let n_train_all = images.train_labels.len();
    let d = &config.data;
    if n_train_all < d.train + d.valid || images.test_labels.len() < d.test {
        return Err(LsmError::Model(format!(
            "the dataset has {} training and {} test images; the config asks for {} + {} and {}",
            n_train_all,
            images.test_labels.len(),
            d.train,
            d.valid,
            d.test
        )));
    }
    let params = LiquidParams {
        w_liquid: config.liquid.weight,
        ..LiquidParams::paper(config.liquid.side(), images.size)
    };
    let mut liquid = Liquid::build(&params, config.seed)?;
    let consts = SimConsts::new(NalsmNeuronParams::paper().lower(1.0)?, INPUT_CURRENT);
    let scale = encode::probability_scale(images.train_images, images.size);
    let size = images.size;
    let image = |set: &'a [u8], i: usize| -> &'a [u8] { &set[i * size..(i + 1) * size] };
    let build = start.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let organisation = if config.organise.astrocyte {
        Some(organise(
            config,
            &mut liquid,
            &consts,
            |i| encode::drive(image(images.train_images, i), scale),
            progress,
        )?)
    } else {
        None
    };
    let organise_s = t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let ms = config.readout.ms;
    let train_idx: Vec<usize> = (0..d.train).collect();
    let valid_idx: Vec<usize> = (n_train_all - d.valid..n_train_all).collect();
    let test_idx: Vec<usize> = (0..d.test).collect();
    let total = d.train + d.valid + d.test;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let tick = || {
        progress(
            "record",
            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
            total,
        )
    };
    let record_set = |set: &'a [u8], idx: &[usize], key: u64, rasters: usize| {
        record(
            &liquid,
            &consts,
            idx,
            ms,
            config.seed,
            key,
            rasters,
            |i| encode::drive(image(set, i), scale),
            &tick,
        )
    };
    let train_rec = record_set(images.train_images, &train_idx, KEY_TRAIN, 0);
    let valid_rec = record_set(images.train_images, &valid_idx, KEY_TRAIN, 0);
    let test_rec = record_set(
        images.test_images,
        &test_idx,
        KEY_TEST,
        config.branching.samples,
    );
    let record_s = t0.elapsed().as_secs_f64();

    let (pre, post) = liquid.topology.liquid_adjacency();
    let bf: Vec<Option<f64>> = test_rec
        .iter()
        .filter_map(|r| r.raster.as_ref())
        .map(|raster| {
            branching::sample_branching_factor(raster, &pre, &post, BranchingParams::default())
        })
        .collect();
    let n = liquid.topology.n_liquid;
    let spikes: u64 = test_rec
        .iter()
        .flat_map(|r| r.counts.iter().map(|&c| u64::from(c)))
        .sum();
    let liquid_rate_hz = spikes as f64 / (n * d.test) as f64 / (ms as f64 * 1e-3);
    let input_spikes_per_ms =
        test_rec.iter().map(|r| r.input_spikes).sum::<u64>() as f64 / (d.test * ms) as f64;

    let t0 = Instant::now();
    let features = |recs: Vec<Recording>, idx: &[usize], labels: &[u8]| {
        Features::new(
            n,
            recs.into_iter().map(|r| r.counts).collect(),
            idx.iter().map(|&i| labels[i]).collect(),
        )
    };
    let mut train = features(train_rec, &train_idx, images.train_labels);
    let mut valid = features(valid_rec, &valid_idx, images.train_labels);
    let mut test = features(test_rec, &test_idx, images.test_labels);
    let largest = train.largest();
    let factor = if largest > 0.0 { 1.0 / largest } else { 1.0 };
    for f in [&mut train, &mut valid, &mut test] {
        f.factor = factor;
    }
    let (test_accuracy, valid_accuracy, train_accuracy, best_epoch) = match config.readout.kind {
        ReadoutKind::Ridge => {
            let model = Ridge::fit_classes(&train, CLASSES, config.readout.lambda)?;
            let valid_acc = (!valid.is_empty()).then(|| model.accuracy(&valid));
            (
                model.accuracy(&test),
                valid_acc,
                model.accuracy(&train),
                None,
            )
        }
        ReadoutKind::Softmax | ReadoutKind::ThreeFactor => {
            let r = &config.readout;
            let (model, history) = if r.kind == ReadoutKind::Softmax {
                let p = SoftmaxParams {
                    epochs: r.epochs,
                    batch: config.batch(),
                    learning_rate: r.learning_rate,
                    l2: r.l2,
                    seed: config.seed,
                };
                Softmax::train(&train, &valid, CLASSES, &p)?
            } else {
                let p = ThreeFactorParams {
                    epochs: r.epochs,
                    learning_rate: r.learning_rate,
                    seed: config.seed,
                };
                three_factor::train(&train, &valid, CLASSES, &p)?
            };
            let valid_acc =
                (!valid.is_empty()).then(|| history.valid_accuracy[history.best_epoch - 1]);
            (
                model.accuracy(&test),
                valid_acc,
                model.accuracy(&train),
                Some(history.best_epoch),
            )
        }
    };
    let readout_s = t0.elapsed().as_secs_f64();
    let t = &liquid.topology;
    Ok(LsmResults {
        neurons: n,
        synapses_liquid: t.target.len() - t.row_start[t.n_inputs],
        synapses_input: t.row_start[t.n_inputs],
        astrocyte: config.organise.astrocyte,
        organisation,
        test_accuracy,
        valid_accuracy,
        train_accuracy,
        best_epoch,
        branching_factor: branching::mean_defined(&bf),
        liquid_rate_hz,
        input_spikes_per_ms,
        seconds: Timings {
            build,
            organise: organise_s,
            organise_per_sample: organise_s / config.organise.samples.max(1) as f64,
            record: record_s,
            record_per_sample: record_s / total as f64,
            readout: readout_s,
        },
    })
}

/// Runs the samples `idx` for `ms` each with frozen weights, in parallel, keeping the
/// spikes of the first `rasters`. Sample `idx[k]`'s draws are keyed by `key + idx[k]`.
#[allow(clippy::too_many_arguments)]
pub fn record(
    liquid: &Liquid,
    consts: &SimConsts,
    idx: &[usize],
    ms: usize,
    seed: u64,
    key: u64,
    rasters: usize,
    drive: impl Fn(usize) -> sim::Drive + Sync,
    tick: &(dyn Fn() + Sync),
) -> Vec<Recording> {
    idx.par_iter()
        .enumerate()
        .map(|(k, &i)| {
            let sample_key = rng::counter_key(seed, Purpose::Poisson, key + i as u64);
            let weights = Weights::Frozen(&liquid.weights);
            let rec = sim::run_sample(
                &liquid.topology,
                weights,
                consts,
                &drive(i),
                ms,
                sample_key,
                k < rasters,
            );
            tick();
            rec
        })
        .collect()
}

/// The organisation phase: random training images one after another with STDP and the
/// astrocyte; returns what it did to the weights.
fn organise(
    config: &LsmConfig,
    liquid: &mut Liquid,
    consts: &SimConsts,
    drive: impl Fn(usize) -> sim::Drive,
    progress: &(dyn Fn(&str, usize, usize) + Sync),
) -> Result<Organisation, LsmError> {
    let stdp = AstroStdpParams::paper().lower(1.0)?;
    let astro = AstrocyteParams::paper(config.w_a()).lower(1.0)?;
    let t = &liquid.topology;
    let mut p = Plasticity {
        stdp,
        astro,
        x: vec![0.0; t.n_pre()],
        a_sum: 0.0,
        a_steps: 0,
    };
    let mut r = rng::stream(config.seed, Purpose::InitialState, 0);
    let samples = config.organise.samples;
    for k in 0..samples {
        let i = r.random_range(0..config.data.train);
        let key = rng::counter_key(config.seed, Purpose::Poisson, KEY_ORGANISE + k as u64);
        let weights = Weights::Plastic(&mut liquid.weights, &mut p);
        sim::run_sample(
            &liquid.topology,
            weights,
            consts,
            &drive(i),
            config.organise.ms,
            key,
            false,
        );
        progress("organise", k + 1, samples);
    }
    let t = &liquid.topology;
    let mean = |kind: PreKind, f: fn(f64) -> f64| {
        let ws: Vec<f64> = (0..t.n_pre())
            .filter(|&j| t.kind[j] == kind)
            .flat_map(|j| t.synapses_of(j))
            .map(|s| f(liquid.weights[s]))
            .collect();
        ws.iter().sum::<f64>() / ws.len().max(1) as f64
    };
    Ok(Organisation {
        samples,
        mean_astrocyte: p.a_sum / p.a_steps.max(1) as f64,
        mean_weight_excitatory: mean(PreKind::Excitatory, |w| w),
        mean_weight_inhibitory: mean(PreKind::Inhibitory, |w| w),
        mean_abs_weight_input: mean(PreKind::Input, f64::abs),
    })
}

#[cfg(test)]
mod tests {
    use super::super::config;
    use super::*;
    use std::path::Path;

    const CONFIG: &str = "seed = 4\n[data]\ndir = \"d\"\ntrain = 40\nvalid = 10\ntest = 20\n[liquid]\nneurons = 125\n\
        [organise]\nastrocyte = true\nsamples = 15\n[readout]\nkind = \"softmax\"\nms = 80\nepochs = 3\n[branching]\nsamples = 6\n";

    /// 8x8 images: class c lights a bar in row c (and column c for c >= 8), with noise.
    fn images(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
        let mut r = rng::stream(seed, Purpose::InitialState, 9);
        let (mut im, mut labels) = (Vec::new(), Vec::new());
        for i in 0..n {
            let c = i % 10;
            labels.push(c as u8);
            im.extend((0..64).map(|p| {
                let lit = p / 8 == c % 8 || (c >= 8 && p % 8 == c - 8);
                if lit { 200 } else { r.random_range(0..30u8) }
            }));
        }
        (im, labels)
    }

    fn run_with(threads: usize) -> LsmResults {
        let config = config::parse(CONFIG, Path::new("t.toml")).unwrap();
        let ((train, train_labels), (test, test_labels)) = (images(50, 1), images(20, 2));
        let data = Images {
            size: 64,
            train_images: &train,
            train_labels: &train_labels,
            test_images: &test,
            test_labels: &test_labels,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| run(&config, data, &|_, _, _| {})).unwrap()
    }

    #[test]
    fn same_seed_gives_the_same_features_and_results_at_1_and_2_threads() {
        let liquid = Liquid::build(&LiquidParams::paper(5, 64), 3).unwrap();
        let consts = SimConsts::new(
            NalsmNeuronParams::paper().lower(1.0).unwrap(),
            INPUT_CURRENT,
        );
        let (im, _) = images(12, 5);
        let scale = encode::probability_scale(&im, 64);
        let idx: Vec<usize> = (0..12).collect();
        let rec = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                record(
                    &liquid,
                    &consts,
                    &idx,
                    100,
                    7,
                    KEY_TEST,
                    4,
                    |i| encode::drive(&im[i * 64..(i + 1) * 64], scale),
                    &|| {},
                )
            })
        };
        let (one, two) = (rec(1), rec(2));
        assert_eq!(one, two);
        assert_eq!(one.iter().filter(|r| r.raster.is_some()).count(), 4);
        assert!(
            one.iter().all(|r| r.counts.iter().any(|&c| c > 0)),
            "every sample drives the liquid"
        );
        assert_ne!(
            one[0].counts, one[1].counts,
            "different images, different features"
        );

        let (a, b) = (run_with(1), run_with(2));
        let json = |r: &LsmResults| {
            let mut v = serde_json::to_value(r).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        };
        assert_eq!(json(&a), json(&b));
        assert!(a.branching_factor.is_some() && a.organisation.is_some());
    }
}
