//! Input encoders: a batch of static inputs `x: [B, F]` (values in `[0, 1]`) becomes a
//! `[T, B, F]` f32 tensor of spikes or currents; `delta` turns a time series `[T, B, F]` into
//! spikes. Layout is `[T, B, N]` (time, batch, features) throughout, on the CPU device.
//!
//! - **rate** (snnTorch `spikegen.rate`, `offset = 0`): `s[t,b,f] ~ Bernoulli(p)` independently
//!   with `p = clamp(gain·x[b,f], 0, 1)`. Each draw is a pure function of
//!   `(seed, sample id, t, f)` (counter-based, no sequential generator state): with
//!   `k_s = mix(mix(mix(seed ^ K) ^ sample) ^ t)` (`mix` = the SplitMix64 finaliser, a bijection
//!   on 64-bit words), feature `f` reads word `w = mix(k_s + (⌊f/2⌋ + 1)·γ)`
//!   (`γ = 0x9E3779B97F4A7C15`, i.e. one SplitMix64 stream per `(sample, t)` row); even `f` takes
//!   bits 0..24 of `w`, odd `f` bits 40..64, as a 24-bit uniform `u`, and spikes iff
//!   `u < ⌊p·2²⁴⌋`. So the spike probability is `⌊p·2²⁴⌋/2²⁴` (exact for `p = 0` and `p = 1`),
//!   and a sample's spikes do not depend on its batch position, the batch size or threads.
//!   Fold an epoch or other stream id into the seed with [`stream_seed`].
//! - **latency** (snnTorch `spikegen.latency(linear=True, normalize=True, clip=True)`): one spike
//!   per feature at step `t_f = round_half_even((T − 1)·(1 − x))`, computed in f32 exactly as
//!   snnTorch (`torch.round` rounds half to even); inputs are clamped to at most 1, and a feature
//!   with `x < threshold` (or NaN) emits no spike (snnTorch's `clip=True`).
//! - **direct**: the input as a current, `s[t,b,f] = x[b,f]` at every step.
//! - **delta** (snnTorch `spikegen.delta`): on a series `x: [T, B, F]`, with `x[−1] = 0`
//!   (snnTorch `padding=False`) or `x[−1] = x[0]` (`padding=True`), an ON spike where
//!   `x[t] − x[t−1] ≥ threshold`. With `off_spikes`, an OFF spike where
//!   `x[t] − x[t−1] ≤ −threshold` goes to a second block of channels: the output is
//!   `[T, B, 2F]`, ON in channels `0..F` and OFF (as `+1`) in `F..2F`. snnTorch's `off_spike=True`
//!   instead writes `−1` into the same channel; splitting keeps every entry a 0/1 spike.

use std::mem::MaybeUninit;

use candle_core::{DType, Device, Result, Tensor, bail};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cpu::filled;

/// How inputs become the network's `[T, B, F]` input; see the module documentation.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Encoder {
    /// Bernoulli spikes with `p = clamp(gain·x, 0, 1)` at every step.
    Rate {
        #[serde(default = "default_gain")]
        gain: f32,
    },
    /// One spike per feature, earlier for larger `x`; none below `threshold`.
    Latency {
        #[serde(default = "default_latency_threshold")]
        threshold: f32,
    },
    /// The input itself as a current at every step. (Written `{}` so that serde's
    /// `deny_unknown_fields` rejects stray keys; it ignores them on unit variants.)
    Direct {},
    /// Spikes on changes of at least `threshold` between consecutive steps of a series.
    Delta {
        #[serde(default = "default_delta_threshold")]
        threshold: f32,
        #[serde(default)]
        off_spikes: bool,
        #[serde(default)]
        padding: bool,
    },
}

fn default_gain() -> f32 {
    1.0
}

fn default_latency_threshold() -> f32 {
    0.01
}

fn default_delta_threshold() -> f32 {
    0.1
}

