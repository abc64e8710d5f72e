//! Sweeps: grid expansion, group planning, and the acceptance property that
//! a batched group gives each run exactly the results of the run alone.

mod common;

use mesu::config::{Ood, RunIdentity, RunSettings, SettingValue, Shared};
use mesu::data::{Dataset, DatasetKind};
use mesu::launch::stream_run;
use mesu::optim::Optimizer;
use mesu::report::run_group;
use mesu::stream::Observer;
use mesu::sweep::{Grid, GroupLimits, plan_groups};

fn widths(nets: &[&[usize]]) -> Vec<SettingValue> {
    nets.iter()
        .map(|w| SettingValue::Widths(w.to_vec()))
        .collect()
}

fn optimizers(o: &[Optimizer]) -> Vec<SettingValue> {
    o.iter().map(|&o| SettingValue::Optimizer(o)).collect()
}

fn reals(x: &[f64]) -> Vec<SettingValue> {
    x.iter().map(|&x| SettingValue::Real(x)).collect()
}

fn seeds(s: std::ops::Range<u64>) -> Vec<SettingValue> {
    s.map(SettingValue::Seed).collect()
}

#[test]
fn grid_expands_every_combination_with_the_optimizer_defaults() {
    let grid = Grid::default()
        .with("hidden", widths(&[&[50], &[400, 400]]))
        .with("optimizer", optimizers(&[Optimizer::Mesu, Optimizer::Sgd]))
        .with("n", reals(&[3e5, 1e15]))
        .with("seed", seeds(0..3));
    let runs = grid.expand();
    assert_eq!(runs.len(), 2 * 2 * 2 * 3);
    // Architecture outermost, seed innermost.
    assert_eq!(runs[0].hidden, [50]);
    assert_eq!(runs[11].hidden, [50]);
    assert_eq!(runs[12].hidden, [400, 400]);
    assert_eq!(
        runs[..3].iter().map(|r| r.seed).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let sgd = runs
        .iter()
        .find(|r| r.hyper.optimizer == Optimizer::Sgd)
        .unwrap();
    assert_eq!(
        (sgd.hyper.lr_mu, sgd.train_samples, sgd.test_samples),
        (0.002, 1, 1)
    );
    let mesu = &runs[0];
    assert_eq!((mesu.hyper.lr_mu, mesu.train_samples), (1.0, 10));
    // An empty grid is the paper's protocol, once.
    assert_eq!(
        Grid::default().expand(),
        [RunSettings::paper(Optimizer::Mesu)]
    );
    // Names spell every setting, so they are distinct.
    let mut names: Vec<_> = runs.iter().map(RunSettings::name).collect();
    names.dedup();
    assert_eq!(names.len(), runs.len());
    assert_eq!(
        runs[12].name(),
        "h400x400-mesu-N300000-sp1-mp0-lr1_1-cg0-B1-E1-K10_10-seed0"
    );
}

/// A penalty list multiplies only the runs whose optimizer uses it; the
/// baselines' settings spell themselves in the names, MESU's names are as
/// before.
#[test]
fn penalty_lists_apply_to_their_optimizers_only() {
    use mesu::optim::PenaltyHyper;
    let grid = Grid::default()
        .with(
            "optimizer",
            optimizers(&[Optimizer::Mesu, Optimizer::OnlineEwc, Optimizer::Si]),
        )
        .with("ewc_lambda", reals(&[1.0, 2.0]))
        .with("si_c", reals(&[1e-4]));
    grid.check_penalty_lists().unwrap();
    let runs = grid.expand();
    let names: Vec<_> = runs.iter().map(RunSettings::name).collect();
    assert_eq!(
        names,
        [
            "h50-mesu-N300000-sp1-mp0-lr1_1-cg0-B1-E1-K10_10-seed0",
            "h50-online-ewc-lam1_g0.2-N300000-sp1-mp0-lr0.002_1-cg0-B1-E1-K1_1-seed0",
            "h50-online-ewc-lam2_g0.2-N300000-sp1-mp0-lr0.002_1-cg0-B1-E1-K1_1-seed0",
            "h50-si-c0.0001_xi1-N300000-sp1-mp0-lr0.002_1-cg0-B1-E1-K1_1-seed0",
        ]
    );
    assert_eq!(
        runs[3].hyper.penalty,
        Some(PenaltyHyper::Si { c: 1e-4, xi: 1.0 })
    );
    let unused = Grid::default()
        .with("optimizer", optimizers(&[Optimizer::StreamEwc]))
        .with("si_xi", reals(&[2.0]));
    let err = unused.check_penalty_lists().unwrap_err().to_string();
    assert!(err.contains("--si-xi is a setting of si"), "{err}");
}

/// A group with an EWC or SI run keeps a penalty state (a vec4 per weight)
/// for each of its runs: the plan counts it.
#[test]
fn penalised_groups_plan_their_penalty_state() {
    let limits = GroupLimits {
        max_runs: 8,
        budget_bytes: 1 << 30,
    };
    let bytes = |optimizer| {
        let runs = Grid::default()
            .with("optimizer", optimizers(&[optimizer]))
            .expand();
        plan_groups(&runs, &common::shared(2), limits).unwrap()[0].bytes
    };
    let weights = (784 * 50 + 50 * 10) as u64;
    assert_eq!(
        bytes(Optimizer::OnlineEwc),
        bytes(Optimizer::Sgd) + 16 * weights
    );
    assert_eq!(bytes(Optimizer::Si), bytes(Optimizer::Sgd) + 16 * weights);
}

#[test]
fn groups_share_a_shape_and_split_evenly_under_the_limits() {
    let grid = Grid::default()
        .with("hidden", widths(&[&[50], &[256]]))
        .with("optimizer", optimizers(&[Optimizer::Mesu, Optimizer::Sgd]))
        .with("seed", seeds(0..5));
    let runs = grid.expand();
    let plan = |max_runs, mib: u64| {
        plan_groups(
            &runs,
            &common::shared(10),
            GroupLimits {
                max_runs,
                budget_bytes: mib << 20,
            },
        )
    };
    // Four shapes: (50, K 10), (50, K 1), (256, K 10), (256, K 1).
    let groups = plan(32, 4096).unwrap();
    assert_eq!(groups.len(), 4);
    for g in &groups {
        assert_eq!(g.runs.len(), 5);
        assert!(g.runs.iter().all(|&i| runs[i].shape() == g.shape));
    }
    // At most 3 per group: 5 runs become 3 + 2... evenly: 3 + 2.
    let groups = plan(3, 4096).unwrap();
    assert_eq!(groups.len(), 8);
    assert!(groups.iter().all(|g| (2..=3).contains(&g.runs.len())));
    // Every run exactly once.
    let mut all: Vec<usize> = groups.iter().flat_map(|g| g.runs.clone()).collect();
    all.sort();
    assert_eq!(all, (0..runs.len()).collect::<Vec<_>>());
    // A budget below one run is a clear error.
    let err = plan(32, 1).unwrap_err().to_string();
    assert!(err.contains("--group-memory-mib"), "{err}");
}

struct Quiet;
impl Observer for Quiet {}

#[test]
fn a_batched_group_gives_each_run_its_results_alone() {
    for device in common::devices() {
        batched_group_gives_each_run_its_results_alone(&device);
    }
}

fn batched_group_gives_each_run_its_results_alone(device: &mesu::backend::Device) {
    let mut data = common::mnist();
    data.train.truncate(120);
    data.test.truncate(64);
    // MNIST's first 64 training images stand in as the OOD set.
    let mut ood = data.train.clone();
    ood.truncate(64);
    let data = Dataset {
        ood: Some((DatasetKind::Mnist, ood)),
        ..data
    };
    let shared = Shared {
        train_limit: Some(120),
        test_limit: Some(64),
        ..common::shared(2)
    };
    let run = |seed, optimizer, n| RunSettings {
        hidden: vec![50],
        train_samples: 10,
        test_samples: 4,
        seed,
        hyper: mesu::optim::Hyper {
            n,
            ..RunSettings::paper(optimizer).hyper
        },
        ..RunSettings::paper(Optimizer::Mesu)
    };
    let mut wild = run(4, Optimizer::Mesu, 3e5);
    wild.hyper.lr_sigma = 1e4;
    let runs = [
        run(1, Optimizer::Mesu, 3e5),
        run(2, Optimizer::Mesu, 30_000.0),
        run(3, Optimizer::Bgd, 1e15),
        wild,
    ];
    let cfg = mesu::launch::stream_config(&runs[0].shape(), &shared).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "mesu-group-{}-{}",
        device.kind(),
        std::process::id()
    ));
    let members = |idx: &[usize], tag: &str| -> Vec<_> {
        idx.iter()
            .map(|&i| {
                stream_run(
                    &runs[i],
                    &shared,
                    "test",
                    &data,
                    dir.join(format!("{tag}{i}")),
                )
            })
            .collect()
    };
    // The fourth run diverges; the others go on undisturbed.
    let group = run_group(
        device,
        &data,
        &cfg,
        &members(&[0, 1, 2, 3], "group"),
        None,
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(group.runs.len(), 4);
    let msg = group.runs[3].diverged.as_deref().expect("run 3 diverges");
    assert!(msg.contains("sigma"), "{msg}");
    let left = std::fs::read_to_string(dir.join("group3/diverged.txt")).unwrap();
    assert!(left.contains("diverged"), "{left}");
    let metrics = std::fs::read_to_string(dir.join("group3/metrics.json")).unwrap();
    assert!(metrics.contains("\"complete\": false"), "{metrics}");
    for i in 0..3 {
        let alone = run_group(
            device,
            &data,
            &cfg,
            &members(&[i], "alone"),
            None,
            &mut Quiet,
        )
        .unwrap();
        let (g, a) = (&group.runs[i], &alone.runs[0]);
        assert!(g.diverged.is_none() && a.diverged.is_none());
        assert_eq!(g.matrix.len(), 2);
        // Bitwise equal, NaN (not evaluated) cells included.
        let bits =
            |m: &Vec<Vec<f64>>| -> Vec<u64> { m.iter().flatten().map(|x| x.to_bits()).collect() };
        assert_eq!(bits(&g.matrix), bits(&a.matrix), "run {i}: accuracy matrix");
        let sig = |s: &[mesu::stream::SigmaStat]| -> Vec<f64> {
            s.iter().flat_map(|s| [s.mean, s.min, s.max]).collect()
        };
        assert_eq!(sig(&g.sigma), sig(&a.sigma), "run {i}: sigma statistics");
        assert_eq!(g.ood.len(), 2, "an OOD AUROC after every task");
        assert_eq!(g.ood, a.ood, "run {i}: OOD AUROC");
    }
    assert_ne!(group.runs[0].sigma[0].mean, group.runs[1].sigma[0].mean);
    std::fs::remove_dir_all(&dir).ok();
}

