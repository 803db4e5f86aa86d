//! The training loop: shuffled mini-batches, encoding, forward over `T` steps, loss, BPTT,
//! clipping, optimizer step; evaluation on the test split after every epoch.
//!
//! Every random choice derives from the run's seed and a named stream ([`stream_seed`]): the
//! initial weights, each epoch's shuffle, and each sample's rate-coded spikes (keyed by the
//! sample's index in the dataset). So a run resumed from an epoch's checkpoint continues exactly
//! as the uninterrupted run would, and the thread count changes nothing.

use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::mnist::Split;
use crate::encode::{Encoder, stream_seed};
use crate::loss::count_correct;
use crate::model::{Input, SpikingNet};
use crate::optim::Optimizer;

/// Seed streams; epoch `e` uses `EPOCH_STREAMS + e` for its shuffle and encoding.
const TEST_STREAM: u64 = 0x7e57;
const EPOCH_STREAMS: u64 = 0x1_0000;

/// What one epoch achieved (a row of `metrics.csv`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub lr: f64,
    pub train_samples_per_s: f64,
    pub train_wall_s: f64,
    pub train_cpu_s: f64,
}

impl EpochMetrics {
    pub const CSV_HEADER: &'static str = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,lr,train_samples_per_s,train_wall_s,train_cpu_s";

    pub fn csv_row(&self) -> String {
        format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:e},{:.1},{:.3},{:.3}",
            self.epoch,
            self.train_loss,
            self.train_accuracy,
            self.test_loss,
            self.test_accuracy,
            self.lr,
            self.train_samples_per_s,
            self.train_wall_s,
            self.train_cpu_s
        )
    }
}

/// Progress within an epoch, reported after every batch.
pub struct BatchReport {
    pub epoch: usize,
    pub batch: usize,
    pub batches: usize,
    /// Mean loss and accuracy over the epoch's batches so far.
    pub loss: f64,
    pub accuracy: f64,
    pub samples_per_s: f64,
}

/// A training run in progress: the network, the optimizer and how far they have come.
pub struct Trainer {
    pub config: TrainConfig,
    pub net: SpikingNet,
    pub optimizer: Optimizer,
    pub epochs_done: usize,
    pub steps_done: u64,
    pub history: Vec<EpochMetrics>,
}

/// One batch of a split: inputs `[B, F]` in `[0, 1]`, labels `[B]` (u32), dataset indices.
pub struct Batch {
    pub x: Tensor,
    pub labels: Tensor,
    pub ids: Vec<u64>,
}

impl Batch {
    pub fn gather(split: &Split, indices: &[usize]) -> Result<Batch> {
        let features = split.rows * split.cols;
        let mut x = Vec::with_capacity(indices.len() * features);
        for &i in indices {
            let Some(image) = split.image(i) else {
                bail!("sample {i} is outside the split of {}", split.count)
            };
            x.extend(image.iter().map(|&p| f32::from(p) / 255.0));
        }
        let labels: Vec<u32> = indices
            .iter()
            .map(|&i| u32::from(split.labels[i]))
            .collect();
        Ok(Batch {
            x: Tensor::from_vec(x, (indices.len(), features), &Device::Cpu)?,
            labels: Tensor::from_vec(labels, indices.len(), &Device::Cpu)?,
            ids: indices.iter().map(|&i| i as u64).collect(),
        })
    }
}

/// Process CPU time in seconds (all threads).
pub fn cpu_seconds() -> f64 {
    cpu_time::ProcessTime::try_now().map_or(0.0, |t| t.as_duration().as_secs_f64())
}

impl Trainer {
    /// A new run of `config` for inputs of `features` features.
    pub fn new(config: TrainConfig, features: usize) -> Result<Self> {
        let net = SpikingNet::new(
            &config.model,
            config.encoder.output_features(features),
            config.loss.reads_membrane(),
            config.seed,
        )?;
        let optimizer = Optimizer::new(config.optimizer.clone(), net.trainable())?;
        Ok(Trainer {
            config,
            net,
            optimizer,
            epochs_done: 0,
            steps_done: 0,
            history: Vec::new(),
        })
    }

