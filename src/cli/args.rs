//! The flags of one run (`mesu [flags]`, and `mesu hessian`) and of the
//! settings every run of a stream or a sweep shares.

use std::path::PathBuf;

use clap::{ArgMatches, Args, ValueEnum};
use mesu::config::defs::Kind;
use mesu::config::{Ood, RunSettings, SETTINGS, Setting, SettingValue, Shared, parse_count};
use mesu::data::DatasetKind;
use mesu::optim::Optimizer;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DatasetArg {
    Mnist,
    Fashion,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum OodArg {
    /// The other dataset (Fashion-MNIST for an MNIST stream) when it is in
    /// its default folder; otherwise none, with a note.
    Auto,
    /// No OOD evaluation.
    None,
    Mnist,
    Fashion,
    /// MNIST's test split under a fixed random pixel permutation of the
    /// run's seed (the paper's MNIST OOD experiment, with --no-permute).
    Pmnist,
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
pub enum EvalArg {
    /// Every task seen so far.
    Seen,
    /// Every task of the stream, trained or not (forward transfer).
    All,
}

/// Settings every run of a stream or a sweep shares.
#[derive(Args, Debug, Clone)]
pub struct StreamArgs {
    /// Number of tasks in the stream.
    #[arg(long, default_value_t = 200, help_heading = "Stream", value_parser = parse_count::<usize>)]
    tasks: usize,
    /// Add a bias to every layer.
    #[arg(long, help_heading = "Model")]
    bias: bool,
    /// Dataset whose permutations form the tasks.
    #[arg(long, value_enum, default_value_t = DatasetArg::Mnist, help_heading = "Stream")]
    dataset: DatasetArg,
    /// Folder with the raw IDX files [default: data/mnist or data/fashion-mnist].
    #[arg(long, help_heading = "Stream")]
    data_dir: Option<PathBuf>,
    /// Shuffle the examples each epoch (default: file order, as the reference).
    #[arg(long, help_heading = "Stream")]
    shuffle: bool,
    /// Train and test on the dataset as it is, without pixel permutations:
    /// `--tasks 1 --epochs 20 --no-permute --ood pmnist` is the paper's
    /// MNIST OOD experiment (one task trained long, permuted MNIST as OOD).
    #[arg(long, help_heading = "Stream")]
    no_permute: bool,
    /// Which tasks to evaluate after each task.
    #[arg(long, value_enum, default_value_t = EvalArg::Seen, help_heading = "Evaluation")]
    eval: EvalArg,
    /// Evaluate every seen task after every K-th task and after the last
    /// (the newest task after every task): K = 10 makes a 200-task stream's
    /// evaluation 10x cheaper. Metrics come from the full rows.
    #[arg(long, default_value_t = 1, help_heading = "Evaluation", value_parser = parse_count::<usize>)]
    eval_every: usize,
    /// Use only the first N training images of each task.
    #[arg(long, help_heading = "Stream", value_parser = parse_count::<usize>)]
    train_limit: Option<usize>,
    /// Use only the first N test images of each task (and of the OOD set).
    #[arg(long, help_heading = "Evaluation", value_parser = parse_count::<usize>)]
    test_limit: Option<usize>,
    /// Out-of-distribution test set, unpermuted: after each task, the AUROC
    /// of epistemic, aleatoric and predictive uncertainty between it and the
    /// newest task's test set (metrics.json), as in the paper's table.
    #[arg(long, value_enum, default_value_t = OodArg::Auto, help_heading = "Evaluation")]
    ood: OodArg,
    /// Time every kernel (GPU timestamps when the adapter has them): a table
    /// at the end and profile.csv in the results folder.
    #[arg(long, help_heading = "Output")]
    profile: bool,
    /// Replace results of other settings (or a finished run of these) in
    /// the results folder; only the run's own files are removed.
    #[arg(long, help_heading = "Output")]
    force: bool,
    /// Never download: a dataset missing from its default folder is an
    /// error (by default it is fetched with data/fetch.sh).
    #[arg(long, help_heading = "Stream")]
    no_fetch: bool,
}

impl StreamArgs {
    /// `--force`: replace what a results folder holds.
    pub fn force(&self) -> bool {
        self.force
    }

    pub fn shared(&self) -> Shared {
        let dataset = match self.dataset {
            DatasetArg::Mnist => DatasetKind::Mnist,
            DatasetArg::Fashion => DatasetKind::Fashion,
        };
        Shared {
            tasks: self.tasks,
            bias: self.bias,
            dataset,
            data_dir: self
                .data_dir
                .clone()
                .unwrap_or_else(|| dataset.default_dir()),
            shuffle: self.shuffle,
            eval_all: self.eval == EvalArg::All,
            eval_every: self.eval_every,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            profile: self.profile,
            fetch: !self.no_fetch,
            ood: match self.ood {
                OodArg::Auto => Ood::Auto,
                OodArg::None => Ood::Off,
                OodArg::Mnist => Ood::Dataset(DatasetKind::Mnist),
                OodArg::Fashion => Ood::Dataset(DatasetKind::Fashion),
                OodArg::Pmnist => Ood::PermutedMnist,
            },
            permute: !self.no_permute,
            // Known once the device is open.
            backend: String::new(),
        }
    }
}

/// One run; the defaults are the paper's permuted-MNIST protocol.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// A configuration file of the authors' JAX repository (mesu-pmnist's
    /// configurations/*.json): its layers, optimizer and parameters, tasks,
    /// epochs, batch size, sample counts and seed fill in the flags not
    /// given here (read before parsing: see authors_config).
    /// A results folder's config.json is accepted too: it repeats that run.
    #[arg(long, value_name = "FILE.json", help_heading = "Stream")]
    #[allow(dead_code)]
    config: Option<std::path::PathBuf>,
    /// Continue the run whose results folder is DIR, from its checkpoint
    /// (the same as rerunning its command; DIR/config.json holds it).
    #[arg(
        long,
        value_name = "DIR",
        help_heading = "Output",
        conflicts_with = "config"
    )]
    #[allow(dead_code)]
    resume: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) stream: StreamArgs,
    #[command(flatten)]
    run: RunFlags,
    /// Results folder [default: results/<timestamp>-<optimizer>].
    #[arg(long, help_heading = "Output")]
    pub(crate) out: Option<PathBuf>,
}

