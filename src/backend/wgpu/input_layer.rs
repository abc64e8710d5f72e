//! Launches of shaders/input_layer.wgsl, the first layer's own kernels:
//! the input gather (permutation and standardisation in the kernel), the
//! first layer's forward, and its fused update.

use super::cost::{self, Shapes};
use super::dispatch::Dispatch;
use super::forward::InputExtras;
use super::train::TrainGraph;
use super::{Engine, GpuBuffer, Plan, Shader, WORKGROUP};

impl Engine {
    /// Batch 1: the first layer's forward draws that layer's noise (each
    /// noise row has one invocation) instead of a noise launch.
    pub(super) fn draws_input_noise(&self) -> bool {
        self.fused_batch_one()
    }

    /// Batch 1 on a CPU adapter: the forward stores the noise it draws for
    /// the update. On a GPU the update draws it again: two Philox draws per
    /// weight and sample cost less there than writing and reading its 8
    /// bytes (104 -> 24 bytes per weight and step at K = 10,
    /// docs/performance.md).
    pub(super) fn keeps_input_noise(&self) -> bool {
        self.draws_input_noise() && self.ctx.plan == Plan::CpuAdapter
    }

    /// The input gather into `x0` (from `images` through `order` and `perm`).
    pub(super) fn gather_dispatch(
        &self,
        x0: &GpuBuffer<f32>,
        [images, order, perm]: [&wgpu::Buffer; 3],
        shapes: Shapes,
    ) -> Dispatch {
        self.dispatch(
            Shader::InputLayer,
            "gather_input",
            &[
                ("layer", self.layers[0].as_entire_binding()),
                ("x0", x0.buffer.as_entire_binding()),
                ("images", images.as_entire_binding()),
                ("order", order.as_entire_binding()),
                ("perm", perm.as_entire_binding()),
            ],
            shapes.runs * shapes.batch * self.arch.n_in(0) / 4,
            cost::gather_input(shapes, &self.arch),
        )
    }

    /// The first layer's sampled forward from the gathered input `x0` into
    /// `act0`: in the GPU plan one workgroup per output (its lanes over the
    /// row, summed by a tree); in the CPU-adapter plan two samples per
    /// invocation, and it may draw the layer's noise itself. With
    /// `extras.prefetch` it also gathers the next step's input from
    /// `sources` (a pipeline constant, not a uniform: lavapipe specialises
    /// kernels on uniform values that steer branches, docs/performance.md).
    pub(super) fn forward_input_dispatch(
        &self,
        (x0, [images, order, perm]): (&GpuBuffer<f32>, [&wgpu::Buffer; 3]),
        act0: &GpuBuffer<f32>,
        shapes: Shapes,
        extras: InputExtras,
    ) -> Dispatch {
        let mut cost = cost::forward(shapes, &self.arch, 0);
        if extras.draw_noise && !extras.keep_noise {
            cost = cost::drawing_noise(cost, shapes, &self.arch, 0);
        }
        if extras.prefetch {
            cost = cost + cost::gather_input(shapes, &self.arch);
        }
        let outputs = shapes.runs * shapes.batch * self.arch.n_out(0);
        let (entry, threads) = match self.ctx.plan {
            Plan::Gpu => (
                "forward_input_rows",
                outputs * shapes.samples * WORKGROUP as usize,
            ),
            Plan::CpuAdapter => ("forward_input", outputs * shapes.samples.div_ceil(2)),
        };
        self.tuned_dispatch(
            Shader::InputLayer,
            entry,
            vec![
                ("DRAW_NOISE", extras.draw_noise as u32),
                ("KEEP_NOISE", extras.keep_noise as u32),
                ("PREFETCH", extras.prefetch as u32),
            ],
            &[
                ("layer", self.layers[0].as_entire_binding()),
                ("runs", self.run_buf.buffer.as_entire_binding()),
                ("mu", self.mu[0].buffer.as_entire_binding()),
                ("sigma", self.sigma[0].buffer.as_entire_binding()),
                ("eps", self.eps[0].buffer.as_entire_binding()),
                ("x0", x0.buffer.as_entire_binding()),
                ("act_out", act0.buffer.as_entire_binding()),
                ("images", images.as_entire_binding()),
                ("order", order.as_entire_binding()),
                ("perm", perm.as_entire_binding()),
            ],
            threads,
            cost,
        )
    }
}

impl TrainGraph {
    /// The first layer's fused update (the fast kernels at batch 1): on a
    /// CPU adapter one workgroup per output of each run, reading the noise
    /// the forward kept; on a GPU a lane per quad of the row, drawing the
    /// noise again.
    pub(super) fn update_input_dispatch(&self, e: &Engine, shapes: Shapes) -> Dispatch {
        let draws = !e.keeps_input_noise();
        let mut cost = cost::update(shapes, &e.arch, 0);
        let mut blocks = 1;
        if draws {
            cost = cost::drawing_noise(cost, shapes, &e.arch, 0);
            blocks = (e.arch.n_in(0) / 4).div_ceil(WORKGROUP as usize);
        }
        e.tuned_dispatch(
            Shader::InputLayer,
            "update_input",
            vec![("DRAW_NOISE", draws as u32), ("BLOCKS", blocks as u32)],
            &[
                ("layer", e.layers[0].as_entire_binding()),
                ("runs", e.run_buf.buffer.as_entire_binding()),
                ("mu", e.mu[0].buffer.as_entire_binding()),
                ("sigma", e.sigma[0].buffer.as_entire_binding()),
                ("eps", e.eps[0].buffer.as_entire_binding()),
                ("x0", self.x0.buffer.as_entire_binding()),
                ("delta", self.deltas[0].buffer.as_entire_binding()),
                ("bad", self.bad.buffer.as_entire_binding()),
                ("penalty", e.penalty[0].buffer.as_entire_binding()),
            ],
            shapes.runs * e.arch.n_out(0) * blocks * WORKGROUP as usize,
            cost,
        )
    }
}
