//! The `mesu` command line: parse, call the library, print.

mod progress;
mod sweep_cmd;
mod sweep_run;
mod train;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mesu::gpu::{AdapterChoice, list_adapters};

/// Bayesian continual learning with MESU on the GPU.
///
/// With no subcommand, trains the permuted-MNIST stream of the paper
/// (784-50-10, batch 1, K = 10, N = 300000, 200 tasks) and writes a results
/// folder: `mesu --tasks 10 --test-limit 2000`.
#[derive(Parser)]
#[command(name = "mesu", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: train::TrainArgs,
    #[command(flatten)]
    gpu: GpuArgs,
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter with its backend, type, driver, limits and features.
    Info,
    /// Run a grid of runs (widths, N, seeds, optimizers...), batching the
    /// runs that share an architecture on one GPU; resumable; summary.csv,
    /// summary.json and plots.
    Sweep(Box<sweep_cmd::SweepArgs>),
}

/// Which GPU to use.
#[derive(Args, Clone, Debug)]
pub struct GpuArgs {
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
        _ => Err(format!(
            "unknown backend {s:?}; expected vulkan, metal, dx12 or gl"
        )),
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
        Some(Command::Sweep(args)) => sweep_cmd::run(args, cli.gpu.choice()),
        None => train::run(&cli.train, cli.gpu.choice()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
