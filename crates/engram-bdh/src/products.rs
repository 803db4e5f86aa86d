//! The dense products of the fused BDH layer ([`crate::attention`]): `gemm` over row-major or
//! transposed views, the block-triangular causal products, and the transposed weights.

use std::ops::Range;

use gemm::{Parallelism, gemm};

use crate::attention::Dims;

/// Tokens per block of the block-triangular causal products.
pub const BLOCK: usize = 32;

/// A row-major or transposed view for [`product`]: `(data, row stride, column stride)`.
pub(crate) type View<'a> = (&'a [f32], usize, usize);

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, `dst` row-major with row stride `dst_rs`.
pub(crate) fn product(
    dst: &mut [f32],
    dst_rs: usize,
    (m, n, k): (usize, usize, usize),
    lhs: View,
    rhs: View,
    accumulate: bool,
) {
    if m == 0 || n == 0 || k == 0 {
        assert!(accumulate, "an empty product cannot overwrite");
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(last(m, k, lhs.1, lhs.2) < lhs.0.len(), "lhs out of bounds");
    assert!(last(k, n, rhs.1, rhs.2) < rhs.0.len(), "rhs out of bounds");
    assert!(last(m, n, dst_rs, 1) < dst.len(), "dst out of bounds");
    // SAFETY: every element read or written lies in its slice (asserted above); dst is a
    // unique borrow, so it does not alias lhs or rhs.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0.as_ptr(),
            rhs.2 as isize,
            rhs.1 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// The token ranges of the causal blocks of a sequence of `t` tokens.
pub(crate) fn blocks(t: usize) -> impl Iterator<Item = Range<usize>> {
    (0..t.div_ceil(BLOCK)).map(move |i| i * BLOCK..((i + 1) * BLOCK).min(t))
}

/// `sc = tril₋₁(lhs · rhsᵀ)` for `lhs`, `rhs` `[t, k]`, on and below the diagonal blocks only
/// (entries right of a row's block are not written and never read). Column block by column
/// block, so each `gemm` call packs only one block of `rhs`.
pub(crate) fn causal_scores(sc: &mut [f32], lhs: &[f32], rhs: &[f32], t: usize, k: usize) {
    for cb in blocks(t) {
        let (c0, width) = (cb.start, cb.len());
        let below = (&lhs[c0 * k..], k, 1);
        let block = (&rhs[c0 * k..], 1, k);
        product(
            &mut sc[c0 * t + c0..],
            t,
            (t - c0, width, k),
            below,
            block,
            false,
        );
        for r in cb.clone() {
            sc[r * t + r..r * t + cb.end].fill(0.0);
        }
    }
}

/// Every head matrix of the packed weights transposed, in the same order (`encoder[h]ᵀ`,
/// `encoder_v[h]ᵀ` `[N, D]`, `decoder[h]ᵀ` `[D, N]`): the backward's products with `Wᵀ` then
/// read a row-major right operand, which `gemm` does not repack for every sequence.
pub(crate) fn transposed(weights: &[f32], dims: Dims) -> Vec<f32> {
    /// Tile side: a tile's rows and columns stay in cache while it is copied.
    const TILE: usize = 32;
    let (d, n) = (dims.d, dims.n);
    let mut out = vec![0.0; weights.len()];
    for (p, (src, dst)) in weights
        .chunks_exact(d * n)
        .zip(out.chunks_exact_mut(d * n))
        .enumerate()
    {
        let (rows, cols) = if p < 2 * dims.heads { (d, n) } else { (n, d) };
        for r0 in (0..rows).step_by(TILE) {
            for c0 in (0..cols).step_by(TILE) {
                for r in r0..(r0 + TILE).min(rows) {
                    for c in c0..(c0 + TILE).min(cols) {
                        dst[c * rows + r] = src[r * cols + c];
                    }
                }
            }
        }
    }
    out
}

/// `out = (L + Lᵀ) · x` for `L` the strictly lower part of `sc` as [`causal_scores`] leaves it
/// (`[t, t]`, blocks right of the diagonal block unwritten), `x` `[t, k]`: per row block, the
/// blocks left of the diagonal, the symmetrised diagonal block (in `diagonal`), then the
/// transposed blocks below it.
pub(crate) fn symmetric_product(
    out: &mut [f32],
    sc: &[f32],
    x: &[f32],
    diagonal: &mut [f32],
    t: usize,
    k: usize,
) {
    for rb in blocks(t) {
        let (r0, m) = (rb.start, rb.len());
        for i in 0..m {
            for j in 0..m {
                let (lower, upper) = if j < i { (i, j) } else { (j, i) };
                diagonal[i * m + j] = if i == j {
                    0.0
                } else {
                    sc[(r0 + lower) * t + r0 + upper]
                };
            }
        }
        let dst = &mut out[r0 * k..];
        product(
            dst,
            k,
            (m, k, m),
            (diagonal, m, 1),
            (&x[r0 * k..], k, 1),
            false,
        );
        product(dst, k, (m, k, r0), (&sc[r0 * t..], t, 1), (x, k, 1), true);
        if rb.end < t {
            let below = (&sc[rb.end * t + r0..], 1, t);
            product(
                dst,
                k,
                (m, k, t - rb.end),
                below,
                (&x[rb.end * k..], k, 1),
                true,
            );
        }
    }
}
