//! `mesu sweep`: expand a grid of runs, group the runs that share an
//! architecture into batched executions, plan, emit job lines or collect;
//! running the groups is in sweep_run.rs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Args;
use mesu::backend::{Device, DeviceChoice};
use mesu::config::defs::setting;
use mesu::config::file::read_setting_file;
use mesu::config::{RunIdentity, RunSettings, SETTINGS, Setting, SettingValue, validate_shared};
use mesu::report::{FolderLock, lock_folder};
use mesu::sweep::{
    Grid, GroupLimits, describe_plan, lock_writes, plan_groups, selected_groups, sweep_id,
};
use serde_json::{Value, json};

use super::args::{GridFlags, StreamArgs};
use super::sweep_run::{Sweeper, print_summary};

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
    #[command(flatten)]
    lists: GridFlags,
    /// Seeds 0..K-1 (the paper averages 5).
    #[arg(long, conflicts_with = "seed")]
    seeds: Option<u64>,
    /// Sweep folder: runs/<run>/ per run, summary.csv, summary.json, plots
    /// [default: results/sweep-<id of the grid>, so a rerun resumes].
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    plan: PlanArgs,
}

/// How a grid of runs is planned and run: groups, jobs, collection; the
/// same for `mesu sweep` and `mesu reproduce`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Most runs per batched group.
    #[arg(long, default_value_t = 32)]
    pub max_group: usize,
    /// Device memory budget of one group's per-run buffers, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub group_memory_mib: u64,
    /// Print the runs, the groups and their memory estimate; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write one command line per group, ending `--only-group G`, to FILE
    /// (for a Slurm job array or GNU parallel); run nothing.
    #[arg(long, value_name = "FILE")]
    pub emit_jobs: Option<PathBuf>,
    /// Run only group G of the plan (as printed by --dry-run).
    #[arg(long, value_name = "G")]
    pub only_group: Option<usize>,
    /// Build the tables and plots from the run folders under DIR (e.g.
    /// gathered from many machines); run nothing.
    #[arg(long, value_name = "DIR")]
    pub collect: Option<PathBuf>,
}

impl PlanArgs {
    /// The group limits, refused when no run fits a group.
    pub fn limits(&self) -> mesu::Result<GroupLimits> {
        if self.max_group == 0 {
            return Err("--max-group must be at least 1".into());
        }
        Ok(GroupLimits {
            max_runs: self.max_group,
            budget_bytes: self.group_memory_mib << 20,
        })
    }
}

/// The most seeds of one sweep: each is a run and a folder.
pub const MAX_SEEDS: u64 = 10_000;

