//! The sweep's summary, built from its runs' finished (or partial) results
//! folders alone, so `--collect` works on folders gathered from many machines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{RunConfig, hidden_name};
use crate::metrics::mean;
use crate::optim::Hyper;
use crate::plot::{XyLine, xy_chart};
use crate::report::{ReportError, write_atomic};

/// One run's settings and headline figures (accuracies in %).
#[derive(Clone, Debug, Serialize)]
pub struct SummaryRow {
    pub name: String,
    pub hidden: String,
    #[serde(flatten)]
    pub hyper: Hyper,
    pub batch_size: usize,
    pub epochs: usize,
    pub train_samples: usize,
    pub test_samples: usize,
    pub seed: u64,
    pub tasks: usize,
    pub tasks_done: usize,
    pub complete: bool,
    pub mean_all: f64,
    /// The paper's Fig. 3 figure: the tasks before the newest (metrics.rs).
    pub mean_earlier: f64,
    pub mean_last5: f64,
    pub mean_last20: f64,
    /// Mean over tasks of the accuracy on the newest task right after learning it.
    pub plasticity: f64,
    pub bwt: f64,
    /// AUROC of epistemic uncertainty, OOD against the newest task, after the last task.
    pub ood_auroc: f64,
    pub wall_s: f64,
    /// Training steps per second of the group (every run takes each step).
    pub steps_per_s: f64,
    pub group_runs: usize,
    /// Calibration after the last task (metrics.rs; ECE as a fraction):
    /// the mean over every task seen, and the newest task's.
    pub ece_all: f64,
    pub nll_all: f64,
    pub brier_all: f64,
    pub ece_newest: f64,
    pub nll_newest: f64,
    pub brier_newest: f64,
}

/// Headline figures averaged over the runs that differ only in their seed.
#[derive(Clone, Debug, Serialize)]
pub struct SeedAggregate {
    /// Every setting but the seed, as in a run's name.
    pub settings: String,
    pub hidden: String,
    pub optimizer: String,
    pub n: f64,
    pub seeds: usize,
    pub mean_all: (f64, f64),
    pub mean_earlier: (f64, f64),
    pub mean_last5: (f64, f64),
    pub mean_last20: (f64, f64),
    pub plasticity: (f64, f64),
    pub bwt: (f64, f64),
    pub ece_all: (f64, f64),
    pub nll_all: (f64, f64),
    pub brier_all: (f64, f64),
    pub ece_newest: (f64, f64),
    pub nll_newest: (f64, f64),
    pub brier_newest: (f64, f64),
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

impl SummaryRow {
    /// Reads a run folder; None when it has no parseable config and metrics.
    fn read(dir: &Path) -> Option<SummaryRow> {
        let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
        let config: RunConfig = serde_json::from_str(&text).ok()?;
        let metrics = read_json(&dir.join("metrics.json"))?;
        let run = config.identity.run;
        let tasks = metrics["tasks"].as_array()?;
        let last = tasks.last().cloned().unwrap_or(Value::Null);
        let pct = |v: &Value| 100.0 * f(v);
        let summary = &metrics["summary"];
        let cal = |which: &str, what: &str| f(&last["calibration"][which][what]);
        Some(SummaryRow {
            name: run.name(),
            hidden: hidden_name(&run.hidden),
            hyper: run.hyper.clone(),
            batch_size: run.batch_size,
            epochs: run.epochs,
            train_samples: run.train_samples,
            test_samples: run.test_samples,
            seed: run.seed,
            tasks: config.identity.tasks,
            tasks_done: tasks.len(),
            complete: metrics["complete"] == true,
            mean_all: pct(&last["mean_all"]),
            mean_earlier: pct(&last["mean_earlier"]),
            mean_last5: pct(&last["mean_last5"]),
            mean_last20: pct(&last["mean_last20"]),
            plasticity: 100.0 * mean(tasks.iter().map(|t| f(&t["plasticity"]))),
            bwt: pct(&last["bwt"]),
            ood_auroc: f(&last["ood_auroc"]["epistemic"]),
            wall_s: f(&summary["wall_s"]),
            steps_per_s: f(&summary["steps_per_s"]),
            group_runs: summary["group_runs"].as_u64().unwrap_or(1) as usize,
            ece_all: cal("mean_all", "ece"),
            nll_all: cal("mean_all", "nll"),
            brier_all: cal("mean_all", "brier"),
            ece_newest: cal("newest", "ece"),
            nll_newest: cal("newest", "nll"),
            brier_newest: cal("newest", "brier"),
        })
    }

