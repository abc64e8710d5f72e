//! The Hessian check: the f64 reference's Hessian diagonal against finite
//! differences of the loss, its Fisher against finite-difference
//! per-example gradients, the fast whole-dataset pass against the
//! reference (the same bits at any thread count), the agreement
//! statistics, and `mesu hessian` end to end.

mod common;

use mesu::config::RunSettings;
use mesu::hessian::stats::{pearson, quantile, ranks};
use mesu::hessian::{Agreement, curvature, estimate};
use mesu::model::Architecture;
use mesu::optim::Optimizer;
use mesu::reference;
use rand::{Rng, SeedableRng, rngs::StdRng};

use common::{backends, mesu};

/// Random weights of `arch`, inputs [n][n_in] and labels.
fn problem(arch: &Architecture, n: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let w = (0..arch.layers())
        .map(|l| {
            (0..arch.params(l))
                .map(|_| rng.random_range(-0.8..0.8))
                .collect()
        })
        .collect();
    let x = (0..n * arch.n_in(0))
        .map(|_| rng.random_range(-1.5..1.5))
        .collect();
    let classes = arch.n_out(arch.layers() - 1) as u8;
    let labels = (0..n).map(|_| rng.random_range(0..classes)).collect();
    (w, x, labels)
}

/// The mean loss per example at deterministic weights `w`.
fn mean_loss(arch: &Architecture, w: &[Vec<f64>], x: &[f64], labels: &[u8]) -> f64 {
    let zeros: Vec<Vec<f64>> = w.iter().map(|l| vec![0.0; l.len()]).collect();
    let eps: Vec<Vec<Vec<f64>>> = zeros.iter().map(|z| vec![z.clone()]).collect();
    reference::loss(arch, w, &zeros, &eps, x, labels) / labels.len() as f64
}

/// `f` at `w` with weight (l, e) moved by `by`.
fn moved<T>(w: &[Vec<f64>], (l, e): (usize, usize), by: f64, f: impl Fn(&[Vec<f64>]) -> T) -> T {
    let mut w = w.to_vec();
    w[l][e] += by;
    f(&w)
}

/// max |a - b| over max |b|, per layer, the worst layer.
fn worst_rel_err(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            let scale = b.iter().fold(0f64, |m, v| m.max(v.abs()));
            let diff = a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs()));
            diff / scale
        })
        .fold(0.0, f64::max)
}

fn nets() -> [Architecture; 2] {
    [
        Architecture::new(6, &[5, 4], 3, true).unwrap(),
        Architecture::new(7, &[6], 4, false).unwrap(),
    ]
}

#[test]
fn reference_hessian_diagonal_matches_finite_differences_of_the_loss() {
    let h = 1e-4;
    for (k, arch) in nets().iter().enumerate() {
        let (w, x, labels) = problem(arch, 9, 10 + k as u64);
        let loss = |w: &[Vec<f64>]| mean_loss(arch, w, &x, &labels);
        let at = loss(&w);
        let fd: Vec<Vec<f64>> = (0..arch.layers())
            .map(|l| {
                (0..arch.params(l))
                    .map(|e| {
                        (moved(&w, (l, e), h, loss) - 2.0 * at + moved(&w, (l, e), -h, loss))
                            / (h * h)
                    })
                    .collect()
            })
            .collect();
        let exact = reference::curvature(arch, &w, &x, &labels).hessian;
        let err = worst_rel_err(&exact, &fd);
        assert!(
            err < 1e-5,
            "{}: Hessian diagonal off finite differences by {err:e}",
            arch.describe()
        );
        assert!(
            exact.iter().flatten().all(|&v| v >= 0.0),
            "a diagonal entry is negative"
        );
    }
}

