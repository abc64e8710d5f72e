//! Sweeps: a grid of runs expanded from lists of settings, grouped into
//! batched executions (the engine's run dimension) of runs that share an
//! architecture and the engine's shapes, each run with its own results folder.

mod summary;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::data::{CLASSES, Dataset, DatasetKind, PIXELS, TEST_LEN, TRAIN_LEN};
use crate::model::{Architecture, EngineConfig, RunMemory, run_memory};
use crate::optim::{Hyper, Optimizer};
use crate::stream::{StreamConfig, StreamRun};

pub use summary::{SeedAggregate, SummaryRow, aggregate, collect, write_summary};

/// Settings of one run that may differ between runs of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub profile: bool,
    /// Out-of-distribution set scored after each task.
    pub ood: Ood,
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

/// "50" or "400x400".
pub fn hidden_name(hidden: &[usize]) -> String {
    let s: Vec<_> = hidden.iter().map(|h| h.to_string()).collect();
    s.join("x")
}

/// Parses "50" or "400x400" (widths of the hidden layers).
pub fn parse_hidden(s: &str) -> Result<Vec<usize>, String> {
    let widths = s
        .split('x')
        .map(|w| w.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("hidden {s:?}: expected widths like 50 or 400x400"))?;
    if widths.contains(&0) {
        return Err(format!("hidden {s:?}: every width must be at least 1"));
    }
    Ok(widths)
}

/// Shortest text that reads back as the same f64 (300000, 1e15, 0.002).
fn short(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e7 || x.abs() < 1e-4) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
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
                ..Hyper::default()
            },
            seed: 0,
        }
    }

    /// A folder name that spells every setting, so reruns find their folder.
    pub fn name(&self) -> String {
        let h = &self.hyper;
        format!(
            "h{}-{}-N{}-sp{}-mp{}-lr{}_{}-cg{}-B{}-E{}-K{}_{}-seed{}",
            hidden_name(&self.hidden),
            h.optimizer,
            short(h.n),
            short(h.sigma_prior),
            short(h.mu_prior),
            short(h.lr_mu),
            short(h.lr_sigma),
            short(h.clamp_grad),
            self.batch_size,
            self.epochs,
            self.train_samples,
            self.test_samples,
            self.seed
        )
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

    /// Rejects settings no run could use, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("--batch-size", self.batch_size),
            ("--epochs", self.epochs),
            ("--train-samples", self.train_samples),
            ("--test-samples", self.test_samples),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{flag} must be at least 1"));
        }
        if self.hidden.contains(&0) {
            return Err("--hidden: every width must be at least 1".into());
        }
        let h = &self.hyper;
        let reals = [
            ("--n", h.n),
            ("--sigma-prior", h.sigma_prior),
            ("--lr-mu", h.lr_mu),
            ("--lr-sigma", h.lr_sigma),
        ];
        if let Some((flag, v)) = reals.iter().find(|(_, v)| !(v.is_finite() && *v > 0.0)) {
            return Err(format!("{flag} must be a positive number, got {v}"));
        }
        if !(h.clamp_grad.is_finite() && h.clamp_grad >= 0.0) {
            return Err("--clamp-grad must be 0 (off) or positive".into());
        }
        if !h.mu_prior.is_finite() {
            return Err("--mu-prior must be finite".into());
        }
        Ok(())
    }
}

impl Shape {
    pub fn architecture(&self, bias: bool) -> Result<Architecture, String> {
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

    /// The stream settings of a group of this shape.
    pub fn stream_config(&self, shared: &Shared) -> Result<StreamConfig, String> {
        Ok(StreamConfig {
            tasks: shared.tasks,
            arch: self.architecture(shared.bias)?,
            engine: self.engine_config(),
            epochs: self.epochs,
            shuffle: shared.shuffle,
            eval_all: shared.eval_all,
            profile: shared.profile,
        })
    }

    pub fn describe(&self) -> String {
        let arch = self
            .architecture(false)
            .map_or_else(|e| e, |a| a.describe());
        format!(
            "{arch}, B {}, K {}/{}, {} epoch(s)",
            self.batch_size, self.train_samples, self.test_samples, self.epochs
        )
    }
}

impl Shared {
    /// Images per task after the limits, of a split with `len` images.
    fn limited(limit: Option<usize>, len: usize) -> usize {
        limit.map_or(len, |l| l.min(len))
    }

