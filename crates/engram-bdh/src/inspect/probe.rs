//! The monosemantic synapse probe (`shared/specs/bdh.md` §6 item 2, reference figures §8.7;
//! the paper's §6.3 procedure as the reference's `synapse_probe.py` adapts it): does a single
//! synapse of [`σ_l`](super::sigma) strengthen when a concept is mentioned?
//!
//! 1. Sentences are the corpus lines of 30–120 bytes (trimmed). Concept sentences contain one
//!    of the concept's words as a whole word (case ignored, the reference's `\b(w₁|w₂|…)\b`
//!    for ASCII text); contrast sentences contain none. `per_class` of each are drawn.
//! 2. Every sentence is read from an empty state and gets its own σ_l (divided by its length).
//! 3. Each class is shuffled and halved: on the discovery halves the synapse `(pre, post)` with
//!    the largest Welch t (concept above contrast) is chosen among all n² entries; on the
//!    held-out halves its values are compared by a one-sided Mann–Whitney U test and the
//!    rank-biserial correlation ([`super::stats`]).
//! 4. Control: the same pipeline on the same sentences with the labels shuffled, which should
//!    find nothing (r near 0).
//!
//! The reference's concepts are royalty (king, queen, crown, …) and numbers (two … thousand);
//! on its seed-2 anchor model at 300 steps it found held-out rank-biserial r = 0.50–0.68
//! (royalty) and 0.47–0.63 (numbers), shuffled controls −0.08–0.21. Random streams: sentence
//! draws from `seed`, the discovery split from `seed + 1`, the label shuffle from `seed + 2`.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::Serialize;

use super::sigma;
use super::stats::{self, Moments, RankTest};
use super::trace::{self, SparseRows};
use crate::BdhError;
use crate::recurrent::Recurrent;

/// A concept: a name and the words that mention it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Concept {
    pub name: String,
    pub words: Vec<String>,
}

/// The reference's two concepts.
pub fn reference_concepts() -> Vec<Concept> {
    let concept = |name: &str, words: &[&str]| Concept {
        name: name.into(),
        words: words.iter().map(|w| w.to_string()).collect(),
    };
    vec![
        concept(
            "royalty",
            &[
                "king",
                "kings",
                "queen",
                "queens",
                "crown",
                "throne",
                "majesty",
                "royal",
                "sovereign",
            ],
        ),
        concept(
            "numbers",
            &[
                "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twenty",
                "hundred", "thousand",
            ],
        ),
    ]
}

/// Whether `line` holds one of `words` as a whole word: words are maximal runs of ASCII
/// letters, digits and `_`, compared without case.
pub fn mentions(line: &str, words: &[String]) -> bool {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| !w.is_empty() && words.iter().any(|x| x.eq_ignore_ascii_case(w)))
}

/// How the probe draws and splits its sentences.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub per_class: usize,
    pub min_bytes: usize,
    pub max_bytes: usize,
    pub seed: u64,
}

impl Default for Settings {
    /// The reference's: 120 sentences per class of 30–120 bytes.
    fn default() -> Self {
        Settings {
            per_class: 120,
            min_bytes: 30,
            max_bytes: 120,
            seed: 0,
        }
    }
}

/// The lines of `text` (split at `\n`, trimmed) whose length lies in the settings' range.
pub fn candidate_lines<'a>(text: &'a str, settings: &Settings) -> Vec<&'a str> {
    text.split('\n')
        .map(str::trim)
        .filter(|l| (settings.min_bytes..=settings.max_bytes).contains(&l.len()))
        .collect()
}

/// One sentence's activity for a layer pair: `g` of layer `l − 1`, `x` of layer `l`.
#[derive(Clone, Copy)]
pub struct Pair<'a> {
    pub g: &'a SparseRows,
    pub x: &'a SparseRows,
}

/// The synapse chosen on the discovery halves and its held-out test.
#[derive(Clone, Debug, Serialize)]
pub struct Selection {
    /// (pre in layer l − 1, post in layer l), neuron indices `h·N + k`.
    pub synapse_pre_post: [usize; 2],
    pub discovery_t: f64,
    /// Discovery sentences: [concept, contrast].
    pub n_discovery: [usize; 2],
    /// Held-out sentences: [concept, contrast].
    pub n_test: [usize; 2],
    pub test: RankTest,
    pub test_mean_concept: f64,
    pub test_mean_contrast: f64,
    /// The fraction of σ's entries whose discovery mean is non-zero.
    pub frac_synapses_nonzero: f64,
}

