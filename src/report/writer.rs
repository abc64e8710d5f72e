//! The results folders of a group's runs, kept current as the stream goes:
//! an observer of the stream. At each task's end, in this order, each step
//! durable before the next: the task's row appended to rows.jsonl, the
//! checkpoint, the derived files (CSV, plots), metrics.json. So a folder
//! whose metrics.json says complete has every file, and a kill anywhere
//! leaves a checkpoint its rows agree with.

use super::rows::RowsFile;
use super::{Checkpoint, RunFiles, Stored, Summary, write_atomic, write_run};
use crate::Error;
use crate::backend::{Device, profile_csv};
use crate::config::{ResumePoint, RunConfig};
use crate::data::Dataset;
use crate::optim::RunSpec;
use crate::stream::{
    GroupOutcome, GroupState, Observer, Position, Resume, StreamConfig, StreamRun, stream_group,
};
use serde_json::Value;
use std::path::Path;

/// Train the stream on `data` for every run of `runs` at once, writing each
/// run's results folder after every task and telling `progress` how it goes.
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

/// Writes each run's folder after every task; a run that stops early keeps
/// its folder incomplete, with the reason in diverged.txt, so a rerun redoes it.
pub struct ResultsWriter<'a> {
    runs: &'a [StreamRun],
    /// Per run, its rows file (from `started` on).
    rows: Vec<RowsFile>,
    /// Per run, its config.json as this part writes it (from `started` on).
    configs: Vec<Value>,
}

impl<'a> ResultsWriter<'a> {
    pub fn new(runs: &'a [StreamRun]) -> Self {
        ResultsWriter {
            runs,
            rows: Vec::new(),
            configs: Vec::new(),
        }
    }

    /// Run `run`'s checkpoint at `state.position`.
    fn checkpoint(&self, state: &GroupState, run: usize) -> Result<(), Error> {
        let p = state.position;
        let record = &state.runs[run];
        let checkpoint = Checkpoint {
            identity: self.runs[run].config["identity"].clone(),
            position: p,
            params: state.params[run].clone(),
            timing: state.timing,
            task_loss: record.loss.get(p.task).copied().unwrap_or([0.0; 2]),
            record: Stored::Rows(self.rows[run].mark()),
        };
        Ok(checkpoint.write(&self.runs[run].out)?)
    }

    /// Every derived file of run `run` after `tasks_done` tasks.
    fn files(
        &self,
        state: &GroupState,
        run: usize,
        tasks_done: usize,
        summary: &Summary,
    ) -> Result<(), Error> {
        let record = &state.runs[run];
        let files = RunFiles {
            config: &self.configs[run],
            record,
            tasks_done,
            summary,
            complete: matches!(summary, Summary::Timing(_)) && tasks_done == record.tasks(),
        };
        Ok(write_run(&self.runs[run].out, &files)?)
    }
}

impl Observer for ResultsWriter<'_> {
    /// config.json first, so an interrupted first task leaves a folder
    /// `--resume` knows; the rows file as the start's checkpoint has it.
    fn started(&mut self, state: &GroupState) -> Result<(), Error> {
        self.rows.clear();
        self.configs.clear();
        for (run, spec) in self.runs.iter().enumerate() {
            self.configs
                .push(part_config(&spec.config, &spec.out, state.position));
            let config = serde_json::to_string_pretty(&self.configs[run]).map_err(|source| {
                super::ReportError::Json {
                    file: "config.json",
                    source,
                }
            })?;
            std::fs::create_dir_all(&spec.out).map_err(|source| super::ReportError::Io {
                path: spec.out.clone(),
                source,
            })?;
            write_atomic(&spec.out, "config.json", &config)?;
            let rows = RowsFile::rewrite(&spec.out, &state.runs[run], state.position.task)?;
            self.rows.push(rows);
        }
        Ok(())
    }

    fn task_evaluated(&mut self, state: &GroupState, task: usize) -> Result<(), Error> {
        let profile = state.profile.as_deref().map(profile_csv);
        let summary = Summary::Timing(state.timing);
        for run in 0..self.runs.len() {
            if state.runs[run].diverged.is_some() {
                continue;
            }
            let out = &self.runs[run].out;
            if self.rows[run].mark().rows == task {
                self.rows[run].append(out, &state.runs[run], task)?;
            }
            self.checkpoint(state, run)?;
            if let Some(csv) = &profile {
                write_atomic(out, "profile.csv", csv)?;
            }
            self.files(state, run, task + 1, &summary)?;
        }
        Ok(())
    }

    fn stopped(&mut self, state: &GroupState) -> Result<(), Error> {
        let summary = Summary::Timing(state.timing);
        for run in 0..self.runs.len() {
            if state.runs[run].diverged.is_none() {
                self.checkpoint(state, run)?;
                self.files(state, run, state.position.task, &summary)?;
            }
        }
        Ok(())
    }

    fn run_diverged(&mut self, state: &GroupState, run: usize, task: usize) -> Result<(), Error> {
        let out = &self.runs[run].out;
        let msg = state.runs[run].diverged.as_deref().unwrap_or("diverged");
        let summary = Summary::Diverged {
            diverged: msg.to_string(),
            diverged_in_task: task,
        };
        self.files(state, run, task, &summary)?;
        write_atomic(out, "diverged.txt", &format!("{msg}\n"))?;
        Ok(())
    }
}

/// The config.json of a part of a run that starts at `at`: past the
/// stream's start, the folder's config.json records the earlier parts,
/// which are kept under "earlier_parts" (a folder without a readable one
/// started over: nothing to keep).
fn part_config(config: &Value, dir: &Path, at: Position) -> Value {
    let earlier = || -> Option<RunConfig> {
        let text = super::read_no_follow(&dir.join("config.json")).ok()?;
        serde_json::from_slice(&text).ok()
    };
    let now = || serde_json::from_value::<RunConfig>(config.clone()).ok();
    match (at == Position::default(), earlier(), now()) {
        (false, Some(earlier), Some(now)) => {
            let at = ResumePoint {
                tasks_done: at.task,
                steps: at.steps,
            };
            now.resumed(earlier, at).to_json()
        }
        _ => config.clone(),
    }
}
