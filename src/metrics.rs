//! Continual-learning metrics from the accuracy matrix R, where R[i][j] is
//! the accuracy on task j after training task i (NaN where not evaluated),
//! the uncertainty metrics (AUROC) and calibration (ECE, NLL, Brier).

use crate::model::Score;

/// Per-task curves and the end-of-stream summary.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StreamMetrics {
    /// Mean accuracy over every task seen so far (tasks 0..=i), per task i.
    pub mean_all: Vec<f64>,
    /// Mean over the tasks learnt before the newest (tasks 0..i; NaN at
    /// i = 0). The paper's Fig. 3 "average test accuracy" at x = t is this
    /// after task t (0-based), i.e. after t + 1 tasks: its notebook plots
    /// `mean_acc[t][:t]`, one row later than the tasks it averages.
    pub mean_earlier: Vec<f64>,
    /// Mean over the last 5 seen tasks.
    pub mean_last5: Vec<f64>,
    /// Mean over the last 20 seen tasks.
    pub mean_last20: Vec<f64>,
    /// R[i][i]: accuracy on the newest task right after learning it.
    pub plasticity: Vec<f64>,
    /// Backward transfer: mean over j < i of R[i][j] - R[j][j] (NaN at i = 0).
    pub bwt: Vec<f64>,
    /// Forgetting: mean over j < i of max_{l in j..i} R[l][j] - R[i][j] (NaN at i = 0).
    pub forgetting: Vec<f64>,
    /// The paper's memory rigidity resilience, 1 / |R[T][T] - R[1][1]|.
    pub rigidity_resilience: f64,
}

/// Mean of the finite values (NaN when there are none).
pub fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Mean accuracy after task i over its `window` most recent tasks.
pub fn windowed_mean(r: &[Vec<f64>], i: usize, window: usize) -> f64 {
    mean(((i + 1).saturating_sub(window)..=i).map(|j| r[i][j]))
}

/// Whether row i evaluates every task seen so far (0..=i).
fn full_row(r: &[Vec<f64>], i: usize) -> bool {
    (0..=i).all(|j| !r[i][j].is_nan())
}

impl StreamMetrics {
    /// The curves of row i come from full rows only (every seen task
    /// evaluated, `--eval-every`): NaN for a row holding only its newest
    /// task; plasticity needs the diagonal alone, and forgetting's best
    /// earlier accuracy is taken over the rows that hold it.
    pub fn from_matrix(r: &[Vec<f64>]) -> StreamMetrics {
        let t = r.len();
        let seen = |i: usize| 0..i;
        let full = |i: usize| full_row(r, i);
        let per_full_row = |f: &dyn Fn(usize) -> f64| -> Vec<f64> {
            (0..t)
                .map(|i| if full(i) { f(i) } else { f64::NAN })
                .collect()
        };
        let bwt = per_full_row(&|i| mean(seen(i).map(|j| r[i][j] - r[j][j])));
        let forgetting = per_full_row(&|i| {
            mean(seen(i).map(|j| {
                let best = (j..i).map(|l| r[l][j]).fold(f64::NEG_INFINITY, f64::max);
                best - r[i][j]
            }))
        });
        let plasticity: Vec<f64> = (0..t).map(|i| r[i][i]).collect();
        let rigidity_resilience = match (plasticity.first(), plasticity.last()) {
            (Some(a), Some(b)) => 1.0 / (b - a).abs(),
            _ => f64::NAN,
        };
        StreamMetrics {
            mean_all: per_full_row(&|i| windowed_mean(r, i, usize::MAX)),
            mean_earlier: per_full_row(&|i| mean(seen(i).map(|j| r[i][j]))),
            mean_last5: per_full_row(&|i| windowed_mean(r, i, 5)),
            mean_last20: per_full_row(&|i| windowed_mean(r, i, 20)),
            plasticity,
            bwt,
            forgetting,
            rigidity_resilience,
        }
    }
}

/// How well one evaluation's uncertainty tells out-of-distribution images
/// from the newest task's test images (AUROC, OOD as the positive class:
/// 1 = every OOD image more uncertain than every in-distribution one).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct OodAuroc {
    /// The task just learned (0-based).
    pub task: usize,
    /// Epistemic: predictive minus aleatoric entropy.
    pub epistemic: f64,
    /// Aleatoric: the mean over samples of each sample's entropy.
    pub aleatoric: f64,
    /// Predictive: the entropy of the mean predictive distribution.
    pub predictive: f64,
}

impl OodAuroc {
    /// From (predictive, aleatoric) entropies per image of both sets.
    pub fn new(task: usize, in_dist: &[(f64, f64)], ood: &[(f64, f64)]) -> OodAuroc {
        let score = |f: fn(&(f64, f64)) -> f64| {
            let pos: Vec<f64> = ood.iter().map(f).collect();
            let neg: Vec<f64> = in_dist.iter().map(f).collect();
            auroc(&pos, &neg)
        };
        OodAuroc {
            task,
            epistemic: score(|&(p, a)| p - a),
            aleatoric: score(|&(_, a)| a),
            predictive: score(|&(p, _)| p),
        }
    }
}

