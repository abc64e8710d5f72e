//! The Hessian check's results folder: config.json, hessian.json,
//! hessian.csv and hessian_layer<k>.svg, rewritten after every checkpoint.

use std::fmt::Write as _;
use std::path::PathBuf;

use rand::{SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

use super::plot::{Series, scatter};
use super::{Curvature, Measurement, Study};
use crate::Error;
use crate::model::Architecture;
use crate::report::{ReportError, run_title, write_atomic};

/// Every file of a Hessian check's folder, for `report::claim`.
pub fn files(arch: &Architecture) -> Vec<String> {
    let plots = (1..=arch.layers()).map(|l| format!("hessian_layer{l}.svg"));
    ["config.json", "hessian.json", "hessian.csv"]
        .map(String::from)
        .into_iter()
        .chain(plots)
        .collect()
}

pub struct Writer {
    out: PathBuf,
    config: Value,
    at: Vec<u64>,
    /// Per layer, the weights written and plotted, increasing.
    chosen: Vec<Vec<usize>>,
    done: Vec<Measurement>,
    csv: String,
    /// Per layer, one series per checkpoint.
    series: Vec<Vec<Series>>,
    shapes: Vec<String>,
}

impl Writer {
    /// Writes config.json; draws each layer's weights from the run seed.
    pub fn new(study: &Study) -> Result<Writer, Error> {
        let arch = &study.arch;
        // Its own stream, apart from the init and the noise of this seed.
        let mut rng = StdRng::seed_from_u64(study.settings.seed ^ 0x6865_7373_6961_6e21);
        let chosen = (0..arch.layers())
            .map(|l| {
                let p = arch.params(l);
                let mut pick = match study.weights {
                    Some(k) if k < p => rand::seq::index::sample(&mut rng, p, k).into_vec(),
                    _ => (0..p).collect(),
                };
                pick.sort_unstable();
                pick
            })
            .collect();
        let text =
            serde_json::to_string_pretty(&study.config).map_err(|source| ReportError::Json {
                file: "config.json",
                source,
            })?;
        write_atomic(&study.out, "config.json", &text)?;
        Ok(Writer {
            out: study.out.clone(),
            config: study.config.clone(),
            at: study.at.clone(),
            chosen,
            done: Vec::new(),
            csv: String::from("layer,index,step,hessian,fisher,mesu\n"),
            series: (0..arch.layers()).map(|_| Vec::new()).collect(),
            shapes: (0..arch.layers())
                .map(|l| format!("{} -> {}", arch.n_in(l), arch.n_out(l)))
                .collect(),
        })
    }

    /// Records checkpoint `m` and rewrites every file.
    pub fn add(
        &mut self,
        m: &Measurement,
        c: &Curvature,
        estimates: &[Vec<f64>],
    ) -> Result<(), Error> {
        for (l, chosen) in self.chosen.iter().enumerate() {
            let (h, f, e) = (&c.hessian[l], &c.fisher[l], &estimates[l]);
            for &i in chosen {
                let _ = writeln!(
                    self.csv,
                    "{l},{i},{},{:e},{:e},{:e}",
                    m.step, h[i], f[i], e[i]
                );
            }
            let points = chosen.iter().map(|&i| (h[i], e[i]));
            self.series[l].push(Series {
                name: format!("step {}", m.step),
                points: points.filter(|&(x, y)| x > 0.0 && y > 0.0).collect(),
            });
        }
        self.done.push(m.clone());
        let complete = self.done.len() == self.at.len();
        let summary = json!({
            "complete": complete,
            "at": self.at,
            "estimate": "(1/sigma^2 - 1/sigma_prior^2) / (N * batch_size), per weight at the checkpoint",
            "hessian": "diagonal of the loss Hessian w.r.t. the weights at mu, mean over the training set (f64, closed form)",
            "fisher": "mean over the training set of the squared per-example loss gradient at mu",
            "agreement": "over the weights where both sides are positive (count): Pearson of log10 values, Spearman of ranks, quartiles of the first over the second",
            "layer_shapes": self.shapes,
            "checkpoints": self.done,
        });
        let text = serde_json::to_string_pretty(&summary).map_err(|source| ReportError::Json {
            file: "hessian.json",
            source,
        })?;
        write_atomic(&self.out, "hessian.json", &text)?;
        write_atomic(&self.out, "hessian.csv", &self.csv)?;
        let mut run = run_title(&self.config, 0, 0, true);
        if !complete {
            let _ = write!(
                run,
                " (incomplete: {} of {} checkpoints)",
                self.done.len(),
                self.at.len()
            );
        }
        for (l, series) in self.series.iter().enumerate() {
            let title = format!(
                "layer {} ({}): MESU's estimate against the Hessian",
                l + 1,
                self.shapes[l]
            );
            let file = format!("hessian_layer{}.svg", l + 1);
            let svg = scatter(&title, &run, series).map_err(|message| ReportError::Plot {
                file: "hessian_layer<k>.svg",
                message,
            })?;
            write_atomic(&self.out, &file, &svg)?;
        }
        Ok(())
    }
}
