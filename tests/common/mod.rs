#![allow(dead_code)] // each test binary uses a different subset

use mesu::backend::wgpu::{AdapterChoice, GpuContext};
use mesu::data::{PIXELS, Split};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// The GPU for a test, or None to skip; with MESU_REQUIRE_GPU=1 (CI) a
/// missing adapter fails instead.
pub fn gpu() -> Option<GpuContext> {
    match GpuContext::new(&AdapterChoice::default()) {
        Ok(ctx) => Some(ctx),
        Err(e) if std::env::var("MESU_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("MESU_REQUIRE_GPU=1 but no adapter: {e}")
        }
        Err(e) => {
            eprintln!("skipping GPU test: {e}");
            None
        }
    }
}

/// A split of `n` random images and labels.
pub fn random_split(n: usize, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    Split {
        images: (0..n * PIXELS).map(|_| rng.random::<u8>()).collect(),
        labels: (0..n).map(|_| rng.random_range(0..10u8)).collect(),
    }
}

/// max |a - b| / max |b|: the normwise relative error.
pub fn rel_err(gpu: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(gpu.len(), reference.len(), "length mismatch");
    assert!(
        gpu.iter().all(|v| v.is_finite()),
        "GPU output has non-finite (unwritten?) elements"
    );
    let scale = reference.iter().fold(0f64, |m, v| m.max(v.abs()));
    let diff = gpu
        .iter()
        .zip(reference)
        .fold(0f64, |m, (a, b)| m.max((*a as f64 - b).abs()));
    if scale == 0.0 { diff } else { diff / scale }
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Per layer, to_f64.
pub fn f64s(v: &[Vec<f32>]) -> Vec<Vec<f64>> {
    v.iter().map(|l| to_f64(l)).collect()
}

/// The reference's noise of every layer, [layer][sample][P]: `samples`
/// weight samples at noise step `step` of `domain` (0 training, 1
/// evaluation) under the key of `seed`.
pub fn reference_noise(
    arch: &mesu::model::Architecture,
    seed: u64,
    step: u32,
    domain: u32,
    samples: usize,
) -> Vec<Vec<Vec<f64>>> {
    let key = mesu::philox::philox_key(seed);
    (0..arch.layers())
        .map(|l| mesu::reference::layer_noise(key, step, l as u32, domain, samples, arch.params(l)))
        .collect()
}

/// The reference's predictions of one run's evaluation of `test` through
/// `perm`: `samples` weight samples of the evaluation noise (domain 1) at
/// `eval_id` under the key of `seed`, the images standardised with the
/// split's own mean and std.
pub fn reference_predictions(
    arch: &mesu::model::Architecture,
    params: &mesu::model::Params,
    seed: u64,
    eval_id: u32,
    samples: usize,
    test: &Split,
    perm: &[u32],
) -> Vec<mesu::reference::Prediction> {
    use mesu::reference;
    let (mean, std) = test.pixel_mean_std();
    let all: Vec<u32> = (0..test.len() as u32).collect();
    let eps = reference_noise(arch, seed, eval_id, 1, samples);
    let x = reference::input_batch(&test.images, PIXELS, perm, &all, mean, std);
    reference::predict(
        arch,
        &f64s(&params.mu),
        &f64s(&params.sigma),
        &eps,
        &x,
        test.len(),
    )
}

/// The largest normwise relative error of the calibration terms of `scores`
/// (max p, ln p of the label, Brier) against the reference's predictions of
/// the same examples; whether argmax p is right must agree exactly.
pub fn calibration_error(
    scores: &[mesu::model::Score],
    pred: &[mesu::reference::Prediction],
    labels: &[u8],
) -> f64 {
    use mesu::reference::CalibrationTerms;
    let want: Vec<CalibrationTerms> = pred
        .iter()
        .zip(labels)
        .map(|(p, &y)| p.calibration_terms(y as usize))
        .collect();
    let right: Vec<bool> = scores.iter().map(|s| s.p_max_correct == 1).collect();
    let want_right: Vec<bool> = want.iter().map(|w| w.right).collect();
    assert_eq!(
        right, want_right,
        "argmax p right or wrong: differs from the reference"
    );
    let got = |f: fn(&mesu::model::Score) -> f32| scores.iter().map(f).collect::<Vec<_>>();
    let of = |f: fn(&CalibrationTerms) -> f64| want.iter().map(f).collect::<Vec<_>>();
    [
        rel_err(&got(|s| s.p_max), &of(|w| w.p_max)),
        rel_err(&got(|s| s.ln_p_true), &of(|w| w.ln_p_true)),
        rel_err(&got(|s| s.brier), &of(|w| w.brier)),
    ]
    .into_iter()
    .fold(0.0, f64::max)
}

/// The folder of the real `kind` files, fetched once (data/fetch.sh, as a
/// run does) when the checkout has none; CI points MESU_DATA_SOURCE at a
/// local copy.
pub fn real_dir(kind: mesu::data::DatasetKind) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join(kind.default_dir());
    if !mesu::data::present(&dir) {
        // One fetch for all the test binaries that start together.
        let lock = std::fs::File::create(root.join("data/.fetch.lock")).expect("lock file");
        lock.lock().expect("lock");
        if !mesu::data::present(&dir) {
            mesu::data::fetch(kind, root)
                .unwrap_or_else(|e| panic!("real {} needed for this test: {e}", kind.name()));
        }
    }
    dir
}

