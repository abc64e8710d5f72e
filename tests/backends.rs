//! The CPU backend and the wgpu engine on the same seeded stream: the same
//! Philox noise and the same rules in f32, so the accuracy matrices agree
//! within 0.5 points, the sigma statistics, NLL and Brier within 1e-4
//! relative. The penalised baselines on every backend against the f64
//! reference.

mod common;

use mesu::backend::Device;
use mesu::config::{RunSettings, Shared};
use mesu::data::PIXELS;
use mesu::launch::stream_run;
use mesu::model::{Architecture, EngineConfig, Penalty};
use mesu::optim::{Hyper, Optimizer, PenaltyHyper, RunSpec};
use mesu::reference;
use mesu::report::run_group;
use mesu::stream::{GroupOutcome, Observer};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

/// Relative error allowed on f32 results against f64 after ten steps and
/// two task ends (as tests/cpu_backend.rs for one step: an SGD change is
/// itself resolved to ~1e-5 of its size in f32).
const TOL: f64 = 2e-5;

struct Quiet;
impl Observer for Quiet {}

fn stream(device: &Device, data: &mesu::data::Dataset, runs: &[RunSettings]) -> GroupOutcome {
    let shared = Shared {
        train_limit: Some(data.train.len()),
        test_limit: Some(data.test.len()),
        ..common::shared(2)
    };
    let cfg = mesu::launch::stream_config(&runs[0].shape(), &shared).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "mesu-backends-{}-{}",
        device.kind(),
        std::process::id()
    ));
    let members: Vec<_> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| stream_run(r, &shared, "test", data, dir.join(i.to_string())))
        .collect();
    let out = run_group(device, data, &cfg, &members, None, &mut Quiet).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    out
}

#[test]
fn cpu_and_wgpu_agree_on_a_seeded_stream() {
    let Some(ctx) = common::gpu() else { return };
    let mut data = common::mnist();
    data.train.truncate(400);
    data.test.truncate(1000);
    let run = |seed, optimizer| RunSettings {
        seed,
        test_samples: 4,
        ..RunSettings::paper(optimizer)
    };
    let runs = [
        run(0, Optimizer::Mesu),
        run(1, Optimizer::Bgd),
        run(2, Optimizer::Sgd),
        run(3, Optimizer::OnlineEwc),
        run(4, Optimizer::StreamEwc),
        run(5, Optimizer::Si),
    ];
    let cpu = stream(&Device::Cpu { threads: 2 }, &data, &runs);
    let gpu = stream(&Device::Gpu(Box::new(ctx)), &data, &runs);
    for (i, (c, g)) in cpu.runs.iter().zip(&gpu.runs).enumerate() {
        for (row_c, row_g) in c.matrix.iter().zip(&g.matrix) {
            for (a, b) in row_c.iter().zip(row_g) {
                assert_eq!(a.is_nan(), b.is_nan());
                if !a.is_nan() {
                    assert!((a - b).abs() <= 0.005, "run {i}: {a} vs {b}");
                }
            }
        }
        // ECE moves with the predictions (bins, argmax) as the accuracy
        // does; NLL and Brier are smooth in the parameters, so they agree
        // as sigma does (measured on lavapipe: 7e-8 relative).
        for (after, row) in c.matrix.iter().enumerate() {
            for j in (0..row.len()).filter(|&j| !row[j].is_nan()) {
                let (x, y) = (c.calibration.at(after, j), g.calibration.at(after, j));
                println!("run {i}, task {j} after {after}: cpu {x:?}, wgpu {y:?}");
                assert!((x.ece - y.ece).abs() <= 0.005, "run {i}: {x:?} vs {y:?}");
                for (a, b) in [(x.nll, y.nll), (x.brier, y.brier)] {
                    assert!((a - b).abs() <= 1e-4 * b, "run {i}: {x:?} vs {y:?}");
                }
            }
        }
        assert_eq!(c.sigma.len(), g.sigma.len());
        for (a, b) in c.sigma.iter().zip(&g.sigma) {
            for (x, y) in [(a.mean, b.mean), (a.min, b.min), (a.max, b.max)] {
                let rel = (x - y).abs() / y.abs().max(1e-30);
                assert!(
                    rel <= 1e-4 || x == y,
                    "run {i} layer {}: sigma {x} vs {y}",
                    a.layer
                );
            }
        }
    }
}

