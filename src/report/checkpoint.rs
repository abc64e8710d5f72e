//! A run's state at a task boundary or a clean stop, kept in its results
//! folder as checkpoint.safetensors (safetensors: a small, well-specified
//! format with a JSON header, read by numpy/torch too): mu and sigma per
//! layer as f32 tensors (and a penalised baseline's state, [P][3] per layer:
//! anchor, importance, path), the accuracy matrix, calibration matrices,
//! sigma statistics, OOD AUROC and training losses as f64 tensors, and in
//! the header the format version, the run's
//! identity, where training resumes and the timings so far.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::{SafeTensors, serialize};
use serde_json::Value;

use super::{ReportError, SigmaStat};
use crate::metrics::{CalibrationMatrix, OodAuroc};
use crate::model::{Params, Penalty};

pub const FILE: &str = "checkpoint.safetensors";
const FORMAT: &str = "mesu-checkpoint";
const VERSION: &str = "2";

/// Where training resumes: task `task` (0-based), its epoch `epoch` and
/// batch `batch` of that epoch, after `steps` training steps (the noise
/// counter). At a task boundary, epoch and batch are 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub task: usize,
    pub epoch: usize,
    pub batch: usize,
    pub steps: u64,
}

/// Everything a run needs to go on as if it had never stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The run's identity (config.json's "identity"): a checkpoint of other
    /// settings is refused.
    pub identity: Value,
    pub position: Position,
    pub params: Params,
    /// T x T, NaN where not evaluated.
    pub matrix: Vec<Vec<f64>>,
    /// ECE, NLL and Brier of the same evaluations.
    pub calibration: CalibrationMatrix,
    pub sigma: Vec<SigmaStat>,
    pub ood: Vec<OodAuroc>,
    /// Per task: [sum of the per-example training losses, examples' steps].
    pub loss: Vec<[f64; 2]>,
    /// Seconds and counts so far: train_s, eval_s, evaluations, wall_s.
    pub timing: Value,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn sigma_rows(stats: &[SigmaStat]) -> Vec<f64> {
    stats
        .iter()
        .flat_map(|s| {
            let (task, layer, neg) = (s.task as f64, s.layer as f64, s.negative as f64);
            [task, layer, s.mean, s.min, s.max, neg]
        })
        .collect()
}

fn ood_rows(ood: &[OodAuroc]) -> Vec<f64> {
    ood.iter()
        .flat_map(|o| [o.task as f64, o.epistemic, o.aleatoric, o.predictive])
        .collect()
}

/// `m` (T x T) padded with NaN to `tasks` x `tasks`.
fn pad(m: &[Vec<f64>], tasks: usize) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = m
        .iter()
        .map(|row| {
            let mut row = row.clone();
            row.resize(tasks, f64::NAN);
            row
        })
        .collect();
    out.resize(tasks, vec![f64::NAN; tasks]);
    out
}

impl Checkpoint {
    /// This finished run's state as the start of a longer stream of `tasks`
    /// tasks with identity `identity`: the tables grow, nothing else moves.
    pub fn extended(mut self, tasks: usize, identity: Value) -> Checkpoint {
        self.matrix = pad(&self.matrix, tasks);
        self.calibration = CalibrationMatrix {
            ece: pad(&self.calibration.ece, tasks),
            nll: pad(&self.calibration.nll, tasks),
            brier: pad(&self.calibration.brier, tasks),
        };
        self.loss.resize(tasks, [0.0; 2]);
        self.identity = identity;
        self
    }

