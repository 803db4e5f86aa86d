//! Distal segments and synapses of the temporal memory, stored for fast activity counts.
//!
//! A cell owns up to `maxSegmentsPerCell` segments; a segment owns up to
//! `maxSynapsesPerSegment` synapses, each with one presynaptic cell and a permanence in [0, 1].
//! The layout follows htm.core's `Connections` (htm-community/htm.core,
//! `src/htm/algorithms/Connections.cpp`):
//!
//! - segments and synapses live in flat arenas (structure of arrays) indexed by `u32` ids; a
//!   destroyed id goes on a free list and is reused;
//! - every presynaptic cell keeps the list of its outgoing synapses with their segment and
//!   permanence inline, so the dendrite phase reads only the contiguous lists of the active
//!   cells: its cost is `Σ_{active cells} fan-out`, not the total synapse count.
//!
//! Capacity limits (after Cui, Ahmad & Hawkins 2016 and `shared/specs/model-specs.md` §2.4):
//! a cell at `maxSegmentsPerCell` loses its least recently used segment (ties: lowest id);
//! a segment at `maxSynapsesPerSegment` loses its lowest-permanence synapses (ties: lowest id),
//! never those from the cells it is about to grow towards.

/// Marks a free slot in the segment and synapse arenas.
const FREE: u32 = u32::MAX;

/// Permanences below this count as zero, as in htm.core (`htm::Epsilon`).
pub(crate) const EPSILON: f32 = 1e-6;

/// An outgoing synapse as stored with its presynaptic cell: the one place its permanence lives.
#[derive(Debug, Clone, Copy)]
struct OutSynapse {
    segment: u32,
    perm: f32,
    synapse: u32,
}

/// Segments and synapses of `num_cells` cells. Ids are stable while an object lives.
#[derive(Debug, Clone)]
pub(crate) struct Connections {
    /// Segment ids of each cell, in creation order.
    cell_segments: Vec<Vec<u32>>,
    /// Owner cell of each segment, or [`FREE`].
    seg_cell: Vec<u32>,
    /// Synapse ids of each segment.
    seg_synapses: Vec<Vec<u32>>,
    /// Learning iteration at which each segment was last active or created.
    seg_last_used: Vec<u64>,
    free_segments: Vec<u32>,
    /// Presynaptic cell of each synapse, or [`FREE`].
    syn_presyn: Vec<u32>,
    /// Position of each synapse in `outgoing[syn_presyn]`.
    syn_slot: Vec<u32>,
    free_synapses: Vec<u32>,
    /// Outgoing synapses of each presynaptic cell.
    outgoing: Vec<Vec<OutSynapse>>,
    num_segments: usize,
    num_synapses: usize,
    /// Scratch for synapse ids to destroy, kept to avoid per-step allocation.
    doomed: Vec<u32>,
}

impl Connections {
    pub fn new(num_cells: usize) -> Connections {
        Connections {
            cell_segments: vec![Vec::new(); num_cells],
            seg_cell: Vec::new(),
            seg_synapses: Vec::new(),
            seg_last_used: Vec::new(),
            free_segments: Vec::new(),
            syn_presyn: Vec::new(),
            syn_slot: Vec::new(),
            free_synapses: Vec::new(),
            outgoing: vec![Vec::new(); num_cells],
            num_segments: 0,
            num_synapses: 0,
            doomed: Vec::new(),
        }
    }

    pub fn num_segments(&self) -> usize {
        self.num_segments
    }

    pub fn num_synapses(&self) -> usize {
        self.num_synapses
    }

    /// Length of the segment arena: every live segment id is below it.
    pub fn segment_capacity(&self) -> usize {
        self.seg_cell.len()
    }

    pub fn cell_of(&self, segment: u32) -> u32 {
        self.seg_cell[segment as usize]
    }

    pub fn segments_of(&self, cell: u32) -> &[u32] {
        &self.cell_segments[cell as usize]
    }

    pub fn synapses_of(&self, segment: u32) -> &[u32] {
        &self.seg_synapses[segment as usize]
    }

    pub fn presyn(&self, synapse: u32) -> u32 {
        self.syn_presyn[synapse as usize]
    }

    #[cfg(test)]
    pub fn permanence(&self, synapse: u32) -> f32 {
        self.out(synapse).perm
    }