#[test]
fn reference_fisher_matches_finite_difference_gradients_per_example() {
    let h = 1e-5;
    for (k, arch) in nets().iter().enumerate() {
        let (w, x, labels) = problem(arch, 7, 20 + k as u64);
        let n_in = arch.n_in(0);
        let mut fisher: Vec<Vec<f64>> = (0..arch.layers())
            .map(|l| vec![0.0; arch.params(l)])
            .collect();
        for (b, y) in labels.iter().enumerate() {
            let loss = |w: &[Vec<f64>]| mean_loss(arch, w, &x[b * n_in..(b + 1) * n_in], &[*y]);
            for (l, layer) in fisher.iter_mut().enumerate() {
                for (e, f) in layer.iter_mut().enumerate() {
                    let g = (moved(&w, (l, e), h, loss) - moved(&w, (l, e), -h, loss)) / (2.0 * h);
                    *f += g * g / labels.len() as f64;
                }
            }
        }
        let exact = reference::curvature(arch, &w, &x, &labels).fisher;
        let err = worst_rel_err(&exact, &fisher);
        assert!(
            err < 1e-7,
            "{}: Fisher off finite differences by {err:e}",
            arch.describe()
        );
    }
}

#[test]
fn the_whole_dataset_pass_matches_the_reference() {
    // 300 examples: two full chunks of the fast pass and a partial one.
    let n = 300;
    for (k, arch) in [
        Architecture::new(13, &[7, 5], 4, true).unwrap(),
        Architecture::new(11, &[9], 3, false).unwrap(),
    ]
    .iter()
    .enumerate()
    {
        let (w, _, labels) = problem(arch, n, 30 + k as u64);
        let mut rng = StdRng::seed_from_u64(40 + k as u64);
        let images: Vec<u8> = (0..n * arch.n_in(0)).map(|_| rng.random()).collect();
        let (mean, std) = (0.3, 0.4);
        let identity: Vec<u32> = (0..arch.n_in(0) as u32).collect();
        let all: Vec<u32> = (0..n as u32).collect();
        let x = reference::input_batch(&images, arch.n_in(0), &identity, &all, mean, std);
        let slow = reference::curvature(arch, &w, &x, &labels);
        let on = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads);
            let pool = pool.build().expect("thread pool");
            pool.install(|| curvature(arch, &w, &images, &labels, (mean, std)))
        };
        let (fast, three) = (on(1), on(3));
        assert!(
            fast.hessian == three.hessian && fast.fisher == three.fisher,
            "{}: 1 and 3 threads differ",
            arch.describe()
        );
        let (eh, ef) = (
            worst_rel_err(&fast.hessian, &slow.hessian),
            worst_rel_err(&fast.fisher, &slow.fisher),
        );
        assert!(
            eh < 1e-12 && ef < 1e-12,
            "{}: Hessian {eh:e}, Fisher {ef:e}",
            arch.describe()
        );
    }
}

