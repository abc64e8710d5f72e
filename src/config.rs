//! One run's settings: the defaults are the paper's protocol; validation,
//! the run's identity (every setting that changes its numbers), its
//! config.json, and the data it trains on. A sweep expands grids of these.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Result;
use crate::backend::wgpu::{RunMemory, run_memory};
use crate::data::{self, CLASSES, Dataset, DatasetKind, PIXELS, TEST_LEN, TRAIN_LEN};
use crate::model::{Architecture, EngineConfig};
use crate::optim::{Hyper, Optimizer, PenaltyHyper};
use crate::stream::{StreamConfig, StreamRun};

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
    /// As the `--ood` flag spells it.
    pub fn name(self) -> &'static str {
        match self {
            Ood::Off => "none",
            Ood::Auto => "auto",
            Ood::Dataset(kind) => kind.name(),
            Ood::PermutedMnist => "pmnist",
        }
    }

    /// The dataset whose test split is the OOD set, and whether it must be
    /// there (an explicit choice) or may be missing (`Auto`).
    fn source(self, stream: DatasetKind) -> Option<(DatasetKind, bool)> {
        match self {
            Ood::Off => None,
            Ood::Auto => Some((stream.other(), false)),
            Ood::Dataset(kind) => Some((kind, true)),
            Ood::PermutedMnist => Some((DatasetKind::Mnist, true)),
        }
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

/// "50" or "400x400".
pub fn hidden_name(hidden: &[usize]) -> String {
    let s: Vec<_> = hidden.iter().map(|h| h.to_string()).collect();
    s.join("x")
}

/// Parses "50" or "400x400" (widths of the hidden layers).
pub fn parse_hidden(s: &str) -> Result<Vec<usize>> {
    let widths = s
        .split('x')
        .map(|w| w.trim().parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| format!("hidden {s:?}: expected widths like 50 or 400x400"))?;
    if widths.contains(&0) {
        return Err(format!("hidden {s:?}: every width must be at least 1").into());
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
                penalty: optimizer.default_penalty(),
                ..Hyper::default()
            },
            seed: 0,
        }
    }

    /// A folder name that spells every setting, so reruns find their folder.
    pub fn name(&self) -> String {
        let h = &self.hyper;
        let penalty = match h.penalty {
            None => String::new(),
            Some(PenaltyHyper::Ewc { lambda, gamma }) => {
                format!("-lam{}_g{}", short(lambda), short(gamma))
            }
            Some(PenaltyHyper::Si { c, xi }) => format!("-c{}_xi{}", short(c), short(xi)),
        };
        format!(
            "h{}-{}{penalty}-N{}-sp{}-mp{}-lr{}_{}-cg{}-B{}-E{}-K{}_{}-seed{}",
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
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("--batch-size", self.batch_size),
            ("--epochs", self.epochs),
            ("--train-samples", self.train_samples),
            ("--test-samples", self.test_samples),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{flag} must be at least 1").into());
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
        if let Some((flag, v)) = reals.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!(
                "{flag} must be finite, got {v} (1e15 is the paper's no-forgetting N)"
            )
            .into());
        }
        if let Some((flag, v)) = reals.iter().find(|(_, v)| *v <= 0.0) {
            return Err(format!("{flag} must be a positive number, got {v}").into());
        }
        if !(h.clamp_grad.is_finite() && h.clamp_grad >= 0.0) {
            return Err("--clamp-grad must be 0 (off) or positive".into());
        }
        if !h.mu_prior.is_finite() {
            return Err("--mu-prior must be finite".into());
        }
        validate_penalty(h)
    }
}