    fn out(&self, synapse: u32) -> &OutSynapse {
        let i = synapse as usize;
        &self.outgoing[self.syn_presyn[i] as usize][self.syn_slot[i] as usize]
    }

    pub fn mark_used(&mut self, segment: u32, iteration: u64) {
        self.seg_last_used[segment as usize] = iteration;
    }

    /// Counts, for every segment with a synapse from `active_cells`, its synapses from active
    /// cells (`n_pot`) and those among them with permanence ≥ `connected` (`n_conn`). Segments
    /// whose count goes from zero to one are appended to `touched`; the caller zeroes their
    /// counts before the next call. Both count vectors must span the segment arena.
    pub fn compute_activity(
        &self,
        active_cells: &[u32],
        connected: f32,
        n_conn: &mut [u32],
        n_pot: &mut [u32],
        touched: &mut Vec<u32>,
    ) {
        for &cell in active_cells {
            for out in &self.outgoing[cell as usize] {
                let seg = out.segment as usize;
                if n_pot[seg] == 0 {
                    touched.push(seg as u32);
                }
                n_pot[seg] += 1;
                n_conn[seg] += u32::from(out.perm >= connected);
            }
        }
    }

    /// A new segment on `cell`, first destroying least recently used segments while the cell
    /// holds `max_segments` or more.
    pub fn create_segment(&mut self, cell: u32, iteration: u64, max_segments: usize) -> u32 {
        while self.cell_segments[cell as usize].len() >= max_segments {
            let lru = *self.cell_segments[cell as usize]
                .iter()
                .min_by_key(|&&s| (self.seg_last_used[s as usize], s))
                .expect("a cell at its segment limit has segments");
            self.destroy_segment(lru);
        }
        let seg = match self.free_segments.pop() {
            Some(seg) => {
                self.seg_cell[seg as usize] = cell;
                self.seg_last_used[seg as usize] = iteration;
                seg
            }
            None => {
                self.seg_cell.push(cell);
                self.seg_synapses.push(Vec::new());
                self.seg_last_used.push(iteration);
                (self.seg_cell.len() - 1) as u32
            }
        };
        self.cell_segments[cell as usize].push(seg);
        self.num_segments += 1;
        seg
    }

    pub fn destroy_segment(&mut self, segment: u32) {
        while let Some(&syn) = self.seg_synapses[segment as usize].last() {
            self.destroy_synapse(syn);
        }
        let cell = self.seg_cell[segment as usize] as usize;
        let on_cell = &mut self.cell_segments[cell];
        let pos = on_cell.iter().position(|&s| s == segment).expect("a live segment is listed on its cell");
        on_cell.remove(pos);
        self.seg_cell[segment as usize] = FREE;
        self.free_segments.push(segment);
        self.num_segments -= 1;
    }

    pub fn create_synapse(&mut self, segment: u32, presyn: u32, permanence: f32) {
        let slot = self.outgoing[presyn as usize].len() as u32;
        let syn = match self.free_synapses.pop() {
            Some(syn) => {
                (self.syn_presyn[syn as usize], self.syn_slot[syn as usize]) = (presyn, slot);
                syn
            }
            None => {
                self.syn_presyn.push(presyn);
                self.syn_slot.push(slot);
                (self.syn_presyn.len() - 1) as u32
            }
        };
        self.outgoing[presyn as usize].push(OutSynapse { segment, perm: permanence, synapse: syn });
        self.seg_synapses[segment as usize].push(syn);
        self.num_synapses += 1;
    }

    pub fn destroy_synapse(&mut self, synapse: u32) {
        let i = synapse as usize;
        let outgoing = &mut self.outgoing[self.syn_presyn[i] as usize];
        let slot = self.syn_slot[i] as usize;
        let segment = outgoing.swap_remove(slot).segment;
        if let Some(moved) = outgoing.get(slot) {
            self.syn_slot[moved.synapse as usize] = slot as u32;
        }
        let on_seg = &mut self.seg_synapses[segment as usize];
        let pos = on_seg.iter().position(|&s| s == synapse).expect("a live synapse is listed on its segment");
        on_seg.swap_remove(pos);
        self.syn_presyn[i] = FREE;
        self.free_synapses.push(synapse);
        self.num_synapses -= 1;
    }

