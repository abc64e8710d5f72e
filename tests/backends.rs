//! The CPU backend and the wgpu engine on the same seeded stream: the same
//! Philox noise and the same rules in f32, so the accuracy matrices agree
//! within 0.5 points, the sigma statistics, NLL and Brier within 1e-4
//! relative.

mod common;

use mesu::backend::Device;
use mesu::config::{RunSettings, Shared, stream_run};
use mesu::optim::Optimizer;
use mesu::stream::{GroupOutcome, Observer, run_group};

struct Quiet;
impl Observer for Quiet {}

fn stream(device: &Device, data: &mesu::data::Dataset, runs: &[RunSettings]) -> GroupOutcome {
    let shared = Shared {
        train_limit: Some(data.train.len()),
        test_limit: Some(data.test.len()),
        ..common::shared(2)
    };
    let cfg = runs[0].shape().stream_config(&shared).unwrap();
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
    use mesu::data::PIXELS;
    use mesu::model::{Architecture, EngineConfig};
    use mesu::optim::{Hyper, RunSpec};
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
