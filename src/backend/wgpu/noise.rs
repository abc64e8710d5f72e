//! Launches of shaders/noise.wgsl: each layer's Gaussian noise for every
//! run and sample, and the raw Philox stream for the tests.

use super::cost;
use super::dispatch::Dispatch;
use super::{Engine, GpuBuffer, GpuContext, GpuError, PipelineCache, Shader};

impl Engine {
    /// The noise of layer `l`, sized for the larger K.
    pub(super) fn noise_dispatch(&self, l: usize) -> Dispatch {
        let groups = self.arch.stride(l) / 4;
        // Sized for the larger K; the kernel reads the step's K.
        let k_max = self.cfg.train_samples.max(self.cfg.test_samples);
        self.dispatch(
            Shader::Noise,
            "noise",
            &[
                ("layer", self.layers[l].as_entire_binding()),
                ("runs", self.run_buf.buffer.as_entire_binding()),
                ("eps", self.eps[l].buffer.as_entire_binding()),
            ],
            self.runs.len() * k_max * groups,
            cost::noise(self.shapes(k_max, 1), &self.arch, l),
        )
    }
}

/// The raw Philox4x32-10 output of the WGSL generator for `counters` under
/// `key`: lets tests check the GPU stream against the Rust twin bit for bit.
#[doc(hidden)]
pub fn philox_on_gpu(
    ctx: &GpuContext,
    key: [u32; 2],
    counters: &[[u32; 4]],
) -> Result<Vec<[u32; 4]>, GpuError> {
    let mut cache = PipelineCache::default();
    let kernel = cache.kernel(ctx, Shader::Noise, "philox_raw", 64);
    let mut input = vec![[key[0], key[1], counters.len() as u32, 0]];
    input.extend_from_slice(counters);
    let input = GpuBuffer::from_slice(ctx, "philox counters", &input)?;
    let output = GpuBuffer::<[u32; 4]>::zeroed(ctx, "philox output", counters.len())?;
    let group = kernel.bind(
        ctx,
        &[
            ("raw", output.buffer.as_entire_binding()),
            ("raw_in", input.buffer.as_entire_binding()),
        ],
    );
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&kernel.pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(counters.len().div_ceil(64) as u32, 1, 1);
    }
    ctx.submit_wait(encoder)?;
    output.read(ctx)
}
