//! Launches of shaders/update.wgsl: the generic fused update of any layer,
//! one invocation per parameter.

use super::cost::{self, Shapes};
use super::dispatch::Dispatch;
use super::train::TrainGraph;
use super::{Engine, GpuBuffer, Shader};

impl TrainGraph {
    /// The fused update of layer `l` from its errors and its `input`.
    pub(super) fn update_hidden_dispatch(
        &self,
        e: &Engine,
        l: usize,
        input: &GpuBuffer<f32>,
        shapes: Shapes,
    ) -> Dispatch {
        let entries = [
            ("layer", e.layers[l].as_entire_binding()),
            ("runs", e.run_buf.buffer.as_entire_binding()),
            ("mu", e.mu[l].buffer.as_entire_binding()),
            ("sigma", e.sigma[l].buffer.as_entire_binding()),
            ("eps", e.eps[l].buffer.as_entire_binding()),
            ("delta", self.deltas[l].buffer.as_entire_binding()),
            ("act_in", input.buffer.as_entire_binding()),
            ("bad", self.bad.buffer.as_entire_binding()),
            ("penalty", e.penalty[l].buffer.as_entire_binding()),
        ];
        let threads = shapes.runs * e.arch.params(l);
        let cost = cost::update(shapes, &e.arch, l);
        e.dispatch(Shader::Update, "update_hidden", &entries, threads, cost)
    }
}