    /// The name without its seed: runs equal up to the seed share it.
    fn settings(&self) -> String {
        match self.name.rfind("-seed") {
            Some(i) => self.name[..i].to_string(),
            None => self.name.clone(),
        }
    }
}

/// Every run folder under `dir/runs`, sorted by name.
pub fn collect(dir: &Path) -> crate::Result<Vec<SummaryRow>> {
    let runs = dir.join("runs");
    let entries = std::fs::read_dir(&runs).map_err(|e| {
        format!(
            "cannot read the sweep's run folders {}: {e}",
            runs.display()
        )
    })?;
    let mut rows: Vec<SummaryRow> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| SummaryRow::read(&e.path()))
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// Mean and sample standard deviation of the finite values (std NaN below 2).
pub(crate) fn mean_std(values: &[f64]) -> (f64, f64) {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let m = mean(v.iter().copied());
    if v.len() < 2 {
        return (m, f64::NAN);
    }
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    (m, var.sqrt())
}

/// Complete runs grouped by their settings up to the seed.
pub fn aggregate(rows: &[SummaryRow]) -> Vec<SeedAggregate> {
    let mut by: BTreeMap<String, Vec<&SummaryRow>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.complete) {
        by.entry(row.settings()).or_default().push(row);
    }
    let mut out: Vec<SeedAggregate> = by
        .into_iter()
        .map(|(settings, runs)| {
            let stat = |g: fn(&SummaryRow) -> f64| {
                mean_std(&runs.iter().map(|r| g(r)).collect::<Vec<_>>())
            };
            SeedAggregate {
                settings,
                hidden: runs[0].hidden.clone(),
                optimizer: runs[0].hyper.optimizer.to_string(),
                n: runs[0].hyper.n,
                seeds: runs.len(),
                mean_all: stat(|r| r.mean_all),
                mean_earlier: stat(|r| r.mean_earlier),
                mean_last5: stat(|r| r.mean_last5),
                mean_last20: stat(|r| r.mean_last20),
                plasticity: stat(|r| r.plasticity),
                bwt: stat(|r| r.bwt),
                ece_all: stat(|r| r.ece_all),
                nll_all: stat(|r| r.nll_all),
                brier_all: stat(|r| r.brier_all),
                ece_newest: stat(|r| r.ece_newest),
                nll_newest: stat(|r| r.nll_newest),
                brier_newest: stat(|r| r.brier_newest),
            }
        })
        .collect();
    // Widths and N in numeric order, not string order.
    out.sort_by(|a, b| {
        (total_width(&a.hidden), &a.optimizer)
            .cmp(&(total_width(&b.hidden), &b.optimizer))
            .then(a.n.total_cmp(&b.n))
            .then(a.settings.cmp(&b.settings))
    });
    out
}

fn csv(rows: &[SummaryRow]) -> String {
    let mut out = String::from(
        "name,hidden,optimizer,n,sigma_prior,mu_prior,lr_mu,lr_sigma,clamp_grad,batch_size,epochs,\
         train_samples,test_samples,seed,tasks,tasks_done,complete,mean_all,mean_earlier,mean_last5,mean_last20,\
         plasticity,bwt,ood_auroc,wall_s,steps_per_s,group_runs,\
         ece_all,nll_all,brier_all,ece_newest,nll_newest,brier_newest\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.2},{:.2},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}",
            r.name,
            r.hidden,
            r.hyper.optimizer,
            r.hyper.n,
            r.hyper.sigma_prior,
            r.hyper.mu_prior,
            r.hyper.lr_mu,
            r.hyper.lr_sigma,
            r.hyper.clamp_grad,
            r.batch_size,
            r.epochs,
            r.train_samples,
            r.test_samples,
            r.seed,
            r.tasks,
            r.tasks_done,
            r.complete,
            r.mean_all,
            r.mean_earlier,
            r.mean_last5,
            r.mean_last20,
            r.plasticity,
            r.bwt,
            r.ood_auroc,
            r.wall_s,
            r.steps_per_s,
            r.group_runs,
            r.ece_all,
            r.nll_all,
            r.brier_all,
            r.ece_newest,
            r.nll_newest,
            r.brier_newest
        );
    }
    out
}

