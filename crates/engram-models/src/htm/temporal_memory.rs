//! HTM temporal memory: high-order sequence learning with columns of cells and distal segments
//! (Cui, Ahmad & Hawkins 2016, Neural Computation 28(11):2474–2504; htm-community/htm.core,
//! `src/htm/algorithms/TemporalMemory.cpp`; `shared/specs/model-specs.md` §2.4).
//!
//! `C_t` are the active columns, `A_t` the active cells, `W_t` the winner cells. For a segment,
//! `nConn` counts its synapses from `A_{t−1}` with permanence ≥ `connected_permanence` and
//! `nPot` those from `A_{t−1}` whatever their permanence; it is **active** when
//! `nConn ≥ activation_threshold` and **matching** when `nPot ≥ min_threshold`. A cell is
//! predictive when it has an active segment. One step:
//!
//! 1. **Activate cells.** A column of `C_t` with active segments is *predicted*: the cells of
//!    those segments become active and winners. Otherwise it *bursts*: all its cells become
//!    active, and the winner is the cell of the best matching segment (most `nPot`; first in
//!    (cell, segment) order on ties), else a winner of `W_{t−1}` already in this column (as
//!    htm.core does), else a least-used cell (fewest segments; ties drawn from the seeded
//!    rng). Learning on a segment adds `permanence_increment` to synapses from `A_{t−1}`,
//!    subtracts `permanence_decrement` from the others, then grows
//!    `max_new_synapse_count − nPot` synapses at `initial_permanence` to cells of `W_{t−1}`
//!    it lacks (sampled with the rng). A bursting column without a matching segment grows a
//!    new segment on its winner with `min(max_new_synapse_count, |W_{t−1}|)` synapses.
//! 2. **Punish.** Matching segments in columns outside `C_t` lose `predicted_segment_decrement`
//!    on their synapses from `A_{t−1}`.
//! 3. **Activate dendrites.** Count `nConn`/`nPot` against `A_t`: the active and matching
//!    segments, and so the predictive cells, for step t+1.
//!
//! Permanences are clipped to [0, 1]; a synapse that reaches 0 is destroyed, and so is a segment
//! left with fewer than `min_threshold` synapses (htm.core). Raw anomaly is the fraction of
//! `C_t` that was not predicted. All randomness comes from one generator seeded by `seed`, so a
//! run is reproducible.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::anomaly::raw_anomaly_sorted;
use super::connections::{Connections, EPSILON};
use super::{HtmError, Sdr};

const COMPONENT: &str = "temporal memory";

/// Parameters of the temporal memory. [`Default`] gives htm.core's constructor defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemporalMemoryParams {
    pub columns: usize,
    pub cells_per_column: usize,
    /// θ: connected synapses from active cells that make a segment active.
    pub activation_threshold: u32,
    /// Synapses from active cells (any permanence) that make a segment matching.
    pub min_threshold: u32,
    pub max_new_synapse_count: u32,
    pub initial_permanence: f64,
    pub connected_permanence: f64,
    pub permanence_increment: f64,
    pub permanence_decrement: f64,
    /// Punishment of matching segments whose column did not become active (0 disables it).
    pub predicted_segment_decrement: f64,
    pub max_segments_per_cell: u32,
    pub max_synapses_per_segment: u32,
    pub seed: u64,
}

impl Default for TemporalMemoryParams {
    fn default() -> TemporalMemoryParams {
        TemporalMemoryParams {
            columns: 2048,
            cells_per_column: 32,
            activation_threshold: 13,
            min_threshold: 10,
            max_new_synapse_count: 20,
            initial_permanence: 0.21,
            connected_permanence: 0.5,
            permanence_increment: 0.1,
            permanence_decrement: 0.1,
            predicted_segment_decrement: 0.0,
            max_segments_per_cell: 255,
            max_synapses_per_segment: 255,
            seed: 42,
        }
    }
}

impl TemporalMemoryParams {
    /// The paper's NYC-taxi parameters (Cui et al. 2016; spec §2.4).
    pub fn paper_taxi() -> TemporalMemoryParams {
        TemporalMemoryParams {
            activation_threshold: 15,
            min_threshold: 15,
            max_new_synapse_count: 32,
            predicted_segment_decrement: 0.01,
            max_segments_per_cell: 128,
            max_synapses_per_segment: 128,
            seed: 1960,
            ..TemporalMemoryParams::default()
        }
    }

