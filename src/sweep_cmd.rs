//! `mesu sweep`: expand a grid of runs, group the runs that share an
//! architecture into batched executions, plan, emit job lines or collect;
//! running the groups is in sweep_run.rs.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::Args;
use mesu::backend::{Device, DeviceChoice};
use mesu::config::{RunSettings, parse_hidden, validate_shared};
use mesu::optim::Optimizer;
use mesu::sweep::{Grid, GroupLimits, describe_plan, plan_groups, selected_groups, sweep_id};
use serde_json::{Value, json};

use crate::sweep_run::{Sweeper, print_summary};
use crate::train::StreamArgs;

/// Widths of one architecture's hidden layers: "50" or "400x400".
#[derive(Clone, Debug)]
pub struct Widths(Vec<usize>);

impl FromStr for Widths {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_hidden(s).map(Widths).map_err(|e| e.to_string())
    }
}

/// A grid of runs. Every list flag takes comma-separated values; the runs
/// are every combination. Runs with the same architecture, batch size,
/// epochs and sample counts train together as one batched execution.
#[derive(Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    stream: StreamArgs,
    /// Grid file, JSON (or TOML when named *.toml), whose keys are this
    /// command's list flags, e.g. {"hidden": [50, 256], "n": [3e5, 1e15],
    /// "seeds": 5}; a flag given on the command line wins over the file.
    #[arg(long)]
    grid: Option<PathBuf>,
    /// Architectures: hidden widths, layers of one net joined by x
    /// (50,256,400x400) [default: 50]. Here 200,200 is two nets of one
    /// layer; a single run's `mesu --hidden 200,200` is one net of two.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    hidden: Vec<Widths>,
    /// Learning rules: mesu, bgd, foovb-published, sgd, online-ewc,
    /// stream-ewc, si [default: mesu]. online-ewc and si use task
    /// boundaries (the paper's task-aware rows).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    optimizer: Vec<Optimizer>,
    /// EWC's importances lambda (online-ewc, stream-ewc) [default: 2 online, 5 stream].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    ewc_lambda: Vec<f64>,
    /// EWC's decays gamma of the Fisher (online-ewc, stream-ewc) [default: 0.2].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    ewc_gamma: Vec<f64>,
    /// SI's coefficients c (si) [default: 1e-4].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    si_c: Vec<f64>,
    /// SI's dampings xi (si) [default: 1].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    si_xi: Vec<f64>,
    /// Memory windows N in optimizer steps [default: 300000].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    n: Vec<f64>,
    /// Prior standard deviations [default: 1].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    sigma_prior: Vec<f64>,
    /// Prior means [default: 0].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    mu_prior: Vec<f64>,
    /// Learning rates of mu [default: 1, or 0.002 for sgd].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    lr_mu: Vec<f64>,
    /// Learning rates of sigma [default: 1].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    lr_sigma: Vec<f64>,
    /// Gradient clips, 0 = off [default: 0].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    clamp_grad: Vec<f64>,
    /// Examples per step [default: 1].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    batch_size: Vec<usize>,
    /// Passes over each task's training set [default: 1].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    epochs: Vec<usize>,
    /// Weight samples per training step [default: 10, or 1 for sgd].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    train_samples: Vec<usize>,
    /// Weight samples per evaluation [default: 10, or 1 for sgd].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    test_samples: Vec<usize>,
    /// Seeds 0..K-1 (the paper averages 5).
    #[arg(long, conflicts_with = "seed")]
    seeds: Option<u64>,
    /// Explicit seeds [default: 0].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    seed: Vec<u64>,
    /// Sweep folder: runs/<run>/ per run, summary.csv, summary.json, plots
    /// [default: results/sweep-<id of the grid>, so a rerun resumes].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Most runs per batched group.
    #[arg(long, default_value_t = 32)]
    max_group: usize,
    /// Device memory budget of one group's per-run buffers, in MiB.
    #[arg(long, default_value_t = 1024)]
    group_memory_mib: u64,
    /// Print the runs, the groups and their memory estimate; run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write one `mesu sweep ... --only-group G` command line per group to
    /// FILE (for a Slurm job array or GNU parallel); run nothing.
    #[arg(long, value_name = "FILE")]
    emit_jobs: Option<PathBuf>,
    /// Run only group G of the plan (as printed by --dry-run).
    #[arg(long, value_name = "G")]
    only_group: Option<usize>,
    /// Build summary.csv, summary.json and the plots from the run folders
    /// under DIR (e.g. gathered from many machines); run nothing.
    #[arg(long, value_name = "DIR")]
    collect: Option<PathBuf>,
}

