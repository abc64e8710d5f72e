//! The results folder of a run: settings, accuracy matrix, metrics,
//! calibration, sigma statistics and SVG plots, rewritten after every task.

mod checkpoint;
mod folder;
mod rows;
mod writer;

pub use checkpoint::{Checkpoint, FILE as CHECKPOINT, Stored};
pub use folder::{FolderLock, Prior, RunFolder, claim, is_complete, lock_folder, settle_replaced};
pub use rows::{FILE as ROWS, RowsMark};
pub use writer::{ResultsWriter, run_group};

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use crate::metrics::{Calibration, CalibrationMatrix, StreamMetrics, mean_loss};
use crate::plot as plots;
use crate::stream::{RunRecord, SigmaStat, Timing};

/// What a results folder shows of a run.
pub struct RunFiles<'a> {
    /// Every setting, written as config.json.
    pub config: &'a Value,
    pub record: &'a RunRecord,
    /// Rows 0..tasks_done are filled; the rest are NaN.
    pub tasks_done: usize,
    /// metrics.json's "summary".
    pub summary: &'a Summary,
    /// False while the run is still going or was interrupted.
    pub complete: bool,
}

/// metrics.json's "summary": the group's times, or why the run stopped.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Summary {
    Timing(Timing),
    Diverged {
        diverged: String,
        diverged_in_task: usize,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialize {file}: {source}")]
    Json {
        file: &'static str,
        source: serde_json::Error,
    },
    #[error("cannot draw {file}: {message}")]
    Plot { file: &'static str, message: String },
    #[error("{}: not a usable checkpoint: {why}; move it away (or pass --force) to start the run afresh", path.display())]
    Checkpoint { path: PathBuf, why: String },
}

impl From<ReportError> for crate::Error {
    fn from(e: ReportError) -> Self {
        crate::Error::Report(Box::new(e))
    }
}

/// Every file `write_run` produces.
pub const FILES: [&str; 10] = [
    "config.json",
    "accuracy_matrix.csv",
    "calibration.csv",
    "metrics.json",
    "sigma_stats.csv",
    "accuracy_matrix.svg",
    "mean_accuracy.svg",
    "plasticity.svg",
    "sigma.svg",
    "loss.svg",
];

/// Writes (or rewrites) every file of the results folder `dir`, each
/// durable before the next; metrics.json, which says whether the run is
/// complete, last.
pub fn write_run(dir: &Path, files: &RunFiles) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let rec = files.record;
    let done = files.tasks_done.min(rec.tasks());
    let metrics = StreamMetrics::from_matrix(&rec.matrix[..done]);

    write_atomic(dir, "config.json", &json_text("config.json", files.config)?)?;
    write_atomic(dir, "accuracy_matrix.csv", &matrix_csv(&rec.matrix, done))?;
    write_atomic(dir, "calibration.csv", &calibration_csv(rec, done))?;
    write_atomic(dir, "sigma_stats.csv", &sigma_csv(&rec.sigma))?;

    let t = rec.tasks();
    let plot = |file: &'static str, svg: Result<String, String>| match svg {
        Ok(svg) => write_atomic(dir, file, &svg),
        Err(message) => Err(ReportError::Plot { file, message }),
    };
    let run = run_title(files.config, done, t, files.complete);
    let prior = files.config["hyper"]["sigma_prior"].as_f64();
    plot(
        "accuracy_matrix.svg",
        plots::heatmap(&rec.matrix, done, &run),
    )?;
    plot("mean_accuracy.svg", plots::mean_accuracy(&metrics, t, &run))?;
    plot("plasticity.svg", plots::plasticity(&metrics, t, &run))?;
    plot("sigma.svg", plots::sigma(&rec.sigma, t, prior, &run))?;
    plot("loss.svg", plots::loss(&rec.mean_loss(), t, &run))?;
    if !rec.ood.is_empty() {
        plot(OOD_PLOT, plots::ood_auroc(&rec.ood, t, &run))?;
    }
    durable(dir)?;
    let metrics_value = metrics_json(&metrics, files, done);
    write_atomic(
        dir,
        "metrics.json",
        &json_text("metrics.json", &metrics_value)?,
    )?;
    durable(dir)
}

fn json_text(file: &'static str, value: &impl Serialize) -> Result<String, ReportError> {
    serde_json::to_string_pretty(value).map_err(|source| ReportError::Json { file, source })
}

