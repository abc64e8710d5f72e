//! The permuted-task stream of the paper: learn T tasks one after another
//! with no task boundaries given to the learner, evaluate every seen task
//! after each one, and tell its observers (the results folders, a progress
//! display) as it goes. A group of R runs that share an architecture and
//! the engine's shapes trains as one batched execution; each run keeps its
//! own seed (weights, noise, permutations, shuffles) and rule, and gets the
//! results it would get alone.
//!
//! A task runs in phases: `train_task` (chunks of steps, stop requests,
//! divergence), `evaluate_task` (the seen tasks, the OOD set), `close_task`
//! (parameters, sigma statistics, position, timing).

mod record;
mod trainer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::Value;

use crate::Error;
use crate::backend::ProfileRow;
use crate::backend::{Backend, Device};
use crate::data::{Dataset, PIXELS, epoch_order, ood_permutation, task_permutation};
use crate::memory;
use crate::metrics::{Calibration, OodAuroc};
use crate::model::{Architecture, EngineConfig, EvalResult, EvalSet, Params, Score};
use crate::optim::{Hyper, RunSpec};
pub use record::{Position, RunRecord, RunState, SigmaStat, Timing, sigma_stats};
pub use trainer::Chunks;

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
    /// One record per run.
    pub runs: Vec<RunRecord>,
    /// Wall and training times of the group, shared by its runs.
    pub timing: Timing,
    /// Per-kernel or per-phase totals, when profiling.
    pub profile: Option<Vec<ProfileRow>>,
    /// Per run, the parameters after the last evaluated task (or at a stop).
    pub params: Vec<Params>,
    /// Where training resumes from `params`.
    pub position: Position,
}

/// Where a group resumes: one state per run, all at one position.
pub struct Resume {
    pub runs: Vec<RunState>,
}

/// Follows a stream as it goes: a progress display, the results folders, a
/// sweep's bookkeeping. Every method has a do-nothing default.
pub trait Observer {
    /// The stream starts (or resumes) at `state.position`, before any step.
    fn started(&mut self, _state: &GroupState) -> Result<(), Error> {
        Ok(())
    }
    /// Task `task` (0-based) starts, or resumes with `done` of its `steps`
    /// training steps already taken.
    fn task_started(&mut self, _task: usize, _done: u64, _steps: u64) {}
    /// `steps` of the current task are done; `loss` is the mean per example
    /// over the runs still training.
    fn steps_done(&mut self, _steps: u64, _loss: f64) {}
    /// Task `task` is trained and evaluated: row `task` of every live run's
    /// record is filled.
    fn task_evaluated(&mut self, _state: &GroupState, _task: usize) -> Result<(), Error> {
        Ok(())
    }
    /// Run `run` stopped during task `task` (its reason in its record).
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

/// What a finished group produced.
pub struct GroupOutcome {
    /// One record per run, in the order given.
    pub runs: Vec<RunRecord>,
    /// Wall and training times of the group, shared by its runs.
    pub timing: Timing,
    /// With `profile`: how kernels were timed, and the per-kernel rows.
    pub profile: Option<(&'static str, Vec<ProfileRow>)>,
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
    let mut stream = Stream::open(device, data, cfg, specs)?;
    let mut state = stream.start(resume)?;
    for o in observers.iter_mut() {
        o.started(&state)?;
    }
    let (from, t) = (state.position.task, cfg.tasks);
    if from == t && t > 0 {
        // Finished before its folder was: write it again from the state.
        for o in observers.iter_mut() {
            o.task_evaluated(&state, t - 1)?;
        }
    }
    for i in from..t {
        if !stream.train_task(&mut state, i, observers)? {
            return Ok(stream.outcome(state, false));
        }
        stream.evaluate_task(&mut state, i)?;
        stream.close_task(&mut state, i)?;
        for o in observers.iter_mut() {
            o.task_evaluated(&state, i)?;
        }
    }
    Ok(stream.outcome(state, true))
}

/// Seconds spent so far, counting a resumed run's earlier ones.
struct Clock {
    start: Instant,
    earlier_wall: f64,
    train_s: f64,
    eval_s: f64,
    evaluations: usize,
}

impl Clock {
    fn timing(&self, steps: u64, runs: usize) -> Timing {
        let wall = self.earlier_wall + self.start.elapsed().as_secs_f64();
        Timing::new(
            (wall, self.train_s, self.eval_s),
            self.evaluations,
            steps,
            runs,
        )
    }
}

/// A group's engine with its data, permutations and clock.
struct Stream<'a> {
    cfg: &'a StreamConfig,
    specs: &'a [RunSpec],
    data: &'a Dataset,
    engine: Box<dyn Backend>,
    profile_method: Option<&'static str>,
    test: EvalSet,
    ood_set: Option<EvalSet>,
    /// Per run, the permutation the OOD images are fed under.
    ood_perms: Vec<Vec<u32>>,
    /// perms[run][task]
    perms: Vec<Vec<Vec<u32>>>,
    per_epoch: usize,
    clock: Clock,
}

impl<'a> Stream<'a> {
    /// Opens the engine of `specs` and loads the data onto it.
    fn open(
        device: &Device,
        data: &'a Dataset,
        cfg: &'a StreamConfig,
        specs: &'a [RunSpec],
    ) -> Result<Stream<'a>, Error> {
        let start = Instant::now();
        // The T x T tables and the permutations grow with the tasks: the
        // whole plan is checked before the first allocation.
        let (r, t) = (specs.len(), cfg.tasks);
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
        let ood_perms = specs
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
        let perms = specs
            .iter()
            .map(|run| {
                (0..cfg.tasks)
                    .map(|i| match cfg.permute {
                        true => task_permutation(run.seed, i, PIXELS),
                        false => unpermuted.clone(),
                    })
                    .collect()
            })
            .collect();
        Ok(Stream {
            cfg,
            specs,
            data,
            engine,
            profile_method,
            test,
            ood_set,
            ood_perms,
            perms,
            per_epoch,
            clock: Clock {
                start,
                earlier_wall: 0.0,
                train_s: 0.0,
                eval_s: 0.0,
                evaluations: 0,
            },
        })
    }

