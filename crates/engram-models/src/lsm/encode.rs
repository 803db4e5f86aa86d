//! NALSM's input encoding and readout features (Ivanov & Michmizos 2021; code
//! `NALSM_RUN_MAIN_SIM_MNIST.py`; spec §3.3, §3.5):
//!
//! ```text
//! input:    p_k = (pixel_k / sum_k pixel_k) · s,   s = 1 / max over the dataset of that ratio
//!           each ms, input neuron k gets I_in = 100 with probability p_k
//! features: f_i = (c_i / sum_i c_i) / m,   c_i = spikes of liquid neuron i over the sample,
//!           m = the largest c_i / sum c over the training samples
//! ```
//! Features are stored as the spike counts (`u8`) with one scale factor per sample, and
//! expanded a row at a time.

use super::sim::Drive;

/// The scale s that makes the dataset's largest pixel-over-pixel-sum equal 1 (`images` is
/// `[count, size]` bytes).
pub fn probability_scale(images: &[u8], size: usize) -> f64 {
    let largest = images
        .chunks_exact(size)
        .filter_map(|im| {
            let sum: u32 = im.iter().map(|&p| u32::from(p)).sum();
            (sum > 0)
                .then(|| f64::from(*im.iter().max().expect("non-empty image")) / f64::from(sum))
        })
        .fold(0.0, f64::max);
    if largest > 0.0 { 1.0 / largest } else { 1.0 }
}

/// One image's drive: the non-zero pixels with their probabilities (clipped to 1 for images
/// outside the dataset that set the scale).
pub fn drive(image: &[u8], scale: f64) -> Drive {
    let sum: u32 = image.iter().map(|&p| u32::from(p)).sum();
    let inputs = image
        .iter()
        .enumerate()
        .filter(|&(_, &p)| p > 0)
        .map(|(k, &p)| (k as u32, (f64::from(p) / f64::from(sum) * scale).min(1.0)))
        .collect();
    Drive { inputs }
}

/// Spike-count features of a set of samples: `[count, dim]` counts and per-sample scales.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub dim: usize,
    pub counts: Vec<u8>,
    pub labels: Vec<u8>,
    /// 1 / sum of the row's counts (0 for a silent sample), before the dataset factor.
    pub l1: Vec<f64>,
    /// 1 / m, shared by all the sets read out with the same training set.
    pub factor: f64,
}

impl Features {
    pub fn new(dim: usize, rows: Vec<Vec<u8>>, labels: Vec<u8>) -> Features {
        let l1 = rows
            .iter()
            .map(|r| {
                let sum: u64 = r.iter().map(|&c| u64::from(c)).sum();
                if sum == 0 { 0.0 } else { 1.0 / sum as f64 }
            })
            .collect();
        let counts = rows.into_iter().flatten().collect();
        Features {
            dim,
            counts,
            labels,
            l1,
            factor: 1.0,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// m of the spec: the largest L1-normalised feature of these samples.
    pub fn largest(&self) -> f64 {
        (0..self.len())
            .map(|r| f64::from(*self.raw(r).iter().max().unwrap_or(&0)) * self.l1[r])
            .fold(0.0, f64::max)
    }

    fn raw(&self, r: usize) -> &[u8] {
        &self.counts[r * self.dim..(r + 1) * self.dim]
    }

    /// Writes row `r`'s features into `out` (length `dim`).
    pub fn row(&self, r: usize, out: &mut [f64]) {
        let k = self.l1[r] * self.factor;
        for (o, &c) in out.iter_mut().zip(self.raw(r)) {
            *o = f64::from(c) * k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brightest_relative_pixel_of_the_dataset_fires_every_step() {
        let images = [0, 10, 30, 0, /* second image */ 5, 5, 5, 5];
        let s = probability_scale(&images, 4);
        assert!((s - 40.0 / 30.0).abs() < 1e-12);
        let d = drive(&images[..4], s);
        assert_eq!(d.inputs.len(), 2);
        assert_eq!(d.inputs[1], (2, 1.0));
        assert!((d.inputs[0].1 - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn features_are_l1_normalised_then_divided_by_the_training_maximum() {
        let mut f = Features::new(
            3,
            vec![vec![1, 1, 2], vec![0, 0, 0], vec![3, 0, 1]],
            vec![0, 1, 2],
        );
        assert_eq!(f.largest(), 0.75);
        f.factor = 1.0 / f.largest();
        let mut row = [0.0; 3];
        f.row(2, &mut row);
        assert_eq!(row, [1.0, 0.0, 1.0 / 3.0]);
        f.row(1, &mut row);
        assert_eq!(row, [0.0; 3]);
    }
}
