//! The `mesu` command line: parse, call the library, print.

mod cli;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use mesu::backend::wgpu::list_adapters;
use mesu::backend::{BackendKind, Device, DeviceChoice};

/// Bayesian continual learning with MESU on a GPU (wgpu) or the CPU.
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
    train: cli::args::TrainArgs,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Subcommand)]
enum Command {
    /// List the CPU backend and every GPU adapter (backend, type, driver,
    /// limits, features), and which one a run would use.
    Info,
    /// Run a grid of runs (widths, N, seeds, optimizers...), batching the
    /// runs that share an architecture on one GPU; resumable; summary.csv,
    /// summary.json and plots.
    Sweep(Box<cli::sweep::SweepArgs>),
    /// The paper's Hessian check: train MESU on unpermuted MNIST and, at
    /// step checkpoints, compare (1/sigma^2 - 1/sigma_prior^2) / N with the
    /// exact Hessian diagonal and the empirical Fisher at mu (hessian.json,
    /// hessian.csv, a log-log plot per layer). Every MESU flag applies;
    /// the stream's (--tasks, --epochs, --eval*, --ood, --test-*,
    /// --profile, --config) do not.
    Hessian(Box<cli::hessian::HessianArgs>),
    /// The paper's experiments in one command each: fig3 (six methods on
    /// permuted MNIST) or width-n (MESU's width x memory window table);
    /// resumable, our numbers beside the published ones.
    Reproduce(Box<cli::reproduce::ReproduceArgs>),
}

/// Which device computes: by default a hardware GPU adapter when one
/// exists (discrete before integrated), else the native CPU backend.
#[derive(Args, Clone, Debug)]
pub struct DeviceArgs {
    /// Force a backend: cpu, vulkan, metal, dx12 or gl.
    #[arg(long, global = true, help_heading = "Device")]
    backend: Option<BackendKind>,
    /// Use the GPU adapter whose name contains this text (case-insensitive).
    #[arg(long, global = true, help_heading = "Device")]
    adapter: Option<String>,
    /// Use the software GPU adapter (e.g. Mesa lavapipe), to check the WGSL
    /// path on a machine without a GPU.
    #[arg(long, global = true, help_heading = "Device")]
    fallback: bool,
    /// Most threads of the CPU backend (default: every core).
    #[arg(long, global = true, help_heading = "Device", value_parser = cli::args::parse_threads)]
    threads: Option<usize>,
}

impl DeviceArgs {
    fn choice(&self) -> DeviceChoice {
        DeviceChoice {
            backend: self.backend,
            adapter: self.adapter.clone(),
            fallback: self.fallback,
            threads: self.threads,
        }
    }
}

fn info(device: &DeviceArgs) -> mesu::Result<()> {
    let cpu = Device::Cpu {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    println!("[cpu] {}", cpu.describe());
    let backends = match device.backend {
        Some(BackendKind::Cpu) => wgpu::Backends::empty(),
        _ => wgpu::Backends::all(),
    };
    for (i, a) in list_adapters(backends).iter().enumerate() {
        println!("[{i}] {a}");
    }
    match Device::open(&device.choice()) {
        Ok(d) => println!("\nselected: {}", d.describe()),
        Err(e) => println!("\nnone selected: {e}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    // Arguments as the OS gives them: a path need not be UTF-8.
    let args: Vec<OsString> = std::env::args_os().collect();
    // --config FILE (the authors' JSON format, or a results folder's
    // config.json) and --resume DIR fill in flags not given.
    if !args.iter().any(|a| mesu::authors_config::expands(a)) {
        return run(parse(args));
    }
    // As given first: clap's own message for a misplaced flag (`mesu sweep
    // --config` is one: a sweep's grid comes from its flags).
    if parse(args.clone()).0.command.is_some() {
        eprintln!(
            "error: --config and --resume apply to a single run (mesu [flags]), not to a subcommand"
        );
        return ExitCode::from(2);
    }
    match mesu::authors_config::expand_args(args) {
        Ok(args) => run(parse(args)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The parsed flags, and clap's matches (which tell a flag given from its
/// default).
fn parse(args: Vec<OsString>) -> (Cli, ArgMatches) {
    let cli = cli::args::numbers_may_be_negative(cli::hessian::hide_stream_flags(Cli::command()));
    let matches = cli.get_matches_from(args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (cli, matches)
}

fn run((cli, matches): (Cli, ArgMatches)) -> ExitCode {
    // Ctrl-C or SIGTERM: stop at the next step and write the checkpoint; a
    // second one quits at once (the last complete checkpoint stays intact).
    let handler = ctrlc::set_handler(|| {
        if mesu::stream::request_stop() {
            eprintln!("\nsecond interrupt: quitting now; the last checkpoint is intact");
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping at the next step; what is done is saved (Ctrl-C again quits at once)"
        );
    });
    if let Err(e) = handler {
        eprintln!("warning: Ctrl-C will not save a checkpoint: {e}");
    }
    let result = match &cli.command {
        Some(Command::Info) => info(&cli.device),
        Some(Command::Sweep(args)) => cli::sweep::run(args, cli.device.choice()),
        Some(Command::Hessian(args)) => {
            let sub = matches.subcommand_matches("hessian").unwrap_or(&matches);
            cli::hessian::run(args, sub, cli.device.choice())
        }
        Some(Command::Reproduce(args)) => cli::reproduce::run(args, cli.device.choice()),
        None => cli::run::run(&cli.train, cli.device.choice()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                mesu::Error::Interrupted { .. } | mesu::Error::Stopped(_) => ExitCode::from(130),
                _ => ExitCode::FAILURE,
            }
        }
    }
}
