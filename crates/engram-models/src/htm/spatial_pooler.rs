//! HTM spatial pooler: maps an input SDR to a fixed-sparsity SDR of active columns
//! (Cui, Ahmad & Hawkins 2017, "The HTM spatial pooler", Front. Comput. Neurosci. 11:111;
//! htm-community/htm.core, `src/htm/algorithms/SpatialPooler.cpp`; spec §2.3).
//!
//! Inputs and columns are one-dimensional. Column `i` is centred on input
//! `⌊(i + ½)·n_in/n_col⌋` and owns a potential pool: a random `potential_pct` of the inputs
//! within `potential_radius` of its centre (wrapping around if `wrap_around`). Half the pool
//! starts connected, with permanences uniform in `[p_c, 1]`, the rest uniform in `[0, p_c)`.
//! Each step:
//!
//! 1. **Overlap.** `o_i = Σ_j [p_ij ≥ p_c] x_j` over the pool, times the boost factor `β_i`.
//! 2. **Inhibition.** Global: the `k` columns of highest boosted overlap win, ties to the lower
//!    column index (htm.core prefers the higher one). Local: a column wins if fewer than
//!    `⌊½ + density·(area)⌋` neighbours within the inhibition radius beat it (a tie counts as
//!    a loss against a neighbour that already won). A column needs raw overlap
//!    ≥ `stimulus_threshold`.
//! 3. **Learning.** Winners move their pool's permanences by `+syn_perm_active_inc` on active
//!    inputs and `−syn_perm_inactive_dec` on the others, clipped to [0, 1].
//! 4. **Homeostasis.** Duty cycles are moving averages over `min(duty_cycle_period, t)` steps.
//!    A column whose overlap duty cycle falls below `min_pct_overlap_duty_cycles` times the
//!    largest in its neighbourhood gets all its permanences raised by `p_c/10`. Boosting:
//!    `β_i = exp(boost_strength·(target − activeDuty_i))`. Every 50 steps the minimum duty cycles
//!    and, for local inhibition, the inhibition radius (mean connected span of the columns
//!    times columns per input) are updated.
//!
//! Everything random comes from one generator seeded by `seed`.

use rand::seq::index;
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use super::connections::EPSILON;
use super::{HtmError, Sdr};

const COMPONENT: &str = "spatial pooler";
/// Steps between updates of the inhibition radius and minimum duty cycles (htm.core).
const UPDATE_PERIOD: u64 = 50;
/// Fraction of each potential pool that starts connected (htm.core `initConnectedPct_`).
const INIT_CONNECTED_PCT: f64 = 0.5;
/// Cap on the density derived from `PerInhibitionArea` (htm.core `MAX_LOCALAREADENSITY`).
const MAX_DENSITY: f64 = 0.5;

/// How many columns win in an inhibition area.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActiveColumns {
    /// A fraction of the columns (htm.core `localAreaDensity`).
    Density(f64),
    /// A count per inhibition area (htm.core `numActiveColumnsPerInhArea`); under global
    /// inhibition exactly this many columns win.
    PerInhibitionArea(usize),
}

/// Parameters of the spatial pooler. [`Default`] gives htm.core's constructor defaults with
/// 2048 columns; `input_size` must be set to the encoder's width.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpatialPoolerParams {
    pub input_size: usize,
    pub columns: usize,
    pub potential_radius: usize,
    pub potential_pct: f64,
    pub global_inhibition: bool,
    pub active_columns: ActiveColumns,
    pub stimulus_threshold: u32,
    pub syn_perm_inactive_dec: f64,
    pub syn_perm_active_inc: f64,
    pub syn_perm_connected: f64,
    pub min_pct_overlap_duty_cycles: f64,
    pub duty_cycle_period: u32,
    pub boost_strength: f64,
    pub seed: u64,
    pub wrap_around: bool,
}

impl Default for SpatialPoolerParams {
    fn default() -> SpatialPoolerParams {
        SpatialPoolerParams {
            input_size: 0,
            columns: 2048,
            potential_radius: 16,
            potential_pct: 0.5,
            global_inhibition: true,
            active_columns: ActiveColumns::Density(0.05),
            stimulus_threshold: 0,
            syn_perm_inactive_dec: 0.008,
            syn_perm_active_inc: 0.05,
            syn_perm_connected: 0.1,
            min_pct_overlap_duty_cycles: 0.001,
            duty_cycle_period: 1000,
            boost_strength: 0.0,
            seed: 1,
            wrap_around: true,
        }
    }
}

