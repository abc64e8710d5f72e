//! The results folders of a group's runs, kept current as the stream goes:
//! an observer of the stream.

use serde_json::json;

use super::{RunRecord, write_atomic, write_run};
use crate::Error;
use crate::backend::profile_csv;
use crate::stream::{GroupState, Observer, StreamRun};

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
        let tasks = state.matrices.first().map_or(0, Vec::len);
        let profile = state.profile.as_deref().map(profile_csv);
        for (run, spec) in self.runs.iter().enumerate() {
            if state.diverged[run].is_some() {
                continue;
            }
            write_run(
                &spec.out,
                &RunRecord {
                    config: &spec.config,
                    matrix: &state.matrices[run],
                    tasks_done: task + 1,
                    sigma: &state.sigma[run],
                    ood: &state.ood[run],
                    summary: &state.summary,
                    complete: task + 1 == tasks,
                },
            )?;
            if let Some(csv) = &profile {
                write_atomic(&spec.out, "profile.csv", csv)?;
            }
        }
        Ok(())
    }

    fn run_diverged(&mut self, state: &GroupState, run: usize, task: usize) -> Result<(), Error> {
        let spec = &self.runs[run];
        let msg = state.diverged[run].as_deref().unwrap_or("diverged");
        let summary = json!({ "diverged": msg, "diverged_in_task": task });
        write_run(
            &spec.out,
            &RunRecord {
                config: &spec.config,
                matrix: &state.matrices[run],
                tasks_done: task,
                sigma: &state.sigma[run],
                ood: &state.ood[run],
                summary: &summary,
                complete: false,
            },
        )?;
        write_atomic(&spec.out, "diverged.txt", &format!("{msg}\n"))?;
        Ok(())
    }
}
