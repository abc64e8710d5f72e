//! The 17 settings of one run, each defined once (as ripgrep's flags/defs.rs
//! defines each flag once): its key (the flag without dashes, the grid
//! file's key), its help as a single run's flag and as a sweep's list, its
//! default, and where it lives in `RunSettings`. The single run's flags,
//! the sweep's lists and grid keys, the grid's expansion and the flags that
//! repeat a recorded run all derive from `SETTINGS`.

use std::fmt;

use super::{RunSettings, parse_hidden};
use crate::optim::{Optimizer, PenaltyHyper};

/// What a setting's values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Hidden widths of one net.
    Widths,
    Optimizer,
    Real,
    Count,
    Seed,
}

/// One value of a setting.
#[derive(Clone, Debug, PartialEq)]
pub enum SettingValue {
    Widths(Vec<usize>),
    Optimizer(Optimizer),
    Real(f64),
    Count(usize),
    Seed(u64),
}

/// As a single run's flag takes it: widths comma-separated (200,200).
impl fmt::Display for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Widths(w) => {
                let w: Vec<String> = w.iter().map(usize::to_string).collect();
                f.write_str(&w.join(","))
            }
            SettingValue::Optimizer(o) => write!(f, "{o}"),
            SettingValue::Real(x) => write!(f, "{x}"),
            SettingValue::Count(n) => write!(f, "{n}"),
            SettingValue::Seed(s) => write!(f, "{s}"),
        }
    }
}

/// One setting of a run.
pub struct Setting {
    /// The flag without its dashes, with underscores: `lr_mu` is `--lr-mu`.
    pub key: &'static str,
    pub kind: Kind,
    /// A single run's help heading, help text and default (None: the
    /// optimizer's own, which the help text names).
    pub heading: &'static str,
    pub help: &'static str,
    pub default: Option<&'static str>,
    /// The help of the sweep's list flag.
    pub list_help: &'static str,
    /// The optimizers that use it; empty: every one.
    pub users: &'static [Optimizer],
    /// Its value in a run; None where the run's optimizer does not use it.
    get: fn(&RunSettings) -> Option<SettingValue>,
    /// Sets it in a run; false where the run's optimizer does not use it.
    set: fn(&mut RunSettings, &SettingValue) -> bool,
}

impl Setting {
    /// `--lr-mu`.
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }

    pub fn get(&self, run: &RunSettings) -> Option<SettingValue> {
        (self.get)(run)
    }

    /// Sets it in `run`; false (and `run` unchanged) where `run`'s optimizer
    /// does not use it. The optimizer resets the others to its defaults
    /// (all but the widths, which come before it in `SETTINGS`).
    pub fn set(&self, run: &mut RunSettings, value: &SettingValue) -> bool {
        (self.set)(run, value)
    }

    /// One value from its text; widths as a sweep spells one net (400x400).
    pub fn parse(&self, s: &str) -> Result<SettingValue, String> {
        let s = s.trim();
        let err = |e: &dyn fmt::Display| e.to_string();
        Ok(match self.kind {
            Kind::Widths => SettingValue::Widths(parse_hidden(s).map_err(|e| err(&e))?),
            Kind::Optimizer => SettingValue::Optimizer(s.parse()?),
            Kind::Real => SettingValue::Real(s.parse().map_err(|e| err(&e))?),
            Kind::Count => SettingValue::Count(parse_count(s)?),
            Kind::Seed => SettingValue::Seed(parse_count(s)?),
        })
    }

    /// "is a setting of online-ewc and stream-ewc".
    pub fn users_text(&self) -> String {
        let names: Vec<_> = self.users.iter().map(|o| o.name()).collect();
        names.join(" and ")
    }
}

/// Shown by its flag.
impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.flag())
    }
}

/// A whole number of things (a count, a seed): "-1", "2.5" or "1e3" get a
/// message that says what is expected, not the parser's "invalid digit".
pub fn parse_count<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim().parse().map_err(|_| {
        let negative = s.trim().starts_with('-');
        let what = if negative { ", not a negative one" } else { "" };
        format!("expected a whole number (0, 1, 2, ...){what}, got {s:?}")
    })
}

/// The setting of key `key`.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