/// A finished run folder with the given accuracy matrix, as a sweep writes it.
fn fake_run(dir: &std::path::Path, run: &RunSettings, shared: &Shared, matrix: &[Vec<f64>]) {
    let mut config = serde_json::json!({ "tasks": shared.tasks });
    config["identity"] = RunIdentity::new(run, shared).to_json();
    let summary = mesu::report::Summary::Timing(mesu::stream::Timing {
        wall_s: 10.0,
        steps_per_s: 100.0,
        group_runs: 2,
        ..Default::default()
    });
    // ECE, NLL and Brier of each evaluation: accuracy / 10, 2 and 3 times that.
    let mut calibration = mesu::metrics::CalibrationMatrix::new(matrix.len());
    for (i, row) in matrix.iter().enumerate() {
        for (j, &a) in row.iter().enumerate().filter(|(_, a)| !a.is_nan()) {
            let ece = a / 10.0;
            let c = mesu::metrics::Calibration {
                ece,
                nll: 2.0 * ece,
                brier: 3.0 * ece,
            };
            calibration.set(i, j, c);
        }
    }
    mesu::report::write_run(
        &dir.join("runs").join(run.name()),
        &mesu::report::RunFiles {
            config: &config,
            record: &mesu::stream::RunRecord {
                matrix: matrix.to_vec(),
                calibration,
                ..mesu::stream::RunRecord::new(matrix.len())
            },
            tasks_done: matrix.len(),
            summary: &summary,
            complete: true,
        },
    )
    .unwrap();
}

