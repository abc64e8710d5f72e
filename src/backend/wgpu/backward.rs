//! Launches of shaders/backward.wgsl: the generic error through a hidden
//! layer to its input.

use super::Engine;
use super::Shader;
use super::cost::{self, Shapes};
use super::dispatch::Dispatch;
use super::train::TrainGraph;

impl TrainGraph {
    /// The generic error through layer l (l >= 1) to its input.
    pub(super) fn backward_dispatch(&self, e: &Engine, l: usize, shapes: Shapes) -> Dispatch {
        e.dispatch(
            Shader::Backward,
            "backward",
            &e.layer_bindings(
                l,
                [
                    ("delta_out", self.deltas[l].buffer.as_entire_binding()),
                    ("act_in", self.acts[l - 1].buffer.as_entire_binding()),
                    ("delta_in", self.deltas[l - 1].buffer.as_entire_binding()),
                ],
            ),
            shapes.runs * shapes.samples * shapes.batch * e.arch.n_in(l),
            cost::backward(shapes, &e.arch, l),
        )
    }
}
