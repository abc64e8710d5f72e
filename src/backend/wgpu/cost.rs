//! FLOPs and compulsory bytes (each input read once, each output written
//! once) of every kernel, from its shapes: the profile's GFLOP/s and GB/s.

use super::Cost;
use crate::model::Architecture;

const F32: f64 = 4.0;

/// Shapes shared by the launches of one step or evaluation chunk.
#[derive(Clone, Copy, Debug)]
pub struct Shapes {
    pub runs: usize,
    pub samples: usize,
    pub batch: usize,
}

impl Shapes {
    fn rk(&self) -> f64 {
        (self.runs * self.samples) as f64
    }
    fn rkb(&self) -> f64 {
        self.rk() * self.batch as f64
    }
}

fn cost(flops: f64, bytes: f64) -> Cost {
    Cost { flops, bytes }
}

/// Philox + Box-Muller is integer work: no FLOPs counted; writes K normals
/// per parameter.
pub fn noise(s: Shapes, arch: &Architecture, l: usize) -> Cost {
    cost(0.0, F32 * s.rk() * arch.params(l) as f64)
}

/// `c` of a kernel that draws layer l's noise instead of reading it (no
/// FLOPs counted for Philox, as in `noise`): its eps bytes are gone.
pub fn drawing_noise(c: Cost, s: Shapes, arch: &Architecture, l: usize) -> Cost {
    cost(c.flops, c.bytes - noise(s, arch, l).bytes)
}

/// The permuted, standardised input: reads u8 pixels, writes f32.
pub fn gather_input(s: Shapes, arch: &Architecture) -> Cost {
    let x = (s.runs * s.batch * arch.n_in(0)) as f64;
    cost(2.0 * x, x + F32 * x)
}

/// Sampled weights (2 FLOPs each per sample) and the dot products; reads
/// mu, sigma, the noise and the input (u8 pixels for the first layer),
/// writes the activations. Also the GPU plan's `gemm_tile`, which samples
/// the weights in its tile loader (each tile of 64 rows samples them again:
/// L2 traffic, not compulsory).
pub fn forward(s: Shapes, arch: &Architecture, l: usize) -> Cost {
    let p = arch.params(l) as f64;
    let (n_in, n_out) = (arch.n_in(l) as f64, arch.n_out(l) as f64);
    let input = if l == 0 {
        F32 * s.runs as f64 * s.batch as f64 * n_in
    } else {
        F32 * s.rkb() * n_in
    };
    cost(
        2.0 * s.rk() * p + 2.0 * s.rkb() * n_in * n_out,
        F32 * (2.0 * s.runs as f64 * p + s.rk() * p + s.rkb() * n_out) + input,
    )
}

/// The fused output layer: its forward, softmax, loss and dC/dz (about 5
/// FLOPs per logit) and the error back to its input. Drawing the layer's
/// noise (batch 1) writes eps instead of reading it: the same bytes.
pub fn output_layer(s: Shapes, arch: &Architecture) -> Cost {
    let last = arch.layers() - 1;
    let p = arch.params(last) as f64;
    let (n_in, n_out) = (arch.n_in(last) as f64, arch.n_out(last) as f64);
    cost(
        2.0 * s.rk() * p + 4.0 * s.rkb() * n_in * n_out + 5.0 * s.rkb() * n_out,
        F32 * (2.0 * s.runs as f64 * p + s.rk() * p + s.rkb() * (2.0 * n_in + 2.0 * n_out + 1.0)),
    )
}

/// Softmax, loss and dC/dz of the logits (about 5 FLOPs per logit).
pub fn loss_grad(s: Shapes, arch: &Architecture) -> Cost {
    let logits = s.rkb() * arch.n_out(arch.layers() - 1) as f64;
    cost(5.0 * logits, 2.0 * F32 * logits)
}

