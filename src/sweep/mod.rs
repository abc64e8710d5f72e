//! Sweeps: a grid of runs expanded from lists of settings, grouped into
//! batched executions (the engine's run dimension) of runs that share an
//! architecture and the engine's shapes, each run with its own results folder.

mod summary;

use std::fmt::Write as _;

use crate::backend::wgpu::{RunMemory, run_memory};
use crate::config::defs::setting;
use crate::config::{RunIdentity, RunSettings, SETTINGS, Setting, SettingValue, Shape, Shared};
use crate::data::{TEST_LEN, TRAIN_LEN};
use crate::optim::Optimizer;

pub(crate) use summary::mean_std;
pub use summary::{
    SeedAggregate, SummaryRow, WritesLock, aggregate, collect, lock_writes, write_summary,
};

/// The lists a sweep expands, one per setting of `config::SETTINGS` (none:
/// the setting keeps the paper's default, or the optimizer's own for lr_mu
/// and the sample counts).
#[derive(Clone, Debug, Default)]
pub struct Grid {
    lists: Vec<(&'static Setting, Vec<SettingValue>)>,
}

/// Each run of `runs` once per value of `values` (unchanged when empty).
fn axis(runs: Vec<RunSettings>, setting: &Setting, values: &[SettingValue]) -> Vec<RunSettings> {
    if values.is_empty() {
        return runs;
    }
    runs.into_iter()
        .flat_map(|run| {
            values.iter().map(move |v| {
                let mut run = run.clone();
                // A run whose optimizer does not use the setting comes out
                // unchanged, once per value: the duplicates go in `expand`.
                setting.set(&mut run, v);
                run
            })
        })
        .collect()
}

impl Grid {
    /// The grid with `values` for the setting of key `key` (replacing any).
    ///
    /// # Panics
    /// When no setting has that key.
    pub fn with(mut self, key: &str, values: Vec<SettingValue>) -> Self {
        let setting = setting(key).unwrap_or_else(|| panic!("no setting {key:?}"));
        self.lists.retain(|(s, _)| s.key != key);
        self.lists.push((setting, values));
        self
    }

    fn list(&self, key: &str) -> &[SettingValue] {
        self.lists
            .iter()
            .find(|(s, _)| s.key == key)
            .map_or(&[], |(_, v)| v)
    }

    /// A setting list no optimizer of the grid uses is an error naming it.
    pub fn check_penalty_lists(&self) -> crate::Result<()> {
        let optimizers: Vec<Optimizer> = match self.list("optimizer") {
            [] => vec![Optimizer::Mesu],
            list => list
                .iter()
                .filter_map(|v| match v {
                    SettingValue::Optimizer(o) => Some(*o),
                    _ => None,
                })
                .collect(),
        };
        for (s, values) in &self.lists {
            if !s.users.is_empty()
                && !values.is_empty()
                && !optimizers.iter().any(|o| s.users.contains(o))
            {
                return Err(format!(
                    "{} is a setting of {}; no --optimizer of this sweep uses it",
                    s.flag(),
                    s.users_text()
                )
                .into());
            }
        }
        Ok(())
    }

    /// Every combination, in the order of `SETTINGS` (architecture
    /// outermost, seed innermost); duplicates dropped.
    pub fn expand(&self) -> Vec<RunSettings> {
        let mut runs = vec![RunSettings::paper(Optimizer::Mesu)];
        for setting in &SETTINGS {
            runs = axis(runs, setting, self.list(setting.key));
        }
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
) -> crate::Result<Vec<Group>> {
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
        let penalised = members
            .iter()
            .any(|&i| runs[i].hyper.optimizer.is_penalised());
        let mem = run_memory_of(shared, &shape, penalised)?;
        let by_budget = limits.budget_bytes / mem.total_bytes.max(1);
        let fit = (by_budget as usize).min(limits.max_runs.max(1));
        if fit == 0 {
            return Err(format!(
                "one run of {} needs {} MiB of device memory, over the group budget of {} MiB \
                 (--group-memory-mib)",
                shape.describe(),
                mem.total_bytes.div_ceil(1 << 20),
                limits.budget_bytes >> 20
            )
            .into());
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

/// Device memory one run of `shape` adds (the full MNIST splits when no
/// limit is given), in a group with an EWC or SI run when `penalised`.
fn run_memory_of(shared: &Shared, shape: &Shape, penalised: bool) -> crate::Result<RunMemory> {
    let limited =
        |limit: Option<usize>, len: u32| limit.map_or(len as usize, |l| l.min(len as usize));
    Ok(run_memory(
        &shape.architecture(shared.bias)?,
        &shape.engine_config(),
        limited(shared.train_limit, TRAIN_LEN),
        limited(shared.test_limit, TEST_LEN),
        // Planned from the settings alone: an OOD set that may turn out
        // missing (`Ood::Auto`) is counted.
        1 + usize::from(shared.ood != crate::config::Ood::Off),
        penalised,
    ))
}

/// Whether `dir` holds the finished results of exactly this run.
pub fn is_complete(dir: &std::path::Path, run: &RunSettings, shared: &Shared) -> bool {
    crate::report::is_complete(dir, &RunIdentity::new(run, shared).to_json())
}

/// The groups a process runs: every one, or `--only-group G` alone.
pub fn selected_groups(only: Option<usize>, groups: usize) -> crate::Result<Vec<usize>> {
    match only {
        Some(g) if g >= groups => Err(format!(
            "--only-group {g}: the plan has groups 0 to {}",
            groups.saturating_sub(1)
        )
        .into()),
        Some(g) => Ok(vec![g]),
        None => Ok((0..groups).collect()),
    }
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
    let first = runs
        .first()
        .map(|r| RunIdentity::new(r, shared).to_json().to_string());
    let text = runs.iter().map(RunSettings::name).chain(first);
    for byte in text.flat_map(|s| s.into_bytes()) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h >> 32)
}