    /// Device memory one run of `shape` adds (the full MNIST splits when
    /// no limit is given).
    pub fn run_memory(&self, shape: &Shape) -> Result<RunMemory, String> {
        Ok(run_memory(
            &shape.architecture(self.bias)?,
            &shape.engine_config(),
            Self::limited(self.train_limit, TRAIN_LEN as usize),
            Self::limited(self.test_limit, TEST_LEN as usize),
            // Planned from the settings alone: an OOD set that may turn out
            // missing (`Ood::Auto`) is counted.
            1 + usize::from(self.ood != Ood::Off),
        ))
    }
}

/// What a run's config.json records, and what a rerun compares to decide
/// whether a finished folder is this run's.
pub fn run_identity(run: &RunSettings, shared: &Shared) -> Value {
    json!({
        "run": run,
        "tasks": shared.tasks,
        "bias": shared.bias,
        "dataset": shared.dataset.name(),
        "shuffle": shared.shuffle,
        "eval_all": shared.eval_all,
        "train_limit": shared.train_limit,
        "test_limit": shared.test_limit,
    })
}

/// Every setting of a run, written as its config.json.
pub fn run_config(run: &RunSettings, shared: &Shared, adapter: &str, data: &Dataset) -> Value {
    let arch = run.shape().architecture(shared.bias).ok();
    json!({
        "name": run.name(),
        "crate_version": env!("CARGO_PKG_VERSION"),
        "adapter": adapter,
        "architecture": arch.as_ref().map(|a| a.describe()),
        "sizes": arch.as_ref().map(|a| a.sizes.clone()),
        "bias": shared.bias,
        "tasks": shared.tasks,
        "hyper": run.hyper,
        "batch_size": run.batch_size,
        "epochs": run.epochs,
        "train_samples": run.train_samples,
        "test_samples": run.test_samples,
        "seed": run.seed,
        "dataset": shared.dataset.name(),
        "data_dir": shared.data_dir,
        "shuffle": shared.shuffle,
        "eval": if shared.eval_all { "all" } else { "seen" },
        "ood": data.ood.as_ref().map(|(kind, split)| json!({
            "dataset": kind.name(),
            "images": split.len(),
        })),
        "train_images_per_task": data.train.len(),
        "test_images_per_task": data.test.len(),
        "identity": run_identity(run, shared),
    })
}

/// A run ready for `run_group`.
pub fn stream_run(
    run: &RunSettings,
    shared: &Shared,
    adapter: &str,
    data: &Dataset,
    out: PathBuf,
) -> StreamRun {
    StreamRun {
        seed: run.seed,
        hyper: run.hyper.clone(),
        config: run_config(run, shared, adapter, data),
        out,
    }
}

/// Whether `dir` holds the finished results of exactly this run.
pub fn is_complete(dir: &Path, run: &RunSettings, shared: &Shared) -> bool {
    let read = |f: &str| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(f)).ok()?).ok()
    };
    let (Some(config), Some(metrics)) = (read("config.json"), read("metrics.json")) else {
        return false;
    };
    metrics["complete"] == true && config["identity"] == run_identity(run, shared)
}

/// The lists a sweep expands; an empty list takes the default (the paper's
/// protocol, or the optimizer's own default for lr_mu and the sample counts).
#[derive(Clone, Debug, Default)]
pub struct Grid {
    pub hidden: Vec<Vec<usize>>,
    pub optimizer: Vec<Optimizer>,
    pub n: Vec<f64>,
    pub sigma_prior: Vec<f64>,
    pub mu_prior: Vec<f64>,
    pub lr_mu: Vec<f64>,
    pub lr_sigma: Vec<f64>,
    pub clamp_grad: Vec<f64>,
    pub batch_size: Vec<usize>,
    pub epochs: Vec<usize>,
    pub train_samples: Vec<usize>,
    pub test_samples: Vec<usize>,
    pub seeds: Vec<u64>,
}

/// Each run of `runs` once per value of `values` (unchanged when empty).
fn axis<T: Clone>(
    runs: Vec<RunSettings>,
    values: &[T],
    set: impl Fn(&mut RunSettings, T),
) -> Vec<RunSettings> {
    if values.is_empty() {
        return runs;
    }
    let set = &set;
    runs.into_iter()
        .flat_map(|run| {
            values.iter().map(move |v| {
                let mut run = run.clone();
                set(&mut run, v.clone());
                run
            })
        })
        .collect()
}