    /// The paper's discrete high-order sequence parameters (spec §2.4).
    pub fn paper_discrete() -> TemporalMemoryParams {
        TemporalMemoryParams { predicted_segment_decrement: 0.02, ..TemporalMemoryParams::paper_taxi() }
    }

    fn validate(&self) -> Result<(), HtmError> {
        let bad =
            |name, value: &dyn std::fmt::Display, reason: &str| Err(HtmError::invalid(COMPONENT, name, value, reason));
        let cells = self.columns.checked_mul(self.cells_per_column);
        if self.columns == 0 {
            return bad("columns", &self.columns, "must be at least 1");
        }
        if self.cells_per_column == 0 {
            return bad("cells_per_column", &self.cells_per_column, "must be at least 1");
        }
        if cells.is_none_or(|c| c >= u32::MAX as usize) {
            return bad("cells_per_column", &self.cells_per_column, "columns × cells_per_column must fit in u32");
        }
        if self.activation_threshold == 0 {
            return bad("activation_threshold", &self.activation_threshold, "must be at least 1");
        }
        if self.min_threshold == 0 || self.min_threshold > self.activation_threshold {
            return bad("min_threshold", &self.min_threshold, "must be in 1..=activation_threshold");
        }
        for (name, v) in [
            ("max_new_synapse_count", self.max_new_synapse_count),
            ("max_segments_per_cell", self.max_segments_per_cell),
            ("max_synapses_per_segment", self.max_synapses_per_segment),
        ] {
            if v == 0 {
                return bad(name, &v, "must be at least 1");
            }
        }
        for (name, v) in [
            ("initial_permanence", self.initial_permanence),
            ("connected_permanence", self.connected_permanence),
            ("permanence_increment", self.permanence_increment),
            ("permanence_decrement", self.permanence_decrement),
            ("predicted_segment_decrement", self.predicted_segment_decrement),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(name, &v, "must be in [0, 1]");
            }
        }
        Ok(())
    }

    /// Checks the parameters and derives the constants the step uses.
    pub fn lower(&self) -> Result<TemporalMemoryConsts, HtmError> {
        self.validate()?;
        Ok(TemporalMemoryConsts {
            num_cells: self.columns * self.cells_per_column,
            connected: self.connected_permanence as f32 - EPSILON,
            initial: self.initial_permanence as f32,
            inc: self.permanence_increment as f32,
            dec: self.permanence_decrement as f32,
            punish: self.predicted_segment_decrement as f32,
        })
    }
}

/// Constants derived from [`TemporalMemoryParams`]: permanences in the `f32` the synapses use.
#[derive(Debug, Clone, PartialEq)]
pub struct TemporalMemoryConsts {
    pub num_cells: usize,
    /// Connected threshold less [`EPSILON`], as htm.core compares.
    pub connected: f32,
    pub initial: f32,
    pub inc: f32,
    pub dec: f32,
    pub punish: f32,
}

/// A segment that was active or matching in the last dendrite phase, with its owner cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SegRef {
    cell: u32,
    seg: u32,
}

/// The temporal memory: parameters, derived constants and learned and per-step state.
#[derive(Debug, Clone)]
pub struct TemporalMemory {
    params: TemporalMemoryParams,
    consts: TemporalMemoryConsts,
    conn: Connections,
    rng: Xoshiro256PlusPlus,
    /// Learning steps so far: the clock of segment use.
    iteration: u64,
    active_cells: Vec<u32>,
    winner_cells: Vec<u32>,
    /// Active and matching segments for the next step, sorted by (cell, segment).
    active_segs: Vec<SegRef>,
    matching_segs: Vec<SegRef>,
    predictive_cells: Vec<u32>,
    anomaly: f64,
    /// Per-segment counts of the last dendrite phase, nonzero only for `touched` segments.
    n_conn: Vec<u32>,
    n_pot: Vec<u32>,
    touched: Vec<u32>,
    /// Scratch kept between steps: previous active and winner cells and masks over all cells.
    prev_active: Vec<u32>,
    prev_winners: Vec<u32>,
    is_prev_active: Vec<bool>,
    is_prev_winner: Vec<bool>,
    is_presyn: Vec<bool>,
    candidates: Vec<u32>,
}

