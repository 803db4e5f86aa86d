//! Connectivity rules: which (pre, post) pairs a projection connects, and the synapses'
//! weights and delays. Multi-edges are kept. Everything is drawn from streams keyed by
//! (seed, projection, presynaptic neuron), so the result does not depend on threads.

use rand::RngExt;

use crate::rng::{self, Purpose};
use crate::spec::{ConnectRule, ProjectionSpec, WeightSpec};

/// Synapses of one projection in CSR order (grouped by presynaptic neuron, in the order
/// each rule generates them).
pub struct Synapses {
    /// `row_start[i]..row_start[i+1]` are the synapses of presynaptic neuron i.
    pub row_start: Vec<u64>,
    pub post: Vec<u32>,
    pub weight: Vec<f32>,
    /// Delay in steps (>= 1).
    pub delay: Vec<u32>,
}

/// Draws the synapses of projection `index`.
pub fn build(spec: &ProjectionSpec, index: usize, n_pre: usize, n_post: usize, seed: u64, dt: f64) -> Synapses {
    let key = |i: usize| ((index as u64) << 32) | i as u64;
    let mut row_start = Vec::with_capacity(n_pre + 1);
    let mut post: Vec<u32> = Vec::new();
    row_start.push(0);
    match &spec.connect {
        ConnectRule::AllToAll { autapses } => {
            for i in 0..n_pre {
                post.extend((0..n_post as u32).filter(|&j| *autapses || j as usize != i));
                row_start.push(post.len() as u64);
            }
        }
        ConnectRule::FixedProbability { p, autapses } => {
            let p = *p;
            for i in 0..n_pre {
                let mut r = rng::stream(seed, Purpose::Connectivity, key(i));
                if p >= 1.0 {
                    post.extend(0..n_post as u32);
                } else if p > 0.0 {
                    // Geometric skipping: the gap to the next connected neuron is
                    // Geometric(p), so the cost is proportional to the synapses made.
                    let log_q = (1.0 - p).ln();
                    let mut j: f64 = -1.0;
                    loop {
                        let u: f64 = r.random::<f64>();
                        j += ((1.0 - u).ln() / log_q).floor() + 1.0;
                        if j >= n_post as f64 {
                            break;
                        }
                        post.push(j as u32);
                    }
                }
                if !autapses {
                    let start = *row_start.last().unwrap() as usize;
                    let mut k = start;
                    for m in start..post.len() {
                        if post[m] as usize != i {
                            post[k] = post[m];
                            k += 1;
                        }
                    }
                    post.truncate(k);
                }
                row_start.push(post.len() as u64);
            }
        }
        ConnectRule::FixedInDegree { k, autapses } => {
            // Drawn per postsynaptic neuron, then sorted by presynaptic neuron (stable).
            let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(n_post * k);
            for j in 0..n_post {
                let mut r = rng::stream(seed, Purpose::Connectivity, key(j));
                let mut made = 0;
                while made < *k {
                    let i = r.random_range(0..n_pre as u32);
                    if !*autapses && i as usize == j {
                        continue;
                    }
                    pairs.push((i, j as u32));
                    made += 1;
                }
            }
            fill_by_pre(&pairs, n_pre, &mut row_start, &mut post);
        }
        ConnectRule::OneToOne => {
            for i in 0..n_pre {
                post.push(i as u32);
                row_start.push(post.len() as u64);
            }
        }
        ConnectRule::Explicit { pre, post: posts } => {
            let pairs: Vec<(u32, u32)> = pre.iter().copied().zip(posts.iter().copied()).collect();
            fill_by_pre(&pairs, n_pre, &mut row_start, &mut post);
        }
    }
    let mut weight = Vec::with_capacity(post.len());
    let mut delay = Vec::with_capacity(post.len());
    for i in 0..n_pre {
        let len = (row_start[i + 1] - row_start[i]) as usize;
        if len == 0 {
            continue;
        }
        let mut rw = rng::stream(seed, Purpose::Weights, key(i));
        let mut rd = rng::stream(seed, Purpose::Delays, key(i));
        for &j in &post[row_start[i] as usize..row_start[i + 1] as usize] {
            let w = match &spec.weight {
                WeightSpec::Value(v) => v.sample(&mut rw),
                WeightSpec::Matrix(m) => m.values[i * n_post + j as usize],
            };
            weight.push(w as f32);
            delay.push(delay_steps(spec.delay.sample(&mut rd), dt));
        }
    }
    Synapses { row_start, post, weight, delay }
}

/// A delay in steps, at least one (the spec loader refuses delays shorter than dt).
pub fn delay_steps(delay: f64, dt: f64) -> u32 {
    ((delay / dt).round() as u32).max(1)
}

fn fill_by_pre(pairs: &[(u32, u32)], n_pre: usize, row_start: &mut Vec<u64>, post: &mut Vec<u32>) {
    let mut counts = vec![0u64; n_pre + 1];
    for &(i, _) in pairs {
        counts[i as usize + 1] += 1;
    }
    for i in 0..n_pre {
        counts[i + 1] += counts[i];
    }
    let mut fill = counts.clone();
    post.resize(pairs.len(), 0);
    for &(i, j) in pairs {
        post[fill[i as usize] as usize] = j;
        fill[i as usize] += 1;
    }
    row_start.clear();
    row_start.extend_from_slice(&counts);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ValueSpec;
    use crate::synapses::SynapseModel;

    fn projection(connect: ConnectRule) -> ProjectionSpec {
        ProjectionSpec {
            name: "p".into(),
            pre: "a".into(),
            post: "b".into(),
            connect,
            weight: WeightSpec::Value(ValueSpec::Fixed(1.0)),
            delay: ValueSpec::Uniform { low: 0.1, high: 2.0 },
            synapse: SynapseModel::ExpCurrent { tau: 5.0 },
            channel: None,
            plasticity: None,
        }
    }

    #[test]
    fn fixed_probability_gives_binomial_counts() {
        let (n, p) = (2000, 0.02);
        let s = build(&projection(ConnectRule::FixedProbability { p, autapses: true }), 0, n, n, 3, 0.1);
        let count = s.post.len() as f64;
        let mean = (n * n) as f64 * p;
        let sd = (mean * (1.0 - p)).sqrt();
        assert!((count - mean).abs() < 5.0 * sd, "{count} synapses, expected {mean} +- {sd}");
        assert!(s.post.iter().all(|&j| (j as usize) < n));
        assert_eq!(*s.row_start.last().unwrap() as usize, s.post.len());
    }

    #[test]
    fn no_autapses_when_excluded_and_fixed_in_degree_is_exact() {
        let n = 300;
        let s = build(&projection(ConnectRule::FixedProbability { p: 0.5, autapses: false }), 1, n, n, 3, 0.1);
        for i in 0..n {
            let row = &s.post[s.row_start[i] as usize..s.row_start[i + 1] as usize];
            assert!(!row.contains(&(i as u32)));
        }
        let s = build(&projection(ConnectRule::FixedInDegree { k: 7, autapses: false }), 2, n, n, 3, 0.1);
        let mut indeg = vec![0; n];
        for &j in &s.post {
            indeg[j as usize] += 1;
        }
        assert!(indeg.iter().all(|&d| d == 7));
    }

    #[test]
    fn delays_are_rounded_to_steps_within_their_range() {
        let s = build(&projection(ConnectRule::AllToAll { autapses: true }), 0, 50, 50, 3, 0.1);
        assert!(s.delay.iter().all(|&d| (1..=20).contains(&d)));
        assert!(s.delay.iter().any(|&d| d > 10));
    }
}
