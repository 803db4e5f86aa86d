//! The element-wise parts of the fused BDH layer ([`crate::attention`]): the gate and its
//! backward, LayerNorm and its backward. Written so that they vectorise.

use crate::model::LN_EPS;

/// `g = ReLU(xpre) ⊙ ReLU(ypre) ⊙ mask`.
pub(crate) fn gate(g: &mut [f32], xpre: &[f32], ypre: &[f32], mask: Option<&[f32]>) {
    let pairs = g.iter_mut().zip(xpre.iter().zip(ypre));
    match mask {
        Some(mask) => pairs
            .zip(mask)
            .for_each(|((g, (x, y)), m)| *g = x.max(0.0) * y.max(0.0) * m),
        None => pairs.for_each(|(g, (x, y))| *g = x.max(0.0) * y.max(0.0)),
    }
}

/// From `∂G` (in `dx`): `∂X` (in place) and `∂Ypre`.
pub(crate) fn gate_backward(
    dx: &mut [f32],
    dypre: &mut [f32],
    xpre: &[f32],
    ypre: &[f32],
    mask: &[f32],
) {
    for ((((dx, dy), x), y), m) in dx.iter_mut().zip(dypre).zip(xpre).zip(ypre).zip(mask) {
        let gm = *dx * m;
        *dx = gm * y.max(0.0);
        *dy = if *y > 0.0 { gm * x.max(0.0) } else { 0.0 };
    }
}

/// [`gate_backward`] without dropout.
pub(crate) fn gate_backward_unmasked(
    dx: &mut [f32],
    dypre: &mut [f32],
    xpre: &[f32],
    ypre: &[f32],
) {
    for (((dx, dy), x), y) in dx.iter_mut().zip(dypre).zip(xpre).zip(ypre) {
        let gm = *dx;
        *dx = gm * y.max(0.0);
        *dy = if *y > 0.0 { gm * x.max(0.0) } else { 0.0 };
    }
}

/// `Σ f(i)` over `0..len` in eight interleaved partial sums (a sequential float sum does not
/// vectorise), `len` a multiple of 8 or the tail summed at the end.
fn lane_sum(len: usize, f: impl Fn(usize) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let whole = len - len % 8;
    for base in (0..whole).step_by(8) {
        for (j, lane) in lanes.iter_mut().enumerate() {
            *lane += f(base + j);
        }
    }
    let tail: f32 = (whole..len).map(&f).sum();
    lanes.iter().sum::<f32>() + tail
}

/// LayerNorm of `row` in place (no affine, biased variance); returns `1/σ`.
pub(crate) fn layer_norm(row: &mut [f32]) -> f32 {
    let len = row.len() as f32;
    let mean = lane_sum(row.len(), |i| row[i]) / len;
    let var = lane_sum(row.len(), |i| (row[i] - mean) * (row[i] - mean)) / len;
    let inv = 1.0 / (var + LN_EPS as f32).sqrt();
    row.iter_mut().for_each(|x| *x = (*x - mean) * inv);
    inv
}

/// Turns `grad` (with respect to the normalised row `normed`) into the gradient with respect
/// to the row before normalisation.
pub(crate) fn layer_norm_backward(grad: &mut [f32], normed: &[f32], inv_sigma: f32) {
    let len = grad.len() as f32;
    let mean = lane_sum(grad.len(), |i| grad[i]) / len;
    let mean_dot = lane_sum(grad.len(), |i| grad[i] * normed[i]) / len;
    for (g, a) in grad.iter_mut().zip(normed) {
        *g = inv_sigma * (*g - mean - a * mean_dot);
    }
}
