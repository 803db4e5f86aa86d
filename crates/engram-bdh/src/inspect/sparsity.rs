//! Activation sparsity per layer (`shared/specs/bdh.md` §6 item 1, reference numbers §8.6;
//! the paper's §4.1 and §6.4): in eval mode (no dropout), the fraction of non-zero entries of
//!
//! ```text
//! x = ReLU(v^{l−1} · encoder[h])          the paper's x
//! y = ReLU(LN(a) · encoder_v[h])
//! g = x ⊙ y                               the paper's sparse y
//! ```
//!
//! over all heads, neurons and tokens; the spread over tokens of the per-token fraction (over
//! the `n = H·N` neurons of a token) as its 10th, 50th and 90th percentiles, linearly
//! interpolated between order statistics (`torch.quantile`'s rule, as the reference's
//! `run_anchor.py`); and the fraction of neurons never active on any token measured ("dead").
//! The reference measured 4 validation batches of 8 × 256 bytes: `g` ≈ 0.25 at
//! initialisation and ≈ 0.10 after its 300-step anchor training.
//!
//! Sequences are read by the recurrent form from an empty state each, which is the parallel
//! form without dropout (tested equal in `tests.rs`), in parallel; the counts are integers, so
//! the result does not depend on the number of threads.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::Serialize;

use crate::data::{Corpus, Split};
use crate::recurrent::{HeadActivity, Recurrent};

/// The three vectors measured, in the order of [`LayerCounts::vectors`].
pub const VECTORS: [&str; 3] = ["x", "y", "g"];

/// Counts for one vector of one layer.
#[derive(Clone, Debug)]
struct Counts {
    nonzero: u64,
    total: u64,
    ever: Vec<bool>,
    per_token: Vec<f64>,
    current: usize,
}

impl Counts {
    fn new(n: usize) -> Self {
        Counts {
            nonzero: 0,
            total: 0,
            ever: vec![false; n],
            per_token: Vec::new(),
            current: 0,
        }
    }

    fn add(&mut self, start: usize, values: impl Iterator<Item = f32>) {
        for (k, v) in values.enumerate() {
            self.total += 1;
            if v > 0.0 {
                self.nonzero += 1;
                self.current += 1;
                self.ever[start + k] = true;
            }
        }
    }

    fn end_token(&mut self) {
        self.per_token
            .push(self.current as f64 / self.ever.len() as f64);
        self.current = 0;
    }

    fn merge(&mut self, other: Counts) {
        self.nonzero += other.nonzero;
        self.total += other.total;
        for (a, b) in self.ever.iter_mut().zip(other.ever) {
            *a |= b;
        }
        self.per_token.extend(other.per_token);
    }

    fn summary(&self) -> VectorSparsity {
        let mut sorted = self.per_token.clone();
        sorted.sort_by(f64::total_cmp);
        let never = self.ever.iter().filter(|&&e| !e).count();
        VectorSparsity {
            frac_nonzero: self.nonzero as f64 / self.total.max(1) as f64,
            per_token_p10_p50_p90: [0.1, 0.5, 0.9].map(|q| quantile(&sorted, q)),
            neurons_never_active: never,
            frac_neurons_never_active: never as f64 / self.ever.len() as f64,
        }
    }
}

/// The `q`-quantile of ascending `sorted`, linearly interpolated between order statistics
/// (position `q·(len − 1)`); 0 for an empty slice.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let position = q * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = (low + 1).min(sorted.len() - 1);
    sorted[low] + (position - low as f64) * (sorted[high] - sorted[low])
}

/// The counts of one layer: `x`, `y`, `g`.
#[derive(Clone, Debug)]
struct LayerCounts {
    vectors: [Counts; 3],
}

/// Running counts over tokens, fed by [`Recurrent::step_observed`].
#[derive(Clone, Debug)]
pub struct Sparsity {
    layers: Vec<LayerCounts>,
    heads: usize,
    n: usize,
    tokens: usize,
}

/// One vector's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VectorSparsity {
    pub frac_nonzero: f64,
    pub per_token_p10_p50_p90: [f64; 3],
    pub neurons_never_active: usize,
    pub frac_neurons_never_active: f64,
}

/// One layer's figures (`layer` from 1, as in the spec's tables).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerSparsity {
    pub layer: usize,
    pub x: VectorSparsity,
    pub y: VectorSparsity,
    pub g: VectorSparsity,
}

impl Sparsity {
    /// No token counted, for `layers` layers of `heads` heads of `n` neurons.
    pub fn new(layers: usize, heads: usize, n: usize) -> Self {
        let counts = Counts::new(heads * n);
        Sparsity {
            layers: vec![
                LayerCounts {
                    vectors: [counts.clone(), counts.clone(), counts],
                };
                layers
            ],
            heads,
            n,
            tokens: 0,
        }
    }

    /// Counts one head's activity; a token ends with the last head of the last layer.
    pub fn observe(&mut self, a: &HeadActivity) {
        let start = a.head * self.n;
        let [x, y, g] = &mut self.layers[a.layer].vectors;
        x.add(start, a.x.iter().copied());
        y.add(start, a.y_pre.iter().map(|&y| y.max(0.0)));
        g.add(
            start,
            a.x.iter().zip(a.y_pre).map(|(&x, &y)| x * y.max(0.0)),
        );
        if a.head + 1 == self.heads {
            self.layers[a.layer]
                .vectors
                .iter_mut()
                .for_each(Counts::end_token);
            if a.layer + 1 == self.layers.len() {
                self.tokens += 1;
            }
        }
    }