impl SpatialPoolerParams {
    /// htm.core's defaults for `input_size` inputs and `columns` columns.
    pub fn new(input_size: usize, columns: usize) -> SpatialPoolerParams {
        SpatialPoolerParams { input_size, columns, ..SpatialPoolerParams::default() }
    }

    fn validate(&self) -> Result<(), HtmError> {
        let bad =
            |name, value: &dyn std::fmt::Display, reason: &str| Err(HtmError::invalid(COMPONENT, name, value, reason));
        if self.input_size == 0 || self.input_size >= u32::MAX as usize {
            return bad("input_size", &self.input_size, "must be at least 1 (the encoder width) and fit in u32");
        }
        if self.columns == 0 || self.columns >= u32::MAX as usize {
            return bad("columns", &self.columns, "must be at least 1 and fit in u32");
        }
        if !(self.potential_pct > 0.0 && self.potential_pct <= 1.0) {
            return bad("potential_pct", &self.potential_pct, "must be in (0, 1]");
        }
        match self.active_columns {
            ActiveColumns::Density(d) if !(d > 0.0 && d < 1.0) || (d * self.columns as f64) < 1.0 => {
                return bad("active_columns", &d, "density must be in (0, 1) and give at least one column");
            }
            ActiveColumns::PerInhibitionArea(k) if k == 0 || k > self.columns => {
                return bad("active_columns", &k, "count per inhibition area must be in 1..=columns");
            }
            _ => {}
        }
        for (name, v) in [
            ("syn_perm_inactive_dec", self.syn_perm_inactive_dec),
            ("syn_perm_active_inc", self.syn_perm_active_inc),
            ("syn_perm_connected", self.syn_perm_connected),
            ("min_pct_overlap_duty_cycles", self.min_pct_overlap_duty_cycles),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(name, &v, "must be in [0, 1]");
            }
        }
        if self.duty_cycle_period == 0 {
            return bad("duty_cycle_period", &self.duty_cycle_period, "must be at least 1");
        }
        if !(self.boost_strength >= 0.0 && self.boost_strength.is_finite()) {
            return bad("boost_strength", &self.boost_strength, "must be finite and ≥ 0");
        }
        Ok(())
    }

    /// Checks the parameters and derives the constants the step uses.
    pub fn lower(&self) -> Result<SpatialPoolerConsts, HtmError> {
        self.validate()?;
        Ok(SpatialPoolerConsts {
            connected: self.syn_perm_connected as f32 - EPSILON,
            active_inc: self.syn_perm_active_inc as f32,
            inactive_dec: self.syn_perm_inactive_dec as f32,
            below_stimulus_inc: self.syn_perm_connected as f32 / 10.0,
        })
    }
}

/// Constants derived from [`SpatialPoolerParams`], in the `f32` of the permanences.
#[derive(Debug, Clone, PartialEq)]
pub struct SpatialPoolerConsts {
    /// Connected threshold less [`EPSILON`], as htm.core compares.
    pub connected: f32,
    pub active_inc: f32,
    pub inactive_dec: f32,
    /// Raise of every permanence of a column whose overlap duty cycle is too low.
    pub below_stimulus_inc: f32,
}

/// The spatial pooler: parameters, derived constants, learned state and step scratch.
#[derive(Debug, Clone)]
pub struct SpatialPooler {
    params: SpatialPoolerParams,
    consts: SpatialPoolerConsts,
    /// Potential pools in CSR form: synapses `pool_start[i]..pool_start[i+1]` belong to
    /// column `i`, with input `pool_input` and permanence `perm`.
    pool_start: Vec<u32>,
    pool_input: Vec<u32>,
    perm: Vec<f32>,
    /// The same synapses grouped by input: `(column, synapse)` for each input's synapses.
    input_start: Vec<u32>,
    input_syn: Vec<(u32, u32)>,
    overlap_duty: Vec<f64>,
    active_duty: Vec<f64>,
    min_overlap_duty: Vec<f64>,
    boost: Vec<f64>,
    inhibition_radius: usize,
    iteration: u64,
    /// Scratch of one step.
    overlap: Vec<u32>,
    boosted: Vec<f64>,
    order: Vec<u32>,
    input_mask: Vec<bool>,
}

