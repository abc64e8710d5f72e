//! A run's identity (every setting that changes its numbers: what a rerun
//! compares to decide whether a folder holds this run) and its config.json,
//! typed; JSON only where they are written and read.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Ood, RunSettings, Shared, UtcFormat, utc_now};
use crate::data::{Dataset, DatasetKind};
use crate::optim::Hyper;

/// What a run's config.json records under "identity".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunIdentity {
    pub run: RunSettings,
    pub tasks: usize,
    pub bias: bool,
    #[serde(with = "dataset_name")]
    pub dataset: DatasetKind,
    pub shuffle: bool,
    pub eval_all: bool,
    pub eval_every: usize,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub ood: Ood,
    pub permute: bool,
    pub backend: String,
}

impl RunIdentity {
    pub fn new(run: &RunSettings, shared: &Shared) -> Self {
        RunIdentity {
            run: run.clone(),
            tasks: shared.tasks,
            bias: shared.bias,
            dataset: shared.dataset,
            shuffle: shared.shuffle,
            eval_all: shared.eval_all,
            eval_every: shared.eval_every,
            train_limit: shared.train_limit,
            test_limit: shared.test_limit,
            ood: shared.ood,
            permute: shared.permute,
            backend: shared.backend.clone(),
        }
    }

    /// As config.json holds it (keys sorted, as every JSON object here).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an identity is plain data")
    }
}

/// A dataset recorded by its flag's name ("fashion").
mod dataset_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::data::DatasetKind;

    pub fn serialize<S: Serializer>(kind: &DatasetKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DatasetKind, D::Error> {
        let name = String::deserialize(d)?;
        [DatasetKind::Mnist, DatasetKind::Fashion]
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("dataset {name:?}: expected mnist or fashion"))
            })
    }
}

/// Which build and which command made a run: recorded in its config.json,
/// not part of its identity.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    pub crate_version: String,
    pub git_commit: Option<String>,
    pub command_line: Vec<String>,
    pub started: String,
    /// Where this part of the run took over from a checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<ResumePoint>,
}

/// A checkpoint's place in the stream: tasks finished and training steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumePoint {
    pub tasks_done: usize,
    pub steps: u64,
}

/// An earlier part of a run that stopped and was resumed: its build,
/// command and machine (threads included), as its config.json had them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlierPart {
    pub provenance: Provenance,
    pub adapter: String,
}

impl Provenance {
    fn now() -> Self {
        Provenance {
            crate_version: env!("CARGO_PKG_VERSION").into(),
            git_commit: option_env!("MESU_GIT_COMMIT").map(Into::into),
            // A record for people: an argument that is not UTF-8 is
            // written lossily rather than refused.
            command_line: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            started: utc_now(UtcFormat::Iso),
            resumed_from: None,
        }
    }
}

/// The OOD set a run was scored on.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OodRecord {
    pub dataset: String,
    pub permuted: bool,
    pub images: usize,
}

/// Every setting of a run, written as its config.json. Read back (to repeat
/// a run) strictly: an unknown key is an error naming it; only the identity
/// and the data folder are used, the rest is a record for people (and may
/// be missing in folders of older versions).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub provenance: Provenance,
    #[serde(default)]
    pub backend: String,
    #[serde(default)]
    pub adapter: String,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub sizes: Option<Vec<usize>>,
    #[serde(default)]
    pub bias: bool,
    #[serde(default)]
    pub tasks: usize,
    #[serde(default)]
    pub hyper: Hyper,
    #[serde(default)]
    pub batch_size: usize,
    #[serde(default)]
    pub epochs: usize,
    #[serde(default)]
    pub train_samples: usize,
    #[serde(default)]
    pub test_samples: usize,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub dataset: String,
    #[serde(default)]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub shuffle: bool,
    #[serde(default)]
    pub eval: String,
    #[serde(default)]
    pub eval_every: usize,
    #[serde(default)]
    pub ood: Option<OodRecord>,
    #[serde(default)]
    pub permute: bool,
    #[serde(default)]
    pub train_images_per_task: usize,
    #[serde(default)]
    pub test_images_per_task: usize,
    pub identity: RunIdentity,
    /// The parts before this one, oldest first, when the run was resumed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_parts: Vec<EarlierPart>,
}

impl RunConfig {
    pub fn new(run: &RunSettings, shared: &Shared, adapter: &str, data: &Dataset) -> Self {
        let arch = run.shape().architecture(shared.bias).ok();
        RunConfig {
            name: run.name(),
            provenance: Provenance::now(),
            backend: shared.backend.clone(),
            adapter: adapter.to_string(),
            architecture: arch.as_ref().map(|a| a.describe()),
            sizes: arch.map(|a| a.sizes),
            bias: shared.bias,
            tasks: shared.tasks,
            hyper: run.hyper.clone(),
            batch_size: run.batch_size,
            epochs: run.epochs,
            train_samples: run.train_samples,
            test_samples: run.test_samples,
            seed: run.seed,
            dataset: shared.dataset.name().into(),
            data_dir: shared.data_dir.clone(),
            shuffle: shared.shuffle,
            eval: if shared.eval_all { "all" } else { "seen" }.into(),
            eval_every: shared.eval_every,
            ood: data.ood.as_ref().map(|(kind, split)| OodRecord {
                dataset: kind.name().into(),
                permuted: shared.ood == Ood::PermutedMnist,
                images: split.len(),
            }),
            permute: shared.permute,
            train_images_per_task: data.train.len(),
            test_images_per_task: data.test.len(),
            identity: RunIdentity::new(run, shared),
            earlier_parts: Vec::new(),
        }
    }

    /// This part, resumed at `at` from a folder whose config.json was
    /// `earlier`: the earlier parts' build, command and machine are kept,
    /// not overwritten by this one's.
    pub fn resumed(mut self, earlier: RunConfig, at: ResumePoint) -> Self {
        self.earlier_parts = earlier.earlier_parts;
        self.earlier_parts.push(EarlierPart {
            provenance: earlier.provenance,
            adapter: earlier.adapter,
        });
        self.provenance.resumed_from = Some(at);
        self
    }

    /// As config.json holds it (keys sorted).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a run's config is plain data")
    }
}

/// What a Hessian check's config.json records under "identity".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HessianIdentity {
    pub hessian: HessianSettings,
}

/// Every setting that changes a Hessian check's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HessianSettings {
    pub run: RunSettings,
    pub bias: bool,
    #[serde(with = "dataset_name")]
    pub dataset: DatasetKind,
    pub shuffle: bool,
    pub train_limit: Option<usize>,
    /// Training steps at which it measures.
    pub at: Vec<u64>,
    /// Weights per layer written and plotted; None: every weight.
    pub weights: Option<usize>,
}

impl HessianIdentity {
    /// As config.json holds it (keys sorted).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an identity is plain data")
    }
}
