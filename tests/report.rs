use std::path::{Path, PathBuf};

use mesu::metrics::{Calibration, CalibrationMatrix, OodAuroc, StreamMetrics};
use mesu::report::{
    FILES, OOD_PLOT, RunFiles, Summary, calibration_table, run_title, summary_table, write_run,
};
use mesu::stream::{RunRecord, SigmaStat, Timing, sigma_stats};
use serde_json::{Value, json};

const NAN: f64 = f64::NAN;

/// A run's record of these tables (training losses zero where not given).
fn record(
    matrix: &[Vec<f64>],
    calibration: CalibrationMatrix,
    sigma: Vec<SigmaStat>,
    ood: &[OodAuroc],
    loss: &[[f64; 2]],
) -> RunRecord {
    let mut rec = RunRecord::new(matrix.len());
    rec.matrix = matrix.to_vec();
    rec.calibration = calibration;
    rec.sigma = sigma;
    rec.ood = ood.to_vec();
    rec.loss[..loss.len()].copy_from_slice(loss);
    rec
}

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("mesu-report-{tag}-{}-{nanos}", std::process::id()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn csv(dir: &Path, name: &str) -> Vec<Vec<String>> {
    read(dir, name)
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

fn close(v: &Value, expected: f64) -> bool {
    (v.as_f64().unwrap() - expected).abs() < 1e-9
}

/// Every file present, plots are SVG, no temporary file left behind.
fn check_files(dir: &Path) {
    for name in FILES {
        assert!(dir.join(name).is_file(), "{name} missing");
    }
    for name in FILES.iter().filter(|n| n.ends_with(".svg")) {
        let svg = read(dir, name);
        assert!(
            svg.contains("<svg") && svg.contains("</svg>"),
            "{name} is not SVG"
        );
        assert!(svg.contains("<text"), "{name} has no text");
    }
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.ends_with(".tmp"), "{name} left behind");
    }
}

fn sigma_for(tasks: usize) -> Vec<SigmaStat> {
    (0..tasks)
        .flat_map(|t| (0..2).map(move |l| sigma_stats(t, l, &[0.1 / (t + 1) as f32, 0.2, 0.3])))
        .collect()
}

