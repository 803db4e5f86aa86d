//! Generated data for the HTM experiments (nothing here is downloaded):
//!
//! - the high-order sequence stream of Cui, Ahmad & Hawkins (2016), §"Discrete sequences":
//!   eight sequences over the symbols 0–9, in pairs that share their middle so that the last
//!   symbol depends on the first; sequences are separated by one noise symbol from a reserve
//!   of 5 000, and after `perturb_at` elements the endings are swapped (the paper's
//!   "perturbed" set). The sequences are those of `htmresearch/support/
//!   sequence_prediction_dataset.py` (`HighOrderDataset`, one prediction), spec §2.5;
//! - a passenger-demand-like stream with daily and weekly periods, sampled every 30 minutes
//!   like `nyc_taxi.csv`, to test the continuous pipeline where that file cannot be fetched.

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::encoders::DateTime;

/// The training set: pairs share all but their first and last symbols.
pub const HIGH_ORDER_SEQUENCES: [&[u32]; 8] = [
    &[6, 8, 7, 4, 2, 3, 0],
    &[1, 8, 7, 4, 2, 3, 5],
    &[6, 3, 4, 2, 7, 8, 5],
    &[1, 3, 4, 2, 7, 8, 0],
    &[0, 9, 7, 8, 5, 3, 4, 1],
    &[2, 9, 7, 8, 5, 3, 4, 6],
    &[0, 4, 3, 5, 8, 7, 9, 6],
    &[2, 4, 3, 5, 8, 7, 9, 1],
];

/// The same sequences with the endings of each pair swapped.
pub const HIGH_ORDER_PERTURBED: [&[u32]; 8] = [
    &[6, 8, 7, 4, 2, 3, 5],
    &[1, 8, 7, 4, 2, 3, 0],
    &[6, 3, 4, 2, 7, 8, 0],
    &[1, 3, 4, 2, 7, 8, 5],
    &[0, 9, 7, 8, 5, 3, 4, 6],
    &[2, 9, 7, 8, 5, 3, 4, 1],
    &[0, 4, 3, 5, 8, 7, 9, 1],
    &[2, 4, 3, 5, 8, 7, 9, 6],
];

/// Noise symbols are drawn from `NOISE_FIRST .. NOISE_FIRST + NOISE_SYMBOLS`.
pub const NOISE_FIRST: u32 = 100;
pub const NOISE_SYMBOLS: u32 = 5_000;

/// The role of an element in the high-order stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A noise symbol between sequences.
    Noise,
    /// The first symbol of a sequence (unpredictable: which sequence comes is random).
    First,
    /// A later symbol, predictable from the sequence so far.
    Inner,
    /// The last symbol, which only the sequence's first symbol determines.
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element {
    pub symbol: u32,
    pub role: Role,
}

/// `n` elements of the high-order stream; sequences that start at or after element
/// `perturb_at` come from the perturbed set.
pub fn high_order_stream(seed: u64, n: usize, perturb_at: Option<usize>) -> Vec<Element> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        let perturbed = perturb_at.is_some_and(|p| out.len() >= p);
        let set = if perturbed { &HIGH_ORDER_PERTURBED } else { &HIGH_ORDER_SEQUENCES };
        let sequence = set[rng.random_range(0..set.len())];
        for (i, &symbol) in sequence.iter().enumerate() {
            let role = match i {
                0 => Role::First,
                _ if i + 1 == sequence.len() => Role::Last,
                _ => Role::Inner,
            };
            out.push(Element { symbol, role });
        }
        out.push(Element { symbol: NOISE_FIRST + rng.random_range(0..NOISE_SYMBOLS), role: Role::Noise });
    }
    out.truncate(n);
    out
}

