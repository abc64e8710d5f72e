//! The `mesu` binary end to end on a tiny stream, and its refusals.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn mesu(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mesu"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run mesu")
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesu-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn tiny_stream_writes_a_complete_results_folder() {
    let Some(_) = common::gpu() else { return };
    let dir = out_dir("tiny");
    let out = mesu(&[
        "--tasks",
        "3",
        "--train-limit",
        "200",
        "--test-limit",
        "150",
        "--test-samples",
        "4",
        "--profile",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in mesu::report::FILES {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["tasks"], 3);
    assert_eq!(config["hyper"]["n"], 300000.0);
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["complete"], true);
    assert_eq!(metrics["tasks"].as_array().unwrap().len(), 3);
    let csv = std::fs::read_to_string(dir.join("accuracy_matrix.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 3, "{csv}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 4, "task column + 3 tasks: {csv}");
        for (j, cell) in row[1..].iter().enumerate() {
            let v: f64 = cell.parse().unwrap();
            assert_eq!(v.is_nan(), j > i, "R[{i}][{j}] = {cell}");
            assert!(v.is_nan() || (0.0..=1.0).contains(&v));
        }
    }
    let sigma = std::fs::read_to_string(dir.join("sigma_stats.csv")).unwrap();
    assert_eq!(sigma.lines().count(), 1 + 3 * 2, "{sigma}");
    assert!(stdout.contains("task 3/3"), "{stdout}");
    // --profile: every kernel of the step and of evaluation timed, shares summing to 1.
    let profile = std::fs::read_to_string(dir.join("profile.csv")).unwrap();
    let rows: Vec<Vec<&str>> = profile
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let kernels: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    let train = [
        "noise",
        "gather_input",
        "forward_input",
        "forward_hidden",
        "loss_grad",
    ]
    .into_iter()
    .chain(["backward", "update_input", "update_hidden"])
    .map(|k| format!("train/{k}"));
    let eval = [
        "noise",
        "sample_weights",
        "row_sums",
        "forward_sparse",
        "predict",
    ]
    .into_iter()
    .map(|k| format!("eval/{k}"));
    for k in train.chain(eval) {
        assert!(kernels.contains(&k.as_str()), "{k} missing from {profile}");
    }
    // The hidden-layer GEMM: tiled on GPUs, direct on CPU adapters.
    assert!(
        kernels.iter().any(|k| k.starts_with("eval/gemm")),
        "{profile}"
    );
    let steps = rows.iter().find(|r| r[0] == "train/loss_grad").unwrap()[1];
    assert_eq!(steps, "600", "one loss_grad per training step: {profile}");
    let share: f64 = rows.iter().map(|r| r[6].parse::<f64>().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-6, "{profile}");
    assert!(stdout.contains("GFLOP/s"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_flags_fail_clearly_without_a_results_folder() {
    let cases: [(&[&str], &str); 7] = [
        (&["--tasks", "0"], "--tasks"),
        (&["--hidden", "50,0"], "--hidden"),
        (&["--n=-5"], "--n"),
        (&["--sigma-prior=-1"], "--sigma-prior"),
        (&["--optimizer", "adam"], "unknown optimizer"),
        (&["--data-dir", "/nonexistent/mnist"], "/nonexistent/mnist"),
        (&["--batch-size", "0"], "--batch-size"),
    ];
    for (i, (args, needle)) in cases.iter().enumerate() {
        let dir = out_dir(&format!("bad{i}"));
        let mut all = args.to_vec();
        all.extend(["--out", dir.to_str().unwrap()]);
        let out = mesu(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(!dir.exists(), "{args:?} left a results folder");
    }
}
