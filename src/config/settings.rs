//! One run's settings, and those every run of a stream or a sweep shares;
//! the defaults are the paper's protocol.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Result;
use crate::data::{CLASSES, DatasetKind, PIXELS};
use crate::model::{Architecture, EngineConfig};
use crate::optim::{Hyper, Optimizer};

/// Most tasks a stream may have: the stream's evaluation ids fit a u32,
/// with one id left for the OOD set.
pub const MAX_TASKS: usize = (1 << 16) - 1;

/// Settings of one run that may differ between runs of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    pub hidden: Vec<usize>,
    pub batch_size: usize,
    pub epochs: usize,
    pub train_samples: usize,
    pub test_samples: usize,
    pub hyper: Hyper,
    pub seed: u64,
}

/// Settings every run of a sweep (or a single run) shares.
#[derive(Clone, Debug, PartialEq)]
pub struct Shared {
    pub tasks: usize,
    pub bias: bool,
    pub dataset: DatasetKind,
    pub data_dir: PathBuf,
    pub shuffle: bool,
    /// Also evaluate tasks not trained yet.
    pub eval_all: bool,
    /// Evaluate every task after every K-th task and after the last; the
    /// newest task after every task.
    pub eval_every: usize,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub profile: bool,
    /// Out-of-distribution set scored after each task.
    pub ood: Ood,
    /// Get a missing dataset into its default folder (data/fetch.sh).
    pub fetch: bool,
    /// Permute the pixels of every task (false: every task is the dataset
    /// as it is, for one long unpermuted task).
    pub permute: bool,
    /// The kind of device that computes (`Device::kind`: cpu, vulkan, ...):
    /// backends agree only to rounding, so it is part of a run's identity.
    pub backend: String,
}

/// Which test split serves as out-of-distribution data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ood {
    /// No OOD evaluation.
    Off,
    /// The other dataset when its files are in their default folder.
    Auto,
    /// This dataset's test split (an error when it is missing).
    Dataset(DatasetKind),
    /// MNIST's test split under a fixed random pixel permutation of each
    /// run's seed (`data::ood_permutation`): the paper's MNIST OOD experiment.
    PermutedMnist,
}

impl Ood {
    const ALL: [Ood; 5] = [
        Ood::Auto,
        Ood::Off,
        Ood::Dataset(DatasetKind::Mnist),
        Ood::Dataset(DatasetKind::Fashion),
        Ood::PermutedMnist,
    ];

    /// As the `--ood` flag spells it.
    pub fn name(self) -> &'static str {
        match self {
            Ood::Off => "none",
            Ood::Auto => "auto",
            Ood::Dataset(kind) => kind.name(),
            Ood::PermutedMnist => "pmnist",
        }
    }

    /// The `--ood` value `name` stands for.
    pub fn from_name(name: &str) -> Option<Ood> {
        Ood::ALL.into_iter().find(|o| o.name() == name)
    }

    /// The dataset whose test split is the OOD set, and whether it must be
    /// there (an explicit choice) or may be missing (`Auto`).
    pub(super) fn source(self, stream: DatasetKind) -> Option<(DatasetKind, bool)> {
        match self {
            Ood::Off => None,
            Ood::Auto => Some((stream.other(), false)),
            Ood::Dataset(kind) => Some((kind, true)),
            Ood::PermutedMnist => Some((DatasetKind::Mnist, true)),
        }
    }
}

/// Recorded by its flag's name ("pmnist").
impl Serialize for Ood {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Ood {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ood::from_name(&name).ok_or_else(|| {
            let names: Vec<_> = Ood::ALL.iter().map(|o| o.name()).collect();
            serde::de::Error::custom(format!(
                "ood {name:?}: expected one of {}",
                names.join(", ")
            ))
        })
    }
}

/// What must be equal for runs to share one batched execution.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub hidden: Vec<usize>,
    pub batch_size: usize,
    pub epochs: usize,
    pub train_samples: usize,
    pub test_samples: usize,
}

impl RunSettings {
    /// The paper's protocol with `optimizer`'s defaults.
    pub fn paper(optimizer: Optimizer) -> Self {
        RunSettings {
            hidden: vec![50],
            batch_size: 1,
            epochs: 1,
            train_samples: optimizer.default_samples(),
            test_samples: optimizer.default_samples(),
            hyper: Hyper {
                optimizer,
                lr_mu: optimizer.default_lr_mu(),
                penalty: optimizer.default_penalty(),
                ..Hyper::default()
            },
            seed: 0,
        }
    }

    pub fn shape(&self) -> Shape {
        Shape {
            hidden: self.hidden.clone(),
            batch_size: self.batch_size,
            epochs: self.epochs,
            train_samples: self.train_samples,
            test_samples: self.test_samples,
        }
    }
}

impl Shape {
    pub fn architecture(&self, bias: bool) -> Result<Architecture> {
        Architecture::new(PIXELS, &self.hidden, CLASSES, bias)
    }

    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            batch: self.batch_size,
            train_samples: self.train_samples,
            test_samples: self.test_samples,
            ..EngineConfig::default()
        }
    }

    pub fn describe(&self) -> String {
        let arch = self
            .architecture(false)
            .map_or_else(|e| e.to_string(), |a| a.describe());
        format!(
            "{arch}, B {}, K {}/{}, {} epoch(s)",
            self.batch_size, self.train_samples, self.test_samples, self.epochs
        )
    }
}
