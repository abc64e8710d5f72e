//! The update rules on one parameter: the math every backend must agree on.
//! Generic over f32 (the CPU backend) and f64 (the reference); the WGSL
//! `rule` in shaders/common/rule.wgsl is the GPU twin, in the same form.

use num_traits::Float;

use crate::optim::{Hyper, Optimizer};

/// One run's rule with its hyperparameters in the working precision.
#[derive(Clone, Copy, Debug)]
pub struct Rule<T> {
    pub optimizer: Optimizer,
    pub lr_mu: T,
    pub lr_sigma: T,
    pub mu_prior: T,
    pub sigma_prior_sq: T,
    /// 1 / (N * sigma_prior^2), computed in f64 then rounded, as on the GPU.
    pub inv_n_prior: T,
    pub clamp_grad: T,
}

fn cast<T: Float>(x: f64) -> T {
    T::from(x).expect("every f64 converts to a float type")
}

impl<T: Float> Rule<T> {
    pub fn new(h: &Hyper) -> Self {
        let sp2 = h.sigma_prior * h.sigma_prior;
        Rule {
            optimizer: h.optimizer,
            lr_mu: cast(h.lr_mu),
            lr_sigma: cast(h.lr_sigma),
            mu_prior: cast(h.mu_prior),
            sigma_prior_sq: cast(sp2),
            inv_n_prior: cast(1.0 / (h.n * sp2)),
            clamp_grad: cast(h.clamp_grad),
        }
    }

    /// New (mu, sigma) from the old ones and the sample-averaged gradients.
    /// sigma may be negative: the standard deviation is |sigma| (the sampled
    /// weight and every rule are symmetric under (sigma, eps) -> (-sigma, -eps)).
    #[inline(always)]
    pub fn apply(&self, m: T, s: T, g_mu: T, g_sigma: T) -> (T, T) {
        let (g_mu, g_sigma) = if self.clamp_grad > T::zero() {
            let lim = self.clamp_grad / s.abs();
            (g_mu.max(-lim).min(lim), g_sigma.max(-lim).min(lim))
        } else {
            (g_mu, g_sigma)
        };
        let v = s * s;
        let half = cast::<T>(0.5);
        match self.optimizer {
            // One expression each: the prior pull alone is below f32 resolution.
            Optimizer::Mesu => (
                m + self.lr_mu * v * ((self.mu_prior - m) * self.inv_n_prior - g_mu),
                s + self.lr_sigma
                    * half
                    * (s * (self.sigma_prior_sq - v) * self.inv_n_prior - v * g_sigma),
            ),
            Optimizer::Bgd => {
                let h = half * s * g_sigma;
                (
                    m - self.lr_mu * v * g_mu,
                    s * (T::one() + h * h).sqrt() - half * v * g_sigma,
                )
            }
            // The authors' foovbdiagonal: the square-root term enters with the wrong sign.
            Optimizer::FoovbPublished => {
                let h = half * s * g_sigma;
                (
                    m - self.lr_mu * v * g_mu,
                    s - self.lr_sigma
                        * (half * v * g_sigma + s * ((T::one() + h * h).sqrt() - T::one())),
                )
            }
            // Deterministic weights = mu; sigma stays 0.
            Optimizer::Sgd => (m - self.lr_mu * g_mu, s),
        }
    }
}

/// Whether a rule's output may be kept: a finite mu and a finite sigma (of
/// either sign).
#[inline(always)]
pub fn healthy<T: Float>(m: T, s: T) -> bool {
    m.is_finite() && s.is_finite()
}