/// The real MNIST files (see `real_dir`).
pub fn mnist() -> mesu::data::Dataset {
    let kind = mesu::data::DatasetKind::Mnist;
    mesu::data::load(kind, &real_dir(kind))
        .unwrap_or_else(|e| panic!("real MNIST needed for this test: {e}"))
}

/// Every backend present: the CPU one always, the wgpu one when an adapter
/// is found (required with MESU_REQUIRE_GPU=1).
pub fn devices() -> Vec<mesu::backend::Device> {
    let cpu = mesu::backend::Device::Cpu { threads: 2 };
    let gpu = gpu().map(|ctx| mesu::backend::Device::Gpu(Box::new(ctx)));
    std::iter::once(cpu).chain(gpu).collect()
}

/// The flags of a one-task stream on a slice of MNIST, no OOD set.
pub const TINY_STREAM: [&str; 8] = [
    "--tasks",
    "1",
    "--train-limit",
    "100",
    "--test-limit",
    "50",
    "--ood",
    "none",
];

/// Runs the `mesu` binary from the crate's folder.
pub fn mesu(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mesu"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run mesu")
}

/// The device flags of every backend present: the CPU one always, the GPU
/// adapter `gpu` finds when there is one.
pub fn backends() -> Vec<Vec<String>> {
    let cpu = vec!["--backend".to_string(), "cpu".into()];
    let gpu = gpu().map(|ctx| vec!["--adapter".to_string(), ctx.info.name.clone()]);
    std::iter::once(cpu).chain(gpu).collect()
}

/// The stdout of a command that must have succeeded (its stderr otherwise).
pub fn succeeded(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The settings a stream's runs share: `tasks` tasks of MNIST in file
/// order, no limits, no OOD, no fetching, backend kind "test".
pub fn shared(tasks: usize) -> mesu::config::Shared {
    mesu::config::Shared {
        tasks,
        bias: false,
        dataset: mesu::data::DatasetKind::Mnist,
        data_dir: std::path::PathBuf::from("data/mnist"),
        shuffle: false,
        eval_all: false,
        eval_every: 1,
        train_limit: None,
        test_limit: None,
        profile: false,
        ood: mesu::config::Ood::Off,
        fetch: false,
        permute: true,
        backend: "test".into(),
    }
}

/// Runs mesu and sends it SIGINT once a progress line containing `marker`
/// (e.g. "task 2/3: ") appears; returns its exit code and stderr.
pub fn interrupted(args: &[&str], marker: &str) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesu"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mesu");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = stdout.lines();
    let reached = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains(marker));
    assert!(reached, "never printed {marker:?}");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    lines.for_each(drop);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `child`'s output, or None when it ran past `limit` (it is then killed).
pub fn wait_bounded(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::Output> {
    let start = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Some(child.wait_with_output().expect("output"))
}