    /// Every run's permutation of task `i`.
    fn task_perms(&self, i: usize) -> Vec<Vec<u32>> {
        self.perms.iter().map(|p| p[i].clone()).collect()
    }

    fn steps_per_task(&self) -> u64 {
        (self.per_epoch * self.cfg.epochs) as u64
    }

    /// The group's state at the start: nothing done, or `resume`'s, after
    /// checking that it fits this stream.
    fn start(&mut self, resume: Option<&Resume>) -> Result<GroupState, Error> {
        let r = self.specs.len();
        let Some(resume) = resume else {
            return Ok(GroupState {
                runs: vec![RunRecord::new(self.cfg.tasks); r],
                timing: Timing::default(),
                profile: None,
                params: Vec::new(),
                position: Position::default(),
            });
        };
        self.check_resume(resume)?;
        let first = &resume.runs[0];
        let params: Vec<Params> = resume.runs.iter().map(|s| s.params.clone()).collect();
        self.engine.set_params(&params)?;
        self.engine.set_steps_taken(first.position.steps);
        let t = first.timing;
        self.clock.train_s = t.train_s;
        self.clock.eval_s = t.eval_s;
        self.clock.earlier_wall = t.wall_s;
        self.clock.evaluations = t.evaluations;
        Ok(GroupState {
            runs: resume.runs.iter().map(|s| s.record.clone()).collect(),
            timing: t,
            profile: None,
            params,
            position: first.position,
        })
    }

