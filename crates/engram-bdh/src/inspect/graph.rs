//! The parameter graph (`shared/specs/bdh.md` §6 item 3, §8.8; the paper's §5.5): per head
//! block, the neuron–neuron matrices the weights define through the D-dimensional bottleneck,
//!
//! ```text
//! G_x[i, j] = Σ_d encoder[h][d, i] · decoder[h·N + j, d]        (paper G_x = D_x E)
//! G_y[i, j] = Σ_d encoder_v[h][d, i] · decoder[h·N + j, d]      (paper G_y = D_y E)
//! ```
//!
//! `N × N` per head: neuron `j` of the head fires into the residual through the decoder and
//! neuron `i` reads it back through the encoder, so row `i` lists the neurons that drive `i`.
//! The reference's `graph_probe.py` reports each block's skewness and keeps the largest
//! entries of each row (the right tail it reads as signal); here the same skewness and the `k`
//! largest entries of every row, one head at a time (`N²` floats).

use candle_core::{Result, Tensor};
use serde::Serialize;

use super::sigma;
use crate::config::BdhConfig;
use crate::model::Params;

/// Which encoder the graph goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `G_x`, through `encoder` (paper `D_x`).
    X,
    /// `G_y`, through `encoder_v` (paper `D_y`).
    Y,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::X => "G_x",
            Side::Y => "G_y",
        }
    }
}

/// An entry of a head block: `row` and `column` within the head (`0..N`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockEdge {
    pub head: usize,
    pub row: u32,
    pub column: u32,
    pub weight: f64,
}

/// Head `h`'s block of `G` as a row-major `N × N` matrix.
pub fn block(config: &BdhConfig, params: &Params, side: Side, head: usize) -> Result<Vec<f32>> {
    let (d, n) = (config.n_embd, config.neurons_per_head());
    let encoder = match side {
        Side::X => &params.encoder,
        Side::Y => &params.encoder_v,
    };
    let enc = encoder.as_tensor().get(head)?; // (D, N)
    let dec: Tensor = params.decoder.as_tensor().narrow(0, head * n, n)?; // (N, D)
    debug_assert_eq!(enc.dims(), [d, n]);
    enc.t()?
        .contiguous()?
        .matmul(&dec.t()?.contiguous()?)?
        .flatten_all()?
        .to_vec1::<f32>()
}

/// The distribution of a block's entries: mean, standard deviation (population) and skewness
/// `mean(((G − mean)/std)³)`, as `graph_probe.py` reports them. The reference found G_x's
/// skew near 0 at initialisation and 0.50–0.85 after its 300-step anchor training, G_y's
/// 0.05–0.09 (spec §8.8).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tails {
    pub mean: f64,
    pub std: f64,
    pub skew: f64,
}

/// The [`Tails`] of `values`.
pub fn tails(values: &[f32]) -> Tails {
    let count = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
    let moment = |p: i32| {
        values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(p))
            .sum::<f64>()
            / count
    };
    let std = moment(2).sqrt();
    Tails {
        mean,
        std,
        skew: moment(3) / std.powi(3),
    }
}

/// The `k` largest entries of every row of head `head`'s block `g` (`N × N`), rows in order.
pub fn top_edges(g: &[f32], n: usize, head: usize, k: usize) -> Vec<BlockEdge> {
    let mut edges = Vec::new();
    let mut row = vec![0.0; n];
    for (i, values) in g.chunks_exact(n).enumerate() {
        for (r, &v) in row.iter_mut().zip(values) {
            *r = f64::from(v);
        }
        edges.extend(
            sigma::top_k(&row, k, f64::NEG_INFINITY)
                .into_iter()
                .map(|(j, weight)| BlockEdge {
                    head,
                    row: i as u32,
                    column: j,
                    weight,
                }),
        );
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn tails_of_a_two_point_distribution() {
        // 0, 0, 0, 4: mean 1, variance 3, skew (1 − 2p)/√(p(1 − p)) with p = 1/4 = 2/√3.
        let t = tails(&[0.0, 0.0, 0.0, 4.0]);
        assert_eq!(t.mean, 1.0);
        assert!((t.std - 3f64.sqrt()).abs() < 1e-15);
        assert!((t.skew - 2.0 / 3f64.sqrt()).abs() < 1e-14, "{t:?}");
    }

    #[test]
    fn blocks_are_the_products_of_their_definition() {
        let config = BdhConfig {
            n_layer: 1,
            n_embd: 3,
            n_head: 2,
            mult: 4,
            dropout: 0.0,
        };
        let (d, n) = (3, 6);
        let params = Params::init(&config, &mut Xoshiro256PlusPlus::seed_from_u64(1), 1.0).unwrap();
        let flat = |v: &candle_core::Var| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let (enc, enc_v, dec) = (
            flat(&params.encoder),
            flat(&params.encoder_v),
            flat(&params.decoder),
        );
        for (side, e) in [(Side::X, &enc), (Side::Y, &enc_v)] {
            for h in 0..2 {
                let g = block(&config, &params, side, h).unwrap();
                for i in 0..n {
                    for j in 0..n {
                        let direct: f32 = (0..d)
                            .map(|k| e[h * d * n + k * n + i] * dec[(h * n + j) * d + k])
                            .sum();
                        assert!((g[i * n + j] - direct).abs() < 1e-5, "{side:?} {h} {i} {j}");
                    }
                }
            }
            let g1 = block(&config, &params, side, 1).unwrap();
            let edges = top_edges(&g1, n, 1, 2);
            assert_eq!(edges.len(), n * 2);
            let first = edges.iter().find(|e| e.row == 4).unwrap();
            let largest = g1[4 * n..5 * n].iter().copied().fold(f32::MIN, f32::max);
            assert_eq!((first.head, first.weight as f32), (1, largest));
        }
    }
}
