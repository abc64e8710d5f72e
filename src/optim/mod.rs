//! The learning rules: MESU and the baselines that share its fused update
//! kernels (the rules themselves: `model::Rule`, shaders/common/rule.wgsl), and
//! their per-run hyperparameters.

use std::fmt;
use std::str::FromStr;

/// Which update the fused kernel applies to a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Optimizer {
    /// Metaplasticity from Synaptic Uncertainty (the spec's update).
    Mesu,
    /// Bayesian Gradient Descent / FOO-VB diagonal (Zeno et al. 2018).
    Bgd,
    /// BGD with the sign of the square-root term flipped, as in the authors'
    /// published JAX baseline; only to show where the published curve comes from.
    FoovbPublished,
    /// Deterministic SGD on mu (sigma = 0, weights = mu).
    Sgd,
    /// SGD plus an EWC penalty whose Fisher and anchor move at each task's
    /// end (task-aware).
    OnlineEwc,
    /// SGD plus an EWC penalty whose Fisher and anchor move every step (no
    /// task boundaries).
    StreamEwc,
    /// SGD plus Synaptic Intelligence's penalty; its importance moves at
    /// each task's end (task-aware).
    Si,
}

impl Optimizer {
    pub const ALL: [Optimizer; 7] = [
        Optimizer::Mesu,
        Optimizer::Bgd,
        Optimizer::FoovbPublished,
        Optimizer::Sgd,
        Optimizer::OnlineEwc,
        Optimizer::StreamEwc,
        Optimizer::Si,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Optimizer::Mesu => "mesu",
            Optimizer::Bgd => "bgd",
            Optimizer::FoovbPublished => "foovb-published",
            Optimizer::Sgd => "sgd",
            Optimizer::OnlineEwc => "online-ewc",
            Optimizer::StreamEwc => "stream-ewc",
            Optimizer::Si => "si",
        }
    }

    /// The code the kernels switch on (`rule` in shaders/common/rule.wgsl).
    pub fn code(self) -> u32 {
        match self {
            Optimizer::Mesu => 0,
            Optimizer::Bgd => 1,
            Optimizer::FoovbPublished => 2,
            Optimizer::Sgd => 3,
            Optimizer::OnlineEwc => 4,
            Optimizer::StreamEwc => 5,
            Optimizer::Si => 6,
        }
    }

    /// Bayesian rules sample weights (mu + sigma eps); the others are
    /// deterministic networks (weights = mu, sigma 0).
    pub fn is_bayesian(self) -> bool {
        matches!(
            self,
            Optimizer::Mesu | Optimizer::Bgd | Optimizer::FoovbPublished
        )
    }

    /// The rules with a per-parameter penalty state (`model::Penalty`).
    pub fn is_penalised(self) -> bool {
        matches!(
            self,
            Optimizer::OnlineEwc | Optimizer::StreamEwc | Optimizer::Si
        )
    }

    /// The rules that use task boundaries (the paper's task-aware rows):
    /// their state moves at each task's end (`Backend::end_task`).
    pub fn uses_task_ends(self) -> bool {
        matches!(self, Optimizer::OnlineEwc | Optimizer::Si)
    }

    /// The penalty's settings at the paper's values: online EWC lambda 2,
    /// gamma 0.2; stream EWC lambda 5, gamma 0.2; SI c 1e-4, xi 1.
    pub fn default_penalty(self) -> Option<PenaltyHyper> {
        match self {
            Optimizer::OnlineEwc => Some(PenaltyHyper::Ewc {
                lambda: 2.0,
                gamma: 0.2,
            }),
            Optimizer::StreamEwc => Some(PenaltyHyper::Ewc {
                lambda: 5.0,
                gamma: 0.2,
            }),
            Optimizer::Si => Some(PenaltyHyper::Si { c: 1e-4, xi: 1.0 }),
            _ => None,
        }
    }

    /// Weight samples per step or evaluation: K samples of a deterministic
    /// network are all the same network.
    pub fn default_samples(self) -> usize {
        if self.is_bayesian() { 10 } else { 1 }
    }

    /// The paper's learning rate of mu: 1 for the Bayesian rules, 0.002 for SGD.
    pub fn default_lr_mu(self) -> f64 {
        if self.is_bayesian() { 1.0 } else { 0.002 }
    }
}

impl fmt::Display for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Optimizer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Optimizer::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Optimizer::ALL.iter().map(|o| o.name()).collect();
                format!(
                    "unknown optimizer {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Hyperparameters of one run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hyper {
    pub optimizer: Optimizer,
    /// Memory window N in optimizer steps.
    pub n: f64,
    pub sigma_prior: f64,
    pub mu_prior: f64,
    pub lr_mu: f64,
    pub lr_sigma: f64,
    /// Elementwise gradient clip at clamp_grad / sigma; 0 = off.
    pub clamp_grad: f64,
    /// The penalty of EWC and SI; absent for the other rules (so their
    /// identity and config.json do not change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty: Option<PenaltyHyper>,
}

/// The settings of a penalised baseline's penalty.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PenaltyHyper {
    /// EWC: penalty lambda/2 sum F (theta - theta*)^2, F decayed by gamma.
    Ewc { lambda: f64, gamma: f64 },
    /// SI: penalty c sum Omega (theta - theta*)^2, damping xi.
    Si { c: f64, xi: f64 },
}

impl PenaltyHyper {
    /// The coefficient of F (theta - theta*) in the penalty's gradient (EWC:
    /// lambda; SI: 2c), the decay of F (EWC's gamma) and the damping (SI's xi).
    pub fn coefficients(self) -> (f64, f64, f64) {
        match self {
            PenaltyHyper::Ewc { lambda, gamma } => (lambda, gamma, 0.0),
            PenaltyHyper::Si { c, xi } => (2.0 * c, 0.0, xi),
        }
    }
}

impl Default for Hyper {
    /// The paper's permuted-MNIST settings.
    fn default() -> Self {
        Hyper {
            optimizer: Optimizer::Mesu,
            n: 300_000.0,
            sigma_prior: 1.0,
            mu_prior: 0.0,
            lr_mu: 1.0,
            lr_sigma: 1.0,
            clamp_grad: 0.0,
            penalty: None,
        }
    }
}

/// One run of a batched execution: its seed and its rule.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunSpec {
    pub seed: u64,
    pub hyper: Hyper,
}
