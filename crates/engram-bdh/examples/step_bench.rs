//! Training-step and generation throughput of the anchor configuration (or the default one
//! with `--default`), single-threaded, on random bytes: one `RESULT {json}` line per
//! measurement with tokens per wall second and per CPU second (the latter is the steadier
//! figure on a shared machine); training as the median and the best of `--steps` steps.
//!
//! cargo run --release -p engram-bdh --example step_bench -- [--default] [--steps K] [--kernels reference|fused|both]

use std::time::Instant;

use engram_bdh::config::{BdhConfig, VOCAB};
use engram_bdh::model::{self, INIT_STD, Kernels, Lowered, Params};
use engram_bdh::recurrent::Recurrent;
use engram_train::optim::{Optimizer, OptimizerConfig};
use engram_train::train::cpu_seconds;
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn main() -> candle_core::Result<()> {
    // SAFETY: set before any other thread exists; candle's matrix products read it.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
    };
    let default = args.iter().any(|a| a == "--default");
    let (config, batch, block) = if default {
        (BdhConfig::default(), 1, 256)
    } else {
        (BdhConfig::small(), 8, 256)
    };
    let steps: usize = value("--steps").map_or(6, |s| s.parse().expect("--steps K"));
    let kernels = match value("--kernels").as_deref() {
        Some("reference") => vec![Kernels::Reference],
        Some("fused") | None => vec![Kernels::Fused],
        Some("both") => vec![Kernels::Reference, Kernels::Fused],
        Some(other) => panic!("--kernels reference|fused|both, got {other}"),
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let params = Params::init(&config, &mut rng, INIT_STD)?;
    let low = Lowered::new(&config, block)?;
    let adamw = OptimizerConfig::AdamW {
        lr: 1e-3,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.1,
    };
    let mut optimizer = Optimizer::new(adamw, params.named())?;
    let tokens: Vec<u32> = (0..batch * block + 1)
        .map(|_| rng.random_range(0..VOCAB as u32))
        .collect();
    for k in kernels {
        let mut step = || -> candle_core::Result<()> {
            let logits = model::forward(
                &config,
                &params,
                &low,
                &tokens[..batch * block],
                batch,
                Some(&mut rng),
                k,
            )?;
            let grads = model::loss(&logits, &tokens[1..])?.backward()?;
            optimizer.step(&grads)
        };
        step()?;
        let (mut walls, mut cpus) = (Vec::new(), Vec::new());
        for _ in 0..steps {
            let (wall, cpu) = (Instant::now(), cpu_seconds());
            step()?;
            walls.push(wall.elapsed().as_secs_f64());
            cpus.push(cpu_seconds() - cpu);
        }
        let n = (batch * block) as f64;
        report(
            "train",
            &format!("{k:?}"),
            n / median(&mut walls),
            n / median(&mut cpus),
        );
        report(
            "train, best step",
            &format!("{k:?}"),
            n / walls[0],
            n / cpus[0],
        );
    }
    let recurrent = Recurrent::new(&config, &params)?;
    let counts: &[usize] = if default { &[100] } else { &[100, 1000] };
    for &count in counts {
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        recurrent.generate(b"To be or ", count, 3, 0);
        let n = count as f64;
        report(
            &format!("generate {count}"),
            "recurrent",
            n / wall.elapsed().as_secs_f64(),
            n / (cpu_seconds() - cpu),
        );
    }
    Ok(())
}

/// The median of `values`, which are left sorted.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn report(what: &str, how: &str, wall: f64, cpu: f64) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "RESULT {{\"what\": \"{what}\", \"how\": \"{how}\", \"tokens_per_s_wall\": {wall:.1}, \"tokens_per_s_cpu\": {cpu:.1}, \"loadavg_1m\": {}}}",
        load.split_whitespace().next().unwrap_or("?")
    );
}