const EWC: &[Optimizer] = &[Optimizer::OnlineEwc, Optimizer::StreamEwc];
const SI: &[Optimizer] = &[Optimizer::Si];

macro_rules! real {
    ($($field:ident).+) => {
        (
            |r: &RunSettings| Some(SettingValue::Real(r.$($field).+)),
            |r: &mut RunSettings, v: &SettingValue| match v {
                SettingValue::Real(x) => {
                    r.$($field).+ = *x;
                    true
                }
                _ => false,
            },
        )
    };
}

macro_rules! count {
    ($field:ident, $variant:ident) => {
        (
            |r: &RunSettings| Some(SettingValue::$variant(r.$field)),
            |r: &mut RunSettings, v: &SettingValue| match v {
                SettingValue::$variant(x) => {
                    r.$field = *x;
                    true
                }
                _ => false,
            },
        )
    };
}

macro_rules! penalty {
    ($kind:ident, $field:ident) => {
        (
            |r: &RunSettings| match r.hyper.penalty {
                Some(PenaltyHyper::$kind { $field, .. }) => Some(SettingValue::Real($field)),
                _ => None,
            },
            |r: &mut RunSettings, v: &SettingValue| match (&mut r.hyper.penalty, v) {
                (Some(PenaltyHyper::$kind { $field, .. }), SettingValue::Real(x)) => {
                    *$field = *x;
                    true
                }
                _ => false,
            },
        )
    };
}

/// Builds a `Setting` from its accessors (a `(get, set)` pair).
macro_rules! def {
    ($key:literal, $kind:ident, $heading:literal, $default:expr, $users:expr,
     $access:expr, $help:literal, $list_help:literal $(,)?) => {{
        let (get, set) = $access;
        Setting {
            key: $key,
            kind: Kind::$kind,
            heading: $heading,
            help: $help,
            default: $default,
            list_help: $list_help,
            users: $users,
            get,
            set,
        }
    }};
}

