//! Results folders that lose nothing: created, checked writable and locked
//! before any training, refused when they hold results of other settings
//! (unless forced), and resumed from their checkpoint when they hold an
//! unfinished run of the same settings.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{CHECKPOINT, Checkpoint, FILES, ReportError};
use crate::Error;

/// The lock file of a results or sweep folder.
const LOCK: &str = ".mesu.lock";

/// Files a run writes besides `FILES`: removed with them by `--force`.
const EXTRA: [&str; 3] = [CHECKPOINT, "diverged.txt", "profile.csv"];

/// Where `--force` moves a folder's old results until the new run has
/// started (`settle_replaced`).
const REPLACED: &str = ".mesu-replaced";

/// An exclusive hold on a folder for this process, released when dropped
/// or when the process ends (an advisory lock: nothing stale stays behind).
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

/// Creates `dir` if needed, checks that it is writable and locks it; a
/// folder another mesu holds is refused, naming the holder.
pub fn lock_folder(dir: &Path) -> Result<FolderLock, Error> {
    let io = |source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join(LOCK);
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| ReportError::Io {
            path: path.clone(),
            source,
        })?;
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

/// What a locked run folder holds for this run.
#[derive(Debug)]
pub enum Prior {
    /// Nothing of it: start from task 1.
    Fresh,
    /// This run, unfinished: go on from the checkpoint.
    Resume(Box<Checkpoint>),
    /// This run, finished.
    Complete,
    /// The same run finished with fewer tasks: go on from its last
    /// checkpoint, grown to the longer stream (`Checkpoint::extended`).
    Extend(Box<Checkpoint>),
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
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: Value = serde_json::from_str(&text).ok()?;
    Some(config["identity"].clone())
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
        let shorter = if force {
            None
        } else {
            Self::shorter_run(dir, identity)?
        };
        let prior = match shorter {
            Some(prior) => prior,
            None => {
                if claim_locked(dir, identity, force, &run_files())? {
                    Self::prior_of_same_run(dir)?
                } else {
                    Prior::Fresh
                }
            }
        };
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            prior,
            _lock: lock,
        })
    }

    /// A finished run of these settings but fewer tasks, which the longer
    /// stream extends with the same bits as a run of all its tasks: the
    /// noise, permutations and evaluation ids do not depend on the stream's
    /// length. Only with every seen task evaluated after every task (with
    /// `--eval-every K` the last row's fullness moves; `--eval all` rows
    /// hold tasks the shorter stream lacks).
    fn shorter_run(dir: &Path, identity: &Value) -> Result<Option<Prior>, Error> {
        let Some(old) = folder_identity(dir) else {
            return Ok(None);
        };
        let tasks = |v: &Value| v["tasks"].as_u64().unwrap_or(0) as usize;
        let mut same_but_tasks = old.clone();
        same_but_tasks["tasks"] = identity["tasks"].clone();
        let every_task = identity["eval_every"] == 1 && identity["eval_all"] == false;
        if same_but_tasks != *identity || tasks(&old) >= tasks(identity) || !every_task {
            return Ok(None);
        }
        let Some(checkpoint) = Checkpoint::read(dir)? else {
            return Ok(None);
        };
        if checkpoint.position.task != tasks(&old) {
            return Ok(None);
        }
        let longer = checkpoint.extended(tasks(identity), identity.clone());
        Ok(Some(Prior::Extend(Box::new(longer))))
    }

    /// The folder holds this run: finished, resumable, or to redo.
    fn prior_of_same_run(dir: &Path) -> Result<Prior, Error> {
        let complete = std::fs::read_to_string(dir.join("metrics.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|m| m["complete"] == true);
        if complete {
            return Ok(Prior::Complete);
        }
        // A diverged run is redone from the start: its stop is stale.
        let _ = std::fs::remove_file(dir.join("diverged.txt"));
        Ok(match Checkpoint::read(dir)? {
            Some(c) => Prior::Resume(Box::new(c)),
            None => Prior::Fresh,
        })
    }
}