#[test]
fn agreement_statistics_are_the_textbook_ones() {
    assert_eq!(ranks(&[3.0, 1.0, 2.0, 2.0]), [4.0, 1.0, 2.5, 2.5]);
    assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-15);
    assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-15);
    assert!(pearson(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
    // numpy.quantile's default (linear).
    let sorted = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(quantile(&sorted, 0.25), 1.75);
    assert_eq!(quantile(&sorted, 0.5), 2.5);
    assert_eq!(quantile(&sorted, 1.0), 4.0);
    // Pairs with a non-positive side are left out; the rest: estimate =
    // 10 * target^2, so log10 is linear and the ranks agree.
    let target = [1.0, 10.0, 100.0, 0.0, 5.0];
    let est = [10.0, 1000.0, 1e5, 3.0, -1.0];
    let a = Agreement::new(&est, &target);
    assert_eq!(a.count, 3);
    assert!((a.pearson_log10 - 1.0).abs() < 1e-12 && (a.spearman - 1.0).abs() < 1e-12);
    assert_eq!(
        (a.ratio_q1, a.ratio_median, a.ratio_q3),
        (55.0, 100.0, 550.0)
    );
}

#[test]
fn mesu_estimate_is_the_excess_precision_over_n_per_example() {
    let mut s = RunSettings::paper(Optimizer::Mesu);
    (s.hyper.n, s.hyper.sigma_prior, s.batch_size) = (2.0, 1.0, 1);
    assert_eq!(estimate(&s, &[0.5, 1.0, -0.5]), [1.5, 0.0, 1.5]);
    // A step's loss sums B examples: the estimate is per example.
    s.batch_size = 3;
    assert_eq!(estimate(&s, &[0.5]), [0.5]);
}

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

#[test]
fn mesu_hessian_writes_its_folder_and_refuses_what_does_not_apply() {
    common::real_dir(mesu::data::DatasetKind::Mnist);
    for (k, device) in backends().iter().enumerate() {
        let dir = std::env::temp_dir().join(format!("mesu-hessian-{k}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.to_str().unwrap();
        let flags = [
            "hessian",
            "--train-limit",
            "120",
            "--hidden",
            "6",
            "--train-samples",
            "2",
        ];
        let run = |extra: &[&str]| {
            let device: Vec<&str> = device.iter().map(String::as_str).collect();
            mesu(&[&flags[..], &["--out", out], &device, extra].concat())
        };
        let stdout = common::succeeded(&run(&["--at", "30,1.5e2", "--weights", "20", "--bias"]));
        assert!(stdout.contains("step 150 (epoch 1.25)"), "{stdout}");
        let report = json(&dir.join("hessian.json"));
        assert_eq!(report["complete"], true);
        let checkpoints = report["checkpoints"].as_array().unwrap();
        assert_eq!(checkpoints.len(), 2);
        let layer = &checkpoints[1]["layers"][0];
        // 784-6-4... with bias: 6 * 785 weights, compared where positive.
        assert_eq!(layer["weights"], 6 * 785);
        let count = layer["mesu_vs_hessian"]["count"].as_u64().unwrap();
        assert!(count > 0 && count <= 6 * 785, "{layer}");
        assert!(layer["mesu_vs_hessian"]["spearman"].as_f64().unwrap().abs() <= 1.0);
        // 20 weights of layer 1 and 20 of layer 2 (of 70), at each checkpoint.
        let csv = std::fs::read_to_string(dir.join("hessian.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 2 * (20 + 20));
        for f in ["config.json", "hessian_layer1.svg", "hessian_layer2.svg"] {
            assert!(dir.join(f).exists(), "{f} missing");
        }
        let again = common::succeeded(&run(&["--at", "30,1.5e2", "--weights", "20", "--bias"]));
        assert!(again.contains("nothing to do"), "{again}");
        // Other settings in the same folder: refused, naming what differs.
        let other = run(&["--at", "30", "--weights", "20", "--bias"]);
        let err = String::from_utf8_lossy(&other.stderr);
        assert!(
            !other.status.success() && err.contains("hessian.at") && err.contains("--force"),
            "{err}"
        );
        let forced = common::succeeded(&run(&["--at", "30", "--all-weights", "--force"]));
        assert!(forced.contains("step 30"), "{forced}");
        let csv = std::fs::read_to_string(dir.join("hessian.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 6 * 784 + 60);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let help = common::succeeded(&mesu(&["hessian", "--help"]));
    assert!(
        help.contains("--at <") && help.contains("--n <") && !help.contains("--tasks <"),
        "{help}"
    );
    for (flags, says) in [
        (&["--tasks", "3"][..], "--tasks does not apply"),
        (&["--optimizer", "sgd"][..], "--optimizer sgd has none"),
        (&["--at", "100,10"][..], "increasing"),
        (&["--at", "1.5"][..], "whole number"),
        (&["--weights", "0"][..], "--weights must be at least 1"),
    ] {
        let out = mesu(
            &[
                &["hessian", "--backend", "cpu", "--out", "/nonexistent/x"][..],
                flags,
            ]
            .concat(),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{flags:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
