//! Launches of shaders/forward.wgsl, the generic sampled forward of any
//! layer, and the forward below a layer as a list of launches (the input
//! gather and first layer of shaders/input_layer.wgsl, then this one).

use super::cost::{self, Shapes};
use super::dispatch::Dispatch;
use super::{Engine, GpuBuffer, Shader};

/// What the first layer's forward does besides its forward: in batch-1
/// training it draws the layer's noise (and may keep it for the update),
/// and it gathers the next step's input into the other half of x0.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct InputExtras {
    pub draw_noise: bool,
    pub keep_noise: bool,
    pub prefetch: bool,
}

impl Engine {
    /// The input gather into `x0` (from `images` through `order` and `perm`)
    /// and the sampled forward of layers 0..`layers` into `acts`; sized for
    /// `samples` x `batch` examples, the first layer's forward with `extras`
    /// (batch 1 only).
    pub(super) fn forward_dispatches(
        &self,
        x0: &GpuBuffer<f32>,
        acts: &[GpuBuffer<f32>],
        sources: [&wgpu::Buffer; 3],
        (samples, batch, layers): (usize, usize, usize),
        extras: InputExtras,
    ) -> Vec<Dispatch> {
        let batch_one = !(extras.draw_noise || extras.prefetch) || batch == 1;
        assert!(batch_one, "one invocation per noise row, two halves of x0");
        let shapes = self.shapes(samples, batch);
        let first = self.forward_input_dispatch((x0, sources), &acts[0], shapes, extras);
        let hidden =
            (1..layers).map(|l| self.forward_hidden_dispatch(l, &acts[l - 1], &acts[l], shapes));
        [self.gather_dispatch(x0, sources, shapes), first]
            .into_iter()
            .chain(hidden)
            .collect()
    }

    /// The generic sampled forward of layer `l` (any layer: layer 0 reads
    /// the gathered input, shared by the samples).
    pub(super) fn forward_hidden_dispatch(
        &self,
        l: usize,
        act_in: &GpuBuffer<f32>,
        act_out: &GpuBuffer<f32>,
        shapes: Shapes,
    ) -> Dispatch {
        let entries = self.layer_bindings(
            l,
            [
                ("act_out", act_out.buffer.as_entire_binding()),
                ("act_in", act_in.buffer.as_entire_binding()),
            ],
        );
        let threads = shapes.runs * shapes.samples * shapes.batch * self.arch.n_out(l);
        let cost = cost::forward(shapes, &self.arch, l);
        self.dispatch(Shader::Forward, "forward_hidden", &entries, threads, cost)
    }
}