impl Grid {
    /// Every combination, architecture outermost and seed innermost;
    /// duplicates dropped.
    pub fn expand(&self) -> Vec<RunSettings> {
        let optimizers = if self.optimizer.is_empty() {
            vec![Optimizer::Mesu]
        } else {
            self.optimizer.clone()
        };
        let hidden = if self.hidden.is_empty() {
            vec![vec![50]]
        } else {
            self.hidden.clone()
        };
        let mut runs: Vec<_> = hidden
            .iter()
            .flat_map(|h| {
                optimizers.iter().map(|&o| RunSettings {
                    hidden: h.clone(),
                    ..RunSettings::paper(o)
                })
            })
            .collect();
        runs = axis(runs, &self.n, |r, v| r.hyper.n = v);
        runs = axis(runs, &self.sigma_prior, |r, v| r.hyper.sigma_prior = v);
        runs = axis(runs, &self.mu_prior, |r, v| r.hyper.mu_prior = v);
        runs = axis(runs, &self.lr_mu, |r, v| r.hyper.lr_mu = v);
        runs = axis(runs, &self.lr_sigma, |r, v| r.hyper.lr_sigma = v);
        runs = axis(runs, &self.clamp_grad, |r, v| r.hyper.clamp_grad = v);
        runs = axis(runs, &self.batch_size, |r, v| r.batch_size = v);
        runs = axis(runs, &self.epochs, |r, v| r.epochs = v);
        runs = axis(runs, &self.train_samples, |r, v| r.train_samples = v);
        runs = axis(runs, &self.test_samples, |r, v| r.test_samples = v);
        runs = axis(runs, &self.seeds, |r, v| r.seed = v);
        let mut unique: Vec<RunSettings> = Vec::with_capacity(runs.len());
        for run in runs {
            if !unique.contains(&run) {
                unique.push(run);
            }
        }
        unique
    }
}

/// Runs that train as one batched execution.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub shape: Shape,
    /// Indices into the expanded grid.
    pub runs: Vec<usize>,
    /// Device memory of the per-run buffers of the whole group.
    pub bytes: u64,
}

/// How groups are formed: at most `max_runs` runs, and at most
/// `budget_bytes` of per-run buffers (which also bounds any one buffer).
#[derive(Clone, Copy, Debug)]
pub struct GroupLimits {
    pub max_runs: usize,
    pub budget_bytes: u64,
}

/// Groups the runs by shape (in order of first appearance), each shape cut
/// into as few groups as the limits allow. Depends only on the settings, so
/// `--only-group G` names the same runs on every machine.
pub fn plan_groups(
    runs: &[RunSettings],
    shared: &Shared,
    limits: GroupLimits,
) -> Result<Vec<Group>, String> {
    let mut shapes: Vec<(Shape, Vec<usize>)> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let shape = run.shape();
        match shapes.iter_mut().find(|(s, _)| *s == shape) {
            Some((_, members)) => members.push(i),
            None => shapes.push((shape, vec![i])),
        }
    }
    let mut groups = Vec::new();
    for (shape, members) in shapes {
        let mem = shared.run_memory(&shape)?;
        let by_budget = limits.budget_bytes / mem.total_bytes.max(1);
        let fit = (by_budget as usize).min(limits.max_runs.max(1));
        if fit == 0 {
            return Err(format!(
                "one run of {} needs {} MiB of device memory, over the group budget of {} MiB \
                 (--group-memory-mib)",
                shape.describe(),
                mem.total_bytes.div_ceil(1 << 20),
                limits.budget_bytes >> 20
            ));
        }
        // Even groups: 10 runs at 8 per group become 5 + 5, not 8 + 2.
        let count = members.len().div_ceil(fit);
        let per = members.len().div_ceil(count);
        for chunk in members.chunks(per) {
            groups.push(Group {
                shape: shape.clone(),
                runs: chunk.to_vec(),
                bytes: mem.total_bytes * chunk.len() as u64,
            });
        }
    }
    Ok(groups)
}

/// The dry-run listing: every group with its shape, memory and runs.
pub fn describe_plan(runs: &[RunSettings], groups: &[Group]) -> String {
    let mut out = String::new();
    for (g, group) in groups.iter().enumerate() {
        let _ = writeln!(
            out,
            "group {g}: {} runs of {}, about {:.1} MiB of per-run buffers",
            group.runs.len(),
            group.shape.describe(),
            group.bytes as f64 / (1u64 << 20) as f64
        );
        for &i in &group.runs {
            let _ = writeln!(out, "  {}", runs[i].name());
        }
    }
    out
}

/// A short stable id of a sweep (its runs and shared settings), naming its
/// default folder so that rerunning the same command finds its results.
pub fn sweep_id(runs: &[RunSettings], shared: &Shared) -> String {
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let first = runs.first().map(|r| run_identity(r, shared).to_string());
    let text = runs.iter().map(RunSettings::name).chain(first);
    for byte in text.flat_map(|s| s.into_bytes()) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h >> 32)
}
