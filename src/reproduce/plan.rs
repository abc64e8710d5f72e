//! What each reproduction runs: its sweep grid and the paper's stream.

use crate::config::{Ood, SettingValue, Shared};
use crate::data::DatasetKind;
use crate::optim::Optimizer;
use crate::sweep::Grid;

use super::published::{FIG3, WIDTHS, WINDOWS};

/// A published experiment `mesu reproduce` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Experiment {
    /// The permuted-MNIST figure: six methods at the paper's protocol.
    Fig3,
    /// MESU's last-5 accuracy over hidden widths x memory windows N.
    WidthN,
}

impl Experiment {
    /// As the subcommand spells it, and the default folder's name.
    pub fn name(self) -> &'static str {
        match self {
            Experiment::Fig3 => "fig3",
            Experiment::WidthN => "width-n",
        }
    }

    /// The runs: Fig. 3's methods (all six unless `methods` picks some)
    /// at 784-50-10, or MESU at every width and N, once per seed.
    pub fn grid(self, methods: &[Optimizer], seeds: &[u64]) -> Grid {
        let seeds = seeds.iter().map(|&s| SettingValue::Seed(s)).collect();
        match self {
            Experiment::Fig3 => {
                let methods = if methods.is_empty() {
                    FIG3.iter().map(|f| f.method).collect()
                } else {
                    methods.to_vec()
                };
                Grid::default()
                    .with(
                        "optimizer",
                        methods.into_iter().map(SettingValue::Optimizer).collect(),
                    )
                    .with("seed", seeds)
            }
            Experiment::WidthN => Grid::default()
                .with(
                    "hidden",
                    WIDTHS
                        .iter()
                        .map(|&w| SettingValue::Widths(vec![w]))
                        .collect(),
                )
                .with(
                    "n",
                    WINDOWS.iter().map(|&n| SettingValue::Real(n)).collect(),
                )
                .with("seed", seeds),
        }
    }
}

/// The paper's stream (MESU_SPEC.md): permuted MNIST in file order, every
/// seen task evaluated after every task, Fashion-MNIST as the OOD set
/// when it is there; `tasks` and the limits shorten it.
pub fn paper_stream(
    tasks: usize,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    backend: String,
) -> Shared {
    let dataset = DatasetKind::Mnist;
    Shared {
        tasks,
        bias: false,
        dataset,
        data_dir: dataset.default_dir(),
        shuffle: false,
        eval_all: false,
        eval_every: 1,
        train_limit,
        test_limit,
        profile: false,
        ood: Ood::Auto,
        fetch: true,
        permute: true,
        backend,
    }
}
