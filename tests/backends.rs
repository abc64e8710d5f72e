//! The CPU backend and the wgpu engine on the same seeded stream: the same
//! Philox noise and the same rules in f32, so the accuracy matrices agree
//! within 0.5 points and the sigma statistics within 1e-4 relative.

mod common;

use std::path::PathBuf;

use mesu::backend::Device;
use mesu::data::DatasetKind;
use mesu::optim::Optimizer;
use mesu::stream::{GroupOutcome, Progress, run_group};
use mesu::sweep::{Ood, RunSettings, Shared, stream_run};

struct Quiet;
impl Progress for Quiet {
    fn task_started(&mut self, _: usize, _: u64) {}
    fn steps_done(&mut self, _: u64, _: f64) {}
    fn task_finished(&mut self, _: usize, _: f64, _: f64) {}
}

fn stream(device: &Device, data: &mesu::data::Dataset, runs: &[RunSettings]) -> GroupOutcome {
    let shared = Shared {
        tasks: 2,
        bias: false,
        dataset: DatasetKind::Mnist,
        data_dir: PathBuf::from("data/mnist"),
        shuffle: false,
        eval_all: false,
        train_limit: Some(data.train.len()),
        test_limit: Some(data.test.len()),
        profile: false,
        ood: Ood::Off,
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
    let out = run_group(device, data, &cfg, &members, &mut Quiet).unwrap();
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
