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
//! The reference's `graph_probe.py` keeps the largest entries of each row (the right tail it
//! reads as signal); here the `k` largest of every row, one head at a time (`N²` floats).

use candle_core::{Result, Tensor};

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

/// The `k` largest entries of every row of every head block, heads and rows in order.
pub fn top_edges(
    config: &BdhConfig,
    params: &Params,
    side: Side,
    k: usize,
) -> Result<Vec<BlockEdge>> {
    let n = config.neurons_per_head();
    let mut edges = Vec::new();
    for head in 0..config.n_head {
        let g = block(config, params, side, head)?;
        let mut row = vec![0.0; n];
        for (i, values) in g.chunks_exact(n).enumerate() {
            for (r, &v) in row.iter_mut().zip(values) {
                *r = f64::from(v);
            }
            edges.extend(sigma::top_k(&row, k, f64::NEG_INFINITY).into_iter().map(
                |(j, weight)| BlockEdge {
                    head,
                    row: i as u32,
                    column: j,
                    weight,
                },
            ));
        }
    }
    Ok(edges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

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
            let edges = top_edges(&config, &params, side, 2).unwrap();
            assert_eq!(edges.len(), 2 * n * 2);
            let g1 = block(&config, &params, side, 1).unwrap();
            let first = edges.iter().find(|e| e.head == 1 && e.row == 4).unwrap();
            let largest = g1[4 * n..5 * n].iter().copied().fold(f32::MIN, f32::max);
            assert_eq!(first.weight as f32, largest);
        }
    }
}