impl TemporalMemory {
    pub fn new(params: TemporalMemoryParams) -> Result<TemporalMemory, HtmError> {
        let consts = params.lower()?;
        let n = consts.num_cells;
        Ok(TemporalMemory {
            rng: Xoshiro256PlusPlus::seed_from_u64(params.seed),
            params,
            conn: Connections::new(n),
            iteration: 0,
            active_cells: Vec::new(),
            winner_cells: Vec::new(),
            active_segs: Vec::new(),
            matching_segs: Vec::new(),
            predictive_cells: Vec::new(),
            anomaly: 0.0,
            n_conn: Vec::new(),
            n_pot: Vec::new(),
            touched: Vec::new(),
            prev_active: Vec::new(),
            prev_winners: Vec::new(),
            is_prev_active: vec![false; n],
            is_prev_winner: vec![false; n],
            is_presyn: vec![false; n],
            candidates: Vec::new(),
            consts,
        })
    }

    pub fn params(&self) -> &TemporalMemoryParams {
        &self.params
    }

    pub fn num_cells(&self) -> usize {
        self.consts.num_cells
    }

    /// One time step on the active columns (an SDR over `columns` bits); learns if `learn`.
    /// Panics if the SDR's size is not the column count.
    pub fn compute(&mut self, active_columns: &Sdr, learn: bool) {
        assert_eq!(
            active_columns.size(),
            self.params.columns,
            "temporal memory: active-column SDR size must equal `columns`"
        );
        self.anomaly = raw_anomaly_sorted(active_columns.active(), &self.predicted_column_list());
        if learn {
            self.iteration += 1;
        }
        std::mem::swap(&mut self.prev_active, &mut self.active_cells);
        std::mem::swap(&mut self.prev_winners, &mut self.winner_cells);
        self.active_cells.clear();
        self.winner_cells.clear();
        set_mask(&mut self.is_prev_active, &self.prev_active, true);
        set_mask(&mut self.is_prev_winner, &self.prev_winners, true);
        self.activate_cells(active_columns.active(), learn);
        set_mask(&mut self.is_prev_active, &self.prev_active, false);
        set_mask(&mut self.is_prev_winner, &self.prev_winners, false);
        self.activate_dendrites(learn);
    }

    /// Forgets the sequence context (active and winner cells, active and matching segments), so
    /// the next input starts a new sequence. Learned synapses are kept.
    pub fn reset(&mut self) {
        self.active_cells.clear();
        self.winner_cells.clear();
        self.active_segs.clear();
        self.matching_segs.clear();
        self.predictive_cells.clear();
    }

    /// Active cells of the last step, over `columns × cells_per_column` bits (cell
    /// `column · cells_per_column + i`).
    pub fn active_cells(&self) -> Sdr {
        Sdr::new(self.num_cells(), self.active_cells.clone())
    }

    pub fn winner_cells(&self) -> Sdr {
        Sdr::new(self.num_cells(), self.winner_cells.clone())
    }

    /// Cells predicted for the next step (those with an active segment).
    pub fn predictive_cells(&self) -> Sdr {
        Sdr::new(self.num_cells(), self.predictive_cells.clone())
    }

    /// Columns holding a predictive cell: the columns expected next.
    pub fn predicted_columns(&self) -> Sdr {
        Sdr::new(self.params.columns, self.predicted_column_list())
    }

    /// Raw anomaly of the last step: the fraction of its active columns that were not
    /// predicted (0 before the first step and for an empty input).
    pub fn anomaly(&self) -> f64 {
        self.anomaly
    }

    pub fn num_segments(&self) -> usize {
        self.conn.num_segments()
    }

    pub fn num_synapses(&self) -> usize {
        self.conn.num_synapses()
    }

    fn predicted_column_list(&self) -> Vec<u32> {
        let cpc = self.params.cells_per_column as u32;
        let mut cols: Vec<u32> = self.predictive_cells.iter().map(|&c| c / cpc).collect();
        cols.dedup();
        cols
    }

    fn column_of(&self, s: SegRef) -> u32 {
        s.cell / self.params.cells_per_column as u32
    }