impl SpatialPooler {
    pub fn new(params: SpatialPoolerParams) -> Result<SpatialPooler, HtmError> {
        let consts = params.lower()?;
        let (n_in, n_col) = (params.input_size, params.columns);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
        let (mut pool_start, mut pool_input, mut perm) = (vec![0u32], Vec::new(), Vec::new());
        let p_c = params.syn_perm_connected;
        for col in 0..n_col {
            let centre = ((col as f64 + 0.5) * (n_in as f64 / n_col as f64)) as usize;
            let hood = neighbourhood(centre, params.potential_radius.min(n_in), n_in, params.wrap_around);
            let count = (hood.len() as f64 * params.potential_pct).round() as usize;
            let mut chosen: Vec<u32> =
                index::sample(&mut rng, hood.len(), count).into_iter().map(|i| hood[i] as u32).collect();
            chosen.sort_unstable();
            for input in chosen {
                let p = if rng.random::<f64>() <= INIT_CONNECTED_PCT || p_c == 0.0 {
                    rng.random_range(p_c..=1.0)
                } else {
                    rng.random_range(0.0..p_c)
                };
                pool_input.push(input);
                perm.push(p as f32);
            }
            pool_start.push(pool_input.len() as u32);
        }
        let mut input_start = vec![0u32; n_in + 1];
        for &i in &pool_input {
            input_start[i as usize + 1] += 1;
        }
        for i in 0..n_in {
            input_start[i + 1] += input_start[i];
        }
        let mut fill = input_start.clone();
        let mut input_syn = vec![(0, 0); pool_input.len()];
        for col in 0..n_col {
            for s in pool_start[col]..pool_start[col + 1] {
                let slot = &mut fill[pool_input[s as usize] as usize];
                input_syn[*slot as usize] = (col as u32, s);
                *slot += 1;
            }
        }
        let mut sp = SpatialPooler {
            consts,
            pool_start,
            pool_input,
            perm,
            input_start,
            input_syn,
            overlap_duty: vec![0.0; n_col],
            active_duty: vec![0.0; n_col],
            min_overlap_duty: vec![0.0; n_col],
            boost: vec![1.0; n_col],
            inhibition_radius: n_col,
            iteration: 0,
            overlap: vec![0; n_col],
            boosted: vec![0.0; n_col],
            order: Vec::with_capacity(n_col),
            input_mask: vec![false; n_in],
            params,
        };
        for col in 0..n_col {
            sp.raise_to_stimulus_threshold(col);
        }
        sp.update_inhibition_radius();
        Ok(sp)
    }

    pub fn params(&self) -> &SpatialPoolerParams {
        &self.params
    }

    /// Boost factors of the columns (all 1 while `boost_strength` is 0).
    pub fn boost_factors(&self) -> &[f64] {
        &self.boost
    }

    /// The active columns for `input`; learns if `learn`. Panics if the input's size is not
    /// `input_size`.
    pub fn compute(&mut self, input: &Sdr, learn: bool) -> Sdr {
        assert_eq!(input.size(), self.params.input_size, "spatial pooler: input SDR size must equal `input_size`");
        self.iteration += 1;
        self.overlap.fill(0);
        for &j in input.active() {
            let (a, b) = (self.input_start[j as usize] as usize, self.input_start[j as usize + 1] as usize);
            for &(col, s) in &self.input_syn[a..b] {
                self.overlap[col as usize] += u32::from(self.perm[s as usize] >= self.consts.connected);
            }
        }
        let boosting = self.params.boost_strength > 0.0;
        for (i, b) in self.boosted.iter_mut().enumerate() {
            *b = f64::from(self.overlap[i]) * if boosting { self.boost[i] } else { 1.0 };
        }
        let winners = if self.params.global_inhibition || self.inhibition_radius >= self.params.columns {
            self.inhibit_global()
        } else {
            self.inhibit_local()
        };
        if learn {
            self.learn(input, &winners);
        }
        Sdr::new(self.params.columns, winners)
    }

    /// Density of winners per inhibition area of the current radius.
    fn density(&self) -> f64 {
        match self.params.active_columns {
            ActiveColumns::Density(d) => d,
            ActiveColumns::PerInhibitionArea(k) => {
                let area = self.params.columns.min(2 * self.inhibition_radius + 1);
                (k as f64 / area as f64).min(MAX_DENSITY)
            }
        }
    }