/// A penalty exactly for the penalised baselines, of their kind, with
/// usable values.
fn validate_penalty(h: &Hyper) -> Result<()> {
    let o = h.optimizer;
    let values = match (o, h.penalty) {
        (
            Optimizer::OnlineEwc | Optimizer::StreamEwc,
            Some(PenaltyHyper::Ewc { lambda, gamma }),
        ) => [
            ("--ewc-lambda", lambda, false),
            ("--ewc-gamma", gamma, false),
        ],
        (Optimizer::Si, Some(PenaltyHyper::Si { c, xi })) => {
            [("--si-c", c, false), ("--si-xi", xi, true)]
        }
        (_, None) if !o.is_penalised() => return Ok(()),
        _ => return Err(format!("--optimizer {o}: its penalty settings do not fit it").into()),
    };
    for (flag, v, positive) in values {
        if !v.is_finite() || v < 0.0 || (positive && v == 0.0) {
            let want = if positive {
                "positive"
            } else {
                "0 or positive"
            };
            return Err(format!("{flag} must be {want} and finite, got {v}").into());
        }
    }
    Ok(())
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

    /// The stream settings of a group of this shape.
    pub fn stream_config(&self, shared: &Shared) -> Result<StreamConfig> {
        Ok(StreamConfig {
            tasks: shared.tasks,
            arch: self.architecture(shared.bias)?,
            engine: self.engine_config(),
            epochs: self.epochs,
            shuffle: shared.shuffle,
            eval_all: shared.eval_all,
            eval_every: shared.eval_every,
            profile: shared.profile,
            permute: shared.permute,
            ood_permuted: shared.ood == Ood::PermutedMnist,
        })
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

impl Shared {
    /// Images per task after the limits, of a split with `len` images.
    fn limited(limit: Option<usize>, len: usize) -> usize {
        limit.map_or(len, |l| l.min(len))
    }

    /// Device memory one run of `shape` adds (the full MNIST splits when
    /// no limit is given), in a group with an EWC or SI run when `penalised`.
    pub fn run_memory(&self, shape: &Shape, penalised: bool) -> Result<RunMemory> {
        Ok(run_memory(
            &shape.architecture(self.bias)?,
            &shape.engine_config(),
            Self::limited(self.train_limit, TRAIN_LEN as usize),
            Self::limited(self.test_limit, TEST_LEN as usize),
            // Planned from the settings alone: an OOD set that may turn out
            // missing (`Ood::Auto`) is counted.
            1 + usize::from(self.ood != Ood::Off),
            penalised,
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
        "eval_every": shared.eval_every,
        "train_limit": shared.train_limit,
        "test_limit": shared.test_limit,
        "ood": shared.ood.name(),
        "permute": shared.permute,
        "backend": shared.backend,
    })
}

/// Which build and which command made a run: recorded in its config.json,
/// not part of its identity.
fn provenance() -> Value {
    json!({
        "crate_version": env!("CARGO_PKG_VERSION"),
        "git_commit": option_env!("MESU_GIT_COMMIT"),
        "command_line": std::env::args().collect::<Vec<_>>(),
        "started": utc_now(UtcFormat::Iso),
    })
}

/// How `utc_now` spells the time.
pub enum UtcFormat {
    /// 2026-12-01T17:23:56Z
    Iso,
    /// 20261201-172356, for folder names.
    Compact,
}

/// The current UTC time (civil-from-days: no time-zone database needed).
pub fn utc_now(format: UtcFormat) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    match format {
        UtcFormat::Iso => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"),
        UtcFormat::Compact => format!("{year:04}{month:02}{day:02}-{h:02}{m:02}{s:02}"),
    }
}

/// Every setting of a run, written as its config.json.
pub fn run_config(run: &RunSettings, shared: &Shared, adapter: &str, data: &Dataset) -> Value {
    let arch = run.shape().architecture(shared.bias).ok();
    json!({
        "name": run.name(),
        "provenance": provenance(),
        "backend": shared.backend,
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
        "eval_every": shared.eval_every,
        "ood": data.ood.as_ref().map(|(kind, split)| json!({
            "dataset": kind.name(),
            "permuted": shared.ood == Ood::PermutedMnist,
            "images": split.len(),
        })),
        "permute": shared.permute,
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
    crate::report::is_complete(dir, &run_identity(run, shared))
}

/// Rejects shared settings no stream could use, naming the flag.
pub fn validate_shared(shared: &Shared) -> Result<()> {
    if shared.tasks == 0 || shared.tasks > crate::stream::MAX_TASKS {
        return Err(format!("--tasks must be between 1 and {}", crate::stream::MAX_TASKS).into());
    }
    if shared.train_limit == Some(0) || shared.test_limit == Some(0) {
        return Err("--train-limit and --test-limit must be at least 1".into());
    }
    if shared.eval_every == 0 {
        return Err("--eval-every must be at least 1".into());
    }
    if shared.ood == Ood::Dataset(shared.dataset) {
        let (name, other) = (shared.dataset.name(), shared.dataset.other().name());
        return Err(format!(
            "--ood {name}: the OOD set must differ from the stream's own {name} test set; \
             use --ood {other}, --ood pmnist or --ood none"
        )
        .into());
    }
    Ok(())
}

/// Fetches `kind` when `shared` allows it, `dir` is its default folder
/// (a folder named by --data-dir is never written) and files are missing.
fn fetch_if_missing(shared: &Shared, kind: DatasetKind, dir: &Path) -> Result<()> {
    if !shared.fetch || dir != kind.default_dir() || data::present(dir) {
        return Ok(());
    }
    println!(
        "{} is not in {}: fetching it with `bash {} {}` (checksums checked; --no-fetch turns this off)",
        kind.name(),
        dir.display(),
        data::FETCH_SCRIPT,
        kind.name()
    );
    Ok(data::fetch(kind, Path::new("."))?)
}

/// Loads the dataset of `shared`, cut to its limits, fetching it first
/// into its default folder when it is missing there.
pub fn load_data(shared: &Shared) -> Result<Dataset> {
    fetch_if_missing(shared, shared.dataset, &shared.data_dir)?;
    let mut data = data::load(shared.dataset, &shared.data_dir).map_err(|e| e.to_string())?;
    if let Some(n) = shared.train_limit {
        data.train.truncate(n);
    }
    if let Some(n) = shared.test_limit {
        data.test.truncate(n);
    }
    data.ood = load_ood(shared)?;
    Ok(data)
}

/// The OOD test split `shared.ood` asks for, cut to the test limit; with
/// `Ood::Auto`, none (and a note) when the other dataset is missing.
fn load_ood(shared: &Shared) -> Result<Option<(DatasetKind, data::Split)>> {
    let Some((kind, required)) = shared.ood.source(shared.dataset) else {
        return Ok(None);
    };
    if required {
        fetch_if_missing(shared, kind, &kind.default_dir())?;
    }
    let mut split = match data::load(kind, &kind.default_dir()) {
        Ok(d) => d.test,
        Err(e) if required => return Err(format!("--ood: {e}").into()),
        Err(_) => {
            println!(
                "no OOD evaluation: {} is not in {} (bash data/fetch.sh {}; --ood none hides this note)",
                kind.name(),
                kind.default_dir().display(),
                kind.name()
            );
            return Ok(None);
        }
    };
    if let Some(n) = shared.test_limit {
        split.truncate(n);
    }
    Ok(Some((kind, split)))
}

/// `--name value` for a recorded setting; nothing for an unset one.
fn valued(name: &str, v: &Value) -> std::result::Result<Option<Vec<String>>, String> {
    let text = match v {
        Value::Null => return Ok(None),
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(widths) => {
            let w: Vec<String> = widths.iter().map(Value::to_string).collect();
            w.join(",")
        }
        _ => return Err(format!("setting {name}: unexpected value {v}")),
    };
    Ok(Some(vec![format!("--{}", name.replace('_', "-")), text]))
}

/// The flags of a recorded `Hyper`: `{"ewc": {"lambda": 2, ..}}` under
/// "penalty" is `--ewc-lambda 2` ...
fn hyper_flags(hyper: &Value) -> std::result::Result<Vec<Vec<String>>, String> {
    let hyper = hyper
        .as_object()
        .ok_or("identity.run.hyper: not an object")?;
    let mut out = Vec::new();
    for (k, v) in hyper {
        let Some(kinds) = v.as_object().filter(|_| k == "penalty") else {
            out.extend(valued(k, v)?);
            continue;
        };
        for (kind, params) in kinds {
            let params = params
                .as_object()
                .ok_or("identity.run.hyper.penalty: not an object")?;
            for (p, v) in params {
                out.extend(valued(&format!("{kind}_{p}"), v)?);
            }
        }
    }
    Ok(out)
}

/// The flags that repeat the run a results folder's config.json records
/// (its "identity", and its data folder): `mesu --config DIR/config.json`,
/// or `mesu --resume DIR`. An unknown setting is an error naming it.
pub fn repeat_flags(
    config: &serde_json::Map<String, Value>,
) -> std::result::Result<Vec<Vec<String>>, String> {
    let identity = config["identity"]
        .as_object()
        .ok_or("identity: not an object")?;
    let mut out = Vec::new();
    for (key, v) in identity {
        match key.as_str() {
            "run" => {
                let run = v.as_object().ok_or("identity.run: not an object")?;
                for (k, v) in run {
                    match k.as_str() {
                        "hyper" => out.extend(hyper_flags(v)?),
                        "hidden" | "batch_size" | "epochs" | "train_samples" | "test_samples"
                        | "seed" => out.extend(valued(k, v)?),
                        _ => return Err(format!("unknown setting identity.run.{k}")),
                    }
                }
            }
            "tasks" | "dataset" | "eval_every" | "train_limit" | "test_limit" | "ood"
            | "backend" => out.extend(valued(key, v)?),
            "eval_all" if v == true => out.push(vec!["--eval".into(), "all".into()]),
            "bias" | "shuffle" if v == true => out.push(vec![format!("--{key}")]),
            "permute" if v == false => out.push(vec!["--no-permute".into()]),
            "eval_all" | "bias" | "shuffle" | "permute" => {}
            _ => return Err(format!("unknown setting identity.{key}")),
        }
    }
    if let Some(dir) = config.get("data_dir").and_then(Value::as_str) {
        out.push(vec!["--data-dir".into(), dir.into()]);
    }
    Ok(out)
}
