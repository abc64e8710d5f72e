use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use wgpu::naga;

use super::{GpuContext, GpuError, Plan};

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
const MULHILO32: &str = include_str!("../../../shaders/common/mulhilo32.wgsl");
const MULHILO64: &str = include_str!("../../../shaders/common/mulhilo64.wgsl");
const IMAGE_INPUT: &str = include_str!("../../../shaders/common/image_input.wgsl");
const LAYER_INPUT: &str = include_str!("../../../shaders/common/layer_input.wgsl");
const SOFTMAX: &str = include_str!("../../../shaders/common/softmax.wgsl");
const RULE: &str = include_str!("../../../shaders/common/rule.wgsl");
const PARAM_UPDATE: &str = include_str!("../../../shaders/common/param_update.wgsl");
const SUM_TREE: &str = include_str!("../../../shaders/common/sum_tree.wgsl");
const SUM_SUBGROUP: &str = include_str!("../../../shaders/common/sum_subgroup.wgsl");
const EPS_QUAD: &str = include_str!("../../../shaders/common/eps_quad.wgsl");
const WEIGHT_QUAD: &str = include_str!("../../../shaders/common/weight_quad.wgsl");
const GEMM_TILE: &str = include_str!("../../../shaders/common/gemm_tile.wgsl");

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
        &[LAYER_INPUT, EPS_QUAD, WEIGHT_QUAD, GEMM_TILE],
        include_str!("../../../shaders/sampled_gemm.wgsl"),
    ),
    (
        Shader::TrainGemm,
        &[RULE, LAYER_INPUT, EPS_QUAD, WEIGHT_QUAD, GEMM_TILE],
        include_str!("../../../shaders/train_gemm.wgsl"),
    ),
    (
        Shader::Peak,
        &[],
        include_str!("../../../shaders/peak.wgsl"),
    ),
];

/// How a context builds the modules: Philox's 32x32 -> 64-bit product from
/// a native 64-bit multiply or from 16-bit halves, and workgroup sums
/// through subgroup operations or by a tree in workgroup memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Variant {
    pub int64: bool,
    pub subgroups: bool,
}

impl Variant {
    pub fn of(ctx: &GpuContext) -> Self {
        Self {
            int64: native_int64(ctx),
            subgroups: subgroup_sums(ctx),
        }
    }
}

impl Shader {
    /// The module source: common/structs.wgsl, Philox's 64-bit product, the
    /// workgroup sums (families that sum over a workgroup), the family's
    /// snippets, then its kernel file.
    pub fn source(self, variant: Variant) -> String {
        let (_, pieces, body) = FAMILIES
            .iter()
            .find(|(s, _, _)| *s == self)
            .expect("every family is in FAMILIES");
        let mulhilo = if variant.int64 { MULHILO64 } else { MULHILO32 };
        let sums = match (self, variant.subgroups) {
            (Shader::InputLayer | Shader::OutputLayer, true) => SUM_SUBGROUP,
            (Shader::InputLayer | Shader::OutputLayer, false) => SUM_TREE,
            _ => "",
        };
        format!(
            "{STRUCTS}\n{mulhilo}\n{sums}\n{}\n{body}",
            pieces.join("\n")
        )
    }
}

/// Whether kernels on `ctx` take Philox's product from a native 64-bit
/// multiply: in the GPU plan, where the device has shader-int64 (on
/// lavapipe it was no faster, docs/performance.md step 1).
pub fn native_int64(ctx: &GpuContext) -> bool {
    ctx.plan == Plan::Gpu && ctx.features.contains(wgpu::Features::SHADER_INT64)
}

/// Whether the GPU plan's workgroup sums use subgroup operations: where the
/// device has them (the tree in workgroup memory otherwise, and always on
/// CPU adapters, whose kernels do not sum over a workgroup).
pub fn subgroup_sums(ctx: &GpuContext) -> bool {
    ctx.plan == Plan::Gpu && ctx.features.contains(wgpu::Features::SUBGROUP)
}

/// One resource variable of a kernel's module: its WGSL name, group and
/// binding, and whether the kernel's entry point uses it (its layout holds
/// only those).
#[derive(Clone, Debug)]
pub struct Slot {
    pub name: String,
    pub group: u32,
    pub binding: u32,
    pub used: bool,
    /// The buffer binding type: uniform, or storage (read-only or not).
    pub ty: wgpu::BufferBindingType,
    /// The size of the WGSL type (one element for a runtime-sized array),
    /// as the auto layout derives `min_binding_size`.
    pub min_size: Option<wgpu::BufferSize>,
}