/// Area under the ROC curve for telling `positive` scores (higher = more
/// likely positive, e.g. the entropy of OOD inputs) from `negative` ones;
/// ties count one half (Mann-Whitney U). NaN when either set is empty or
/// holds a NaN (a diverged run's scores), which would also never tie.
pub fn auroc(positive: &[f64], negative: &[f64]) -> f64 {
    let nan = |v: &[f64]| v.iter().any(|x| x.is_nan());
    if positive.is_empty() || negative.is_empty() || nan(positive) || nan(negative) {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = positive
        .iter()
        .map(|&v| (v, true))
        .chain(negative.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the positives' ranks, with tied values sharing their mean rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let mean_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += mean_rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (np, nn) = (positive.len() as f64, negative.len() as f64);
    (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
}

/// Equal-width confidence bins of the expected calibration error.
pub const ECE_BINS: usize = 15;

/// How well one evaluation's predictive distribution p (the mean over the K
/// weight samples of softmax) is calibrated.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Calibration {
    /// Expected calibration error of the confidence max_c p_c against
    /// whether argmax_c p_c is right (`expected_calibration_error`).
    pub ece: f64,
    /// Negative log-likelihood: the mean over examples of -ln p_label, nats.
    pub nll: f64,
    /// Brier score: the mean over examples of sum_c (p_c - [c = label])^2.
    pub brier: f64,
}

impl Calibration {
    /// From each example's `Score` (NaN for none; a NaN score, from a
    /// diverged run, makes its figure NaN).
    pub fn from_scores(scores: &[Score]) -> Calibration {
        let bins: Vec<(f64, bool)> = scores
            .iter()
            .map(|s| (f64::from(s.p_max), s.p_max_correct == 1))
            .collect();
        let average = |f: fn(&Score) -> f32| {
            scores.iter().map(|s| f64::from(f(s))).sum::<f64>() / scores.len() as f64
        };
        Calibration {
            ece: expected_calibration_error(&bins),
            nll: -average(|s| s.ln_p_true),
            brier: average(|s| s.brier),
        }
    }
}

/// Expected calibration error of (confidence, correct) pairs. The pairs
/// fall in `ECE_BINS` equal-width bins of confidence, (m / 15, (m + 1) / 15]
/// for m = 0..14 (a confidence on an edge goes to the bin below it; 0 to
/// the first bin, above 1 to the last), and ECE = sum over bins of
/// (|bin| / n) |accuracy(bin) - mean confidence(bin)|, an empty bin adding
/// nothing. NaN for no pairs or a NaN confidence.
pub fn expected_calibration_error(pairs: &[(f64, bool)]) -> f64 {
    if pairs.is_empty() || pairs.iter().any(|p| p.0.is_nan()) {
        return f64::NAN;
    }
    // Per bin: sum of confidences minus the number right.
    let mut gap = [0f64; ECE_BINS];
    for &(confidence, correct) in pairs {
        let bin = (0..ECE_BINS)
            .find(|&m| confidence <= (m + 1) as f64 / ECE_BINS as f64)
            .unwrap_or(ECE_BINS - 1);
        gap[bin] += confidence - f64::from(u8::from(correct));
    }
    gap.iter().map(|g| g.abs()).sum::<f64>() / pairs.len() as f64
}

/// Calibration of every evaluation of a stream, laid out as the accuracy
/// matrix: row i after task i, column j task j, NaN where not evaluated.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationMatrix {
    pub ece: Vec<Vec<f64>>,
    pub nll: Vec<Vec<f64>>,
    pub brier: Vec<Vec<f64>>,
}

impl CalibrationMatrix {
    /// `tasks` x `tasks`, nothing evaluated.
    pub fn new(tasks: usize) -> CalibrationMatrix {
        let nan = vec![vec![f64::NAN; tasks]; tasks];
        CalibrationMatrix {
            ece: nan.clone(),
            nll: nan.clone(),
            brier: nan,
        }
    }

    /// The three matrices by name: ece, nll, brier.
    pub fn tables(&self) -> [(&'static str, &Vec<Vec<f64>>); 3] {
        [
            ("ece", &self.ece),
            ("nll", &self.nll),
            ("brier", &self.brier),
        ]
    }

    pub fn set(&mut self, i: usize, j: usize, c: Calibration) {
        (self.ece[i][j], self.nll[i][j], self.brier[i][j]) = (c.ece, c.nll, c.brier);
    }

    /// Task j after task i.
    pub fn at(&self, i: usize, j: usize) -> Calibration {
        Calibration {
            ece: self.ece[i][j],
            nll: self.nll[i][j],
            brier: self.brier[i][j],
        }
    }

    /// The mean over the tasks seen after task i (0..=i); NaN unless row i
    /// evaluates all of them (`--eval-every`), as the accuracy curves.
    pub fn mean_seen(&self, i: usize) -> Calibration {
        let over = |r: &[Vec<f64>]| {
            if full_row(r, i) {
                windowed_mean(r, i, usize::MAX)
            } else {
                f64::NAN
            }
        };
        Calibration {
            ece: over(&self.ece),
            nll: over(&self.nll),
            brier: over(&self.brier),
        }
    }
}

/// A task's mean training loss per example from its [sum, steps]; NaN
/// before it has trained.
pub fn mean_loss(&[sum, steps]: &[f64; 2]) -> f64 {
    if steps > 0.0 { sum / steps } else { f64::NAN }
}
