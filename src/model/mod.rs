//! The Bayesian MLP on the GPU: R independent runs of one architecture share
//! every dispatch. A training step is noise -> sampled forward -> the fused
//! output layer (forward, loss, dC/dz, error to the hidden layer) ->
//! backward -> fused update, recorded many steps per submit.

mod arch;
mod cost;
mod dispatch;
mod engine;
mod eval;
mod eval_fast;
mod image_tiles;
mod memory;
mod rules;
mod sampled_gemm;
mod split;
mod train;
mod train_gemm;
mod uniforms;

pub use arch::{Architecture, Params};
pub use engine::{Engine, EngineConfig, Intermediates, Kernels};
pub use eval::{EvalKernels, EvalResult, EvalSet};
pub use image_tiles::{ImageTiles, similarity_order};
pub use memory::{RunMemory, run_memory};
pub use rules::{Rule, healthy};
pub use split::DeviceSplit;
pub use train::TrainKernels;
pub use uniforms::{DOMAIN_EVAL, DOMAIN_TRAIN, LayerUniform, Score, StepUniform};

/// Workgroup size of every kernel (a WGSL `override`).
pub const WORKGROUP: u32 = 64;