impl Encoder {
    /// Checks the parameters: `gain ≥ 0`, latency `threshold` in `(0, 1)` (as snnTorch),
    /// delta `threshold > 0`, all finite.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match *self {
            Encoder::Rate { gain } if !(gain.is_finite() && gain >= 0.0) => Err(format!(
                "rate encoder: gain must be finite and >= 0, got {gain}"
            )),
            Encoder::Latency { threshold } if !(threshold > 0.0 && threshold < 1.0) => Err(
                format!("latency encoder: threshold must lie in (0, 1), got {threshold}"),
            ),
            Encoder::Delta { threshold, .. } if !(threshold.is_finite() && threshold > 0.0) => Err(
                format!("delta encoder: threshold must be finite and > 0, got {threshold}"),
            ),
            _ => Ok(()),
        }
    }

    /// The number of channels the encoding of `features` input features has (`2·features` for
    /// delta with OFF spikes, else `features`).
    pub fn output_features(&self, features: usize) -> usize {
        match self {
            Encoder::Delta {
                off_spikes: true, ..
            } => 2 * features,
            _ => features,
        }
    }

    /// Encodes `x` over `t_steps` steps into a contiguous f32 `[T, B, F']` tensor on the CPU.
    ///
    /// `x` is `[B, F]` for rate, latency and direct, and a series `[T, B, F]` for delta (whose
    /// `T` must equal `t_steps`). `seed` and `sample_ids` (each sample's index in the dataset,
    /// one per batch row) are used only by rate, which requires `sample_ids.len() == B`.
    pub fn encode(
        &self,
        x: &Tensor,
        t_steps: usize,
        seed: u64,
        sample_ids: &[u64],
    ) -> Result<Tensor> {
        if let Err(msg) = self.validate() {
            bail!("{msg}")
        }
        if t_steps == 0 {
            bail!("encoder: the number of time steps must be at least 1")
        }
        let x = x.to_dtype(DType::F32)?;
        match *self {
            Encoder::Rate { gain } => rate(&x, gain, t_steps, seed, sample_ids),
            Encoder::Latency { threshold } => latency(&x, threshold, t_steps),
            Encoder::Direct {} => {
                let (b, f) = x.dims2()?;
                x.unsqueeze(0)?.broadcast_as((t_steps, b, f))?.contiguous()
            }
            Encoder::Delta {
                threshold,
                off_spikes,
                padding,
            } => delta(&x, threshold, off_spikes, padding, t_steps),
        }
    }
}

/// A seed for stream `stream` (an epoch, a split) of the base seed `seed`; distinct streams of
/// one seed give independent rate encodings.
pub fn stream_seed(seed: u64, stream: u64) -> u64 {
    mix64(mix64(seed).wrapping_add(stream.wrapping_mul(GAMMA)))
}

/// The SplitMix64 increment (golden ratio · 2⁶⁴).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
/// Separates the seed's key from `mix64(seed)` used by [`stream_seed`].
const SEED_KEY: u64 = 0xD1B5_4A32_D192_ED03;
const MASK24: u64 = (1 << 24) - 1;

/// The SplitMix64 output function (Steele, Lea & Flood 2014; Stafford's "Mix13" constants).
#[inline(always)]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of the `(sample, t)` row: the start of its SplitMix64 stream.
fn row_key(seed: u64, sample: u64, t: u64) -> u64 {
    mix64(mix64(mix64(seed ^ SEED_KEY) ^ sample) ^ t)
}

/// `⌊clamp(p, 0, 1)·2²⁴⌋`: a 24-bit uniform below it has probability `p` (NaN gives 0).
fn threshold24(p: f32) -> u32 {
    (p.clamp(0.0, 1.0) * (1u32 << 24) as f32) as u32
}

/// Spikes for one `(sample, t)` row, every element written: `out[f] = 1` iff the 24-bit uniform
/// of feature `f` is below `thr[f]`. Pairs that cannot fire (most of an MNIST image is 0) skip
/// the hash and are written 0; the counter still advances, so every pair keeps its own number.
fn fill_rate_row(out: &mut [MaybeUninit<f32>], thr: &[u32], key: u64) {
    let mut out_pairs = out.chunks_exact_mut(2);
    let mut thr_pairs = thr.chunks_exact(2);
    let mut counter = key;
    for (o, th) in (&mut out_pairs).zip(&mut thr_pairs) {
        counter = counter.wrapping_add(GAMMA);
        if th[0] | th[1] == 0 {
            o[0].write(0.0);
            o[1].write(0.0);
            continue;
        }
        let w = mix64(counter);
        o[0].write(f32::from(((w & MASK24) as u32) < th[0]));
        o[1].write(f32::from(((w >> 40) as u32) < th[1]));
    }
    if let ([o], [th]) = (out_pairs.into_remainder(), thr_pairs.remainder()) {
        let w = mix64(counter.wrapping_add(GAMMA));
        o.write(f32::from(((w & MASK24) as u32) < *th));
    }
}

