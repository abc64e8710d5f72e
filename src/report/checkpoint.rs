//! A run's state at a task boundary or a clean stop, kept in its results
//! folder as checkpoint.safetensors (safetensors: a small, well-specified
//! format with a JSON header, read by numpy/torch too).
//!
//! Format version 3: mu and sigma per layer as f32 tensors (and a
//! penalised baseline's state, [P][3] per layer: anchor, importance, path),
//! the current task's training loss so far as an f64 [2] tensor
//! ("task_loss"); in the header the format, version, layers, the run's
//! identity, where training resumes (position), the timings, the rows of
//! rows.jsonl it was taken with (count, bytes, CRC-32), and a CRC-32 of
//! every other header field and every tensor ("crc32"). What grows with
//! the stream's length is in rows.jsonl, so the checkpoint does not.
//!
//! Version 2 (mesu before rows.jsonl) is still read: it holds the T x T
//! tables itself and no checksum; the next checkpoint is written as 3.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::{SafeTensors, serialize};
use serde_json::Value;

use super::ReportError;
use super::rows::RowsMark;
use crate::metrics::{CalibrationMatrix, OodAuroc};
use crate::model::{Params, Penalty};
use crate::stream::{Position, RunRecord, SigmaStat, Timing};

pub const FILE: &str = "checkpoint.safetensors";
const FORMAT: &str = "mesu-checkpoint";
const VERSION: &str = "3";
/// Every field of a version-3 header.
const HEADER: [&str; 8] = [
    "format", "version", "layers", "identity", "position", "timing", "rows", "crc32",
];
/// The version before rows.jsonl, read for runs started by an older mesu.
const VERSION_TABLES: &str = "2";

/// Everything a run needs to go on as if it had never stopped, besides the
/// rows it names.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The run's identity (config.json's "identity"): a checkpoint of other
    /// settings is refused.
    pub identity: Value,
    pub position: Position,
    pub params: Params,
    /// Seconds and counts so far.
    pub timing: Timing,
    /// The current task's [sum of the per-example training losses, steps]
    /// at a stop inside it.
    pub task_loss: [f64; 2],
    /// Where the record is.
    pub record: Stored,
}

/// Where a checkpoint's record is.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    /// Version 3: these rows of rows.jsonl.
    Rows(RowsMark),
    /// Version 2: in the checkpoint itself, tables of its run's length.
    Tables(Box<RunRecord>),
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The CRC-32 of a checkpoint: every header field but "crc32" and every
/// tensor (name, dtype, shape, bytes), in name order.
fn checksum<'a>(
    header: &BTreeMap<&str, &str>,
    tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    for (k, v) in header.iter().filter(|(k, _)| **k != "crc32") {
        crc.update(k.as_bytes());
        crc.update(&[0]);
        crc.update(v.as_bytes());
        crc.update(&[0]);
    }
    let mut tensors: Vec<_> = tensors.collect();
    tensors.sort_by_key(|t| t.0);
    for (name, dtype, shape, bytes) in tensors {
        crc.update(name.as_bytes());
        crc.update(format!("{dtype:?}{shape:?}").as_bytes());
        crc.update(bytes);
    }
    crc.finalize()
}

impl Checkpoint {
    /// The identity's stream length.
    pub fn tasks_of(identity: &Value) -> Option<usize> {
        identity["tasks"].as_u64().map(|t| t as usize)
    }

