//! The NALSM liquid on a 3-D grid (Ivanov & Michmizos 2021, NeurIPS, arXiv:2111.01760; code
//! `combra-lab/NALSM`, `generate_spatial_network.py`; spec §3.1), after Maass, Natschläger
//! & Markram (2002):
//!
//! ```text
//! liquid: side^3 neurons on the integer grid, a random 80 % excitatory, 20 % inhibitory
//! p(a -> b) = C[kind(a)][kind(b)] · exp(-(D(a, b)/λ)^2)     D Euclidean, λ = 3, a != b
//! C_EE = 0.2, C_EI = 0.1, C_IE = 0.3, C_II = 0.05          (C_XY: from kind X to kind Y)
//! input k -> liquid i with probability 0.15, weight ±3 (random sign)
//! initial weights are the maxima: E -> * = +3, I -> * = -3
//! ```
//! The reference's fixed-weight LSM (`LSM_RUN_MAIN_SIM_MNIST.py`) instead sets every liquid
//! weight to ±`INTIAL_ABS_W_SCLR`, a value chosen per run: [`LiquidParams::w_liquid`].
//! Presynaptic neurons are numbered inputs first (`0..n_inputs`), then the liquid
//! (`n_inputs..`, grid site `x + side·(y + side·z)`); targets are liquid indices. Synapses
//! are stored by presynaptic neuron (CSR: `row_start`, `target`) with an index by
//! postsynaptic neuron (`in_start`, `in_synapse`, `source`) for the STDP terms at post
//! spikes. All draws come from one stream keyed by the seed, in a fixed order.

use engram::plasticity::astrocyte::PreKind;
use engram::rng::{self, Purpose};
use rand::RngExt;
use serde::Serialize;

use super::LsmError;

/// What defines a liquid (defaults: [`LiquidParams::paper`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiquidParams {
    /// Neurons per grid edge: 10 for NALSM1000, 20 for NALSM8000.
    pub side: usize,
    pub n_inputs: usize,
    pub excitatory_fraction: f64,
    /// λ of the distance factor exp(-(D/λ)^2), in grid units.
    pub lambda: f64,
    /// C[from][to], index 0 = excitatory, 1 = inhibitory.
    pub c: [[f64; 2]; 2],
    pub input_density: f64,
    /// Initial weight magnitude of the input synapses (the bound, 3).
    pub w_max: f64,
    /// Initial weight magnitude of the liquid's own synapses (3 in NALSM).
    pub w_liquid: f64,
}

impl LiquidParams {
    pub fn paper(side: usize, n_inputs: usize) -> LiquidParams {
        LiquidParams {
            side,
            n_inputs,
            excitatory_fraction: 0.8,
            lambda: 3.0,
            c: [[0.2, 0.1], [0.3, 0.05]],
            input_density: 0.15,
            w_max: 3.0,
            w_liquid: 3.0,
        }
    }

    pub fn n_liquid(&self) -> usize {
        self.side.pow(3)
    }

    /// The probability that liquid neuron `a` of kind `ka` connects to `b` of kind `kb` at
    /// squared grid distance `d2` (0 for a = b: no self-connections).
    pub fn connection_probability(&self, ka: usize, kb: usize, d2: usize) -> f64 {
        if d2 == 0 {
            0.0
        } else {
            self.c[ka][kb] * (-(d2 as f64) / (self.lambda * self.lambda)).exp()
        }
    }

    fn validate(&self) -> Result<(), LsmError> {
        let bad = |name: &'static str, reason: &str| Err(LsmError::invalid("liquid", name, reason));
        if self.side < 2 || self.side > 40 {
            return bad("side", "the grid edge must be 2..=40 neurons");
        }
        if self.n_inputs == 0 {
            return bad("n_inputs", "needs at least one input neuron");
        }
        let unit = |x: f64| (0.0..=1.0).contains(&x);
        if !unit(self.excitatory_fraction)
            || !unit(self.input_density)
            || !self.c.iter().flatten().all(|&c| unit(c))
        {
            return bad("c", "probabilities and fractions must lie in [0, 1]");
        }
        if !(self.lambda > 0.0 && self.lambda.is_finite()) {
            return bad("lambda", "must be positive");
        }
        if !(self.w_max > 0.0
            && self.w_max.is_finite()
            && self.w_liquid > 0.0
            && self.w_liquid <= self.w_max)
        {
            return bad(
                "w_liquid",
                "weights must be positive, the liquid's at most the bound w_max",
            );
        }
        Ok(())
    }
}

/// The structure of a built liquid: kinds, positions and the synapse tables (weights live
/// apart, in [`Liquid::weights`], because STDP changes them).
#[derive(Debug, Clone)]
pub struct Topology {
    pub n_inputs: usize,
    pub n_liquid: usize,
    pub side: usize,
    /// Kind of every presynaptic neuron (inputs, then liquid).
    pub kind: Vec<PreKind>,
    /// CSR by presynaptic neuron: synapses `row_start[j]..row_start[j + 1]`.
    pub row_start: Vec<usize>,
    /// Liquid index of each synapse's target.
    pub target: Vec<u32>,
    /// Presynaptic index of each synapse.
    pub source: Vec<u32>,
    /// Synapses into liquid neuron i: `in_synapse[in_start[i]..in_start[i + 1]]`.
    pub in_start: Vec<usize>,
    pub in_synapse: Vec<u32>,
    /// Presynaptic index of each entry of `in_synapse` (read in order at post spikes).
    pub in_source: Vec<u32>,
}

