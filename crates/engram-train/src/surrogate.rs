//! Surrogate gradients for the spike non-linearity, chosen by name.
//!
//! A spike is the Heaviside step `s = H(x)` of the distance to threshold `x = v − θ`
//! (`H(x) = 1` for `x > 0`, else 0, as snnTorch and SpikingJelly fire). Its derivative is zero
//! almost everywhere, so backpropagation replaces `H'(x)` by a surrogate `σ'(x)` (Neftci, Mostafa
//! & Zenke 2019). Each surrogate is the derivative of a smooth function `σ(x)`; the gradient tests
//! swap `H` for `σ` itself, so finite differences can check the op-by-op gradients exactly.
//!
//! | name | `σ'(x)` | `σ(x)` | library equivalent |
//! |---|---|---|---|
//! | `fast_sigmoid { slope = k }` | `1 / (k·|x| + 1)²` | `x / (k·|x| + 1)` | snnTorch `surrogate.fast_sigmoid(slope=25)` |
//! | `super_spike { beta = β }` | `β / (β·|x| + 1)²` | `β·x / (β·|x| + 1)` | Zenke & Ganguli 2018, with the chain-rule factor β |
//! | `atan { alpha = α }` | `(α/2) / (1 + (π·α·x/2)²)` | `atan(π·α·x/2)/π + 1/2` | SpikingJelly `surrogate.ATan(alpha=2)`, snnTorch `atan` |
//! | `sigmoid { slope = k }` | `k·σ(kx)·(1 − σ(kx))` | `1 / (1 + e^(−kx))` | snnTorch `surrogate.sigmoid(slope=25)` |
//! | `triangle { width = w }` | `max(0, 1 − |x|/w) / w` | its integral, from 0 to 1 over `[−w, w]` | Esser et al. 2016 |
//!
//! snnTorch's fast sigmoid omits the factor `k` that the chain rule of `σ(kx)` would give;
//! SuperSpike keeps it. Both are offered under their own names.

use std::f64::consts::PI;

use num_traits::Float;
use serde::{Deserialize, Serialize};

/// The surrogate derivative used in place of the Heaviside step's.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Surrogate {
    FastSigmoid {
        #[serde(default = "default_slope")]
        slope: f64,
    },
    SuperSpike {
        #[serde(default = "default_slope")]
        beta: f64,
    },
    Atan {
        #[serde(default = "default_alpha")]
        alpha: f64,
    },
    Sigmoid {
        #[serde(default = "default_slope")]
        slope: f64,
    },
    Triangle {
        #[serde(default = "default_width")]
        width: f64,
    },
}

fn default_slope() -> f64 {
    25.0
}

fn default_alpha() -> f64 {
    2.0
}

fn default_width() -> f64 {
    1.0
}

impl Default for Surrogate {
    /// snnTorch's default: the fast sigmoid with slope 25.
    fn default() -> Self {
        Surrogate::FastSigmoid { slope: 25.0 }
    }
}

impl Surrogate {
    /// The shape parameter must be a positive finite number.
    pub fn validate(&self) -> Result<(), String> {
        let (name, value) = match *self {
            Surrogate::FastSigmoid { slope } => ("fast_sigmoid slope", slope),
            Surrogate::SuperSpike { beta } => ("super_spike beta", beta),
            Surrogate::Atan { alpha } => ("atan alpha", alpha),
            Surrogate::Sigmoid { slope } => ("sigmoid slope", slope),
            Surrogate::Triangle { width } => ("triangle width", width),
        };
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(format!(
                "{name} must be a positive finite number, got {value}"
            ))
        }
    }

    /// `σ'(x)`: the surrogate derivative at distance `x` to threshold.
    pub fn derivative<F: Float>(&self, x: F) -> F {
        let mut out = [F::zero()];
        self.derivative_into(&[x], &mut out);
        out[0]
    }

    /// `σ'(x)` for every element of `x`, written to `out` (the kernels' form: the choice of
    /// surrogate is made once per slice, so the loops stay branch-free).
    pub fn derivative_into<F: Float>(&self, x: &[F], out: &mut [F]) {
        let one = F::one();
        let pairs = out.iter_mut().zip(x);
        match *self {
            Surrogate::FastSigmoid { slope } => {
                let k = constant::<F>(slope);
                pairs.for_each(|(o, &x)| {
                    let d = k * x.abs() + one;
                    *o = one / (d * d);
                });
            }
            Surrogate::SuperSpike { beta } => {
                let b = constant::<F>(beta);
                pairs.for_each(|(o, &x)| {
                    let d = b * x.abs() + one;
                    *o = b / (d * d);
                });
            }
            Surrogate::Atan { alpha } => {
                let (half_alpha, scale) =
                    (constant::<F>(alpha / 2.0), constant::<F>(PI / 2.0 * alpha));
                pairs.for_each(|(o, &x)| {
                    let y = scale * x;
                    *o = half_alpha / (one + y * y);
                });
            }
            Surrogate::Sigmoid { slope } => {
                let k = constant::<F>(slope);
                pairs.for_each(|(o, &x)| {
                    let s = one / (one + (-(k * x)).exp());
                    *o = k * s * (one - s);
                });
            }
            Surrogate::Triangle { width } => {
                let w = constant::<F>(width);
                pairs.for_each(|(o, &x)| *o = (one - x.abs() / w).max(F::zero()) / w);
            }
        }
    }

    /// `σ(x)`: the smooth function whose derivative is [`Surrogate::derivative`].
    pub fn smooth<F: Float>(&self, x: F) -> F {
        let one = F::one();
        let half = constant::<F>(0.5);
        match *self {
            Surrogate::FastSigmoid { slope } => x / (constant::<F>(slope) * x.abs() + one),
            Surrogate::SuperSpike { beta } => {
                let b = constant::<F>(beta);
                b * x / (b * x.abs() + one)
            }
            Surrogate::Atan { alpha } => {
                (constant::<F>(PI / 2.0 * alpha) * x).atan() / constant(PI) + half
            }
            Surrogate::Sigmoid { slope } => one / (one + (-(constant::<F>(slope) * x)).exp()),
            Surrogate::Triangle { width } => {
                let y = (x / constant(width)).max(-one).min(one);
                half + y * (constant::<F>(2.0) - y.abs()) * half
            }
        }
    }
}

