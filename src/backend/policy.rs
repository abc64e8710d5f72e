//! What every backend checks and does the same way, above the seam: the
//! argument checks of the `Backend` calls, the divergence bookkeeping of a
//! training call, and the task end of the task-aware baselines.

use super::Backend;
use crate::Error;
use crate::model::{Architecture, Params, Pass, Rule};
use crate::optim::{Optimizer, RunSpec};

/// Batches first_batch..first_batch + count lie within an epoch of `per_epoch`.
pub(crate) fn check_batches(
    first_batch: usize,
    count: usize,
    per_epoch: usize,
) -> Result<(), Error> {
    if first_batch + count > per_epoch {
        return Err(Error::Settings(format!(
            "batches {first_batch}..{} are past the epoch's {per_epoch}",
            first_batch + count
        )));
    }
    Ok(())
}

/// One entry per run, each of length `len` with values below `bound`
/// (a permutation, an example order).
pub(crate) fn check_per_run(
    per_run: &[Vec<u32>],
    runs: usize,
    len: usize,
    bound: usize,
    what: &str,
) -> Result<(), Error> {
    let ok = per_run.len() == runs
        && per_run
            .iter()
            .all(|p| p.len() == len && p.iter().all(|&v| (v as usize) < bound));
    if ok {
        Ok(())
    } else {
        Err(Error::Settings(format!(
            "expected one {what} of length {len} with entries below {bound} per run ({runs} runs)"
        )))
    }
}

/// One Params of `arch`'s shapes per run, with a penalty state exactly for
/// the penalised baselines.
pub(crate) fn check_params(
    arch: &Architecture,
    runs: &[RunSpec],
    params: &[Params],
) -> Result<(), Error> {
    let fits = |v: &[Vec<f32>]| {
        v.len() == arch.layers() && v.iter().enumerate().all(|(l, p)| p.len() == arch.params(l))
    };
    let fits_run = |(p, spec): (&Params, &RunSpec)| {
        let penalty_fits = if spec.hyper.optimizer.is_penalised() {
            p.penalty.len() == arch.layers()
                && p.penalty
                    .iter()
                    .enumerate()
                    .all(|(l, v)| v.len() == arch.params(l))
        } else {
            p.penalty.is_empty()
        };
        fits(&p.mu) && fits(&p.sigma) && penalty_fits
    };
    if params.len() != runs.len() || !params.iter().zip(runs).all(fits_run) {
        return Err(Error::Settings(format!(
            "expected one Params of {} per run ({} runs), with a penalty state exactly for EWC and SI",
            arch.describe(),
            runs.len()
        )));
    }
    Ok(())
}

/// Record the runs newly gone bad, each at its earliest (step, layer):
/// `first_bad` gives per run, per layer, the first step with a non-finite
/// mu or sigma, if any. Fails with `Error::Diverged` naming the earliest of
/// them; runs reported before are left out.
pub(crate) fn record_divergences<R, L>(
    diverged: &mut [Option<(usize, u64)>],
    first_bad: R,
) -> Result<(), Error>
where
    R: IntoIterator<Item = L>,
    L: IntoIterator<Item = Option<u64>>,
{
    let fresh: Vec<(usize, usize, u64)> = first_bad
        .into_iter()
        .enumerate()
        .filter(|(run, _)| diverged[*run].is_none())
        .filter_map(|(run, layers)| {
            let (layer, step) = layers
                .into_iter()
                .enumerate()
                .filter_map(|(l, b)| b.map(|step| (l, step)))
                .min_by_key(|&(_, step)| step)?;
            Some((run, layer, step))
        })
        .collect();
    for &(run, layer, step) in &fresh {
        diverged[run] = Some((layer, step));
    }
    match fresh.iter().min_by_key(|f| f.2) {
        Some(&(run, layer, step)) => Err(Error::Diverged { run, layer, step }),
        None => Ok(()),
    }
}

/// What a run does in the Fisher pass at a task's end: online EWC sums its
/// squared gradients, every other run holds still.
fn fisher_pass_of(optimizer: Optimizer) -> Pass {
    if optimizer == Optimizer::OnlineEwc {
        Pass::Fisher
    } else {
        Pass::Hold
    }
}

/// Online EWC's F_task = the Fisher pass's sum of squared batch gradients
/// times this: the mean over batches of the squared gradient of the batch's
/// mean loss, (g / B)^2 (at batch 1, the mean over the task's examples of
/// the squared per-example gradient, as the paper; at batch B, the authors'
/// `compute_fisher` at that batch).
fn fisher_scale(batches: usize, batch: usize) -> f32 {
    (1.0 / (batches as f64 * (batch * batch) as f64)) as f32
}

/// The task end of any backend (`Backend::end_task`): online EWC's Fisher
/// pass through the backend's own training step with each run's `Pass`
/// set by `set_passes` (no noise counter consumed, no loss reported), then
/// the rule's `end_task` on every parameter, on the host.
pub(crate) fn end_task<B: Backend + ?Sized>(
    backend: &mut B,
    set_passes: impl Fn(&mut B, &[Pass]),
) -> Result<(), Error> {
    let optimizers: Vec<Optimizer> = backend.runs().iter().map(|r| r.hyper.optimizer).collect();
    if !optimizers.iter().any(|o| o.uses_task_ends()) {
        return Ok(());
    }
    let batches = backend.batches_per_epoch()?;
    if optimizers.contains(&Optimizer::OnlineEwc) {
        let passes: Vec<Pass> = optimizers.iter().map(|&o| fisher_pass_of(o)).collect();
        set_passes(backend, &passes);
        let steps = backend.steps_taken();
        let pass = backend.train_steps(0, batches);
        backend.set_steps_taken(steps);
        set_passes(backend, &vec![Pass::Train; optimizers.len()]);
        pass?;
    }
    let scale = fisher_scale(batches, backend.engine_batch());
    let mut params = backend.params()?;
    for (p, spec) in params.iter_mut().zip(backend.runs()) {
        let rule = Rule::<f32>::new(&spec.hyper);
        for (mu, pen) in p.mu.iter().zip(&mut p.penalty) {
            for (&m, q) in mu.iter().zip(pen.iter_mut()) {
                rule.end_task(m, q, scale);
            }
        }
    }
    backend.set_params(&params)
}