/// Keys a grid file may hold.
const GRID_KEYS: [&str; 19] = [
    "hidden",
    "optimizer",
    "ewc_lambda",
    "ewc_gamma",
    "si_c",
    "si_xi",
    "n",
    "sigma_prior",
    "mu_prior",
    "lr_mu",
    "lr_sigma",
    "clamp_grad",
    "batch_size",
    "epochs",
    "train_samples",
    "test_samples",
    "seeds",
    "seed",
    "comment",
];

/// The grid file as key -> values (each value as the text a flag would take).
fn read_grid_file(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the grid file {}: {e}", path.display()))?;
    let value: Value = if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).map_err(|e| format!("grid file {}: {e}", path.display()))?
    } else {
        serde_json::from_str(&text).map_err(|e| format!("grid file {}: {e}", path.display()))?
    };
    let Value::Object(map) = value else {
        return Err(format!(
            "grid file {}: expected a table of lists",
            path.display()
        ));
    };
    let mut out = serde_json::Map::new();
    for (key, v) in map {
        let key = key.replace('-', "_");
        if !GRID_KEYS.contains(&key.as_str()) {
            return Err(format!(
                "grid file {}: unknown key {key:?}; expected one of {}",
                path.display(),
                GRID_KEYS.join(", ")
            ));
        }
        out.insert(key, v);
    }
    Ok(Value::Object(out))
}

/// A value of a grid file as flag text: 50 -> "50", [400, 400] -> "400x400".
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join("x"),
        other => other.to_string(),
    }
}

/// The command line's list, or else the file's.
fn list<T: FromStr<Err: std::fmt::Display> + Clone>(
    cli: &[T],
    file: &Value,
    key: &str,
) -> Result<Vec<T>, String> {
    if !cli.is_empty() {
        return Ok(cli.to_vec());
    }
    let values = match &file[key] {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a.clone(),
        scalar => vec![scalar.clone()],
    };
    values
        .iter()
        .map(|v| {
            let s = text(v);
            s.parse::<T>()
                .map_err(|e| format!("grid file, {key} = {s:?}: {e}"))
        })
        .collect()
}

impl SweepArgs {
    fn grid(&self) -> Result<Grid, String> {
        let file = match &self.grid {
            Some(path) => read_grid_file(path)?,
            None => Value::Null,
        };
        if self.seeds == Some(0) {
            return Err("--seeds must be at least 1 (it runs seeds 0..K-1)".into());
        }
        let seeds = match (self.seeds, self.seed.is_empty()) {
            (Some(k), _) => (0..k).collect(),
            (None, false) => self.seed.clone(),
            (None, true) => match &file["seeds"] {
                Value::Null => list(&[], &file, "seed")?,
                v => (0..v.as_u64().ok_or("grid file: seeds must be a count")?).collect(),
            },
        };
        let grid = Grid {
            hidden: list(&self.hidden, &file, "hidden")?
                .into_iter()
                .map(|w: Widths| w.0)
                .collect(),
            optimizer: list(&self.optimizer, &file, "optimizer")?,
            n: list(&self.n, &file, "n")?,
            sigma_prior: list(&self.sigma_prior, &file, "sigma_prior")?,
            mu_prior: list(&self.mu_prior, &file, "mu_prior")?,
            lr_mu: list(&self.lr_mu, &file, "lr_mu")?,
            lr_sigma: list(&self.lr_sigma, &file, "lr_sigma")?,
            clamp_grad: list(&self.clamp_grad, &file, "clamp_grad")?,
            batch_size: list(&self.batch_size, &file, "batch_size")?,
            epochs: list(&self.epochs, &file, "epochs")?,
            train_samples: list(&self.train_samples, &file, "train_samples")?,
            test_samples: list(&self.test_samples, &file, "test_samples")?,
            ewc_lambda: list(&self.ewc_lambda, &file, "ewc_lambda")?,
            ewc_gamma: list(&self.ewc_gamma, &file, "ewc_gamma")?,
            si_c: list(&self.si_c, &file, "si_c")?,
            si_xi: list(&self.si_xi, &file, "si_xi")?,
            seeds,
        };
        grid.check_penalty_lists().map_err(|e| e.to_string())?;
        Ok(grid)
    }
}

