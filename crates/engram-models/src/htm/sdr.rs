//! Sparse distributed representations: binary vectors of `size` bits stored as the sorted,
//! unique indices of their active bits (Ahmad & Hawkins 2016, arXiv:1601.00720, §1.1 of
//! `shared/specs/model-specs.md`).
//!
//! - overlap(x, y) = x · y, the number of shared active bits;
//! - union x ∨ y and intersection x ∧ y, bitwise;
//! - subsample: keep k of the active bits, drawn uniformly without replacement;
//! - add noise: move round(f·|x|) active bits onto bits that were inactive, so the result keeps
//!   |x| active bits and overlaps x in exactly |x| − round(f·|x|) of them (htm.core `addNoise`).
//!
//! Operations on two SDRs require equal sizes and panic otherwise: sizes come from the
//! components' own parameters, so a mismatch is a programming error, not bad input.

use rand::Rng;
use rand::seq::index;

/// A sparse binary vector: `size` bits, of which those in `active` (sorted, unique) are on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sdr {
    size: usize,
    active: Vec<u32>,
}

impl Sdr {
    /// An SDR of `size` bits with the given active bits (any order, duplicates removed).
    /// Panics if an index is out of range: callers build indices from their own sizes.
    pub fn new(size: usize, mut active: Vec<u32>) -> Sdr {
        active.sort_unstable();
        active.dedup();
        assert!(
            active.last().is_none_or(|&i| (i as usize) < size),
            "active bit out of range for an SDR of {size} bits"
        );
        Sdr { size, active }
    }

    /// The SDR whose active bits are the `true` entries of `dense`.
    pub fn from_dense(dense: &[bool]) -> Sdr {
        let active = dense.iter().enumerate().filter(|(_, on)| **on).map(|(i, _)| i as u32).collect();
        Sdr { size: dense.len(), active }
    }

    /// `count` distinct active bits drawn uniformly from `0..size`.
    /// Panics if `count > size`.
    pub fn random<R: Rng + ?Sized>(size: usize, count: usize, rng: &mut R) -> Sdr {
        assert!(count <= size, "cannot draw {count} active bits from {size}");
        Sdr::new(size, index::sample(rng, size, count).iter().map(|i| i as u32).collect())
    }

