//! How shards exchange spikes each step: a [`SpikeBoard`] where each shard publishes the
//! spikes of its neurons, and a [`StepBarrier`] after which every shard reads them all.
//!
//! The board holds one list per (shard, step parity, group), so a shard may publish step
//! t+1 while another still reads step t: no shard can reach t+2 before every shard has
//! passed the barrier of t+1, which follows its reads of t. Lists are arrays of atomics
//! written with plain (relaxed) stores and published by their length (release); the
//! barrier orders them before the reads. Readers never write to the board, so the cache
//! lines of a list move between cores only when it changes.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Spike lists published by the shards: `lists[shard][parity][group]`.
pub struct SpikeBoard {
    lists: Vec<[Vec<Published>; 2]>,
}

/// One published list: `len` indices in `ids`.
struct Published {
    len: AtomicUsize,
    ids: Box<[AtomicU32]>,
}

impl Published {
    fn new(capacity: usize) -> Self {
        Published { len: AtomicUsize::new(0), ids: (0..capacity).map(|_| AtomicU32::new(0)).collect() }
    }
}

impl SpikeBoard {
    /// A board for shards whose group `g` has `capacity[shard][g]` neurons (the most that
    /// can spike in one step).
    pub fn new(capacity: &[Vec<usize>]) -> Self {
        let lists = capacity
            .iter()
            .map(|groups| [0, 1].map(|_| groups.iter().map(|&c| Published::new(c)).collect()))
            .collect();
        SpikeBoard { lists }
    }

    pub fn shards(&self) -> usize {
        self.lists.len()
    }

    /// Publishes the spikes of `shard`'s block of `group` at a step of `parity`; called by
    /// that shard only, before the barrier.
    pub fn publish(&self, shard: usize, parity: usize, group: usize, ids: impl ExactSizeIterator<Item = u32>) {
        let list = &self.lists[shard][parity][group];
        let len = ids.len();
        assert!(len <= list.ids.len(), "more spikes than neurons in a block");
        for (slot, id) in list.ids.iter().zip(ids) {
            slot.store(id, Ordering::Relaxed);
        }
        list.len.store(len, Ordering::Release);
    }

    /// Appends the spikes `shard` published for `group` at a step of `parity` to `out`;
    /// called after the barrier of that step.
    pub fn read_into(&self, shard: usize, parity: usize, group: usize, out: &mut Vec<u32>) {
        let list = &self.lists[shard][parity][group];
        let len = list.len.load(Ordering::Acquire);
        out.extend(list.ids[..len].iter().map(|id| id.load(Ordering::Relaxed)));
    }
}

/// A barrier that spins first and then blocks: a step takes microseconds, far below the
/// cost of parking threads, so waiting threads spin for a while; on an oversubscribed
/// machine, where the thread being waited for may not be running, they sleep on a condvar
/// instead of burning the core it needs. The last thread to arrive takes the lock and
/// wakes sleepers only when there are some, so a step where every waiter was still
/// spinning costs no system call.
pub struct StepBarrier {
    arrived: AtomicUsize,
    generation: AtomicUsize,
    sleepers: AtomicUsize,
    n: usize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl StepBarrier {
    const SPINS: u32 = 4_000;

    pub fn new(n: usize) -> Self {
        StepBarrier {
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            n,
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// Returns when all `n` threads have called it.
    ///
    /// A sleeper counts itself (SeqCst) before it checks the generation, and the releaser
    /// bumps the generation (SeqCst) before it reads the count: in the single order of
    /// SeqCst operations either the releaser sees the sleeper and wakes it under the lock,
    /// or the sleeper sees the new generation and does not wait.
    pub fn wait(&self) {
        if self.n == 1 {
            return;
        }
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::SeqCst);
            if self.sleepers.load(Ordering::SeqCst) > 0 {
                let _guard = self.lock.lock().expect("barrier lock");
                self.wake.notify_all();
            }
            return;
        }
        for _ in 0..Self::SPINS {
            if self.generation.load(Ordering::Acquire) != generation {
                return;
            }
            std::hint::spin_loop();
        }
        let mut guard = self.lock.lock().expect("barrier lock");
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        while self.generation.load(Ordering::SeqCst) == generation {
            guard = self.wake.wait(guard).expect("barrier lock");
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_kept_per_shard_parity_and_group() {
        let board = SpikeBoard::new(&[vec![3, 2], vec![4, 1]]);
        board.publish(0, 0, 0, [1u32, 2].into_iter());
        board.publish(1, 0, 0, [5u32].into_iter());
        board.publish(0, 1, 0, [0u32].into_iter());
        let mut out = Vec::new();
        board.read_into(0, 0, 0, &mut out);
        board.read_into(1, 0, 0, &mut out);
        assert_eq!(out, [1, 2, 5]);
        out.clear();
        board.read_into(0, 1, 0, &mut out);
        assert_eq!(out, [0]);
        out.clear();
        board.read_into(1, 0, 1, &mut out);
        assert!(out.is_empty());
        board.publish(0, 0, 0, std::iter::empty());
        board.read_into(0, 0, 0, &mut out);
        assert!(out.is_empty(), "a new list replaces the old one");
    }

    #[test]
    fn barrier_holds_every_thread_until_all_arrive() {
        const THREADS: usize = 3;
        let barrier = StepBarrier::new(THREADS);
        let arrivals = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    for round in 0..2_000 {
                        arrivals.fetch_add(1, Ordering::SeqCst);
                        barrier.wait();
                        assert!(arrivals.load(Ordering::SeqCst) >= THREADS * (round + 1), "released before all arrived");
                        barrier.wait();
                    }
                });
            }
        });
        assert_eq!(arrivals.load(Ordering::SeqCst), THREADS * 2_000);
    }
}
