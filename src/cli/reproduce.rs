//! `mesu reproduce fig3|width-n`: the paper's experiment as a sweep of its
//! stream in one folder (resumable, or split into jobs), then the table of
//! our numbers beside the published ones (library: mesu::reproduce).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use mesu::backend::{Device, DeviceChoice};
use mesu::config::validate_shared;
use mesu::optim::Optimizer;
use mesu::reproduce::{Experiment, paper_stream, write_tables};
use mesu::sweep::{describe_plan, lock_writes, plan_groups, selected_groups};

use super::sweep::{MAX_SEEDS, PlanArgs, emit_jobs, hold_folder};
use super::sweep_run::Sweeper;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExperimentArg {
    /// The permuted-MNIST figure: MESU, FOO-VB as published, SGD, SI,
    /// online EWC and stream EWC at 784-50-10.
    Fig3,
    /// MESU's last-5 accuracy at hidden 50, 256, 512, 1024 x N = 180k,
    /// 300k, 600k, 1.2M, 2.4M, 1e15.
    WidthN,
}

/// The paper's experiment (its stream: permuted MNIST, batch 1, K = 10,
/// every seen task evaluated after every task, Fashion-MNIST as OOD), our
/// numbers beside the published ones: <experiment>.md, .csv and .svg in
/// the folder, rewritten as runs finish. Rerunning resumes.
#[derive(Args, Debug)]
pub struct ReproduceArgs {
    #[arg(value_enum)]
    experiment: ExperimentArg,
    /// Tasks per run (the paper: 200); fewer gives a shortened reproduction.
    #[arg(long, default_value_t = 200)]
    tasks: usize,
    /// Seeds 0..K-1 (the paper: 5).
    #[arg(long, conflicts_with = "seed")]
    seeds: Option<u64>,
    /// Explicit seeds instead of --seeds.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    seed: Vec<u64>,
    /// fig3: only these methods [default: all six].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    methods: Vec<Optimizer>,
    /// Use only the first N training images of each task.
    #[arg(long)]
    train_limit: Option<usize>,
    /// Use only the first N test images of each task (and of the OOD set).
    #[arg(long)]
    test_limit: Option<usize>,
    /// The folder: runs/<run>/ per run and the tables
    /// [default: results/reproduce-<experiment>].
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    plan: PlanArgs,
    /// Replace run folders holding other settings.
    #[arg(long)]
    force: bool,
}

impl ReproduceArgs {
    fn experiment(&self) -> Experiment {
        match self.experiment {
            ExperimentArg::Fig3 => Experiment::Fig3,
            ExperimentArg::WidthN => Experiment::WidthN,
        }
    }

    fn seeds(&self) -> mesu::Result<Vec<u64>> {
        match (self.seeds, self.seed.is_empty()) {
            (Some(0), _) => Err("--seeds must be at least 1 (it runs seeds 0..K-1)".into()),
            (Some(k), _) if k > MAX_SEEDS => {
                Err(format!("--seeds must be at most {MAX_SEEDS}, got {k}").into())
            }
            (Some(k), _) => Ok((0..k).collect()),
            (None, false) => Ok(self.seed.clone()),
            (None, true) => Ok((0..5).collect()),
        }
    }
}

/// Writes the tables and prints the markdown.
fn report(dir: &Path, experiment: Experiment) -> mesu::Result<()> {
    let text = {
        // Jobs of one reproduction finish at their own times.
        let _writes = lock_writes(dir)?;
        write_tables(dir, experiment)?
    };
    println!("\n{text}");
    println!(
        "tables: {}",
        dir.join(format!("{}.md", experiment.name())).display()
    );
    Ok(())
}

pub fn run(args: &ReproduceArgs, choice: DeviceChoice) -> mesu::Result<()> {
    let experiment = args.experiment();
    if let Some(dir) = &args.plan.collect {
        // Nothing is written to a folder that holds no reproduction.
        if !dir.join("runs").is_dir() {
            return Err(format!(
                "--collect {}: no runs/ folder there, so not a folder of mesu reproduce",
                dir.display()
            )
            .into());
        }
        return report(dir, experiment);
    }
    if !args.methods.is_empty() && experiment != Experiment::Fig3 {
        return Err("--methods picks methods of fig3; width-n runs MESU".into());
    }
    let device = Device::open(&choice)?;
    let shared = paper_stream(args.tasks, args.train_limit, args.test_limit, device.kind());
    validate_shared(&shared)?;
    let runs = experiment.grid(&args.methods, &args.seeds()?).expand();
    for run in &runs {
        run.validate()?;
    }
    let groups = plan_groups(&runs, &shared, args.plan.limits()?)?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(format!("reproduce-{}", experiment.name()))
    });
    println!(
        "reproduce {}: {} runs in {} groups, {} tasks each -> {}",
        experiment.name(),
        runs.len(),
        groups.len(),
        shared.tasks,
        out.display()
    );
    if args.plan.dry_run {
        print!("{}", describe_plan(&runs, &groups));
        return Ok(());
    }
    if let Some(file) = &args.plan.emit_jobs {
        let command = format!("reproduce {}", experiment.name());
        return emit_jobs(file, &out, groups.len(), &command);
    }
    let selected = selected_groups(args.plan.only_group, groups.len())?;
    let lock = hold_folder(&out, args.plan.only_group)?;
    let total = selected.iter().map(|&g| groups[g].runs.len()).sum();
    let mut sweeper = Sweeper::new(&runs, &shared, &out, total, device, args.force, lock)?;
    let mut result = Ok(());
    for &g in &selected {
        result = sweeper.run_group(g, &groups[g]);
        if result.is_err() {
            break;
        }
    }
    // The table of what is done, even after a stop.
    let finished = result.and_then(|()| sweeper.finish());
    report(&out, experiment)?;
    finished
}
