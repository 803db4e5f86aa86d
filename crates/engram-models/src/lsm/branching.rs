//! The branching factor of a liquid, NALSM's measure of criticality (Ivanov & Michmizos
//! 2021, arXiv:2111.01760; code `combra-lab/NALSM`, `compute_branching_factor.py` and
//! `get_branching_factor.py`; spec §3.5):
//!
//! ```text
//! for liquid neuron j and each of its spikes at t, buffer + w <= t < T - buffer - w:
//!   pre(t)  = spikes of j's presynaptic liquid neurons in [t - w, t)
//!   post(t) = spikes of j's postsynaptic liquid neurons in [t + 1, t + 1 + w)
//!   ratio   = post(t) / max(pre(t), 1)
//! BF_j      = mean of the ratios over j's spikes (undefined without spikes)
//! BF_sample = mean of BF_j over the neurons where it is defined
//! BF        = mean over samples
//! ```
//! with w = 4 ms, buffer = 25 ms, and only the spikes in [buffer, T - buffer) counted (the
//! reference drops the others before counting). A value near 1 is the critical regime; above
//! 1 activity grows from step to step, below 1 it dies out.

use serde::Serialize;

/// Window and buffer (defaults: the reference's 4 and 25 ms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BranchingParams {
    pub window: usize,
    pub buffer: usize,
}

impl Default for BranchingParams {
    fn default() -> BranchingParams {
        BranchingParams {
            window: 4,
            buffer: 25,
        }
    }
}

/// The branching factor of one sample: `raster[t]` lists the liquid neurons that spiked at
/// step t; `pre[j]` and `post[j]` are j's presynaptic and postsynaptic liquid neurons.
/// `None` if no neuron spiked inside the window.
pub fn sample_branching_factor(
    raster: &[Vec<u32>],
    pre: &[Vec<u32>],
    post: &[Vec<u32>],
    p: BranchingParams,
) -> Option<f64> {
    let (n, steps) = (pre.len(), raster.len());
    let kept = p.buffer..steps.saturating_sub(p.buffer);
    // cum[j * (steps + 1) + t]: spikes of j in [buffer, t) ∩ kept.
    let stride = steps + 1;
    let mut cum = vec![0u32; n * stride];
    for (t, fired) in raster.iter().enumerate() {
        if kept.contains(&t) {
            for &j in fired {
                cum[j as usize * stride + t + 1] += 1;
            }
        }
    }
    for j in 0..n {
        for t in 0..steps {
            cum[j * stride + t + 1] += cum[j * stride + t];
        }
    }
    let count = |js: &[u32], from: usize, to: usize| -> u32 {
        js.iter()
            .map(|&j| cum[j as usize * stride + to] - cum[j as usize * stride + from])
            .sum()
    };
    let mut sums = vec![(0.0f64, 0u32); n];
    let first = p.buffer + p.window;
    let last = steps.saturating_sub(p.buffer + p.window);
    for (t, fired) in raster.iter().enumerate().take(last).skip(first) {
        for &j in fired {
            let j = j as usize;
            let before = count(&pre[j], t - p.window, t);
            let after = count(&post[j], t + 1, t + 1 + p.window);
            sums[j].0 += f64::from(after) / f64::from(before.max(1));
            sums[j].1 += 1;
        }
    }
    let per_neuron: Vec<f64> = sums
        .iter()
        .filter(|s| s.1 > 0)
        .map(|&(s, k)| s / f64::from(k))
        .collect();
    (!per_neuron.is_empty()).then(|| per_neuron.iter().sum::<f64>() / per_neuron.len() as f64)
}

/// The mean over the samples where the branching factor is defined.
pub fn mean_defined(values: &[Option<f64>]) -> Option<f64> {
    let v: Vec<f64> = values.iter().flatten().copied().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary tree 0 -> {1, 2}, 1 -> {3, 4}, 2 -> {5, 6}, adjacency as (pre, post).
    fn tree() -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
        let post = vec![
            vec![1, 2],
            vec![3, 4],
            vec![5, 6],
            vec![],
            vec![],
            vec![],
            vec![],
        ];
        let mut pre = vec![Vec::new(); 7];
        for (j, targets) in post.iter().enumerate() {
            for &i in targets {
                pre[i as usize].push(j as u32);
            }
        }
        (pre, post)
    }

    #[test]
    fn a_binary_tree_cascade_has_the_analytic_branching_factor() {
        let (pre, post) = tree();
        // Cascades at 50 and 120: the root, its two children a step later, the four leaves a
        // step after. Root and middle neurons see 2 spikes after 1 (or, for the root, 0)
        // before: ratio 2; leaves see 0 after: ratio 0. Mean over the 7 neurons: 6/7.
        let mut raster = vec![Vec::new(); 250];
        for start in [50, 120] {
            raster[start] = vec![0];
            raster[start + 1] = vec![1, 2];
            raster[start + 2] = vec![3, 4, 5, 6];
        }
        // A cascade inside the 25 ms buffer is not counted at all.
        raster[10] = vec![0];
        raster[11] = vec![1];
        let bf = sample_branching_factor(&raster, &pre, &post, BranchingParams::default()).unwrap();
        assert!((bf - 6.0 / 7.0).abs() < 1e-15, "{bf}");
    }

    #[test]
    fn more_pre_spikes_divide_and_neurons_without_spikes_do_not_count() {
        let (pre, post) = tree();
        // Leaf 3 receives from 1 only; 1 spikes at 60 and 62, then 3 at 63: pre count 2.
        // 1's spikes: at 60, post 3 in [61, 65) -> 1; at 62 -> 1 (pre 0 both times): BF_1 = 1.
        // 3: pre = 2 (1 at 60 and 62 in [59, 63)), post none: 0. Mean (1 + 0)/2 = 0.5.
        let mut raster = vec![Vec::new(); 250];
        raster[60] = vec![1];
        raster[62] = vec![1];
        raster[63] = vec![3];
        let bf = sample_branching_factor(&raster, &pre, &post, BranchingParams::default()).unwrap();
        assert_eq!(bf, 0.5);
        assert_eq!(
            sample_branching_factor(
                &vec![Vec::new(); 250],
                &pre,
                &post,
                BranchingParams::default()
            ),
            None
        );
        assert_eq!(mean_defined(&[Some(1.0), None, Some(2.0)]), Some(1.5));
    }
}