/// With one sample (SGD's evaluation) the predictive distribution is that
/// sample's: the epistemic entropy is exactly 0 for every image, so its
/// OOD AUROC is 0.5 and not the ranking of rounding errors.
#[test]
fn one_sample_has_no_epistemic_uncertainty_on_every_backend() {
    for device in common::devices() {
        let arch = Architecture::new(PIXELS, &[20], 10, false).unwrap();
        let runs = vec![RunSpec {
            seed: 4,
            hyper: Hyper {
                optimizer: Optimizer::Sgd,
                ..Hyper::default()
            },
        }];
        let cfg = EngineConfig {
            train_samples: 1,
            test_samples: 1,
            ..Default::default()
        };
        let mut backend = device.backend(arch, runs, &cfg).unwrap();
        let split = common::random_split(50, 9);
        let set = backend.add_eval_set(&split).unwrap();
        let identity = vec![(0..PIXELS as u32).collect::<Vec<_>>()];
        let res = backend.evaluate(set, &identity, 0).unwrap();
        for s in &res[0].scores {
            assert!(s.h_pred > 0.0, "{}: {s:?}", device.kind());
            assert_eq!(s.epistemic(), 0.0, "{}: {s:?}", device.kind());
        }
    }
}

/// The penalised baselines on every backend against the f64 reference over
/// two tasks and a half: steps, a task end (online EWC's Fisher pass, SI's
/// Omega), steps on a new permutation, another task end, steps; strengths
/// and a learning rate large enough that the penalty moves theta visibly.
/// At batch 1 and 2 (the GPU's batch-1 kernels and its GEMM path), with
/// an SGD run in the same group, which the task ends leave alone.
#[test]
fn penalised_baselines_match_the_reference_across_task_ends() {
    for device in common::devices() {
        for batch in [1, 2] {
            penalised_against_reference(&device, batch);
        }
    }
}

fn penalised_against_reference(device: &Device, batch: usize) {
    let arch = Architecture::new(PIXELS, &[19, 13], 10, true).unwrap();
    let examples = 4 * batch;
    let penalised = |seed, optimizer, penalty| RunSpec {
        seed,
        hyper: Hyper {
            optimizer,
            lr_mu: 0.02,
            penalty: Some(penalty),
            ..Hyper::default()
        },
    };
    let runs = vec![
        penalised(
            41,
            Optimizer::OnlineEwc,
            PenaltyHyper::Ewc {
                lambda: 3e3,
                gamma: 0.5,
            },
        ),
        penalised(
            42,
            Optimizer::StreamEwc,
            PenaltyHyper::Ewc {
                lambda: 50.0,
                gamma: 0.5,
            },
        ),
        penalised(43, Optimizer::Si, PenaltyHyper::Si { c: 20.0, xi: 0.1 }),
        RunSpec {
            seed: 44,
            hyper: Hyper {
                optimizer: Optimizer::Sgd,
                lr_mu: 0.02,
                ..Hyper::default()
            },
        },
    ];
    let split = common::random_split(examples, 8);
    let (mean, std) = split.pixel_mean_std();
    let cfg = EngineConfig {
        batch,
        train_samples: 1,
        test_samples: 1,
        ..Default::default()
    };
    let mut backend = device.backend(arch.clone(), runs.clone(), &cfg).unwrap();
    backend.set_train_data(&split).unwrap();
    let start = backend.params().unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let mut shuffled = |n: usize| {
        let mut v: Vec<u32> = (0..n as u32).collect();
        v.shuffle(&mut rng);
        v
    };
    let perms: Vec<Vec<Vec<u32>>> = (0..runs.len())
        .map(|_| (0..2).map(|_| shuffled(PIXELS)).collect())
        .collect();
    let orders: Vec<_> = (0..runs.len()).map(|_| shuffled(examples)).collect();
    backend.set_order(&orders).unwrap();
    // (task, steps, then a task end)
    let plan = [(0, 4, true), (1, 4, true), (1, 2, false)];
    for &(task, steps, end) in &plan {
        let task_perms: Vec<_> = perms.iter().map(|p| p[task].clone()).collect();
        backend.set_task(&task_perms).unwrap();
        backend.train_steps(0, steps).unwrap();
        if end {
            backend.end_task().unwrap();
        }
    }
    assert_eq!(
        backend.steps_taken(),
        10,
        "the Fisher passes take no noise counters"
    );
    let after = backend.params().unwrap();
    for (ri, spec) in runs.iter().enumerate() {
        let batch_data = |task: usize, b: usize| {
            let idx = &orders[ri][b * batch..(b + 1) * batch];
            let x = reference::input_batch(&split.images, PIXELS, &perms[ri][task], idx, mean, std);
            let labels: Vec<u8> = idx.iter().map(|&n| split.labels[n as usize]).collect();
            (x, labels)
        };
        let replay = |hyper: &Hyper| {
            let mut theta = common::f64s(&start[ri].mu);
            let mut pen: Vec<Vec<Penalty<f64>>> = theta
                .iter()
                .map(|t| {
                    t.iter()
                        .map(|&anchor| Penalty {
                            anchor,
                            ..Penalty::default()
                        })
                        .collect()
                })
                .collect();
            for &(task, steps, end) in &plan {
                for b in 0..steps {
                    let (x, labels) = batch_data(task, b);
                    theta =
                        reference::penalised_step(&arch, hyper, &theta, &mut pen, &x, &labels).0;
                }
                if end {
                    let all: Vec<_> = (0..examples / batch).map(|b| batch_data(task, b)).collect();
                    reference::end_task(&arch, hyper, &theta, &mut pen, &all);
                }
            }
            (theta, pen)
        };
        let moved = |t: &[Vec<f64>]| -> Vec<f64> {
            t.concat()
                .iter()
                .zip(start[ri].mu.concat())
                .map(|(a, b)| a - f64::from(b))
                .collect()
        };
        let (theta, pen) = replay(&spec.hyper);
        let optimizer = spec.hyper.optimizer;
        if optimizer.is_penalised() {
            // The penalty's own share of the change, far above the tolerance.
            let (plain, _) = replay(&Hyper {
                optimizer: Optimizer::Sgd,
                ..spec.hyper.clone()
            });
            let with: Vec<f32> = moved(&theta).iter().map(|&v| v as f32).collect();
            let share = common::rel_err(&with, &moved(&plain));
            println!("{optimizer}: the penalty changes theta's change by {share:.2e}");
            assert!(share > 1e-2, "{optimizer}: the penalty barely matters");
        }
        let got: Vec<f32> = after[ri]
            .mu
            .concat()
            .iter()
            .zip(start[ri].mu.concat())
            .map(|(a, b)| a - b)
            .collect();
        let e_theta = common::rel_err(&got, &moved(&theta));
        let field = |f: fn(&Penalty<f32>) -> f32, g: fn(&Penalty<f64>) -> f64| {
            if !optimizer.is_penalised() {
                assert!(after[ri].penalty.is_empty());
                return 0.0;
            }
            let got: Vec<f32> = after[ri].penalty.concat().iter().map(f).collect();
            let want: Vec<f64> = pen.concat().iter().map(g).collect();
            common::rel_err(&got, &want)
        };
        let errors = [
            ("theta change", e_theta),
            ("anchor", field(|p| p.anchor, |p| p.anchor)),
            ("importance", field(|p| p.importance, |p| p.importance)),
            ("path", field(|p| p.path, |p| p.path)),
        ];
        let shown: Vec<String> = errors.iter().map(|(w, e)| format!("{w} {e:.2e}")).collect();
        println!(
            "{} B={batch} {optimizer}: {}",
            device.kind(),
            shown.join(", ")
        );
        for (what, e) in errors {
            assert!(
                e < TOL,
                "{} B={batch} {optimizer}: {what} {e:.2e}",
                device.kind()
            );
        }
    }
}

