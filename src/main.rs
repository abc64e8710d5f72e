//! The `mesu` command line: parse, call the library, print.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mesu::gpu::{AdapterChoice, list_adapters};

#[derive(Parser)]
#[command(name = "mesu", version, about = "Bayesian continual learning with MESU on the GPU")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    gpu: GpuArgs,
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter with its backend, type, driver, limits and features.
    Info,
}

/// Which GPU to use.
#[derive(Args, Clone, Debug)]
struct GpuArgs {
    /// Restrict to one backend: vulkan, metal, dx12 or gl.
    #[arg(long, global = true, value_parser = parse_backend)]
    backend: Option<wgpu::Backends>,
    /// Use the adapter whose name contains this text (case-insensitive).
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Use the software (CPU) adapter, e.g. Mesa lavapipe.
    #[arg(long, global = true)]
    fallback: bool,
}

impl GpuArgs {
    fn choice(&self) -> AdapterChoice {
        AdapterChoice {
            backends: self.backend,
            name: self.adapter.clone(),
            fallback: self.fallback,
        }
    }
}

fn parse_backend(s: &str) -> Result<wgpu::Backends, String> {
    match s.to_ascii_lowercase().as_str() {
        "vulkan" => Ok(wgpu::Backends::VULKAN),
        "metal" => Ok(wgpu::Backends::METAL),
        "dx12" => Ok(wgpu::Backends::DX12),
        "gl" => Ok(wgpu::Backends::GL),
        _ => Err(format!("unknown backend {s:?}; expected vulkan, metal, dx12 or gl")),
    }
}

fn info(gpu: &GpuArgs) -> Result<(), String> {
    let choice = gpu.choice();
    let adapters = list_adapters(choice.backends.unwrap_or(wgpu::Backends::all()));
    if adapters.is_empty() {
        return Err(mesu::gpu::GpuError::NoAdapter(String::new()).to_string());
    }
    for (i, a) in adapters.iter().enumerate() {
        println!("[{i}] {a}");
    }
    match mesu::gpu::GpuContext::new(&choice) {
        Ok(ctx) => println!("\nselected: {}", ctx.describe()),
        Err(e) => println!("\nnone selected: {e}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Info) => info(&cli.gpu),
        None => Err("the permuted-MNIST stream is not built yet; try `mesu info`".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