/// The command line that runs group `g` alone: this one without the
/// planning flags, with the folder pinned.
fn job_line(out: &Path, g: usize) -> String {
    let mut args: Vec<String> = Vec::new();
    let mut skip_value = false;
    for a in std::env::args().skip(1) {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        let flag = a.split('=').next().unwrap_or("");
        if ["--emit-jobs", "--out", "--only-group"].contains(&flag) {
            skip_value = !a.contains('=');
            continue;
        }
        if a == "--dry-run" {
            continue;
        }
        args.push(a);
    }
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "mesu".into());
    let out = out.display().to_string();
    let g = g.to_string();
    std::iter::once(exe.as_str())
        .chain(args.iter().map(String::as_str))
        .chain(["--out", out.as_str(), "--only-group", g.as_str()])
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes one job line per group of `groups` to `file` and says how to
/// collect them (`command`: the subcommand and its experiment, if any).
pub fn emit_jobs(file: &Path, out: &Path, groups: usize, command: &str) -> mesu::Result<()> {
    let lines: Vec<String> = (0..groups).map(|g| job_line(out, g)).collect();
    std::fs::write(file, lines.join("\n") + "\n")
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    println!(
        "wrote {} job lines to {}; when they are done: mesu {command} --collect {}",
        lines.len(),
        file.display(),
        out.display()
    );
    Ok(())
}

fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=,:+".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub fn run(args: &SweepArgs, choice: DeviceChoice) -> mesu::Result<()> {
    if let Some(dir) = &args.collect {
        return print_summary(dir);
    }
    let mut shared = args.stream.shared();
    validate_shared(&shared)?;
    // The backend kind is part of every run's identity, so of the sweep's.
    let device = Device::open(&choice)?;
    shared.backend = device.kind();
    let runs = args.grid()?.expand();
    for run in &runs {
        run.validate()?;
    }
    let limits = GroupLimits {
        max_runs: args.max_group,
        budget_bytes: args.group_memory_mib << 20,
    };
    if args.max_group == 0 {
        return Err("--max-group must be at least 1".into());
    }
    let groups = plan_groups(&runs, &shared, limits)?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(format!("sweep-{}", sweep_id(&runs, &shared)))
    });
    println!(
        "sweep: {} runs in {} groups, {} tasks each -> {}",
        runs.len(),
        groups.len(),
        shared.tasks,
        out.display()
    );
    println!(
        "groups: runs with the same architecture, batch size, epochs and sample counts, \
         at most {} runs and {} MiB of per-run buffers each, split evenly",
        args.max_group, args.group_memory_mib
    );
    if args.dry_run {
        print!("{}", describe_plan(&runs, &groups));
        return Ok(());
    }
    if let Some(file) = &args.emit_jobs {
        return emit_jobs(file, &out, groups.len(), "sweep");
    }
    let selected = selected_groups(args.only_group, groups.len())?;
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let plan = json!({
        "runs": runs.iter().map(RunSettings::name).collect::<Vec<_>>(),
        "groups": groups.iter().map(|g| g.runs.iter().map(|&i| runs[i].name()).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "shared": mesu::config::run_identity(&runs[0], &shared),
    });
    let plan_text = serde_json::to_string_pretty(&plan).map_err(|e| e.to_string())?;
    mesu::report::write_atomic(&out, "sweep.json", &plan_text)?;

    let total = selected.iter().map(|&g| groups[g].runs.len()).sum();
    let mode = (args.stream.force(), args.only_group.is_some());
    let mut sweeper = Sweeper::new(&runs, &shared, &out, total, device, mode)?;
    for &g in &selected {
        sweeper.run_group(g, &groups[g])?;
    }
    sweeper.finish()
}
