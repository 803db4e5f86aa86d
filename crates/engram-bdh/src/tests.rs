//! Cross-module checks: the parallel form against the recurrent one, the fused ops against
//! the op-by-op reference and finite differences, training, and checkpoint round trips.

use candle_core::{Device, Tensor, Var};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::config::{BdhConfig, DataConfig, RecipeConfig, TrainConfig, VOCAB};
use crate::model::{self, Kernels, Lowered, Params};
use crate::recurrent::Recurrent;
use crate::{attention, checkpoint};

fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn random_tokens(count: usize, seed: u64) -> Vec<u32> {
    let mut r = rng(seed);
    (0..count)
        .map(|_| r.random_range(0..VOCAB as u32))
        .collect()
}

#[test]
fn allocated_parameters_match_the_count_from_shapes() {
    let c = BdhConfig::small();
    let p = Params::init(&c, &mut rng(0), model::INIT_STD).unwrap();
    assert_eq!(p.count(), c.parameter_count());
    assert_eq!(p.count(), 851_968);
}

#[test]
fn parallel_and_recurrent_forms_give_the_same_logits() {
    let config = BdhConfig::small();
    // Larger than the init's 0.02, so that the logits are of order one and above.
    let params = Params::init(&config, &mut rng(7), 0.1).unwrap();
    let (batch, block) = (2, 64);
    let low = Lowered::new(&config, block).unwrap();
    let tokens = random_tokens(batch * block, 3);
    let recurrent = Recurrent::new(&config, &params).unwrap();
    let mut expected = Vec::new();
    for row in tokens.chunks(block) {
        let mut state = recurrent.state();
        let mut logits = vec![0.0; VOCAB];
        for &t in row {
            recurrent.step(&mut state, t as u8, &mut logits);
            expected.extend_from_slice(&logits);
        }
    }
    let expected = Tensor::from_vec(expected, (batch * block, VOCAB), &Device::Cpu).unwrap();
    let largest = expected
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(largest > 2.0, "logits too small to test: {largest}");
    for kernels in [Kernels::Reference, Kernels::Fused] {
        let logits = model::forward(&config, &params, &low, &tokens, batch, None, kernels).unwrap();
        let diff = max_abs_diff(&logits, &expected);
        eprintln!("{kernels:?}: max |Δlogit| = {diff} (largest |logit| {largest})");
        assert!(diff <= 1e-4, "{kernels:?}: max |Δlogit| = {diff}");
    }
}

/// The training loss of `tokens` (`batch` sequences and the next byte of each; dropout drawn
/// from seed 9) and the gradients of the five parameters, in [`Params::named`] order.
fn loss_and_gradients(
    config: &BdhConfig,
    params: &Params,
    low: &Lowered,
    tokens: &[u32],
    batch: usize,
    kernels: Kernels,
) -> (f32, Vec<Tensor>) {
    let inputs = &tokens[..tokens.len() - 1];
    let dropout = Some(&mut rng(9));
    let logits = model::forward(config, params, low, inputs, batch, dropout, kernels).unwrap();
    let loss = model::loss(&logits, &tokens[1..]).unwrap();
    let grads = loss.backward().unwrap();
    let named = params.named();
    let g = named.iter().map(|(_, v)| grads.get(v).unwrap().clone());
    (loss.to_scalar::<f32>().unwrap(), g.collect())
}

#[test]
fn fused_model_matches_the_reference_in_loss_and_gradients() {
    let mut config = BdhConfig::small();
    config.n_layer = 2;
    let params = Params::init(&config, &mut rng(11), 0.05).unwrap();
    let (batch, block) = (2, 32);
    let low = Lowered::new(&config, block).unwrap();
    let tokens = random_tokens(batch * block + 1, 5);
    let run = |kernels| loss_and_gradients(&config, &params, &low, &tokens, batch, kernels);
    let (loss_r, grads_r) = run(Kernels::Reference);
    let (loss_f, grads_f) = run(Kernels::Fused);
    assert!((loss_r - loss_f).abs() <= 1e-6, "{loss_r} vs {loss_f}");
    for ((name, _), (gr, gf)) in params.named().iter().zip(grads_r.iter().zip(&grads_f)) {
        let scale = gr
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let diff = max_abs_diff(gr, gf);
        assert!(
            scale > 0.0 && diff <= 1e-5 * scale.max(1.0),
            "{name}: |Δ| = {diff}, max |g| = {scale}"
        );
    }
}

