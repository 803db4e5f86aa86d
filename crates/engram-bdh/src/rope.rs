//! Rotary positions on the neuron vector, exactly as the reference computes them
//! (`shared/specs/bdh.md` §2.3).
//!
//! For coordinate `i ∈ [0, N)` of a head, pair exponent `κ_i = 2⌊i/2⌋/N`, base `θ = 2¹⁶` and
//! frequency in turns per token `f_i = θ^{−κ_i}/(2π)`. At integer position `t` the phase is
//!
//! ```text
//! φ_{t,i} = 2π · frac(t · f_i)          (every operation rounded to float32)
//! ```
//!
//! and each pair `(2k, 2k+1)` is rotated by `φ = φ_{t,2k}`:
//! `x̃[2k] = x[2k]·cos φ − x[2k+1]·sin φ`, `x̃[2k+1] = x[2k+1]·cos φ + x[2k]·sin φ`.
//! Rotations are absolute, so `⟨R_t x, R_s y⟩` depends on `t − s` only. The float32 phase rule
//! matters at large `t`: `t · f_i` loses the low bits of the exact phase, and the reference's
//! model was trained with the rounded one.

use std::f32::consts::TAU;

/// The RoPE base `θ`.
pub const THETA: f32 = 65536.0;

/// `f_i` for the `n` coordinates of a head, in turns per token (float32, as the reference).
pub fn turns_per_token(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let kappa = (2 * (i / 2)) as f32 / n as f32;
            1.0 / THETA.powf(kappa) / TAU
        })
        .collect()
}

/// The phase `φ_{t,i}` for the coordinate of frequency `f` at position `t`.
pub fn phase(t: usize, f: f32) -> f32 {
    let turns = t as f32 * f;
    (turns - turns.floor()) * TAU
}

/// `cos φ` and `sin φ` of every coordinate at positions `0..positions`, each `[positions, N]`
/// row-major, and the sines signed for the pair swap (`−sin φ` at even coordinates), with which
/// `R_t x = x ⊙ cos + swap(x) ⊙ signed_sin`, `swap` exchanging the two coordinates of each
/// pair.
pub struct RopeTable {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    pub signed_sin: Vec<f32>,
    pub n: usize,
}

impl RopeTable {
    pub fn new(positions: usize, n: usize) -> Self {
        let f = turns_per_token(n);
        let (mut cos, mut sin) = (
            Vec::with_capacity(positions * n),
            Vec::with_capacity(positions * n),
        );
        for t in 0..positions {
            for &fi in &f {
                let (s, c) = phase(t, fi).sin_cos();
                cos.push(c);
                sin.push(s);
            }
        }
        let signed_sin = sin
            .iter()
            .enumerate()
            .map(|(i, &s)| if i % 2 == 0 { -s } else { s })
            .collect();
        RopeTable {
            cos,
            sin,
            signed_sin,
            n,
        }
    }

    /// The cosines and sines at position `t`.
    pub fn at(&self, t: usize) -> (&[f32], &[f32]) {
        let r = t * self.n..(t + 1) * self.n;
        (&self.cos[r.clone()], &self.sin[r])
    }
}

/// Writes `R_t x` into `out`, with `cos`, `sin` the table row of position `t`.
pub fn rotate(x: &[f32], cos: &[f32], sin: &[f32], out: &mut [f32]) {
    for (((o, x), c), s) in out
        .chunks_exact_mut(2)
        .zip(x.chunks_exact(2))
        .zip(cos.chunks_exact(2))
        .zip(sin.chunks_exact(2))
    {
        o[0] = x[0] * c[0] - x[1] * s[0];
        o[1] = x[1] * c[0] + x[0] * s[0];
    }
}

/// Lanes of the swap-form rotations below (`N` even; a multiple of it takes the vector path).
const LANES: usize = 16;

/// Writes `R_t ReLU(x)` into `out`, with `cos`, `signed_sin` the table rows of position `t`: the
/// values of [`rotate`] (the two coordinates of a pair share their phase, so their cosines and
/// sines agree), in a form that vectorises.
pub fn rotate_relu(x: &[f32], cos: &[f32], signed_sin: &[f32], out: &mut [f32]) {
    fn body<const L: usize>(x: &[f32], cos: &[f32], signed_sin: &[f32], out: &mut [f32]) {
        for (((o, x), c), s) in out
            .chunks_exact_mut(L)
            .zip(x.chunks_exact(L))
            .zip(cos.chunks_exact(L))
            .zip(signed_sin.chunks_exact(L))
        {
            let relu: [f32; L] = std::array::from_fn(|i| x[i].max(0.0));
            let swapped: [f32; L] = std::array::from_fn(|i| relu[i ^ 1]);
            for i in 0..L {
                o[i] = relu[i] * c[i] + swapped[i] * s[i];
            }
        }
    }
    if x.len().is_multiple_of(LANES) {
        body::<LANES>(x, cos, signed_sin, out)
    } else {
        body::<2>(x, cos, signed_sin, out)
    }
}

