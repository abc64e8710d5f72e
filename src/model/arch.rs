use rand::{Rng, SeedableRng, rngs::StdRng};

use super::Penalty;
use crate::optim::RunSpec;

/// Layer sizes of a fully connected net: input, hidden..., classes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Architecture {
    pub sizes: Vec<usize>,
    pub bias: bool,
}

impl Architecture {
    pub fn new(input: usize, hidden: &[usize], classes: usize, bias: bool) -> crate::Result<Self> {
        let sizes: Vec<usize> = std::iter::once(input)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(classes))
            .collect();
        if let Some(zero) = sizes.iter().position(|&s| s == 0) {
            return Err(format!("layer {zero} has width 0; every width must be at least 1").into());
        }
        Ok(Architecture { sizes, bias })
    }

    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    pub fn n_in(&self, l: usize) -> usize {
        self.sizes[l]
    }

    pub fn n_out(&self, l: usize) -> usize {
        self.sizes[l + 1]
    }

    /// Parameters of layer l per run: weights [n_out][n_in] then the bias.
    pub fn params(&self, l: usize) -> usize {
        self.n_out(l) * (self.n_in(l) + self.bias as usize)
    }

    /// Per-run stride of layer l's parameter arrays on the GPU: P rounded up
    /// to a multiple of 4 so that every run's (and sample's) slice starts on
    /// a vec4; the padding is never read as a parameter.
    pub fn stride(&self, l: usize) -> usize {
        self.params(l).next_multiple_of(4)
    }

    pub fn total_params(&self) -> usize {
        (0..self.layers()).map(|l| self.params(l)).sum()
    }

    /// "784-50-10".
    pub fn describe(&self) -> String {
        let s: Vec<_> = self.sizes.iter().map(|s| s.to_string()).collect();
        s.join("-") + if self.bias { " (bias)" } else { "" }
    }
}

/// Host copy of one run's parameters, per layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub mu: Vec<Vec<f32>>,
    pub sigma: Vec<Vec<f32>>,
    /// A penalised baseline's state per layer ([P] each); empty (no layers)
    /// for the other rules.
    pub penalty: Vec<Vec<Penalty<f32>>>,
}

impl Params {
    /// The spec's Bayesian init: l = 4 / sqrt(fan_in), mu ~ U(-l, l), sigma
    /// = l / 2. A deterministic run starts as the authors' deterministic MLP
    /// (equinox's `Linear`): weights and bias ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)),
    /// sigma = 0.
    pub fn init(arch: &Architecture, seed: u64, bayesian: bool) -> Params {
        // Distinct from the Philox noise streams, which are keyed by the same seed.
        let mut rng = StdRng::seed_from_u64(seed ^ 0x6d65_7375_696e_6974);
        let mut mu = Vec::new();
        let mut sigma = Vec::new();
        for l in 0..arch.layers() {
            let scale = if bayesian { 4.0 } else { 1.0 };
            let bound = scale / (arch.n_in(l) as f64).sqrt();
            let p = arch.params(l);
            mu.push(
                (0..p)
                    .map(|_| rng.random_range(-bound..bound) as f32)
                    .collect(),
            );
            let s0 = if bayesian { bound / 2.0 } else { 0.0 };
            sigma.push(vec![s0 as f32; p]);
        }
        Params {
            mu,
            sigma,
            penalty: Vec::new(),
        }
    }

    /// A run's starting point: `init` for its rule, and for a penalised
    /// baseline the state anchored at the initial weights (F, Omega, w zero),
    /// as in the authors' code.
    pub fn for_run(arch: &Architecture, spec: &RunSpec) -> Params {
        let optimizer = spec.hyper.optimizer;
        let mut p = Params::init(arch, spec.seed, optimizer.is_bayesian());
        if optimizer.is_penalised() {
            p.penalty = p.mu.iter().map(|mu| Penalty::anchored(mu)).collect();
        }
        p
    }
}

impl Penalty<f32> {
    /// A fresh state per parameter: anchored at theta, nothing accumulated.
    pub fn anchored(theta: &[f32]) -> Vec<Penalty<f32>> {
        theta
            .iter()
            .map(|&anchor| Penalty {
                anchor,
                ..Penalty::default()
            })
            .collect()
    }
}