    /// The SDRs laid end to end: bit `i` of part `p` becomes bit `offset(p) + i`, where
    /// `offset(p)` is the total size of the parts before it.
    pub fn concatenate(parts: &[&Sdr]) -> Sdr {
        let mut offset = 0u32;
        let mut active = Vec::with_capacity(parts.iter().map(|p| p.active.len()).sum());
        for part in parts {
            active.extend(part.active.iter().map(|&i| offset + i));
            offset += part.size as u32;
        }
        Sdr { size: offset as usize, active }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// The active bits, sorted.
    pub fn active(&self) -> &[u32] {
        &self.active
    }

    /// The number of active bits.
    pub fn num_active(&self) -> usize {
        self.active.len()
    }

    /// The fraction of active bits, `|x| / size` (0 for an SDR of no bits).
    pub fn sparsity(&self) -> f64 {
        if self.size == 0 { 0.0 } else { self.active.len() as f64 / self.size as f64 }
    }

    /// Whether `bit` is active.
    pub fn contains(&self, bit: u32) -> bool {
        self.active.binary_search(&bit).is_ok()
    }

    /// One `bool` per bit.
    pub fn to_dense(&self) -> Vec<bool> {
        let mut dense = vec![false; self.size];
        for &i in &self.active {
            dense[i as usize] = true;
        }
        dense
    }

    /// The number of bits active in both.
    pub fn overlap(&self, other: &Sdr) -> usize {
        self.check_size(other);
        let (mut i, mut j, mut count) = (0, 0, 0);
        while i < self.active.len() && j < other.active.len() {
            match self.active[i].cmp(&other.active[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    count += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        count
    }

    /// The bits active in either.
    pub fn union(&self, other: &Sdr) -> Sdr {
        self.check_size(other);
        let mut active = Vec::with_capacity(self.active.len() + other.active.len());
        let (mut i, mut j) = (0, 0);
        while i < self.active.len() && j < other.active.len() {
            match self.active[i].cmp(&other.active[j]) {
                std::cmp::Ordering::Less => {
                    active.push(self.active[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    active.push(other.active[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    active.push(self.active[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
        active.extend_from_slice(&self.active[i..]);
        active.extend_from_slice(&other.active[j..]);
        Sdr { size: self.size, active }
    }

    /// The bits active in both.
    pub fn intersection(&self, other: &Sdr) -> Sdr {
        self.check_size(other);
        let active = self.active.iter().copied().filter(|&b| other.contains(b)).collect();
        Sdr { size: self.size, active }
    }

    /// `k` of the active bits, drawn uniformly without replacement (all of them if `k ≥ |x|`).
    pub fn subsample<R: Rng + ?Sized>(&self, k: usize, rng: &mut R) -> Sdr {
        if k >= self.active.len() {
            return self.clone();
        }
        let active = index::sample(rng, self.active.len(), k).iter().map(|i| self.active[i]).collect();
        Sdr::new(self.size, active)
    }

    /// Moves `v = round(fraction · |x|)` active bits, drawn uniformly, onto `v` bits drawn
    /// uniformly from those inactive in `self` (at most `size − |x|` bits move when fewer are
    /// inactive). The result has `|x|` active bits and overlaps `self` in `|x| − v`.
    /// Panics unless `0 ≤ fraction ≤ 1`.
    pub fn add_noise<R: Rng + ?Sized>(&self, fraction: f64, rng: &mut R) -> Sdr {
        assert!((0.0..=1.0).contains(&fraction), "noise fraction {fraction} outside [0, 1]");
        let a = self.active.len();
        let moved = ((fraction * a as f64).round() as usize).min(self.size - a);
        let mut off = vec![false; a];
        for i in index::sample(rng, a, moved).iter() {
            off[i] = true;
        }
        let mut ranks: Vec<usize> = index::sample(rng, self.size - a, moved).into_vec();
        ranks.sort_unstable();
        let mut active: Vec<u32> = self.active.iter().zip(&off).filter(|(_, off)| !**off).map(|(&b, _)| b).collect();
        let mut passed = 0;
        for r in ranks {
            while passed < a && self.active[passed] as usize <= r + passed {
                passed += 1;
            }
            active.push((r + passed) as u32);
        }
        Sdr::new(self.size, active)
    }

    fn check_size(&self, other: &Sdr) {
        assert_eq!(self.size, other.size, "SDR sizes differ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn rng(seed: u64) -> Xoshiro256PlusPlus {
        Xoshiro256PlusPlus::seed_from_u64(seed)
    }

    #[test]
    fn new_sorts_and_removes_duplicates() {
        let x = Sdr::new(10, vec![7, 2, 7, 0]);
        assert_eq!(x.active(), &[0, 2, 7]);
        assert_eq!(x.num_active(), 3);
        assert!((x.sparsity() - 0.3).abs() < 1e-15);
        assert!(x.contains(2) && !x.contains(3));
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn new_rejects_a_bit_past_the_end() {
        Sdr::new(4, vec![4]);
    }

    #[test]
    fn overlap_union_and_intersection_match_the_dense_definitions() {
        let x = Sdr::new(16, vec![1, 3, 5, 7, 9, 11]);
        let y = Sdr::new(16, vec![0, 3, 6, 9, 12, 15]);
        assert_eq!(x.overlap(&y), 2);
        assert_eq!(x.intersection(&y).active(), &[3, 9]);
        assert_eq!(x.union(&y).active(), &[0, 1, 3, 5, 6, 7, 9, 11, 12, 15]);
        let (dx, dy) = (x.to_dense(), y.to_dense());
        let dense_and: Vec<bool> = dx.iter().zip(&dy).map(|(a, b)| *a && *b).collect();
        let dense_or: Vec<bool> = dx.iter().zip(&dy).map(|(a, b)| *a || *b).collect();
        assert_eq!(Sdr::from_dense(&dense_and), x.intersection(&y));
        assert_eq!(Sdr::from_dense(&dense_or), x.union(&y));
        assert_eq!(x.overlap(&x), 6);
        assert_eq!(x.overlap(&Sdr::new(16, vec![])), 0);
    }

    #[test]
    #[should_panic(expected = "sizes differ")]
    fn overlap_of_different_sizes_panics() {
        Sdr::new(8, vec![1]).overlap(&Sdr::new(9, vec![1]));
    }

    #[test]
    fn dense_round_trip() {
        let x = Sdr::new(12, vec![0, 4, 11]);
        let dense = x.to_dense();
        assert_eq!(dense.len(), 12);
        assert_eq!(dense.iter().filter(|b| **b).count(), 3);
        assert_eq!(Sdr::from_dense(&dense), x);
    }

    #[test]
    fn concatenate_offsets_each_part_by_the_sizes_before_it() {
        let a = Sdr::new(3, vec![0, 2]);
        let b = Sdr::new(4, vec![1]);
        let c = Sdr::new(2, vec![0, 1]);
        let cat = Sdr::concatenate(&[&a, &b, &c]);
        assert_eq!(cat.size(), 9);
        assert_eq!(cat.active(), &[0, 2, 4, 7, 8]);
    }

    #[test]
    fn subsample_keeps_k_of_the_active_bits_and_is_seeded() {
        let x = Sdr::random(2048, 40, &mut rng(1));
        let s = x.subsample(15, &mut rng(2));
        assert_eq!(s.num_active(), 15);
        assert_eq!(s.overlap(&x), 15);
        assert_eq!(s, x.subsample(15, &mut rng(2)));
        assert_ne!(s, x.subsample(15, &mut rng(3)));
        assert_eq!(x.subsample(100, &mut rng(2)), x);
    }

    #[test]
    fn add_noise_moves_exactly_the_rounded_fraction_onto_inactive_bits() {
        let x = Sdr::random(1024, 40, &mut rng(4));
        for (fraction, moved) in [(0.0, 0), (0.1, 4), (0.25, 10), (0.5, 20), (1.0, 40)] {
            let y = x.add_noise(fraction, &mut rng(5));
            assert_eq!(y.num_active(), 40);
            assert_eq!(x.overlap(&y), 40 - moved, "fraction {fraction}");
        }
        assert_eq!(x.add_noise(0.3, &mut rng(6)), x.add_noise(0.3, &mut rng(6)));
    }

    #[test]
    fn add_noise_on_a_nearly_full_sdr_moves_only_onto_free_bits() {
        let x = Sdr::new(10, (0..8).collect());
        let y = x.add_noise(0.5, &mut rng(7));
        assert_eq!(y.num_active(), 8);
        assert_eq!(x.overlap(&y), 6);
        assert!(y.contains(8) && y.contains(9));
    }

    #[test]
    fn add_noise_reaches_every_inactive_bit() {
        let x = Sdr::new(12, vec![0, 1, 5, 6, 11]);
        let mut reached = [false; 12];
        let mut r = rng(8);
        for _ in 0..400 {
            for &b in x.add_noise(0.2, &mut r).active() {
                reached[b as usize] = true;
            }
        }
        assert!(reached.iter().all(|&b| b));
    }
}
