//! The permuted-task stream of the paper: learn T tasks one after another
//! with no task boundaries given to the learner, evaluate every seen task
//! after each one, and keep the results folder up to date. A group of R runs
//! that share an architecture and the engine's shapes trains as one batched
//! execution; each run keeps its own seed (weights, noise, permutations,
//! shuffles), rule and results folder, and gets the results it would get alone.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

use crate::Error;
use crate::backend::ProfileRow;
use crate::backend::{Backend, Device, memory};
use crate::data::{Dataset, PIXELS, epoch_order, ood_permutation, task_permutation};
use crate::metrics::{Calibration, CalibrationMatrix, OodAuroc, StreamMetrics, mean_loss};
use crate::model::Params;
use crate::model::{Architecture, EngineConfig, EvalResult, Score};
use crate::optim::{Hyper, RunSpec};
use crate::report::{Checkpoint, Position, ResultsWriter, SigmaStat, sigma_stats};

/// Set by `request_stop` (Ctrl-C, SIGTERM): the stream stops at the next
/// step boundary and its observers write a checkpoint.
static STOP: AtomicBool = AtomicBool::new(false);

/// Asks every running stream to stop at the next step boundary; returns
/// whether a stop had already been asked for.
pub fn request_stop() -> bool {
    STOP.swap(true, Ordering::SeqCst)
}

/// Whether a stop has been asked for (for loops other than the stream's).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Steps between two progress reports: sized from the measured rate to about
/// `REPORT_SECS` (each report costs a small readback), within these bounds.
const REPORT_SECS: f64 = 0.5;
const REPORT_STEPS: (usize, usize) = (16, 4096);

/// Settings every run of a group shares.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    pub tasks: usize,
    pub arch: Architecture,
    pub engine: EngineConfig,
    pub epochs: usize,
    pub shuffle: bool,
    /// Also evaluate tasks not trained yet (forward transfer).
    pub eval_all: bool,
    /// Every task after every K-th task and after the last; only the
    /// newest in between.
    pub eval_every: usize,
    /// Time every kernel (profile.csv in the results folder).
    pub profile: bool,
    /// Permute each task's pixels (false: every task is the dataset as is).
    pub permute: bool,
    /// Feed the OOD set under each run's `ood_permutation` (permuted MNIST).
    pub ood_permuted: bool,
}

/// One run of a group.
#[derive(Clone, Debug)]
pub struct StreamRun {
    pub seed: u64,
    pub hyper: Hyper,
    /// Every setting, written as the run's config.json.
    pub config: Value,
    /// The run's results folder.
    pub out: PathBuf,
}

/// What a group has produced so far, run by run (in the order given).
pub struct GroupState {
    /// Per run, T x T: row i after task i, NaN where not evaluated.
    pub matrices: Vec<Vec<Vec<f64>>>,
    /// Per run, the calibration of the same evaluations.
    pub calibration: Vec<CalibrationMatrix>,
    /// Per run, sigma statistics per task and layer.
    pub sigma: Vec<Vec<SigmaStat>>,
    /// Per run, OOD AUROC after each task (empty without an OOD set).
    pub ood: Vec<Vec<OodAuroc>>,
    /// Per run and task: [sum of the per-example training losses, steps].
    pub loss: Vec<Vec<[f64; 2]>>,
    /// Per run, why it stopped early (a non-finite mu or sigma).
    pub diverged: Vec<Option<String>>,
    /// Wall and training times of the group, shared by its runs.
    pub summary: Value,
    /// Per-kernel or per-phase totals, when profiling.
    pub profile: Option<Vec<ProfileRow>>,
    /// Per run, the parameters after the last evaluated task (or at a stop).
    pub params: Vec<Params>,
    /// Where training resumes from `params`.
    pub position: Position,
}

/// Where a group resumes: one checkpoint per run, all at one position.
pub struct Resume {
    pub runs: Vec<Checkpoint>,
}

