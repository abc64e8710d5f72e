//! The `mesu` binary end to end on a tiny stream, and its refusals.

mod common;

use std::path::{Path, PathBuf};

use common::{backends, mesu};

/// Runs mesu, asserts that it succeeded, and returns its stdout.
fn mesu_ok(args: &[&str]) -> String {
    common::succeeded(&mesu(args))
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesu-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A tiny stream of `tasks` tasks into `dir`, plus `extra` flags.
fn tiny_stream(tasks: &str, dir: &Path, extra: &[&str]) -> std::process::Output {
    let flags = [
        "--tasks",
        tasks,
        "--train-limit",
        "200",
        "--test-limit",
        "150",
        "--test-samples",
        "4",
        "--out",
        dir.to_str().unwrap(),
    ];
    mesu(&[&flags[..], extra].concat())
}

#[test]
fn tiny_stream_writes_a_complete_results_folder() {
    let Some(ctx) = common::gpu() else { return };
    let adapter = ["--adapter", ctx.info.name.as_str()];
    // Fetched under the tests' lock, not by the run racing another test.
    common::real_dir(mesu::data::DatasetKind::Fashion);
    let dir = out_dir("tiny");
    let out = tiny_stream(
        "3",
        &dir,
        &[&adapter[..], &["--profile", "--ood", "fashion"]].concat(),
    );
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
    // Unpermuted Fashion-MNIST against the newest task, after every task.
    assert_eq!(config["ood"]["dataset"], "fashion");
    assert_eq!(config["ood"]["images"], 150);
    for task in metrics["tasks"].as_array().unwrap() {
        for kind in ["epistemic", "aleatoric", "predictive"] {
            let auc = task["ood_auroc"][kind].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&auc), "{kind} {auc}");
        }
    }
    assert!(
        stdout.contains("OOD AUROC after task 3, fashion"),
        "{stdout}"
    );
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
    // A shorter stream of the same seed is the longer one's beginning.
    let short = out_dir("tiny-short");
    assert!(tiny_stream("2", &short, &adapter).status.success());
    let short_csv = std::fs::read_to_string(short.join("accuracy_matrix.csv")).unwrap();
    for (i, line) in short_csv.lines().skip(1).enumerate() {
        assert_eq!(line.split(',').collect::<Vec<_>>(), rows[i][..3], "R[{i}]");
    }
    std::fs::remove_dir_all(&short).unwrap();
    assert!(stdout.contains("task 3/3"), "{stdout}");
    // --profile: every kernel of the step and of evaluation timed, shares summing to 1.
    let profile = std::fs::read_to_string(dir.join("profile.csv")).unwrap();
    let rows: Vec<Vec<&str>> = profile
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let kernels: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    // Batch 1: the first layer and the fused output layer draw their own
    // noise, and the output layer updates itself and gathers the next
    // step's input, so a step of 784-50-10 has three launches, plus the
    // gather on the first step of each submit.
    let train = [
        "gather_input",
        "forward_input",
        "output_layer",
        "update_input",
    ]
    .map(|k| format!("train/{k}"));
    let train_rows = kernels.iter().filter(|k| k.starts_with("train/")).count();
    assert_eq!(train_rows, train.len(), "{profile}");
    let eval = [
        "noise",
        "sample_weights",
        "row_sums",
        "forward_sparse",
        "predict",
    ]
    .into_iter()
    .map(|k| format!("eval/{k}"));
    for k in train.iter().cloned().chain(eval) {
        assert!(kernels.contains(&k.as_str()), "{k} missing from {profile}");
    }
    // The hidden-layer GEMM: tiled on GPUs, direct on CPU adapters.
    assert!(
        kernels.iter().any(|k| k.starts_with("eval/gemm")),
        "{profile}"
    );
    let calls = |k: &str| -> usize { rows.iter().find(|r| r[0] == k).unwrap()[1].parse().unwrap() };
    for k in &train[1..] {
        assert_eq!(calls(k), 600, "one {k} per training step: {profile}");
    }
    let gathers = calls("train/gather_input");
    assert!(
        (3..600).contains(&gathers),
        "a gather per submit: {profile}"
    );
    let share: f64 = rows.iter().map(|r| r[6].parse::<f64>().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-6, "{profile}");
    assert!(stdout.contains("GFLOP/s"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Nets with two hidden layers used to stop in their first steps when an
/// output-layer sigma crossed zero; sigma's sign is free (MESU_SPEC.md), so
/// they train to the end.
#[test]
fn deep_nets_train_through_sigmas_crossing_zero() {
    for (hidden, device) in ["50,50", "200,50"]
        .iter()
        .flat_map(|h| backends().into_iter().map(move |d| (*h, d)))
    {
        let dir = out_dir(&format!("deep-{hidden}"));
        let device: Vec<&str> = device.iter().map(String::as_str).collect();
        let out = tiny_stream("2", &dir, &[&["--hidden", hidden][..], &device].concat());
        assert!(
            out.status.success(),
            "{hidden}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json(&dir.join("metrics.json"))["complete"], true);
        let sigma = std::fs::read_to_string(dir.join("sigma_stats.csv")).unwrap();
        assert!(
            sigma.starts_with("task,layer,mean,min,max,negative\n"),
            "{sigma}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A net's settings for `reference_divergence`.
struct Net {
    hidden: &'static [usize],
    batch: u32,
    samples: usize,
    n: f64,
    seed: u64,
}

/// Where the f64 reference first leaves f32's range: (layer, step) of the
/// first non-finite mu or sigma, training the first task of `net` on the
/// first `images` MNIST training images.
fn reference_divergence(net: &Net, images: usize) -> Option<(usize, u32)> {
    use mesu::data::{PIXELS, task_permutation};
    use mesu::model::{Architecture, Params};
    use mesu::optim::Hyper;
    use mesu::philox::philox_key;
    use mesu::reference;
    let mut train = common::mnist().train;
    train.truncate(images);
    let arch = Architecture::new(PIXELS, net.hidden, 10, false).unwrap();
    let hyper = Hyper {
        n: net.n,
        ..Hyper::default()
    };
    let seed = net.seed;
    let init = Params::init(&arch, seed, true);
    let widen = |v: &Vec<Vec<f32>>| -> Vec<Vec<f64>> {
        v.iter()
            .map(|l| l.iter().map(|&x| f64::from(x)).collect())
            .collect()
    };
    let (mut mu, mut sigma) = (widen(&init.mu), widen(&init.sigma));
    let perm = task_permutation(seed, 0, PIXELS);
    let (mean, std) = train.pixel_mean_std();
    let (batch, samples) = (net.batch, net.samples);
    for step in 0..images as u32 / batch {
        let idx: Vec<u32> = (step * batch..(step + 1) * batch).collect();
        let x = reference::input_batch(&train.images, PIXELS, &perm, &idx, mean, std);
        let labels: Vec<u8> = idx.iter().map(|&i| train.labels[i as usize]).collect();
        let eps: Vec<_> = (0..arch.layers())
            .map(|l| {
                reference::layer_noise(philox_key(seed), step, l as u32, 0, samples, arch.params(l))
            })
            .collect();
        let out = reference::step(&arch, &hyper, &mu, &sigma, &eps, &x, &labels);
        (mu, sigma) = (out.mu, out.sigma);
        let finite = |v: &Vec<f64>| v.iter().all(|&x| (x as f32).is_finite());
        if let Some(l) = (0..arch.layers()).find(|&l| !finite(&mu[l]) || !finite(&sigma[l])) {
            return Some((l, step));
        }
    }
    None
}

/// Narrow deep nets at the paper's rates, whose sigmas used to stop them
/// at a zero crossing, really diverge a few steps later. The odd shape
/// 784-37-23-10 at batch 7 (summed loss, lr 1) crosses zero at step 0; on
/// all of MNIST the f64 reference grows |sigma| of layer 1 from 0.33 to 1870
/// by step 8 and leaves f32's range at step 11. The engine stops where the
/// reference does, the same way on every run of the seed, with run, layer
/// and step.
#[test]
fn narrow_deep_nets_diverge_deterministically_where_the_reference_does() {
    let nets = [
        Net {
            hidden: &[37, 23],
            batch: 7,
            samples: 3,
            n: 4000.0,
            seed: 7,
        },
        Net {
            hidden: &[8, 8],
            batch: 1,
            samples: 10,
            n: 300_000.0,
            seed: 0,
        },
    ];
    for (net, device) in nets
        .iter()
        .flat_map(|n| backends().into_iter().map(move |d| (n, d)))
    {
        let (layer, step) = reference_divergence(net, 200).expect("the reference diverges");
        let hidden: Vec<String> = net.hidden.iter().map(usize::to_string).collect();
        let flags = [
            "--hidden".to_string(),
            hidden.join(","),
            "--batch-size".into(),
            net.batch.to_string(),
            "--train-samples".into(),
            net.samples.to_string(),
            "--n".into(),
            net.n.to_string(),
            "--seed".into(),
            net.seed.to_string(),
        ]
        .into_iter()
        .chain(device)
        .collect::<Vec<_>>();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let runs: Vec<(String, String)> = ["a", "b"]
            .iter()
            .map(|name| {
                let dir = out_dir(&format!("narrow-{}-{name}", hidden.join("x")));
                let out = tiny_stream("2", &dir, &flags);
                assert!(!out.status.success());
                let stderr =
                    String::from_utf8_lossy(&out.stderr).replace(dir.to_str().unwrap(), "DIR");
                let left = std::fs::read_to_string(dir.join("diverged.txt")).unwrap();
                std::fs::remove_dir_all(&dir).unwrap();
                (stderr, left)
            })
            .collect();
        let expected = format!(
            "run 0 diverged: layer {layer} has a non-finite mu or sigma after training step {step};"
        );
        assert!(runs[0].0.contains(&expected), "{expected}\n{}", runs[0].0);
        assert_eq!(runs[0], runs[1]);
    }
}

/// `--eval-every 3` over 7 tasks: rows 3, 6 and 7 are full, the others
/// hold only the newest task, and the metrics come from the full rows.
#[test]
fn eval_every_fills_every_kth_row_and_the_last() {
    let dir = out_dir("eval-every");
    let out = tiny_stream(
        "7",
        &dir,
        &["--backend", "cpu", "--eval-every", "3", "--ood", "none"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(dir.join("accuracy_matrix.csv")).unwrap();
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').skip(1).map(|c| c.parse().unwrap()).collect())
        .collect();
    for (i, row) in rows.iter().enumerate() {
        let full = [2, 5, 6].contains(&i);
        for (j, v) in row.iter().enumerate() {
            let evaluated = j == i || (full && j < i);
            assert_eq!(!v.is_nan(), evaluated, "R[{i}][{j}] = {v}\n{csv}");
        }
    }
    let metrics = json(&dir.join("metrics.json"));
    let tasks = metrics["tasks"].as_array().unwrap();
    for (i, task) in tasks.iter().enumerate() {
        let full = [0, 2, 5, 6].contains(&i);
        assert_eq!(task["mean_all"].is_number(), full, "task {i}: {task}");
        assert!(task["plasticity"].is_number(), "task {i}: {task}");
        // Calibration: the newest task's always, the mean as the accuracy's.
        let cal = &task["calibration"];
        for what in ["ece", "nll", "brier"] {
            let newest = cal["newest"][what].as_f64();
            assert!(newest.is_some_and(|v| v > 0.0), "task {i}: {cal}");
            assert_eq!(cal["mean_all"][what].is_number(), full, "task {i}: {cal}");
        }
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ECE% new"),
        "no calibration table: {stdout}"
    );
    assert_eq!(json(&dir.join("config.json"))["eval_every"], 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Only a non-finite mu or sigma stops a run, with run, layer and step.
#[test]
fn a_non_finite_sigma_stops_the_run_clearly() {
    for device in backends() {
        let dir = out_dir("diverge");
        let device: Vec<&str> = device.iter().map(String::as_str).collect();
        let out = tiny_stream("1", &dir, &[&["--lr-sigma", "1e30"][..], &device].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("run 0 diverged")
                && stderr.contains("layer")
                && stderr.contains("step")
                && stderr.contains("non-finite"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The CPU backend needs no GPU driver: it names itself in the opening and
/// closing lines and in config.json, and `--profile` times its phases.
#[test]
fn the_cpu_backend_runs_names_itself_and_profiles_its_phases() {
    let dir = out_dir("cpu");
    let stdout = String::from_utf8_lossy(
        &tiny_stream(
            "2",
            &dir,
            &["--backend", "cpu", "--threads", "1", "--profile"],
        )
        .stdout,
    )
    .into_owned();
    assert!(stdout.contains("cpu ("), "{stdout}");
    assert!(stdout.contains("1 thread)"), "{stdout}");
    let config = json(&dir.join("config.json"));
    assert!(
        config["adapter"].as_str().unwrap().starts_with("cpu ("),
        "{config}"
    );
    assert_eq!(json(&dir.join("metrics.json"))["complete"], true);
    let profile = std::fs::read_to_string(dir.join("profile.csv")).unwrap();
    for phase in ["noise", "forward", "backward", "update", "evaluation"] {
        assert!(profile.contains(phase), "{phase} missing:\n{profile}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The paper's MNIST OOD experiment in small: one unpermuted task trained
/// for two epochs, permuted MNIST as the OOD set; and the run repeated from
/// its folder's config.json gives the same numbers.
#[test]
fn one_unpermuted_task_with_permuted_mnist_as_ood_repeats_from_its_config() {
    let (first, again) = (out_dir("pmnist"), out_dir("pmnist-again"));
    let extra = [
        "--backend",
        "cpu",
        "--no-permute",
        "--ood",
        "pmnist",
        "--epochs",
        "2",
    ];
    let out = tiny_stream("1", &first, &extra);
    let stdout = common::succeeded(&out);
    assert!(
        stdout.contains("under a permutation of its own"),
        "{stdout}"
    );
    let config = json(&first.join("config.json"));
    assert_eq!(config["identity"]["permute"], false);
    assert_eq!(config["identity"]["ood"], "pmnist");
    assert_eq!(config["identity"]["backend"], "cpu");
    assert_eq!(config["ood"]["permuted"], true);
    let provenance = &config["provenance"];
    assert!(provenance["command_line"].as_array().unwrap().len() > 5);
    assert!(provenance["started"].as_str().unwrap().ends_with('Z'));
    let metrics = json(&first.join("metrics.json"));
    let task = &metrics["tasks"][0];
    let auroc = task["ood_auroc"]["epistemic"].as_f64().unwrap();
    assert!(auroc > 0.5, "permuted digits look more uncertain: {auroc}");
    assert!(task["train_loss"].as_f64().unwrap() > 0.0);
    assert!(first.join("loss.svg").exists());
    // The same run from its config.json, into another folder.
    let cfg = first.join("config.json");
    let repeat = [
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ];
    mesu_ok(&repeat);
    for f in ["accuracy_matrix.csv", "sigma_stats.csv"] {
        let read = |d: &Path| std::fs::read(d.join(f)).unwrap();
        assert_eq!(read(&first), read(&again), "{f}");
    }
    assert_eq!(
        json(&again.join("metrics.json"))["tasks"][0]["ood_auroc"],
        task["ood_auroc"]
    );
    std::fs::remove_dir_all(&first).unwrap();
    std::fs::remove_dir_all(&again).unwrap();
}

/// `mesu info` probes every GPU backend (GL included, whose EGL probe can
/// complain without a session's XDG_RUNTIME_DIR): stderr stays clean.
#[test]
fn info_lists_devices_with_a_clean_stderr() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesu"))
        .arg("info")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("run mesu info");
    let stdout = common::succeeded(&out);
    assert!(
        stdout.contains("[cpu]") && stdout.contains("selected:"),
        "{stdout}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "stderr of mesu info"
    );
}

#[test]
fn bad_flags_fail_clearly_without_a_results_folder() {
    let cases: [(&[&str], &str); 20] = [
        (&["--n", "inf"], "must be finite"),
        (&["--hidden", "400x400"], "comma-separated"),
        (&["--ood", "mnist"], "--ood pmnist"),
        (&["--ood", "mnist", "--no-permute"], "own mnist test set"),
        (&["sweep", "--config", "x.json"], "--config"),
        (&["--resume", "/nonexistent"], "not a results folder"),
        (
            &["--resume", "/tmp", "--config", "x.json"],
            "cannot be used with",
        ),
        (
            &["--batch-size", "300", "--train-limit", "200"],
            "lower --batch-size",
        ),
        (&["sweep", "--seeds", "0"], "--seeds must be at least 1"),
        (&["--tasks", "0"], "--tasks"),
        (&["--hidden", "50,0"], "--hidden"),
        (&["--n=-5"], "--n"),
        (&["--sigma-prior=-1"], "--sigma-prior"),
        (&["--optimizer", "adam"], "unknown optimizer"),
        (&["--data-dir", "/nonexistent/mnist"], "/nonexistent/mnist"),
        (&["--batch-size", "0"], "--batch-size"),
        (
            &["--ewc-lambda", "3"],
            "--ewc-lambda is a setting of online-ewc and stream-ewc; --optimizer mesu does not use it",
        ),
        (
            &["--optimizer", "online-ewc", "--si-c", "1"],
            "--si-c is a setting of si",
        ),
        (
            &["--optimizer", "si", "--si-xi", "0"],
            "--si-xi must be positive",
        ),
        (
            &["sweep", "--optimizer", "mesu,sgd", "--ewc-gamma", "0.5"],
            "no --optimizer of this sweep uses it",
        ),
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

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn sweep_runs_groups_resumes_and_summarises() {
    let Some(_) = common::gpu() else { return };
    let dir = out_dir("sweep");
    let grid = [
        "sweep",
        "--hidden",
        "8,16",
        "--n",
        "300000,1e15",
        "--seeds",
        "2",
        "--tasks",
        "2",
        "--train-limit",
        "300",
        "--test-limit",
        "200",
        "--test-samples",
        "4",
        "--out",
        dir.to_str().unwrap(),
    ];
    let stdout = mesu_ok(&grid);
    assert!(stdout.contains("8 runs in 2 groups"), "{stdout}");
    // Every run has its own complete results folder.
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs")).unwrap().collect();
    assert_eq!(runs.len(), 8);
    for run in runs {
        let run = run.unwrap().path();
        for f in mesu::report::FILES {
            assert!(run.join(f).is_file(), "{f} missing in {}", run.display());
        }
        assert_eq!(json(&run.join("metrics.json"))["complete"], true);
        assert_eq!(json(&run.join("metrics.json"))["summary"]["group_runs"], 4);
    }
    // summary.csv: a row per run with its settings and headline figures.
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 8, "{csv}");
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for row in &rows {
        assert_eq!(row.len(), header.len());
        let acc: f64 = row[col("mean_last5")].parse().unwrap();
        assert!((0.0..=100.0).contains(&acc), "{csv}");
        assert!(row[col("steps_per_s")].parse::<f64>().unwrap() > 0.0);
    }
    let summary = json(&dir.join("summary.json"));
    let over_seeds = summary["over_seeds"].as_array().unwrap();
    assert_eq!(over_seeds.len(), 4, "two widths x two N");
    assert!(over_seeds.iter().all(|a| a["seeds"] == 2));
    for plot in ["last5_vs_n.svg", "throughput_vs_width.svg", "sweep.json"] {
        assert!(dir.join(plot).is_file(), "{plot} missing");
    }
    // The same command again skips every complete run; one removed run is redone.
    let victim = dir
        .join("runs")
        .join("h8-mesu-N1e15-sp1-mp0-lr1_1-cg0-B1-E1-K10_4-seed1");
    std::fs::remove_file(victim.join("metrics.json")).unwrap();
    let stdout = mesu_ok(&grid);
    assert!(stdout.contains("group 0: 1 runs"), "{stdout}");
    assert!(stdout.contains("3 already complete"), "{stdout}");
    assert!(
        stdout.contains("group 1: all 4 runs already complete"),
        "{stdout}"
    );
    assert_eq!(json(&victim.join("metrics.json"))["complete"], true);
    // --collect rebuilds the summary from the folders alone.
    std::fs::remove_file(dir.join("summary.csv")).unwrap();
    let stdout = mesu_ok(&["sweep", "--collect", dir.to_str().unwrap()]);
    assert!(stdout.contains("8 of 8 runs complete"), "{stdout}");
    assert!(dir.join("summary.csv").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sweep_plans_without_running() {
    let dir = out_dir("sweep-plan");
    let grid_file = std::env::temp_dir().join(format!("mesu-grid-{}.json", std::process::id()));
    std::fs::write(
        &grid_file,
        r#"{"hidden": [50, [20, 20]], "n": [180000, 1e15], "seeds": 3, "optimizer": "mesu"}"#,
    )
    .unwrap();
    let base = [
        "sweep",
        "--grid",
        grid_file.to_str().unwrap(),
        "--max-group",
        "4",
        "--out",
        dir.to_str().unwrap(),
    ];
    let stdout = mesu_ok(&[&base[..], &["--dry-run"]].concat());
    // 2 widths x 2 N x 3 seeds; 6 runs per shape at most 4 per group: 3 + 3.
    assert!(stdout.contains("12 runs in 4 groups"), "{stdout}");
    assert!(
        stdout.contains("group 3: 3 runs of 784-20-20-10"),
        "{stdout}"
    );
    assert!(stdout.contains("MiB"), "{stdout}");
    assert!(stdout.contains("h20x20-mesu-N1.8e5") || stdout.contains("h20x20-mesu-N180000"));
    let jobs = std::env::temp_dir().join(format!("mesu-jobs-{}.txt", std::process::id()));
    mesu_ok(&[&base[..], &["--emit-jobs", jobs.to_str().unwrap()]].concat());
    let lines: Vec<String> = std::fs::read_to_string(&jobs)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 4);
    for (g, line) in lines.iter().enumerate() {
        assert!(line.ends_with(&format!("--only-group {g}")), "{line}");
        assert!(
            line.contains(" sweep --grid ") && line.contains("--out "),
            "{line}"
        );
        assert!(!line.contains("--emit-jobs"), "{line}");
    }
    assert!(!dir.exists(), "planning must not create the sweep folder");
    let _ = std::fs::remove_file(&jobs);

    let bad_file = std::env::temp_dir().join(format!("mesu-badgrid-{}.json", std::process::id()));
    std::fs::write(&bad_file, r#"{"widths": [50]}"#).unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["sweep", "--max-group", "0", "--dry-run"], "--max-group"),
        (
            &["sweep", "--grid", bad_file.to_str().unwrap(), "--dry-run"],
            "unknown key",
        ),
        (&["sweep", "--hidden", "50,0", "--dry-run"], "at least 1"),
        (
            &["sweep", "--collect", "/nonexistent/sweep"],
            "/nonexistent/sweep",
        ),
    ];
    for (args, needle) in cases {
        let out = mesu(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    }
    let _ = std::fs::remove_file(&grid_file);
    let _ = std::fs::remove_file(&bad_file);
}

#[test]
fn sweep_splits_a_group_too_big_for_the_device() {
    let Some(ctx) = common::gpu() else { return };
    let dir = out_dir("sweep-split");
    let stdout = mesu_ok(&[
        "sweep",
        "--adapter",
        ctx.info.name.as_str(),
        "--hidden",
        "1024",
        "--seeds",
        "5",
        "--tasks",
        "1",
        "--train-limit",
        "2",
        "--test-limit",
        "8",
        "--out",
        dir.to_str().unwrap(),
    ]);
    // Five runs' noise for the 784 -> 1024 layer: 5 x 10 samples x 802816 floats.
    let noise_bytes = 5 * 10 * 802_816 * 4;
    let limit = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    if noise_bytes > limit {
        assert!(stdout.contains("do not fit one batch"), "{stdout}");
    }
    assert!(stdout.contains("5 of 5 runs complete"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}
