//! Learning-rate schedules: the rate of optimizer step `s` (0-based) for base rate `η₀`, with
//! `steps_per_epoch` steps per epoch and `S` steps in the whole run.
//!
//! - **constant**: `η₀`.
//! - **step** (PyTorch `StepLR`): `η₀·γ^⌊e/k⌋` with epoch `e = ⌊s / steps_per_epoch⌋`, decaying
//!   by `γ` every `k` epochs.
//! - **cosine** (PyTorch `CosineAnnealingLR` in closed form, with `T_max = S − w`, after an
//!   optional linear warm-up of `w` steps; Loshchilov & Hutter 2017, SGDR, without restarts):
//!   `η₀·(s+1)/w` for `s < w`, else `η_min + (η₀ − η_min)(1 + cos(π·(s−w)/(S−w)))/2`, which
//!   reaches `η_min` at `s = S`.

use serde::{Deserialize, Serialize};

/// Learning rate as a function of the optimizer step; see the module documentation.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The base learning rate throughout. (Written `{}` so that `deny_unknown_fields` applies.)
    Constant {},
    /// Multiply by `gamma` every `every_epochs` epochs.
    Step { every_epochs: usize, gamma: f64 },
    /// Linear warm-up over `warmup_steps`, then cosine annealing down to `min_lr` at the last step.
    Cosine {
        #[serde(default)]
        warmup_steps: usize,
        #[serde(default)]
        min_lr: f64,
    },
}

impl Schedule {
    /// Checks the parameters: `every_epochs ≥ 1`, `gamma > 0`, `min_lr ≥ 0`, finite.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match *self {
            Schedule::Step {
                every_epochs: 0, ..
            } => Err("step schedule: every_epochs must be at least 1".into()),
            Schedule::Step { gamma, .. } if !(gamma.is_finite() && gamma > 0.0) => Err(format!(
                "step schedule: gamma must be finite and > 0, got {gamma}"
            )),
            Schedule::Cosine { min_lr, .. } if !(min_lr.is_finite() && min_lr >= 0.0) => Err(
                format!("cosine schedule: min_lr must be finite and >= 0, got {min_lr}"),
            ),
            _ => Ok(()),
        }
    }

    /// The learning rate of optimizer step `step` (0-based) for base rate `base_lr`, with
    /// `steps_per_epoch` steps per epoch and `total_steps` steps in the whole run.
    pub fn lr(&self, base_lr: f64, step: usize, steps_per_epoch: usize, total_steps: usize) -> f64 {
        match *self {
            Schedule::Constant {} => base_lr,
            Schedule::Step {
                every_epochs,
                gamma,
            } => {
                let epoch = step / steps_per_epoch.max(1);
                base_lr * gamma.powi(i32::try_from(epoch / every_epochs).unwrap_or(i32::MAX))
            }
            Schedule::Cosine {
                warmup_steps,
                min_lr,
            } => {
                if step < warmup_steps {
                    return base_lr * (step + 1) as f64 / warmup_steps as f64;
                }
                let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                let progress = ((step - warmup_steps) as f64 / span).min(1.0);
                min_lr + (base_lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_values_at_given_steps() {
        let c = Schedule::Constant {};
        assert_eq!(c.lr(0.1, 500, 10, 1000), 0.1);
        // Step: ×0.5 every 2 epochs of 10 steps.
        let s = Schedule::Step {
            every_epochs: 2,
            gamma: 0.5,
        };
        let at = |step| s.lr(0.1, step, 10, 100);
        assert_eq!(
            [at(0), at(19), at(20), at(39), at(45)],
            [0.1, 0.1, 0.05, 0.05, 0.025]
        );
        // Cosine over 100 steps with 10 warm-up steps, down to 0.01.
        let s = Schedule::Cosine {
            warmup_steps: 10,
            min_lr: 0.01,
        };
        let at = |step| s.lr(0.1, step, 10, 100);
        assert!((at(0) - 0.01).abs() < 1e-15 && (at(4) - 0.05).abs() < 1e-15);
        assert_eq!(at(9), 0.1);
        assert_eq!(at(10), 0.1);
        assert!((at(55) - 0.055).abs() < 1e-15);
        assert!((at(100) - 0.01).abs() < 1e-15);
        let mid = 0.01 + 0.09 * (1.0 + (std::f64::consts::PI * 20.0 / 90.0).cos()) / 2.0;
        assert!((at(30) - mid).abs() < 1e-15);
        // No warm-up: the first step runs at the base rate.
        assert_eq!(
            Schedule::Cosine {
                warmup_steps: 0,
                min_lr: 0.0
            }
            .lr(0.1, 0, 10, 100),
            0.1
        );
    }

    #[test]
    fn config_parses_from_toml_and_validates() {
        let sched = |s: &str| toml::from_str::<Schedule>(s);
        assert_eq!(sched("kind = \"constant\"").unwrap(), Schedule::Constant {});
        assert_eq!(
            sched("kind = \"step\"\nevery_epochs = 5\ngamma = 0.5").unwrap(),
            Schedule::Step {
                every_epochs: 5,
                gamma: 0.5
            }
        );
        assert_eq!(
            sched("kind = \"cosine\"").unwrap(),
            Schedule::Cosine {
                warmup_steps: 0,
                min_lr: 0.0
            }
        );
        assert!(sched("kind = \"constant\"\nlr = 1.0").is_err());
        assert!(
            Schedule::Step {
                every_epochs: 0,
                gamma: 0.5
            }
            .validate()
            .is_err()
        );
    }
}
