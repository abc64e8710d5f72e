//! The seam between the task stream and a compute backend: everything the
//! stream, the sweep and the CLI ask of an engine, whatever runs it (the
//! wgpu engine in `wgpu`, the native CPU backend in `cpu`).

use crate::Error;
use crate::data::Split;
use crate::model::{Architecture, EvalResult, EvalSet, Params};

pub mod cpu;
mod device;
mod profile;
pub mod wgpu;

use self::wgpu::Engine;
use crate::model::Pass;
use crate::optim::{Optimizer, RunSpec};
pub use device::{BackendKind, Device, DeviceChoice};
pub use profile::{Cost, ProfileRow, profile_csv, profile_table};

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
fn end_task<B: Backend + ?Sized>(
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
        let rule = crate::model::Rule::<f32>::new(&spec.hyper);
        for (mu, pen) in p.mu.iter().zip(&mut p.penalty) {
            for (&m, q) in mu.iter().zip(pen.iter_mut()) {
                rule.end_task(m, q, scale);
            }
        }
    }
    backend.set_params(&params)
}

/// A compute backend: R runs of one architecture, trained and evaluated as
/// one batched execution. Same seed, same backend -> same bits.
pub trait Backend {
    /// What runs the numbers, e.g. "cpu (avx512, 2 threads)" or
    /// "vulkan: llvmpipe (LLVM 15.0.6, 256 bits)".
    fn describe(&self) -> String;
    fn arch(&self) -> &Architecture;
    fn runs(&self) -> &[RunSpec];
    /// Put the training split in place (once per stream).
    fn set_train_data(&mut self, split: &Split) -> Result<(), Error>;
    /// Register a split for evaluation (test set, OOD set).
    fn add_eval_set(&mut self, split: &Split) -> Result<EvalSet, Error>;
    /// The pixel permutation of the current task, one per run.
    fn set_task(&mut self, perms: &[Vec<u32>]) -> Result<(), Error>;
    /// The example order of the coming epoch, one per run.
    fn set_order(&mut self, orders: &[Vec<u32>]) -> Result<(), Error>;
    /// Examples per training step.
    fn engine_batch(&self) -> usize;
    /// Batches per epoch (a last partial batch is dropped).
    fn batches_per_epoch(&self) -> Result<usize, Error>;
    /// Train `count` steps on batches first_batch.. of the current epoch
    /// order: each run's mean loss per example over these steps. Fails with
    /// `Error::Diverged` on the first non-finite mu or sigma of a run
    /// not reported before; the steps are taken either way.
    fn train_steps(&mut self, first_batch: usize, count: usize) -> Result<Vec<f64>, Error>;
    /// Per run, the (layer, step) where it diverged, once reported.
    fn divergences(&self) -> &[Option<(usize, u64)>];
    /// Training steps taken so far: the noise counter of the next step.
    fn steps_taken(&self) -> u64;
    /// Set the noise counter of the next step (resuming from a checkpoint).
    fn set_steps_taken(&mut self, steps: u64);
    /// Evaluate every run on `set` under each run's permutation, with a
    /// fresh draw of the test samples identified by `eval_id`.
    fn evaluate(
        &mut self,
        set: EvalSet,
        perms: &[Vec<u32>],
        eval_id: u32,
    ) -> Result<Vec<EvalResult>, Error>;
    /// Every run's parameters.
    fn params(&self) -> Result<Vec<Params>, Error>;
    /// Replace every run's parameters.
    fn set_params(&mut self, params: &[Params]) -> Result<(), Error>;
    /// A task's training is over: the task-aware baselines move their
    /// penalty state (online EWC: a Fisher pass over the task's training
    /// set in the current epoch order at the end-of-task weights, then F and
    /// the anchor; SI: Omega, w and the anchor). Changes no weights and no
    /// noise counter; nothing to do for the other rules.
    fn end_task(&mut self) -> Result<(), Error>;
    /// Time every kernel or phase from now on; returns how.
    fn enable_profiling(&mut self) -> &'static str;
    /// Per-kernel or per-phase totals so far, when profiling.
    fn profile(&self) -> Option<Vec<ProfileRow>>;
}

impl Backend for Engine {
    fn describe(&self) -> String {
        self.ctx.describe()
    }
    fn arch(&self) -> &Architecture {
        &self.arch
    }
    fn runs(&self) -> &[RunSpec] {
        &self.runs
    }
    fn set_train_data(&mut self, split: &Split) -> Result<(), Error> {
        Engine::set_train_data(self, split)
    }
    fn add_eval_set(&mut self, split: &Split) -> Result<EvalSet, Error> {
        Engine::add_eval_set(self, split)
    }
    fn set_task(&mut self, perms: &[Vec<u32>]) -> Result<(), Error> {
        Engine::set_task(self, perms)
    }
    fn set_order(&mut self, orders: &[Vec<u32>]) -> Result<(), Error> {
        Engine::set_order(self, orders)
    }
    fn batches_per_epoch(&self) -> Result<usize, Error> {
        Engine::batches_per_epoch(self)
    }
    fn engine_batch(&self) -> usize {
        self.cfg.batch
    }
    fn train_steps(&mut self, first_batch: usize, count: usize) -> Result<Vec<f64>, Error> {
        Engine::train_steps(self, first_batch, count)
    }
    fn divergences(&self) -> &[Option<(usize, u64)>] {
        Engine::divergences(self)
    }
    fn steps_taken(&self) -> u64 {
        Engine::steps_taken(self)
    }
    fn set_steps_taken(&mut self, steps: u64) {
        Engine::set_steps_taken(self, steps)
    }
    fn evaluate(
        &mut self,
        set: EvalSet,
        perms: &[Vec<u32>],
        eval_id: u32,
    ) -> Result<Vec<EvalResult>, Error> {
        Engine::evaluate(self, set, perms, eval_id)
    }
    fn params(&self) -> Result<Vec<Params>, Error> {
        Engine::params(self)
    }
    fn set_params(&mut self, params: &[Params]) -> Result<(), Error> {
        Engine::set_params(self, params)
    }
    fn end_task(&mut self) -> Result<(), Error> {
        end_task(self, |e, passes| e.set_passes(passes))
    }
    fn enable_profiling(&mut self) -> &'static str {
        Engine::enable_profiling(self)
    }
    fn profile(&self) -> Option<Vec<ProfileRow>> {
        Engine::profile(self)
    }
}
