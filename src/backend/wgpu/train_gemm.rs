//! The training step at batch > 1 with the fast kernels: each sample's
//! weights below the output layer are materialised once per step, the
//! forward and the error through the hidden layers are GEMMs over them, and
//! the fused update forms each sample's weight gradient as a GEMM over the
//! batch (shaders/train_gemm.wgsl). The output layer stays fused.

use super::Engine;
use super::cost::{self, Shapes};
use super::dispatch::Dispatch;
use super::sampled_gemm::{self, row_overrides, row4, tiles_by_default};
use super::train::{TrainGraph, TrainKernels};
use super::{Overrides, Shader};

/// Rows and columns each invocation of train_gemm.wgsl owns (8 x 8, as
/// 2 x 2 mat4x4 blocks).
const BLOCK: usize = 8;

/// `overrides` and whether layer l's inputs (IN4) and outputs (OUT4) come in
/// whole vec4.
fn alignment(e: &Engine, l: usize, mut overrides: Overrides) -> Overrides {
    let whole = |n: usize| n.is_multiple_of(4) as u32;
    overrides.extend([
        ("IN4", whole(e.arch.n_in(l))),
        ("OUT4", whole(e.arch.n_out(l))),
    ]);
    overrides
}

impl Engine {
    /// Whether a training step runs as GEMMs (the fast kernels at batch > 1).
    pub(super) fn trains_by_gemm(&self) -> bool {
        self.cfg.batch > 1 && self.kernels.train != TrainKernels::V0
    }
}

impl TrainGraph {
    /// Gather, then per layer below the output its weight samples and GEMM;
    /// the fused output layer; the error back through the hidden layers;
    /// the fused update of every layer.
    pub(super) fn gemm_step(&self, e: &Engine, shapes: Shapes) -> Vec<Dispatch> {
        let last = e.arch.layers() - 1;
        let k = shapes.samples;
        let tiled = tiles_by_default(e);
        let mut out = vec![e.gather_dispatch(&self.x0, self.sources(), shapes)];
        for l in 0..last {
            let cols = row4(e.arch.n_out(l), false);
            let w = &self.weights[l];
            out.push(sampled_gemm::sample_weights(
                e, l, cols, w, &self.perm, k, false,
            ));
            let input = if l == 0 { &self.x0 } else { &self.acts[l - 1] };
            out.push(sampled_gemm::gemm(
                e,
                l,
                (cols, w),
                input,
                &self.acts[l],
                shapes,
                tiled,
            ));
        }
        out.push(self.output_layer_dispatch(e, shapes));
        for l in (1..last).rev() {
            out.push(self.backward_gemm(e, l, shapes));
        }
        for l in 0..=last {
            out.push(self.update_gemm(e, l, shapes));
        }
        out
    }

    /// dC/d(input) of hidden layer l >= 1 into the errors of layer l - 1.
    fn backward_gemm(&self, e: &Engine, l: usize, shapes: Shapes) -> Dispatch {
        let cols = row4(e.arch.n_out(l), false);
        let delta = self.deltas[l].buffer.as_entire_binding();
        e.tuned_dispatch(
            Shader::TrainGemm,
            "backward_gemm",
            alignment(e, l, row_overrides(cols)),
            &[
                ("layer", e.layers[l].as_entire_binding()),
                ("w", self.weights[l].buffer.as_entire_binding()),
                ("delta", delta.clone()),
                ("delta4", delta),
                ("act_in", self.acts[l - 1].buffer.as_entire_binding()),
                ("delta_in", self.deltas[l - 1].buffer.as_entire_binding()),
            ],
            shapes.runs
                * shapes.samples
                * shapes.batch.div_ceil(BLOCK)
                * e.arch.n_in(l).div_ceil(BLOCK),
            cost::backward_gemm(shapes, &e.arch, l),
        )
    }

    /// The fused update of layer l with its weight gradients over the batch.
    fn update_gemm(&self, e: &Engine, l: usize, shapes: Shapes) -> Dispatch {
        let input = if l == 0 { &self.x0 } else { &self.acts[l - 1] };
        let (eps, delta, input) = (
            e.eps[l].buffer.as_entire_binding(),
            self.deltas[l].buffer.as_entire_binding(),
            input.buffer.as_entire_binding(),
        );
        let rows = e.arch.n_in(l) + e.arch.bias as usize;
        let threads = shapes.runs * e.arch.n_out(l).div_ceil(BLOCK) * rows.div_ceil(BLOCK);
        e.tuned_dispatch(
            Shader::TrainGemm,
            "update_gemm",
            alignment(e, l, Vec::new()),
            &[
                ("layer", e.layers[l].as_entire_binding()),
                ("runs", e.run_buf.buffer.as_entire_binding()),
                ("mu", e.mu[l].buffer.as_entire_binding()),
                ("sigma", e.sigma[l].buffer.as_entire_binding()),
                ("eps", eps.clone()),
                ("eps4", eps),
                ("delta", delta.clone()),
                ("delta4", delta),
                ("act_in", input.clone()),
                ("act_in4", input),
                ("bad", self.bad.buffer.as_entire_binding()),
                ("penalty", e.penalty[l].buffer.as_entire_binding()),
            ],
            threads,
            cost::update(shapes, &e.arch, l),
        )
    }
}