/// A group that mixes the penalised baselines with MESU (whose task ends
/// hold it still) gives every run the parameters and penalty state of the
/// run alone, bit for bit, on every backend: the Fisher pass touches only
/// online EWC and takes no noise counters.
#[test]
fn a_group_with_baselines_equals_each_run_alone() {
    let arch = Architecture::new(PIXELS, &[11], 10, false).unwrap();
    let runs: Vec<RunSpec> = [
        Optimizer::OnlineEwc,
        Optimizer::Mesu,
        Optimizer::Si,
        Optimizer::StreamEwc,
    ]
    .iter()
    .enumerate()
    .map(|(i, &optimizer)| RunSpec {
        seed: 60 + i as u64,
        hyper: Hyper {
            optimizer,
            lr_mu: optimizer.default_lr_mu(),
            penalty: optimizer.default_penalty(),
            ..Hyper::default()
        },
    })
    .collect();
    let split = common::random_split(6, 3);
    let cfg = EngineConfig {
        batch: 1,
        train_samples: 1,
        test_samples: 1,
        ..Default::default()
    };
    let perm = |task: u32| -> Vec<u32> {
        (0..PIXELS as u32)
            .map(|p| (p * 7 + task) % PIXELS as u32)
            .collect()
    };
    let order: Vec<u32> = (0..6).rev().collect();
    let train = |device: &Device, runs: &[RunSpec]| {
        let mut b = device.backend(arch.clone(), runs.to_vec(), &cfg).unwrap();
        b.set_train_data(&split).unwrap();
        b.set_order(&vec![order.clone(); runs.len()]).unwrap();
        for task in 0..2 {
            b.set_task(&vec![perm(task); runs.len()]).unwrap();
            b.train_steps(0, 6).unwrap();
            b.end_task().unwrap();
        }
        b.params().unwrap()
    };
    for device in common::devices() {
        let group = train(&device, &runs);
        for (i, run) in runs.iter().enumerate() {
            let alone = train(&device, std::slice::from_ref(run));
            assert_eq!(
                group[i],
                alone[0],
                "{}: run {i} ({})",
                device.kind(),
                run.hyper.optimizer
            );
        }
    }
}
