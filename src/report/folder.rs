//! Results folders that lose nothing: created, checked writable and locked
//! before any training, refused when they hold results of other settings
//! (unless forced), and resumed from their checkpoint when they hold an
//! unfinished run of the same settings.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::checkpoint::Stored;
use super::{CHECKPOINT, Checkpoint, FILES, ROWS, ReportError, rows};
use crate::Error;
use crate::stream::{RunRecord, RunState};

/// The lock file of a results or sweep folder.
const LOCK: &str = ".mesu.lock";

/// Files a run writes besides `FILES`: removed with them by `--force`.
const EXTRA: [&str; 4] = [CHECKPOINT, ROWS, "diverged.txt", "profile.csv"];

/// Where `--force` moves a folder's old results until the new run has
/// started (`settle_replaced`).
const REPLACED: &str = ".mesu-replaced";

/// An exclusive hold on a folder for this process, released when dropped
/// or when the process ends (an advisory lock: nothing stale stays behind).
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

/// Creates `dir` if needed, checks that it is writable, holds no symbolic
/// links (a run would write through them, outside `dir`) and locks it; a
/// folder another mesu holds is refused, naming the holder.
pub fn lock_folder(dir: &Path) -> Result<FolderLock, Error> {
    let io = |source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    refuse_links(dir)?;
    let path = dir.join(LOCK);
    let mut file = super::open_no_follow(&path)?;
    if file.try_lock().is_err() {
        let mut holder = String::new();
        file.read_to_string(&mut holder).ok();
        return Err(format!(
            "{} is in use by {}; wait for it to finish or choose another --out",
            dir.display(),
            holder.trim()
        )
        .into());
    }
    let holder = format!("mesu (process {})", std::process::id());
    file.set_len(0)
        .and_then(|()| file.write_all(holder.as_bytes()))
        .map_err(|source| ReportError::Io { path, source })?;
    Ok(FolderLock { _file: file })
}

/// Refuses a folder holding symbolic links.
fn refuse_links(dir: &Path) -> Result<(), Error> {
    let io = |source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_symlink() {
            return Err(format!(
                "{} is a symbolic link; a results folder must hold none (mesu would write \
                 through it): remove it or choose another --out",
                entry.path().display()
            )
            .into());
        }
    }
    Ok(())
}

/// What a locked run folder holds for this run.
#[derive(Debug)]
pub enum Prior {
    /// Nothing of it: start from task 1.
    Fresh,
    /// This run, unfinished (or its files behind its checkpoint): go on
    /// from the checkpoint.
    Resume(Box<RunState>),
    /// This run, finished.
    Complete,
    /// The same run finished with fewer tasks: go on from its last
    /// checkpoint, its record grown to the longer stream.
    Extend(Box<RunState>),
}

/// A run's results folder, locked for this process.
#[derive(Debug)]
pub struct RunFolder {
    pub dir: PathBuf,
    pub prior: Prior,
    _lock: FolderLock,
}

/// The settings where two identities differ, as "key: old -> new".
fn differences(old: &Value, new: &Value, prefix: &str, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let (x, y) = (
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                );
                differences(x, y, &format!("{prefix}{k}."), out);
            }
        }
        _ if old != new => out.push(format!("{} {old} -> {new}", prefix.trim_end_matches('.'))),
        _ => {}
    }
}

/// Locks `dir` for the results of `identity`, which are the files `files`
/// (config.json among them), and says whether it already holds some of
/// them for these settings. A folder with results of other settings is
/// refused naming the settings that differ, unless `force`, which removes
/// those files (and nothing else) first.
pub fn claim(
    dir: &Path,
    identity: &Value,
    force: bool,
    files: &[&str],
) -> Result<(FolderLock, bool), Error> {
    let lock = lock_folder(dir)?;
    settle_replaced(dir, files)?;
    let same = claim_locked(dir, identity, force, files)?;
    Ok((lock, same))
}

/// The identity recorded in `dir`'s config.json, if any.
fn folder_identity(dir: &Path) -> Option<Value> {
    #[derive(Deserialize)]
    struct Config {
        identity: Value,
    }
    let text = super::read_no_follow(&dir.join("config.json")).ok()?;
    Some(serde_json::from_slice::<Config>(&text).ok()?.identity)
}

/// What metrics.json says of how far its run got.
#[derive(Deserialize)]
struct Progress {
    complete: bool,
    tasks_done: usize,
}

/// Whether `dir`'s metrics.json says its run did all `tasks` tasks.
fn says_complete(dir: &Path, tasks: usize) -> bool {
    super::read_no_follow(&dir.join("metrics.json"))
        .ok()
        .and_then(|t| serde_json::from_slice::<Progress>(&t).ok())
        .is_some_and(|p| p.complete && p.tasks_done == tasks)
}

