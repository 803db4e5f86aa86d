//! The integrate-threshold-reset loop shared by models whose only state is `v` and whose
//! reset is `v <- v_reset`, in two forms that compute the same numbers bit for bit:
//!
//! - [`threshold_loop`], the reference: the synaptic sums `a`, `b` were accumulated by the
//!   channels in an earlier pass (`Channel::advance`);
//! - [`fused_exp_loop`], the fast path for populations whose synapses are all exponential:
//!   it advances the channels inside the neuron loop, so each neuron's state is read and
//!   written once per step instead of once per pass.
//!
//! Both are written without branches or bounds checks in the inner loop so that they
//! vectorise; the spiking neurons of a block are then found by scanning its flags, so
//! spikes come out in increasing index order.

use super::{Countdown, StepInput};
use crate::synapses::ExpInput;

/// Neurons per block: the flags of a block live on the stack.
const BLOCK: usize = 256;

/// Threshold and reset of a model: spike when `v >= v_th`, then `v <- v_reset` and hold
/// for `ref_steps` steps (see `hold_refractory` for the convention).
#[derive(Debug, Clone, Copy)]
pub struct Reset {
    pub v_th: f64,
    pub v_reset: f64,
    pub ref_steps: Countdown,
}

/// `integrate(v, a, b, i_ext)` returns the potential after one step given the synaptic
/// sums `a`, `b` (b is 0 without conductance synapses) and the injected current.
pub trait Integrate: Fn(f64, f64, f64, f64) -> f64 {}
impl<F: Fn(f64, f64, f64, f64) -> f64> Integrate for F {}

/// The reference loop: input from a [`StepInput`] filled by the channels beforehand.
#[inline(always)]
pub fn threshold_loop(v: &mut [f64], refractory: &mut [Countdown], input: &StepInput, reset: Reset, spikes: &mut Vec<u32>, integrate: impl Integrate) {
    let zeros = [0.0f64; BLOCK];
    let mut flags = [0u8; BLOCK];
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
            fb[k] = fire(&mut vb[k], &mut rb[k], next, reset);
        }
        collect_spikes(fb, start, spikes);
        start = end;
    }
}

/// The fast path: the `C` exponential channels are advanced inside the neuron loop.
/// Adds each channel's `g * to_a` to `a` and `g * to_b` to `b` in channel order, exactly
/// as `Channel::advance` does, so the result equals the reference loop's.
#[inline(always)]
pub fn fused_exp_loop<const C: usize>(
    v: &mut [f64],
    refractory: &mut [Countdown],
    i_ext: &[f64],
    mut channels: [ExpInput; C],
    reset: Reset,
    spikes: &mut Vec<u32>,
    integrate: impl Integrate,
) {
    let mut flags = [0u8; BLOCK];
    let mut start = 0;
    while start < v.len() {
        let end = (start + BLOCK).min(v.len());
        let len = end - start;
        let vb = &mut v[start..end];
        let rb = &mut refractory[start..end];
        let eb = &i_ext[start..end];
        let mut blocks = channels.each_mut().map(|ch| ch.block(start..end));
        let fb = &mut flags[..len];
        for k in 0..len {
            let (mut a, mut b) = (0.0, 0.0);
            for ch in &mut blocks {
                let g = ch.s[k] + ch.arriving[k];
                ch.arriving[k] = 0.0;
                a += g * ch.to_a;
                b += g * ch.to_b;
                ch.s[k] = g * ch.decay;
            }
            let next = integrate(vb[k], a, b, eb[k]);
            fb[k] = fire(&mut vb[k], &mut rb[k], next, reset);
        }
        collect_spikes(fb, start, spikes);
        start = end;
    }
}

/// Applies the threshold and the reset to one neuron whose integrated potential is `next`
/// (ignored while it is held refractory); returns 1 if it spiked.
///
/// A held neuron's potential is `v_reset`, where its spike left it, so it is written as
/// such: stores that keep the old value of some lanes would become masked stores, which
/// are slow on some processors.
#[inline(always)]
fn fire(v: &mut f64, refractory: &mut Countdown, next: f64, reset: Reset) -> u8 {
    let r = *refractory;
    let held = r > 1;
    let spike = !held & (next >= reset.v_th);
    *v = if spike | held { reset.v_reset } else { next };
    *refractory = if spike { reset.ref_steps } else { (r - 1).max(0) };
    spike as u8
}

/// Pushes `offset + k` for every set flag, skipping eight clear flags at a time.
#[inline(always)]
fn collect_spikes(flags: &[u8], offset: usize, spikes: &mut Vec<u32>) {
    let mut k = 0;
    while k < flags.len() {
        if k + 8 <= flags.len() && u64::from_ne_bytes(flags[k..k + 8].try_into().expect("8 bytes")) == 0 {
            k += 8;
            continue;
        }
        if flags[k] != 0 {
            spikes.push((offset + k) as u32);
        }
        k += 1;
    }
}