/// A family's module parsed and validated by naga, once: its resource
/// declarations and which entry point uses which.
struct Reflection {
    module: naga::Module,
    info: naga::valid::ModuleInfo,
}

impl Reflection {
    fn new(shader: Shader) -> Self {
        let module = naga::front::wgsl::parse_str(&shader.source(Variant::default()))
            .unwrap_or_else(|e| panic!("{shader:?}: WGSL does not parse: {e}"));
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{shader:?}: WGSL does not validate: {e}"));
        Self { module, info }
    }

    fn entry_points(&self) -> impl Iterator<Item = &str> {
        self.module.entry_points.iter().map(|e| e.name.as_str())
    }

    /// The resource slots declared by the module, `used` for `entry`.
    fn slots(&self, entry: &str) -> Vec<Slot> {
        let index = self
            .module
            .entry_points
            .iter()
            .position(|e| e.name == entry)
            .unwrap_or_else(|| panic!("no entry point `{entry}`"));
        let uses = self.info.get_entry_point(index);
        self.module
            .global_variables
            .iter()
            .filter_map(|(handle, var)| {
                let binding = var.binding.as_ref()?;
                let ty = match var.space {
                    naga::AddressSpace::Uniform => wgpu::BufferBindingType::Uniform,
                    naga::AddressSpace::Storage { access } => wgpu::BufferBindingType::Storage {
                        read_only: !access.contains(naga::StorageAccess::STORE),
                    },
                    _ => return None,
                };
                let size = self.module.types[var.ty].inner.size(self.module.to_ctx());
                Some(Slot {
                    ty,
                    min_size: wgpu::BufferSize::new(size as u64),
                    name: var.name.clone()?,
                    group: binding.group,
                    binding: binding.binding,
                    used: !uses[handle].is_empty(),
                })
            })
            .collect()
    }
}

/// The buffers one entry point binds, counted as the per-stage limits
/// count them (its layout holds only the variables it uses).
#[derive(Clone, Debug)]
pub struct StageBindings {
    pub shader: Shader,
    pub entry: String,
    pub storage: u32,
    pub uniform: u32,
}

/// The bindings of every entry point of every kernel family, reflected
/// once per process.
pub fn stage_bindings() -> &'static [StageBindings] {
    static ALL: OnceLock<Vec<StageBindings>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Vec::new();
        for &(shader, _, _) in FAMILIES {
            let reflection = Reflection::new(shader);
            for entry in reflection.entry_points() {
                let used: Vec<_> = reflection
                    .slots(entry)
                    .into_iter()
                    .filter(|s| s.used)
                    .collect();
                let count = |uniform: bool| {
                    let n = used
                        .iter()
                        .filter(|s| (s.ty == wgpu::BufferBindingType::Uniform) == uniform)
                        .count();
                    n as u32
                };
                all.push(StageBindings {
                    shader,
                    entry: entry.to_string(),
                    storage: count(false),
                    uniform: count(true),
                });
            }
        }
        all
    })
}