/// Written besides `FILES` when the run evaluates an OOD set: the AUROC of
/// epistemic, aleatoric and predictive uncertainty after each task.
pub const OOD_PLOT: &str = "ood_auroc.svg";

/// The line naming the run under each plot's title, from its config.json:
/// architecture, method, N, seed, and how far an incomplete run got, e.g.
/// "784-50-10, mesu, N 3e5, seed 0 (incomplete: 3 of 10 tasks)". Settings
/// missing from the config are left out.
pub fn run_title(config: &Value, done: usize, tasks: usize, complete: bool) -> String {
    let hyper = &config["hyper"];
    let mut parts: Vec<String> = Vec::new();
    if let Some(arch) = config["architecture"].as_str() {
        parts.push(arch.to_string());
    }
    if let Some(opt) = hyper["optimizer"].as_str() {
        parts.push(opt.to_string());
    }
    if let Some(n) = hyper["n"].as_f64() {
        let n = if n >= 1e5 {
            let text = format!("{n:.2e}");
            let (m, e) = text.split_once('e').unwrap_or((&text, "0"));
            format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
        } else {
            format!("{n}")
        };
        parts.push(format!("N {n}"));
    }
    if let Some(seed) = config["seed"].as_u64() {
        parts.push(format!("seed {seed}"));
    }
    let mut title = parts.join(", ");
    if !complete {
        if !title.is_empty() {
            title.push(' ');
        }
        let _ = write!(title, "(incomplete: {done} of {tasks} tasks)");
    }
    title
}

/// The tasks done after which the closing tables have a row: 1, 5, 10, 20,
/// 50, 100, 200 and the last.
fn table_rows(tasks_done: usize) -> Vec<usize> {
    let mut rows: Vec<usize> = [1, 5, 10, 20, 50, 100, 200]
        .into_iter()
        .filter(|&n| n <= tasks_done)
        .collect();
    if tasks_done > 0 && rows.last() != Some(&tasks_done) {
        rows.push(tasks_done);
    }
    rows
}

/// The closing table printed on stdout: one row per checkpoint
/// (`table_rows`), figures in %. "earlier" is the mean over the tasks
/// before the newest: the paper's Fig. 3 curve one task on.
pub fn summary_table(metrics: &StreamMetrics, tasks_done: usize) -> String {
    let rows = table_rows(tasks_done);
    let pct = |v: &[f64], i: usize, sign: bool| match v.get(i) {
        Some(x) if x.is_finite() && sign => format!("{:+.2}", 100.0 * x),
        Some(x) if x.is_finite() => format!("{:.2}", 100.0 * x),
        _ => "-".into(),
    };
    let mut out = format!(
        "{:>6} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
        "tasks", "mean all", "earlier", "last 5", "last 20", "newest", "BWT"
    );
    for n in rows {
        let i = n - 1;
        let _ = writeln!(
            out,
            "{n:>6} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
            pct(&metrics.mean_all, i, false),
            pct(&metrics.mean_earlier, i, false),
            pct(&metrics.mean_last5, i, false),
            pct(&metrics.mean_last20, i, false),
            pct(&metrics.plasticity, i, false),
            pct(&metrics.bwt, i, true),
        );
    }
    out
}

/// The closing calibration table: per checkpoint (`table_rows`), ECE (%),
/// NLL (nats) and Brier of the newest task and their means over every task
/// seen ("all"; "-" where that row did not evaluate them all).
pub fn calibration_table(cal: &CalibrationMatrix, tasks_done: usize) -> String {
    let mut out = format!(
        "{:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        "tasks", "ECE% new", "NLL new", "Brier new", "ECE% all", "NLL all", "Brier all"
    );
    let fmt = |x: f64, scale: f64, digits: usize| {
        if x.is_finite() {
            format!("{:.digits$}", scale * x)
        } else {
            "-".into()
        }
    };
    for n in table_rows(tasks_done) {
        let i = n - 1;
        let _ = write!(out, "{n:>6}");
        for c in [cal.at(i, i), cal.mean_seen(i)] {
            let _ = write!(
                out,
                " {:>10} {:>10} {:>10}",
                fmt(c.ece, 100.0, 2),
                fmt(c.nll, 1.0, 4),
                fmt(c.brier, 1.0, 4)
            );
        }
        out.push('\n');
    }
    out
}

/// JSON number, or null for NaN/infinite (which JSON cannot hold).
fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn calibration_json(c: Calibration) -> Value {
    json!({ "ece": num(c.ece), "nll": num(c.nll), "brier": num(c.brier) })
}

