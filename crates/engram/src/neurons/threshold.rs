//! The integrate-threshold-reset loop shared by models whose only state is `v` and whose
//! reset is `v <- v_reset`, in two forms that compute the same numbers bit for bit:
//!
//! - [`threshold_loop`], the reference: the synaptic sums `a`, `b` were accumulated by the
//!   channels in an earlier pass (`Channel::advance`);
//! - [`fused_exp_loop`], the fast path for populations whose synapses are all exponential:
//!   it advances the channels inside the neuron loop, so each neuron's state is read and
//!   written once per step instead of once per pass (arrivals are already in the channel
//!   state: `Channel::deliver` runs before either loop).
//!
//! Both are written without branches or bounds checks in the inner loop so that they
//! vectorise; the spiking neurons of a block are then found by scanning its flags, so
//! spikes come out in increasing index order.

use super::{RefractoryEnd, StepInput};
use crate::synapses::ExpInput;

/// Neurons per block: the flags of a block live on the stack.
const BLOCK: usize = 256;

/// Threshold and reset of a model: spike when `v >= v_th`, then `v <- v_reset` and hold
/// for `ref_steps` steps (see `is_refractory` for the convention).
#[derive(Debug, Clone, Copy)]
pub struct Reset {
    pub v_th: f64,
    pub v_reset: f64,
    pub ref_steps: i64,
}

/// `integrate(v, a, b, i_ext)` returns the potential after one step given the synaptic
/// sums `a`, `b` (b is 0 without conductance synapses) and the injected current.
pub trait Integrate: Fn(f64, f64, f64, f64) -> f64 {}
impl<F: Fn(f64, f64, f64, f64) -> f64> Integrate for F {}

/// The reference loop: input from a [`StepInput`] filled by the channels beforehand.
#[inline(always)]
pub fn threshold_loop(
    step: i64,
    v: &mut [f64],
    refractory: &mut [RefractoryEnd],
    input: &StepInput,
    reset: Reset,
    spikes: &mut Vec<u32>,
    integrate: impl Integrate,
) {
    let zeros = [0.0f64; BLOCK];
    let mut flags = [0u64; BLOCK];
    let mut start = 0;
    while start < v.len() {
        let end = (start + BLOCK).min(v.len());
        let len = end - start;
        let vb = &mut v[start..end];
        let rb = &mut refractory[start..end];
        let ab = &input.syn_a[start..end];
        let bb = if input.conductance { &input.syn_b[start..end] } else { &zeros[..len] };
        let jb = if input.jumps { &input.v_jump[start..end] } else { &zeros[..len] };
        let eb = &input.i_ext[start..end];
        let fb = &mut flags[..len];
        for k in 0..len {
            let next = integrate(vb[k] + jb[k], ab[k], bb[k], eb[k]);
            fb[k] = fire(&mut vb[k], &mut rb[k], next, step, reset);
        }
        collect_spikes(fb, start, spikes);
        start = end;
    }
}

/// The fast path: the `C` exponential channels are advanced inside the neuron loop; the
/// first `COND` of them are conductance-based, the others current-based. Accumulates the
/// channels' input into `a` and `b` in channel order, the first assigning, exactly as
/// `Channel::advance` does, so the result equals the reference loop's.
///
/// `EXT` says whether a current is injected (`i_ext`, ignored otherwise). Without one the
/// injected current is the constant -0.0, which the compiler folds away (x + -0.0 = x for
/// every x, where the reference adds the +0.0 of an empty current: the same but for the
/// sign of a zero sum, which no potential has).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn fused_exp_loop<const C: usize, const COND: usize, const EXT: bool>(
    step: i64,
    v: &mut [f64],
    refractory: &mut [RefractoryEnd],
    i_ext: &[f64],
    mut channels: [ExpInput; C],
    reset: Reset,
    spikes: &mut Vec<u32>,
    integrate: impl Integrate,
) {
    let mut flags = [0u64; BLOCK];
    let mut start = 0;
    while start < v.len() {
        let end = (start + BLOCK).min(v.len());
        let len = end - start;
        let vb = &mut v[start..end];
        let rb = &mut refractory[start..end];
        let eb = if EXT { &i_ext[start..end] } else { &[] };
        let mut blocks = channels.each_mut().map(|ch| ch.block(start..end));
        let fb = &mut flags[..len];
        for k in 0..len {
            let (mut a, mut b) = (0.0, 0.0);
            // `c` and `COND` are constants once the loop over channels is unrolled, so
            // the branches below disappear.
            for (c, ch) in blocks.iter_mut().enumerate() {
                let g = ch.s[k];
                ch.s[k] = g * ch.decay;
                a = match (c < COND, c == 0) {
                    (true, true) => g * ch.e_rev,
                    (true, false) => g.mul_add(ch.e_rev, a),
                    (false, true) => g,
                    (false, false) => a + g,
                };
                if c < COND {
                    b = if c == 0 { g } else { b + g };
                }
            }
            let next = integrate(vb[k], a, b, if EXT { eb[k] } else { -0.0 });
            fb[k] = fire(&mut vb[k], &mut rb[k], next, step, reset);
        }
        collect_spikes(fb, start, spikes);
        start = end;
    }
}

/// Applies the threshold and the reset at `step` to one neuron whose integrated potential
/// is `next` (ignored while it is held refractory); returns all ones if it spiked, else 0
/// (the comparison's lane mask, stored as it is).
///
/// A held neuron's potential is `v_reset`, where its spike left it, so it is written as
/// such, and a spike's refractory end is merged with `max` (it is later than the old one):
/// stores that keep the old value of some lanes would become masked stores, which are slow
/// on some processors.
#[inline(always)]
fn fire(v: &mut f64, refractory_end: &mut RefractoryEnd, next: f64, step: i64, reset: Reset) -> u64 {
    let held = step < *refractory_end;
    let spike = !held & (next >= reset.v_th);
    *v = if spike | held { reset.v_reset } else { next };
    *refractory_end = (*refractory_end).max(if spike { step + reset.ref_steps } else { 0 });
    (spike as u64).wrapping_neg()
}

/// Pushes `offset + k` for every set flag, skipping sixteen clear flags at a time.
#[inline(always)]
fn collect_spikes(flags: &[u64], offset: usize, spikes: &mut Vec<u32>) {
    const CHUNK: usize = 16;
    for (c, chunk) in flags.chunks(CHUNK).enumerate() {
        if chunk.iter().fold(0, |acc, &f| acc | f) == 0 {
            continue;
        }
        for (k, &f) in chunk.iter().enumerate() {
            if f != 0 {
                spikes.push((offset + CHUNK * c + k) as u32);
            }
        }
    }
}