/// One concept at one layer: the real labels and the shuffled control.
#[derive(Clone, Debug, Serialize)]
pub struct ConceptResult {
    pub concept: String,
    /// σ_l pairs layer `l − 1` with layer `l` (from 1).
    pub layer: usize,
    pub concept_vs_contrast: Selection,
    pub shuffled_labels: Selection,
}

/// Adds one sentence's σ to `moments`.
fn add_sigma(moments: &mut Moments, pair: &Pair) {
    let columns = pair.g.columns();
    moments.add_rows(pair.x.width, |i, row| sigma::row(&columns[i], pair.x, row));
}

/// Steps 3 of the module header for sentences of `concept` and `contrast`, split by `seed`.
pub fn select_and_test(
    concept: &[Pair],
    contrast: &[Pair],
    seed: u64,
) -> Result<Selection, BdhError> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut concept, mut contrast) = (concept.to_vec(), contrast.to_vec());
    concept.shuffle(&mut rng);
    contrast.shuffle(&mut rng);
    let (hc, ho) = (concept.len() / 2, contrast.len() / 2);
    if hc < 2 || ho < 2 {
        return Err(BdhError::Config(format!(
            "the synapse probe needs at least 4 sentences per class, got {} and {}",
            concept.len(),
            contrast.len()
        )));
    }
    let (rows, columns) = (concept[0].g.width, concept[0].x.width);
    let mut moments = [Moments::new(rows * columns), Moments::new(rows * columns)];
    for pair in &concept[..hc] {
        add_sigma(&mut moments[0], pair);
    }
    for pair in &contrast[..ho] {
        add_sigma(&mut moments[1], pair);
    }
    let t = stats::welch_t(&moments[0], &moments[1]);
    let best = stats::argmax(&t);
    let (pre, post) = (best / columns, best % columns);
    let (m1, m0) = (moments[0].means(), moments[1].means());
    let nonzero = m1.iter().zip(&m0).filter(|(a, b)| *a + *b > 0.0).count();
    let values = |pairs: &[Pair]| -> Vec<f64> {
        pairs
            .iter()
            .map(|p| sigma::entry(p.g, p.x, pre, post))
            .collect()
    };
    let (held_concept, held_contrast) = (values(&concept[hc..]), values(&contrast[ho..]));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    Ok(Selection {
        synapse_pre_post: [pre, post],
        discovery_t: t[best],
        n_discovery: [hc, ho],
        n_test: [held_concept.len(), held_contrast.len()],
        test: stats::mann_whitney_greater(&held_concept, &held_contrast)?,
        test_mean_concept: mean(&held_concept),
        test_mean_contrast: mean(&held_contrast),
        frac_synapses_nonzero: nonzero as f64 / t.len() as f64,
    })
}

/// Checks that every σ layer `l` lies in `2..=n_layer`.
pub fn check_layers(layers: &[usize], n_layer: usize) -> Result<(), BdhError> {
    if layers.is_empty() {
        return Err(BdhError::Config("no layer given".into()));
    }
    for &l in layers {
        if !(2..=n_layer).contains(&l) {
            return Err(BdhError::Config(format!(
                "layer {l} is out of range: σ_l pairs layer l − 1 with layer l, so l must lie in 2..={n_layer} for this {n_layer}-layer model"
            )));
        }
    }
    Ok(())
}

