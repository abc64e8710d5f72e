//! Our numbers beside the published ones, from the run folders alone (so
//! `--collect` works on folders gathered from many machines): one record
//! per compared figure, written as markdown, CSV and SVG.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::config::{RunSettings, hidden_name};
use crate::metrics::mean;
use crate::optim::Optimizer;
use crate::plot::{XyLine, xy_chart};
use crate::sweep::mean_std;

use super::plan::Experiment;
use super::published;

/// One task row of a run's metrics.json (accuracies in %).
#[derive(Clone, Debug)]
struct Row {
    mean_earlier: f64,
    mean_last5: f64,
    newest: f64,
    /// OOD AUROC: epistemic, or aleatoric for one-sample (deterministic)
    /// runs, whose epistemic part is 0 (the paper's fallback).
    ood: f64,
}

/// A run folder's settings, length asked and rows done.
#[derive(Clone, Debug)]
pub struct RunRows {
    pub run: RunSettings,
    pub tasks: usize,
    rows: Vec<Row>,
}

impl RunRows {
    pub fn done(&self) -> usize {
        self.rows.len()
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// One run folder; None when it has no readable config and metrics yet.
fn read_run(dir: &Path) -> Option<RunRows> {
    let config = read_json(&dir.join("config.json"))?;
    let metrics = read_json(&dir.join("metrics.json"))?;
    let run: RunSettings = serde_json::from_value(config["identity"]["run"].clone()).ok()?;
    let ood_kind = if run.test_samples > 1 {
        "epistemic"
    } else {
        "aleatoric"
    };
    let rows = metrics["tasks"]
        .as_array()?
        .iter()
        .map(|t| Row {
            mean_earlier: 100.0 * num(&t["mean_earlier"]),
            mean_last5: 100.0 * num(&t["mean_last5"]),
            newest: 100.0 * num(&t["plasticity"]),
            ood: num(&t["ood_auroc"][ood_kind]),
        })
        .collect();
    Some(RunRows {
        tasks: config["tasks"].as_u64().unwrap_or(0) as usize,
        run,
        rows,
    })
}

/// Every run folder under `dir/runs` that holds results, by name.
pub fn read_runs(dir: &Path) -> crate::Result<Vec<RunRows>> {
    let runs = dir.join("runs");
    let entries = std::fs::read_dir(&runs)
        .map_err(|e| format!("cannot read the run folders {}: {e}", runs.display()))?;
    let mut out: Vec<(String, RunRows)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            Some((
                e.file_name().to_string_lossy().into_owned(),
                read_run(&e.path())?,
            ))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

/// One compared figure: ours over the seeds that reached `after` tasks,
/// and the published value where the paper gives one.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The method (Fig. 3) or "hidden W at N n" (width/N); no commas.
    pub group: String,
    pub metric: String,
    /// Tasks trained when ours was read.
    pub after: usize,
    /// Tasks the runs were asked for: `after` below it is a partial result.
    pub tasks: usize,
    pub seeds: usize,
    /// Mean and sample standard deviation over seeds (sd NaN below 2).
    pub ours: (f64, f64),
    pub published: Option<f64>,
}

impl Comparison {
    pub fn difference(&self) -> Option<f64> {
        self.published.map(|p| self.ours.0 - p)
    }

    pub fn partial(&self) -> bool {
        self.after < self.tasks
    }
}

/// Runs equal up to the seed, in the order of their first run.
fn by_settings(runs: &[RunRows]) -> Vec<Vec<&RunRows>> {
    let mut groups: Vec<(String, Vec<&RunRows>)> = Vec::new();
    for r in runs {
        let key = RunSettings {
            seed: 0,
            ..r.run.clone()
        }
        .name();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The figures at the end of a group's runs: after the fewest tasks any
/// of its seeds has done, so that every seed is read at the same point.
fn final_figures(group: &str, runs: &[&RunRows], published: [Option<f64>; 3]) -> Vec<Comparison> {
    let after = runs.iter().map(|r| r.done()).min().unwrap_or(0);
    if after == 0 {
        return Vec::new();
    }
    let tasks = runs.iter().map(|r| r.tasks).max().unwrap_or(0);
    // Per seed: last-5 mean, newest task, OOD AUROC over the last 5 tasks.
    let figures: Vec<[f64; 3]> = runs
        .iter()
        .map(|r| {
            let row = &r.rows[after - 1];
            let last5 = &r.rows[after.saturating_sub(5)..after];
            [
                row.mean_last5,
                row.newest,
                mean(last5.iter().map(|w| w.ood)),
            ]
        })
        .collect();
    [
        "last-5 mean (%)",
        "newest task (%)",
        "OOD AUROC (last 5 tasks)",
    ]
    .into_iter()
    .zip(published)
    .enumerate()
    .map(|(i, (metric, published))| Comparison {
        group: group.to_string(),
        metric: metric.to_string(),
        after,
        tasks,
        seeds: runs.len(),
        ours: mean_std(&figures.iter().map(|f| f[i]).collect::<Vec<_>>()),
        published,
    })
    .collect()
}

/// The all-seen curve in the paper's reading: at x, the mean over tasks
/// 1..x after x + 1 tasks, over the seeds that got there; at the
/// published x's and at the last x every seed reached.
fn curve_figures(group: &str, method: Optimizer, runs: &[&RunRows]) -> Vec<Comparison> {
    let last = runs
        .iter()
        .map(|r| r.done())
        .min()
        .unwrap_or(0)
        .saturating_sub(1);
    let tasks = runs.iter().map(|r| r.tasks).max().unwrap_or(0);
    let mut xs: Vec<usize> = published::CURVE_AT.to_vec();
    if last >= 1 && !xs.contains(&last) {
        xs.push(last);
        xs.sort();
    }
    xs.into_iter()
        .filter_map(|x| {
            let reached: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.rows.get(x).map(|row| row.mean_earlier))
                .collect();
            (!reached.is_empty()).then(|| Comparison {
                group: group.to_string(),
                metric: format!("all seen, paper's x = {x} (%)"),
                after: x + 1,
                // A curve point is partial when not every seed reached it.
                tasks: if reached.len() < runs.len() {
                    tasks
                } else {
                    x + 1
                },
                seeds: reached.len(),
                ours: mean_std(&reached),
                published: published::curve(method, x),
            })
        })
        .collect()
}

/// Every figure of `experiment` the runs have reached.
pub fn compare(experiment: Experiment, runs: &[RunRows]) -> Vec<Comparison> {
    let mut groups = by_settings(runs);
    // Fig. 3's methods in the spec's order, others after them.
    groups.sort_by_key(|g| {
        let method = g[0].run.hyper.optimizer;
        published::FIG3
            .iter()
            .position(|f| f.method == method)
            .unwrap_or(published::FIG3.len())
    });
    let mut out = Vec::new();
    for group in groups {
        let run = &group[0].run;
        match experiment {
            Experiment::Fig3 => {
                let method = run.hyper.optimizer;
                let p = published::fig3(method);
                out.extend(final_figures(
                    method.name(),
                    &group,
                    [
                        p.map(|p| p.last5),
                        p.map(|p| p.newest.0),
                        p.map(|p| p.ood_auroc),
                    ],
                ));
                out.extend(curve_figures(method.name(), method, &group));
            }
            Experiment::WidthN => {
                let width = run.hidden.iter().sum();
                let name = format!("hidden {} at N {}", hidden_name(&run.hidden), run.hyper.n);
                let p = published::width_n(width, run.hyper.n);
                out.extend(
                    final_figures(&name, &group, [p, None, None])
                        .into_iter()
                        .take(1),
                );
            }
        }
    }
    out
}

fn fixed(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "-".into()
    }
}

/// Digits for a figure: AUROCs are fractions.
fn digits(c: &Comparison) -> usize {
    if c.metric.starts_with("OOD") { 3 } else { 2 }
}

/// The table as markdown: ours (mean +- sd over seeds), published,
/// difference, and which figures are partial.
pub fn markdown(experiment: Experiment, rows: &[Comparison]) -> String {
    let mut out = format!(
        "# mesu reproduce {}: ours beside the published numbers\n\n\
         Published: MESU_SPEC.md (the paper's 5-seed means after 200 tasks). \
         Ours: mean +- sd over the seeds done. \"partial\": read after fewer \
         tasks than asked (the last task every seed reached).\n\n\
         | group | figure | after tasks | seeds | ours | published | difference |\n\
         |---|---|---|---|---|---|---|\n",
        experiment.name()
    );
    for c in rows {
        let d = digits(c);
        let ours = match c.ours.1.is_finite() {
            true => format!("{} +- {}", fixed(c.ours.0, d), fixed(c.ours.1, d)),
            false => fixed(c.ours.0, d),
        };
        let after = if c.partial() {
            format!("{} of {} (partial)", c.after, c.tasks)
        } else {
            c.after.to_string()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {after} | {} | {ours} | {} | {} |",
            c.group,
            c.metric,
            c.seeds,
            c.published.map_or("-".into(), |p| fixed(p, d)),
            c.difference().map_or("-".into(), |v| format!("{v:+.*}", d)),
        );
    }
    out
}

pub fn csv(rows: &[Comparison]) -> String {
    let mut out = String::from(
        "group,figure,after_tasks,tasks,partial,seeds,ours_mean,ours_sd,published,difference\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    for c in rows {
        let _ = writeln!(
            out,
            "\"{}\",\"{}\",{},{},{},{},{},{},{},{}",
            c.group,
            c.metric,
            c.after,
            c.tasks,
            c.partial(),
            c.seeds,
            c.ours.0,
            c.ours.1,
            opt(c.published),
            opt(c.difference())
        );
    }
    out
}

/// Fig. 3's curves on one axis: per method ours (the mean over its seeds
/// of the paper's reading, at every x some seed reached) and the published
/// points where the spec gives them.
fn fig3_lines(runs: &[RunRows]) -> Vec<XyLine> {
    let mut lines = Vec::new();
    for group in by_settings(runs) {
        let method = group[0].run.hyper.optimizer;
        let longest = group.iter().map(|r| r.done()).max().unwrap_or(0);
        let points: Vec<(f64, f64)> = (1..longest)
            .filter_map(|x| {
                let v: Vec<f64> = group
                    .iter()
                    .filter_map(|r| r.rows.get(x).map(|row| row.mean_earlier))
                    .collect();
                let m = mean(v);
                m.is_finite().then_some((x as f64, m))
            })
            .collect();
        lines.push(XyLine {
            name: format!("{method} (ours, {} seeds)", group.len()),
            points,
            sd: Vec::new(),
        });
        let published: Vec<(f64, f64)> = published::CURVE_AT
            .iter()
            .filter_map(|&x| Some((x as f64, published::curve(method, x)?)))
            .collect();
        if !published.is_empty() {
            lines.push(XyLine {
                name: format!("{method} (published)"),
                points: published,
                sd: Vec::new(),
            });
        }
    }
    lines
}

/// Width/N: last-5 accuracy against N, ours per width (mean and sd over
/// seeds) beside the published line of that width.
fn width_n_lines(runs: &[RunRows]) -> Vec<XyLine> {
    let mut ours: BTreeMap<usize, XyLine> = BTreeMap::new();
    for group in by_settings(runs) {
        let run = &group[0].run;
        let Some(last5) = final_figures("", &group, [None; 3]).into_iter().next() else {
            continue;
        };
        let width = run.hidden.iter().sum::<usize>();
        let line = ours.entry(width).or_insert_with(|| XyLine {
            name: format!("hidden {} (ours)", hidden_name(&run.hidden)),
            points: Vec::new(),
            sd: Vec::new(),
        });
        line.points.push((run.hyper.n, last5.ours.0));
        line.sd.push(last5.ours.1);
    }
    let mut lines = Vec::new();
    for (width, mut line) in ours {
        let mut pairs: Vec<_> = line
            .points
            .iter()
            .copied()
            .zip(line.sd.iter().copied())
            .collect();
        pairs.sort_by(|a, b| a.0.0.total_cmp(&b.0.0));
        (line.points, line.sd) = pairs.into_iter().unzip();
        lines.push(line);
        let published: Vec<(f64, f64)> = published::WINDOWS
            .iter()
            .filter_map(|&n| Some((n, published::width_n(width, n)?)))
            .collect();
        if !published.is_empty() {
            lines.push(XyLine {
                name: format!("hidden {width} (published)"),
                points: published,
                sd: Vec::new(),
            });
        }
    }
    lines
}

/// The experiment's plot as SVG; None while no line has a point (a
/// curve needs two tasks).
pub fn svg(experiment: Experiment, runs: &[RunRows]) -> Result<Option<String>, String> {
    let mut lines = match experiment {
        Experiment::Fig3 => fig3_lines(runs),
        Experiment::WidthN => width_n_lines(runs),
    };
    // A method without a published curve and with one task has no point.
    lines.retain(|l| !l.points.is_empty());
    if !lines.iter().any(|l| l.name.contains("(ours")) {
        return Ok(None);
    }
    let chart = match experiment {
        Experiment::Fig3 => xy_chart(
            "mean accuracy over the tasks before the newest (the paper's Fig. 3 reading)",
            "tasks (the paper's x: mean over tasks 1..x after x + 1)",
            "accuracy (%)",
            &lines,
            false,
        ),
        Experiment::WidthN => xy_chart(
            "MESU: mean accuracy over the last 5 tasks (ours: mean and sd over seeds)",
            "memory window N (steps)",
            "accuracy (%)",
            &lines,
            true,
        ),
    };
    chart.map(Some)
}
