//! The seam between the task stream and a compute backend: everything the
//! stream, the sweep and the CLI ask of an engine, whatever runs it. Traits
//! and shared policy only; each backend implements `Backend` in its own
//! folder (the wgpu engine in `wgpu`, the native CPU backend in `cpu`).

use crate::Error;
use crate::data::Split;
use crate::model::{Architecture, EvalResult, EvalSet, Params};
use crate::optim::RunSpec;

pub mod cpu;
mod device;
mod policy;
mod profile;
pub mod wgpu;
pub use device::{BackendKind, Device, DeviceChoice};
pub use profile::{Cost, ProfileRow, profile_csv, profile_table};

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