    /// Phase 1 and 2: walks the active columns and the columns of the active and matching
    /// segments together, in column order.
    fn activate_cells(&mut self, columns: &[u32], learn: bool) {
        let active_segs = std::mem::take(&mut self.active_segs);
        let matching_segs = std::mem::take(&mut self.matching_segs);
        let (mut ia, mut im, mut ic) = (0, 0, 0);
        loop {
            let next_a = active_segs.get(ia).map(|&s| self.column_of(s));
            let next_m = matching_segs.get(im).map(|&s| self.column_of(s));
            let Some(col) = [columns.get(ic).copied(), next_a, next_m].into_iter().flatten().min() else { break };
            let a_end = ia + active_segs[ia..].iter().take_while(|&&s| self.column_of(s) == col).count();
            let m_end = im + matching_segs[im..].iter().take_while(|&&s| self.column_of(s) == col).count();
            if columns.get(ic) == Some(&col) {
                ic += 1;
                if a_end > ia {
                    self.activate_predicted_column(&active_segs[ia..a_end], learn);
                } else {
                    self.burst_column(col, &matching_segs[im..m_end], learn);
                }
            } else if learn && self.consts.punish > 0.0 {
                for &s in &matching_segs[im..m_end] {
                    self.conn.adapt_segment(
                        s.seg,
                        &self.is_prev_active,
                        -self.consts.punish,
                        0.0,
                        self.params.min_threshold as usize,
                    );
                }
            }
            (ia, im) = (a_end, m_end);
        }
        self.active_segs = active_segs;
        self.matching_segs = matching_segs;
    }

    fn activate_predicted_column(&mut self, segs: &[SegRef], learn: bool) {
        for (i, &s) in segs.iter().enumerate() {
            if i == 0 || segs[i - 1].cell != s.cell {
                self.active_cells.push(s.cell);
                self.winner_cells.push(s.cell);
            }
            if learn {
                self.learn_on_segment(s.seg);
            }
        }
    }

    fn burst_column(&mut self, col: u32, matching: &[SegRef], learn: bool) {
        let cpc = self.params.cells_per_column as u32;
        self.active_cells.extend(col * cpc..(col + 1) * cpc);
        let best = matching
            .iter()
            .copied()
            .reduce(|b, s| if self.n_pot[s.seg as usize] > self.n_pot[b.seg as usize] { s } else { b });
        let winner = match best {
            Some(s) => s.cell,
            None => match self.prev_winners.iter().find(|&&c| c / cpc == col) {
                Some(&c) => c,
                None => self.least_used_cell(col),
            },
        };
        self.winner_cells.push(winner);
        if !learn {
            return;
        }
        if let Some(s) = best {
            self.learn_on_segment(s.seg);
        } else if !self.prev_winners.is_empty() {
            let seg = self.conn.create_segment(winner, self.iteration, self.params.max_segments_per_cell as usize);
            let n = (self.params.max_new_synapse_count as usize).min(self.prev_winners.len());
            self.grow_synapses(seg, n);
        }
    }

    /// A cell of `col` with the fewest segments, drawn uniformly among ties.
    fn least_used_cell(&mut self, col: u32) -> u32 {
        let cpc = self.params.cells_per_column as u32;
        let cells = col * cpc..(col + 1) * cpc;
        let fewest = cells.clone().map(|c| self.conn.segments_of(c).len()).min().expect("a column has cells");
        let ties = cells.clone().filter(|&c| self.conn.segments_of(c).len() == fewest).count();
        let pick = self.rng.random_range(0..ties);
        cells.filter(|&c| self.conn.segments_of(c).len() == fewest).nth(pick).expect("pick is below the tie count")
    }

    /// Reinforces a learning segment against `A_{t−1}` and tops it up towards
    /// `max_new_synapse_count` synapses from active cells.
    fn learn_on_segment(&mut self, seg: u32) {
        let min_syn = self.params.min_threshold as usize;
        if !self.conn.adapt_segment(seg, &self.is_prev_active, self.consts.inc, self.consts.dec, min_syn) {
            return;
        }
        let wanted = self.params.max_new_synapse_count as i64 - i64::from(self.n_pot[seg as usize]);
        if wanted > 0 {
            self.grow_synapses(seg, wanted as usize);
        }
    }

