//! Device memory that one run adds to a batched execution, from the shapes
//! alone (no device needed): what a sweep uses to size its groups.

use crate::model::{Architecture, EngineConfig};

const F32: u64 = 4;
/// `struct Score` per evaluated image.
const SCORE: u64 = std::mem::size_of::<crate::model::Score>() as u64;

/// Bytes of the buffers that grow with the number of runs R.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunMemory {
    /// Every per-run buffer together.
    pub total_bytes: u64,
}

/// Per-run memory of training on `train_images` and evaluating `eval_sets`
/// splits (the test split, and the OOD one when scored) of at most
/// `test_images` each, with `cfg`'s shapes.
pub fn run_memory(
    arch: &Architecture,
    cfg: &EngineConfig,
    train_images: usize,
    test_images: usize,
    eval_sets: usize,
    penalised: bool,
) -> RunMemory {
    let sets = eval_sets as u64;
    let (k, kt, b) = (
        cfg.train_samples as u64,
        cfg.test_samples as u64,
        cfg.batch as u64,
    );
    let chunk = cfg.eval_chunk.min(test_images.max(1)) as u64;
    // Batch 1 gathers the next step's input ahead: two inputs.
    let inputs = if b == 1 { 2 } else { b };
    let mut buffers = vec![
        inputs * arch.n_in(0) as u64 * F32, // gathered input
        train_images as u64 * F32,          // example order
        arch.n_in(0) as u64 * F32,          // permutation
        sets * test_images as u64 * SCORE,  // evaluation scores
    ];
    for l in 0..arch.layers() {
        let p = arch.stride(l) as u64;
        let n_out = arch.n_out(l) as u64;
        let rows = (arch.n_in(l) + arch.bias as usize) as u64;
        buffers.extend([
            p * F32,             // mu
            p * F32,             // sigma
            k.max(kt) * p * F32, // noise
            k * b * n_out * F32, // activations
            k * b * n_out * F32, // errors
        ]);
        // Each evaluation set has its own activations and weight samples.
        for _ in 0..sets {
            buffers.extend([
                kt * chunk * n_out * F32,                    // evaluation activations
                kt * rows * n_out.next_multiple_of(4) * F32, // evaluation weight samples
            ]);
        }
        // EWC and SI keep anchor, importance and path (a vec4) per weight,
        // for every run of a group that has one of them.
        if penalised {
            buffers.push(4 * p * F32);
        }
        // The production kernels train by GEMMs at batch > 1, over weight
        // samples on CPU adapters (the GPU plan, and its evaluation of the
        // hidden layers, store none; the shapes alone do not say the plan,
        // so both are counted).
        if cfg.batch > 1 && l + 1 < arch.layers() {
            buffers.push(k * rows * n_out.next_multiple_of(4) * F32); // training weight samples
        }
    }
    RunMemory {
        total_bytes: buffers.iter().sum(),
    }
}
