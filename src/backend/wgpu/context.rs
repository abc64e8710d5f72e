use std::fmt;

/// How to pick the adapter: by default the best one (discrete > integrated >
/// virtual > CPU), optionally restricted to a backend, a name, the
/// software fallback, or hardware adapters only.
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    pub backends: Option<wgpu::Backends>,
    pub name: Option<String>,
    pub fallback: bool,
    /// Skip software adapters (the CPU backend is faster than they are).
    pub hardware: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found{0}.\n  Install a Vulkan driver (on Debian/Ubuntu: apt-get install mesa-vulkan-drivers libvulkan1 \
         for the software adapter), or pick another with --backend / --adapter; `mesu info` lists what is visible."
    )]
    NoAdapter(String),
    #[error("could not open the device on adapter {adapter}: {source}")]
    Device {
        adapter: String,
        source: wgpu::RequestDeviceError,
    },
    #[error(
        "the model's {what} buffer needs {needed} bytes ({} MiB) but adapter {adapter} binds at most {limit} bytes ({} MiB) per buffer; \
         use a smaller width, batch, sample count or fewer runs",
        needed.div_ceil(1 << 20),
        limit / (1 << 20)
    )]
    TooLarge {
        what: &'static str,
        needed: u64,
        limit: u64,
        adapter: String,
    },
    #[error(
        "kernel `{kernel}` binds {needed} {kind} buffers but adapter {adapter} allows {limit} per shader stage; \
         pick another adapter or backend with --adapter / --backend (vulkan, metal, dx12), or the CPU backend"
    )]
    TooManyBindings {
        kernel: String,
        kind: &'static str,
        needed: u32,
        limit: u32,
        adapter: String,
    },
    #[error("MESU_PLAN is {0:?}; it takes `gpu` or `cpu` (unset: chosen by the adapter's type)")]
    Plan(String),
    #[error(
        "MESU_SUBGROUPS is {0:?}; it takes `off` (workgroup sums by a tree in workgroup memory) \
         or `on` (unset: subgroup operations where the device has them)"
    )]
    Subgroups(String),
    #[error("GPU error: {0}")]
    Runtime(String),
}

/// One line of `mesu info`.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.info;
        let l = &self.limits;
        writeln!(f, "{} ({:?}, {:?})", i.name, i.backend, i.device_type)?;
        writeln!(f, "  driver: {} {}", i.driver, i.driver_info)?;
        writeln!(
            f,
            "  limits: storage binding {} MiB, buffer {} MiB, workgroup memory {} KiB, \
             invocations/workgroup {}, workgroups/dim {}, storage buffers/stage {}",
            l.max_storage_buffer_binding_size >> 20,
            l.max_buffer_size >> 20,
            l.max_compute_workgroup_storage_size >> 10,
            l.max_compute_invocations_per_workgroup,
            l.max_compute_workgroups_per_dimension,
            l.max_storage_buffers_per_shader_stage
        )?;
        let relevant = [
            (wgpu::Features::TIMESTAMP_QUERY, "timestamp-query"),
            (
                wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES,
                "timestamp-inside-passes",
            ),
            (wgpu::Features::SHADER_INT64, "shader-int64"),
            (wgpu::Features::SHADER_F16, "shader-f16"),
            (wgpu::Features::SUBGROUP, "subgroup"),
            (wgpu::Features::SHADER_FLOAT32_ATOMIC, "float32-atomic"),
        ];
        let have: Vec<_> = relevant
            .iter()
            .filter(|(f, _)| self.features.contains(*f))
            .map(|(_, n)| *n)
            .collect();
        write!(f, "  features: {}", have.join(", "))
    }
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Every adapter wgpu can see, best first.
pub fn list_adapters(backends: wgpu::Backends) -> Vec<AdapterSummary> {
    let mut all: Vec<_> = pollster::block_on(instance().enumerate_adapters(backends))
        .into_iter()
        .map(|a| AdapterSummary {
            info: a.get_info(),
            limits: a.limits(),
            features: a.features(),
        })
        .collect();
    all.sort_by_key(|a| rank(a.info.device_type));
    all
}

/// Which launch plans the engine records: kernels made for GPUs (many
/// lanes, workgroup tiles and tree reductions) or for CPU adapters such as
/// lavapipe (few invocations with long serial loops, no workgroup memory,
/// where a barrier or a workgroup-memory load costs as much as a storage
/// load). Both compute the same quantities and are tested against the f64
/// reference on lavapipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Gpu,
    CpuAdapter,
}

