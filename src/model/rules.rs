//! The update rules on one parameter: the math every backend must agree on.
//! Generic over f32 (the CPU backend) and f64 (the reference); the WGSL
//! `rule` in shaders/common/rule.wgsl is the GPU twin, in the same form.

use num_traits::Float;

use crate::optim::{Hyper, Optimizer};

/// A penalised baseline's state of one parameter theta (= mu): the anchor
/// theta*, the importance (EWC's F, SI's Omega) and the path (SI's running
/// w; online EWC's sum of squared gradients during the Fisher pass).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Penalty<T> {
    pub anchor: T,
    pub importance: T,
    pub path: T,
}

/// What a step of the fused update does: train, or (at a task's end, online
/// EWC) the Fisher pass, which adds g^2 to the path of online-EWC runs and
/// holds every other run still.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Train,
    Fisher,
    Hold,
}

impl Pass {
    /// The code `rule` in shaders/common/rule.wgsl switches on.
    pub fn code(self) -> u32 {
        match self {
            Pass::Train => 0,
            Pass::Fisher => 1,
            Pass::Hold => 2,
        }
    }
}

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
    /// The penalty gradient's coefficient (EWC: lambda; SI: 2c), EWC's decay
    /// gamma, SI's damping xi (0 for the rules without a penalty).
    pub strength: T,
    pub gamma: T,
    pub xi: T,
    pub pass: Pass,
}

fn cast<T: Float>(x: f64) -> T {
    T::from(x).expect("every f64 converts to a float type")
}

impl<T: Float> Rule<T> {
    pub fn new(h: &Hyper) -> Self {
        let sp2 = h.sigma_prior * h.sigma_prior;
        let (strength, gamma, xi) = h.penalty.map_or((0.0, 0.0, 0.0), |p| p.coefficients());
        Rule {
            optimizer: h.optimizer,
            lr_mu: cast(h.lr_mu),
            lr_sigma: cast(h.lr_sigma),
            mu_prior: cast(h.mu_prior),
            sigma_prior_sq: cast(sp2),
            inv_n_prior: cast(1.0 / (h.n * sp2)),
            clamp_grad: cast(h.clamp_grad),
            strength: cast(strength),
            gamma: cast(gamma),
            xi: cast(xi),
            pass: Pass::Train,
        }
    }

    /// New (mu, sigma) from the old ones and the sample-averaged gradients;
    /// a penalised baseline also updates its state `pen` (the other rules
    /// leave it alone). sigma may be negative: the standard deviation is
    /// |sigma| (the sampled weight and every rule are symmetric under
    /// (sigma, eps) -> (-sigma, -eps)).
    #[inline(always)]
    pub fn apply(&self, m: T, s: T, g_mu: T, g_sigma: T, pen: &mut Penalty<T>) -> (T, T) {
        match self.pass {
            Pass::Train => {}
            Pass::Fisher => {
                pen.path = pen.path + g_mu * g_mu;
                return (m, s);
            }
            Pass::Hold => return (m, s),
        }
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
            // SGD on loss + penalty; g_mu is the plain-loss gradient.
            Optimizer::OnlineEwc | Optimizer::StreamEwc | Optimizer::Si => {
                let g_total = g_mu + self.strength * pen.importance * (m - pen.anchor);
                let new = m - self.lr_mu * g_total;
                match self.optimizer {
                    Optimizer::StreamEwc => {
                        pen.anchor = m;
                        pen.importance = self.gamma * pen.importance + g_mu * g_mu;
                    }
                    Optimizer::Si => pen.path = pen.path - g_total * (new - m),
                    _ => {}
                }
                (new, s)
            }
        }
    }

    /// A task's end for one parameter at theta `m`. Online EWC: F becomes
    /// gamma F plus path * fisher_scale (the Fisher pass's mean squared
    /// gradient), theta* becomes theta. SI: Omega grows by
    /// relu(w / ((theta - theta*)^2 + xi)), w becomes 0, theta* theta. The
    /// other rules have no task boundaries.
    #[inline(always)]
    pub fn end_task(&self, m: T, pen: &mut Penalty<T>, fisher_scale: T) {
        match self.optimizer {
            Optimizer::OnlineEwc => {
                pen.importance = self.gamma * pen.importance + pen.path * fisher_scale;
            }
            Optimizer::Si => {
                let d = m - pen.anchor;
                pen.importance = pen.importance + (pen.path / (d * d + self.xi)).max(T::zero());
            }
            _ => return,
        }
        pen.path = T::zero();
        pen.anchor = m;
    }
}

/// Whether a rule's output may be kept: a finite mu and a finite sigma (of
/// either sign).
#[inline(always)]
pub fn healthy<T: Float>(m: T, s: T) -> bool {
    m.is_finite() && s.is_finite()
}