fn rate(x: &Tensor, gain: f32, t_steps: usize, seed: u64, sample_ids: &[u64]) -> Result<Tensor> {
    let (b, f) = x.dims2()?;
    if sample_ids.len() != b {
        bail!(
            "rate encoder: {} sample ids for a batch of {b}",
            sample_ids.len()
        )
    }
    let thr: Vec<u32> = x
        .flatten_all()?
        .to_vec1::<f32>()?
        .iter()
        .map(|&v| threshold24(v * gain))
        .collect();
    let fill = |out: &mut [MaybeUninit<f32>]| {
        if f > 0 {
            out.par_chunks_exact_mut(f)
                .enumerate()
                .for_each(|(row, chunk)| {
                    let (t, bi) = (row / b, row % b);
                    let key = row_key(seed, sample_ids[bi], t as u64);
                    fill_rate_row(chunk, &thr[bi * f..(bi + 1) * f], key);
                });
        }
    };
    // SAFETY: fill_rate_row writes every element of every row.
    let out = unsafe { filled(t_steps * b * f, fill) };
    Tensor::from_vec(out, (t_steps, b, f), &Device::Cpu)
}

fn latency(x: &Tensor, threshold: f32, t_steps: usize) -> Result<Tensor> {
    let (b, f) = x.dims2()?;
    let tau = (t_steps - 1) as f32;
    let mut out = vec![0f32; t_steps * b * f];
    for (i, &v) in x.flatten_all()?.to_vec1::<f32>()?.iter().enumerate() {
        if v >= threshold {
            let t = (tau * (1.0 - v.min(1.0))).round_ties_even() as usize;
            out[t * b * f + i] = 1.0;
        }
    }
    Tensor::from_vec(out, (t_steps, b, f), &Device::Cpu)
}