impl TrainArgs {
    pub(crate) fn settings(&self) -> mesu::Result<RunSettings> {
        self.run.settings()
    }
}

/// The 17 settings of one run as flags, one each, from `config::SETTINGS`.
#[derive(Debug, Clone)]
pub struct RunFlags {
    /// The value of every setting given or with a default, in `SETTINGS`' order.
    values: Vec<(&'static Setting, SettingValue)>,
}

impl RunFlags {
    /// The paper's settings for the optimizer given, with every other
    /// setting given over them; a setting the optimizer does not use is an
    /// error naming it.
    fn settings(&self) -> mesu::Result<RunSettings> {
        let optimizer = self.values.iter().find_map(|(_, v)| match v {
            SettingValue::Optimizer(o) => Some(*o),
            _ => None,
        });
        let optimizer = optimizer.unwrap_or(Optimizer::Mesu);
        let mut run = RunSettings::paper(optimizer);
        for (setting, value) in &self.values {
            if setting.kind == Kind::Optimizer {
                continue;
            }
            if !setting.set(&mut run, value) {
                return Err(format!(
                    "{} is a setting of {}; --optimizer {optimizer} does not use it",
                    setting.flag(),
                    setting.users_text()
                )
                .into());
            }
        }
        Ok(run)
    }
}

/// One hidden width of a single run; "400x400" is the sweep's spelling of
/// one net, and gets a hint here.
fn parse_width(s: &str) -> Result<usize, String> {
    if s.contains('x') {
        return Err(format!(
            "{s:?}: the layers of one net are comma-separated here (--hidden 400,400); \
             `mesu sweep --hidden` lists nets and spells one as 400x400"
        ));
    }
    parse_count(s)
}

impl Args for RunFlags {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for s in &SETTINGS {
            let arg = clap::Arg::new(s.key)
                .long(s.flag()[2..].to_string())
                .value_name(s.key.to_uppercase())
                .help(s.help)
                .help_heading(s.heading)
                .action(clap::ArgAction::Set);
            let arg = if s.kind == Kind::Widths {
                // One net: its layers comma-separated.
                arg.value_delimiter(',').value_parser(parse_width)
            } else {
                arg.value_parser(move |text: &str| s.parse(text))
            };
            cmd = cmd.arg(match s.default {
                Some(d) => arg.default_value(d),
                None => arg,
            });
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for RunFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let values = SETTINGS
            .iter()
            .filter_map(|s| {
                let value = if s.kind == Kind::Widths {
                    SettingValue::Widths(m.get_many::<usize>(s.key)?.copied().collect())
                } else {
                    m.get_one::<SettingValue>(s.key)?.clone()
                };
                Some((s, value))
            })
            .collect();
        Ok(RunFlags { values })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// The 17 settings of a run as a sweep's lists, one flag each, from
/// `config::SETTINGS`: comma-separated values, every combination runs.
#[derive(Debug, Clone, Default)]
pub struct GridFlags {
    /// The values of each setting given, in `SETTINGS`' order.
    pub lists: Vec<(&'static Setting, Vec<SettingValue>)>,
}

impl Args for GridFlags {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        for s in &SETTINGS {
            cmd = cmd.arg(
                clap::Arg::new(s.key)
                    .long(s.flag()[2..].to_string())
                    .help(s.list_help)
                    .value_name("LIST")
                    .value_delimiter(',')
                    .action(clap::ArgAction::Append)
                    .value_parser(move |text: &str| s.parse(text)),
            );
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for GridFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let lists = SETTINGS
            .iter()
            .filter_map(|s| Some((s, m.get_many::<SettingValue>(s.key)?.cloned().collect())))
            .collect();
        Ok(GridFlags { lists })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// Most threads `--threads` takes: far above any machine's cores, far below
/// what takes the OS long to refuse.
pub const MAX_THREADS: usize = 1024;

/// `--threads N`, checked before any pool is built.
pub fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from 1 to {MAX_THREADS}")),
    }
}

/// Lets every flag whose value is a number (or a list or choice of values,
/// not a path or a name) take a value starting with '-', here and in every
/// subcommand, so `--n -1` or `--hidden -5` reach the value's own check and
/// its message instead of clap's "unexpected argument".
pub fn numbers_may_be_negative(cmd: clap::Command) -> clap::Command {
    use std::any::TypeId;
    let words = [
        TypeId::of::<PathBuf>(),
        TypeId::of::<String>(),
        TypeId::of::<std::ffi::OsString>(),
    ];
    let ids: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.get_num_args().is_none_or(|n| n.takes_values()) && !a.is_positional())
        .filter(|a| a.get_action().takes_values())
        .filter(|a| !words.iter().any(|w| a.get_value_parser().type_id() == *w))
        .map(|a| a.get_id().to_string())
        .collect();
    let cmd = ids
        .iter()
        .fold(cmd, |c, id| c.mut_arg(id, |a| a.allow_hyphen_values(true)));
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    subs.iter().fold(cmd, |c, name| {
        c.mut_subcommand(name, numbers_may_be_negative)
    })
}