    /// Grows up to `n` synapses on `seg` to cells of `W_{t−1}` it is not yet connected to,
    /// sampled with the rng, making room by destroying its weakest other synapses.
    fn grow_synapses(&mut self, seg: u32, n: usize) {
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        for &s in self.conn.synapses_of(seg) {
            self.is_presyn[self.conn.presyn(s) as usize] = true;
        }
        candidates.extend(self.prev_winners.iter().filter(|&&c| !self.is_presyn[c as usize]));
        for &s in self.conn.synapses_of(seg) {
            self.is_presyn[self.conn.presyn(s) as usize] = false;
        }
        let max_syn = self.params.max_synapses_per_segment as usize;
        let mut n = n.min(candidates.len());
        let overrun = (self.conn.synapses_of(seg).len() + n).saturating_sub(max_syn);
        if overrun > 0 {
            self.conn.destroy_weakest_synapses(seg, overrun, &self.is_prev_winner);
            n = n.min(max_syn - self.conn.synapses_of(seg).len());
        }
        let (chosen, _) = candidates.partial_shuffle(&mut self.rng, n);
        for &cell in chosen.iter() {
            self.conn.create_synapse(seg, cell, self.consts.initial);
        }
        self.candidates = candidates;
    }

    /// Phase 3: counts every segment's synapses from the new active cells.
    fn activate_dendrites(&mut self, learn: bool) {
        for &seg in &self.touched {
            self.n_conn[seg as usize] = 0;
            self.n_pot[seg as usize] = 0;
        }
        self.touched.clear();
        let cap = self.conn.segment_capacity();
        self.n_conn.resize(cap, 0);
        self.n_pot.resize(cap, 0);
        self.conn.compute_activity(
            &self.active_cells,
            self.consts.connected,
            &mut self.n_conn,
            &mut self.n_pot,
            &mut self.touched,
        );
        self.active_segs.clear();
        self.matching_segs.clear();
        for &seg in &self.touched {
            let s = SegRef { cell: self.conn.cell_of(seg), seg };
            if self.n_conn[seg as usize] >= self.params.activation_threshold {
                self.active_segs.push(s);
            }
            if self.n_pot[seg as usize] >= self.params.min_threshold {
                self.matching_segs.push(s);
            }
        }
        self.active_segs.sort_unstable();
        self.matching_segs.sort_unstable();
        self.predictive_cells.clear();
        self.predictive_cells.extend(self.active_segs.iter().map(|s| s.cell));
        self.predictive_cells.dedup();
        if learn {
            for s in &self.active_segs {
                self.conn.mark_used(s.seg, self.iteration);
            }
        }
    }
}