fn delta(x: &Tensor, threshold: f32, off: bool, padding: bool, t_steps: usize) -> Result<Tensor> {
    let (t_in, b, f) = x.dims3()?;
    if t_in != t_steps {
        bail!("delta encoder: the series has {t_in} steps, {t_steps} were asked for")
    }
    let xs = x.flatten_all()?.to_vec1::<f32>()?;
    let row = b * f;
    let channels = if off { 2 * f } else { f };
    let mut out = vec![0f32; t_steps * b * channels];
    for (i, &now) in xs.iter().enumerate() {
        let prev = match i.checked_sub(row) {
            Some(j) => xs[j],
            None if padding => now,
            None => 0.0,
        };
        let d = now - prev;
        let (tb, fi) = (i / f, i % f);
        out[tb * channels + fi] = f32::from(d >= threshold);
        if off {
            out[tb * channels + f + fi] = f32::from(d <= -threshold);
        }
    }
    Tensor::from_vec(out, (t_steps, b, channels), &Device::Cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(rows: &[&[f32]]) -> Tensor {
        let f = rows[0].len();
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_vec(flat, (rows.len(), f), &Device::Cpu).unwrap()
    }

    fn spikes(t: &Tensor) -> Vec<Vec<Vec<f32>>> {
        t.to_vec3::<f32>().unwrap()
    }

    #[test]
    fn rate_frequency_matches_probability_within_5_sigma() {
        let ps = [0.0f32, 0.02, 0.1, 0.35, 0.5, 0.77, 0.98, 1.0];
        // 64 samples × 7 features per probability (odd F exercises the unpaired last feature).
        let rows: Vec<Vec<f32>> = (0..64).map(|_| ps.to_vec()).collect();
        let rows: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        let x = input(&rows);
        let ids: Vec<u64> = (0..64).collect();
        let t = 500;
        let s = Encoder::Rate { gain: 1.0 }.encode(&x, t, 7, &ids).unwrap();
        let s = spikes(&s);
        for (fi, &p) in ps.iter().enumerate() {
            let n = (t * 64) as f64;
            let k: f64 = s.iter().flatten().map(|row| row[fi] as f64).sum();
            let p = p as f64;
            let sigma = (n * p * (1.0 - p)).sqrt();
            assert!(
                (k - n * p).abs() <= 5.0 * sigma,
                "p = {p}: {k} spikes in {n} draws"
            );
            if p == 0.0 || p == 1.0 {
                assert_eq!(k, n * p);
            }
        }
    }

    #[test]
    fn rate_paired_features_are_independent() {
        // Features 0 and 1 share one 64-bit word; their joint firing must still be p².
        let x = input(&vec![[0.5f32, 0.5].as_slice(); 32]);
        let ids: Vec<u64> = (100..132).collect();
        let s = Encoder::Rate { gain: 1.0 }
            .encode(&x, 1000, 3, &ids)
            .unwrap();
        let s = spikes(&s);
        let n = 32_000.0;
        let both: f64 = s.iter().flatten().map(|r| (r[0] * r[1]) as f64).sum();
        let sigma = (n * 0.25 * 0.75f64).sqrt();
        assert!(
            (both - n * 0.25).abs() <= 5.0 * sigma,
            "{both} joint spikes in {n}"
        );
    }

    #[test]
    fn rate_gain_scales_and_clips_probability() {
        let x = input(&[&[0.7, 0.0, 0.2]]);
        let s = Encoder::Rate { gain: 2.0 }
            .encode(&x, 2000, 1, &[0])
            .unwrap();
        let s = spikes(&s);
        let count = |fi: usize| s.iter().map(|t| t[0][fi] as f64).sum::<f64>();
        assert_eq!(count(0), 2000.0);
        assert_eq!(count(1), 0.0);
        let sigma = (2000.0 * 0.4 * 0.6f64).sqrt();
        assert!((count(2) - 800.0).abs() <= 5.0 * sigma);
    }

    #[test]
    fn rate_spikes_depend_on_sample_id_not_batch_position() {
        let a = [0.3f32, 0.6, 0.9, 0.5, 0.1];
        let b = [0.8f32, 0.2, 0.4, 0.5, 0.7];
        let enc = Encoder::Rate { gain: 1.0 };
        let alone = enc.encode(&input(&[&a]), 20, 42, &[17]).unwrap();
        let batch = enc
            .encode(&input(&[&b, &b, &a]), 20, 42, &[3, 9, 17])
            .unwrap();
        let alone = spikes(&alone);
        let batch = spikes(&batch);
        for (a, b) in alone.iter().zip(&batch) {
            assert_eq!(a[0], b[2]);
        }
        // Same input under different ids: different spikes.
        assert_ne!(
            batch.iter().map(|s| s[0].clone()).collect::<Vec<_>>(),
            batch.iter().map(|s| s[1].clone()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn rate_is_reproducible_and_differs_across_seeds_and_streams() {
        let x = input(&[&[0.5f32; 64], &[0.5f32; 64]]);
        let enc = Encoder::Rate { gain: 1.0 };
        let run = |seed| spikes(&enc.encode(&x, 10, seed, &[0, 1]).unwrap());
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
        assert_ne!(run(stream_seed(5, 0)), run(stream_seed(5, 1)));
        assert_ne!(run(stream_seed(5, 1)), run(stream_seed(6, 1)));
    }

    #[test]
    fn latency_times_match_snntorch_linear_normalized() {
        // snnTorch docstring: latency([0.02, 0.5, 1], num_steps=5, normalize=True, linear=True)
        // fires at steps 4 (3.92 rounded), 2 and 0. 0.375 → 2.5 → 2 and 0.125 → 3.5 → 4 (half to
        // even, as torch.round); 0.005 and a negative value are below the threshold: no spike;
        // 1.5 is clamped to 1.
        let x = input(&[&[0.02, 0.5, 1.0, 0.375], &[0.125, 0.005, -0.3, 1.5]]);
        let s = Encoder::Latency { threshold: 0.01 }
            .encode(&x, 5, 0, &[])
            .unwrap();
        let s = spikes(&s);
        let expect: [[Option<usize>; 4]; 2] = [
            [Some(4), Some(2), Some(0), Some(2)],
            [Some(4), None, None, Some(0)],
        ];
        for (b, row) in expect.iter().enumerate() {
            for (f, &at) in row.iter().enumerate() {
                for (t, step) in s.iter().enumerate() {
                    assert_eq!(step[b][f], f32::from(at == Some(t)), "b {b} f {f} t {t}");
                }
            }
        }
    }

    #[test]
    fn direct_repeats_input_at_every_step() {
        let x = input(&[&[0.1, 0.2, 0.3], &[0.4, 0.5, 0.6]]);
        let s = Encoder::Direct {}.encode(&x, 4, 0, &[]).unwrap();
        assert_eq!(s.dims(), &[4, 2, 3]);
        assert_eq!(s.dtype(), DType::F32);
        let s = spikes(&s);
        for step in &s {
            assert_eq!(step, &x.to_vec2::<f32>().unwrap());
        }
    }

    #[test]
    fn delta_matches_snntorch_docstring_sequence() {
        // snnTorch: delta([1, 2, 0, 2, 2.9], threshold=1, off_spike=True) = [1, 1, -1, 1, 0],
        // and with padding=True [0, 1, -1, 1, 0]; here OFF spikes sit in channel F + f.
        let series = [1.0f32, 2.0, 0.0, 2.0, 2.9];
        let x = Tensor::from_vec(series.to_vec(), (5, 1, 1), &Device::Cpu).unwrap();
        let run = |off_spikes, padding| {
            let enc = Encoder::Delta {
                threshold: 1.0,
                off_spikes,
                padding,
            };
            spikes(&enc.encode(&x, 5, 0, &[]).unwrap())
        };
        let channel =
            |s: &Vec<Vec<Vec<f32>>>, c: usize| s.iter().map(|t| t[0][c]).collect::<Vec<_>>();
        let s = run(true, false);
        assert_eq!(channel(&s, 0), [1.0, 1.0, 0.0, 1.0, 0.0]);
        assert_eq!(channel(&s, 1), [0.0, 0.0, 1.0, 0.0, 0.0]);
        let s = run(true, true);
        assert_eq!(channel(&s, 0), [0.0, 1.0, 0.0, 1.0, 0.0]);
        assert_eq!(channel(&s, 1), [0.0, 0.0, 1.0, 0.0, 0.0]);
        let s = run(false, false);
        assert_eq!(s[0][0].len(), 1);
        assert_eq!(channel(&s, 0), [1.0, 1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn delta_keeps_batch_and_features_apart() {
        // [T=2, B=2, F=2]: every (b, f) is its own series.
        let x = Tensor::from_vec(
            vec![0.0f32, 0.5, 0.2, 0.0, 0.3, 0.5, 0.0, 0.25],
            (2, 2, 2),
            &Device::Cpu,
        )
        .unwrap();
        let enc = Encoder::Delta {
            threshold: 0.2,
            off_spikes: true,
            padding: false,
        };
        assert_eq!(enc.output_features(2), 4);
        let s = spikes(&enc.encode(&x, 2, 0, &[]).unwrap());
        assert_eq!(s[0], [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]);
        assert_eq!(s[1], [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]]);
    }

    #[test]
    fn config_parses_from_toml_and_validates() {
        let parse = |s: &str| toml::from_str::<Encoder>(s);
        assert_eq!(
            parse("kind = \"rate\"\ngain = 0.5").unwrap(),
            Encoder::Rate { gain: 0.5 }
        );
        assert_eq!(
            parse("kind = \"latency\"").unwrap(),
            Encoder::Latency { threshold: 0.01 }
        );
        assert_eq!(parse("kind = \"direct\"").unwrap(), Encoder::Direct {});
        assert_eq!(
            parse("kind = \"delta\"\nthreshold = 0.1\noff_spikes = true").unwrap(),
            Encoder::Delta {
                threshold: 0.1,
                off_spikes: true,
                padding: false
            }
        );
        assert!(parse("kind = \"rate\"\ngian = 1.0").is_err());
        assert!(parse("kind = \"poisson\"").is_err());
        assert!(parse("kind = \"direct\"\ngain = 2.0").is_err());
        assert!(Encoder::Rate { gain: -1.0 }.validate().is_err());
        assert!(Encoder::Latency { threshold: 1.0 }.validate().is_err());
        assert!(
            Encoder::Delta {
                threshold: 0.0,
                off_spikes: false,
                padding: false
            }
            .validate()
            .is_err()
        );
        let x = input(&[&[0.5]]);
        assert!(Encoder::Direct {}.encode(&x, 0, 0, &[]).is_err());
        assert!(
            Encoder::Rate { gain: 1.0 }
                .encode(&x, 3, 0, &[1, 2])
                .is_err()
        );
    }
}