    fn inhibit_global(&mut self) -> Vec<u32> {
        let n = self.params.columns;
        let k = match self.params.active_columns {
            ActiveColumns::PerInhibitionArea(k) => k.min((MAX_DENSITY * n as f64) as usize).max(1),
            ActiveColumns::Density(d) => (d * n as f64) as usize,
        };
        let boosted = &self.boosted;
        self.order.clear();
        self.order.extend(0..n as u32);
        let by_rank = |a: &u32, b: &u32| boosted[*b as usize].total_cmp(&boosted[*a as usize]).then(a.cmp(b));
        self.order.select_nth_unstable_by(k - 1, by_rank);
        let threshold = self.params.stimulus_threshold;
        let mut winners: Vec<u32> =
            self.order[..k].iter().copied().filter(|&c| self.overlap[c as usize] >= threshold).collect();
        winners.sort_unstable();
        winners
    }

    fn inhibit_local(&mut self) -> Vec<u32> {
        let n = self.params.columns;
        let density = self.density();
        let mut won = vec![false; n];
        let mut winners = Vec::new();
        for col in 0..n {
            if self.overlap[col] < self.params.stimulus_threshold {
                continue;
            }
            let hood = neighbourhood(col, self.inhibition_radius, n, self.params.wrap_around);
            let wanted = (0.5 + density * hood.len() as f64) as usize;
            let own = self.boosted[col];
            let beaten_by = hood
                .iter()
                .filter(|&&o| o != col && (self.boosted[o] > own || (self.boosted[o] == own && won[o])))
                .count();
            if beaten_by < wanted {
                won[col] = true;
                winners.push(col as u32);
            }
        }
        winners
    }

    fn learn(&mut self, input: &Sdr, winners: &[u32]) {
        for &j in input.active() {
            self.input_mask[j as usize] = true;
        }
        for &col in winners {
            let range = self.pool_start[col as usize] as usize..self.pool_start[col as usize + 1] as usize;
            for s in range {
                let delta = if self.input_mask[self.pool_input[s] as usize] {
                    self.consts.active_inc
                } else {
                    -self.consts.inactive_dec
                };
                self.perm[s] = (self.perm[s] + delta).clamp(0.0, 1.0);
            }
            self.raise_to_stimulus_threshold(col as usize);
        }
        for &j in input.active() {
            self.input_mask[j as usize] = false;
        }
        let period = self.iteration.min(u64::from(self.params.duty_cycle_period)) as f64;
        let decay = (period - 1.0) / period;
        for col in 0..self.params.columns {
            self.overlap_duty[col] =
                self.overlap_duty[col] * decay + f64::from(u8::from(self.overlap[col] > 0)) / period;
            self.active_duty[col] *= decay;
        }
        for &col in winners {
            self.active_duty[col as usize] += 1.0 / period;
        }
        for col in 0..self.params.columns {
            if self.overlap_duty[col] < self.min_overlap_duty[col] {
                self.bump(col, self.consts.below_stimulus_inc);
            }
        }
        self.update_boost_factors();
        if self.iteration.is_multiple_of(UPDATE_PERIOD) {
            self.update_inhibition_radius();
            self.update_min_duty_cycles();
        }
    }

    fn bump(&mut self, col: usize, delta: f32) {
        let range = self.pool_start[col] as usize..self.pool_start[col + 1] as usize;
        for p in &mut self.perm[range] {
            *p = (*p + delta).clamp(0.0, 1.0);
        }
    }

    /// Raises all of a column's permanences together until at least `stimulus_threshold` of
    /// them (or its whole pool) are connected.
    fn raise_to_stimulus_threshold(&mut self, col: usize) {
        let want = self.params.stimulus_threshold as usize;
        let range = self.pool_start[col] as usize..self.pool_start[col + 1] as usize;
        let want = want.min(range.len());
        if want == 0 || self.perm[range.clone()].iter().filter(|&&p| p >= self.consts.connected).count() >= want {
            return;
        }
        let mut sorted = self.perm[range].to_vec();
        sorted.sort_unstable_by(|a, b| b.total_cmp(a));
        let delta = self.params.syn_perm_connected as f32 - sorted[want - 1];
        self.bump(col, delta);
    }

    /// Boost factors from the active duty cycles: global inhibition aims at the configured
    /// density, local inhibition at the mean duty cycle of the neighbourhood.
    fn update_boost_factors(&mut self) {
        let strength = self.params.boost_strength;
        if strength <= 0.0 {
            return;
        }
        let n = self.params.columns;
        let global = self.params.global_inhibition || self.inhibition_radius >= n;
        let density = self.density();
        for col in 0..n {
            let target = if global {
                density
            } else {
                let hood = neighbourhood(col, self.inhibition_radius, n, self.params.wrap_around);
                hood.iter().map(|&o| self.active_duty[o]).sum::<f64>() / hood.len() as f64
            };
            self.boost[col] = ((target - self.active_duty[col]) * strength).exp();
        }
    }