    /// Writes the checkpoint under a temporary name and renames it, so an
    /// interrupted write leaves the previous checkpoint intact.
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        let t = self.matrix.len();
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (l, (mu, sigma)) in self.params.mu.iter().zip(&self.params.sigma).enumerate() {
            owned.push((format!("mu.{l}"), Dtype::F32, vec![mu.len()], f32_bytes(mu)));
            owned.push((
                format!("sigma.{l}"),
                Dtype::F32,
                vec![sigma.len()],
                f32_bytes(sigma),
            ));
        }
        for (l, pen) in self.params.penalty.iter().enumerate() {
            let flat: Vec<f32> = pen
                .iter()
                .flat_map(|p| [p.anchor, p.importance, p.path])
                .collect();
            owned.push((
                format!("penalty.{l}"),
                Dtype::F32,
                vec![pen.len(), 3],
                f32_bytes(&flat),
            ));
        }
        // The f64 tables: (name, rows, columns, values).
        let calibration = self
            .calibration
            .tables()
            .map(|(name, m)| (name, t, t, m.concat()));
        let tables = [
            ("accuracy", t, t, self.matrix.concat()),
            ("sigma_stats", self.sigma.len(), 6, sigma_rows(&self.sigma)),
            ("ood_auroc", self.ood.len(), 4, ood_rows(&self.ood)),
            ("train_loss", self.loss.len(), 2, self.loss.concat()),
        ];
        for (name, rows, cols, values) in tables.into_iter().chain(calibration) {
            owned.push((
                name.into(),
                Dtype::F64,
                vec![rows, cols],
                f64_bytes(&values),
            ));
        }
        let views = owned
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes).map(|v| (name.clone(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ReportError::Checkpoint {
                path: dir.join(FILE),
                why: e.to_string(),
            })?;
        let header: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            ("version", VERSION.to_string()),
            ("layers", self.params.mu.len().to_string()),
            ("identity", self.identity.to_string()),
            ("position", serde_json::json!(self.position).to_string()),
            ("timing", self.timing.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let bytes = serialize(views, Some(header)).map_err(|e| ReportError::Checkpoint {
            path: dir.join(FILE),
            why: e.to_string(),
        })?;
        super::write_bytes_atomic(dir, FILE, &bytes)
    }

    /// The checkpoint in `dir`, None when there is none; a truncated or
    /// foreign file is an error naming it.
    pub fn read(dir: &Path) -> Result<Option<Checkpoint>, ReportError> {
        let path = dir.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ReportError::Io { path, source }),
        };
        let bad = |why: String| ReportError::Checkpoint {
            path: path.clone(),
            why,
        };
        let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let header = meta.metadata().clone().unwrap_or_default();
        let field = |k: &str| {
            header
                .get(k)
                .ok_or_else(|| bad(format!("no \"{k}\" in its header")))
        };
        if field("format")? != FORMAT {
            return Err(bad("not a mesu checkpoint".into()));
        }
        if field("version")? != VERSION {
            return Err(bad(format!(
                "format version {} (this mesu reads {VERSION})",
                field("version")?
            )));
        }
        let parse = |k: &str| -> Result<Value, ReportError> {
            serde_json::from_str(field(k)?).map_err(|e| bad(format!("header \"{k}\": {e}")))
        };
        let layers: usize = field("layers")?
            .parse()
            .map_err(|_| bad("header \"layers\" is not a count".into()))?;
        let position: Position = serde_json::from_value(parse("position")?)
            .map_err(|e| bad(format!("header \"position\": {e}")))?;
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let f32s = |name: &str| -> Result<Vec<f32>, ReportError> {
            let t = tensors
                .tensor(name)
                .map_err(|e| bad(format!("{name}: {e}")))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!("{name} is not f32")));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        let f64s = |name: &str| -> Result<(Vec<usize>, Vec<f64>), ReportError> {
            let t = tensors
                .tensor(name)
                .map_err(|e| bad(format!("{name}: {e}")))?;
            if t.dtype() != Dtype::F64 {
                return Err(bad(format!("{name} is not f64")));
            }
            let v = t
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            Ok((t.shape().to_vec(), v))
        };
        let mut params = Params {
            mu: Vec::new(),
            sigma: Vec::new(),
            penalty: Vec::new(),
        };
        // Only the penalised baselines' checkpoints hold a penalty state.
        let penalised = tensors.names().iter().any(|n| n.starts_with("penalty."));
        for l in 0..layers {
            params.mu.push(f32s(&format!("mu.{l}"))?);
            params.sigma.push(f32s(&format!("sigma.{l}"))?);
            if penalised {
                let flat = f32s(&format!("penalty.{l}"))?;
                params.penalty.push(
                    flat.chunks_exact(3)
                        .map(|c| Penalty {
                            anchor: c[0],
                            importance: c[1],
                            path: c[2],
                        })
                        .collect(),
                );
            }
        }
        let square = |flat: Vec<f64>, t: usize| -> Result<Vec<Vec<f64>>, ReportError> {
            if flat.len() != t * t {
                return Err(bad(format!(
                    "a table of {} values, not {t} x {t}",
                    flat.len()
                )));
            }
            Ok(flat.chunks(t.max(1)).map(<[f64]>::to_vec).collect())
        };
        let (shape, flat) = f64s("accuracy")?;
        let t = shape.first().copied().unwrap_or(0);
        let matrix = square(flat, t)?;
        let calibrated = |name: &str| square(f64s(name)?.1, t);
        let calibration = CalibrationMatrix {
            ece: calibrated("ece")?,
            nll: calibrated("nll")?,
            brier: calibrated("brier")?,
        };
        let (_, rows) = f64s("sigma_stats")?;
        let sigma = rows
            .chunks_exact(6)
            .map(|r| SigmaStat {
                task: r[0] as usize,
                layer: r[1] as usize,
                mean: r[2],
                min: r[3],
                max: r[4],
                negative: r[5] as usize,
            })
            .collect();
        let (_, rows) = f64s("ood_auroc")?;
        let ood = rows
            .chunks_exact(4)
            .map(|r| OodAuroc {
                task: r[0] as usize,
                epistemic: r[1],
                aleatoric: r[2],
                predictive: r[3],
            })
            .collect();
        let (_, rows) = f64s("train_loss")?;
        let loss = rows.chunks_exact(2).map(|r| [r[0], r[1]]).collect();
        Ok(Some(Checkpoint {
            identity: parse("identity")?,
            position,
            params,
            matrix,
            calibration,
            sigma,
            ood,
            loss,
            timing: parse("timing")?,
        }))
    }
}