/// Whether `dir` holds the finished results of exactly the run of
/// `identity`: its config.json, metrics.json and checkpoint agree.
pub fn is_complete(dir: &Path, identity: &Value) -> bool {
    let Some(tasks) = Checkpoint::tasks_of(identity) else {
        return false;
    };
    folder_identity(dir).as_ref() == Some(identity)
        && says_complete(dir, tasks)
        && match Checkpoint::read(dir) {
            Ok(Some(c)) => c.identity == *identity && c.position.task == tasks,
            Ok(None) => true,
            Err(_) => false,
        }
}

/// Whether a run of `old` extends to one of `new` with the same bits: the
/// same settings but more tasks, and every seen task evaluated after every
/// task (with `--eval-every K` the last row's fullness moves; `--eval all`
/// rows hold tasks the shorter stream lacks).
fn extends(old: &Value, new: &Value) -> bool {
    let tasks = |v: &Value| Checkpoint::tasks_of(v).unwrap_or(0);
    let mut same_but_tasks = old.clone();
    same_but_tasks["tasks"] = new["tasks"].clone();
    let every_task = new["eval_every"] == 1 && new["eval_all"] == false;
    same_but_tasks == *new && tasks(old) < tasks(new) && every_task
}

/// `claim` on a folder this process has locked.
fn claim_locked(dir: &Path, identity: &Value, force: bool, files: &[&str]) -> Result<bool, Error> {
    let present: Vec<&str> = files
        .iter()
        .copied()
        .filter(|f| dir.join(f).exists())
        .collect();
    let old = folder_identity(dir);
    let same = old.as_ref() == Some(identity);
    if present.is_empty() || (same && !force) {
        return Ok(!present.is_empty());
    }
    if !force {
        let mut diff = Vec::new();
        match &old {
            Some(old) => differences(old, identity, "", &mut diff),
            None => diff.push(format!("{} without config.json", present.join(", "))),
        }
        return Err(format!(
            "{} holds results of other settings ({}); pass --force to replace them, or choose another --out",
            dir.display(),
            diff.join(", ")
        )
        .into());
    }
    move_aside(dir, &present)?;
    Ok(false)
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| {
        ReportError::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()
    }
}

/// Moves `present` (files of `dir`) into `dir`'s `REPLACED` folder, where
/// they stay until the new run has started.
fn move_aside(dir: &Path, present: &[&str]) -> Result<(), Error> {
    let aside = dir.join(REPLACED);
    std::fs::create_dir(&aside).map_err(io_at(&aside))?;
    for f in present {
        std::fs::rename(dir.join(f), aside.join(f)).map_err(io_at(&dir.join(f)))?;
    }
    Ok(())
}

/// Settles the results `--force` moved aside in `dir` (a locked folder
/// whose run writes `files`): removed once the new run has written any of
/// `files` but config.json (it has trained), else put back in place of
/// what the new run wrote. Called when the new run ends, and again when
/// the folder is next claimed (a run killed before it settled).
pub fn settle_replaced(dir: &Path, files: &[&str]) -> Result<(), Error> {
    let aside = dir.join(REPLACED);
    let Ok(meta) = std::fs::symlink_metadata(&aside) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Err(format!(
            "{} is not a folder mesu made; remove it and run again",
            aside.display()
        )
        .into());
    }
    let started = files
        .iter()
        .any(|f| *f != "config.json" && dir.join(f).exists());
    if !started {
        for f in files.iter().filter(|f| aside.join(f).exists()) {
            let _ = std::fs::remove_file(dir.join(f));
            std::fs::rename(aside.join(f), dir.join(f)).map_err(io_at(&aside.join(f)))?;
        }
    }
    std::fs::remove_dir_all(&aside).map_err(io_at(&aside))
}

/// Every file of a run's results.
fn run_files() -> Vec<&'static str> {
    FILES.iter().chain(&EXTRA).copied().collect()
}

impl RunFolder {
    /// Settles what `--force` moved aside (`settle_replaced`): call when the
    /// new run has ended, however it ended.
    pub fn settle(&self) -> Result<(), Error> {
        settle_replaced(&self.dir, &run_files())
    }

