//! The native CPU backend: the wgpu Engine's step and evaluation on the
//! host, SIMD kernels picked at run time (multiversion), threads from a
//! rayon pool of its own, GEMMs through matrixmultiply. Noise is the same
//! Philox u32 stream as the WGSL; same seed -> same bits at any thread count.
//! Figures and design decisions: docs/cpu-backend.md.

mod backward;
mod eval;
mod forward;
mod normals;
mod profile;
mod simd;
mod train;
mod update;

use std::time::Instant;

use rayon::prelude::*;

use super::{Backend, policy};
use crate::Error;
use crate::backend::ProfileRow;
use crate::data::Split;
use crate::memory::{MemoryPlan, bytes};
use crate::model::{Architecture, EngineConfig, EvalResult, EvalSet, Params};
use crate::optim::RunSpec;
use eval::EvalData;
use profile::{Phase, PhaseTimes};
use train::{RunState, TrainData};

pub use crate::philox::{LANES, philox_block};
pub(crate) use forward::gemm;
pub use normals::fill_normals;
pub use simd::level as simd_level;

/// R runs of one architecture on the CPU.
pub struct CpuBackend {
    arch: Architecture,
    runs: Vec<RunSpec>,
    batch: usize,
    test_samples: usize,
    pool: rayon::ThreadPool,
    states: Vec<RunState>,
    train: Option<TrainData>,
    perms: Option<Vec<Vec<u32>>>,
    orders: Option<Vec<Vec<u32>>>,
    evals: Vec<EvalData>,
    step: u64,
    diverged: Vec<Option<(usize, u64)>>,
    profile: Option<PhaseTimes>,
}

/// Host memory of R runs of `arch` on the CPU backend: parameters (with a
/// copy for checkpoints), each run's K training samples (noise,
/// activations, errors, sampled weights at batch > 1) and its evaluation's
/// weight samples.
pub fn memory_plan(arch: &Architecture, runs: &[RunSpec], cfg: &EngineConfig) -> MemoryPlan {
    let f32s = std::mem::size_of::<f32>();
    let p: usize = (0..arch.layers()).map(|l| arch.params(l)).sum();
    let outs: usize = (0..arch.layers()).map(|l| arch.n_out(l)).sum();
    let penalised = runs
        .iter()
        .filter(|s| s.hyper.optimizer.is_penalised())
        .count();
    let (r, b, k) = (runs.len(), cfg.batch, cfg.train_samples);
    let weights_per_sample = if b > 1 { 2 } else { 1 };
    let mut plan = MemoryPlan::default();
    plan.add("parameters", bytes(&[2, r, 2, p, f32s]));
    plan.add("penalty state", bytes(&[2, penalised, 3, p, f32s]));
    plan.add(
        "training samples",
        bytes(&[r, k, weights_per_sample, p, f32s]),
    );
    plan.add("activations", bytes(&[r, k, 2, b, outs, f32s]));
    plan.add("batch inputs", bytes(&[r, b, arch.n_in(0), f32s]));
    plan.add("evaluation samples", bytes(&[r, cfg.test_samples, p, f32s]));
    plan
}

