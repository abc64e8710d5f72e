use std::time::Instant;

use super::{GpuBuffer, GpuContext, GpuError, PipelineCache, Shader};

/// FLOPs per invocation and loop iteration of shaders/peak.wgsl:
/// 8 chains x vec4 x (multiply + add).
const FLOPS_PER_ITERATION: f64 = 8.0 * 4.0 * 2.0;

/// Median seconds of `repeats` submits of `launches` dispatches each of
/// `invocations` x `iterations` FMA chains, after one untimed warm-up that
/// compiles the pipeline.
fn time_peak_kernel(
    ctx: &GpuContext,
    invocations: usize,
    iterations: u32,
    launches: usize,
    repeats: usize,
) -> Result<f64, GpuError> {
    let mut cache = PipelineCache::default();
    let kernel = cache.kernel(ctx, Shader::Peak, "peak", 64);
    let sink = GpuBuffer::<[f32; 4]>::zeroed(ctx, "peak sink", invocations)?;
    let count = GpuBuffer::from_slice(ctx, "peak iterations", &[[iterations, 0, 0, 0]])?;
    let group = kernel.bind(
        ctx,
        &[
            ("sink", sink.buffer.as_entire_binding()),
            ("iterations", count.buffer.as_entire_binding()),
        ],
    );
    let run = || -> Result<f64, GpuError> {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &group, &[]);
            for _ in 0..launches {
                pass.dispatch_workgroups(invocations.div_ceil(64) as u32, 1, 1);
            }
        }
        let start = Instant::now();
        ctx.submit_wait(encoder)?;
        Ok(start.elapsed().as_secs_f64())
    };
    run()?;
    let mut secs = (0..repeats).map(|_| run()).collect::<Result<Vec<_>, _>>()?;
    secs.sort_by(f64::total_cmp);
    Ok(secs[secs.len() / 2])
}

/// The achievable f32 FMA rate of the adapter in GFLOP/s: the median of
/// `repeats` timed dispatches of `invocations` x `iterations` independent
/// FMA chains.
pub fn peak_gflops(
    ctx: &GpuContext,
    invocations: usize,
    iterations: u32,
    repeats: usize,
) -> Result<f64, GpuError> {
    let secs = time_peak_kernel(ctx, invocations, iterations, 1, repeats)?;
    let flops = invocations as f64 * iterations as f64 * FLOPS_PER_ITERATION;
    Ok(flops / secs * 1e-9)
}

/// The fixed cost of one dispatch in microseconds: `launches` dispatches of
/// one workgroup that does no work (zero iterations, one store per lane),
/// recorded in one pass and submitted once, median of `repeats`.
pub fn dispatch_overhead_us(
    ctx: &GpuContext,
    launches: usize,
    repeats: usize,
) -> Result<f64, GpuError> {
    let secs = time_peak_kernel(ctx, 64, 0, launches, repeats)?;
    Ok(secs / launches as f64 * 1e6)
}