/// Adds `R_tᵀ dx̃` to `dx` where `xpre > 0` and zeroes `dx` elsewhere (the backward of
/// [`rotate_relu`]): `R_tᵀ y = y ⊙ cos − swap(y) ⊙ signed_sin`.
pub fn rotate_back_relu(
    dxr: &[f32],
    cos: &[f32],
    signed_sin: &[f32],
    xpre: &[f32],
    dx: &mut [f32],
) {
    fn body<const L: usize>(dxr: &[f32], cos: &[f32], ss: &[f32], xpre: &[f32], dx: &mut [f32]) {
        for ((((d, y), c), s), p) in dx
            .chunks_exact_mut(L)
            .zip(dxr.chunks_exact(L))
            .zip(cos.chunks_exact(L))
            .zip(ss.chunks_exact(L))
            .zip(xpre.chunks_exact(L))
        {
            let swapped: [f32; L] = std::array::from_fn(|i| y[i ^ 1]);
            let sum: [f32; L] = std::array::from_fn(|i| d[i] + (y[i] * c[i] - swapped[i] * s[i]));
            for i in 0..L {
                d[i] = if p[i] > 0.0 { sum[i] } else { 0.0 };
            }
        }
    }
    if dxr.len().is_multiple_of(LANES) {
        body::<LANES>(dxr, cos, signed_sin, xpre, dx)
    } else {
        body::<2>(dxr, cos, signed_sin, xpre, dx)
    }
}

/// Writes `R_tᵀ x` (the inverse rotation, used by backward passes) into `out`.
pub fn rotate_back(x: &[f32], cos: &[f32], sin: &[f32], out: &mut [f32]) {
    for (((o, x), c), s) in out
        .chunks_exact_mut(2)
        .zip(x.chunks_exact(2))
        .zip(cos.chunks_exact(2))
        .zip(sin.chunks_exact(2))
    {
        o[0] = x[0] * c[0] + x[1] * s[0];
        o[1] = x[1] * c[0] - x[0] * s[0];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f64, tol: f64) {
        assert!((a as f64 - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn frequencies_are_theta_to_the_pair_exponent() {
        let f = turns_per_token(8);
        // pairs at θ^0, θ^-1/4 = 1/16, θ^-1/2 = 1/256, θ^-3/4 = 1/4096 rad/token
        for (k, rad) in [1.0, 1.0 / 16.0, 1.0 / 256.0, 1.0 / 4096.0]
            .into_iter()
            .enumerate()
        {
            close(f[2 * k], rad / std::f64::consts::TAU, 1e-7);
            assert_eq!(f[2 * k], f[2 * k + 1]);
        }
    }

    #[test]
    fn table_values_match_hand_computed_angles() {
        let table = RopeTable::new(11, 8);
        let (c, s) = table.at(1);
        close(c[0], 0.540_302_305_868_139_8, 1e-6); // cos 1 rad
        close(s[1], 0.841_470_984_807_896_5, 1e-6); // sin 1 rad
        let (c, s) = table.at(3);
        close(c[2], 0.982_473_313_101_255_3, 1e-6); // cos(3/16)
        close(s[3], 0.186_403_296_762_269_88, 1e-6); // sin(3/16)
        let (c, s) = table.at(10);
        close(c[0], -0.839_071_529_076_452_4, 1e-5); // cos 10, phase wrapped once
        close(s[0], -0.544_021_110_889_369_8, 1e-5);
        let (c, s) = table.at(0);
        assert!(c.iter().all(|&c| c == 1.0) && s.iter().all(|&s| s == 0.0));
    }

    #[test]
    fn phase_follows_the_float32_rule_at_large_positions() {
        // f_0 = f32(1/2π) = 0.15915494; 100000·f_0 rounds to 15915.494140625 in f32, so the
        // phase is 0.494140625·2π = 3.1047771, not the exact 100000 mod 2π = 3.1058362.
        let f0 = turns_per_token(2)[0];
        close(phase(100_000, f0), 3.104_777_097_702_026_4, 1e-6);
    }

    #[test]
    fn rotation_turns_pairs_and_back() {
        let table = RopeTable::new(2, 4);
        let (c, s) = table.at(1);
        let x = [1.0, 0.0, 0.0, 2.0];
        let mut r = [0.0; 4];
        rotate(&x, c, s, &mut r);
        close(r[0], 0.540_302_305_868_139_8, 1e-6);
        close(r[1], 0.841_470_984_807_896_5, 1e-6);
        let (c1, s1) = ((1.0f64 / 256.0).cos(), (1.0f64 / 256.0).sin());
        close(r[2], -2.0 * s1, 1e-6);
        close(r[3], 2.0 * c1, 1e-6);
        let mut back = [0.0; 4];
        rotate_back(&r, c, s, &mut back);
        for (b, x) in back.iter().zip(x) {
            close(*b, x as f64, 1e-6);
        }
    }

    #[test]
    fn swap_form_rotations_equal_the_pair_form() {
        for n in [6, 32] {
            let table = RopeTable::new(40, n);
            let x: Vec<f32> = (0..n).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
            let relu: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
            let dxr: Vec<f32> = (0..n).map(|i| ((i * 3) % 7) as f32 - 3.0).collect();
            for t in [0, 1, 39] {
                let (c, s) = table.at(t);
                let ss = &table.signed_sin[t * n..(t + 1) * n];
                let (mut pairs, mut swapped) = (vec![0.0; n], vec![0.0; n]);
                rotate(&relu, c, s, &mut pairs);
                rotate_relu(&x, c, ss, &mut swapped);
                assert_eq!(pairs, swapped, "n {n}, t {t}");
                let mut back = vec![0.0; n];
                rotate_back(&dxr, c, s, &mut back);
                let mut dx = vec![1.0; n];
                rotate_back_relu(&dxr, c, ss, &x, &mut dx);
                for i in 0..n {
                    let expected = if x[i] > 0.0 { 1.0 + back[i] } else { 0.0 };
                    assert_eq!(dx[i], expected, "n {n}, t {t}, i {i}");
                }
            }
        }
    }
}