    /// Hebbian update of one segment: synapses from cells with `is_active[presyn]` get `+inc`,
    /// the others `−dec`, clipped to [0, 1]. Synapses that would fall below [`EPSILON`] are
    /// destroyed, and so is the segment if fewer than `min_synapses` remain (it could never
    /// match again). Returns whether the segment still exists.
    pub fn adapt_segment(&mut self, segment: u32, is_active: &[bool], inc: f32, dec: f32, min_synapses: usize) -> bool {
        let mut doomed = std::mem::take(&mut self.doomed);
        for &syn in &self.seg_synapses[segment as usize] {
            let presyn = self.syn_presyn[syn as usize] as usize;
            let out = &mut self.outgoing[presyn][self.syn_slot[syn as usize] as usize];
            let p = out.perm + if is_active[presyn] { inc } else { -dec };
            if p < EPSILON {
                doomed.push(syn);
            } else {
                out.perm = p.min(1.0);
            }
        }
        for syn in doomed.drain(..) {
            self.destroy_synapse(syn);
        }
        self.doomed = doomed;
        if self.seg_synapses[segment as usize].len() < min_synapses {
            self.destroy_segment(segment);
            return false;
        }
        true
    }

    /// Destroys up to `n` synapses of `segment` with the lowest permanences (ties: lowest id),
    /// skipping those whose presynaptic cell has `keep[presyn]`.
    pub fn destroy_weakest_synapses(&mut self, segment: u32, n: usize, keep: &[bool]) {
        let mut doomed = std::mem::take(&mut self.doomed);
        doomed.extend(
            self.seg_synapses[segment as usize].iter().filter(|&&s| !keep[self.syn_presyn[s as usize] as usize]),
        );
        doomed.sort_unstable_by(|&a, &b| self.out(a).perm.total_cmp(&self.out(b).perm).then(a.cmp(&b)));
        doomed.truncate(n);
        for syn in doomed.drain(..) {
            self.destroy_synapse(syn);
        }
        self.doomed = doomed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destroying_synapses_keeps_the_presynaptic_index_consistent() {
        let mut c = Connections::new(8);
        let s0 = c.create_segment(0, 0, 4);
        let s1 = c.create_segment(1, 0, 4);
        for presyn in [2, 3, 4] {
            c.create_synapse(s0, presyn, 0.6);
            c.create_synapse(s1, presyn, 0.3);
        }
        c.destroy_synapse(c.synapses_of(s0)[0]);
        let (mut n_conn, mut n_pot, mut touched) = (vec![0; 2], vec![0; 2], Vec::new());
        c.compute_activity(&[2, 3, 4], 0.5, &mut n_conn, &mut n_pot, &mut touched);
        assert_eq!((n_conn, n_pot), (vec![2, 0], vec![2, 3]));
        assert_eq!(touched.len(), 2);
        assert_eq!(c.num_synapses(), 5);
    }

    #[test]
    fn a_full_cell_loses_its_least_recently_used_segment() {
        let mut c = Connections::new(4);
        let old = c.create_segment(0, 1, 2);
        let recent = c.create_segment(0, 2, 2);
        c.create_synapse(old, 1, 0.5);
        c.mark_used(old, 5);
        let newest = c.create_segment(0, 6, 2);
        assert_eq!(c.segments_of(0), &[old, newest]);
        assert_eq!(newest, recent, "the destroyed id is reused");
        assert_eq!(c.num_segments(), 2);
    }

    #[test]
    fn adapting_prunes_dead_synapses_and_segments_below_the_minimum() {
        let mut c = Connections::new(4);
        let seg = c.create_segment(0, 0, 4);
        c.create_synapse(seg, 1, 0.05);
        c.create_synapse(seg, 2, 0.5);
        let active = [false, false, true, false];
        assert!(c.adapt_segment(seg, &active, 0.1, 0.1, 1));
        assert_eq!(c.synapses_of(seg).len(), 1);
        assert!((c.permanence(c.synapses_of(seg)[0]) - 0.6).abs() < 1e-6);
        assert!(!c.adapt_segment(seg, &active, 0.1, 0.1, 2));
        assert_eq!((c.num_segments(), c.num_synapses()), (0, 0));
    }
}