    /// Writes the checkpoint (version 3) under a temporary name, makes it
    /// durable and renames it, so an interrupted write leaves the previous
    /// checkpoint intact. A `Stored::Tables` checkpoint is not written: a
    /// run writes its rows first.
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        let path = dir.join(FILE);
        let bad = |why: String| ReportError::Checkpoint {
            path: path.clone(),
            why,
        };
        let Stored::Rows(rows) = &self.record else {
            return Err(bad("a version-2 checkpoint is only read".into()));
        };
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
        owned.push((
            "task_loss".into(),
            Dtype::F64,
            vec![2],
            f64_bytes(&self.task_loss),
        ));
        let json = |v: Result<String, serde_json::Error>| v.map_err(|e| bad(e.to_string()));
        let fields = [
            ("format", FORMAT.to_string()),
            ("version", VERSION.to_string()),
            ("layers", self.params.mu.len().to_string()),
            ("identity", self.identity.to_string()),
            ("position", json(serde_json::to_string(&self.position))?),
            ("timing", json(serde_json::to_string(&self.timing))?),
            ("rows", json(serde_json::to_string(rows))?),
        ];
        let mut header: BTreeMap<&str, &str> =
            fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let crc = checksum(
            &header,
            owned
                .iter()
                .map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice())),
        )
        .to_string();
        header.insert("crc32", &crc);
        let header: HashMap<String, String> = header
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let views = owned
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes).map(|v| (name.clone(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        let bytes = serialize(views, Some(header)).map_err(|e| bad(e.to_string()))?;
        super::write_bytes_atomic(dir, FILE, &bytes)?;
        super::durable(dir)
    }

    /// The checkpoint in `dir`, None when there is none; a truncated,
    /// altered or foreign file, or a header that does not hold together,
    /// is an error naming it.
    pub fn read(dir: &Path) -> Result<Option<Checkpoint>, ReportError> {
        let path = dir.join(FILE);
        let bytes = match super::read_no_follow(&path) {
            Ok(b) => b,
            Err(ReportError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
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
                .map(String::as_str)
                .ok_or_else(|| bad(format!("no \"{k}\" in its header")))
        };
        if field("format")? != FORMAT {
            return Err(bad("not a mesu checkpoint".into()));
        }
        let version = field("version")?;
        if version != VERSION && version != VERSION_TABLES {
            return Err(bad(format!(
                "format version {version} (this mesu reads {VERSION_TABLES} and {VERSION})"
            )));
        }
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        if version == VERSION {
            if let Some(k) = header.keys().find(|k| !HEADER.contains(&k.as_str())) {
                return Err(bad(format!("an unknown header field \"{k}\"")));
            }
            let stored: u32 = field("crc32")?
                .parse()
                .map_err(|_| bad("header \"crc32\" is not a CRC-32".into()))?;
            let header: BTreeMap<&str, &str> = header
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let views = tensors.tensors();
            let crc = checksum(
                &header,
                views
                    .iter()
                    .map(|(n, t)| (n.as_str(), t.dtype(), t.shape(), t.data())),
            );
            if crc != stored {
                return Err(bad(format!(
                    "its CRC-32 is {crc:08x}, not the {stored:08x} it was written with: \
                     the file was altered or damaged"
                )));
            }
        }
        let parse = |k: &str| -> Result<Value, ReportError> {
            serde_json::from_str(field(k)?).map_err(|e| bad(format!("header \"{k}\": {e}")))
        };
        let identity = parse("identity")?;
        let tasks = Self::tasks_of(&identity)
            .ok_or_else(|| bad("header \"identity\" names no number of tasks".into()))?;
        let position: Position = serde_json::from_str(field("position")?)
            .map_err(|e| bad(format!("header \"position\": {e}")))?;
        if position.task > tasks {
            return Err(bad(format!(
                "header \"position\" is at task {} of a {tasks}-task run",
                position.task + 1
            )));
        }
        let layers: usize = field("layers")?
            .parse()
            .map_err(|_| bad("header \"layers\" is not a count".into()))?;
        let params = read_params(&tensors, layers).map_err(bad)?;
        let expected = 2 * layers + params.penalty.len() + usize::from(version == VERSION);
        if version == VERSION && tensors.len() != expected {
            return Err(bad(format!(
                "{} tensors where its header's {layers} layers make {expected}",
                tensors.len()
            )));
        }
        let timing = serde_json::from_value::<Timing>(parse("timing")?);
        let timing = match timing {
            Ok(t) => t,
            // Timings are informative: a version-2 header may hold fewer.
            Err(_) if version == VERSION_TABLES => Timing::default(),
            Err(e) => return Err(bad(format!("header \"timing\": {e}"))),
        };
        let (task_loss, record) = if version == VERSION {
            let rows: RowsMark = serde_json::from_str(field("rows")?)
                .map_err(|e| bad(format!("header \"rows\": {e}")))?;
            if rows.rows != position.task {
                return Err(bad(format!(
                    "header \"rows\" covers {} tasks, its position {}",
                    rows.rows, position.task
                )));
            }
            let loss = f64s(&tensors, "task_loss").map_err(bad)?.1;
            let loss: [f64; 2] = loss
                .try_into()
                .map_err(|_| bad("task_loss is not [2]".into()))?;
            (loss, Stored::Rows(rows))
        } else {
            let rec = read_tables(&tensors, tasks).map_err(bad)?;
            let loss = rec.loss.get(position.task).copied().unwrap_or([0.0; 2]);
            (loss, Stored::Tables(Box::new(rec)))
        };
        Ok(Some(Checkpoint {
            identity,
            position,
            params,
            timing,
            task_loss,
            record,
        }))
    }
}

fn f32s(tensors: &SafeTensors, name: &str) -> Result<Vec<f32>, String> {
    let t = tensors.tensor(name).map_err(|e| format!("{name}: {e}"))?;
    if t.dtype() != Dtype::F32 {
        return Err(format!("{name} is not f32"));
    }
    Ok(t.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn f64s(tensors: &SafeTensors, name: &str) -> Result<(Vec<usize>, Vec<f64>), String> {
    let t = tensors.tensor(name).map_err(|e| format!("{name}: {e}"))?;
    if t.dtype() != Dtype::F64 {
        return Err(format!("{name} is not f64"));
    }
    let v = t
        .data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    Ok((t.shape().to_vec(), v))
}

/// mu, sigma (and a penalised baseline's state) of `layers` layers, each
/// layer's tensors of one length.
fn read_params(tensors: &SafeTensors, layers: usize) -> Result<Params, String> {
    let mut params = Params {
        mu: Vec::new(),
        sigma: Vec::new(),
        penalty: Vec::new(),
    };
    // Only the penalised baselines' checkpoints hold a penalty state.
    let penalised = tensors.names().iter().any(|n| n.starts_with("penalty."));
    for l in 0..layers {
        let (mu, sigma) = (
            f32s(tensors, &format!("mu.{l}"))?,
            f32s(tensors, &format!("sigma.{l}"))?,
        );
        if mu.len() != sigma.len() {
            return Err(format!(
                "layer {l}: {} means but {} sigmas",
                mu.len(),
                sigma.len()
            ));
        }
        if penalised {
            let flat = f32s(tensors, &format!("penalty.{l}"))?;
            if flat.len() != 3 * mu.len() {
                return Err(format!("layer {l}: a penalty state of another size"));
            }
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
        params.mu.push(mu);
        params.sigma.push(sigma);
    }
    Ok(params)
}

/// A version-2 checkpoint's tables, of its run's `tasks` tasks.
fn read_tables(tensors: &SafeTensors, tasks: usize) -> Result<RunRecord, String> {
    let square = |name: &str| -> Result<Vec<Vec<f64>>, String> {
        let (_, flat) = f64s(tensors, name)?;
        if flat.len() != tasks * tasks {
            return Err(format!(
                "{name}: {} values, not {tasks} x {tasks}",
                flat.len()
            ));
        }
        Ok(flat.chunks(tasks.max(1)).map(<[f64]>::to_vec).collect())
    };
    let rows = |name: &str, cols: usize| -> Result<Vec<Vec<f64>>, String> {
        let (shape, flat) = f64s(tensors, name)?;
        if shape.get(1) != Some(&cols) {
            return Err(format!("{name} is not of {cols} columns"));
        }
        Ok(flat.chunks_exact(cols).map(<[f64]>::to_vec).collect())
    };
    let index = |x: f64| x as usize;
    let loss: Vec<[f64; 2]> = rows("train_loss", 2)?
        .iter()
        .map(|r| [r[0], r[1]])
        .collect();
    if loss.len() != tasks {
        return Err(format!("train_loss: {} tasks, not {tasks}", loss.len()));
    }
    Ok(RunRecord {
        matrix: square("accuracy")?,
        calibration: CalibrationMatrix {
            ece: square("ece")?,
            nll: square("nll")?,
            brier: square("brier")?,
        },
        sigma: rows("sigma_stats", 6)?
            .iter()
            .map(|r| SigmaStat {
                task: index(r[0]),
                layer: index(r[1]),
                mean: r[2],
                min: r[3],
                max: r[4],
                negative: index(r[5]),
            })
            .collect(),
        ood: rows("ood_auroc", 4)?
            .iter()
            .map(|r| OodAuroc {
                task: index(r[0]),
                epistemic: r[1],
                aleatoric: r[2],
                predictive: r[3],
            })
            .collect(),
        loss,
        diverged: None,
    })
}