fn set_mask(mask: &mut [bool], cells: &[u32], value: bool) {
    for &c in cells {
        mask[c as usize] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::index;

    /// `count` random SDRs of `w` active columns out of `columns`.
    fn random_sdrs(count: usize, columns: usize, w: usize, seed: u64) -> Vec<Sdr> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..count)
            .map(|_| Sdr::new(columns, index::sample(&mut rng, columns, w).into_iter().map(|i| i as u32).collect()))
            .collect()
    }

    /// Spec §2.7(a): `A B C D` then `reset()`, repeated, learning. Returns the pass in which
    /// every transition is first predicted exactly and checks that nothing is predicted before.
    fn abcd_latency(params: TemporalMemoryParams, synapses_per_segment: usize) {
        let mut tm = TemporalMemory::new(params).unwrap();
        let seq = random_sdrs(4, 2048, 40, 7);
        let nothing = Sdr::new(2048, vec![]);
        for pass in 1..=7 {
            for (i, symbol) in seq.iter().enumerate() {
                tm.compute(symbol, true);
                let expected = if pass >= 5 && i < 3 { &seq[i + 1] } else { &nothing };
                assert_eq!(&tm.predicted_columns(), expected, "pass {pass}, after symbol {i}");
            }
            tm.reset();
            if pass == 5 {
                assert_eq!(tm.num_segments(), 120);
                assert_eq!(tm.num_synapses(), 120 * synapses_per_segment);
                for seg in (0..tm.conn.segment_capacity() as u32).filter(|&s| tm.conn.cell_of(s) != u32::MAX) {
                    let syns = tm.conn.synapses_of(seg);
                    assert_eq!(syns.len(), synapses_per_segment);
                    for &syn in syns {
                        assert!(
                            (tm.conn.permanence(syn) - 0.61).abs() < 1e-6,
                            "permanence {}",
                            tm.conn.permanence(syn)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn abcd_with_resets_first_predicts_on_pass_5_with_htm_core_defaults() {
        abcd_latency(TemporalMemoryParams::default(), 20);
    }

    #[test]
    fn abcd_with_resets_first_predicts_on_pass_5_with_the_paper_parameters() {
        abcd_latency(TemporalMemoryParams::paper_taxi(), 32);
    }

    /// Cui et al. 2016, high-order sequences: `A B C D E` and `F B C D G` share `B C D`; after
    /// training, the first symbol alone decides whether `E` or `G` is predicted after `D`.
    #[test]
    fn shared_middle_subsequence_is_disambiguated_by_context() {
        let s = random_sdrs(7, 2048, 40, 11);
        let (a, b, c, d, e, f, g) = (&s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6]);
        let seqs = [[a, b, c, d, e], [f, b, c, d, g]];
        let mut tm = TemporalMemory::new(TemporalMemoryParams::paper_discrete()).unwrap();
        for _ in 0..60 {
            for seq in &seqs {
                for sym in seq {
                    tm.compute(sym, true);
                }
                tm.reset();
            }
        }
        let mut d_cells = Vec::new();
        for seq in &seqs {
            for (i, sym) in seq.iter().enumerate().take(4) {
                tm.compute(sym, false);
                if i > 0 {
                    assert_eq!(tm.anomaly(), 0.0, "symbol {i} of the sequence was predicted");
                }
                assert_eq!(&tm.predicted_columns(), seq[i + 1], "prediction after symbol {i}");
            }
            d_cells.push(tm.active_cells());
            tm.reset();
        }
        assert!(
            d_cells[0].active().iter().all(|c| !d_cells[1].active().contains(c)),
            "D is represented by different cells in each context"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_run_and_another_seed_a_different_one() {
        let inputs = random_sdrs(30, 256, 10, 3);
        let run = |seed| {
            let mut tm = TemporalMemory::new(TemporalMemoryParams {
                columns: 256,
                cells_per_column: 8,
                seed,
                ..TemporalMemoryParams::default()
            })
            .unwrap();
            let mut winners = Vec::new();
            for _ in 0..3 {
                for x in &inputs {
                    tm.compute(x, true);
                    winners.push(tm.winner_cells());
                }
            }
            (winners, tm.num_synapses())
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5).0, run(6).0);
    }

    #[test]
    fn segments_per_cell_and_synapses_per_segment_stay_within_their_limits() {
        let params = TemporalMemoryParams {
            columns: 64,
            cells_per_column: 2,
            max_segments_per_cell: 2,
            max_synapses_per_segment: 12,
            max_new_synapse_count: 8,
            activation_threshold: 4,
            min_threshold: 3,
            ..TemporalMemoryParams::default()
        };
        let mut tm = TemporalMemory::new(params).unwrap();
        for x in random_sdrs(400, 64, 6, 9) {
            tm.compute(&x, true);
        }
        assert!(tm.num_segments() > 64, "the run grew many segments");
        assert!((0..128).all(|c| tm.conn.segments_of(c).len() <= 2));
        let live = (0..tm.conn.segment_capacity() as u32).filter(|&s| tm.conn.cell_of(s) != u32::MAX);
        assert!(live.clone().all(|s| tm.conn.synapses_of(s).len() <= 12));
        assert_eq!(live.map(|s| tm.conn.synapses_of(s).len()).sum::<usize>(), tm.num_synapses());
    }

    #[test]
    fn raw_anomaly_is_one_for_a_surprise_and_zero_when_predicted() {
        let seq = random_sdrs(2, 2048, 40, 1);
        let mut tm = TemporalMemory::new(TemporalMemoryParams::default()).unwrap();
        for _ in 0..5 {
            tm.compute(&seq[0], true);
            tm.compute(&seq[1], true);
            tm.reset();
        }
        tm.compute(&seq[0], false);
        assert_eq!(tm.anomaly(), 1.0);
        tm.compute(&seq[1], false);
        assert_eq!(tm.anomaly(), 0.0);
    }

    #[test]
    fn bad_parameters_are_reported_by_name() {
        let err = |p: TemporalMemoryParams| TemporalMemory::new(p).unwrap_err().to_string();
        assert!(err(TemporalMemoryParams { min_threshold: 14, ..Default::default() }).contains("`min_threshold` = 14"));
        assert!(
            err(TemporalMemoryParams { connected_permanence: 1.5, ..Default::default() })
                .contains("`connected_permanence`")
        );
        assert!(err(TemporalMemoryParams { cells_per_column: 0, ..Default::default() }).contains("`cells_per_column`"));
    }
}
