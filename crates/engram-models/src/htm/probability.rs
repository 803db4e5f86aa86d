//! Closed-form SDR match probabilities of Ahmad & Hawkins 2016 (arXiv:1601.00720), in the
//! notation of `shared/specs/model-specs.md` §1.2:
//!
//! - (E1) distinct patterns with `a` of `n` bits on: `C(n, a)`;
//! - (E2) patterns overlapping a fixed `s`-bit vector in exactly `b` bits:
//!   `|Ω(n, a, b)| = C(s, b) · C(n − s, a − b)`;
//! - (E3) false match of a segment of `s` synapses with threshold `θ` against a random
//!   `a`-of-`n` pattern: `P_fp = Σ_{b ≥ θ} C(s, b) · C(n − s, a − b) / C(n, a)`, the upper tail of
//!   Hypergeometric(population n, successes s, draws a);
//! - (E4) false negative when `v` of the `a` bits of a stored pattern move elsewhere:
//!   `P_fn = Σ_{b ≥ s − θ + 1} C(s, b) · C(a − s, v − b) / C(a, v)`, the upper tail of
//!   Hypergeometric(a, s, v) ("Noisy matches" of Numenta's SDR workbook);
//! - (E5) expected union of `M` random `s`-subsets: `s_M = n · (1 − (1 − s/n)^M)`. The
//!   paper's scripts evaluate non-integer `s_M` through gamma-function binomials; here `s_M`
//!   is **rounded to the nearest integer** (halves away from zero) before E3 is applied.
//!
//! The fast path works in log space without `lgamma`: `ln C(n, k)` is a compensated sum of
//! `ln((n − k + i) / i)`, the first tail term comes from three such sums, the following ones
//! from the term ratio `(s − b)(a − b) / ((b + 1)(n − s − a + b + 1))`, and the tail is their
//! log-sum-exp. Probabilities far below the f64 range keep their accuracy in the `ln_*` forms.
//! [`exact`] evaluates the same sums with big integers and is the reference for the fast path;
//! [`monte_carlo_false_match`] estimates E3 by sampling.

use num_bigint::BigUint;
use rand::{Rng, RngExt};

use super::{HtmError, Sdr};

const COMPONENT: &str = "SDR probability";

