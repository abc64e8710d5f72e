//! Host mirrors of the WGSL structs in shaders/common/structs.wgsl and output.wgsl.

use crate::model::Architecture;
use crate::optim::RunSpec;
use crate::philox::philox_key;

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

/// `struct Run` of shaders/common/structs.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RunUniform {
    pub key: [u32; 2],
    pub optimizer: u32,
    /// `model::Pass` as its code: 0 train, 1 Fisher pass, 2 hold (`pass` is a WGSL keyword).
    pub step_pass: u32,
    pub lr_mu: f32,
    pub lr_sigma: f32,
    pub mu_prior: f32,
    pub sigma_prior_sq: f32,
    pub inv_n_prior: f32,
    pub clamp_grad: f32,
    pub strength: f32,
    pub gamma: f32,
    pub xi: f32,
    pub _pad: [f32; 3],
}

impl RunUniform {
    pub fn new(spec: &RunSpec) -> Self {
        let h = &spec.hyper;
        let sp2 = h.sigma_prior * h.sigma_prior;
        let (strength, gamma, xi) = h.penalty.map_or((0.0, 0.0, 0.0), |p| p.coefficients());
        RunUniform {
            key: philox_key(spec.seed),
            optimizer: h.optimizer.code(),
            step_pass: 0,
            lr_mu: h.lr_mu as f32,
            lr_sigma: h.lr_sigma as f32,
            mu_prior: h.mu_prior as f32,
            sigma_prior_sq: sp2 as f32,
            inv_n_prior: (1.0 / (h.n * sp2)) as f32,
            clamp_grad: h.clamp_grad as f32,
            strength: strength as f32,
            gamma: gamma as f32,
            xi: xi as f32,
            _pad: [0.0; 3],
        }
    }
}