#[test]
fn fused_neuron_layer_matches_the_reference_in_values_and_gradients() {
    // 70 tokens: two full causal blocks of 32 and a partial one; 150 tokens: five blocks, so
    // the symmetrised backward has blocks left of, on and below the diagonal.
    for (batch, block) in [(2, 70), (1, 150)] {
        let config = BdhConfig {
            n_layer: 1,
            n_embd: 16,
            n_head: 2,
            mult: 4,
            dropout: 0.2,
        };
        let params = Params::init(&config, &mut rng(21), 0.3).unwrap();
        let low = Lowered::new(&config, block).unwrap();
        let dims = attention::Dims {
            batch,
            block,
            d: 16,
            heads: 2,
            n: 32,
        };
        let rows = batch * block;
        let v =
            Var::from_tensor(&Tensor::randn(0f32, 1.0, (rows, 16), &Device::Cpu).unwrap()).unwrap();
        let weights = Tensor::randn(0f32, 1.0, (rows, 16), &Device::Cpu).unwrap();
        let mask = model::dropout_mask(2 * rows * 32, 0.2, &mut rng(1));
        for mask in [None, Some(mask)] {
            let run = |fused: bool| {
                let m = if fused {
                    let packed = attention::PackedWeights::new(
                        params.encoder.as_tensor(),
                        params.encoder_v.as_tensor(),
                        params.decoder.as_tensor(),
                    )
                    .unwrap();
                    attention::neuron_layer(v.as_tensor(), &packed, &low.table, dims, mask.clone())
                } else {
                    model::neuron_layer_reference(&params, &low, v.as_tensor(), dims, mask.clone())
                }
                .unwrap();
                let grads = (&m * &weights)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let wrt = [
                    v.as_tensor(),
                    params.encoder.as_tensor(),
                    params.encoder_v.as_tensor(),
                    params.decoder.as_tensor(),
                ];
                (m, wrt.map(|t| grads.get(t).unwrap().clone()))
            };
            let (m_ref, grads_ref) = run(false);
            let (m_fused, grads_fused) = run(true);
            let scale = max_abs_diff(&m_ref, &m_ref.zeros_like().unwrap());
            let diff = max_abs_diff(&m_ref, &m_fused);
            assert!(
                scale > 1.0 && diff <= 1e-5 * scale,
                "values differ: |Δ| = {diff}, max |m| = {scale}"
            );
            for (name, (r, f)) in ["v", "encoder", "encoder_v", "decoder"]
                .iter()
                .zip(grads_ref.iter().zip(&grads_fused))
            {
                let scale = max_abs_diff(r, &r.zeros_like().unwrap());
                let diff = max_abs_diff(r, f);
                assert!(
                    scale > 0.0 && diff <= 1e-5 * scale,
                    "∂{name}: |Δ| = {diff}, max |g| = {scale}"
                );
            }
        }
    }
}

fn tiny_run(dir: &std::path::Path, steps: u64) -> TrainConfig {
    let corpus = dir.join("corpus.txt");
    let text =
        "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer. "
            .repeat(40);
    std::fs::write(&corpus, text).unwrap();
    TrainConfig {
        model: BdhConfig {
            n_layer: 2,
            n_embd: 32,
            n_head: 2,
            mult: 4,
            dropout: 0.1,
        },
        data: DataConfig {
            corpus,
            validation_fraction: 0.1,
        },
        train: RecipeConfig {
            steps,
            batch: 4,
            block: 32,
            lr: 3e-3,
            weight_decay: 0.1,
            seed: 5,
            eval_every: 10,
            eval_batches: 4,
            final_eval_batches: 4,
            checkpoint_every: 10,
        },
    }
}