/// A demand-like series every 30 minutes from 2014-07-01 00:00 for `days` days: a daily
/// profile (night trough, morning and evening peaks), quieter and later weekend mornings,
/// busier Friday and Saturday nights, and 5 % multiplicative noise.
pub fn periodic_demand(seed: u64, days: usize) -> Vec<(DateTime, f64)> {
    const STEP_S: i64 = 1_800;
    let start = DateTime::new(2014, 7, 1, 0, 0, 0).expect("a valid date").unix_seconds();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..days as i64 * 48)
        .map(|k| {
            let t = DateTime::from_unix_seconds(start + k * STEP_S);
            let hour = t.hour_of_day();
            let weekend = t.is_weekend();
            let bump = |centre: f64, width: f64| (-((hour - centre) / width).powi(2)).exp();
            let (morning, evening) = if weekend { (0.45 * bump(11.0, 2.5), 0.9 * bump(20.0, 3.0)) } else { (bump(8.5, 1.5), 0.9 * bump(19.0, 2.5)) };
            // Monday = 0 .. Sunday = 6 (the date encoder's convention).
            let late_night = if matches!(t.weekday(), 4 | 5) { 0.5 * bump(23.5, 1.5) } else { 0.0 };
            let level = 4_000.0 + 22_000.0 * (morning + evening + late_night);
            let noise = 1.0 + 0.05 * (rng.random::<f64>() * 2.0 - 1.0);
            (t, (level * noise).round())
        })
        .collect()
}

/// Writes a `timestamp,value` CSV of a series.
pub fn write_csv(path: &std::path::Path, series: &[(DateTime, f64)]) -> std::io::Result<()> {
    let mut text = String::from("timestamp,value\n");
    for (t, v) in series {
        text += &format!("{t},{v}\n");
    }
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_share_their_middle_and_differ_at_both_ends() {
        for sets in [HIGH_ORDER_SEQUENCES, HIGH_ORDER_PERTURBED] {
            for pair in sets.chunks(2) {
                let (a, b) = (pair[0], pair[1]);
                assert_eq!(a.len(), b.len());
                assert_eq!(a[1..a.len() - 1], b[1..b.len() - 1]);
                assert_ne!(a[0], b[0]);
                assert_ne!(a[a.len() - 1], b[b.len() - 1]);
            }
        }
    }

    #[test]
    fn the_stream_switches_to_the_perturbed_endings() {
        let stream = high_order_stream(3, 4_000, Some(2_000));
        assert_eq!(stream.len(), 4_000);
        // A sequence's first two symbols fix its ending; the mapping flips at the switch.
        let endings = |range: std::ops::Range<usize>| {
            let mut seen = Vec::new();
            let mut start = Vec::new();
            for e in &stream[range] {
                match e.role {
                    Role::First => start = vec![e.symbol],
                    Role::Inner if start.len() == 1 => start.push(e.symbol),
                    Role::Last if start.len() == 2 => seen.push((start[0], start[1], e.symbol)),
                    _ => {}
                }
            }
            seen
        };
        let before = endings(0..1_990);
        let after = endings(2_010..4_000);
        assert!(before.contains(&(6, 8, 0)) && !before.contains(&(6, 8, 5)));
        assert!(after.contains(&(6, 8, 5)) && !after.contains(&(6, 8, 0)));
        let noise = stream.iter().filter(|e| e.role == Role::Noise).count();
        assert!(noise > 400 && stream.iter().all(|e| e.role != Role::Noise || e.symbol >= NOISE_FIRST));
    }

    #[test]
    fn demand_has_daily_and_weekly_periods() {
        let series = periodic_demand(1, 28);
        assert_eq!(series.len(), 28 * 48);
        let value_at = |day: usize, half_hour: usize| series[day * 48 + half_hour].1;
        // 2014-07-01 is a Tuesday: 4 am trough under the 8:30 am peak on weekdays.
        assert!(value_at(0, 8) < 0.4 * value_at(0, 17));
        // The same weekday a week later is within the noise; a Saturday morning is quieter.
        assert!((value_at(0, 17) - value_at(7, 17)).abs() < 0.12 * value_at(0, 17));
        assert!(value_at(4, 17) < 0.7 * value_at(0, 17));
    }
}
