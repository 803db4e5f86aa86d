//! A text read by the recurrent form (`shared/specs/bdh.md` §2.4), keeping what the neuron
//! graph needs: per layer `l` and token `t` the non-zero entries of the neuron activity
//! `x_{t,l} = ReLU(v_t^{l−1} · encoder[h])` (before the rotation) and of the gated activity
//! `g_{t,l} = x_{t,l} ⊙ ReLU(LN(a_t) · encoder_v[h])`, heads concatenated head-major
//! (neuron `i = h·N + k`, the decoder's order), together with the synaptic state
//! `S_{l,h} = Σ_t R_t x_{t,l,h}ᵀ · v_t^{l−1}` left after the last token.
//!
//! Both vectors are ReLU outputs, so only their non-zero entries are kept (row-compressed,
//! one row per token); on the trained anchor model `x` is about 30 % and `g` 10 % active
//! (§8.6).

use crate::recurrent::{HeadActivity, Recurrent, State};

/// The non-zero entries of a `[T, width]` activity, row by row (compressed sparse rows).
#[derive(Clone, Debug, PartialEq)]
pub struct SparseRows {
    pub width: usize,
    offsets: Vec<usize>,
    index: Vec<u32>,
    value: Vec<f32>,
}

impl SparseRows {
    /// No rows yet.
    pub fn new(width: usize) -> Self {
        SparseRows {
            width,
            offsets: vec![0],
            index: Vec::new(),
            value: Vec::new(),
        }
    }

    /// Appends the non-zero entries of `dense` at columns `start..start + dense.len()` to the
    /// row being built (columns must come in increasing order).
    pub fn extend_row(&mut self, start: usize, dense: impl IntoIterator<Item = f32>) {
        for (k, v) in dense.into_iter().enumerate() {
            if v != 0.0 {
                self.index.push((start + k) as u32);
                self.value.push(v);
            }
        }
    }

    /// Closes the row being built.
    pub fn end_row(&mut self) {
        self.offsets.push(self.index.len());
    }

    /// The number of closed rows.
    pub fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The columns and values of row `t`.
    pub fn row(&self, t: usize) -> (&[u32], &[f32]) {
        let r = self.offsets[t]..self.offsets[t + 1];
        (&self.index[r.clone()], &self.value[r])
    }

    /// Row `t`, dense.
    pub fn dense_row(&self, t: usize) -> Vec<f32> {
        let mut out = vec![0.0; self.width];
        let (index, value) = self.row(t);
        for (&i, &v) in index.iter().zip(value) {
            out[i as usize] = v;
        }
        out
    }

    /// The column-compressed form: for every column, the rows where it is non-zero and the
    /// values there, rows in increasing order.
    pub fn columns(&self) -> Vec<Vec<(u32, f32)>> {
        let mut columns = vec![Vec::new(); self.width];
        for t in 0..self.rows() {
            let (index, value) = self.row(t);
            for (&i, &v) in index.iter().zip(value) {
                columns[i as usize].push((t as u32, v));
            }
        }
        columns
    }
}

/// The sparse activity of every layer for one text (layers from 0).
pub struct Trace {
    pub x: Vec<SparseRows>,
    pub g: Vec<SparseRows>,
}

impl Trace {
    /// The number of tokens read.
    pub fn tokens(&self) -> usize {
        self.x.first().map_or(0, SparseRows::rows)
    }
}

/// Reads `text` from an empty state, recording the activity and returning the final state.
pub fn read(recurrent: &Recurrent, text: &[u8]) -> (Trace, State) {
    let config = recurrent.config();
    let (layers, heads, n) = (config.n_layer, config.n_head, config.neurons_per_head());
    let mut trace = Trace {
        x: vec![SparseRows::new(heads * n); layers],
        g: vec![SparseRows::new(heads * n); layers],
    };
    let mut state = recurrent.state();
    let mut logits = vec![0.0; crate::config::VOCAB];
    for &byte in text {
        recurrent.step_observed(&mut state, byte, &mut logits, |a: &HeadActivity| {
            let start = a.head * n;
            let x = &mut trace.x[a.layer];
            x.extend_row(start, a.x.iter().copied());
            let g = &mut trace.g[a.layer];
            g.extend_row(
                start,
                a.x.iter().zip(a.y_pre).map(|(&x, &y)| x * y.max(0.0)),
            );
            if a.head + 1 == heads {
                x.end_row();
                g.end_row();
            }
        });
    }
    (trace, state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_the_non_zero_entries_and_transpose() {
        let mut rows = SparseRows::new(5);
        rows.extend_row(0, [0.0, 2.0]);
        rows.extend_row(2, [0.0, 0.0, 3.0]);
        rows.end_row();
        rows.end_row();
        rows.extend_row(0, [1.0, 0.0, 0.0, 0.0, 4.0]);
        rows.end_row();
        assert_eq!(rows.rows(), 3);
        assert_eq!(rows.row(0), (&[1u32, 4][..], &[2.0f32, 3.0][..]));
        assert_eq!(rows.row(1), (&[][..], &[][..]));
        assert_eq!(rows.dense_row(2), vec![1.0, 0.0, 0.0, 0.0, 4.0]);
        let columns = rows.columns();
        assert_eq!(columns[0], vec![(2, 1.0)]);
        assert_eq!(columns[4], vec![(0, 3.0), (2, 4.0)]);
        assert!(columns[3].is_empty());
    }
}
