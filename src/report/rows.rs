//! rows.jsonl: a run's record, one line per task done, appended as the
//! stream goes. Everything that grows with the stream's length lives here
//! rather than in the checkpoint, so a task's end writes one row, not the
//! whole T x T tables. Each line holds task i's row of the accuracy and
//! calibration matrices, its sigma statistics, OOD AUROC and training loss;
//! numbers are exact (shortest round-trip decimals; "NaN", "inf", "-inf"
//! as strings). The checkpoint records how many rows it covers and their
//! length and CRC-32, so a resume reads exactly the rows it was taken with.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ReportError, durable, write_bytes_atomic};
use crate::metrics::OodAuroc;
use crate::stream::{RunRecord, SigmaStat};

pub const FILE: &str = "rows.jsonl";

/// A float written exactly, non-finite values included.
#[derive(Clone, Copy, Debug)]
struct Exact(f64);

impl Serialize for Exact {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            x if x.is_finite() => s.serialize_f64(x),
            x if x.is_nan() => s.serialize_str("NaN"),
            x if x > 0.0 => s.serialize_str("inf"),
            _ => s.serialize_str("-inf"),
        }
    }
}

impl<'de> Deserialize<'de> for Exact {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(x) => Ok(Exact(x)),
            Repr::Text(t) => match t.as_str() {
                "NaN" => Ok(Exact(f64::NAN)),
                "inf" => Ok(Exact(f64::INFINITY)),
                "-inf" => Ok(Exact(f64::NEG_INFINITY)),
                _ => Err(serde::de::Error::custom(format!("{t:?} is not a number"))),
            },
        }
    }
}

fn exact(v: &[f64]) -> Vec<Exact> {
    v.iter().copied().map(Exact).collect()
}

fn plain(v: &[Exact]) -> Vec<f64> {
    v.iter().map(|x| x.0).collect()
}

/// One line: what task `task` added to a run's record.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskRow {
    task: usize,
    accuracy: Vec<Exact>,
    ece: Vec<Exact>,
    nll: Vec<Exact>,
    brier: Vec<Exact>,
    /// Per layer: layer, mean, min, max, negative.
    sigma: Vec<(usize, Exact, Exact, Exact, usize)>,
    /// Epistemic, aleatoric, predictive.
    ood: Option<[Exact; 3]>,
    /// [sum of the per-example training losses, steps].
    loss: [Exact; 2],
}

impl TaskRow {
    fn of(rec: &RunRecord, task: usize) -> TaskRow {
        let cal = &rec.calibration;
        TaskRow {
            task,
            accuracy: exact(&rec.matrix[task]),
            ece: exact(&cal.ece[task]),
            nll: exact(&cal.nll[task]),
            brier: exact(&cal.brier[task]),
            sigma: rec
                .sigma
                .iter()
                .filter(|s| s.task == task)
                .map(|s| {
                    (
                        s.layer,
                        Exact(s.mean),
                        Exact(s.min),
                        Exact(s.max),
                        s.negative,
                    )
                })
                .collect(),
            ood: rec
                .ood
                .iter()
                .find(|o| o.task == task)
                .map(|o| [Exact(o.epistemic), Exact(o.aleatoric), Exact(o.predictive)]),
            loss: rec.loss[task].map(Exact),
        }
    }

    /// Adds this row to `rec` (of at least as many tasks as the row's).
    fn fill(self, rec: &mut RunRecord) -> Result<(), String> {
        let (i, t) = (self.task, rec.tasks());
        let lens = [&self.accuracy, &self.ece, &self.nll, &self.brier].map(Vec::len);
        if i >= t || lens.iter().any(|&n| n != lens[0] || n > t || n <= i) {
            return Err(format!("row of task {} does not fit {t} tasks", i + 1));
        }
        let put = |row: &mut Vec<f64>, values: &[Exact]| {
            row[..values.len()].copy_from_slice(&plain(values))
        };
        put(&mut rec.matrix[i], &self.accuracy);
        put(&mut rec.calibration.ece[i], &self.ece);
        put(&mut rec.calibration.nll[i], &self.nll);
        put(&mut rec.calibration.brier[i], &self.brier);
        rec.sigma.extend(
            self.sigma
                .into_iter()
                .map(|(layer, mean, min, max, negative)| SigmaStat {
                    task: i,
                    layer,
                    mean: mean.0,
                    min: min.0,
                    max: max.0,
                    negative,
                }),
        );
        if let Some([e, a, p]) = self.ood {
            rec.ood.push(OodAuroc {
                task: i,
                epistemic: e.0,
                aleatoric: a.0,
                predictive: p.0,
            });
        }
        rec.loss[i] = self.loss.map(|x| x.0);
        Ok(())
    }
}

