//! Sparse distributed representations: binary vectors of `size` bits stored as the sorted,
//! unique indices of their active bits.

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
        assert!(active.last().is_none_or(|&i| (i as usize) < size), "active bit out of range for an SDR of {size} bits");
        Sdr { size, active }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// The active bits, sorted.
    pub fn active(&self) -> &[u32] {
        &self.active
    }
}
