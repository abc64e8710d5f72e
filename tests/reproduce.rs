//! `mesu reproduce`: the published numbers are the spec's; a shortened
//! fig3 end to end on the CPU backend writes our numbers (those of its
//! runs' metrics) beside them; it resumes after a stop to the same bits;
//! its jobs run apart and --collect assembles their table.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{interrupted, mesu, succeeded};
use mesu::optim::Optimizer;
use mesu::reproduce::published;

/// A tiny fig3: 2 tasks, 100 test images, one seed (`args` adds the
/// training images per task).
const SMALL: [&str; 11] = [
    "reproduce",
    "fig3",
    "--tasks",
    "2",
    "--seeds",
    "1",
    "--test-limit",
    "100",
    "--backend",
    "cpu",
    "--threads=1",
];

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesu-reproduce-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Enough training images for a stop to land inside task 2.
const STOPPABLE: &str = "1000";

fn args<'a>(train: &'a str, extra: &[&'a str], out: &'a Path) -> Vec<&'a str> {
    let out = out.to_str().unwrap();
    [
        &SMALL[..],
        &["--train-limit", train],
        extra,
        &["--out", out],
    ]
    .concat()
}

/// MESU_SPEC.md's table, copied by hand: (method, last 5, newest, sd, AUROC).
const SPEC_FIG3: [(Optimizer, f64, f64, f64, f64); 6] = [
    (Optimizer::Mesu, 91.34, 94.68, 0.14, 0.94),
    (Optimizer::FoovbPublished, 68.66, 68.80, 1.94, 0.61),
    (Optimizer::Si, 86.96, 91.09, 0.61, 0.87),
    (Optimizer::OnlineEwc, 88.54, 92.75, 0.29, 0.87),
    (Optimizer::StreamEwc, 65.73, 93.30, 0.43, 0.90),
    (Optimizer::Sgd, 55.36, 93.10, 0.22, 0.86),
];

#[test]
fn the_published_numbers_are_the_specs() {
    for (method, last5, newest, sd, auroc) in SPEC_FIG3 {
        let p = published::fig3(method).unwrap();
        assert_eq!(
            (p.last5, p.newest, p.ood_auroc),
            (last5, (newest, sd), auroc)
        );
    }
    assert_eq!(published::FIG3.len(), 6);
    // The all-seen curve ("about"): MESU 79/57/32/21, FOO-VB 86/75/58/47.
    let curve = |m| [10, 20, 50, 100].map(|x| published::curve(m, x).unwrap());
    assert_eq!(curve(Optimizer::Mesu), [79.0, 57.0, 32.0, 21.0]);
    assert_eq!(curve(Optimizer::FoovbPublished), [86.0, 75.0, 58.0, 47.0]);
    assert_eq!(published::curve(Optimizer::Sgd, 10), None);
    // Width/N: the first and last row of the spec.
    let row = |h| published::WINDOWS.map(|n| published::width_n(h, n).unwrap());
    assert_eq!(row(50), [86.86, 91.34, 89.47, 87.40, 84.09, 69.28]);
    assert_eq!(row(1024), [74.70, 87.74, 92.71, 93.71, 93.00, 91.09]);
    assert_eq!(published::width_n(256, 6e5), Some(93.06));
    assert_eq!(published::width_n(100, 3e5), None);
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// fig3.csv as (group, figure) -> its fields.
fn table(dir: &Path) -> HashMap<(String, String), HashMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("fig3.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            let fields: HashMap<String, String> = header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.trim_matches('"').to_string()))
                .collect();
            ((fields["group"].clone(), fields["figure"].clone()), fields)
        })
        .collect()
}

/// Every method's last-5, newest-task and OOD figures in fig3.csv are its
/// run's metrics.json after the last task, beside the spec's numbers.
fn check_table(dir: &Path, methods: &[Optimizer], tasks: usize) {
    let rows = table(dir);
    for &method in methods {
        let run = std::fs::read_dir(dir.join("runs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(&format!("h50-{method}-"))
            })
            .unwrap_or_else(|| panic!("no run folder of {method}"));
        let metrics = read_json(&run.join("metrics.json"));
        let last = &metrics["tasks"][tasks - 1];
        let ood_kind = if method.default_samples() > 1 {
            "epistemic"
        } else {
            "aleatoric"
        };
        let ood: f64 = (0..tasks)
            .map(|t| metrics["tasks"][t]["ood_auroc"][ood_kind].as_f64().unwrap())
            .sum::<f64>()
            / tasks as f64;
        let spec = SPEC_FIG3.iter().find(|s| s.0 == method).unwrap();
        for (figure, ours, published) in [
            (
                "last-5 mean (%)",
                100.0 * last["mean_last5"].as_f64().unwrap(),
                spec.1,
            ),
            (
                "newest task (%)",
                100.0 * last["plasticity"].as_f64().unwrap(),
                spec.2,
            ),
            ("OOD AUROC (last 5 tasks)", ood, spec.4),
        ] {
            let row = &rows[&(method.name().to_string(), figure.to_string())];
            let num = |k: &str| row[k].parse::<f64>().unwrap();
            assert!(
                (num("ours_mean") - ours).abs() < 1e-9,
                "{method} {figure}: {row:?}"
            );
            assert_eq!(num("published"), published, "{method} {figure}");
            assert!((num("difference") - (ours - published)).abs() < 1e-9);
            assert_eq!(row["seeds"], "1");
            assert_eq!(row["after_tasks"], tasks.to_string());
        }
    }
}

