//! The wgpu backend: R independent runs of one architecture share every
//! dispatch. A training step is noise -> sampled forward -> the fused
//! output layer (forward, loss, dC/dz, error to the hidden layer) ->
//! backward -> fused update, recorded many steps per submit.
//!
//! The plumbing (adapter choice and limits, typed buffers with readback,
//! WGSL assembly and the pipeline cache, the profiler) and the engine with
//! the launch plans of a step and of evaluation.

// Plumbing.
mod buffer;
mod context;
mod dispatch;
mod profile;
mod shader;
mod split;
mod uniforms;

// The engine, its launch plans, and its place behind the seam.
mod backend_impl;
mod cost;
mod engine;
mod eval;
mod eval_fast;
mod image_tiles;
mod memory;
mod train;

// Launches of one kernel file each: shaders/<module>.wgsl.
mod backward;
mod forward;
mod input_layer;
mod noise;
mod output;
mod output_layer;
mod peak;
mod sampled_gemm;
mod train_gemm;
mod update;

pub use crate::backend::Cost;
pub use buffer::{GpuBuffer, StepUniforms};
pub use context::{AdapterChoice, AdapterSummary, GpuContext, GpuError, Plan, list_adapters};
pub use engine::{Engine, Intermediates, Kernels};
pub use eval::EvalKernels;
pub use image_tiles::ImageTiles;
pub use memory::{RunMemory, run_memory};
pub use noise::philox_on_gpu;
pub use peak::{dispatch_overhead_us, peak_gflops};
pub use profile::Profiler;
pub use shader::{
    Kernel, Overrides, PipelineCache, Shader, StageBindings, check_stage_limits, grid,
    native_int64, stage_bindings, subgroup_sums,
};
pub use split::DeviceSplit;
pub use train::TrainKernels;
pub use uniforms::{LayerUniform, RunUniform, StepUniform};

/// A buffer beyond the adapter's binding limit is `Error::TooLarge`, which
/// a sweep answers by running the group in halves.
impl From<GpuError> for crate::Error {
    fn from(e: GpuError) -> Self {
        match e {
            GpuError::TooLarge { .. } => crate::Error::TooLarge(e.to_string()),
            e => crate::Error::Gpu(Box::new(e)),
        }
    }
}

/// Workgroup size of every kernel (a WGSL `override`) but the tiled GEMMs.
pub const WORKGROUP: u32 = 64;

/// Workgroup size of the 2D-tiled GEMMs (shaders/common/gemm_tile.wgsl):
/// 16 x 16 invocations of 4 x 4 outputs, a 64 x 64 tile.
pub const TILE_WORKGROUP: u32 = 256;