/// The rows a checkpoint was taken with: how many, and their bytes'
/// length and CRC-32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowsMark {
    pub rows: usize,
    pub bytes: u64,
    pub crc32: u32,
}

/// A run's rows file as this process writes it.
pub struct RowsFile {
    mark: RowsMark,
    crc: crc32fast::Hasher,
}

fn line(rec: &RunRecord, task: usize) -> Vec<u8> {
    let mut text = serde_json::to_vec(&TaskRow::of(rec, task)).expect("a row serializes");
    text.push(b'\n');
    text
}

impl RowsFile {
    /// Writes rows 0..`rows` of `rec` as `dir`'s rows file, replacing
    /// whatever it held.
    /// With no rows, the file is removed: a run that has not trained has
    /// written nothing but config.json (what `--force`'s settling counts on).
    pub fn rewrite(dir: &Path, rec: &RunRecord, rows: usize) -> Result<RowsFile, ReportError> {
        let bytes: Vec<u8> = (0..rows).flat_map(|i| line(rec, i)).collect();
        if rows == 0 {
            let path = dir.join(FILE);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ReportError::Io { path, source: e });
                }
                _ => {}
            }
        } else {
            write_bytes_atomic(dir, FILE, &bytes)?;
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&bytes);
        let mark = RowsMark {
            rows,
            bytes: bytes.len() as u64,
            crc32: crc.clone().finalize(),
        };
        Ok(RowsFile { mark, crc })
    }

    /// Appends row `task` of `rec`, the next one, durably; bytes past the
    /// rows written so far (an append a kill cut short) are dropped first.
    pub fn append(&mut self, dir: &Path, rec: &RunRecord, task: usize) -> Result<(), ReportError> {
        debug_assert_eq!(task, self.mark.rows, "rows are appended in order");
        let path = dir.join(FILE);
        let bytes = line(rec, task);
        let io = |source| ReportError::Io {
            path: path.clone(),
            source,
        };
        let mut file = super::open_no_follow(&path)?;
        file.set_len(self.mark.bytes).map_err(io)?;
        file.seek(SeekFrom::End(0)).map_err(io)?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        self.crc.update(&bytes);
        self.mark = RowsMark {
            rows: task + 1,
            bytes: self.mark.bytes + bytes.len() as u64,
            crc32: self.crc.clone().finalize(),
        };
        durable(dir)
    }

    pub fn mark(&self) -> RowsMark {
        self.mark
    }
}

/// Fills `rec` with the rows of `dir`'s rows file that `mark` covers,
/// after checking their length and CRC-32 (bytes after them, from an
/// append a kill cut short, are ignored).
pub fn read(dir: &Path, mark: RowsMark, rec: &mut RunRecord) -> Result<(), ReportError> {
    let path = dir.join(FILE);
    let bad = |why: String| ReportError::Checkpoint {
        path: path.clone(),
        why,
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && mark.rows == 0 => Vec::new(),
        Err(e) => {
            return Err(bad(format!(
                "the checkpoint needs its {} rows: {e}",
                mark.rows
            )));
        }
    };
    let covered = usize::try_from(mark.bytes)
        .ok()
        .and_then(|n| bytes.get(..n))
        .ok_or_else(|| {
            bad(format!(
                "{} bytes, fewer than the checkpoint's {}",
                bytes.len(),
                mark.bytes
            ))
        })?;
    if crc32fast::hash(covered) != mark.crc32 {
        return Err(bad(
            "its rows are not the ones the checkpoint was taken with (CRC-32 differs)".into(),
        ));
    }
    let lines: Vec<&[u8]> = covered.split_inclusive(|&b| b == b'\n').collect();
    if lines.len() != mark.rows {
        return Err(bad(format!(
            "{} rows where the checkpoint has {}",
            lines.len(),
            mark.rows
        )));
    }
    for (i, text) in lines.into_iter().enumerate() {
        let row: TaskRow =
            serde_json::from_slice(text).map_err(|e| bad(format!("row {}: {e}", i + 1)))?;
        if row.task != i {
            return Err(bad(format!("row {} holds task {}", i + 1, row.task + 1)));
        }
        row.fill(rec).map_err(bad)?;
    }
    Ok(())
}