/// Hidden units of "400x400" (800).
fn total_width(hidden: &str) -> usize {
    hidden
        .split('x')
        .filter_map(|w| w.parse::<usize>().ok())
        .sum()
}

/// The paper's study: last-5 accuracy against N, one line per width (and
/// optimizer, when the sweep has several).
fn last5_lines(agg: &[SeedAggregate]) -> Vec<XyLine> {
    let optimizers: std::collections::BTreeSet<_> = agg.iter().map(|a| &a.optimizer).collect();
    let mut lines: BTreeMap<(usize, String), XyLine> = BTreeMap::new();
    for a in agg {
        let width = total_width(&a.hidden);
        let name = if optimizers.len() > 1 {
            format!("hidden {} ({})", a.hidden, a.optimizer)
        } else {
            format!("hidden {}", a.hidden)
        };
        let line = lines.entry((width, name.clone())).or_insert(XyLine {
            name,
            points: Vec::new(),
            sd: Vec::new(),
        });
        line.points.push((a.n, a.mean_last5.0));
        line.sd.push(a.mean_last5.1);
    }
    let mut lines: Vec<XyLine> = lines.into_values().collect();
    for l in &mut lines {
        let mut pairs: Vec<_> = l.points.iter().copied().zip(l.sd.iter().copied()).collect();
        pairs.sort_by(|a, b| a.0.0.total_cmp(&b.0.0));
        (l.points, l.sd) = pairs.into_iter().unzip();
    }
    lines
}

/// Run-steps per second (steps/s times the runs sharing them) against the
/// hidden width: median over the runs of each width.
fn throughput_line(rows: &[SummaryRow]) -> XyLine {
    let mut by: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.steps_per_s.is_finite()) {
        let width = total_width(&r.hidden);
        by.entry(width)
            .or_default()
            .push(r.steps_per_s * r.group_runs as f64);
    }
    let points = by
        .into_iter()
        .map(|(w, mut v)| {
            v.sort_by(f64::total_cmp);
            (w as f64, v[v.len() / 2])
        })
        .collect();
    XyLine {
        name: "run-steps/s".into(),
        points,
        sd: Vec::new(),
    }
}

/// The lock file of a sweep folder's shared files.
const WRITES_LOCK: &str = ".mesu-writes.lock";

/// An exclusive hold on the files a sweep folder's processes share
/// (sweep.json, the summary and its plots), waited for: jobs of one sweep
/// (`--only-group`) and `--collect` write them one at a time. Released when
/// dropped or when the process ends.
pub struct WritesLock {
    _file: std::fs::File,
}

/// Waits for and takes `dir`'s `WritesLock` (`dir` must exist).
pub fn lock_writes(dir: &Path) -> crate::Result<WritesLock> {
    let path = dir.join(WRITES_LOCK);
    let io = |source| ReportError::Io {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    file.lock().map_err(io)?;
    Ok(WritesLock { _file: file })
}

/// Writes summary.csv, summary.json and the sweep's plots into `dir`,
/// holding its `WritesLock`.
pub fn write_summary(dir: &Path, rows: &[SummaryRow]) -> crate::Result<()> {
    let _lock = lock_writes(dir)?;
    let agg = aggregate(rows);
    write_atomic(dir, "summary.csv", &csv(rows))?;
    let value = json!({ "runs": rows, "over_seeds": agg });
    let text = serde_json::to_string_pretty(&value).map_err(|source| ReportError::Json {
        file: "summary.json",
        source,
    })?;
    write_atomic(dir, "summary.json", &text)?;
    let plot = |file: &'static str, svg: Result<String, String>| match svg {
        Ok(svg) => write_atomic(dir, file, &svg),
        Err(message) => Err(ReportError::Plot { file, message }),
    };
    let lines = last5_lines(&agg);
    if !lines.is_empty() {
        plot(
            "last5_vs_n.svg",
            xy_chart(
                "mean accuracy over the last 5 tasks (mean and sd over seeds)",
                "memory window N (steps)",
                "accuracy (%)",
                &lines,
                true,
            ),
        )?;
    }
    let throughput = throughput_line(rows);
    if !throughput.points.is_empty() {
        plot(
            "throughput_vs_width.svg",
            xy_chart(
                "training throughput",
                "hidden units",
                "run-steps per second",
                &[throughput],
                false,
            ),
        )?;
    }
    Ok(())
}
