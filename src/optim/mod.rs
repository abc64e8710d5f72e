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
}

impl Optimizer {
    pub const ALL: [Optimizer; 4] = [
        Optimizer::Mesu,
        Optimizer::Bgd,
        Optimizer::FoovbPublished,
        Optimizer::Sgd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Optimizer::Mesu => "mesu",
            Optimizer::Bgd => "bgd",
            Optimizer::FoovbPublished => "foovb-published",
            Optimizer::Sgd => "sgd",
        }
    }

    /// The code the kernels switch on (`rule` in shaders/common/rule.wgsl).
    fn code(self) -> u32 {
        match self {
            Optimizer::Mesu => 0,
            Optimizer::Bgd => 1,
            Optimizer::FoovbPublished => 2,
            Optimizer::Sgd => 3,
        }
    }

    /// Bayesian rules sample weights and must keep sigma > 0.
    pub fn is_bayesian(self) -> bool {
        self != Optimizer::Sgd
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
        }
    }
}

/// One run of a batched execution: its seed and its rule.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunSpec {
    pub seed: u64,
    pub hyper: Hyper,
}

/// `struct Run` of shaders/common/structs.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RunUniform {
    pub key: [u32; 2],
    pub optimizer: u32,
    pub _pad: u32,
    pub lr_mu: f32,
    pub lr_sigma: f32,
    pub mu_prior: f32,
    pub sigma_prior_sq: f32,
    pub inv_n_prior: f32,
    pub clamp_grad: f32,
    pub _pad1: [f32; 2],
}

/// The Philox key of a run's seed.
pub fn philox_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

impl RunUniform {
    pub fn new(spec: &RunSpec) -> Self {
        let h = &spec.hyper;
        let sp2 = h.sigma_prior * h.sigma_prior;
        RunUniform {
            key: philox_key(spec.seed),
            optimizer: h.optimizer.code(),
            _pad: 0,
            lr_mu: h.lr_mu as f32,
            lr_sigma: h.lr_sigma as f32,
            mu_prior: h.mu_prior as f32,
            sigma_prior_sq: sp2 as f32,
            inv_n_prior: (1.0 / (h.n * sp2)) as f32,
            clamp_grad: h.clamp_grad as f32,
            _pad1: [0.0; 2],
        }
    }
}
