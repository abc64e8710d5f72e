//! Running a sweep's groups: skip finished runs, train the rest of each
//! group as one batched execution (halved while the device cannot bind its
//! buffers), keep the summary current, and report what failed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mesu::Error;
use mesu::backend::Device;
use mesu::config::{RunIdentity, RunSettings, Shared, load_data};
use mesu::data::Dataset;
use mesu::launch::{stream_config, stream_run};
use mesu::report::{Checkpoint, FolderLock, Prior, RunFolder, run_group};
use mesu::stream::{Position, Resume, RunState};
use mesu::sweep::{Group, aggregate, collect, is_complete, write_summary};

use super::progress::StreamProgress;

pub struct Sweeper<'a> {
    runs: &'a [RunSettings],
    shared: &'a Shared,
    out: &'a Path,
    data: Dataset,
    device: Device,
    adapter: String,
    terminal: bool,
    multi: MultiProgress,
    sweep_bar: ProgressBar,
    failures: Vec<String>,
    /// `--force`: replace run folders of other settings.
    force: bool,
    /// The whole sweep folder, unless this process runs one group of it
    /// (jobs of one sweep share its folder; each run folder is still
    /// locked by the process training it).
    _lock: Option<FolderLock>,
}

impl<'a> Sweeper<'a> {
    /// A sweeper for `total` runs (the sweep bar's length).
    pub fn new(
        runs: &'a [RunSettings],
        shared: &'a Shared,
        out: &'a Path,
        total: usize,
        device: Device,
        force: bool,
        lock: Option<FolderLock>,
    ) -> mesu::Result<Self> {
        let data = load_data(shared)?;
        let adapter = device.describe();
        println!("adapter: {adapter}");
        let terminal = std::io::stdout().is_terminal();
        let multi = MultiProgress::with_draw_target(if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let sweep_bar = multi.add(ProgressBar::new(total as u64));
        sweep_bar.set_style(
            ProgressStyle::with_template("sweep [{bar:30}] {pos}/{len} runs, eta {eta} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Ok(Sweeper {
            runs,
            shared,
            out,
            data,
            device,
            adapter,
            terminal,
            multi,
            sweep_bar,
            failures: Vec::new(),
            force,
            _lock: lock,
        })
    }

    /// A line above the bars, or on stdout when it is not a terminal.
    fn say(&self, line: &str) {
        if self.terminal {
            self.multi.println(line).ok();
        } else {
            println!("{line}");
        }
    }

    fn fail(&mut self, msg: String) {
        eprintln!("{msg}");
        self.failures.push(msg);
    }

    fn run_dir(&self, i: usize) -> PathBuf {
        self.out.join("runs").join(self.runs[i].name())
    }

    /// Where group `g`'s runs go on from: their checkpoints when every run
    /// has one at the same position, else the start (with a note when some
    /// checkpoints are left behind).
    fn resume_of(&self, g: usize, folders: &mut [RunFolder]) -> Option<Resume> {
        let priors: Vec<Prior> = folders
            .iter_mut()
            .map(|f| std::mem::replace(&mut f.prior, Prior::Fresh))
            .collect();
        let checkpoints: Vec<RunState> = priors
            .into_iter()
            .filter_map(|p| match p {
                Prior::Resume(c) | Prior::Extend(c) => Some(*c),
                _ => None,
            })
            .collect();
        let aligned = checkpoints.len() == folders.len()
            && checkpoints
                .iter()
                .all(|c| c.position == checkpoints[0].position);
        if aligned {
            self.say(&format!(
                "group {g}: resuming its runs from task {}",
                checkpoints[0].position.task + 1
            ));
            return Some(Resume { runs: checkpoints });
        }
        if !checkpoints.is_empty() {
            self.say(&format!(
                "group {g}: its runs' checkpoints are not at one position; the group starts afresh"
            ));
        }
        None
    }

    /// Group `g`'s unfinished runs, then the summary of the whole folder.
    pub fn run_group(&mut self, g: usize, group: &Group) -> mesu::Result<()> {
        let todo: Vec<usize> = group
            .runs
            .iter()
            .copied()
            .filter(|&i| !is_complete(&self.run_dir(i), &self.runs[i], self.shared))
            .collect();
        let skipped = group.runs.len() - todo.len();
        self.sweep_bar.inc(skipped as u64);
        if todo.is_empty() {
            self.say(&format!(
                "group {g}: all {} runs already complete, skipped",
                group.runs.len()
            ));
            return Ok(());
        }
        let note = if skipped > 0 {
            format!(" ({skipped} already complete, skipped)")
        } else {
            String::new()
        };
        self.say(&format!(
            "group {g}: {} runs of {} in one batch{note}",
            todo.len(),
            group.shape.describe()
        ));
        let cfg = stream_config(&group.shape, self.shared)?;
        // The group, or halves of it while one of its buffers is too big to
        // bind; first split by where the runs' checkpoints stand (a stop
        // between two runs' checkpoints, or a run resumed alone), since a
        // batch resumes from one position and each run keeps its own.
        let mut batches = if self.force {
            vec![todo]
        } else {
            by_position(&todo, |i| self.run_dir(i))
        };
        if batches.len() > 1 {
            self.say(&format!(
                "group {g}: its runs' checkpoints stand at {} places; each goes on from its own",
                batches.len()
            ));
        }
        while let Some(batch) = batches.pop() {
            let members: Vec<_> = batch
                .iter()
                .map(|&i| {
                    let (run, dir) = (&self.runs[i], self.run_dir(i));
                    stream_run(run, self.shared, &self.adapter, &self.data, dir)
                })
                .collect();
            let folders = batch
                .iter()
                .zip(&members)
                .map(|(&i, m)| {
                    let identity = RunIdentity::new(&self.runs[i], self.shared).to_json();
                    RunFolder::open(&m.out, &identity, self.force)
                })
                .collect::<mesu::Result<Vec<_>>>();
            let mut folders = match folders {
                Ok(f) => f,
                Err(e) => {
                    self.fail(format!("group {g} not started: {e}"));
                    continue;
                }
            };
            let resume = self.resume_of(g, &mut folders);
            let clock = Instant::now();
            let mut progress =
                StreamProgress::new(self.shared.tasks, self.terminal, Some(&self.multi));
            let result = run_group(
                &self.device,
                &self.data,
                &cfg,
                &members,
                resume.as_ref(),
                &mut progress,
            );
            progress.finish();
            for e in folders.iter().filter_map(|f| f.settle().err()) {
                self.say(&format!(
                    "warning: {e} (settled when the folder is next used)"
                ));
            }
            match result {
                Ok(outcome) => {
                    for (&i, run) in batch.iter().zip(&outcome.runs) {
                        if let Some(msg) = &run.diverged {
                            self.fail(format!("{}: {msg}", self.runs[i].name()));
                        }
                    }
                    self.sweep_bar.inc(batch.len() as u64);
                    self.say(&format!(
                        "group {g}: {} runs done in {:.1} s",
                        batch.len(),
                        clock.elapsed().as_secs_f64()
                    ));
                }
                Err(e @ Error::TooLarge(_)) if batch.len() > 1 => {
                    // Nothing was trained yet: the buffers come first.
                    let half = batch.len() / 2;
                    self.say(&format!(
                        "group {g}: {} runs do not fit one batch on this device ({e}); \
                         running {} and {} one after the other",
                        batch.len(),
                        half,
                        batch.len() - half
                    ));
                    batches.push(batch[half..].to_vec());
                    batches.push(batch[..half].to_vec());
                }
                Err(e @ Error::Interrupted { .. }) => return Err(e),
                Err(e) => self.fail(format!("group {g} failed: {e}")),
            }
        }
        let rows = collect(self.out)?;
        write_summary(self.out, &rows)
    }

    /// The closing table; an error naming every failure if there was one.
    pub fn finish(self) -> mesu::Result<()> {
        self.sweep_bar.finish_and_clear();
        print_summary(self.out)?;
        if self.failures.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{} failure(s); those runs stay incomplete (rerun the same command to retry):\n{}",
            self.failures.len(),
            self.failures.join("\n")
        )
        .into())
    }
}

