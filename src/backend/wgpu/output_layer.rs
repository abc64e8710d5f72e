//! Launches of shaders/output_layer.wgsl: the fused output layer (logits,
//! loss, dC/dz, the error to the last hidden layer; at batch 1 also the
//! noise and the update of the layer).

use super::cost::{self, Shapes};
use super::dispatch::Dispatch;
use super::train::TrainGraph;
use super::{Engine, Plan, Shader, WORKGROUP};

impl TrainGraph {
    /// The fused output layer; at batch 1 it draws its layer's noise and,
    /// one workgroup per run, updates the layer (in the GPU plan with each
    /// phase of the errors spread over the lanes); at B > 1 in the GPU plan
    /// a workgroup per (run, sample, example), an invocation otherwise.
    pub(super) fn output_layer_dispatch(&self, e: &Engine, shapes: Shapes) -> Dispatch {
        let last = e.arch.layers() - 1;
        let batch_one = e.fused_batch_one();
        let wide = e.ctx.plan == Plan::Gpu;
        let rows = shapes.runs * shapes.samples * shapes.batch;
        let (threads, cost) = if batch_one {
            (
                shapes.runs * WORKGROUP as usize,
                cost::output_layer(shapes, &e.arch) + cost::update(shapes, &e.arch, last),
            )
        } else if wide {
            (
                rows * WORKGROUP as usize,
                cost::output_layer(shapes, &e.arch),
            )
        } else {
            (rows, cost::output_layer(shapes, &e.arch))
        };
        e.tuned_dispatch(
            Shader::OutputLayer,
            "output_layer",
            vec![("BATCH_ONE", batch_one as u32), ("WIDE", wide as u32)],
            &[
                ("layer_shape", e.layers[last].as_entire_binding()),
                ("runs", e.run_buf.buffer.as_entire_binding()),
                ("mu", e.mu[last].buffer.as_entire_binding()),
                ("sigma", e.sigma[last].buffer.as_entire_binding()),
                ("eps", e.eps[last].buffer.as_entire_binding()),
                ("act_in", self.acts[last - 1].buffer.as_entire_binding()),
                ("logits", self.acts[last].buffer.as_entire_binding()),
                ("delta", self.deltas[last].buffer.as_entire_binding()),
                ("delta_in", self.deltas[last - 1].buffer.as_entire_binding()),
                ("loss", self.loss.buffer.as_entire_binding()),
                ("order", self.order.buffer.as_entire_binding()),
                ("labels", self.split.labels.buffer.as_entire_binding()),
                ("bad", self.bad.buffer.as_entire_binding()),
                ("penalty", e.penalty[last].buffer.as_entire_binding()),
            ],
            threads,
            cost,
        )
    }
}