/// dC/dx of layer l's input through the sampled weights: the generic
/// backward, and the GPU plan's `backward_tile` sampling them in its loader.
pub fn backward(s: Shapes, arch: &Architecture, l: usize) -> Cost {
    let p = arch.params(l) as f64;
    let (n_in, n_out) = (arch.n_in(l) as f64, arch.n_out(l) as f64);
    cost(
        2.0 * s.rk() * p + 2.0 * s.rkb() * n_in * n_out,
        F32 * (2.0 * s.runs as f64 * p + s.rk() * p + s.rkb() * (n_out + 2.0 * n_in)),
    )
}

/// Floats of layer l's materialised weight samples: K per run, rows of
/// inputs then the bias, outputs padded to vec4.
fn weight_samples(s: Shapes, arch: &Architecture, l: usize) -> f64 {
    let rows = (arch.n_in(l) + arch.bias as usize) as f64;
    s.rk() * rows * arch.n_out(l).next_multiple_of(4) as f64
}

/// dC/dx of layer l's input through its materialised weight samples (the
/// GEMM path on CPU adapters, `backward_gemm`): reads the samples, the
/// errors and the input, writes dC/dx.
pub fn backward_gemm(s: Shapes, arch: &Architecture, l: usize) -> Cost {
    let (n_in, n_out) = (arch.n_in(l) as f64, arch.n_out(l) as f64);
    cost(
        2.0 * s.rkb() * n_in * n_out,
        F32 * (weight_samples(s, arch, l) + s.rkb() * (n_out + 2.0 * n_in)),
    )
}

/// Gradients of mu and sigma (a multiply-add per weight, sample and
/// example, then 3 FLOPs per weight and sample for the sums over samples)
/// and the rule (about 15 FLOPs per weight); mu and sigma read and written.
/// Every update kernel (`update_hidden`, `update_gemm`, `update_tile`).
pub fn update(s: Shapes, arch: &Architecture, l: usize) -> Cost {
    let p = arch.params(l) as f64;
    let (n_in, n_out) = (arch.n_in(l) as f64, arch.n_out(l) as f64);
    cost(
        2.0 * s.rkb() * p + 3.0 * s.rk() * p + 15.0 * s.runs as f64 * p,
        F32 * (4.0 * s.runs as f64 * p + s.rk() * p + s.rkb() * (n_in + n_out)),
    )
}

/// The GEMM over materialised weight samples (`gemm_direct`, the GEMM
/// path's forward on CPU adapters): reads the samples and the input, writes
/// the activations.
pub fn gemm(s: Shapes, arch: &Architecture, l: usize) -> Cost {
    let (n_in, n_out) = (arch.n_in(l) as f64, arch.n_out(l) as f64);
    let input = if l == 0 {
        s.runs as f64 * s.batch as f64
    } else {
        s.rkb()
    };
    cost(
        2.0 * s.rkb() * n_in * n_out,
        F32 * (weight_samples(s, arch, l) + input * n_in + s.rkb() * n_out),
    )
}

/// Mean log-softmax over samples, argmax, entropies and calibration terms
/// (about 10 FLOPs per logit).
pub fn predict(s: Shapes, arch: &Architecture) -> Cost {
    let logits = s.rkb() * arch.n_out(arch.layers() - 1) as f64;
    let score = std::mem::size_of::<crate::model::Score>() as f64;
    cost(
        10.0 * logits,
        F32 * logits + score * (s.runs * s.batch) as f64,
    )
}

/// Each sample's weights materialised once (2 FLOPs per parameter), written
/// as vec4 rows over outputs: evaluation's first layer, and every layer on
/// CPU adapters (training at batch > 1 too).
pub fn sample_weights(s: Shapes, arch: &Architecture, l: usize) -> Cost {
    let p = arch.params(l) as f64;
    cost(
        2.0 * s.rk() * p,
        F32 * (2.0 * s.runs as f64 * p + 2.0 * s.rk() * p),
    )
}

/// Evaluation: per sample and output, the sum of the first layer's weights.
pub fn row_sums(s: Shapes, arch: &Architecture) -> Cost {
    let p = arch.params(0) as f64;
    cost(s.rk() * p, F32 * s.rk() * p)
}
