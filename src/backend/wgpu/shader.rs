use std::collections::HashMap;
use std::sync::Arc;

use super::GpuContext;

/// The kernel families: one top-level WGSL file each, shaders/<name>.wgsl,
/// launched from the module of the same name (src/backend/wgpu/<name>.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Noise,
    InputLayer,
    Forward,
    Backward,
    Output,
    OutputLayer,
    Update,
    SampledGemm,
    TrainGemm,
    Peak,
}

/// Shared snippets (shaders/common/), prepended before a kernel file.
const STRUCTS: &str = include_str!("../../../shaders/common/structs.wgsl");
const IMAGE_INPUT: &str = include_str!("../../../shaders/common/image_input.wgsl");
const LAYER_INPUT: &str = include_str!("../../../shaders/common/layer_input.wgsl");
const SOFTMAX: &str = include_str!("../../../shaders/common/softmax.wgsl");
const RULE: &str = include_str!("../../../shaders/common/rule.wgsl");
const PARAM_UPDATE: &str = include_str!("../../../shaders/common/param_update.wgsl");

/// Which files each family is built from: the snippets it includes after
/// common/structs.wgsl (Philox, Box-Muller, the uniform structs), then its
/// kernel file.
const FAMILIES: &[(Shader, &[&str], &str)] = &[
    (
        Shader::Noise,
        &[],
        include_str!("../../../shaders/noise.wgsl"),
    ),
    (
        Shader::InputLayer,
        &[IMAGE_INPUT, RULE],
        include_str!("../../../shaders/input_layer.wgsl"),
    ),
    (
        Shader::Forward,
        &[LAYER_INPUT],
        include_str!("../../../shaders/forward.wgsl"),
    ),
    (
        Shader::Backward,
        &[],
        include_str!("../../../shaders/backward.wgsl"),
    ),
    (
        Shader::Output,
        &[IMAGE_INPUT, SOFTMAX],
        include_str!("../../../shaders/output.wgsl"),
    ),
    (
        Shader::OutputLayer,
        &[IMAGE_INPUT, SOFTMAX, RULE, LAYER_INPUT, PARAM_UPDATE],
        include_str!("../../../shaders/output_layer.wgsl"),
    ),
    (
        Shader::Update,
        &[RULE, LAYER_INPUT, PARAM_UPDATE],
        include_str!("../../../shaders/update.wgsl"),
    ),
    (
        Shader::SampledGemm,
        &[LAYER_INPUT],
        include_str!("../../../shaders/sampled_gemm.wgsl"),
    ),
    (
        Shader::TrainGemm,
        &[RULE, LAYER_INPUT],
        include_str!("../../../shaders/train_gemm.wgsl"),
    ),
    (
        Shader::Peak,
        &[],
        include_str!("../../../shaders/peak.wgsl"),
    ),
];

impl Shader {
    /// The module source: common/structs.wgsl, the family's snippets, then
    /// its kernel file.
    pub fn source(self) -> String {
        let (_, pieces, body) = FAMILIES
            .iter()
            .find(|(s, _, _)| *s == self)
            .expect("every family is in FAMILIES");
        format!("{STRUCTS}\n{}\n{body}", pieces.join("\n"))
    }
}

/// One compiled entry point (auto layout) and its workgroup size.
pub struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub workgroup: u32,
    pub name: &'static str,
    /// Group 1 bound to each slot of the step uniforms. Auto layouts have no
    /// dynamic offsets, so each slot gets its own bind group, made once.
    pub step_groups: std::sync::OnceLock<Vec<wgpu::BindGroup>>,
}

impl Kernel {
    /// Bind group `group` of this kernel's layout from (binding, resource) pairs.
    pub fn bind(
        &self,
        ctx: &GpuContext,
        group: u32,
        entries: &[(u32, wgpu::BindingResource<'_>)],
    ) -> wgpu::BindGroup {
        let entries: Vec<_> = entries
            .iter()
            .map(|(binding, resource)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: resource.clone(),
            })
            .collect();
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.name),
            layout: &self.pipeline.get_bind_group_layout(group),
            entries: &entries,
        })
    }
}

/// `override` constants of one pipeline besides the workgroup size WG.
pub type Overrides = Vec<(&'static str, u32)>;

/// Builds each (shader, entry point, workgroup size, overrides) once.
#[derive(Default)]
pub struct PipelineCache {
    modules: HashMap<Shader, wgpu::ShaderModule>,
    kernels: HashMap<(Shader, &'static str, u32, Overrides), Arc<Kernel>>,
}

impl PipelineCache {
    pub fn kernel(
        &mut self,
        ctx: &GpuContext,
        shader: Shader,
        entry: &'static str,
        workgroup: u32,
    ) -> Arc<Kernel> {
        self.tuned_kernel(ctx, shader, entry, workgroup, Vec::new())
    }

    /// `kernel` with further `override` constants (tile sizes).
    pub fn tuned_kernel(
        &mut self,
        ctx: &GpuContext,
        shader: Shader,
        entry: &'static str,
        workgroup: u32,
        overrides: Overrides,
    ) -> Arc<Kernel> {
        let key = (shader, entry, workgroup, overrides);
        if let Some(k) = self.kernels.get(&key) {
            return k.clone();
        }
        let constants: Vec<(&str, f64)> = std::iter::once(("WG", workgroup as f64))
            .chain(key.3.iter().map(|&(name, v)| (name, v as f64)))
            .collect();
        let module = self.modules.entry(shader).or_insert_with(|| {
            ctx.device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(entry),
                    source: wgpu::ShaderSource::Wgsl(shader.source().into()),
                })
        });
        let pipeline = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        let kernel = Arc::new(Kernel {
            pipeline,
            workgroup,
            name: entry,
            step_groups: Default::default(),
        });
        self.kernels.insert(key, kernel.clone());
        kernel
    }
}

/// Workgroup grid for `threads` invocations of `workgroup` threads: x capped
/// at the per-dimension limit, the rest in y (kernels use `linear_id`).
pub fn grid(threads: usize, workgroup: u32, max_per_dim: u32) -> (u32, u32) {
    let groups = threads.div_ceil(workgroup as usize).max(1);
    let x = groups.min(max_per_dim as usize);
    (x as u32, groups.div_ceil(x) as u32)
}
