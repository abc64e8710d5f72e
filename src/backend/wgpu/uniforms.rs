//! Host mirrors of the WGSL structs in shaders/common/structs.wgsl and output.wgsl.

use crate::model::Architecture;

/// `struct Step`: one training step or one evaluation chunk.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepUniform {
    pub step: u32,
    pub pos: u32,
    pub batch: u32,
    pub samples: u32,
    pub domain: u32,
    pub order_stride: u32,
    pub x_scale: f32,
    pub x_shift: f32,
    pub examples: u32,
    /// Batch-1 training: the half of x0 this step reads.
    pub x_half: u32,
    pub _pad: [u32; 2],
}

/// `struct Layer`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LayerUniform {
    pub n_in: u32,
    pub n_out: u32,
    pub params: u32,
    pub has_bias: u32,
    pub index: u32,
    pub n_layers: u32,
    pub runs: u32,
    pub relu: u32,
    pub stride: u32,
    pub shared_input: u32,
    pub _pad: [u32; 2],
}

impl LayerUniform {
    pub fn new(arch: &Architecture, l: usize, runs: usize) -> Self {
        LayerUniform {
            n_in: arch.n_in(l) as u32,
            n_out: arch.n_out(l) as u32,
            params: arch.params(l) as u32,
            has_bias: arch.bias as u32,
            index: l as u32,
            n_layers: arch.layers() as u32,
            runs: runs as u32,
            relu: (l + 1 < arch.layers()) as u32,
            stride: arch.stride(l) as u32,
            shared_input: (l == 0) as u32,
            _pad: [0; 2],
        }
    }
}