#[test]
fn fig3_writes_our_numbers_beside_the_published_ones() {
    let dir = out_dir("fig3");
    let stdout = succeeded(&mesu(&args("300", &[], &dir)));
    assert!(stdout.contains("reproduce fig3: 6 runs"), "{stdout}");
    for f in ["fig3.md", "fig3.csv", "fig3.svg"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let methods: Vec<Optimizer> = SPEC_FIG3.iter().map(|s| s.0).collect();
    check_table(&dir, &methods, 2);
    let md = std::fs::read_to_string(dir.join("fig3.md")).unwrap();
    assert!(md.contains("| mesu | last-5 mean (%) | 2 | 1 |"), "{md}");
    assert!(!md.contains("(partial)"), "{md}");
    assert!(stdout.contains(&md), "the printed table is the file's");
    let svg = std::fs::read_to_string(dir.join("fig3.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("mesu (published)"));
    // Rerun: every run is complete, nothing trains, the same table.
    let csv = std::fs::read(dir.join("fig3.csv")).unwrap();
    let again = succeeded(&mesu(&args("300", &[], &dir)));
    assert!(again.contains("already complete, skipped"), "{again}");
    assert_eq!(std::fs::read(dir.join("fig3.csv")).unwrap(), csv);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fig3_resumes_after_a_stop_to_the_same_bits() {
    let (whole, parts) = (out_dir("whole"), out_dir("parts"));
    let mesu_only = ["--methods", "mesu"];
    succeeded(&mesu(&args(STOPPABLE, &mesu_only, &whole)));
    let (code, stderr) = interrupted(&args(STOPPABLE, &mesu_only, &parts), "task 2/2: ");
    assert_eq!(code, Some(130), "{stderr}");
    // The table of what was done, marked partial.
    let md = std::fs::read_to_string(parts.join("fig3.md")).unwrap();
    assert!(md.contains("1 of 2 (partial)"), "{md}");
    let stdout = succeeded(&mesu(&args(STOPPABLE, &mesu_only, &parts)));
    assert!(stdout.contains("resuming its runs from task 2"), "{stdout}");
    let run = "runs/h50-mesu-N300000-sp1-mp0-lr1_1-cg0-B1-E1-K10_10-seed0";
    for f in [&format!("{run}/accuracy_matrix.csv"), "fig3.csv"] {
        let read = |d: &Path| std::fs::read(d.join(f)).unwrap();
        assert_eq!(read(&whole), read(&parts), "{f} differs");
    }
    std::fs::remove_dir_all(&whole).unwrap();
    std::fs::remove_dir_all(&parts).unwrap();
}

#[test]
fn jobs_run_apart_and_collect_assembles_the_table() {
    let dir = out_dir("jobs");
    let jobs = dir.with_extension("jobs.txt");
    let two = [
        "--methods",
        "mesu,sgd",
        "--emit-jobs",
        jobs.to_str().unwrap(),
    ];
    let stdout = succeeded(&mesu(&args("300", &two, &dir)));
    assert!(stdout.contains("wrote 2 job lines"), "{stdout}");
    let lines = std::fs::read_to_string(&jobs).unwrap();
    for (g, line) in lines.lines().enumerate() {
        assert!(
            line.contains(" reproduce fig3 ") && !line.contains("--emit-jobs"),
            "{line}"
        );
        assert!(line.ends_with(&format!("--only-group {g}")), "{line}");
        // A job line is shell-quoted: a shell runs it, as a job runner would.
        let out = Command::new("bash")
            .args(["-c", line])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        succeeded(&out);
    }
    let collect = ["reproduce", "fig3", "--collect", dir.to_str().unwrap()];
    let stdout = succeeded(&mesu(&collect));
    assert!(stdout.contains("| mesu | newest task (%) |") && stdout.contains("| sgd |"));
    check_table(&dir, &[Optimizer::Mesu, Optimizer::Sgd], 2);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(&jobs).unwrap();
}

#[test]
fn width_n_plans_every_width_and_window() {
    let stdout = succeeded(&mesu(&[
        "reproduce",
        "width-n",
        "--seeds",
        "2",
        "--backend",
        "cpu",
        "--dry-run",
    ]));
    assert!(stdout.contains("reproduce width-n: 48 runs"), "{stdout}");
    assert!(stdout.contains("h1024-mesu-N1e15-"), "{stdout}");
    let refused = mesu(&["reproduce", "width-n", "--methods", "sgd", "--dry-run"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--methods picks methods of fig3"));
}

#[test]
fn one_task_gives_a_table_and_no_plot_yet() {
    let dir = out_dir("one");
    let one = ["--methods", "sgd", "--tasks", "1"];
    let mut a = args("200", &one, &dir);
    // SMALL's own --tasks 2 is replaced.
    let at = a.iter().position(|&w| w == "--tasks").unwrap();
    a.drain(at..at + 2);
    succeeded(&mesu(&a));
    let md = std::fs::read_to_string(dir.join("fig3.md")).unwrap();
    assert!(md.contains("| sgd | newest task (%) | 1 | 1 |"), "{md}");
    assert!(!dir.join("fig3.svg").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
