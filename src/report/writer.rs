//! The results folders of a group's runs, kept current as the stream goes:
//! an observer of the stream.

use serde_json::json;

use super::{Checkpoint, RunRecord, write_atomic, write_run};
use crate::Error;
use crate::backend::profile_csv;
use crate::stream::{GroupState, Observer, StreamRun};

impl ResultsWriter<'_> {
    /// Run `run`'s checkpoint at `state.position`.
    fn checkpoint(&self, state: &GroupState, run: usize) -> Result<(), Error> {
        let spec = &self.runs[run];
        let checkpoint = Checkpoint {
            identity: spec.config["identity"].clone(),
            position: state.position,
            params: state.params[run].clone(),
            matrix: state.matrices[run].clone(),
            calibration: state.calibration[run].clone(),
            sigma: state.sigma[run].clone(),
            ood: state.ood[run].clone(),
            loss: state.loss[run].clone(),
            timing: state.summary.clone(),
        };
        Ok(checkpoint.write(&spec.out)?)
    }

    /// Run `run`'s record in `state` after `tasks_done` tasks.
    fn run_record<'s>(
        &'s self,
        state: &'s GroupState,
        run: usize,
        tasks_done: usize,
    ) -> RunRecord<'s> {
        RunRecord {
            config: &self.runs[run].config,
            matrix: &state.matrices[run],
            calibration: &state.calibration[run],
            tasks_done,
            sigma: &state.sigma[run],
            ood: &state.ood[run],
            loss: &state.loss[run],
            summary: &state.summary,
            complete: tasks_done == state.matrices[run].len(),
        }
    }

    /// Every file of run `run` after `tasks_done` tasks.
    fn record(&self, state: &GroupState, run: usize, tasks_done: usize) -> Result<(), Error> {
        let rec = self.run_record(state, run, tasks_done);
        Ok(write_run(&self.runs[run].out, &rec)?)
    }
}

/// Writes each run's folder after every task; a run that stops early keeps
/// its folder incomplete, with the reason in diverged.txt, so a rerun redoes it.
pub struct ResultsWriter<'a> {
    runs: &'a [StreamRun],
}

impl<'a> ResultsWriter<'a> {
    pub fn new(runs: &'a [StreamRun]) -> Self {
        ResultsWriter { runs }
    }
}

impl Observer for ResultsWriter<'_> {
    fn task_evaluated(&mut self, state: &GroupState, task: usize) -> Result<(), Error> {
        let profile = state.profile.as_deref().map(profile_csv);
        for (run, spec) in self.runs.iter().enumerate() {
            if state.diverged[run].is_some() {
                continue;
            }
            // The record first: a stop between the two leaves a checkpoint
            // one task back, which a resume redoes to the same bits.
            self.record(state, run, task + 1)?;
            self.checkpoint(state, run)?;
            if let Some(csv) = &profile {
                write_atomic(&spec.out, "profile.csv", csv)?;
            }
        }
        Ok(())
    }

    fn stopped(&mut self, state: &GroupState) -> Result<(), Error> {
        for run in 0..self.runs.len() {
            if state.diverged[run].is_none() {
                self.record(state, run, state.position.task)?;
                self.checkpoint(state, run)?;
            }
        }
        Ok(())
    }

    fn run_diverged(&mut self, state: &GroupState, run: usize, task: usize) -> Result<(), Error> {
        let spec = &self.runs[run];
        let msg = state.diverged[run].as_deref().unwrap_or("diverged");
        let summary = json!({ "diverged": msg, "diverged_in_task": task });
        let rec = RunRecord {
            summary: &summary,
            complete: false,
            ..self.run_record(state, run, task)
        };
        write_run(&spec.out, &rec)?;
        write_atomic(&spec.out, "diverged.txt", &format!("{msg}\n"))?;
        Ok(())
    }
}