    /// Refuses a resume that does not fit this stream: one state per run,
    /// all at one position inside the stream, tables of its length.
    fn check_resume(&self, resume: &Resume) -> Result<(), Error> {
        let (t, epochs, per_epoch) = (self.cfg.tasks, self.cfg.epochs, self.per_epoch);
        let Some(first) = resume.runs.first() else {
            return Err("a resume needs one checkpoint per run".into());
        };
        if resume.runs.len() != self.specs.len()
            || resume.runs.iter().any(|s| s.position != first.position)
        {
            return Err("a group resumes from one checkpoint per run, all at one position".into());
        }
        let p = first.position;
        let steps = p.task as u64 * self.steps_per_task() + (p.epoch * per_epoch + p.batch) as u64;
        let inside = p.task < t && p.epoch < epochs && p.batch < per_epoch
            || (p.task == t && p.epoch == 0 && p.batch == 0);
        if !inside || p.steps != steps {
            return Err(format!(
                "the checkpoint is at task {}, epoch {}, batch {}, step {}, which is not a \
                 position of this stream ({t} tasks of {epochs} epochs of {per_epoch} batches); \
                 move it away (or pass --force) to start the run afresh",
                p.task + 1,
                p.epoch + 1,
                p.batch,
                p.steps
            )
            .into());
        }
        let fits = |rec: &RunRecord| {
            let square = |m: &[Vec<f64>]| m.len() == t && m.iter().all(|row| row.len() == t);
            square(&rec.matrix)
                && rec.calibration.tables().iter().all(|(_, m)| square(m))
                && rec.loss.len() == t
        };
        if !resume.runs.iter().all(|s| fits(&s.record)) {
            return Err(
                format!("the checkpoint's tables are not of this stream's {t} tasks").into(),
            );
        }
        Ok(())
    }

    /// Trains task `i` from `state.position` (its start, or where a resumed
    /// run stopped); false when every run has diverged. A stop request
    /// ends it at a step boundary: the observers get the state there, and
    /// the stream `Error::Interrupted`.
    fn train_task(
        &mut self,
        state: &mut GroupState,
        i: usize,
        observers: &mut [&mut dyn Observer],
    ) -> Result<bool, Error> {
        let per_epoch = self.per_epoch;
        let from = state.position;
        let resumed = i == from.task;
        let mut done = if resumed {
            (from.epoch * per_epoch + from.batch) as u64
        } else {
            0
        };
        for o in observers.iter_mut() {
            o.task_started(i, done, self.steps_per_task());
        }
        let clock = Instant::now();
        self.engine.set_task(&self.task_perms(i))?;
        let mut chunks = Chunks::default();
        let first_epoch = if resumed { from.epoch } else { 0 };
        for epoch in first_epoch..self.cfg.epochs {
            let orders: Vec<_> = self
                .specs
                .iter()
                .map(|run| epoch_order(self.data.train.len(), self.cfg.shuffle, run.seed, i, epoch))
                .collect();
            self.engine.set_order(&orders)?;
            let mut batch = if resumed && epoch == from.epoch {
                from.batch
            } else {
                0
            };
            while batch < per_epoch {
                if STOP.load(Ordering::SeqCst) {
                    self.clock.train_s += clock.elapsed().as_secs_f64();
                    state.params = self.engine.params()?;
                    state.position = Position {
                        task: i,
                        epoch,
                        batch,
                        steps: self.engine.steps_taken(),
                    };
                    state.timing = self.clock.timing(state.position.steps, self.specs.len());
                    for o in observers.iter_mut() {
                        o.stopped(state)?;
                    }
                    return Err(Error::Interrupted { task: i });
                }
                let (n, trained) = chunks.train(self.engine.as_mut(), batch, per_epoch - batch);
                let losses = match trained {
                    Ok(losses) => losses,
                    Err(Error::Diverged { .. }) => {
                        stop_diverged(self.engine.as_ref(), state, i, observers)?;
                        if state.runs.iter().all(|r| r.diverged.is_some()) {
                            return Ok(false);
                        }
                        vec![]
                    }
                    Err(e) => return Err(e),
                };
                for (run, l) in state.runs.iter_mut().zip(&losses) {
                    run.loss[i][0] += l * n as f64;
                    run.loss[i][1] += n as f64;
                }
                batch += n;
                done += n as u64;
                let healthy = losses
                    .iter()
                    .zip(&state.runs)
                    .filter(|(_, r)| r.diverged.is_none());
                let loss = crate::metrics::mean(healthy.map(|(l, _)| *l));
                for o in observers.iter_mut() {
                    o.steps_done(done, loss);
                }
            }
        }
        // The task-aware baselines' boundary (part of training's time).
        self.engine.end_task()?;
        self.clock.train_s += clock.elapsed().as_secs_f64();
        Ok(true)
    }

