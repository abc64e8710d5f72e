//! Which backend computes a group: by default a hardware GPU adapter when
//! one exists (discrete before integrated), else the native CPU backend; a
//! flag forces either, and `--fallback` keeps the software adapter for
//! checking the WGSL path.

use std::fmt;
use std::str::FromStr;

use super::Backend;
use super::cpu::{self, CpuBackend, simd_level};
use crate::Error;
use crate::backend::wgpu::Engine;
use crate::backend::wgpu::{AdapterChoice, GpuContext, GpuError};
use crate::memory::{self, MemoryPlan, bytes};
use crate::model::{Architecture, EngineConfig};
use crate::optim::RunSpec;

/// A backend forced by `--backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Cpu,
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl BackendKind {
    const ALL: [(BackendKind, &'static str); 5] = [
        (BackendKind::Cpu, "cpu"),
        (BackendKind::Vulkan, "vulkan"),
        (BackendKind::Metal, "metal"),
        (BackendKind::Dx12, "dx12"),
        (BackendKind::Gl, "gl"),
    ];

    fn wgpu(self) -> Option<wgpu::Backends> {
        match self {
            BackendKind::Cpu => None,
            BackendKind::Vulkan => Some(wgpu::Backends::VULKAN),
            BackendKind::Metal => Some(wgpu::Backends::METAL),
            BackendKind::Dx12 => Some(wgpu::Backends::DX12),
            BackendKind::Gl => Some(wgpu::Backends::GL),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::ALL.iter().find(|(k, _)| k == self).map(|(_, n)| *n);
        f.write_str(name.unwrap_or("?"))
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        Self::ALL
            .iter()
            .find(|(_, n)| *n == lower)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                format!("unknown backend {s:?}; expected cpu, vulkan, metal, dx12 or gl")
            })
    }
}

/// What the device flags ask for.
#[derive(Clone, Debug, Default)]
pub struct DeviceChoice {
    pub backend: Option<BackendKind>,
    /// A GPU adapter whose name contains this text.
    pub adapter: Option<String>,
    /// The software GPU adapter (e.g. Mesa lavapipe).
    pub fallback: bool,
    /// Most CPU threads (default: every core).
    pub threads: Option<usize>,
}

/// Where a group's numbers are computed: a wgpu adapter (clones share the
/// device) or the native CPU backend.
#[derive(Clone)]
pub enum Device {
    Gpu(Box<GpuContext>),
    Cpu { threads: usize },
}

impl Device {
    /// The device `choice` asks for.
    pub fn open(choice: &DeviceChoice) -> Result<Self, Error> {
        let gpu_named = choice.adapter.is_some() || choice.fallback;
        if choice.threads == Some(0) {
            return Err(Error::Settings("--threads must be at least 1".into()));
        }
        let adapter = |backends, hardware| AdapterChoice {
            backends,
            name: choice.adapter.clone(),
            fallback: choice.fallback,
            hardware,
        };
        match choice.backend {
            Some(BackendKind::Cpu) if gpu_named => Err(Error::Settings(
                "--adapter and --fallback pick a GPU adapter; drop them or --backend cpu".into(),
            )),
            Some(BackendKind::Cpu) => Ok(Self::cpu(choice.threads)),
            Some(kind) => Ok(Device::Gpu(Box::new(GpuContext::new(&adapter(
                kind.wgpu(),
                false,
            ))?))),
            None if gpu_named => Ok(Device::Gpu(Box::new(GpuContext::new(&adapter(
                None, false,
            ))?))),
            // GL is left out of the search: its probe only finds software
            // adapters here and writes to stderr where there is no display.
            None => match GpuContext::new(&adapter(Some(wgpu::Backends::PRIMARY), true)) {
                Ok(ctx) => Ok(Device::Gpu(Box::new(ctx))),
                Err(GpuError::NoAdapter(_)) => Ok(Self::cpu(choice.threads)),
                Err(e) => Err(e.into()),
            },
        }
    }

    fn cpu(threads: Option<usize>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Device::Cpu {
            threads: threads.unwrap_or(cores),
        }
    }

    /// One line naming the device, for logs and results files.
    pub fn describe(&self) -> String {
        match self {
            Device::Gpu(ctx) => ctx.describe(),
            Device::Cpu { threads } => format!(
                "cpu ({}, {threads} thread{})",
                simd_level(),
                if *threads == 1 { "" } else { "s" }
            ),
        }
    }

    /// The backend kind, as config.json and run identities name it.
    pub fn kind(&self) -> String {
        match self {
            Device::Gpu(ctx) => format!("{:?}", ctx.info.backend).to_lowercase(),
            Device::Cpu { .. } => "cpu".into(),
        }
    }

    /// Host memory R runs of `arch` take on this device (a GPU keeps the
    /// host's copies of the parameters: the initial ones, their upload and
    /// a checkpoint's read-back).
    pub fn memory_plan(
        &self,
        arch: &Architecture,
        runs: &[RunSpec],
        cfg: &EngineConfig,
    ) -> MemoryPlan {
        match self {
            Device::Cpu { .. } => cpu::memory_plan(arch, runs, cfg),
            Device::Gpu(_) => {
                let p: usize = (0..arch.layers()).map(|l| arch.params(l)).sum();
                let mut plan = MemoryPlan::default();
                plan.add("parameters", bytes(&[3, runs.len(), 2, p, 4]));
                plan
            }
        }
    }

    /// R runs of `arch` on this device, each initialised from its seed;
    /// refused when their memory plan does not fit.
    pub fn backend(
        &self,
        arch: Architecture,
        runs: Vec<RunSpec>,
        cfg: &EngineConfig,
    ) -> Result<Box<dyn Backend>, Error> {
        self.memory_plan(&arch, &runs, cfg).check(memory::FIX)?;
        Ok(match self {
            Device::Gpu(ctx) => Box::new(Engine::new((**ctx).clone(), arch, runs, cfg.clone())?),
            Device::Cpu { threads } => Box::new(CpuBackend::new(arch, runs, cfg, Some(*threads))?),
        })
    }
}