#[test]
fn complete_run_3x3() {
    let tmp = TempDir::new("full");
    let matrix = vec![
        vec![0.9, NAN, NAN],
        vec![0.85, 0.95, NAN],
        vec![0.8, 0.9, 0.97],
    ];
    let config = json!({
        "tasks": 3,
        "architecture": "784-50-10",
        "hyper": {"optimizer": "mesu", "n": 300000.0, "sigma_prior": 0.5},
        "seed": 7,
    });
    let summary = Summary::Timing(Timing {
        wall_s: 1.5,
        ..Timing::default()
    });
    let sigma = sigma_for(3);
    // OOD scored after tasks 0 and 2 only; the AUROC after task 2 is NaN.
    let ood = [0, 2].map(|task| OodAuroc {
        task,
        epistemic: if task == 2 { NAN } else { 0.9 },
        aleatoric: 0.7,
        predictive: 0.8,
    });
    // Loss sums and steps per task: means 2.0, 0.5, 0.25.
    let loss = [[200.0, 100.0], [50.0, 100.0], [25.0, 100.0]];
    // ECE, NLL, Brier of each evaluation: (1 - accuracy) times 1, 2, 3.
    let mut calibration = CalibrationMatrix::new(3);
    for (i, row) in matrix.iter().enumerate() {
        for (j, &a) in row.iter().enumerate().filter(|(_, a)| !a.is_nan()) {
            let e = 1.0 - a;
            let c = Calibration {
                ece: e,
                nll: 2.0 * e,
                brier: 3.0 * e,
            };
            calibration.set(i, j, c);
        }
    }
    let record = record(&matrix, calibration.clone(), sigma.clone(), &ood, &loss);
    let rec = RunFiles {
        config: &config,
        record: &record,
        tasks_done: 3,
        summary: &summary,
        complete: true,
    };
    write_run(&tmp.0, &rec).unwrap();
    // Rewriting over an existing folder works too (called after every task).
    write_run(&tmp.0, &rec).unwrap();
    check_files(&tmp.0);

    let config_back: Value = serde_json::from_str(&read(&tmp.0, "config.json")).unwrap();
    assert_eq!(config_back, config);

    let rows = csv(&tmp.0, "accuracy_matrix.csv");
    assert_eq!(rows[0], ["task", "task_0", "task_1", "task_2"]);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.len() == 4));
    assert_eq!(rows[1], ["0", "0.900000", "NaN", "NaN"]);
    assert_eq!(rows[3], ["2", "0.800000", "0.900000", "0.970000"]);

    let m: Value = serde_json::from_str(&read(&tmp.0, "metrics.json")).unwrap();
    assert_eq!(m["complete"], true);
    assert_eq!(m["tasks_done"], 3);
    let tasks = m["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[0]["task"], 0);
    assert!(tasks[0]["bwt"].is_null() && tasks[0]["forgetting"].is_null());
    assert!(tasks[0]["mean_earlier"].is_null());
    assert!(close(&tasks[0]["ood_auroc"]["epistemic"], 0.9));
    assert!(close(&tasks[0]["ood_auroc"]["aleatoric"], 0.7));
    assert!(tasks[1]["ood_auroc"].is_null(), "no OOD after task 1");
    assert!(tasks[2]["ood_auroc"]["epistemic"].is_null(), "NaN as null");
    for (task, want) in [2.0, 0.5, 0.25].into_iter().enumerate() {
        assert!(close(&tasks[task]["train_loss"], want), "task {task}");
    }
    assert!(read(&tmp.0, "loss.svg").contains("Training loss per task"));
    assert!(close(&tasks[2]["ood_auroc"]["predictive"], 0.8));
    assert!(close(&tasks[2]["mean_earlier"], (0.8 + 0.9) / 2.0));
    assert!(close(&tasks[0]["plasticity"], 0.9));
    assert!(close(&tasks[2]["mean_all"], (0.8 + 0.9 + 0.97) / 3.0));
    assert!(close(&tasks[2]["mean_last5"], (0.8 + 0.9 + 0.97) / 3.0));
    assert!(close(&tasks[2]["bwt"], ((0.8 - 0.9) + (0.9 - 0.95)) / 2.0));
    assert!(close(
        &tasks[2]["forgetting"],
        ((0.9 - 0.8) + (0.95 - 0.9)) / 2.0
    ));
    assert!(close(&m["rigidity_resilience"], 1.0 / 0.07));
    assert_eq!(m["summary"]["wall_s"], 1.5);
    let cal = &tasks[2]["calibration"];
    assert!(close(&cal["newest"]["ece"], 1.0 - 0.97));
    assert!(close(&cal["newest"]["brier"], 3.0 * (1.0 - 0.97)));
    let mean_error = 1.0 - (0.8 + 0.9 + 0.97) / 3.0;
    assert!(close(&cal["mean_all"]["ece"], mean_error));
    assert!(close(&cal["mean_all"]["nll"], 2.0 * mean_error));
    assert!(close(
        &tasks[0]["calibration"]["mean_all"]["nll"],
        2.0 * 0.1
    ));

    // One line per evaluation, in row order.
    let rows = csv(&tmp.0, "calibration.csv");
    assert_eq!(
        rows[0],
        ["after_task", "task", "accuracy", "ece", "nll", "brier"]
    );
    assert_eq!(rows.len(), 1 + 6);
    let last: Vec<f64> = rows[6].iter().map(|v| v.parse().unwrap()).collect();
    let e = 1.0 - 0.97;
    assert_eq!(last[..3], [2.0, 2.0, 0.97]);
    assert!((last[3] - e).abs() + (last[4] - 2.0 * e).abs() + (last[5] - 3.0 * e).abs() < 1e-12);

    let rows = csv(&tmp.0, "sigma_stats.csv");
    assert_eq!(rows[0], ["task", "layer", "mean", "min", "max", "negative"]);
    assert_eq!(rows.len(), 1 + 3 * 2);
    assert_eq!(rows[3][..2], ["1", "0"]);
    let max: f64 = rows[3][4].parse().unwrap();
    assert!((max - 0.3).abs() < 1e-6);
    let sigma_svg = read(&tmp.0, "sigma.svg");
    assert!(
        sigma_svg.contains("layer 1") && sigma_svg.contains("layer 2"),
        "layers from 1"
    );
    // The min..max band (a filled polygon per layer) and the prior.
    assert!(sigma_svg.matches("<polygon").count() >= 2, "no band");
    assert!(sigma_svg.contains("prior sigma = 0.5"), "no prior");
    assert!(read(&tmp.0, "mean_accuracy.svg").contains("tasks learned"));

    // Every plot names the run; a complete run is not marked incomplete.
    let run = "784-50-10, mesu, N 3e5, seed 7";
    for name in FILES
        .iter()
        .filter(|n| n.ends_with(".svg"))
        .chain([&OOD_PLOT])
    {
        let svg = read(&tmp.0, name);
        assert!(svg.contains(run), "{name} does not name the run");
        assert!(!svg.contains("incomplete"), "{name}");
    }
    // A small matrix shows its cells (%), tasks numbered from 1.
    let heat = read(&tmp.0, "accuracy_matrix.svg");
    for cell in ["90.0", "85.0", "95.0", "80.0", "97.0"] {
        assert!(heat.contains(&format!(">\n{cell}\n</text>")), "cell {cell}");
    }
    assert!(heat.contains(">\n3\n</text>") && !heat.contains(">\n0\n</text>"));
    // OOD data: its AUROC plot, with the three uncertainties.
    let ood_svg = read(&tmp.0, OOD_PLOT);
    for kind in ["epistemic", "aleatoric", "predictive"] {
        assert!(ood_svg.contains(kind), "{kind}");
    }
}