    /// Evaluates the tasks row `i` holds (every seen one, or only the
    /// newest between two full rows) and the OOD set against the newest.
    fn evaluate_task(&mut self, state: &mut GroupState, i: usize) -> Result<(), Error> {
        let (t, cfg) = (self.cfg.tasks, self.cfg);
        let clock = Instant::now();
        let full_row = (i + 1).is_multiple_of(cfg.eval_every) || i + 1 == t;
        let evaluated = match (full_row, cfg.eval_all) {
            (false, _) => i..i + 1,
            (true, true) => 0..t,
            (true, false) => 0..i + 1,
        };
        let mut newest = Vec::new();
        for j in evaluated {
            let res = self
                .engine
                .evaluate(self.test, &self.task_perms(j), eval_id(i, j))?;
            for (run, res) in state.runs.iter_mut().zip(&res) {
                run.matrix[i][j] = res.accuracy();
                run.calibration
                    .set(i, j, Calibration::from_scores(&res.scores));
            }
            self.clock.evaluations += 1;
            if j == i {
                newest = res;
            }
        }
        if let Some(set) = self.ood_set {
            // K networks of their own, as the authors draw them.
            let out = self
                .engine
                .evaluate(set, &self.ood_perms, eval_id(i, OOD_SET))?;
            self.clock.evaluations += 1;
            let entropies = |s: &EvalResult| -> Vec<(f64, f64)> {
                let h = |x: &Score| (f64::from(x.h_pred), f64::from(x.h_alea));
                s.scores.iter().map(h).collect()
            };
            for ((run, id), od) in state.runs.iter_mut().zip(&newest).zip(&out) {
                run.ood
                    .push(OodAuroc::new(i, &entropies(id), &entropies(od)));
            }
        }
        self.clock.eval_s += clock.elapsed().as_secs_f64();
        Ok(())
    }

    /// Task `i` done: the parameters, sigma statistics, position and times
    /// after it.
    fn close_task(&mut self, state: &mut GroupState, i: usize) -> Result<(), Error> {
        state.params = self.engine.params()?;
        for (run, params) in state.runs.iter_mut().zip(&state.params) {
            run.sigma.extend(
                params
                    .sigma
                    .iter()
                    .enumerate()
                    .map(|(l, s)| sigma_stats(i, l, s)),
            );
        }
        let steps = self.engine.steps_taken();
        state.position = Position {
            task: i + 1,
            epoch: 0,
            batch: 0,
            steps,
        };
        state.timing = self.clock.timing(steps, self.specs.len());
        state.profile = self.engine.profile();
        Ok(())
    }

    /// The group's outcome; `profiled`: with its profile rows (not when
    /// every run diverged).
    fn outcome(self, state: GroupState, profiled: bool) -> GroupOutcome {
        let method = self.profile_method.filter(|_| profiled);
        GroupOutcome {
            runs: state.runs,
            timing: state.timing,
            profile: method.zip(state.profile),
        }
    }
}

pub use crate::config::MAX_TASKS;

/// The evaluation id of the OOD set, in the place of a task's.
const OOD_SET: usize = MAX_TASKS;

/// The noise id of the evaluation of task j after training task i: not a
/// function of the stream's length, so a longer run of the same seed
/// repeats a shorter one's accuracy matrix exactly.
fn eval_id(i: usize, j: usize) -> u32 {
    ((i << 16) | j) as u32
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
        let (Some((layer, step)), None) = (at, &state.runs[run].diverged) else {
            continue;
        };
        let msg = Error::Diverged {
            run,
            layer: *layer,
            step: *step,
        }
        .to_string();
        state.runs[run].diverged = Some(msg);
        for o in observers.iter_mut() {
            o.run_diverged(state, run, task)?;
        }
    }
    Ok(())
}
