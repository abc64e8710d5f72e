//! wgpu plumbing: adapter choice and limits, typed buffers with readback,
//! WGSL assembly and the pipeline cache.

mod buffer;
mod context;
mod peak;
mod philox;
mod profile;
mod shader;

pub use buffer::{GpuBuffer, StepUniforms};
pub use context::{AdapterChoice, AdapterSummary, GpuContext, GpuError, list_adapters};
pub use peak::{dispatch_overhead_us, peak_gflops};
pub use philox::philox_on_gpu;
pub use profile::{Cost, ProfileRow, Profiler, profile_csv, profile_table};
pub use shader::{Kernel, Overrides, PipelineCache, Shader, grid};