#[test]
fn run_titles() {
    let config = json!({
        "architecture": "784-200-200-10",
        "hyper": {"optimizer": "bgd", "n": 1.8e5},
        "seed": 0,
    });
    assert_eq!(
        run_title(&config, 3, 10, false),
        "784-200-200-10, bgd, N 1.8e5, seed 0 (incomplete: 3 of 10 tasks)"
    );
    assert_eq!(
        run_title(&config, 10, 10, true),
        "784-200-200-10, bgd, N 1.8e5, seed 0"
    );
    assert_eq!(
        run_title(&json!({}), 0, 2, false),
        "(incomplete: 0 of 2 tasks)"
    );
}

#[test]
fn interrupted_run_2_of_4() {
    let tmp = TempDir::new("partial");
    let mut matrix = vec![vec![NAN; 4]; 4];
    matrix[0][0] = 0.9;
    matrix[1][..2].copy_from_slice(&[0.8, 0.9]);
    let sigma = sigma_for(2);
    let record = record(&matrix, CalibrationMatrix::new(4), sigma.clone(), &[], &[]);
    let rec = RunFiles {
        config: &json!({}),
        record: &record,
        tasks_done: 2,
        summary: &Summary::Timing(Timing::default()),
        complete: false,
    };
    write_run(&tmp.0, &rec).unwrap();
    check_files(&tmp.0);
    for name in FILES.iter().filter(|n| n.ends_with(".svg")) {
        let svg = read(&tmp.0, name);
        assert!(svg.contains("(incomplete: 2 of 4 tasks)"), "{name}");
    }
    assert!(!tmp.0.join(OOD_PLOT).exists(), "no OOD data, no OOD plot");

    let rows = csv(&tmp.0, "accuracy_matrix.csv");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.len() == 5));
    assert_eq!(rows[2], ["1", "0.800000", "0.900000", "NaN", "NaN"]);

    let m: Value = serde_json::from_str(&read(&tmp.0, "metrics.json")).unwrap();
    assert_eq!(m["complete"], false);
    assert_eq!(m["tasks_done"], 2);
    assert_eq!(m["tasks"].as_array().unwrap().len(), 2);
    assert!(close(&m["tasks"][1]["bwt"], -0.1));
    // R[1][1] == R[0][0]: the resilience is infinite, written as null.
    assert!(m["rigidity_resilience"].is_null());
}

#[test]
fn single_task_and_empty_runs() {
    let tmp = TempDir::new("single");
    for (matrix, done) in [(vec![vec![0.97]], 1), (vec![vec![NAN; 3]; 3], 0)] {
        let record = record(
            &matrix,
            CalibrationMatrix::new(matrix.len()),
            sigma_for(done),
            &[],
            &[],
        );
        let rec = RunFiles {
            config: &json!({}),
            record: &record,
            tasks_done: done,
            summary: &Summary::Timing(Timing::default()),
            complete: false,
        };
        write_run(&tmp.0, &rec).unwrap();
        check_files(&tmp.0);
    }
}

/// A 200-task record is written whole (its speed is `cargo bench --bench report`).
#[test]
fn long_stream_writes_every_row() {
    let tmp = TempDir::new("long");
    let t = 200;
    let matrix: Vec<Vec<f64>> = (0..t)
        .map(|i| {
            (0..t)
                .map(|j| if j <= i { 0.9 + 0.0004 * j as f64 } else { NAN })
                .collect()
        })
        .collect();
    let sigma = sigma_for(t);
    let record = record(&matrix, CalibrationMatrix::new(t), sigma.clone(), &[], &[]);
    let rec = RunFiles {
        config: &json!({}),
        record: &record,
        tasks_done: t,
        summary: &Summary::Timing(Timing::default()),
        complete: true,
    };
    write_run(&tmp.0, &rec).unwrap();
    write_run(&tmp.0, &rec).unwrap();
    check_files(&tmp.0);
    assert_eq!(csv(&tmp.0, "accuracy_matrix.csv").len(), t + 1);
    // A large matrix is drawn without cell values.
    assert!(!read(&tmp.0, "accuracy_matrix.svg").contains(">\n90.0\n</text>"));
    assert_eq!(csv(&tmp.0, "sigma_stats.csv").len(), 1 + 2 * t);
}