impl Topology {
    pub fn n_pre(&self) -> usize {
        self.n_inputs + self.n_liquid
    }

    pub fn synapses_of(&self, pre: usize) -> std::ops::Range<usize> {
        self.row_start[pre]..self.row_start[pre + 1]
    }

    /// The synapses into liquid neuron `post`, and their presynaptic neurons.
    pub fn synapses_into(&self, post: usize) -> (&[u32], &[u32]) {
        let range = self.in_start[post]..self.in_start[post + 1];
        (&self.in_synapse[range.clone()], &self.in_source[range])
    }

    /// Grid coordinates of liquid neuron `i`.
    pub fn position(&self, i: usize) -> [usize; 3] {
        [
            i % self.side,
            (i / self.side) % self.side,
            i / (self.side * self.side),
        ]
    }

    /// Liquid-to-liquid adjacency: (presynaptic liquid neurons, postsynaptic liquid neurons)
    /// of every liquid neuron, as the branching factor needs them.
    pub fn liquid_adjacency(&self) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
        let mut pre = vec![Vec::new(); self.n_liquid];
        let mut post = vec![Vec::new(); self.n_liquid];
        for (j, out) in post.iter_mut().enumerate() {
            for s in self.synapses_of(self.n_inputs + j) {
                let i = self.target[s];
                out.push(i);
                pre[i as usize].push(j as u32);
            }
        }
        (pre, post)
    }
}

/// A liquid: its structure and its current weights (one per synapse).
#[derive(Debug, Clone)]
pub struct Liquid {
    pub topology: Topology,
    pub weights: Vec<f64>,
}

/// Squared grid distance between liquid sites.
pub fn distance2(a: [usize; 3], b: [usize; 3]) -> usize {
    a.iter().zip(&b).map(|(&x, &y)| x.abs_diff(y).pow(2)).sum()
}