/// Follows a stream as it goes: a progress display, the results folders, a
/// sweep's bookkeeping. Every method has a do-nothing default.
pub trait Observer {
    /// Task `task` (0-based) starts, or resumes with `done` of its `steps`
    /// training steps already taken.
    fn task_started(&mut self, _task: usize, _done: u64, _steps: u64) {}
    /// `steps` of the current task are done; `loss` is the mean per example
    /// over the runs still training.
    fn steps_done(&mut self, _steps: u64, _loss: f64) {}
    /// Task `task` is trained and evaluated: row `task` of every live run's
    /// matrix is filled.
    fn task_evaluated(&mut self, _state: &GroupState, _task: usize) -> Result<(), Error> {
        Ok(())
    }
    /// Run `run` stopped during task `task` (its reason in `state.diverged`).
    fn run_diverged(
        &mut self,
        _state: &GroupState,
        _run: usize,
        _task: usize,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// The stream stopped on request at `state.position`, with
    /// `state.params` read there.
    fn stopped(&mut self, _state: &GroupState) -> Result<(), Error> {
        Ok(())
    }
}

/// What one run of a finished stream produced.
pub struct StreamOutcome {
    pub matrix: Vec<Vec<f64>>,
    pub metrics: StreamMetrics,
    pub calibration: CalibrationMatrix,
    pub sigma: Vec<SigmaStat>,
    /// OOD AUROC after each task (empty without an OOD set).
    pub ood: Vec<OodAuroc>,
    /// Mean training loss per example of each task (NaN where not trained).
    pub loss: Vec<f64>,
    /// Why the run stopped early (a diverged sigma); the others went on.
    pub diverged: Option<String>,
}

/// What a finished group produced.
pub struct GroupOutcome {
    /// One per run, in the order given.
    pub runs: Vec<StreamOutcome>,
    /// Wall and training times of the group, shared by its runs.
    pub summary: Value,
    /// With `profile`: how kernels were timed, and the per-kernel rows.
    pub profile: Option<(&'static str, Vec<ProfileRow>)>,
}

/// Train the stream on `data` for every run of `runs` at once, writing each
/// run's results folder after every task (`report::ResultsWriter`) and
/// telling `progress` how it goes.
pub fn run_group(
    device: &Device,
    data: &Dataset,
    cfg: &StreamConfig,
    runs: &[StreamRun],
    resume: Option<&Resume>,
    progress: &mut dyn Observer,
) -> Result<GroupOutcome, Error> {
    let specs: Vec<RunSpec> = runs
        .iter()
        .map(|run| RunSpec {
            seed: run.seed,
            hyper: run.hyper.clone(),
        })
        .collect();
    let mut writer = ResultsWriter::new(runs);
    stream_group(
        device,
        data,
        cfg,
        &specs,
        resume,
        &mut [&mut writer, progress],
    )
}

/// The stream loop: train every task, evaluate the seen ones (and the OOD
/// set), take sigma statistics, and tell each observer, in order; from
/// `resume`'s position when given, with the same bits as an uninterrupted
/// run (the noise is a function of the step counter). A stop request ends
/// it at the next step boundary with `Error::Interrupted`.
pub fn stream_group(
    device: &Device,
    data: &Dataset,
    cfg: &StreamConfig,
    specs: &[RunSpec],
    resume: Option<&Resume>,
    observers: &mut [&mut dyn Observer],
) -> Result<GroupOutcome, Error> {
    let start = Instant::now();
    let t = cfg.tasks;
    let r = specs.len();
    // The T x T tables and the permutations grow with the tasks: the
    // whole plan is checked before the first allocation.
    let mut plan = device.memory_plan(&cfg.arch, specs, &cfg.engine);
    plan.add("task tables", memory::bytes(&[r, t, t, 4, 8]));
    plan.add("task permutations", memory::bytes(&[r, t, PIXELS, 4]));
    plan.check(memory::FIX)?;
    let mut engine = device.backend(cfg.arch.clone(), specs.to_vec(), &cfg.engine)?;
    let profile_method = cfg.profile.then(|| engine.enable_profiling());
    engine.set_train_data(&data.train)?;
    let test = engine.add_eval_set(&data.test)?;
    let ood_set = match &data.ood {
        Some((_, split)) => Some(engine.add_eval_set(split)?),
        None => None,
    };
    // The OOD images are fed unpermuted, as in the paper, or under a
    // permutation of their own (permuted MNIST as OOD).
    let unpermuted: Vec<u32> = (0..PIXELS as u32).collect();
    let ood_perms: Vec<Vec<u32>> = specs
        .iter()
        .map(|run| match cfg.ood_permuted {
            true => ood_permutation(run.seed, PIXELS),
            false => unpermuted.clone(),
        })
        .collect();
    let per_epoch = engine.batches_per_epoch()?;
    if per_epoch == 0 {
        return Err(Error::TooFewExamples(data.train.len()));
    }
    // perms[run][task]
    let perms: Vec<Vec<Vec<u32>>> = specs
        .iter()
        .map(|run| {
            (0..t)
                .map(|i| match cfg.permute {
                    true => task_permutation(run.seed, i, PIXELS),
                    false => unpermuted.clone(),
                })
                .collect()
        })
        .collect();
    let task_perms = |i: usize| perms.iter().map(|p| p[i].clone()).collect::<Vec<_>>();
    let mut state = GroupState {
        matrices: vec![vec![vec![f64::NAN; t]; t]; r],
        calibration: vec![CalibrationMatrix::new(t); r],
        sigma: vec![Vec::new(); r],
        ood: vec![Vec::new(); r],
        loss: vec![vec![[0.0; 2]; t]; r],
        diverged: vec![None; r],
        summary: json!({}),
        profile: None,
        params: Vec::new(),
        position: Position {
            task: 0,
            epoch: 0,
            batch: 0,
            steps: 0,
        },
    };
    let (mut train_s, mut eval_s, mut evaluations, mut earlier_wall) = (0.0, 0.0, 0usize, 0.0);
    if let Some(resume) = resume {
        let first = resume
            .runs
            .first()
            .ok_or("a resume needs one checkpoint per run")?;
        if resume.runs.len() != r || resume.runs.iter().any(|c| c.position != first.position) {
            return Err("a group resumes from one checkpoint per run, all at one position".into());
        }
        let params: Vec<Params> = resume.runs.iter().map(|c| c.params.clone()).collect();
        engine.set_params(&params)?;
        engine.set_steps_taken(first.position.steps);
        for (run, c) in resume.runs.iter().enumerate() {
            state.matrices[run] = c.matrix.clone();
            state.calibration[run] = c.calibration.clone();
            state.sigma[run] = c.sigma.clone();
            state.ood[run] = c.ood.clone();
            state.loss[run] = c.loss.clone();
        }
        let timing = |k: &str| first.timing[k].as_f64().unwrap_or(0.0);
        (train_s, eval_s, earlier_wall) = (timing("train_s"), timing("eval_s"), timing("wall_s"));
        evaluations = timing("evaluations") as usize;
        state.params = params;
        state.position = first.position;
        state.summary = first.timing.clone();
    }
    let from = state.position;
    if from.task == t && t > 0 {
        // Finished before its folder was: write it again from the checkpoint.
        for o in observers.iter_mut() {
            o.task_evaluated(&state, t - 1)?;
        }
    }
    let steps_per_task = (per_epoch * cfg.epochs) as u64;
    for i in from.task..t {
        let mut done = if i == from.task {
            (from.epoch * per_epoch + from.batch) as u64
        } else {
            0
        };
        for o in observers.iter_mut() {
            o.task_started(i, done, steps_per_task);
        }
        let clock = Instant::now();
        engine.set_task(&task_perms(i))?;
        let resumed = |epoch: usize| i == from.task && epoch == from.epoch;
        let first_epoch = if i == from.task { from.epoch } else { 0 };
        for epoch in first_epoch..cfg.epochs {
            let orders: Vec<_> = specs
                .iter()
                .map(|run| epoch_order(data.train.len(), cfg.shuffle, run.seed, i, epoch))
                .collect();
            engine.set_order(&orders)?;
            let mut batch = if resumed(epoch) { from.batch } else { 0 };
            let mut chunk = REPORT_STEPS.0;
            while batch < per_epoch {
                if STOP.load(Ordering::SeqCst) {
                    train_s += clock.elapsed().as_secs_f64();
                    state.params = engine.params()?;
                    state.position = Position {
                        task: i,
                        epoch,
                        batch,
                        steps: engine.steps_taken(),
                    };
                    state.summary = timing_summary(
                        (
                            earlier_wall + start.elapsed().as_secs_f64(),
                            train_s,
                            eval_s,
                        ),
                        evaluations,
                        state.position.steps,
                        r,
                    );
                    for o in observers.iter_mut() {
                        o.stopped(&state)?;
                    }
                    return Err(Error::Interrupted { task: i });
                }
                let n = chunk.min(per_epoch - batch);
                let started = Instant::now();
                let trained = engine.train_steps(batch, n);
                let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-6);
                chunk = ((rate * REPORT_SECS) as usize).clamp(REPORT_STEPS.0, REPORT_STEPS.1);
                let losses = match trained {
                    Ok(losses) => losses,
                    Err(Error::Diverged { .. }) => {
                        stop_diverged(engine.as_ref(), &mut state, i, observers)?;
                        if state.diverged.iter().all(Option::is_some) {
                            return Ok(outcome(state, None));
                        }
                        vec![]
                    }
                    Err(e) => return Err(e),
                };
                for (sum, l) in state.loss.iter_mut().zip(&losses) {
                    sum[i][0] += l * n as f64;
                    sum[i][1] += n as f64;
                }
                batch += n;
                done += n as u64;
                let healthy = losses
                    .iter()
                    .zip(&state.diverged)
                    .filter(|(_, d)| d.is_none());
                let loss = crate::metrics::mean(healthy.map(|(l, _)| *l));
                for o in observers.iter_mut() {
                    o.steps_done(done, loss);
                }
            }
        }
        // The task-aware baselines' boundary (part of training's time).
        engine.end_task()?;
        train_s += clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let full_row = (i + 1) % cfg.eval_every == 0 || i + 1 == t;
        let evaluated = match (full_row, cfg.eval_all) {
            (false, _) => i..i + 1,
            (true, true) => 0..t,
            (true, false) => 0..i + 1,
        };
        let mut newest = Vec::new();
        for j in evaluated {
            let res = engine.evaluate(test, &task_perms(j), eval_id(i, j))?;
            for ((m, cal), res) in state
                .matrices
                .iter_mut()
                .zip(&mut state.calibration)
                .zip(&res)
            {
                m[i][j] = res.accuracy();
                cal.set(i, j, Calibration::from_scores(&res.scores));
            }
            evaluations += 1;
            if j == i {
                newest = res;
            }
        }
        if let Some(set) = ood_set {
            // K networks of their own, as the authors draw them.
            let out = engine.evaluate(set, &ood_perms, eval_id(i, OOD_SET))?;
            evaluations += 1;
            let entropies = |s: &EvalResult| -> Vec<(f64, f64)> {
                let h = |x: &Score| (f64::from(x.h_pred), f64::from(x.h_alea));
                s.scores.iter().map(h).collect()
            };
            for ((o, id), od) in state.ood.iter_mut().zip(&newest).zip(&out) {
                o.push(OodAuroc::new(i, &entropies(id), &entropies(od)));
            }
        }
        eval_s += clock.elapsed().as_secs_f64();
        state.params = engine.params()?;
        for (run, params) in state.params.iter().enumerate() {
            state.sigma[run].extend(
                params
                    .sigma
                    .iter()
                    .enumerate()
                    .map(|(l, s)| sigma_stats(i, l, s)),
            );
        }
        let steps = engine.steps_taken();
        state.position = Position {
            task: i + 1,
            epoch: 0,
            batch: 0,
            steps,
        };
        state.summary = timing_summary(
            (
                earlier_wall + start.elapsed().as_secs_f64(),
                train_s,
                eval_s,
            ),
            evaluations,
            steps,
            r,
        );
        state.profile = engine.profile();
        for o in observers.iter_mut() {
            o.task_evaluated(&state, i)?;
        }
    }
    Ok(outcome(state, profile_method))
}

/// The group's times so far, as metrics.json's "summary" and a checkpoint's
/// timing: (wall, train, eval) seconds.
fn timing_summary(
    (wall_s, train_s, eval_s): (f64, f64, f64),
    evaluations: usize,
    steps: u64,
    runs: usize,
) -> Value {
    json!({
        "wall_s": wall_s,
        "train_s": train_s,
        "eval_s": eval_s,
        "evaluations": evaluations,
        "steps": steps,
        "steps_per_s": steps as f64 / train_s.max(1e-9),
        "eval_s_per_task_evaluation": eval_s / evaluations.max(1) as f64,
        "group_runs": runs,
    })
}

/// Most tasks a stream may have: the evaluation ids below fit a u32, with
/// one id left for the OOD set.
pub const MAX_TASKS: usize = (1 << 16) - 1;

/// The evaluation id of the OOD set, in the place of a task's.
const OOD_SET: usize = MAX_TASKS;

/// The noise id of the evaluation of task j after training task i: not a
/// function of the stream's length, so a longer run of the same seed
/// repeats a shorter one's accuracy matrix exactly.
fn eval_id(i: usize, j: usize) -> u32 {
    ((i << 16) | j) as u32
}

fn outcome(state: GroupState, method: Option<&'static str>) -> GroupOutcome {
    let profile = method.zip(state.profile);
    let runs = state
        .matrices
        .into_iter()
        .zip(state.calibration)
        .zip(state.sigma)
        .zip(state.ood)
        .zip(state.loss)
        .zip(state.diverged)
        .map(
            |(((((matrix, calibration), sigma), ood), loss), diverged)| StreamOutcome {
                metrics: StreamMetrics::from_matrix(&matrix),
                matrix,
                calibration,
                sigma,
                ood,
                loss: loss.iter().map(mean_loss).collect(),
                diverged,
            },
        )
        .collect();
    GroupOutcome {
        runs,
        summary: state.summary,
        profile,
    }
}

/// Marks the runs the engine found diverged during task `task` and tells
/// the observers, one run at a time.
fn stop_diverged(
    engine: &dyn Backend,
    state: &mut GroupState,
    task: usize,
    observers: &mut [&mut dyn Observer],
) -> Result<(), Error> {
    for (run, at) in engine.divergences().iter().enumerate() {
        let (Some((layer, step)), None) = (at, &state.diverged[run]) else {
            continue;
        };
        let msg = Error::Diverged {
            run,
            layer: *layer,
            step: *step,
        }
        .to_string();
        state.diverged[run] = Some(msg);
        for o in observers.iter_mut() {
            o.run_diverged(state, run, task)?;
        }
    }
    Ok(())
}