/// Every setting of a run, in the order a sweep expands them (architecture
/// outermost, seed innermost: the order names a sweep's runs and groups).
pub static SETTINGS: [Setting; 17] = [
    def!(
        "hidden",
        Widths,
        "Model",
        Some("50"),
        &[],
        (
            |r: &RunSettings| Some(SettingValue::Widths(r.hidden.clone())),
            |r: &mut RunSettings, v: &SettingValue| match v {
                SettingValue::Widths(w) => {
                    r.hidden = w.clone();
                    true
                }
                _ => false,
            },
        ),
        "Hidden widths of one net, comma separated: 200,200 is two layers (`mesu sweep --hidden 200,200` is two nets; it joins layers by x, 200x200). The paper's rates suit 784-50-10; narrow deeper nets (8,8) can diverge at them. For two hidden layers the authors use: --hidden 200,200 --batch-size 100 --clamp-grad 1 --sigma-prior 0.02 --lr-mu 0.46 --lr-sigma 1.58 --n 5.8e6 (94.1 % after one task)",
        "Architectures: hidden widths, layers of one net joined by x (50,256,400x400) [default: 50]. Here 200,200 is two nets of one layer; a single run's `mesu --hidden 200,200` is one net of two",
    ),
    def!(
        "optimizer",
        Optimizer,
        "Method",
        Some("mesu"),
        &[],
        (
            |r: &RunSettings| Some(SettingValue::Optimizer(r.hyper.optimizer)),
            |r: &mut RunSettings, v: &SettingValue| match v {
                SettingValue::Optimizer(o) => {
                    let hidden = std::mem::take(&mut r.hidden);
                    *r = RunSettings {
                        hidden,
                        ..RunSettings::paper(*o)
                    };
                    true
                }
                _ => false,
            },
        ),
        "Learning rule: mesu, bgd, foovb-published (BGD with the published sign error), sgd, online-ewc, stream-ewc, si. The last three are SGD (lr 0.002) on a deterministic net plus a penalty; online-ewc and si use task boundaries (the paper's task-aware rows: their importance moves at each task's end), stream-ewc does not",
        "Learning rules: mesu, bgd, foovb-published, sgd, online-ewc, stream-ewc, si [default: mesu]. online-ewc and si use task boundaries (the paper's task-aware rows)",
    ),
    def!(
        "n",
        Real,
        "Method",
        Some("300000"),
        &[],
        real!(hyper.n),
        "Memory window N in optimizer steps (300000 at batch 1 = 5 tasks)",
        "Memory windows N in optimizer steps [default: 300000]",
    ),
    def!(
        "sigma_prior",
        Real,
        "Method",
        Some("1"),
        &[],
        real!(hyper.sigma_prior),
        "Standard deviation of the prior",
        "Prior standard deviations [default: 1]",
    ),
    def!(
        "mu_prior",
        Real,
        "Method",
        Some("0"),
        &[],
        real!(hyper.mu_prior),
        "Mean of the prior",
        "Prior means [default: 0]",
    ),
    def!(
        "lr_mu",
        Real,
        "Method",
        None,
        &[],
        real!(hyper.lr_mu),
        "Learning rate of mu [default: 1, or 0.002 for sgd]",
        "Learning rates of mu [default: 1, or 0.002 for sgd]",
    ),
    def!(
        "lr_sigma",
        Real,
        "Method",
        Some("1"),
        &[],
        real!(hyper.lr_sigma),
        "Learning rate of sigma",
        "Learning rates of sigma [default: 1]",
    ),
    def!(
        "clamp_grad",
        Real,
        "Method",
        Some("0"),
        &[],
        real!(hyper.clamp_grad),
        "Clip gradients elementwise to +-clamp_grad/sigma (0: off)",
        "Gradient clips, 0 = off [default: 0]",
    ),
    def!(
        "batch_size",
        Count,
        "Method",
        Some("1"),
        &[],
        count!(batch_size, Count),
        "Examples per step. The loss sums over the batch (as the spec and the reference), so at batch B scale --lr-mu and --lr-sigma by about 1/B and N by 1/B (the same memory window in examples). Batch > 1 trains through the GEMM kernels",
        "Examples per step [default: 1]",
    ),
    def!(
        "epochs",
        Count,
        "Stream",
        Some("1"),
        &[],
        count!(epochs, Count),
        "Passes over each task's training set",
        "Passes over each task's training set [default: 1]",
    ),
    def!(
        "train_samples",
        Count,
        "Method",
        None,
        &[],
        count!(train_samples, Count),
        "Weight samples per training step (K) [default: 10, or 1 for sgd, whose weights are deterministic]",
        "Weight samples per training step [default: 10, or 1 for sgd]",
    ),
    def!(
        "test_samples",
        Count,
        "Evaluation",
        None,
        &[],
        count!(test_samples, Count),
        "Weight samples per evaluation [default: 10, or 1 for sgd]",
        "Weight samples per evaluation [default: 10, or 1 for sgd]",
    ),
    def!(
        "ewc_lambda",
        Real,
        "Method",
        None,
        EWC,
        penalty!(Ewc, lambda),
        "EWC's importance lambda (online-ewc, stream-ewc) [default: 2 online, 5 stream]",
        "EWC's importances lambda (online-ewc, stream-ewc) [default: 2 online, 5 stream]",
    ),
    def!(
        "ewc_gamma",
        Real,
        "Method",
        None,
        EWC,
        penalty!(Ewc, gamma),
        "EWC's decay gamma of the Fisher (online-ewc, stream-ewc) [default: 0.2]",
        "EWC's decays gamma of the Fisher (online-ewc, stream-ewc) [default: 0.2]",
    ),
    def!(
        "si_c",
        Real,
        "Method",
        None,
        SI,
        penalty!(Si, c),
        "SI's coefficient c (si) [default: 1e-4]",
        "SI's coefficients c (si) [default: 1e-4]",
    ),
    def!(
        "si_xi",
        Real,
        "Method",
        None,
        SI,
        penalty!(Si, xi),
        "SI's damping xi (si) [default: 1]",
        "SI's dampings xi (si) [default: 1]",
    ),
    def!(
        "seed",
        Seed,
        "Method",
        Some("0"),
        &[],
        count!(seed, Seed),
        "Seed of the weights, the noise, the task permutations and the shuffles",
        "Explicit seeds [default: 0]",
    ),
];
