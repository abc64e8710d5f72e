//! The flags of one run (`mesu [flags]`, and `mesu hessian`) and of the
//! settings every run of a stream or a sweep shares.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use mesu::config::{Ood, RunSettings, Shared};
use mesu::data::DatasetKind;
use mesu::optim::{Hyper, Optimizer, PenaltyFlags};

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
    #[arg(long, default_value_t = 200, help_heading = "Stream")]
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
    #[arg(long, default_value_t = 1, help_heading = "Evaluation")]
    eval_every: usize,
    /// Use only the first N training images of each task.
    #[arg(long, help_heading = "Stream")]
    train_limit: Option<usize>,
    /// Use only the first N test images of each task (and of the OOD set).
    #[arg(long, help_heading = "Evaluation")]
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
    /// Hidden widths of one net, comma separated: 200,200 is two layers
    /// (`mesu sweep --hidden 200,200` is two nets; it joins layers by x,
    /// 200x200). The paper's rates
    /// suit 784-50-10; narrow deeper nets (8,8) can diverge at them. For two
    /// hidden layers the authors use: --hidden 200,200 --batch-size 100
    /// --clamp-grad 1 --sigma-prior 0.02 --lr-mu 0.46 --lr-sigma 1.58 --n 5.8e6
    /// (94.1 % after one task).
    #[arg(long, value_delimiter = ',', default_value = "50", value_parser = parse_width, help_heading = "Model")]
    hidden: Vec<usize>,
    /// Learning rule: mesu, bgd, foovb-published (BGD with the published
    /// sign error), sgd, online-ewc, stream-ewc, si. The last three are SGD
    /// (lr 0.002) on a deterministic net plus a penalty; online-ewc and si
    /// use task boundaries (the paper's task-aware rows: their importance
    /// moves at each task's end), stream-ewc does not.
    #[arg(long, default_value = "mesu", help_heading = "Method")]
    pub(crate) optimizer: Optimizer,
    /// EWC's importance lambda (online-ewc, stream-ewc) [default: 2 online, 5 stream].
    #[arg(long, help_heading = "Method")]
    ewc_lambda: Option<f64>,
    /// EWC's decay gamma of the Fisher (online-ewc, stream-ewc) [default: 0.2].
    #[arg(long, help_heading = "Method")]
    ewc_gamma: Option<f64>,
    /// SI's coefficient c (si) [default: 1e-4].
    #[arg(long, help_heading = "Method")]
    si_c: Option<f64>,
    /// SI's damping xi (si) [default: 1].
    #[arg(long, help_heading = "Method")]
    si_xi: Option<f64>,
    /// Examples per step. The loss sums over the batch (as the spec and the
    /// reference), so at batch B scale --lr-mu and --lr-sigma by about 1/B
    /// and N by 1/B (the same memory window in examples). Batch > 1 trains
    /// through the GEMM kernels.
    #[arg(long, default_value_t = 1, help_heading = "Method")]
    batch_size: usize,
    /// Passes over each task's training set.
    #[arg(long, default_value_t = 1, help_heading = "Stream")]
    epochs: usize,
    /// Weight samples per training step (K) [default: 10, or 1 for sgd,
    /// whose weights are deterministic].
    #[arg(long, help_heading = "Method")]
    train_samples: Option<usize>,
    /// Weight samples per evaluation [default: 10, or 1 for sgd].
    #[arg(long, help_heading = "Evaluation")]
    test_samples: Option<usize>,
    /// Memory window N in optimizer steps (300000 at batch 1 = 5 tasks).
    #[arg(long, default_value_t = 300_000.0, help_heading = "Method")]
    n: f64,
    /// Standard deviation of the prior.
    #[arg(long, default_value_t = 1.0, help_heading = "Method")]
    sigma_prior: f64,
    /// Mean of the prior.
    #[arg(long, default_value_t = 0.0, help_heading = "Method")]
    mu_prior: f64,
    /// Learning rate of mu [default: 1, or 0.002 for sgd].
    #[arg(long, help_heading = "Method")]
    lr_mu: Option<f64>,
    /// Learning rate of sigma.
    #[arg(long, default_value_t = 1.0, help_heading = "Method")]
    lr_sigma: f64,
    /// Clip gradients elementwise to +-clamp_grad/sigma (0: off).
    #[arg(long, default_value_t = 0.0, help_heading = "Method")]
    clamp_grad: f64,
    /// Seed of the weights, the noise, the task permutations and the shuffles.
    #[arg(long, default_value_t = 0, help_heading = "Method")]
    seed: u64,
    /// Results folder [default: results/<timestamp>-<optimizer>].
    #[arg(long, help_heading = "Output")]
    pub(crate) out: Option<PathBuf>,
}

impl TrainArgs {
    pub(crate) fn settings(&self) -> mesu::Result<RunSettings> {
        let paper = RunSettings::paper(self.optimizer);
        let penalty = PenaltyFlags {
            ewc_lambda: self.ewc_lambda,
            ewc_gamma: self.ewc_gamma,
            si_c: self.si_c,
            si_xi: self.si_xi,
        }
        .apply(self.optimizer)?;
        Ok(RunSettings {
            hidden: self.hidden.clone(),
            batch_size: self.batch_size,
            epochs: self.epochs,
            train_samples: self.train_samples.unwrap_or(paper.train_samples),
            test_samples: self.test_samples.unwrap_or(paper.test_samples),
            hyper: Hyper {
                optimizer: self.optimizer,
                n: self.n,
                sigma_prior: self.sigma_prior,
                mu_prior: self.mu_prior,
                lr_mu: self.lr_mu.unwrap_or(paper.hyper.lr_mu),
                lr_sigma: self.lr_sigma,
                clamp_grad: self.clamp_grad,
                penalty,
            },
            seed: self.seed,
        })
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
    s.parse().map_err(|e| format!("{s:?}: {e}"))
}
