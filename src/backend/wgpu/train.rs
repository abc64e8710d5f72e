use super::GpuBuffer;
use super::cost::Shapes;
use super::dispatch::Dispatch;
use super::forward::InputExtras;
use super::sampled_gemm::{row4, tiles_by_default, weight_buffer};
use super::{DeviceSplit, Engine};
use crate::Error;

/// Kernels of a training step. `V0` keeps the first simple ones as the
/// baseline of the benchmarks: a noise launch per layer, the generic
/// forward, backward and per-parameter update for every layer, and a
/// separate loss kernel. `Fast` is latency-bound at batch 1 (few launches)
/// and a GEMM path at batch > 1 (train_gemm.rs), each in the context's
/// `Plan`: at batch 1 the first layer's forward draws its noise, on CPU
/// adapters keeping it for the update, on GPUs (its rows summed by
/// workgroups) leaving the update to draw it again; at batch > 1 the GEMMs
/// read weights sampled once per step directly on CPU adapters, and on GPUs
/// tile through workgroup memory, sampling their weights as they stage
/// them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrainKernels {
    V0,
    #[default]
    Fast,
}

/// Buffers and the recorded dispatch list of one training step
/// (after the noise launches): forward of the layers below the output, the
/// fused output layer, backward through the other hidden layers, fused
/// update per layer.
pub struct TrainGraph {
    pub split: DeviceSplit,
    pub order: GpuBuffer<u32>,
    pub perm: GpuBuffer<u32>,
    pub x0: GpuBuffer<f32>,
    pub acts: Vec<GpuBuffer<f32>>,
    pub deltas: Vec<GpuBuffer<f32>>,
    pub loss: GpuBuffer<f32>,
    pub bad: GpuBuffer<u32>,
    /// The GEMM path's weight samples of each layer below the output (CPU
    /// adapters only).
    pub weights: Vec<GpuBuffer<f32>>,
    pub dispatches: Vec<Dispatch>,
    /// Batch 1: each step's output layer gathers the next step's input into
    /// the other half of `x0`, so the gather (the first dispatch) runs only
    /// on a submit's first step.
    pub gathers_ahead: bool,
}

impl TrainGraph {
    pub fn new(e: &Engine, split: DeviceSplit) -> Result<Self, Error> {
        if e.arch.layers() < 2 {
            // The fused output layer sends its error to a hidden layer.
            return Err(Error::Settings(
                "training needs at least one hidden layer".into(),
            ));
        }
        let r = e.runs.len();
        let (k, b) = (e.cfg.train_samples, e.cfg.batch);
        let layers = e.arch.layers();
        let identity: Vec<u32> = (0..r).flat_map(|_| 0..split.len as u32).collect();
        let perm: Vec<u32> = (0..r).flat_map(|_| 0..e.arch.n_in(0) as u32).collect();
        let mut acts = Vec::new();
        let mut deltas = Vec::new();
        for l in 0..layers {
            let n = r * k * b * e.arch.n_out(l);
            acts.push(GpuBuffer::zeroed(&e.ctx, "activations", n)?);
            deltas.push(GpuBuffer::zeroed(&e.ctx, "errors", n)?);
        }
        // The GPU plan's GEMMs sample their weights as they stage them.
        let weights = if e.trains_by_gemm() && !tiles_by_default(e) {
            (0..layers - 1)
                .map(|l| weight_buffer(e, l, row4(e.arch.n_out(l), false), k))
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        let gathers_ahead = e.fused_batch_one();
        let halves = 1 + gathers_ahead as usize;
        let mut g = TrainGraph {
            x0: GpuBuffer::zeroed(&e.ctx, "input", halves * r * b * e.arch.n_in(0))?,
            order: GpuBuffer::from_slice(&e.ctx, "order", &identity)?,
            perm: GpuBuffer::from_slice(&e.ctx, "permutation", &perm)?,
            acts,
            deltas,
            loss: GpuBuffer::zeroed(&e.ctx, "loss", r * k * b)?,
            bad: GpuBuffer::from_slice(&e.ctx, "sigma check", &vec![u32::MAX; r * layers])?,
            weights,
            dispatches: Vec::new(),
            gathers_ahead,
            split,
        };
        g.dispatches = g.record(e);
        debug_assert!(!gathers_ahead || g.dispatches[0].kernel.name == "gather_input");
        Ok(g)
    }

    fn record(&self, e: &Engine) -> Vec<Dispatch> {
        let (k, b) = (e.cfg.train_samples, e.cfg.batch);
        let shapes = e.shapes(k, b);
        let last = e.arch.layers() - 1;
        if e.trains_by_gemm() {
            return self.gemm_step(e, shapes);
        }
        let mut out = match e.kernels.train {
            TrainKernels::Fast => self.fast_forward_and_errors(e, shapes),
            TrainKernels::V0 => self.v0_forward_and_errors(e, shapes),
        };
        for l in (1..last).rev() {
            out.push(self.backward_dispatch(e, l, shapes));
        }
        // The fast kernels update the first layer with its own kernel.
        let generic_from = match e.kernels.train {
            TrainKernels::V0 => 0,
            TrainKernels::Fast => {
                out.push(self.update_input_dispatch(e, shapes));
                1
            }
        };
        // At batch 1 the output layer updated itself.
        let generic_to = last + 1 - e.fused_batch_one() as usize;
        for l in generic_from..generic_to {
            let input = if l == 0 { &self.x0 } else { &self.acts[l - 1] };
            out.push(self.update_hidden_dispatch(e, l, input, shapes));
        }
        out
    }

    pub(super) fn sources(&self) -> [&wgpu::Buffer; 3] {
        [
            &self.split.images.buffer,
            &self.order.buffer,
            &self.perm.buffer,
        ]
    }

    /// Forward below the output layer, then the fused output layer: logits,
    /// loss, dC/dz and the error to the last hidden layer.
    fn fast_forward_and_errors(&self, e: &Engine, shapes: Shapes) -> Vec<Dispatch> {
        let (k, b) = (shapes.samples, shapes.batch);
        let last = e.arch.layers() - 1;
        let extras = InputExtras {
            draw_noise: e.draws_input_noise(),
            keep_noise: e.keeps_input_noise(),
            prefetch: self.gathers_ahead,
        };
        let mut out =
            e.forward_dispatches(&self.x0, &self.acts, self.sources(), (k, b, last), extras);
        out.push(self.output_layer_dispatch(e, shapes));
        out
    }

    /// The v0 kernels: the generic forward for every layer (the first reads
    /// the gathered input), the loss kernel, and the generic backward of
    /// the output layer.
    fn v0_forward_and_errors(&self, e: &Engine, shapes: Shapes) -> Vec<Dispatch> {
        let last = e.arch.layers() - 1;
        let mut out = vec![e.gather_dispatch(&self.x0, self.sources(), shapes)];
        for l in 0..=last {
            let input = if l == 0 { &self.x0 } else { &self.acts[l - 1] };
            out.push(e.forward_hidden_dispatch(l, input, &self.acts[l], shapes));
        }
        out.push(self.loss_grad_dispatch(e, shapes));
        out.push(self.backward_dispatch(e, last, shapes));
        out
    }
}
