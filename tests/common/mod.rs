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

/// The real MNIST files, fetched once (data/fetch.sh, as a run does) when
/// the checkout has none; CI points MESU_DATA_SOURCE at a local copy.
pub fn mnist() -> mesu::data::Dataset {
    use mesu::data::DatasetKind;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("data/mnist");
    if !mesu::data::present(&dir) {
        // One fetch for all the test binaries that start together.
        let lock = std::fs::File::create(root.join("data/.fetch.lock")).expect("lock file");
        lock.lock().expect("lock");
        if !mesu::data::present(&dir) {
            mesu::data::fetch(DatasetKind::Mnist, root)
                .unwrap_or_else(|e| panic!("real MNIST needed for this test: {e}"));
        }
    }
    mesu::data::load(DatasetKind::Mnist, &dir)
        .unwrap_or_else(|e| panic!("real MNIST needed for this test: {e}"))
}

/// Every backend present: the CPU one always, the wgpu one when an adapter
/// is found (required with MESU_REQUIRE_GPU=1).
pub fn devices() -> Vec<mesu::backend::Device> {
    let cpu = mesu::backend::Device::Cpu { threads: 2 };
    let gpu = gpu().map(|ctx| mesu::backend::Device::Gpu(Box::new(ctx)));
    std::iter::once(cpu).chain(gpu).collect()
}
