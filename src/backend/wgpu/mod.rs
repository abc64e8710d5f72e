//! The wgpu backend: R independent runs of one architecture share every
//! dispatch. A training step is noise -> sampled forward -> the fused
//! output layer (forward, loss, dC/dz, error to the hidden layer) ->
//! backward -> fused update, recorded many steps per submit.
//!
//! The plumbing (adapter choice and limits, typed buffers with readback,
//! WGSL assembly and the pipeline cache, the profiler) and the engine with
//! the launch plans of a step and of evaluation.

mod buffer;
mod context;
mod cost;
mod dispatch;
mod engine;
mod eval;
mod eval_fast;
mod image_tiles;
mod memory;
mod peak;
mod philox;
mod profile;
mod sampled_gemm;
mod shader;
mod split;
mod train;
mod train_gemm;
mod uniforms;

pub use buffer::{GpuBuffer, StepUniforms};
pub use context::{AdapterChoice, AdapterSummary, GpuContext, GpuError, list_adapters};
pub use engine::{Engine, Intermediates, Kernels};
pub use eval::EvalKernels;
pub use image_tiles::ImageTiles;
pub use memory::{RunMemory, run_memory};
pub use peak::{dispatch_overhead_us, peak_gflops};
pub use philox::philox_on_gpu;
pub use profile::{Cost, Profiler};
pub use shader::{Kernel, Overrides, PipelineCache, Shader, grid};
pub use split::DeviceSplit;
pub use train::TrainKernels;
pub use uniforms::{LayerUniform, StepUniform};

/// Workgroup size of every kernel (a WGSL `override`).
pub const WORKGROUP: u32 = 64;
