#![allow(dead_code)] // each test binary uses a different subset

use mesu::data::{PIXELS, Split};
use mesu::gpu::{AdapterChoice, GpuContext};
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

/// The real MNIST files (data/fetch.sh puts them there; CI runs it first).
pub fn mnist() -> mesu::data::Dataset {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    mesu::data::load(mesu::data::DatasetKind::Mnist, &dir)
        .unwrap_or_else(|e| panic!("real MNIST needed for this test: {e}"))
}

/// Every backend present: the CPU one always, the wgpu one when an adapter
/// is found (required with MESU_REQUIRE_GPU=1).
pub fn devices() -> Vec<mesu::backend::Device> {
    let cpu = mesu::backend::Device::Cpu { threads: 2 };
    let gpu = gpu().map(|ctx| mesu::backend::Device::Gpu(Box::new(ctx)));
    std::iter::once(cpu).chain(gpu).collect()
}