/// Refuses an adapter on which some kernel binds more storage or uniform
/// buffers than one shader stage may (16 storage buffers on DX12 tier 2
/// and GL), naming the kernel and the limit, before any pipeline is built.
pub fn check_stage_limits(limits: &wgpu::Limits, adapter: &str) -> Result<(), GpuError> {
    let kinds = [
        ("storage", limits.max_storage_buffers_per_shader_stage),
        ("uniform", limits.max_uniform_buffers_per_shader_stage),
    ];
    for b in stage_bindings() {
        for (kind, limit) in kinds {
            let needed = if kind == "storage" {
                b.storage
            } else {
                b.uniform
            };
            if needed > limit {
                return Err(GpuError::TooManyBindings {
                    kernel: b.entry.clone(),
                    kind,
                    needed,
                    limit,
                    adapter: adapter.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// One compiled entry point and its workgroup size. Its pipeline layout is
/// explicit: group 0 from the variables the entry point uses, group 1 (when
/// used) the step uniform at a dynamic offset.
pub struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub workgroup: u32,
    pub name: &'static str,
    /// The module's resource variables, by WGSL name.
    pub slots: Vec<Slot>,
    /// The group-0 layout, built from `slots`.
    group0: wgpu::BindGroupLayout,
}

impl Kernel {
    /// Bind group 0 of this kernel from (WGSL variable name, resource)
    /// pairs. Names the entry point does not use are skipped (its layout
    /// leaves them out). A name the module does not declare in group 0, or a
    /// used binding left unbound, is a launcher bug: panics naming the
    /// kernel and the variable.
    pub fn bind(
        &self,
        ctx: &GpuContext,
        entries: &[(&str, wgpu::BindingResource<'_>)],
    ) -> wgpu::BindGroup {
        let group = 0;
        let in_group = |name: &str| {
            self.slots
                .iter()
                .find(|s| s.group == group && s.name == name)
        };
        let mut bound = Vec::with_capacity(entries.len());
        for (name, resource) in entries {
            let slot = in_group(name).unwrap_or_else(|| {
                panic!(
                    "kernel `{}`: no variable `{name}` in @group({group})",
                    self.name
                )
            });
            if slot.used {
                bound.push(wgpu::BindGroupEntry {
                    binding: slot.binding,
                    resource: resource.clone(),
                });
            }
        }
        if let Some(missing) = self.slots.iter().find(|s| {
            s.group == group && s.used && !entries.iter().any(|(name, _)| *name == s.name)
        }) {
            panic!(
                "kernel `{}`: `{}` (@group({group}) @binding({})) is used but left unbound",
                self.name, missing.name, missing.binding
            );
        }
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.name),
            layout: &self.group0,
            entries: &bound,
        })
    }
}

/// `override` constants of one pipeline besides the workgroup size WG.
pub type Overrides = Vec<(&'static str, u32)>;

/// Builds each (shader, entry point, workgroup size, overrides) once.
#[derive(Default)]
pub struct PipelineCache {
    modules: HashMap<(Shader, Variant), (wgpu::ShaderModule, Reflection)>,
    kernels: HashMap<(Shader, Variant, &'static str, u32, Overrides), Arc<Kernel>>,
    /// Group 1 of the kernels that read the step uniform (`StepUniforms`).
    step_layout: Option<wgpu::BindGroupLayout>,
}

/// The layout of group 1: the step uniform at a dynamic offset.
pub fn step_layout(ctx: &GpuContext, size: u64) -> wgpu::BindGroupLayout {
    ctx.device
        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("step"),
            entries: &[layout_entry(
                0,
                (
                    wgpu::BufferBindingType::Uniform,
                    wgpu::BufferSize::new(size),
                ),
                true,
            )],
        })
}

fn layout_entry(
    binding: u32,
    (ty, min_binding_size): (wgpu::BufferBindingType, Option<wgpu::BufferSize>),
    has_dynamic_offset: bool,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset,
            min_binding_size,
        },
        count: None,
    }
}

impl PipelineCache {
    /// A cache whose kernels take the step uniform through `step_layout`.
    pub fn with_step_layout(step_layout: wgpu::BindGroupLayout) -> Self {
        Self {
            step_layout: Some(step_layout),
            ..Default::default()
        }
    }

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
        let variant = Variant::of(ctx);
        let key = (shader, variant, entry, workgroup, overrides);
        if let Some(k) = self.kernels.get(&key) {
            return k.clone();
        }
        let constants: Vec<(&str, f64)> = std::iter::once(("WG", workgroup as f64))
            .chain(key.4.iter().map(|&(name, v)| (name, v as f64)))
            .collect();
        let (module, reflection) = self.modules.entry((shader, variant)).or_insert_with(|| {
            let module = ctx
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(entry),
                    source: wgpu::ShaderSource::Wgsl(shader.source(variant).into()),
                });
            (module, Reflection::new(shader))
        });
        let slots = reflection.slots(entry);
        let group0_entries: Vec<_> = slots
            .iter()
            .filter(|s| s.group == 0 && s.used)
            .map(|s| layout_entry(s.binding, (s.ty, s.min_size), false))
            .collect();
        let group0 = ctx
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(entry),
                entries: &group0_entries,
            });
        let mut groups = vec![Some(&group0)];
        if slots.iter().any(|s| s.group == 1 && s.used) {
            let step = self.step_layout.as_ref().unwrap_or_else(|| {
                panic!("kernel `{entry}` reads the step uniform: the cache needs a step layout")
            });
            groups.push(Some(step));
        }
        let layout = ctx
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(entry),
                bind_group_layouts: &groups,
                immediate_size: 0,
            });
        let pipeline = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&layout),
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
            slots,
            group0,
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