#[test]
fn training_lowers_the_validation_loss() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_run(dir.path(), 30);
    let corpus = crate::data::Corpus::load(&config.data.corpus, 0.1, 32).unwrap();
    let mut trainer = crate::train::Trainer::new(config).unwrap();
    let before = trainer.validation_loss(&corpus, 4).unwrap();
    for _ in 0..30 {
        trainer.step(&corpus).unwrap();
    }
    let after = trainer.validation_loss(&corpus, 4).unwrap();
    assert!(
        before > 5.0 && after < 3.0,
        "validation loss {before} -> {after}"
    );
}

#[test]
fn a_resumed_run_continues_exactly_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_run(dir.path(), 4);
    let corpus = crate::data::Corpus::load(&config.data.corpus, 0.1, 32).unwrap();
    let mut straight = crate::train::Trainer::new(config.clone()).unwrap();
    for _ in 0..4 {
        straight.step(&corpus).unwrap();
    }
    let mut first = crate::train::Trainer::new(config.clone()).unwrap();
    for _ in 0..2 {
        first.step(&corpus).unwrap();
    }
    let path = dir.path().join("ck.safetensors");
    checkpoint::save(&path, &first).unwrap();
    let saved = checkpoint::load(&path).unwrap();
    let file_crc = format!("{:08x}", crc32fast::hash(&std::fs::read(&path).unwrap()));
    assert_eq!(saved.crc32, file_crc);
    let mut resumed = saved.into_trainer(config, &path).unwrap();
    assert_eq!(resumed.steps_done, 2);
    for _ in 0..2 {
        resumed.step(&corpus).unwrap();
    }
    for ((name, a), (_, b)) in straight.params.named().iter().zip(resumed.params.named()) {
        assert_eq!(max_abs_diff(a.as_tensor(), b.as_tensor()), 0.0, "{name}");
    }
}

#[test]
fn a_corrupt_checkpoint_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, b"not a safetensors file").unwrap();
    let e = checkpoint::load(&path).err().unwrap().to_string();
    assert!(
        e.contains("bad.safetensors") && e.contains("not a valid BDH checkpoint"),
        "{e}"
    );
    let config = tiny_run(dir.path(), 2);
    let trainer = crate::train::Trainer::new(config).unwrap();
    checkpoint::save(&path, &trainer).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&path, bytes).unwrap();
    let e = checkpoint::load(&path).err().unwrap().to_string();
    assert!(e.contains("not a valid BDH checkpoint"), "{e}");
}

#[test]
fn dropout_masks_drop_the_asked_fraction_and_scale_the_rest() {
    let (p, count) = (0.1, 1_000_001);
    let mask = model::dropout_mask(count, p, &mut rng(3));
    assert_eq!(mask.len(), count);
    let keep = (1.0 / (1.0 - p)) as f32;
    assert!(mask.iter().all(|&m| m == 0.0 || m == keep));
    // The dropped fraction is binomial: sd sqrt(p(1-p)/count) = 0.0003; allow 5 sd.
    let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / count as f64;
    assert!((dropped - p).abs() < 0.0015, "dropped {dropped}");
    // Both halves of each 64-bit draw are used and independent: neighbours agree as often as
    // independent draws would (p² + (1-p)² = 0.82).
    let same = mask.windows(2).filter(|w| w[0] == w[1]).count() as f64 / (count - 1) as f64;
    assert!((same - 0.82).abs() < 0.003, "neighbours agree {same}");
}

#[test]
fn fused_gradients_are_bit_identical_whatever_the_thread_count() {
    let mut config = BdhConfig::small();
    config.n_layer = 2;
    let params = Params::init(&config, &mut rng(12), 0.05).unwrap();
    let (batch, block) = (2, 40);
    let low = Lowered::new(&config, block).unwrap();
    let tokens = random_tokens(batch * block + 1, 6);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (_, grads) = pool
            .install(|| loss_and_gradients(&config, &params, &low, &tokens, batch, Kernels::Fused));
        grads
            .iter()
            .map(|g| g.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .collect::<Vec<_>>()
    };
    let one = run(1);
    assert!(one.iter().all(|g| g.iter().any(|&x| x != 0.0)));
    for threads in [2, 3] {
        assert!(one == run(threads), "{threads} threads");
    }
}