fn constant<F: Float>(value: f64) -> F {
    F::from(value).expect("an f64 constant converts to every float type")
}

/// The spike non-linearity: `H(x)` forward when training, or `σ(x)` forward for gradient checks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SpikeForward {
    /// Binary spikes, `H(x)`; the backward pass uses the surrogate.
    Heaviside,
    /// The smooth counterpart `σ(x)`, whose true derivative is the surrogate.
    Smooth,
}

impl SpikeForward {
    pub fn apply<F: Float>(self, surrogate: &Surrogate, x: F) -> F {
        match self {
            SpikeForward::Heaviside => heaviside(x),
            SpikeForward::Smooth => surrogate.smooth(x),
        }
    }
}

/// `H(x)`: 1 strictly above zero, else 0.
pub fn heaviside<F: Float>(x: F) -> F {
    if x > F::zero() { F::one() } else { F::zero() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Surrogate; 5] = [
        Surrogate::FastSigmoid { slope: 25.0 },
        Surrogate::SuperSpike { beta: 10.0 },
        Surrogate::Atan { alpha: 2.0 },
        Surrogate::Sigmoid { slope: 5.0 },
        Surrogate::Triangle { width: 0.5 },
    ];

    #[test]
    fn each_derivative_is_the_derivative_of_its_smooth_function() {
        let h = 1e-6;
        for s in ALL {
            for &x in &[-1.3, -0.41, -0.07, 0.013, 0.2, 0.37, 2.0] {
                let numeric = (s.smooth(x + h) - s.smooth(x - h)) / (2.0 * h);
                let analytic = s.derivative(x);
                assert!(
                    (numeric - analytic).abs() < 1e-6 * (1.0 + analytic.abs()),
                    "{s:?} at {x}: {numeric} vs {analytic}"
                );
            }
        }
    }

    #[test]
    fn library_values_at_zero() {
        assert_eq!(Surrogate::FastSigmoid { slope: 25.0 }.derivative(0.0), 1.0);
        assert_eq!(Surrogate::SuperSpike { beta: 10.0 }.derivative(0.0), 10.0);
        assert_eq!(Surrogate::Atan { alpha: 2.0 }.derivative(0.0), 1.0);
        assert_eq!(Surrogate::Sigmoid { slope: 4.0 }.derivative(0.0), 1.0);
        assert_eq!(Surrogate::Triangle { width: 0.5 }.derivative(0.0), 2.0);
        assert_eq!(Surrogate::Triangle { width: 0.5 }.derivative(0.6), 0.0);
        let fs = Surrogate::FastSigmoid { slope: 25.0 }.derivative(0.1);
        assert!((fs - 1.0 / 3.5f64.powi(2)).abs() < 1e-15);
    }

    #[test]
    fn the_triangle_integrates_from_zero_to_one() {
        let t = Surrogate::Triangle { width: 0.5 };
        assert_eq!(t.smooth(-0.5), 0.0);
        assert_eq!(t.smooth(0.0), 0.5);
        assert_eq!(t.smooth(0.5), 1.0);
    }

    #[test]
    fn shape_parameters_must_be_positive() {
        assert!(Surrogate::Atan { alpha: 0.0 }.validate().is_err());
        assert!(
            Surrogate::FastSigmoid { slope: f64::NAN }
                .validate()
                .is_err()
        );
        assert!(Surrogate::default().validate().is_ok());
    }

    #[test]
    fn heaviside_fires_strictly_above_threshold() {
        let s = Surrogate::default();
        assert_eq!(SpikeForward::Heaviside.apply(&s, 0.0f64), 0.0);
        assert_eq!(SpikeForward::Heaviside.apply(&s, 1e-12f32), 1.0);
    }
}
