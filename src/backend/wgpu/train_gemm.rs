//! The training step at batch > 1 with the fast kernels: the forward and the
//! error through the hidden layers are GEMMs, and the fused update forms
//! each sample's weight gradient as a GEMM over the batch
//! (shaders/train_gemm.wgsl); the output layer stays fused. On CPU adapters
//! each sample's weights below the output layer are materialised once per
//! step and read directly; in the GPU plan the GEMMs are 2D-tiled through
//! workgroup memory and sample their weights as they stage them, so no
//! weight is stored.

use super::Engine;
use super::cost::{self, Shapes};
use super::dispatch::Dispatch;
use super::sampled_gemm::{self, in4, row_overrides, row4, tiles, tiles_by_default};
use super::train::{TrainGraph, TrainKernels};
use super::{Overrides, Shader};

/// Rows and columns each invocation of backward_gemm and update_gemm owns
/// (8 x 8, as 2 x 2 mat4x4 blocks).
const BLOCK: usize = 8;

/// `overrides` and whether layer l's inputs (IN4) and outputs (OUT4) come in
/// whole vec4.
fn alignment(e: &Engine, l: usize, mut overrides: Overrides) -> Overrides {
    let whole = |n: usize| n.is_multiple_of(4) as u32;
    overrides.extend([in4(e, l), ("OUT4", whole(e.arch.n_out(l)))]);
    overrides
}

impl Engine {
    /// Whether a training step runs as GEMMs (the fast kernels at batch > 1).
    pub(super) fn trains_by_gemm(&self) -> bool {
        self.cfg.batch > 1 && self.kernels.train != TrainKernels::V0
    }
}

impl TrainGraph {
    /// Gather, then the forward of each layer below the output; the fused
    /// output layer; the error back through the hidden layers; the fused
    /// update of every layer.
    pub(super) fn gemm_step(&self, e: &Engine, shapes: Shapes) -> Vec<Dispatch> {
        let last = e.arch.layers() - 1;
        let mut out = vec![e.gather_dispatch(&self.x0, self.sources(), shapes)];
        for l in 0..last {
            out.extend(self.forward_gemm(e, l, shapes));
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

    /// Layer l's forward: its weight samples then `gemm_direct` over them,
    /// or `gemm_tile` alone in the GPU plan.
    fn forward_gemm(&self, e: &Engine, l: usize, shapes: Shapes) -> Vec<Dispatch> {
        let input = if l == 0 { &self.x0 } else { &self.acts[l - 1] };
        if tiles_by_default(e) {
            return vec![sampled_gemm::gemm_tile(e, l, input, &self.acts[l], shapes)];
        }
        let cols = row4(e.arch.n_out(l), false);
        let w = &self.weights[l];
        let k = shapes.samples;
        vec![
            sampled_gemm::sample_weights(e, l, cols, w, &self.perm, k, false),
            sampled_gemm::gemm_direct(e, l, (cols, w), input, &self.acts[l], shapes),
        ]
    }

    /// dC/d(input) of hidden layer l >= 1 into the errors of layer l - 1:
    /// over the weight samples in 8 x 8 blocks, or `backward_tile` sampling
    /// them in the GPU plan.
    fn backward_gemm(&self, e: &Engine, l: usize, shapes: Shapes) -> Dispatch {
        let delta = self.deltas[l].buffer.as_entire_binding();
        let mut bindings = vec![
            ("layer", e.layers[l].as_entire_binding()),
            ("delta", delta.clone()),
            ("delta4", delta),
            ("act_in", self.acts[l - 1].buffer.as_entire_binding()),
            ("delta_in", self.deltas[l - 1].buffer.as_entire_binding()),
        ];
        let cost = cost::backward_gemm(shapes, &e.arch, l);
        let rk = shapes.runs * shapes.samples;
        if tiles_by_default(e) {
            bindings.extend([
                ("mu4", e.mu[l].buffer.as_entire_binding()),
                ("sigma4", e.sigma[l].buffer.as_entire_binding()),
                ("eps4", e.eps[l].buffer.as_entire_binding()),
            ]);
            return e.tile_dispatch(
                Shader::TrainGemm,
                "backward_tile",
                alignment(e, l, Vec::new()),
                &bindings,
                rk * tiles(shapes.batch, e.arch.n_in(l)),
                cost::backward(shapes, &e.arch, l),
            );
        }
        let cols = row4(e.arch.n_out(l), false);
        bindings.push(("w", self.weights[l].buffer.as_entire_binding()));
        e.tuned_dispatch(
            Shader::TrainGemm,
            "backward_gemm",
            alignment(e, l, row_overrides(cols)),
            &bindings,
            rk * shapes.batch.div_ceil(BLOCK) * e.arch.n_in(l).div_ceil(BLOCK),
            cost,
        )
    }

    /// The fused update of layer l with its weight gradients over the batch:
    /// 8 x 8 blocks per invocation, or 64 x 64 tiles in the GPU plan.
    fn update_gemm(&self, e: &Engine, l: usize, shapes: Shapes) -> Dispatch {
        let input = if l == 0 { &self.x0 } else { &self.acts[l - 1] };
        let (delta, input) = (
            self.deltas[l].buffer.as_entire_binding(),
            input.buffer.as_entire_binding(),
        );
        let bindings = [
            ("layer", e.layers[l].as_entire_binding()),
            ("runs", e.run_buf.buffer.as_entire_binding()),
            ("mu", e.mu[l].buffer.as_entire_binding()),
            ("sigma", e.sigma[l].buffer.as_entire_binding()),
            ("eps4", e.eps[l].buffer.as_entire_binding()),
            ("delta", delta.clone()),
            ("delta4", delta),
            ("act_in", input.clone()),
            ("act_in4", input),
            ("bad", self.bad.buffer.as_entire_binding()),
            ("penalty", e.penalty[l].buffer.as_entire_binding()),
        ];
        let rows = e.arch.n_in(l) + e.arch.bias as usize;
        let (n_out, overrides) = (e.arch.n_out(l), alignment(e, l, Vec::new()));
        let cost = cost::update(shapes, &e.arch, l);
        if tiles_by_default(e) {
            let tiles = shapes.runs * tiles(n_out, rows);
            return e.tile_dispatch(
                Shader::TrainGemm,
                "update_tile",
                overrides,
                &bindings,
                tiles,
                cost,
            );
        }
        let threads = shapes.runs * n_out.div_ceil(BLOCK) * rows.div_ceil(BLOCK);
        e.tuned_dispatch(
            Shader::TrainGemm,
            "update_gemm",
            overrides,
            &bindings,
            threads,
            cost,
        )
    }
}