    fn update_min_duty_cycles(&mut self) {
        let n = self.params.columns;
        let pct = self.params.min_pct_overlap_duty_cycles;
        if self.params.global_inhibition || self.inhibition_radius >= n {
            let max = self.overlap_duty.iter().copied().fold(0.0, f64::max);
            self.min_overlap_duty.fill(pct * max);
        } else {
            for col in 0..n {
                let hood = neighbourhood(col, self.inhibition_radius, n, self.params.wrap_around);
                self.min_overlap_duty[col] = pct * hood.iter().map(|&o| self.overlap_duty[o]).fold(0.0, f64::max);
            }
        }
    }

    /// Global inhibition covers all columns; local inhibition uses the mean span of the
    /// columns' connected inputs, scaled to columns, as the diameter (at least radius 1).
    fn update_inhibition_radius(&mut self) {
        let n = self.params.columns;
        if self.params.global_inhibition {
            self.inhibition_radius = n;
            return;
        }
        let connected = self.params.syn_perm_connected as f32 + EPSILON;
        let mut span_sum = 0.0;
        for col in 0..n {
            let range = self.pool_start[col] as usize..self.pool_start[col + 1] as usize;
            let inputs = range.filter(|&s| self.perm[s] >= connected).map(|s| self.pool_input[s]);
            if let (Some(lo), Some(hi)) = (inputs.clone().min(), inputs.max()) {
                span_sum += f64::from(hi - lo + 1);
            }
        }
        let diameter = span_sum / n as f64 * (n as f64 / self.params.input_size as f64);
        self.inhibition_radius = ((diameter - 1.0) / 2.0).max(1.0).round() as usize;
    }
}

