//! The byte corpus: the first `1 − f` of the file trains, the last `f` validates (the
//! reference: `f = 0.1`, split at `⌊0.9·len⌋`), and batches are random windows of `block + 1`
//! bytes (inputs and next-byte targets) starting uniformly in `[0, len_split − block)`, as the
//! reference's `train.py` draws them.

use std::path::Path;

use rand::{Rng, RngExt};

use crate::BdhError;

/// Which part of the corpus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
}

/// The corpus bytes and where validation starts.
pub struct Corpus {
    bytes: Vec<u8>,
    boundary: usize,
}

/// `batch` windows: inputs and targets, `batch·block` bytes each, batch-major.
pub struct Windows {
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
}

impl Corpus {
    /// Reads `path` and splits it, checking that both parts hold a window of `block + 1` bytes.
    pub fn load(path: &Path, validation_fraction: f64, block: usize) -> Result<Self, BdhError> {
        let bytes = std::fs::read(path).map_err(|source| BdhError::Io {
            path: path.into(),
            source,
        })?;
        let boundary = ((1.0 - validation_fraction) * bytes.len() as f64) as usize;
        let corpus = Corpus { bytes, boundary };
        for split in [Split::Train, Split::Validation] {
            let len = corpus.part(split).len();
            if len <= block {
                return Err(BdhError::Data {
                    path: path.into(),
                    message: format!(
                        "the {split:?} part has {len} bytes, fewer than a window of block + 1 = {}",
                        block + 1
                    ),
                });
            }
        }
        Ok(corpus)
    }

    /// The bytes of `split`.
    pub fn part(&self, split: Split) -> &[u8] {
        match split {
            Split::Train => &self.bytes[..self.boundary],
            Split::Validation => &self.bytes[self.boundary..],
        }
    }

    /// `batch` random windows of `split`.
    pub fn windows(&self, split: Split, batch: usize, block: usize, rng: &mut impl Rng) -> Windows {
        let part = self.part(split);
        let (mut inputs, mut targets) = (
            Vec::with_capacity(batch * block),
            Vec::with_capacity(batch * block),
        );
        for _ in 0..batch {
            let start = rng.random_range(0..part.len() - block);
            inputs.extend(part[start..start + block].iter().map(|&b| u32::from(b)));
            targets.extend(
                part[start + 1..start + block + 1]
                    .iter()
                    .map(|&b| u32::from(b)),
            );
        }
        Windows { inputs, targets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn splits_at_the_reference_boundary_and_targets_are_the_next_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.txt");
        // train bytes are 0; validation bytes count up 1, 2, 3, ...
        let text: Vec<u8> = (0..1000u32)
            .map(|i| if i < 900 { 0 } else { (i - 899) as u8 })
            .collect();
        std::fs::write(&path, &text).unwrap();
        let c = Corpus::load(&path, 0.1, 16).unwrap();
        assert_eq!(c.part(Split::Train).len(), 900);
        assert_eq!(c.part(Split::Validation), &text[900..]);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let w = c.windows(Split::Validation, 3, 16, &mut rng);
        assert_eq!(w.inputs.len(), 48);
        for (row_in, row_t) in w.inputs.chunks(16).zip(w.targets.chunks(16)) {
            assert!(row_in[0] >= 1, "window outside the validation part");
            for (x, y) in row_in.iter().zip(row_t) {
                assert_eq!(*y, x + 1);
            }
        }
        let w = c.windows(Split::Train, 2, 16, &mut rng);
        assert!(w.inputs.iter().chain(&w.targets).all(|&b| b == 0));
    }

    #[test]
    fn a_missing_or_tiny_corpus_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.txt");
        let e = Corpus::load(&missing, 0.1, 16).err().unwrap().to_string();
        assert!(e.contains("none.txt"), "{e}");
        let tiny = dir.path().join("tiny.txt");
        std::fs::write(&tiny, [b'a'; 100]).unwrap();
        let e = Corpus::load(&tiny, 0.1, 16).err().unwrap().to_string();
        assert!(e.contains("Validation part has 10 bytes"), "{e}");
    }
}