impl Plan {
    /// By the adapter's type, unless `MESU_PLAN` (`gpu` or `cpu`) says
    /// otherwise (CI runs the GPU plan on lavapipe with it).
    fn choose(device_type: wgpu::DeviceType) -> Result<Self, GpuError> {
        match std::env::var("MESU_PLAN").as_deref() {
            Ok("gpu") => Ok(Plan::Gpu),
            Ok("cpu") => Ok(Plan::CpuAdapter),
            Ok(other) => Err(GpuError::Plan(other.to_string())),
            Err(_) if device_type == wgpu::DeviceType::Cpu => Ok(Plan::CpuAdapter),
            Err(_) => Ok(Plan::Gpu),
        }
    }
}

/// Subgroup operations, unless `MESU_SUBGROUPS=off` (a driver whose
/// subgroups misbehave can be set aside without another adapter).
fn subgroups_wanted() -> Result<wgpu::Features, GpuError> {
    match std::env::var("MESU_SUBGROUPS").as_deref() {
        Ok("off") => Ok(wgpu::Features::empty()),
        Ok("on") | Err(_) => Ok(wgpu::Features::SUBGROUP),
        Ok(other) => Err(GpuError::Subgroups(other.to_string())),
    }
}

/// The device, its queue and what it can do (clones share the device).
#[derive(Clone)]
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// The launch plans engines on this device record (tests may set it).
    pub plan: Plan,
}

impl GpuContext {
    pub fn new(choice: &AdapterChoice) -> Result<Self, GpuError> {
        let backends = choice.backends.unwrap_or(wgpu::Backends::all());
        let adapters = pollster::block_on(instance().enumerate_adapters(backends));
        let wanted = |a: &wgpu::Adapter| {
            let info = a.get_info();
            let name_ok = choice
                .name
                .as_ref()
                .is_none_or(|n| info.name.to_lowercase().contains(&n.to_lowercase()));
            let software = info.device_type == wgpu::DeviceType::Cpu;
            let fallback_ok = !choice.fallback || software;
            name_ok && fallback_ok && !(choice.hardware && software)
        };
        let adapter = adapters
            .into_iter()
            .filter(wanted)
            .min_by_key(|a| rank(a.get_info().device_type))
            .ok_or_else(|| GpuError::NoAdapter(describe(choice)))?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        super::shader::check_stage_limits(&limits, &info.name)?;
        let plan = Plan::choose(info.device_type)?;
        // Timestamps are for --profile, 64-bit integers for Philox's product
        // (shader::native_int64), subgroups for workgroup sums
        // (shader::subgroup_sums); take them when offered, never require them.
        let features = adapter.features()
            & (wgpu::Features::TIMESTAMP_QUERY
                | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
                | wgpu::Features::SHADER_INT64
                | subgroups_wanted()?);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("mesu"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|source| GpuError::Device {
            adapter: info.name.clone(),
            source,
        })?;
        Ok(Self {
            device,
            queue,
            info,
            limits,
            features,
            plan,
        })
    }

    /// One line naming the adapter, for logs and results files.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?}, driver {})",
            self.info.name, self.info.backend, self.info.device_type, self.info.driver
        )
    }

    /// Fail with a message naming the limit when one buffer would be too big.
    pub fn check_binding(&self, what: &'static str, bytes: u64) -> Result<(), GpuError> {
        let limit = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > limit {
            return Err(GpuError::TooLarge {
                what,
                needed: bytes,
                limit,
                adapter: self.info.name.clone(),
            });
        }
        Ok(())
    }

    /// Submit and wait, turning device loss into an error.
    pub fn submit_wait(&self, encoder: wgpu::CommandEncoder) -> Result<(), GpuError> {
        self.queue.submit(Some(encoder.finish()));
        self.wait()
    }

    pub fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| GpuError::Runtime(e.to_string()))
    }
}

fn describe(choice: &AdapterChoice) -> String {
    let mut parts = Vec::new();
    if let Some(b) = choice.backends {
        parts.push(format!("backend {b:?}"));
    }
    if let Some(n) = &choice.name {
        parts.push(format!("name containing {n:?}"));
    }
    if choice.fallback {
        parts.push("software fallback".into());
    }
    if choice.hardware {
        parts.push("hardware".into());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" matching {}", parts.join(", "))
    }
}
