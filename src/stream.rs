//! The permuted-task stream of the paper: learn T tasks one after another
//! with no task boundaries given to the learner, evaluate every seen task
//! after each one, and keep the results folder up to date.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use crate::data::{Dataset, PIXELS, epoch_order, task_permutation};
use crate::gpu::{ProfileRow, profile_csv};
use crate::metrics::StreamMetrics;
use crate::model::{Architecture, Engine, EngineConfig, EngineError};
use crate::optim::{Hyper, RunSpec};
use crate::report::{self, ReportError, RunRecord, SigmaStat, sigma_stats};

/// Steps between two progress reports (each costs one small readback).
const REPORT_EVERY: usize = 1000;

#[derive(Clone, Debug)]
pub struct StreamConfig {
    pub tasks: usize,
    pub arch: Architecture,
    pub engine: EngineConfig,
    pub epochs: usize,
    pub hyper: Hyper,
    pub seed: u64,
    pub shuffle: bool,
    /// Also evaluate tasks not trained yet (forward transfer).
    pub eval_all: bool,
    /// Time every kernel (profile.csv in the results folder).
    pub profile: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("the training split has fewer examples ({0}) than one batch")]
    TooFewExamples(usize),
}

/// Hooks for a progress display.
pub trait Progress {
    fn task_started(&mut self, task: usize, steps: u64);
    fn steps_done(&mut self, steps: u64, loss: f64);
    fn task_finished(&mut self, task: usize, newest: f64, mean_all: f64);
}

/// What a finished stream produced.
pub struct StreamOutcome {
    pub matrix: Vec<Vec<f64>>,
    pub metrics: StreamMetrics,
    pub sigma: Vec<SigmaStat>,
    pub summary: Value,
    /// With `profile`: how kernels were timed, and the per-kernel rows.
    pub profile: Option<(&'static str, Vec<ProfileRow>)>,
}

/// Train the stream on `data`, writing the results folder `out` after every task.
pub fn run_stream(
    engine_ctx: crate::gpu::GpuContext,
    data: &Dataset,
    cfg: &StreamConfig,
    config_json: &Value,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<StreamOutcome, StreamError> {
    let start = Instant::now();
    let t = cfg.tasks;
    let runs = vec![RunSpec {
        seed: cfg.seed,
        hyper: cfg.hyper.clone(),
    }];
    let mut engine = Engine::new(engine_ctx, cfg.arch.clone(), runs, cfg.engine.clone())?;
    let profile_method = cfg.profile.then(|| engine.enable_profiling());
    engine.set_train_data(&data.train)?;
    let test = engine.add_eval_set(&data.test)?;
    let per_epoch = engine.batches_per_epoch()?;
    if per_epoch == 0 {
        return Err(StreamError::TooFewExamples(data.train.len()));
    }
    let perms: Vec<Vec<u32>> = (0..t)
        .map(|i| task_permutation(cfg.seed, i, PIXELS))
        .collect();
    let mut matrix = vec![vec![f64::NAN; t]; t];
    let mut sigma = Vec::new();
    let (mut train_s, mut eval_s) = (0.0, 0.0);
    let steps_per_task = (per_epoch * cfg.epochs) as u64;
    let mut summary = json!({});
    let mut evaluations = 0usize;
    for i in 0..t {
        progress.task_started(i, steps_per_task);
        let clock = Instant::now();
        engine.set_task(std::slice::from_ref(&perms[i]))?;
        let mut done = 0u64;
        for epoch in 0..cfg.epochs {
            let order = epoch_order(data.train.len(), cfg.shuffle, cfg.seed, i, epoch);
            engine.set_order(&[order])?;
            let mut batch = 0;
            while batch < per_epoch {
                let n = REPORT_EVERY.min(per_epoch - batch);
                let loss = engine.train_steps(batch, n)?[0];
                batch += n;
                done += n as u64;
                progress.steps_done(done, loss);
            }
        }
        train_s += clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let evaluated = if cfg.eval_all { t } else { i + 1 };
        for j in 0..evaluated {
            let eval_id = (i * t + j) as u32;
            let res = engine.evaluate(test, std::slice::from_ref(&perms[j]), eval_id)?;
            matrix[i][j] = res[0].accuracy();
            evaluations += 1;
        }
        eval_s += clock.elapsed().as_secs_f64();
        let params = engine.params()?.remove(0);
        sigma.extend(
            params
                .sigma
                .iter()
                .enumerate()
                .map(|(l, s)| sigma_stats(i, l, s)),
        );
        let metrics = StreamMetrics::from_matrix(&matrix[..=i]);
        progress.task_finished(i, matrix[i][i], metrics.mean_all[i]);
        let steps = engine.steps_taken();
        summary = json!({
            "wall_s": start.elapsed().as_secs_f64(),
            "train_s": train_s,
            "eval_s": eval_s,
            "steps": steps,
            "steps_per_s": steps as f64 / train_s.max(1e-9),
            "eval_s_per_task_evaluation": eval_s / evaluations as f64,
        });
        report::write_run(
            out,
            &RunRecord {
                config: config_json,
                matrix: &matrix,
                tasks_done: i + 1,
                sigma: &sigma,
                summary: &summary,
                complete: i + 1 == t,
            },
        )?;
        if let Some(rows) = engine.profile() {
            report::write_atomic(out, "profile.csv", &profile_csv(&rows))?;
        }
    }
    Ok(StreamOutcome {
        metrics: StreamMetrics::from_matrix(&matrix),
        matrix,
        sigma,
        summary,
        profile: profile_method.zip(engine.profile()),
    })
}
