//! Launches of shaders/output_layer.wgsl: the fused output layer (logits,
//! loss, dC/dz, the error to the last hidden layer; at batch 1 also the
//! noise, the update of the layer and the next step's input gather).

use super::cost::{self, Shapes};
use super::dispatch::Dispatch;
use super::train::TrainGraph;
use super::{Engine, Shader, WORKGROUP};

impl TrainGraph {
    /// The fused output layer; at batch 1 it draws its layer's noise and,
    /// one workgroup per run, updates the layer and gathers the next input.
    pub(super) fn output_layer_dispatch(&self, e: &Engine, shapes: Shapes) -> Dispatch {
        let last = e.arch.layers() - 1;
        let batch_one = e.fused_batch_one();
        let (threads, cost) = if batch_one {
            (
                shapes.runs * WORKGROUP as usize,
                cost::output_layer(shapes, &e.arch)
                    + cost::update(shapes, &e.arch, last)
                    + cost::gather_input(shapes, &e.arch),
            )
        } else {
            (
                shapes.runs * shapes.samples * shapes.batch,
                cost::output_layer(shapes, &e.arch),
            )
        };
        e.tuned_dispatch(
            Shader::OutputLayer,
            "output_layer",
            vec![("BATCH_ONE", batch_one as u32)],
            &[
                (0, e.layers[last].as_entire_binding()),
                (1, e.run_buf.buffer.as_entire_binding()),
                (2, e.mu[last].buffer.as_entire_binding()),
                (3, e.sigma[last].buffer.as_entire_binding()),
                (4, e.eps[last].buffer.as_entire_binding()),
                (5, self.acts[last - 1].buffer.as_entire_binding()),
                (6, self.acts[last].buffer.as_entire_binding()),
                (7, self.deltas[last].buffer.as_entire_binding()),
                (8, self.deltas[last - 1].buffer.as_entire_binding()),
                (9, self.loss.buffer.as_entire_binding()),
                (10, self.split.images.buffer.as_entire_binding()),
                (11, self.order.buffer.as_entire_binding()),
                (12, self.perm.buffer.as_entire_binding()),
                (13, self.split.labels.buffer.as_entire_binding()),
                (14, self.bad.buffer.as_entire_binding()),
                (15, self.x0.buffer.as_entire_binding()),
            ],
            threads,
            cost,
        )
    }
}