/// The probe of `concept` on `lines` at each σ layer of `layers`.
pub fn probe(
    recurrent: &Recurrent,
    lines: &[&str],
    concept: &Concept,
    layers: &[usize],
    settings: &Settings,
) -> Result<Vec<ConceptResult>, BdhError> {
    check_layers(layers, recurrent.config().n_layer)?;
    sigma::check_dense(recurrent.config().neurons(), "the synapse probe")?;
    let (mut pos, mut neg): (Vec<&str>, Vec<&str>) =
        lines.iter().partition(|l| mentions(l, &concept.words));
    let k = settings.per_class;
    if pos.len() < k || neg.len() < k {
        return Err(BdhError::Config(format!(
            "{} lines of {}–{} bytes mention {} and {} do not, fewer than the {k} per class asked for",
            pos.len(),
            settings.min_bytes,
            settings.max_bytes,
            concept.name,
            neg.len()
        )));
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(settings.seed);
    pos.shuffle(&mut rng);
    neg.shuffle(&mut rng);
    let sentences: Vec<&str> = pos[..k].iter().chain(&neg[..k]).copied().collect();
    let traces: Vec<trace::Trace> = sentences
        .par_iter()
        .map(|s| trace::read(recurrent, s.as_bytes()).0)
        .collect();
    let mut order: Vec<usize> = (0..2 * k).collect();
    order.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(settings.seed + 2));
    layers
        .iter()
        .map(|&l| {
            let pairs: Vec<Pair> = traces
                .iter()
                .map(|t| Pair {
                    g: &t.g[l - 2],
                    x: &t.x[l - 1],
                })
                .collect();
            let shuffled: Vec<Pair> = order.iter().map(|&i| pairs[i]).collect();
            Ok(ConceptResult {
                concept: concept.name.clone(),
                layer: l,
                concept_vs_contrast: select_and_test(&pairs[..k], &pairs[k..], settings.seed + 1)?,
                shuffled_labels: select_and_test(
                    &shuffled[..k],
                    &shuffled[k..],
                    settings.seed + 1,
                )?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn concept_words_match_whole_words_only() {
        let royalty = &reference_concepts()[0].words;
        assert!(mentions("The KING'S men", royalty));
        assert!(mentions("long live the queen.", royalty));
        assert!(!mentions("A kingdom for a horse", royalty));
        assert!(!mentions("thrones", royalty));
        let lines = candidate_lines(
            "  short\n  a line that is long enough to count  \n",
            &Settings {
                min_bytes: 10,
                ..Settings::default()
            },
        );
        assert_eq!(lines, vec!["a line that is long enough to count"]);
    }

    /// Sentences of 6 tokens over 8 pre and 8 post neurons with random sparse activity; in
    /// concept sentences pre neuron 2 and post neuron 5 are also active together on every
    /// token.
    fn sentences(
        count: usize,
        planted: bool,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Vec<(SparseRows, SparseRows)> {
        (0..count)
            .map(|_| {
                let (mut g, mut x) = (SparseRows::new(8), SparseRows::new(8));
                for _ in 0..6 {
                    let mut noise = || -> Vec<f32> {
                        (0..8)
                            .map(|_| (rng.random::<f32>() - 0.5).max(0.0))
                            .collect()
                    };
                    let (mut gv, mut xv) = (noise(), noise());
                    if planted {
                        gv[2] += 0.5;
                        xv[5] += 0.5;
                    }
                    g.extend_row(0, gv);
                    x.extend_row(0, xv);
                    g.end_row();
                    x.end_row();
                }
                (g, x)
            })
            .collect()
    }

    #[test]
    fn the_probe_finds_a_planted_synapse_and_the_shuffled_control_does_not() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let concept = sentences(60, true, &mut rng);
        let contrast = sentences(60, false, &mut rng);
        fn pairs(s: &[(SparseRows, SparseRows)]) -> Vec<Pair<'_>> {
            s.iter().map(|(g, x)| Pair { g, x }).collect()
        }
        let (c, o) = (pairs(&concept), pairs(&contrast));
        let found = select_and_test(&c, &o, 1).unwrap();
        assert_eq!(found.synapse_pre_post, [2, 5], "{found:?}");
        assert_eq!((found.n_discovery, found.n_test), ([30, 30], [30, 30]));
        assert!(
            found.test.rank_biserial > 0.9 && found.test.p_one_sided < 1e-6,
            "{found:?}"
        );
        // The control: the same sentences, labels shuffled.
        let mut all: Vec<Pair> = c.iter().chain(&o).copied().collect();
        all.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(2));
        let null = select_and_test(&all[..60], &all[60..], 1).unwrap();
        assert!(
            null.test.rank_biserial.abs() < 0.45 && null.test.p_one_sided > 0.01,
            "{null:?}"
        );
    }

    #[test]
    fn models_too_wide_for_a_dense_sigma_are_refused() {
        let e = sigma::check_dense(32768, "the synapse probe")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the synapse probe needs σ dense") && e.contains("n = 32768"),
            "{e}"
        );
        assert!(sigma::check_dense(8192, "the synapse probe").is_ok());
    }

    #[test]
    fn layers_outside_the_model_are_refused() {
        let e = check_layers(&[2, 5], 4).unwrap_err().to_string();
        assert!(
            e.contains("layer 5 is out of range") && e.contains("2..=4"),
            "{e}"
        );
        assert!(check_layers(&[1], 4).is_err());
        assert!(check_layers(&[2, 3, 4], 4).is_ok());
    }
}