/// Keys a grid file may hold besides the settings' own.
const GRID_EXTRA_KEYS: [&str; 2] = ["seeds", "comment"];
/// The grid file as key -> values (each value as the text a flag would take).
fn read_grid_file(path: &Path) -> Result<Value, String> {
    let text = read_setting_file(path)
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
        if setting(&key).is_none() && !GRID_EXTRA_KEYS.contains(&key.as_str()) {
            let keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
            return Err(format!(
                "grid file {}: unknown key {key:?}; expected one of {}, {}",
                path.display(),
                keys.join(", "),
                GRID_EXTRA_KEYS.join(", ")
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

/// The file's values of `setting`, each parsed as its flag's would be.
fn file_list(file: &Value, setting: &Setting) -> Result<Vec<SettingValue>, String> {
    let values = match &file[setting.key] {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a.clone(),
        scalar => vec![scalar.clone()],
    };
    values
        .iter()
        .map(|v| {
            let s = text(v);
            setting
                .parse(&s)
                .map_err(|e| format!("grid file, {} = {s:?}: {e}", setting.key))
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
        let mut grid = Grid::default();
        for setting in &SETTINGS {
            // The command line's list, or else the file's.
            let given = self.lists.lists.iter().find(|(s, _)| s.key == setting.key);
            let values = match given {
                Some((_, values)) => values.clone(),
                None if setting.key == "seed" => self.seeds_of(&file)?,
                None => file_list(&file, setting)?,
            };
            grid = grid.with(setting.key, values);
        }
        grid.check_penalty_lists().map_err(|e| e.to_string())?;
        Ok(grid)
    }

    /// The seeds when --seed is not given: --seeds K, or the file's.
    fn seeds_of(&self, file: &Value) -> Result<Vec<SettingValue>, String> {
        let count = match (self.seeds, &file["seeds"]) {
            (Some(k), _) => k,
            (None, Value::Null) => return file_list(file, setting("seed").expect("a setting")),
            (None, v) => v.as_u64().ok_or("grid file: seeds must be a count")?,
        };
        if count > MAX_SEEDS {
            return Err(format!("--seeds must be at most {MAX_SEEDS}, got {count}"));
        }
        Ok((0..count).map(SettingValue::Seed).collect())
    }
}

/// The command line that runs group `g` alone: this one without the
/// planning flags, with the folder pinned; every argument shell-quoted.
/// An argument that is not UTF-8 or holds a control character (a newline
/// would split the job's line) is refused, naming it.
fn job_line(out: &Path, g: usize) -> Result<String, String> {
    let mut args: Vec<OsString> = Vec::new();
    let mut skip_value = false;
    for a in std::env::args_os().skip(1) {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        let text = a.to_string_lossy();
        let flag = text.split('=').next().unwrap_or("");
        if ["--emit-jobs", "--out", "--only-group"].contains(&flag) {
            skip_value = !text.contains('=');
            continue;
        }
        if text == "--dry-run" {
            continue;
        }
        args.push(a);
    }
    let exe = std::env::current_exe().map_or_else(|_| "mesu".into(), PathBuf::into_os_string);
    let pinned = [
        "--out".into(),
        out.as_os_str().to_owned(),
        "--only-group".into(),
        g.to_string().into(),
    ];
    let words = std::iter::once(exe).chain(args).chain(pinned);
    let quoted: Vec<String> = words
        .map(|w| {
            let text = w.to_str().ok_or_else(|| {
                format!("--emit-jobs: the argument {w:?} is not UTF-8; a job line cannot hold it")
            })?;
            if text.chars().any(char::is_control) {
                return Err(format!(
                    "--emit-jobs: the argument {text:?} holds a control character \
                     (a newline would split its job line)"
                ));
            }
            shlex::try_quote(text)
                .map(|q| q.into_owned())
                .map_err(|e| format!("--emit-jobs: {text:?}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(quoted.join(" "))
}

/// Holds `out` before anything is written there: the whole folder for a
/// sweep, nothing for a job of one group (`only_group`), whose shared files
/// are written one at a time under `lock_writes`.
pub fn hold_folder(out: &Path, only_group: Option<usize>) -> mesu::Result<Option<FolderLock>> {
    match only_group {
        None => Ok(Some(lock_folder(out)?)),
        Some(_) => {
            std::fs::create_dir_all(out)
                .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
            Ok(None)
        }
    }
}

/// Writes one job line per group of `groups` to `file` and says how to
/// collect them (`command`: the subcommand and its experiment, if any).
pub fn emit_jobs(file: &Path, out: &Path, groups: usize, command: &str) -> mesu::Result<()> {
    let lines = (0..groups)
        .map(|g| job_line(out, g))
        .collect::<Result<Vec<String>, String>>()?;
    // A FIFO would block the write until some reader came (past SIGTERM).
    if file.exists() && !file.is_file() {
        return Err(format!(
            "--emit-jobs {}: not a regular file; name a file for the job lines",
            file.display()
        )
        .into());
    }
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

pub fn run(args: &SweepArgs, choice: DeviceChoice) -> mesu::Result<()> {
    if let Some(dir) = &args.plan.collect {
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
    let groups = plan_groups(&runs, &shared, args.plan.limits()?)?;
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
        args.plan.max_group, args.plan.group_memory_mib
    );
    if args.plan.dry_run {
        print!("{}", describe_plan(&runs, &groups));
        return Ok(());
    }
    if let Some(file) = &args.plan.emit_jobs {
        return emit_jobs(file, &out, groups.len(), "sweep");
    }
    let selected = selected_groups(args.plan.only_group, groups.len())?;
    let lock = hold_folder(&out, args.plan.only_group)?;
    let plan = json!({
        "runs": runs.iter().map(RunSettings::name).collect::<Vec<_>>(),
        "groups": groups.iter().map(|g| g.runs.iter().map(|&i| runs[i].name()).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "shared": RunIdentity::new(&runs[0], &shared),
    });
    let plan_text = serde_json::to_string_pretty(&plan).map_err(|e| e.to_string())?;
    {
        let _writes = lock_writes(&out)?;
        mesu::report::write_atomic(&out, "sweep.json", &plan_text)?;
    }

    let total = selected.iter().map(|&g| groups[g].runs.len()).sum();
    let mut sweeper = Sweeper::new(
        &runs,
        &shared,
        &out,
        total,
        device,
        args.stream.force(),
        lock,
    )?;
    for &g in &selected {
        sweeper.run_group(g, &groups[g])?;
    }
    sweeper.finish()
}
