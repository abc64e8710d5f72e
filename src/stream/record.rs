//! What one run of a stream produces, as one typed record: the stream fills
//! it, a checkpoint restores it, the results writer draws its files from it.

use serde::{Deserialize, Serialize};

use crate::metrics::{CalibrationMatrix, OodAuroc, StreamMetrics, mean_loss};
use crate::model::Params;

/// Where training resumes: task `task` (0-based), its epoch `epoch` and
/// batch `batch` of that epoch, after `steps` training steps (the noise
/// counter). At a task boundary, epoch and batch are 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub task: usize,
    pub epoch: usize,
    pub batch: usize,
    pub steps: u64,
}

/// Wall and training times of a group, shared by its runs: metrics.json's
/// "summary" and a checkpoint's timing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub wall_s: f64,
    pub train_s: f64,
    pub eval_s: f64,
    pub evaluations: usize,
    pub steps: u64,
    pub steps_per_s: f64,
    pub eval_s_per_task_evaluation: f64,
    pub group_runs: usize,
}

impl Timing {
    /// The times of `runs` runs after `steps` steps and `evaluations`
    /// evaluations: (wall, train, eval) seconds.
    pub fn new(
        (wall_s, train_s, eval_s): (f64, f64, f64),
        evaluations: usize,
        steps: u64,
        runs: usize,
    ) -> Timing {
        Timing {
            wall_s,
            train_s,
            eval_s,
            evaluations,
            steps,
            steps_per_s: steps as f64 / train_s.max(1e-9),
            eval_s_per_task_evaluation: eval_s / evaluations.max(1) as f64,
            group_runs: runs,
        }
    }
}

/// Mean/min/max of |sigma| (the standard deviation) of one layer after one
/// task (`task` is the 0-based index of the task just learned), and how many
/// sigmas are negative (the sign is free: see MESU_SPEC.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SigmaStat {
    pub task: usize,
    pub layer: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub negative: usize,
}

/// Statistics of one layer's |sigma| (NaN for an empty layer).
pub fn sigma_stats(task: usize, layer: usize, sigma: &[f32]) -> SigmaStat {
    let (mut sum, mut min, mut max) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    let mut negative = 0;
    for &s in sigma {
        negative += usize::from(s < 0.0);
        let s = f64::from(s).abs();
        sum += s;
        min = min.min(s);
        max = max.max(s);
    }
    if sigma.is_empty() {
        (min, max) = (f64::NAN, f64::NAN);
    }
    SigmaStat {
        task,
        layer,
        mean: sum / sigma.len() as f64,
        min,
        max,
        negative,
    }
}

/// Everything one run has produced so far. Row i of every table is filled
/// when task i is trained and evaluated, and never changes after.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// T x T: row i after task i, NaN where not evaluated.
    pub matrix: Vec<Vec<f64>>,
    /// ECE, NLL and Brier of the same evaluations.
    pub calibration: CalibrationMatrix,
    /// Per task and layer.
    pub sigma: Vec<SigmaStat>,
    /// After each task (empty without an OOD set).
    pub ood: Vec<OodAuroc>,
    /// Per task: [sum of the per-example training losses, steps].
    pub loss: Vec<[f64; 2]>,
    /// Why the run stopped early (a non-finite mu or sigma).
    pub diverged: Option<String>,
}

impl RunRecord {
    /// A stream of `tasks` tasks, nothing done.
    pub fn new(tasks: usize) -> RunRecord {
        RunRecord {
            matrix: vec![vec![f64::NAN; tasks]; tasks],
            calibration: CalibrationMatrix::new(tasks),
            sigma: Vec::new(),
            ood: Vec::new(),
            loss: vec![[0.0; 2]; tasks],
            diverged: None,
        }
    }

    /// The stream's length T.
    pub fn tasks(&self) -> usize {
        self.matrix.len()
    }

    /// The accuracy metrics of the rows filled so far (all of them once the
    /// stream is done).
    pub fn metrics(&self) -> StreamMetrics {
        StreamMetrics::from_matrix(&self.matrix)
    }

    /// Mean training loss per example of each task (NaN where not trained).
    pub fn mean_loss(&self) -> Vec<f64> {
        self.loss.iter().map(mean_loss).collect()
    }
}

/// A run's whole state at a position: where a stream resumes.
#[derive(Clone, Debug, PartialEq)]
pub struct RunState {
    pub record: RunRecord,
    pub params: Params,
    pub position: Position,
    pub timing: Timing,
}