#[test]
fn error_names_the_file() {
    let tmp = TempDir::new("err");
    std::fs::write(&tmp.0, "not a folder").unwrap();
    let record = record(&[], CalibrationMatrix::new(0), Vec::new(), &[], &[]);
    let rec = RunFiles {
        config: &json!({}),
        record: &record,
        tasks_done: 0,
        summary: &Summary::Timing(Timing::default()),
        complete: false,
    };
    let err = write_run(&tmp.0, &rec).unwrap_err().to_string();
    assert!(err.contains(&tmp.0.display().to_string()), "{err}");
    let _ = std::fs::remove_file(&tmp.0);
}

#[test]
fn sigma_stats_of_a_layer() {
    let s = sigma_stats(4, 1, &[0.5, 0.25, 1.0, 0.25]);
    assert_eq!((s.task, s.layer), (4, 1));
    assert_eq!((s.mean, s.min, s.max), (0.5, 0.25, 1.0));
    assert_eq!(s.negative, 0);
    let empty = sigma_stats(0, 0, &[]);
    assert!(empty.mean.is_nan() && empty.min.is_nan() && empty.max.is_nan());
}

/// sigma's sign is free: the statistics are of the standard deviation
/// |sigma|, and the negative ones are counted.
#[test]
fn sigma_stats_of_negative_sigmas() {
    let s = sigma_stats(0, 0, &[-0.5, 0.25, -1.0, 0.25]);
    assert_eq!((s.mean, s.min, s.max), (0.5, 0.25, 1.0));
    assert_eq!(s.negative, 2);
}

#[test]
fn summary_table_rows() {
    let matrix: Vec<Vec<f64>> = (0..7)
        .map(|i| (0..7).map(|j| if j <= i { 0.9 } else { NAN }).collect())
        .collect();
    let table = summary_table(&StreamMetrics::from_matrix(&matrix), 7);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].contains("mean all") && lines[0].contains("earlier"));
    assert!(lines[0].contains("BWT"));
    // After one task there are no earlier tasks and no BWT.
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(first, ["1", "90.00", "-", "90.00", "90.00", "90.00", "-"]);
    let last: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        last,
        ["7", "90.00", "90.00", "90.00", "90.00", "90.00", "+0.00"]
    );
    assert_eq!(lines[2].split_whitespace().next(), Some("5"));
    // Checkpoint rows are not repeated when the run ends on one.
    assert_eq!(
        summary_table(&StreamMetrics::from_matrix(&matrix[..5]), 5)
            .lines()
            .count(),
        3
    );
}

#[test]
fn calibration_table_rows() {
    let mut cal = CalibrationMatrix::new(2);
    let c = |ece: f64| Calibration {
        ece,
        nll: 0.25,
        brier: 0.125,
    };
    cal.set(0, 0, c(0.02));
    cal.set(1, 1, c(0.04));
    let table = calibration_table(&cal, 2);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(table.lines().next().unwrap().contains("ECE% new"));
    // ECE in %; row 1 did not evaluate task 0, so it has no means.
    assert_eq!(
        lines[1],
        ["1", "2.00", "0.2500", "0.1250", "2.00", "0.2500", "0.1250"]
    );
    assert_eq!(lines[2], ["2", "4.00", "0.2500", "0.1250", "-", "-", "-"]);
}

/// metrics.json, which says whether a run is complete, is written after
/// every other file: a write that fails before it leaves no "complete".
#[test]
fn metrics_json_comes_last() {
    let tmp = TempDir::new("order");
    std::fs::create_dir_all(tmp.0.join("loss.svg").join("blocked")).unwrap();
    let record = record(
        &[vec![0.9]],
        CalibrationMatrix::new(1),
        sigma_for(1),
        &[],
        &[],
    );
    let rec = RunFiles {
        config: &json!({}),
        record: &record,
        tasks_done: 1,
        summary: &Summary::Timing(Timing::default()),
        complete: true,
    };
    let err = write_run(&tmp.0, &rec).unwrap_err().to_string();
    assert!(err.contains("loss.svg"), "{err}");
    assert!(
        !tmp.0.join("metrics.json").exists(),
        "metrics.json before loss.svg"
    );
}

/// Results files get the mode a file the user made gets (0666 less the
/// umask), not a temporary file's owner-only 0600.
#[cfg(unix)]
#[test]
fn results_files_are_as_readable_as_the_users_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("mesu-report-mode-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    mesu::report::write_atomic(&dir, "a.json", "{}").unwrap();
    std::fs::File::create(dir.join("plain")).unwrap();
    let mode = |f: &str| std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("a.json"), mode("plain"));
    std::fs::remove_dir_all(&dir).unwrap();
}