/// The indices within `radius` of `centre` in `0..size` (the centre included), wrapping
/// around the ends if `wrap`; all indices when the window covers the whole range.
fn neighbourhood(centre: usize, radius: usize, size: usize, wrap: bool) -> Vec<usize> {
    if wrap && 2 * radius + 1 >= size {
        (0..size).collect()
    } else if wrap {
        (0..=2 * radius).map(|o| (centre + size + o - radius) % size).collect()
    } else {
        (centre.saturating_sub(radius)..=(centre + radius).min(size - 1)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::index;

    fn random_sdr(size: usize, w: usize, seed: u64) -> Sdr {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        Sdr::new(size, index::sample(&mut rng, size, w).into_iter().map(|i| i as u32).collect())
    }

    fn shared(a: &Sdr, b: &Sdr) -> usize {
        a.active().iter().filter(|x| b.active().binary_search(x).is_ok()).count()
    }

    /// 2048 columns, 40 winners, pools over the whole input.
    fn global_pooler(input_size: usize) -> SpatialPooler {
        let p = SpatialPoolerParams {
            potential_radius: input_size,
            active_columns: ActiveColumns::PerInhibitionArea(40),
            ..SpatialPoolerParams::new(input_size, 2048)
        };
        SpatialPooler::new(p).unwrap()
    }

    /// Spec §2.7(b): with at least 40 columns of nonzero overlap, exactly 40 of 2048 win.
    #[test]
    fn forty_of_2048_columns_are_active_after_one_step() {
        let p = SpatialPoolerParams {
            active_columns: ActiveColumns::PerInhibitionArea(40),
            ..SpatialPoolerParams::new(1000, 2048)
        };
        let mut sp = SpatialPooler::new(p).unwrap();
        for seed in 0..5 {
            let out = sp.compute(&random_sdr(1000, 50, seed), seed % 2 == 0);
            assert!(sp.overlap.iter().filter(|&&o| o > 0).count() >= 40);
            assert_eq!(out.active().len(), 40);
        }
        let mut sp = SpatialPooler::new(SpatialPoolerParams::new(1000, 2048)).unwrap();
        assert_eq!(sp.compute(&random_sdr(1000, 50, 9), true).active().len(), 102, "⌊0.05 · 2048⌋ by default");
    }

    #[test]
    fn stimulus_threshold_leaves_weak_columns_off() {
        let p = SpatialPoolerParams { stimulus_threshold: 3, ..SpatialPoolerParams::new(1000, 2048) };
        let mut sp = SpatialPooler::new(p).unwrap();
        let out = sp.compute(&random_sdr(1000, 4, 1), false);
        assert!(out.active().len() < 102);
        assert!(out.active().iter().all(|&c| sp.overlap[c as usize] >= 3));
    }

    #[test]
    fn learning_increases_the_overlap_of_a_repeated_input_with_its_winners() {
        let p = SpatialPoolerParams {
            potential_radius: 200,
            active_columns: ActiveColumns::PerInhibitionArea(10),
            ..SpatialPoolerParams::new(200, 512)
        };
        let mut sp = SpatialPooler::new(p).unwrap();
        let x = random_sdr(200, 20, 5);
        let first = sp.compute(&x, true);
        let overlap = |sp: &SpatialPooler| first.active().iter().map(|&c| sp.overlap[c as usize]).sum::<u32>();
        let before = overlap(&sp);
        let mut last = first.clone();
        for _ in 0..20 {
            last = sp.compute(&x, true);
        }
        assert!(overlap(&sp) >= before + 20, "overlap of the winners went from {before} to {}", overlap(&sp));
        assert_eq!(last, first, "the winners stay the same");
    }

    #[test]
    fn similar_inputs_share_columns_and_dissimilar_ones_do_not() {
        let mut sp = global_pooler(1000);
        let x = random_sdr(1000, 50, 1);
        let mut near: Vec<u32> = x.active()[..45].to_vec();
        near.extend((0..1000).filter(|b| x.active().binary_search(b).is_err()).take(5));
        let near = Sdr::new(1000, near);
        let far = Sdr::new(1000, (0..1000).filter(|b| x.active().binary_search(b).is_err()).take(50).collect());
        let (ox, onear, ofar) = (sp.compute(&x, false), sp.compute(&near, false), sp.compute(&far, false));
        assert!(shared(&ox, &onear) >= 20, "90 % shared input gives {} of 40 shared columns", shared(&ox, &onear));
        assert!(shared(&ox, &ofar) <= 4, "disjoint input gives {} of 40 shared columns", shared(&ox, &ofar));
    }

    #[test]
    fn boosting_revives_columns_that_never_win() {
        let distinct_winners = |boost_strength| {
            let p = SpatialPoolerParams {
                potential_radius: 100,
                boost_strength,
                duty_cycle_period: 100,
                active_columns: ActiveColumns::PerInhibitionArea(10),
                ..SpatialPoolerParams::new(100, 256)
            };
            let mut sp = SpatialPooler::new(p).unwrap();
            let patterns = [random_sdr(100, 10, 1), random_sdr(100, 10, 2)];
            let mut ever = [false; 256];
            for t in 0..3000 {
                let out = sp.compute(&patterns[t % 2], true);
                if t >= 1000 {
                    out.active().iter().for_each(|&c| ever[c as usize] = true);
                }
            }
            ever.iter().filter(|&&e| e).count()
        };
        let (without, with) = (distinct_winners(0.0), distinct_winners(10.0));
        assert_eq!(without, 20, "two patterns, ten fixed winners each");
        assert!(with >= 5 * without, "boosting used {with} columns");
    }

    #[test]
    fn local_inhibition_keeps_the_density_near_its_target() {
        let p = SpatialPoolerParams { global_inhibition: false, ..SpatialPoolerParams::new(1000, 2048) };
        let mut sp = SpatialPooler::new(p).unwrap();
        assert!(sp.inhibition_radius < 2048);
        let active = sp.compute(&random_sdr(1000, 200, 3), true).active().len() as f64 / 2048.0;
        assert!((active - 0.05).abs() < 0.01, "density {active}");
    }

    #[test]
    fn the_same_seed_gives_the_same_columns_and_another_seed_other_ones() {
        let x = random_sdr(500, 40, 2);
        let run = |seed| {
            SpatialPooler::new(SpatialPoolerParams { seed, ..SpatialPoolerParams::new(500, 1024) })
                .unwrap()
                .compute(&x, true)
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn bad_parameters_are_reported_by_name() {
        let err = |p: SpatialPoolerParams| SpatialPooler::new(p).unwrap_err().to_string();
        assert!(err(SpatialPoolerParams::default()).contains("`input_size` = 0"));
        let p =
            SpatialPoolerParams { active_columns: ActiveColumns::Density(0.0001), ..SpatialPoolerParams::new(10, 100) };
        assert!(err(p).contains("`active_columns`"));
        assert!(
            err(SpatialPoolerParams { potential_pct: 0.0, ..SpatialPoolerParams::new(10, 100) })
                .contains("`potential_pct`")
        );
        assert!(
            err(SpatialPoolerParams { boost_strength: -1.0, ..SpatialPoolerParams::new(10, 100) })
                .contains("`boost_strength`")
        );
    }
}