    /// Adds `other`'s counts (its tokens after this one's).
    pub fn merge(&mut self, other: Sparsity) {
        self.tokens += other.tokens;
        for (mine, theirs) in self.layers.iter_mut().zip(other.layers) {
            for (a, b) in mine.vectors.iter_mut().zip(theirs.vectors) {
                a.merge(b);
            }
        }
    }

    /// The number of tokens counted.
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// The figures of every layer.
    pub fn report(&self) -> Vec<LayerSparsity> {
        self.layers
            .iter()
            .enumerate()
            .map(|(l, c)| LayerSparsity {
                layer: l + 1,
                x: c.vectors[0].summary(),
                y: c.vectors[1].summary(),
                g: c.vectors[2].summary(),
            })
            .collect()
    }
}

/// `count` windows of `block` bytes from the validation part of `corpus`, drawn as training
/// draws its windows, from a generator seeded with `seed`.
pub fn validation_windows(corpus: &Corpus, count: usize, block: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let w = corpus.windows(Split::Validation, count, block, &mut rng);
    w.inputs
        .chunks(block)
        .map(|c| c.iter().map(|&b| b as u8).collect())
        .collect()
}

/// The counts over `sequences`, each read from an empty state.
pub fn measure(recurrent: &Recurrent, sequences: &[&[u8]]) -> Sparsity {
    let config = recurrent.config();
    let empty = || Sparsity::new(config.n_layer, config.n_head, config.neurons_per_head());
    let parts: Vec<Sparsity> = sequences
        .par_iter()
        .map(|sequence| {
            let mut counts = empty();
            let mut state = recurrent.state();
            let mut logits = vec![0.0; crate::config::VOCAB];
            for &byte in *sequence {
                recurrent.step_observed(&mut state, byte, &mut logits, |a| counts.observe(a));
            }
            counts
        })
        .collect();
    parts.into_iter().fold(empty(), |mut all, part| {
        all.merge(part);
        all
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head<'a>(layer: usize, head: usize, x: &'a [f32], y_pre: &'a [f32]) -> HeadActivity<'a> {
        HeadActivity {
            layer,
            head,
            input: &[],
            x,
            y_pre,
        }
    }

    /// Three tokens of one layer, 2 heads of 2 neurons (columns h·2 + k):
    /// t0: x = [1 0 | 0 0], y = [2 0 | 0 3], g = [2 0 | 0 0]
    /// t1: x = [1 1 | 0 2], y = [0 1 | 1 1], g = [0 1 | 0 2]
    /// t2: everything 0 (y before the ReLU negative).
    fn hand_case() -> Vec<[(&'static [f32], &'static [f32]); 2]> {
        vec![
            [(&[1.0, 0.0], &[2.0, -1.0]), (&[0.0, 0.0], &[0.0, 3.0])],
            [(&[1.0, 1.0], &[0.0, 1.0]), (&[0.0, 2.0], &[1.0, 1.0])],
            [(&[0.0, 0.0], &[-1.0, -1.0]), (&[0.0, 0.0], &[-1.0, -1.0])],
        ]
    }

    fn count(tokens: &[[(&[f32], &[f32]); 2]]) -> Sparsity {
        let mut s = Sparsity::new(1, 2, 2);
        for token in tokens {
            for (h, (x, y)) in token.iter().enumerate() {
                s.observe(&head(0, h, x, y));
            }
        }
        s
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn counts_match_a_hand_computation() {
        let r = count(&hand_case()).report();
        assert_eq!(r.len(), 1);
        // x: 4 of 12 non-zero; per token 1/4, 3/4, 0 -> sorted 0, .25, .75: p10 at position
        // 0.2 = .05, p50 = .25, p90 at 1.8 = .25 + .8·.5 = .65; neuron 2 never active.
        let x = &r[0].x;
        assert!(close(x.frac_nonzero, 4.0 / 12.0));
        let [p10, p50, p90] = x.per_token_p10_p50_p90;
        assert!(
            close(p10, 0.05) && close(p50, 0.25) && close(p90, 0.65),
            "{x:?}"
        );
        assert_eq!(x.neurons_never_active, 1);
        assert!(close(x.frac_neurons_never_active, 0.25));
        // y: 5 of 12; per token .5, .75, 0 -> .1, .5, .7; every neuron active once.
        let y = &r[0].y;
        assert!(close(y.frac_nonzero, 5.0 / 12.0));
        let [p10, p50, p90] = y.per_token_p10_p50_p90;
        assert!(
            close(p10, 0.1) && close(p50, 0.5) && close(p90, 0.7),
            "{y:?}"
        );
        assert_eq!(y.neurons_never_active, 0);
        // g: 3 of 12; per token .25, .5, 0 -> .05, .25, .45; neuron 2 never active.
        let g = &r[0].g;
        assert!(close(g.frac_nonzero, 0.25));
        let [p10, p50, p90] = g.per_token_p10_p50_p90;
        assert!(
            close(p10, 0.05) && close(p50, 0.25) && close(p90, 0.45),
            "{g:?}"
        );
        assert_eq!(g.neurons_never_active, 1);
    }

    #[test]
    fn merged_parts_equal_one_count() {
        let tokens = hand_case();
        let mut first = count(&tokens[..1]);
        first.merge(count(&tokens[1..]));
        assert_eq!(first.tokens(), 3);
        assert_eq!(first.report(), count(&tokens).report());
    }

    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        let v = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 8.0);
        assert!(close(quantile(&v, 0.5), 3.0));
        assert!(close(quantile(&v, 0.9), 4.0 + 0.7 * 4.0));
        assert_eq!(quantile(&[5.0], 0.9), 5.0);
    }
}