impl CpuBackend {
    /// Allocate R runs of `arch`, each initialised from its seed as the
    /// Engine does; `threads` caps the pool (default: every core).
    pub fn new(
        arch: Architecture,
        runs: Vec<RunSpec>,
        cfg: &EngineConfig,
        threads: Option<usize>,
    ) -> Result<Self, Error> {
        cfg.check(runs.len())?;
        if threads == Some(0) {
            return Err(Error::Settings("threads must be at least 1".into()));
        }
        let threads =
            threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Settings(format!("cannot start {threads} threads: {e}")))?;
        let states = runs
            .iter()
            .map(|s| {
                let init = Params::for_run(&arch, s);
                RunState::new(&arch, s, init, cfg.batch, cfg.train_samples)
            })
            .collect();
        Ok(CpuBackend {
            diverged: vec![None; runs.len()],
            arch,
            runs,
            batch: cfg.batch,
            test_samples: cfg.test_samples,
            pool,
            states,
            train: None,
            perms: None,
            orders: None,
            evals: Vec::new(),
            step: 0,
            profile: None,
        })
    }

    /// Threads of the pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    fn train_data(&self) -> Result<&TrainData, Error> {
        self.train
            .as_ref()
            .ok_or_else(|| Error::Settings("no training data set".into()))
    }

    /// The split's image bytes fit its labels; returns the pixels per image.
    fn check_split(&self, split: &Split, what: &str) -> Result<usize, Error> {
        let pixels = self.arch.n_in(0);
        if split.images.len() != split.len() * pixels {
            return Err(Error::Settings(format!(
                "the {what} split has {} bytes for {} images of {pixels} pixels",
                split.images.len(),
                split.len()
            )));
        }
        Ok(pixels)
    }

    /// Run `f` on every run in parallel, timed as `phase` when profiling.
    fn phase(&mut self, phase: Phase, f: impl Fn(&mut RunState) + Sync + Send) {
        let start = Instant::now();
        let states = &mut self.states;
        self.pool.install(|| states.par_iter_mut().for_each(f));
        if let Some(p) = &mut self.profile {
            let k = self.states[0].samples_per_step();
            let work = profile::work(phase, &self.arch, self.runs.len(), self.batch, k);
            p.add(phase, start, work);
        }
    }

    /// One training step at batch position `pos` of the epoch order.
    fn step_at(&mut self, pos: usize) {
        let (Some(data), Some(perms), Some(orders)) = (&self.train, &self.perms, &self.orders)
        else {
            return;
        };
        for ((s, perm), order) in self.states.iter_mut().zip(perms).zip(orders) {
            s.gather(data, perm, order, pos);
        }
        let (arch, step) = (self.arch.clone(), self.step);
        // Profiling draws the noise in a phase of its own to time it; else
        // each sample draws its noise inside the forward (same values).
        // Unprofiled, each sample's backward follows in the same work item.
        if self.profile.is_some() {
            self.phase(Phase::Noise, |s| s.noise(step));
            self.phase(Phase::Forward, |s| s.forward(&arch, None, false));
            self.phase(Phase::Backward, |s| s.backward(&arch));
        } else {
            self.phase(Phase::Forward, |s| s.forward(&arch, Some(step), true));
        }
        self.phase(Phase::Update, |s| s.update(&arch, step));
        self.step += 1;
    }
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        format!("cpu ({}, {} threads)", simd::level(), self.threads())
    }

    fn arch(&self) -> &Architecture {
        &self.arch
    }

    fn runs(&self) -> &[RunSpec] {
        &self.runs
    }

    fn set_train_data(&mut self, split: &Split) -> Result<(), Error> {
        let pixels = self.check_split(split, "training")?;
        let (x_scale, x_shift) = split.byte_standardisation();
        self.train = Some(TrainData {
            images: split.images.clone(),
            labels: split.labels.clone(),
            pixels,
            x_scale,
            x_shift,
        });
        self.orders = None;
        Ok(())
    }

    fn add_eval_set(&mut self, split: &Split) -> Result<EvalSet, Error> {
        let pixels = self.check_split(split, "evaluation")?;
        self.evals.push(EvalData::new(split, pixels));
        Ok(EvalSet(self.evals.len() - 1))
    }

    fn set_task(&mut self, perms: &[Vec<u32>]) -> Result<(), Error> {
        let n_in = self.arch.n_in(0);
        policy::check_per_run(perms, self.runs.len(), n_in, n_in, "permutation")?;
        self.perms = Some(perms.to_vec());
        Ok(())
    }

    fn set_order(&mut self, orders: &[Vec<u32>]) -> Result<(), Error> {
        let len = self.train_data()?.len();
        policy::check_per_run(orders, self.runs.len(), len, len, "example order")?;
        self.orders = Some(orders.to_vec());
        Ok(())
    }

    fn batches_per_epoch(&self) -> Result<usize, Error> {
        Ok(self.train_data()?.len() / self.batch)
    }

    fn engine_batch(&self) -> usize {
        self.batch
    }

    fn train_steps(&mut self, first_batch: usize, count: usize) -> Result<Vec<f64>, Error> {
        policy::check_batches(first_batch, count, self.batches_per_epoch()?)?;
        if self.perms.is_none() || self.orders.is_none() {
            return Err(Error::Settings(
                "set the task's permutations and the epoch's order before training".into(),
            ));
        }
        for s in 0..count {
            self.step_at((first_batch + s) * self.batch);
        }
        let kb = (self.states[0].samples_per_step() * self.batch * count.max(1)) as f64;
        let losses = self.states.iter_mut().map(|s| s.take_loss() / kb).collect();
        let first_bad = self.states.iter().map(|s| s.first_bad.iter().copied());
        policy::record_divergences(&mut self.diverged, first_bad)?;
        Ok(losses)
    }

    fn divergences(&self) -> &[Option<(usize, u64)>] {
        &self.diverged
    }

    fn steps_taken(&self) -> u64 {
        self.step
    }

    fn set_steps_taken(&mut self, steps: u64) {
        self.step = steps;
    }

    fn evaluate(
        &mut self,
        set: EvalSet,
        perms: &[Vec<u32>],
        eval_id: u32,
    ) -> Result<Vec<EvalResult>, Error> {
        let n_in = self.arch.n_in(0);
        policy::check_per_run(perms, self.runs.len(), n_in, n_in, "permutation")?;
        let data = self
            .evals
            .get(set.0)
            .ok_or_else(|| Error::Settings(format!("no evaluation set {}", set.0)))?;
        let start = Instant::now();
        let (arch, k) = (&self.arch, self.test_samples);
        let states = &self.states;
        let scores: Vec<_> = self.pool.install(|| {
            states
                .par_iter()
                .zip(perms)
                .map(|(s, perm)| eval::evaluate_run(arch, s, data, perm, k, eval_id))
                .collect()
        });
        if let Some(p) = &mut self.profile {
            let work = profile::eval_work(&self.arch, self.runs.len(), data.len(), k);
            p.add(Phase::Evaluation, start, work);
        }
        Ok(scores
            .into_iter()
            .map(|scores| EvalResult {
                correct: scores.iter().map(|s| s.correct as usize).sum(),
                total: scores.len(),
                scores,
            })
            .collect())
    }

    fn params(&self) -> Result<Vec<Params>, Error> {
        Ok(self
            .states
            .iter()
            .map(|s| Params {
                mu: s.mu.clone(),
                sigma: s.sigma.clone(),
                penalty: s.penalty.clone(),
            })
            .collect())
    }

    fn set_params(&mut self, params: &[Params]) -> Result<(), Error> {
        policy::check_params(&self.arch, &self.runs, params)?;
        for (s, p) in self.states.iter_mut().zip(params) {
            s.mu = p.mu.clone();
            s.sigma = p.sigma.clone();
            s.penalty = p.penalty.clone();
        }
        Ok(())
    }

    fn end_task(&mut self) -> Result<(), Error> {
        policy::end_task(self, |cpu, passes| {
            for (s, &pass) in cpu.states.iter_mut().zip(passes) {
                s.rule.pass = pass;
            }
        })
    }

    fn enable_profiling(&mut self) -> &'static str {
        self.profile = Some(PhaseTimes::default());
        "host time per phase"
    }

    fn profile(&self) -> Option<Vec<ProfileRow>> {
        self.profile.as_ref().map(PhaseTimes::rows)
    }
}
