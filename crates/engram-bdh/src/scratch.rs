//! Large `f32` buffers kept between training steps.
//!
//! The fused layer of [`crate::attention`] keeps about 45 MB per layer of the anchor
//! configuration for its backward pass and draws a 16 MB dropout mask. Allocating them anew
//! each step meant zeroing them (the allocator hands back reused memory, which `vec![0.0; n]`
//! must clear): 7 % of a training step. Buffers handed back with [`give`] are handed out again
//! by [`take`] with whatever values they held; every user writes a buffer before reading it.

use std::sync::Mutex;

/// Buffers smaller than this are not worth keeping.
const MIN_LEN: usize = 1 << 14;

/// At most this many buffers are kept (a training step of the anchor configuration holds up
/// to 44: 20 kept for the backward pass, 24 worked in by four heads at once).
const MAX_KEPT: usize = 64;

static FREE: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of `len` values, each either left from an earlier use or zero.
pub fn take(len: usize) -> Vec<f32> {
    let reused = {
        let mut free = FREE.lock().expect("no panic while holding the lock");
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        best.map(|i| free.swap_remove(i))
    };
    let mut buffer = reused.unwrap_or_default();
    buffer.resize(len, 0.0);
    buffer
}

/// Keeps `buffer` for a later [`take`].
pub fn give(buffer: Vec<f32>) {
    if buffer.capacity() < MIN_LEN {
        return;
    }
    let mut free = FREE.lock().expect("no panic while holding the lock");
    if free.len() < MAX_KEPT {
        free.push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_with_the_length_asked_for() {
        let mut b = take(MIN_LEN * 3);
        assert_eq!(b.len(), MIN_LEN * 3);
        b[0] = 7.0;
        let address = b.as_ptr();
        give(b);
        let again = take(MIN_LEN * 2);
        // Another test may have taken it first; when this one gets it back, it is the same
        // memory, shortened, with its values kept.
        if again.as_ptr() == address {
            assert_eq!(again.len(), MIN_LEN * 2);
            assert_eq!(again[0], 7.0);
        }
    }
}