/// Neumaier's compensated sum.
#[derive(Default)]
struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn total(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// `ln C(n, k)`, or −∞ when `k > n`: `min(k, n − k)` logarithms, relative error about 1e-15
/// for `n < 2^53`.
pub fn ln_binomial(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    let k = k.min(n - k);
    let mut sum = CompensatedSum::default();
    for i in 1..=k {
        sum.add(((n - k + i) as f64 / i as f64).ln());
    }
    sum.total()
}

/// (E1) `C(n, k)` as f64: infinite when above `f64::MAX`, not integer-exact (see
/// [`exact::binomial`]).
pub fn binomial(n: u64, k: u64) -> f64 {
    ln_binomial(n, k).exp()
}

/// (E2) `ln(C(s, b) · C(n − s, a − b))`: the log-count of `a`-of-`n` patterns that overlap a
/// fixed `s`-bit vector in exactly `b` bits (−∞ when there are none).
pub fn ln_overlap_set_size(n: u64, a: u64, s: u64, b: u64) -> Result<f64, HtmError> {
    check_at_most("a", a, "n", n)?;
    check_at_most("s", s, "n", n)?;
    if b > a {
        return Ok(f64::NEG_INFINITY);
    }
    Ok(ln_binomial(s, b) + ln_binomial(n - s, a - b))
}

/// (E2) as f64 (infinite when above `f64::MAX`).
pub fn overlap_set_size(n: u64, a: u64, s: u64, b: u64) -> Result<f64, HtmError> {
    Ok(ln_overlap_set_size(n, a, s, b)?.exp())
}

/// `ln P[X ≥ threshold]` for `X ~ Hypergeometric(population, successes, draws)`.
/// Requires `successes ≤ population` and `draws ≤ population`.
fn ln_hypergeometric_upper_tail(population: u64, successes: u64, draws: u64, threshold: u64) -> f64 {
    let failures = population - successes;
    let support_lo = draws.saturating_sub(failures);
    let hi = successes.min(draws);
    if threshold <= support_lo {
        return 0.0;
    }
    if threshold > hi {
        return f64::NEG_INFINITY;
    }
    let mut ln_term =
        ln_binomial(successes, threshold) + ln_binomial(failures, draws - threshold) - ln_binomial(population, draws);
    let mut ln_terms = Vec::with_capacity((hi - threshold + 1) as usize);
    ln_terms.push(ln_term);
    for b in threshold..hi {
        let ratio_successes = (successes - b) as f64 / (b + 1) as f64;
        let ratio_failures = (draws - b) as f64 / (failures + b + 1 - draws) as f64;
        ln_term += ratio_successes.ln() + ratio_failures.ln();
        ln_terms.push(ln_term);
    }
    let max = ln_terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = CompensatedSum::default();
    for t in &ln_terms {
        sum.add((t - max).exp());
    }
    max + sum.total().ln()
}

/// (E3) `ln P_fp(n, a, s, θ)`: a random `a`-of-`n` pattern drives at least `θ` of a segment's
/// `s` synapses.
pub fn ln_false_match(n: u64, a: u64, s: u64, theta: u64) -> Result<f64, HtmError> {
    check_at_most("a", a, "n", n)?;
    check_at_most("s", s, "n", n)?;
    Ok(ln_hypergeometric_upper_tail(n, s, a, theta))
}

/// (E3) `P_fp(n, a, s, θ)`.
pub fn false_match(n: u64, a: u64, s: u64, theta: u64) -> Result<f64, HtmError> {
    Ok(ln_false_match(n, a, s, theta)?.exp())
}

/// (E4) `ln P_fn(a, s, v, θ)`: a segment with `s` synapses onto an `a`-bit pattern falls below
/// `θ` after `v` of the pattern's bits move elsewhere.
pub fn ln_false_negative(a: u64, s: u64, v: u64, theta: u64) -> Result<f64, HtmError> {
    check_at_most("s", s, "a", a)?;
    check_at_most("v", v, "a", a)?;
    Ok(ln_hypergeometric_upper_tail(a, s, v, (s + 1).saturating_sub(theta)))
}

/// (E4) `P_fn(a, s, v, θ)`.
pub fn false_negative(a: u64, s: u64, v: u64, theta: u64) -> Result<f64, HtmError> {
    Ok(ln_false_negative(a, s, v, theta)?.exp())
}

/// (E5) The expected number of distinct bits in the union of `m` random `s`-of-`n` subsets,
/// `n · (1 − (1 − s/n)^m)`.
pub fn expected_union_size(n: u64, s: u64, m: u64) -> Result<f64, HtmError> {
    check_at_most("s", s, "n", n)?;
    if n == 0 {
        return Ok(0.0);
    }
    Ok(-(n as f64) * (m as f64 * (-(s as f64) / n as f64).ln_1p()).exp_m1())
}

/// (E5) [`expected_union_size`] rounded to the nearest integer, halves away from zero.
pub fn union_size(n: u64, s: u64, m: u64) -> Result<u64, HtmError> {
    Ok(expected_union_size(n, s, m)?.round() as u64)
}

/// (E5 + E3) False match of one segment that stores `m` patterns with `s` synapses each:
/// E3 with `s` replaced by the rounded union size `s_M`.
pub fn false_match_union_segment(n: u64, a: u64, s: u64, m: u64, theta: u64) -> Result<f64, HtmError> {
    false_match(n, a, union_size(n, s, m)?, theta)
}

/// (E5 + E3, dual case) False match of a fixed `s`-synapse segment against the union of `m`
/// random `a`-bit patterns: E3 with `a` replaced by the rounded union size `a_M`.
pub fn false_match_union_activity(n: u64, a: u64, s: u64, m: u64, theta: u64) -> Result<f64, HtmError> {
    false_match(n, union_size(n, a, m)?, s, theta)
}

/// Monte-Carlo estimate of E3: the fraction of `trials` uniform `a`-subsets of
/// `0..segment.size()`, each drawn without replacement (a partial Fisher–Yates shuffle), that
/// overlap `segment` in at least `theta` bits.
pub fn monte_carlo_false_match<R: Rng + ?Sized>(
    segment: &Sdr,
    a: usize,
    theta: usize,
    trials: u64,
    rng: &mut R,
) -> Result<f64, HtmError> {
    let n = segment.size();
    check_at_most("a", a as u64, "n", n as u64)?;
    if trials == 0 {
        return Err(HtmError::invalid(COMPONENT, "trials", trials, "must be at least 1"));
    }
    let on_segment = segment.to_dense();
    let mut permutation: Vec<u32> = (0..n as u32).collect();
    let mut hits = 0u64;
    for _ in 0..trials {
        let mut overlap = 0;
        for i in 0..a {
            let j = rng.random_range(i..n);
            permutation.swap(i, j);
            overlap += usize::from(on_segment[permutation[i] as usize]);
        }
        hits += u64::from(overlap >= theta);
    }
    Ok(hits as f64 / trials as f64)
}

fn check_at_most(name: &'static str, value: u64, limit_name: &'static str, limit: u64) -> Result<(), HtmError> {
    if value > limit {
        return Err(HtmError::invalid(COMPONENT, name, value, format!("must not exceed {limit_name} = {limit}")));
    }
    Ok(())
}

/// The same quantities with big integers: exact, slower, the reference for the f64 path.
pub mod exact {
    use super::{BigUint, HtmError, check_at_most};

    /// (E1) `C(n, k)` exactly (0 when `k > n`).
    pub fn binomial(n: u64, k: u64) -> BigUint {
        if k > n {
            return BigUint::ZERO;
        }
        let k = k.min(n - k);
        let mut c = BigUint::from(1u32);
        for i in 1..=k {
            c *= n - k + i;
            c /= i;
        }
        c
    }

    /// A non-negative rational `numerator / denominator`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Ratio {
        pub numerator: BigUint,
        pub denominator: BigUint,
    }

    impl Ratio {
        /// The ratio as `q · 2^(−shift)` with `2^62 ≤ q < 2^64` (`None` when it is zero).
        fn scaled(&self) -> Option<(u64, i64)> {
            if self.numerator.bits() == 0 {
                return None;
            }
            let shift = 63 - (self.numerator.bits() as i64 - self.denominator.bits() as i64);
            let q = if shift >= 0 {
                (&self.numerator << shift as u64) / &self.denominator
            } else {
                &self.numerator / (&self.denominator << (-shift) as u64)
            };
            Some((u64::try_from(&q).expect("scaled quotient has at most 64 bits"), shift))
        }

        /// The natural logarithm, finite for any non-zero ratio (−∞ for zero).
        pub fn ln(&self) -> f64 {
            match self.scaled() {
                None => f64::NEG_INFINITY,
                Some((q, shift)) => (q as f64).ln() - shift as f64 * std::f64::consts::LN_2,
            }
        }

        /// The nearest f64, within a few ulp (0 or ∞ outside the f64 range).
        pub fn to_f64(&self) -> f64 {
            match self.scaled() {
                None => 0.0,
                Some((q, shift)) => {
                    let half = (-shift / 2) as i32;
                    q as f64 * 2f64.powi(half) * 2f64.powi(-shift as i32 - half)
                }
            }
        }
    }

    fn hypergeometric_upper_tail(population: u64, successes: u64, draws: u64, threshold: u64) -> Ratio {
        let failures = population - successes;
        let lo = threshold.max(draws.saturating_sub(failures));
        let hi = successes.min(draws);
        let mut numerator = BigUint::ZERO;
        if lo <= hi {
            let mut c_successes = binomial(successes, lo);
            let mut c_failures = binomial(failures, draws - lo);
            numerator += &c_successes * &c_failures;
            for b in lo..hi {
                c_successes = c_successes * (successes - b) / (b + 1);
                c_failures = c_failures * (draws - b) / (failures + b + 1 - draws);
                numerator += &c_successes * &c_failures;
            }
        }
        Ratio { numerator, denominator: binomial(population, draws) }
    }

    /// (E3) `P_fp(n, a, s, θ)` exactly.
    pub fn false_match(n: u64, a: u64, s: u64, theta: u64) -> Result<Ratio, HtmError> {
        check_at_most("a", a, "n", n)?;
        check_at_most("s", s, "n", n)?;
        Ok(hypergeometric_upper_tail(n, s, a, theta))
    }

    /// (E4) `P_fn(a, s, v, θ)` exactly.
    pub fn false_negative(a: u64, s: u64, v: u64, theta: u64) -> Result<Ratio, HtmError> {
        check_at_most("s", s, "a", a)?;
        check_at_most("v", v, "a", a)?;
        Ok(hypergeometric_upper_tail(a, s, v, (s + 1).saturating_sub(theta)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// The spec's relative tolerance for its printed values (§1.3).
    const SPEC_RTOL: f64 = 1e-6;

    /// `shared/specs/model-specs.md` §1.3: (n, a, s, θ, P_fp) [CALC, agrees with Numenta's
    /// `sdr_math_neuron_paper.ipynb`].
    const SPEC_FALSE_MATCH: [(u64, u64, u64, u64, f64); 12] = [
        (100_000, 2_000, 6, 6, 6.353089e-11),
        (100_000, 2_000, 8, 8, 2.525072e-14),
        (100_000, 2_000, 10, 10, 1.001632e-17),
        (100_000, 2_000, 12, 6, 5.293868e-08),
        (100_000, 2_000, 16, 8, 2.817245e-10),
        (100_000, 2_000, 20, 10, 1.541928e-12),
        (100_000, 2_000, 24, 12, 8.586941e-15),
        (100_000, 2_000, 40, 10, 4.915419e-09),
        (100_000, 2_000, 80, 10, 4.625684e-06),
        (10_000, 300, 24, 12, 8.375845e-13),
        (10_000, 64, 24, 12, 4.041597e-21),
        (200_000, 2_000, 10, 10, 9.779363e-21),
    ];

    /// §1.4: (n, a, s, θ, P_fp), the cases Monte Carlo can resolve.
    const SPEC_RESOLVABLE: [(u64, u64, u64, u64, f64); 6] = [
        (1024, 64, 24, 4, 0.05729410),
        (1024, 64, 24, 5, 0.01371710),
        (1024, 64, 24, 6, 0.002602885),
        (2048, 128, 32, 6, 0.01249291),
        (1000, 100, 20, 5, 0.04148789),
        (1024, 32, 16, 3, 0.01178015),
    ];

    fn assert_rel(actual: f64, expected: f64, rtol: f64, what: &str) {
        let rel = ((actual - expected) / expected).abs();
        assert!(rel < rtol, "{what}: {actual:e} vs {expected:e} (relative error {rel:e})");
    }

    #[test]
    fn ln_binomial_matches_big_integers() {
        for (n, k) in [(0, 0), (1, 1), (10, 3), (52, 5), (1000, 500), (2048, 40), (100_000, 2_000), (200_000, 1)] {
            let exact = exact::binomial(n, k);
            let ln_exact = exact::Ratio { numerator: exact, denominator: BigUint::from(1u32) }.ln();
            assert!((ln_binomial(n, k) - ln_exact).abs() <= 1e-13 * ln_exact.abs().max(1.0), "C({n}, {k})");
        }
        assert_eq!(exact::binomial(52, 5), BigUint::from(2_598_960u32));
        assert_eq!(ln_binomial(3, 4), f64::NEG_INFINITY);
        assert_eq!(exact::binomial(3, 4), BigUint::ZERO);
    }

    #[test]
    fn htm_capacity_c_2048_40() {
        assert_rel(binomial(2048, 40), 2.371779e84, SPEC_RTOL, "C(2048, 40)");
        let exact = exact::Ratio { numerator: exact::binomial(2048, 40), denominator: BigUint::from(1u32) };
        assert_rel(exact.to_f64(), 2.371779e84, SPEC_RTOL, "exact C(2048, 40)");
    }

    #[test]
    fn overlap_set_size_counts_all_patterns_when_summed_over_b() {
        let (n, a, s) = (60, 12, 9);
        let total: f64 = (0..=s).map(|b| overlap_set_size(n, a, s, b).unwrap()).sum();
        assert_rel(total, binomial(n, a), 1e-12, "Σ_b |Ω(n, a, b)| = C(n, a)");
        assert_rel(overlap_set_size(n, a, s, 3).unwrap(), 255_554_237_400.0, 1e-12, "C(9,3)·C(51,9)");
        assert_eq!(overlap_set_size(n, a, s, 13).unwrap(), 0.0);
    }

    #[test]
    fn false_match_reproduces_the_spec_table() {
        for &(n, a, s, theta, expected) in SPEC_FALSE_MATCH.iter().chain(&SPEC_RESOLVABLE) {
            let what = format!("P_fp({n}, {a}, {s}, {theta})");
            assert_rel(false_match(n, a, s, theta).unwrap(), expected, SPEC_RTOL, &what);
            assert_rel(exact::false_match(n, a, s, theta).unwrap().to_f64(), expected, SPEC_RTOL, &what);
        }
    }

    #[test]
    fn false_negative_reproduces_the_noisy_matches_sheet() {
        assert_rel(false_negative(40, 8, 12, 4).unwrap(), 0.0385742, SPEC_RTOL, "P_fn(40, 8, 12, 4)");
        assert_rel(exact::false_negative(40, 8, 12, 4).unwrap().to_f64(), 0.0385742, SPEC_RTOL, "exact P_fn");
    }

    #[test]
    fn log_space_agrees_with_big_integers_on_a_grid() {
        for n in [50u64, 1024, 10_000, 300_000] {
            for a in [1, 7, (n / 20).min(500), (n / 3).min(2_000)] {
                for s in [1, 5, 24, (n / 10).min(300)] {
                    for theta in [0, 1, 2, 5, 12, 30] {
                        let fast = ln_false_match(n, a, s, theta).unwrap();
                        let reference = exact::false_match(n, a, s, theta).unwrap().ln();
                        if reference == f64::NEG_INFINITY {
                            assert_eq!(fast, f64::NEG_INFINITY, "({n}, {a}, {s}, {theta})");
                        } else {
                            assert!(
                                (fast - reference).abs() < 1e-10,
                                "({n}, {a}, {s}, {theta}): {fast} vs {reference}"
                            );
                        }
                    }
                }
            }
        }
        for (a, s, v, theta) in [(40, 8, 12, 4), (40, 8, 12, 0), (40, 8, 12, 9), (100, 30, 50, 20), (2000, 20, 500, 10)]
        {
            let fast = ln_false_negative(a, s, v, theta).unwrap();
            let reference = exact::false_negative(a, s, v, theta).unwrap().ln();
            assert!(fast == reference || (fast - reference).abs() < 1e-10, "P_fn({a}, {s}, {v}, {theta})");
        }
    }

    #[test]
    fn tails_at_the_edges_of_the_support() {
        assert_eq!(false_match(1024, 64, 24, 0).unwrap(), 1.0);
        assert_eq!(false_match(1024, 64, 24, 25).unwrap(), 0.0);
        assert_eq!(false_match(10, 8, 5, 3).unwrap(), 1.0);
        assert_eq!(false_negative(40, 8, 12, 0).unwrap(), 0.0);
        assert_eq!(false_negative(40, 8, 12, 9).unwrap(), 1.0);
        let (ln_p, p) =
            (ln_false_match(1_000_000, 100, 100, 100).unwrap(), false_match(1_000_000, 100, 100, 100).unwrap());
        let reference =
            -exact::Ratio { numerator: exact::binomial(1_000_000, 100), denominator: BigUint::from(1u32) }.ln();
        assert!(reference < -800.0 && p == 0.0, "P = 1/C(10⁶, 100) underflows f64");
        assert!((ln_p - reference).abs() < 1e-12 * reference.abs(), "{ln_p} vs {reference}");
    }

    #[test]
    fn invalid_sizes_are_errors() {
        assert!(matches!(false_match(100, 101, 5, 2), Err(HtmError::InvalidParam { name: "a", .. })));
        assert!(matches!(false_match(100, 10, 101, 2), Err(HtmError::InvalidParam { name: "s", .. })));
        assert!(matches!(false_negative(40, 41, 3, 2), Err(HtmError::InvalidParam { name: "s", .. })));
        assert!(matches!(false_negative(40, 8, 41, 2), Err(HtmError::InvalidParam { name: "v", .. })));
        assert!(exact::false_match(5, 6, 1, 1).is_err());
    }

    #[test]
    fn union_table_of_the_spec() {
        let (n, a, s, theta) = (10_000, 200, 20, 10);
        let table = [
            (1, 20.0, 20, 1.270063e-12),
            (2, 39.96, 40, 4.112754e-09),
            (5, 99.60, 100, 2.962284e-05),
            (10, 198.21, 198, 6.411315e-03),
            (20, 392.49, 392, 0.2593721),
        ];
        for (m, expected_size, rounded, p) in table {
            assert!((expected_union_size(n, s, m).unwrap() - expected_size).abs() < 0.005, "s_{m}");
            assert_eq!(union_size(n, s, m).unwrap(), rounded, "rounded s_{m}");
            assert_rel(false_match_union_segment(n, a, s, m, theta).unwrap(), p, SPEC_RTOL, &format!("M = {m}"));
        }
        assert_rel(false_match_union_activity(n, s, a, 2, theta).unwrap(), 4.112754e-09, SPEC_RTOL, "dual");
    }

    fn four_sigma(p: f64, trials: u64) -> f64 {
        4.0 * (p * (1.0 - p) / trials as f64).sqrt()
    }

    #[test]
    fn monte_carlo_matches_the_closed_form() {
        let trials = 200_000;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        for &(n, a, s, theta, exact) in &SPEC_RESOLVABLE {
            let segment = Sdr::new(n as usize, (0..s as u32).collect());
            let estimate = monte_carlo_false_match(&segment, a as usize, theta as usize, trials, &mut rng).unwrap();
            let bound = four_sigma(exact, trials);
            assert!((estimate - exact).abs() < bound, "({n}, {a}, {s}, {theta}): {estimate} vs {exact} ± {bound}");
        }
        assert!((four_sigma(0.01371710, trials) - 0.00104).abs() < 5e-6, "the spec's θ = 5 bound");
    }

    #[test]
    fn monte_carlo_on_a_realised_union_matches_e3_at_its_size() {
        let (n, a, s, m, theta, trials) = (10_000usize, 200, 20, 10, 10, 200_000);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let union = (0..m).fold(Sdr::new(n, vec![]), |u, _| u.union(&Sdr::random(n, s, &mut rng)));
        let exact = false_match(n as u64, a as u64, union.num_active() as u64, theta as u64).unwrap();
        let estimate = monte_carlo_false_match(&union, a, theta, trials, &mut rng).unwrap();
        let bound = four_sigma(exact, trials);
        assert!((estimate - exact).abs() < bound, "|union| = {}: {estimate} vs {exact} ± {bound}", union.num_active());
    }

    #[test]
    fn mean_realised_union_size_matches_e5() {
        let (n, s, m, unions) = (10_000usize, 20, 10, 4_000);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
        let sizes: Vec<f64> = (0..unions)
            .map(|_| (0..m).fold(Sdr::new(n, vec![]), |u, _| u.union(&Sdr::random(n, s, &mut rng))).num_active() as f64)
            .collect();
        let mean = sizes.iter().sum::<f64>() / unions as f64;
        let sd = (sizes.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (unions - 1) as f64).sqrt();
        let expected = expected_union_size(n as u64, s as u64, m as u64).unwrap();
        assert!((mean - expected).abs() < 4.0 * sd / (unions as f64).sqrt(), "{mean} vs {expected} (sd {sd})");
    }

    #[test]
    fn sdr_noise_reproduces_the_false_negative_rate() {
        let (n, a, s, v, theta, trials) = (2048usize, 40usize, 8usize, 12usize, 4usize, 100_000u64);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(13);
        let pattern = Sdr::random(n, a, &mut rng);
        let mut misses = 0u64;
        for _ in 0..trials {
            let segment = pattern.subsample(s, &mut rng);
            let noisy = pattern.add_noise(v as f64 / a as f64, &mut rng);
            misses += u64::from(segment.overlap(&noisy) < theta);
        }
        let estimate = misses as f64 / trials as f64;
        let exact = false_negative(a as u64, s as u64, v as u64, theta as u64).unwrap();
        let bound = four_sigma(exact, trials);
        assert!((estimate - exact).abs() < bound, "{estimate} vs {exact} ± {bound}");
    }
}