fn metrics_json(m: &StreamMetrics, files: &RunFiles, done: usize) -> Value {
    let at = |v: &[f64], i: usize| num(v.get(i).copied().unwrap_or(f64::NAN));
    let rec = files.record;
    let cal = &rec.calibration;
    let tasks: Vec<Value> = (0..done)
        .map(|i| {
            json!({
                "task": i,
                "mean_all": at(&m.mean_all, i),
                "mean_earlier": at(&m.mean_earlier, i),
                "mean_last5": at(&m.mean_last5, i),
                "mean_last20": at(&m.mean_last20, i),
                "plasticity": at(&m.plasticity, i),
                "bwt": at(&m.bwt, i),
                "forgetting": at(&m.forgetting, i),
                "train_loss": num(rec.loss.get(i).map_or(f64::NAN, mean_loss)),
                "ood_auroc": rec.ood.iter().find(|o| o.task == i).map(|o| json!({
                    "epistemic": num(o.epistemic),
                    "aleatoric": num(o.aleatoric),
                    "predictive": num(o.predictive),
                })),
                "calibration": {
                    "newest": calibration_json(cal.at(i, i)),
                    "mean_all": calibration_json(cal.mean_seen(i)),
                },
            })
        })
        .collect();
    json!({
        "complete": files.complete,
        "tasks_done": done,
        "tasks": tasks,
        "rigidity_resilience": num(m.rigidity_resilience),
        "summary": files.summary,
    })
}

fn matrix_csv(matrix: &[Vec<f64>], done: usize) -> String {
    let t = matrix.len();
    let mut out = String::from("task");
    for j in 0..t {
        let _ = write!(out, ",task_{j}");
    }
    out.push('\n');
    for (i, row) in matrix.iter().take(done).enumerate() {
        let _ = write!(out, "{i}");
        for j in 0..t {
            match row.get(j) {
                Some(x) if x.is_finite() => write!(out, ",{x:.6}"),
                _ => write!(out, ",NaN"),
            }
            .ok();
        }
        out.push('\n');
    }
    out
}

/// One line per evaluation: after which task, of which task, accuracy and
/// calibration.
fn calibration_csv(rec: &RunRecord, done: usize) -> String {
    let mut out = String::from("after_task,task,accuracy,ece,nll,brier\n");
    for (i, row) in rec.matrix.iter().take(done).enumerate() {
        for (j, acc) in row.iter().enumerate().filter(|(_, a)| !a.is_nan()) {
            let c = rec.calibration.at(i, j);
            let _ = writeln!(out, "{i},{j},{acc},{},{},{}", c.ece, c.nll, c.brier);
        }
    }
    out
}

fn sigma_csv(stats: &[SigmaStat]) -> String {
    let mut out = String::from("task,layer,mean,min,max,negative\n");
    for s in stats {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{}",
            s.task, s.layer, s.mean, s.min, s.max, s.negative
        );
    }
    out
}

/// Writes to a fresh temporary file in the same folder (created with
/// O_EXCL under a random name, so a planted file or link there is never
/// written through), makes it durable, then renames it over `name`: a
/// reader or an interrupted run never sees a half-written file, and the
/// rename replaces a link at `name` rather than following it.
pub fn write_atomic(dir: &Path, name: &str, text: &str) -> Result<(), ReportError> {
    write_bytes_atomic(dir, name, text.as_bytes())
}

/// `write_atomic` for bytes.
pub fn write_bytes_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ReportError> {
    let path = dir.join(name);
    let io = |source| ReportError::Io {
        path: path.clone(),
        source,
    };
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // Readable as a file the user made (0666 less the umask), not tempfile's
    // owner-only 0600: results folders are shared.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io)?;
    tmp.persist(&path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Makes the renames and appends in `dir` so far durable (fsync of the
/// folder, where the platform has one).
pub fn durable(dir: &Path) -> Result<(), ReportError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| ReportError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    Ok(())
}

/// Opens `path` for writing, created if missing, without following a
/// symbolic link there.
fn open_no_follow(path: &Path) -> Result<File, ReportError> {
    let mut options = File::options();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options.open(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `path` without following a symbolic link there.
fn read_no_follow(path: &Path) -> Result<Vec<u8>, ReportError> {
    let mut options = File::options();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let mut bytes = Vec::new();
    options
        .open(path)
        .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut bytes))
        .map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}
