//! Launches of shaders/output.wgsl: logits to the loss and its gradient
//! (the v0 training kernels) or to the prediction and its entropies
//! (evaluation).

use super::cost::{self, Shapes};
use super::dispatch::Dispatch;
use super::train::TrainGraph;
use super::{Engine, GpuBuffer, Shader};
use crate::model::Score;

impl TrainGraph {
    /// The v0 loss kernel: loss and dC/dlogits of the last layer.
    pub(super) fn loss_grad_dispatch(&self, e: &Engine, shapes: Shapes) -> Dispatch {
        let last = e.arch.layers() - 1;
        e.dispatch(
            Shader::Output,
            "loss_grad",
            &[
                ("layer", e.layers[last].as_entire_binding()),
                ("logits", self.acts[last].buffer.as_entire_binding()),
                ("delta", self.deltas[last].buffer.as_entire_binding()),
                ("loss", self.loss.buffer.as_entire_binding()),
                ("order", self.order.buffer.as_entire_binding()),
                ("labels", self.split.labels.buffer.as_entire_binding()),
            ],
            shapes.runs * shapes.batch,
            cost::loss_grad(shapes, &e.arch),
        )
    }
}

/// The prediction and entropies of a chunk of `chunk` images per run from
/// the last layer's `logits` into `scores`, slot by slot through `order`.
pub(super) fn predict_dispatch(
    e: &Engine,
    logits: &GpuBuffer<f32>,
    scores: &GpuBuffer<Score>,
    [order, labels]: [&GpuBuffer<u32>; 2],
    chunk: usize,
) -> Dispatch {
    let (r, k, last) = (e.runs.len(), e.cfg.test_samples, e.arch.layers() - 1);
    e.dispatch(
        Shader::Output,
        "predict",
        &[
            ("layer", e.layers[last].as_entire_binding()),
            ("logits", logits.buffer.as_entire_binding()),
            ("scores", scores.buffer.as_entire_binding()),
            ("order", order.buffer.as_entire_binding()),
            ("labels", labels.buffer.as_entire_binding()),
        ],
        r * chunk,
        cost::predict(e.shapes(k, chunk), &e.arch),
    )
}
