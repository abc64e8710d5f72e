//! `--profile` on the CPU: host wall time per phase of a step, each phase
//! being one parallel region over every run, with the phase's FLOPs and
//! bytes counted from the shapes (see `work`) for its GFLOP/s and GB/s.

use std::time::Instant;

use crate::backend::{Cost, ProfileRow};
use crate::model::Architecture;

/// Float operations per normal of the Box-Muller in normals.rs (53 per
/// pair: the u32 to float, `ln` 29, sqrt and scale 2, the angle and its
/// sin/cos polynomials 18, the two products 2).
const NOISE_FLOPS: f64 = 26.5;
/// Float operations of the rule per parameter (MESU; about the same for the others).
const RULE_FLOPS: f64 = 15.0;

#[derive(Clone, Copy, Debug)]
pub enum Phase {
    Noise,
    Forward,
    Backward,
    Update,
    Evaluation,
}

const NAMES: [&str; 5] = ["noise", "forward", "backward", "update", "evaluation"];

/// The FLOPs and bytes of one call of a training phase for `runs` runs at
/// batch B with K weight samples; bytes are those of the arrays the phase
/// reads and writes, each counted once per use (mu and sigma once per
/// sample), whether they come from cache or memory.
pub fn work(phase: Phase, arch: &Architecture, runs: usize, batch: usize, k: usize) -> Cost {
    let (b, rk) = (batch as f64, (runs * k) as f64);
    let params: f64 = (0..arch.layers()).map(|l| arch.params(l) as f64).sum();
    // Weights of the layers past the first: the hidden deltas go through them.
    let upper: f64 = (1..arch.layers())
        .map(|l| (arch.n_in(l) * arch.n_out(l)) as f64)
        .sum();
    let (flops, bytes) = match phase {
        Phase::Noise => (NOISE_FLOPS * params, 4.0 * params),
        // w = mu + sigma eps (2 per parameter), then 2 per parameter and example.
        Phase::Forward => ((2.0 + 2.0 * b) * params, 12.0 * params),
        Phase::Backward if batch == 1 => (4.0 * upper, 12.0 * upper),
        // Backprop through the stored w, then dL/dw of every layer.
        Phase::Backward => (2.0 * b * (upper + params), 8.0 * (upper + params)),
        Phase::Update => {
            let per_sample = (
                4.0 * params,
                4.0 * params * if batch == 1 { 1.0 } else { 2.0 },
            );
            return Cost {
                flops: rk * per_sample.0 + runs as f64 * RULE_FLOPS * params,
                bytes: rk * per_sample.1 + runs as f64 * 16.0 * params,
            };
        }
        Phase::Evaluation => (0.0, 0.0),
    };
    Cost {
        flops: rk * flops,
        bytes: rk * bytes,
    }
}

/// One evaluation of `images` images with K weight samples for `runs`
/// runs: 2 FLOPs per weight, sample and image; the images read once and
/// each sample's weights once.
pub fn eval_work(arch: &Architecture, runs: usize, images: usize, k: usize) -> Cost {
    let weights: f64 = (0..arch.layers())
        .map(|l| (arch.n_in(l) * arch.n_out(l)) as f64)
        .sum();
    let params: f64 = (0..arch.layers()).map(|l| arch.params(l) as f64).sum();
    let (r, n, k) = (runs as f64, images as f64, k as f64);
    Cost {
        flops: r * 2.0 * weights * k * n,
        bytes: n * arch.n_in(0) as f64 + r * 4.0 * params * k,
    }
}

/// Calls, nanoseconds and work per phase.
#[derive(Default)]
pub struct PhaseTimes {
    calls: [u64; 5],
    nanos: [f64; 5],
    work: [Cost; 5],
}

impl PhaseTimes {
    pub fn add(&mut self, phase: Phase, since: Instant, work: Cost) {
        let i = phase as usize;
        self.calls[i] += 1;
        self.nanos[i] += since.elapsed().as_nanos() as f64;
        self.work[i] = self.work[i] + work;
    }

    pub fn rows(&self) -> Vec<ProfileRow> {
        let total: f64 = self.nanos.iter().sum();
        (0..NAMES.len())
            .filter(|&i| self.calls[i] > 0)
            .map(|i| ProfileRow {
                name: NAMES[i].to_string(),
                calls: self.calls[i],
                total_ms: self.nanos[i] / 1e6,
                mean_us: self.nanos[i] / 1e3 / self.calls[i] as f64,
                gflops: self.work[i].flops / self.nanos[i].max(1.0),
                gbytes: self.work[i].bytes / self.nanos[i].max(1.0),
                share: if total > 0.0 {
                    self.nanos[i] / total
                } else {
                    0.0
                },
            })
            .collect()
    }
}
