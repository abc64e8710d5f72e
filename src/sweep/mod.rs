//! Sweeps: a grid of runs expanded from lists of settings, grouped into
//! batched executions (the engine's run dimension) of runs that share an
//! architecture and the engine's shapes, each run with its own results folder.

mod summary;

use std::fmt::Write as _;

use crate::config::{RunSettings, Shape, Shared, run_identity};
use crate::optim::{Optimizer, PenaltyHyper};

pub(crate) use summary::mean_std;
pub use summary::{SeedAggregate, SummaryRow, aggregate, collect, write_summary};

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
    /// The penalised baselines' settings: each applies to the runs whose
    /// optimizer uses it (online-ewc and stream-ewc; si).
    pub ewc_lambda: Vec<f64>,
    pub ewc_gamma: Vec<f64>,
    pub si_c: Vec<f64>,
    pub si_xi: Vec<f64>,
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
    /// A penalty list no optimizer of the grid uses is an error naming it.
    pub fn check_penalty_lists(&self) -> crate::Result<()> {
        let ewc = [Optimizer::OnlineEwc, Optimizer::StreamEwc];
        let lists = [
            ("--ewc-lambda", &self.ewc_lambda, &ewc[..]),
            ("--ewc-gamma", &self.ewc_gamma, &ewc[..]),
            ("--si-c", &self.si_c, &[Optimizer::Si][..]),
            ("--si-xi", &self.si_xi, &[Optimizer::Si][..]),
        ];
        for (flag, values, users) in lists {
            if !values.is_empty() && !self.optimizer.iter().any(|o| users.contains(o)) {
                let names: Vec<_> = users.iter().map(|o| o.name()).collect();
                return Err(format!(
                    "{flag} is a setting of {}; no --optimizer of this sweep uses it",
                    names.join(" and ")
                )
                .into());
            }
        }
        Ok(())
    }

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
        // A run of another optimizer comes out unchanged, once per value:
        // the duplicates go below.
        runs = axis(runs, &self.ewc_lambda, |r, v| {
            if let Some(PenaltyHyper::Ewc { lambda, .. }) = &mut r.hyper.penalty {
                *lambda = v;
            }
        });
        runs = axis(runs, &self.ewc_gamma, |r, v| {
            if let Some(PenaltyHyper::Ewc { gamma, .. }) = &mut r.hyper.penalty {
                *gamma = v;
            }
        });
        runs = axis(runs, &self.si_c, |r, v| {
            if let Some(PenaltyHyper::Si { c, .. }) = &mut r.hyper.penalty {
                *c = v;
            }
        });
        runs = axis(runs, &self.si_xi, |r, v| {
            if let Some(PenaltyHyper::Si { xi, .. }) = &mut r.hyper.penalty {
                *xi = v;
            }
        });
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
        let mem = shared.run_memory(&shape, penalised)?;
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
    let first = runs.first().map(|r| run_identity(r, shared).to_string());
    let text = runs.iter().map(RunSettings::name).chain(first);
    for byte in text.flat_map(|s| s.into_bytes()) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h >> 32)
}