    /// The network's input for `batch`, encoded with the given stream seed.
    pub fn encode(&self, batch: &Batch, stream: u64) -> Result<Input> {
        Ok(match self.config.encoder {
            Encoder::Direct {} => Input::Constant(batch.x.clone()),
            ref spiking => {
                Input::Spikes(spiking.encode(&batch.x, self.net.steps, stream, &batch.ids)?)
            }
        })
    }

    /// The network's input for a batch of test samples, as [`Trainer::evaluate`] encodes it.
    pub fn encode_test(&self, batch: &Batch) -> Result<Input> {
        self.encode(batch, stream_seed(self.config.seed, TEST_STREAM))
    }

    /// Batches per epoch for `samples` training samples (the last one may be partial).
    pub fn batches_per_epoch(&self, samples: usize) -> usize {
        samples.div_ceil(self.config.train.batch_size)
    }

    /// One optimisation step on `batch`; returns the loss and the number classified correctly.
    pub fn step(
        &mut self,
        batch: &Batch,
        stream: u64,
        steps_per_epoch: usize,
        total_steps: usize,
    ) -> Result<(f64, usize)> {
        let input = self.encode(batch, stream)?;
        let output = self.net.forward(&input)?;
        let loss = self.config.loss.compute(&output, &batch.labels)?;
        let mut grads = loss.backward()?;
        if let Some(clip) = &self.config.train.clip {
            clip.apply(&self.optimizer, &mut grads)?;
        }
        let lr = self.config.schedule.lr(
            self.config.optimizer.lr(),
            self.steps_done as usize,
            steps_per_epoch,
            total_steps,
        );
        self.optimizer.set_lr(lr);
        self.optimizer.step(&grads)?;
        self.steps_done += 1;
        let correct = count_correct(&self.config.loss.scores(&output.detach())?, &batch.labels)?;
        Ok((loss.to_dtype(DType::F64)?.to_scalar::<f64>()?, correct))
    }

    /// Trains one epoch on `train` (its first `samples` samples), then evaluates on `test`.
    pub fn train_epoch(
        &mut self,
        train: &Split,
        test: &Split,
        on_batch: &mut dyn FnMut(&BatchReport),
    ) -> Result<EpochMetrics> {
        let samples = self.config.data.train_samples(train.count);
        let epoch = self.epochs_done;
        let stream = stream_seed(self.config.seed, EPOCH_STREAMS + epoch as u64);
        let mut order: Vec<usize> = (0..samples).collect();
        order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(stream));
        let batches = self.batches_per_epoch(samples);
        let total_steps = batches * self.config.train.epochs;
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        for (b, indices) in order.chunks(self.config.train.batch_size).enumerate() {
            let batch = Batch::gather(train, indices)?;
            let (loss, right) = self.step(&batch, stream, batches, total_steps)?;
            loss_sum += loss;
            correct += right;
            seen += indices.len();
            on_batch(&BatchReport {
                epoch,
                batch: b + 1,
                batches,
                loss: loss_sum / (b + 1) as f64,
                accuracy: correct as f64 / seen as f64,
                samples_per_s: seen as f64 / wall.elapsed().as_secs_f64(),
            });
        }
        let (train_wall_s, train_cpu_s) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        let (test_loss, test_accuracy) = self.evaluate(test)?;
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            train_loss: loss_sum / batches as f64,
            train_accuracy: correct as f64 / seen as f64,
            test_loss,
            test_accuracy,
            lr: self.optimizer.lr(),
            train_samples_per_s: seen as f64 / train_wall_s,
            train_wall_s,
            train_cpu_s,
        };
        self.epochs_done += 1;
        self.history.push(metrics.clone());
        Ok(metrics)
    }

    /// Mean loss and accuracy on the test split (its first `data.test_limit` samples).
    pub fn evaluate(&self, test: &Split) -> Result<(f64, f64)> {
        let samples = self.config.data.test_samples(test.count);
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        let indices: Vec<usize> = (0..samples).collect();
        for chunk in indices.chunks(self.config.train.eval_batch_size) {
            let batch = Batch::gather(test, chunk)?;
            let output = self.net.forward(&self.encode_test(&batch)?)?.detach();
            loss_sum += self
                .config
                .loss
                .compute(&output, &batch.labels)?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?
                * chunk.len() as f64;
            correct += count_correct(&self.config.loss.scores(&output)?, &batch.labels)?;
        }
        Ok((loss_sum / samples as f64, correct as f64 / samples as f64))
    }
}