impl Liquid {
    /// Builds the liquid of `params` from `seed`.
    pub fn build(params: &LiquidParams, seed: u64) -> Result<Liquid, LsmError> {
        params.validate()?;
        let mut r = rng::stream(seed, Purpose::Connectivity, 0);
        let (n_in, n) = (params.n_inputs, params.n_liquid());
        // A random permutation of the sites; the first 80 % of it are excitatory.
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, r.random_range(0..=i));
        }
        let n_exc = (params.excitatory_fraction * n as f64).round() as usize;
        let mut liquid_kind = vec![PreKind::Inhibitory; n];
        for &site in &order[..n_exc] {
            liquid_kind[site] = PreKind::Excitatory;
        }
        let class = |k: PreKind| usize::from(k == PreKind::Inhibitory);
        let side = params.side;
        let pos = |i: usize| [i % side, (i / side) % side, i / (side * side)];

        let mut row_start = vec![0];
        let (mut target, mut source, mut weights) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..n_in {
            for i in 0..n {
                if r.random_bool(params.input_density) {
                    target.push(i as u32);
                    source.push(k as u32);
                    weights.push(if r.random_bool(0.5) {
                        params.w_max
                    } else {
                        -params.w_max
                    });
                }
            }
            row_start.push(target.len());
        }
        for a in 0..n {
            let ka = class(liquid_kind[a]);
            for (b, &kb) in liquid_kind.iter().enumerate() {
                let p = params.connection_probability(ka, class(kb), distance2(pos(a), pos(b)));
                if r.random::<f64>() < p {
                    target.push(b as u32);
                    source.push((n_in + a) as u32);
                    weights.push(if ka == 0 {
                        params.w_liquid
                    } else {
                        -params.w_liquid
                    });
                }
            }
            row_start.push(target.len());
        }
        let mut in_start = vec![0usize; n + 1];
        for &t in &target {
            in_start[t as usize + 1] += 1;
        }
        for i in 0..n {
            in_start[i + 1] += in_start[i];
        }
        let mut fill = in_start.clone();
        let mut in_synapse = vec![0u32; target.len()];
        for (s, &t) in target.iter().enumerate() {
            in_synapse[fill[t as usize]] = s as u32;
            fill[t as usize] += 1;
        }
        let in_source = in_synapse.iter().map(|&s| source[s as usize]).collect();
        let mut kind = vec![PreKind::Input; n_in];
        kind.extend(liquid_kind);
        let topology = Topology {
            n_inputs: n_in,
            n_liquid: n,
            side,
            kind,
            row_start,
            target,
            source,
            in_start,
            in_synapse,
            in_source,
        };
        Ok(Liquid { topology, weights })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections and candidate pairs, per (from kind, to kind) and squared distance.
    fn shells(l: &Liquid) -> Vec<[[(f64, f64); 2]; 2]> {
        let t = &l.topology;
        let class = |i: usize| usize::from(t.kind[t.n_inputs + i] == PreKind::Inhibitory);
        let mut out = vec![[[(0.0, 0.0); 2]; 2]; 3 * t.side * t.side];
        for a in 0..t.n_liquid {
            for b in 0..t.n_liquid {
                out[distance2(t.position(a), t.position(b))][class(a)][class(b)].1 += 1.0;
            }
            for s in t.synapses_of(t.n_inputs + a) {
                let b = t.target[s] as usize;
                out[distance2(t.position(a), t.position(b))][class(a)][class(b)].0 += 1.0;
            }
        }
        out
    }

    /// |observed - expected| within 5 binomial standard deviations: a correct builder fails
    /// this with probability below 6e-7 per check.
    fn within_5_sd(observed: f64, trials: f64, p: f64, what: &str) {
        let (mean, sd) = (trials * p, (trials * p * (1.0 - p)).sqrt());
        assert!(
            (observed - mean).abs() <= 5.0 * sd,
            "{what}: {observed} connections, expected {mean} ± {sd}"
        );
    }

    #[test]
    fn connection_probabilities_match_the_spec_at_distance_1_and_overall() {
        let params = LiquidParams::paper(10, 784);
        let p1 = |a, b| params.connection_probability(a, b, 1);
        for ((a, b), want) in [
            ((0, 0), 0.1789679),
            ((0, 1), 0.0894839),
            ((1, 0), 0.2684518),
            ((1, 1), 0.0447420),
        ] {
            assert!((p1(a, b) - want).abs() < 5e-8, "{a}{b}: {}", p1(a, b));
        }
        let mut totals = [[(0.0, 0.0); 2]; 2];
        for seed in 0..3 {
            let l = Liquid::build(&params, seed).unwrap();
            let t = &l.topology;
            let n_exc = t.kind.iter().filter(|&&k| k == PreKind::Excitatory).count();
            assert_eq!(n_exc, 800);
            let s = shells(&l);
            for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let (k, n) = s[1][a][b];
                within_5_sd(
                    k,
                    n,
                    p1(a, b),
                    &format!("seed {seed}, kinds {a}{b}, distance 1"),
                );
                totals[a][b].0 += s.iter().map(|sh| sh[a][b].0).sum::<f64>();
                // Expected count over all distances: sum over shells of trials x p, with the
                // binomial variance summed likewise.
                totals[a][b].1 += s
                    .iter()
                    .enumerate()
                    .map(|(d2, sh)| sh[a][b].1 * params.connection_probability(a, b, d2))
                    .sum::<f64>();
            }
            // Input projection: 784 x 1000 Bernoulli(0.15) trials, signs ±3 half and half.
            let n_input_syn = t.row_start[t.n_inputs] as f64;
            within_5_sd(n_input_syn, 784_000.0, 0.15, "input synapses");
            let positive = l.weights[..t.row_start[t.n_inputs]]
                .iter()
                .filter(|&&w| w == 3.0)
                .count() as f64;
            within_5_sd(positive, n_input_syn, 0.5, "positive input weights");
            for j in 0..t.n_pre() {
                let want = match t.kind[j] {
                    PreKind::Excitatory => Some(3.0),
                    PreKind::Inhibitory => Some(-3.0),
                    PreKind::Input => None,
                };
                assert!(
                    t.synapses_of(j).all(
                        |s| want.is_none_or(|w| l.weights[s] == w) && t.source[s] as usize == j
                    )
                );
            }
        }
        for (a, b) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let (k, mean) = totals[a][b];
            // Poisson-binomial: the variance is below the mean.
            assert!(
                (k - mean).abs() <= 5.0 * mean.sqrt(),
                "kinds {a}{b}: {k} connections, expected {mean}"
            );
        }
    }

    #[test]
    fn the_post_index_lists_every_synapse_once_and_the_build_is_seeded() {
        let params = LiquidParams::paper(4, 20);
        let l = Liquid::build(&params, 7).unwrap();
        let t = &l.topology;
        let mut seen = vec![false; t.target.len()];
        for i in 0..t.n_liquid {
            let (synapses, sources) = t.synapses_into(i);
            for (&s, &j) in synapses.iter().zip(sources) {
                assert_eq!(
                    (t.target[s as usize] as usize, t.source[s as usize]),
                    (i, j)
                );
                assert!(!std::mem::replace(&mut seen[s as usize], true));
            }
        }
        assert!(seen.iter().all(|&s| s));
        let again = Liquid::build(&params, 7).unwrap();
        assert_eq!(
            (&again.topology.target, &again.weights),
            (&t.target, &l.weights)
        );
        assert_ne!(Liquid::build(&params, 8).unwrap().topology.target, t.target);
        assert!(Liquid::build(&LiquidParams { side: 1, ..params }, 7).is_err());
    }
}