/// Prints the seed-averaged table of a summary.
pub fn print_summary(dir: &Path) -> mesu::Result<()> {
    let rows = collect(dir)?;
    write_summary(dir, &rows)?;
    let done = rows.iter().filter(|r| r.complete).count();
    println!(
        "\n{done} of {} runs complete; mean ± std over seeds (%):",
        rows.len()
    );
    println!(
        "{:<60} {:>5} {:>15} {:>15} {:>15} {:>15}",
        "settings", "seeds", "mean all", "earlier", "last 5", "newest"
    );
    let pm = |(m, s): (f64, f64)| {
        if !m.is_finite() {
            "-".to_string()
        } else if s.is_finite() {
            format!("{m:.2} ± {s:.2}")
        } else {
            format!("{m:.2}")
        }
    };
    for a in aggregate(&rows) {
        println!(
            "{:<60} {:>5} {:>15} {:>15} {:>15} {:>15}",
            a.settings,
            a.seeds,
            pm(a.mean_all),
            pm(a.mean_earlier),
            pm(a.mean_last5),
            pm(a.plasticity)
        );
    }
    println!("summary: {}", dir.join("summary.csv").display());
    Ok(())
}

/// `runs` split by where their checkpoints stand (no readable checkpoint:
/// one part of its own), in the order first met.
fn by_position(runs: &[usize], dir: impl Fn(usize) -> PathBuf) -> Vec<Vec<usize>> {
    let mut parts: Vec<(Option<Position>, Vec<usize>)> = Vec::new();
    for &i in runs {
        let at = Checkpoint::read(&dir(i)).ok().flatten().map(|c| c.position);
        match parts.iter_mut().find(|(p, _)| *p == at) {
            Some((_, part)) => part.push(i),
            None => parts.push((at, vec![i])),
        }
    }
    parts.into_iter().map(|(_, part)| part).collect()
}