#[test]
fn summary_averages_over_seeds_from_the_folders_alone() {
    let dir = std::env::temp_dir().join(format!("mesu-summary-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let shared = common::shared(2);
    let nan = f64::NAN;
    let run = |seed, n| {
        let mut r = RunSettings::paper(Optimizer::Mesu);
        r.seed = seed;
        r.hyper.n = n;
        r
    };
    // Two seeds at N = 3e5: mean over all seen after task 2 is 0.75 and 0.85.
    fake_run(
        &dir,
        &run(0, 3e5),
        &shared,
        &[vec![0.9, nan], vec![0.6, 0.9]],
    );
    fake_run(
        &dir,
        &run(1, 3e5),
        &shared,
        &[vec![0.9, nan], vec![0.8, 0.9]],
    );
    fake_run(
        &dir,
        &run(0, 1e15),
        &shared,
        &[vec![0.5, nan], vec![0.5, 0.7]],
    );
    let rows = mesu::sweep::collect(&dir).unwrap();
    assert_eq!(rows.len(), 3);
    let agg = mesu::sweep::aggregate(&rows);
    assert_eq!(agg.len(), 2);
    // Numeric order of N: 3e5 before 1e15.
    assert_eq!((agg[0].n, agg[0].seeds), (3e5, 2));
    let (mean, std) = agg[0].mean_all;
    assert!((mean - 80.0).abs() < 1e-9, "{mean}");
    // Sample standard deviation of 75 and 85.
    assert!((std - 50f64.sqrt()).abs() < 1e-9, "{std}");
    assert!((agg[0].plasticity.0 - 90.0).abs() < 1e-9);
    // Calibration after the last task (fractions): over seen tasks 0.075 and
    // 0.085, the newest 0.09 for both seeds.
    let (ece, ece_sd) = agg[0].ece_all;
    assert!((ece - 0.08).abs() < 1e-12 && (ece_sd - 50f64.sqrt() / 1000.0).abs() < 1e-12);
    assert!((agg[0].nll_all.0 - 0.16).abs() < 1e-12);
    assert!((agg[0].brier_newest.0 - 0.27).abs() < 1e-12 && agg[0].brier_newest.1.abs() < 1e-12);
    assert_eq!(agg[1].seeds, 1);
    assert!(agg[1].mean_all.1.is_nan(), "one seed has no spread");
    mesu::sweep::write_summary(&dir, &rows).unwrap();
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("group_runs,ece_all,nll_all,brier_all,ece_newest,nll_newest,brier_newest")
    );
    assert!(dir.join("last5_vs_n.svg").is_file() && dir.join("throughput_vs_width.svg").is_file());
    // N's ticks are the sweep's own values, and the spread over seeds is shown.
    let svg = std::fs::read_to_string(dir.join("last5_vs_n.svg")).unwrap();
    for text in ["\n3e5\n", "\n1e15\n", "mean and sd over seeds"] {
        assert!(svg.contains(text), "{text:?}");
    }
    // With one N, that N is still labelled.
    let one: Vec<_> = rows.iter().filter(|r| r.hyper.n == 3e5).cloned().collect();
    mesu::sweep::write_summary(&dir, &one).unwrap();
    let svg = std::fs::read_to_string(dir.join("last5_vs_n.svg")).unwrap();
    assert!(svg.contains("\n3e5\n"), "one N, no tick");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs scored with and without OOD are different runs: a resumed sweep
/// must not take one for the other, nor put them in one folder.
#[test]
fn the_ood_setting_is_part_of_a_runs_identity() {
    let run = RunSettings::paper(Optimizer::Mesu);
    let off = common::shared(2);
    let auto = Shared {
        ood: Ood::Auto,
        ..common::shared(2)
    };
    assert_ne!(RunIdentity::new(&run, &off), RunIdentity::new(&run, &auto));
    let runs = [run];
    assert_ne!(
        mesu::sweep::sweep_id(&runs, &off),
        mesu::sweep::sweep_id(&runs, &auto)
    );
}