    /// Locks `dir` for the run of `identity` and says what it holds. A
    /// folder with results of other settings is refused naming the settings
    /// that differ, unless `force`, which removes the run's files (and
    /// nothing else) first.
    pub fn open(dir: &Path, identity: &Value, force: bool) -> Result<RunFolder, Error> {
        let lock = lock_folder(dir)?;
        settle_replaced(dir, &run_files())?;
        let old = folder_identity(dir);
        // A shorter finished run of these settings is this run's start.
        let known = old.as_ref().is_some_and(|old| extends(old, identity));
        let prior = if (!force && known) || claim_locked(dir, identity, force, &run_files())? {
            Self::prior_of_same_run(dir, identity)?
        } else {
            Prior::Fresh
        };
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            prior,
            _lock: lock,
        })
    }

    /// The folder holds this run (or a shorter one it extends): finished,
    /// resumable, or to redo. The checkpoint decides; metrics.json's
    /// "complete" counts only where the checkpoint agrees, so a folder whose
    /// last files were cut short is repaired from it.
    fn prior_of_same_run(dir: &Path, identity: &Value) -> Result<Prior, Error> {
        let tasks =
            Checkpoint::tasks_of(identity).ok_or("the run's identity names no number of tasks")?;
        let Some(checkpoint) = Checkpoint::read(dir)? else {
            if says_complete(dir, tasks) {
                return Ok(Prior::Complete);
            }
            // A diverged run is redone from the start: its stop is stale.
            let _ = std::fs::remove_file(dir.join("diverged.txt"));
            return Ok(Prior::Fresh);
        };
        let extended = checkpoint.identity != *identity;
        if extended {
            let old_tasks = Checkpoint::tasks_of(&checkpoint.identity);
            let finished = old_tasks == Some(checkpoint.position.task);
            if !(extends(&checkpoint.identity, identity) && finished) {
                let mut diff = Vec::new();
                differences(&checkpoint.identity, identity, "", &mut diff);
                return Err(ReportError::Checkpoint {
                    path: dir.join(CHECKPOINT),
                    why: format!(
                        "it is a checkpoint of other settings than this run's ({}: checkpoint -> run)",
                        diff.join(", ")
                    ),
                }
                .into());
            }
        }
        if checkpoint.position.task == tasks && says_complete(dir, tasks) {
            Self::rewrite_finished(dir, checkpoint, tasks)?;
            return Ok(Prior::Complete);
        }
        let _ = std::fs::remove_file(dir.join("diverged.txt"));
        let state = Box::new(Self::state(dir, checkpoint, tasks)?);
        Ok(if extended {
            Prior::Extend(state)
        } else {
            Prior::Resume(state)
        })
    }

    /// Rewrites a finished run's derived files from its checkpoint and rows
    /// file, so one that was deleted or spoiled after the run is repaired
    /// (and the others keep their bytes).
    fn rewrite_finished(dir: &Path, checkpoint: Checkpoint, tasks: usize) -> Result<(), Error> {
        let text = super::read_no_follow(&dir.join("config.json"))?;
        let config: Value = serde_json::from_slice(&text).map_err(|source| ReportError::Json {
            file: "config.json",
            source,
        })?;
        let state = Self::state(dir, checkpoint, tasks)?;
        let files = super::RunFiles {
            config: &config,
            record: &state.record,
            tasks_done: tasks,
            summary: &super::Summary::Timing(state.timing),
            complete: true,
        };
        Ok(super::write_run(dir, &files)?)
    }

    /// The run's state at `checkpoint`, its record of `tasks` tasks.
    fn state(dir: &Path, checkpoint: Checkpoint, tasks: usize) -> Result<RunState, ReportError> {
        let mut record = RunRecord::new(tasks);
        let p = checkpoint.position;
        match checkpoint.record {
            Stored::Rows(mark) => rows::read(dir, mark, &mut record)?,
            Stored::Tables(old) => {
                // Version 2: rows 0..task of its tables.
                let t = old.tasks();
                for i in 0..p.task.min(t) {
                    let n = t.min(tasks);
                    record.matrix[i][..n].copy_from_slice(&old.matrix[i][..n]);
                    for (to, from) in [
                        (&mut record.calibration.ece, &old.calibration.ece),
                        (&mut record.calibration.nll, &old.calibration.nll),
                        (&mut record.calibration.brier, &old.calibration.brier),
                    ] {
                        to[i][..n].copy_from_slice(&from[i][..n]);
                    }
                    record.loss[i] = old.loss[i];
                }
                record.sigma = old.sigma.into_iter().filter(|s| s.task < p.task).collect();
                record.ood = old.ood.into_iter().filter(|o| o.task < p.task).collect();
            }
        }
        if p.task < tasks {
            record.loss[p.task] = checkpoint.task_loss;
        }
        Ok(RunState {
            record,
            params: checkpoint.params,
            position: p,
            timing: checkpoint.timing,
        })
    }
}
