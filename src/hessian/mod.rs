//! The Hessian check (the paper's Supp. Fig. 1): train MESU on one
//! unpermuted task through any backend and, at step checkpoints, compare
//! its curvature estimate (1/sigma^2 - 1/sigma_prior^2) / N with the exact
//! diagonal of the loss Hessian and with the diagonal empirical Fisher, both
//! at mu and averaged over the training set, in f64. Writes hessian.json
//! (correlations per layer and checkpoint), hessian.csv (per weight, a
//! seeded subset of each layer) and a log-log scatter per layer.

mod curvature;
mod output;
mod plot;
pub mod stats;

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::Error;
use crate::backend::Device;
use crate::config::RunSettings;
use crate::data::{Split, epoch_order};
use crate::model::{Architecture, Params};
use crate::optim::RunSpec;
use crate::stream::{Chunks, stop_requested};
pub use curvature::{Curvature, curvature};
pub use output::files;
pub use stats::Agreement;

/// One Hessian check.
pub struct Study {
    pub arch: Architecture,
    /// MESU's settings (the epochs and test samples are not used).
    pub settings: RunSettings,
    /// Shuffle the examples each epoch (default: file order).
    pub shuffle: bool,
    /// Steps at which to measure, increasing.
    pub at: Vec<u64>,
    /// Weights per layer in hessian.csv and the plots (a seeded draw, the
    /// same at every checkpoint); None: every weight.
    pub weights: Option<usize>,
    /// config.json, with the run's "identity".
    pub config: Value,
    pub out: PathBuf,
}

/// How MESU's estimate compares, for one layer at one checkpoint.
#[derive(Clone, Debug, Serialize)]
pub struct LayerCheck {
    pub layer: usize,
    pub weights: usize,
    /// Weights whose estimate is negative (sigma above sigma_prior).
    pub negative_estimates: usize,
    /// Weights whose Hessian diagonal is zero (units never active).
    pub zero_hessian: usize,
    pub mesu_vs_hessian: Agreement,
    pub mesu_vs_fisher: Agreement,
    pub fisher_vs_hessian: Agreement,
}

/// One checkpoint.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    pub step: u64,
    /// Mean training loss per example over the steps since the last checkpoint.
    pub train_loss: f64,
    /// Seconds training since the last checkpoint, and computing the curvature.
    pub train_s: f64,
    pub curvature_s: f64,
    pub layers: Vec<LayerCheck>,
}

/// What `run` reports as it goes.
pub enum Event<'a> {
    /// `step` steps taken, training towards checkpoint `target`; `loss`
    /// the last chunk's mean per example.
    Trained { step: u64, target: u64, loss: f64 },
    /// A checkpoint measured and its files written.
    Measured(&'a Measurement),
}

/// MESU's estimate per weight: (1/sigma^2 - 1/sigma_prior^2) / N, divided
/// by the batch size too, since a step's loss sums B examples and the
/// Hessian here is per example.
pub fn estimate(settings: &RunSettings, sigma: &[f32]) -> Vec<f64> {
    let h = &settings.hyper;
    let prior = 1.0 / (h.sigma_prior * h.sigma_prior);
    let steps = h.n * settings.batch_size as f64;
    sigma
        .iter()
        .map(|&s| (1.0 / (f64::from(s) * f64::from(s)) - prior) / steps)
        .collect()
}

/// Trains `study` on `train` (unpermuted) on `device`, measuring at each
/// checkpoint and rewriting the results files after each. A stop request
/// (Ctrl-C) ends it at the next chunk of steps with `Error::Stopped`, the
/// checkpoints measured so far written.
pub fn run(
    device: &Device,
    train: &Split,
    study: &Study,
    events: &mut dyn FnMut(Event),
) -> Result<Vec<Measurement>, Error> {
    let s = &study.settings;
    let spec = RunSpec {
        seed: s.seed,
        hyper: s.hyper.clone(),
    };
    let arch = &study.arch;
    let mut engine = device.backend(arch.clone(), vec![spec], &s.shape().engine_config())?;
    engine.set_train_data(train)?;
    engine.set_task(&[(0..arch.n_in(0) as u32).collect()])?;
    let per_epoch = engine.batches_per_epoch()?;
    if per_epoch == 0 {
        return Err(Error::TooFewExamples(train.len()));
    }
    let order = |epoch| vec![epoch_order(train.len(), study.shuffle, s.seed, 0, epoch)];
    let (mut epoch, mut batch, mut step) = (0, 0, 0u64);
    let mut chunks = Chunks::default();
    engine.set_order(&order(epoch))?;
    // The curvature pass runs on the CPU backend's threads when it trains.
    let threads = match device {
        Device::Cpu { threads } => *threads,
        Device::Gpu(_) => 0,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| format!("cannot start the curvature threads: {e}"))?;
    let mut writer = output::Writer::new(study)?;
    let mut done = Vec::new();
    for &target in &study.at {
        let clock = Instant::now();
        let (mut loss_sum, mut loss_steps) = (0.0, 0usize);
        while step < target {
            if stop_requested() {
                return Err(Error::Stopped(format!(
                    "stopped at step {step}, before the checkpoint at {target}; \
                     {} of {} checkpoints are in {} (a rerun starts again from step 0)",
                    done.len(),
                    study.at.len(),
                    study.out.display()
                )));
            }
            if batch == per_epoch {
                (epoch, batch) = (epoch + 1, 0);
                engine.set_order(&order(epoch))?;
            }
            let max = (per_epoch - batch).min((target - step) as usize);
            let (n, trained) = chunks.train(engine.as_mut(), batch, max);
            let loss = trained?[0];
            (batch, step) = (batch + n, step + n as u64);
            (loss_sum, loss_steps) = (loss_sum + loss * n as f64, loss_steps + n);
            events(Event::Trained { step, target, loss });
        }
        let train_s = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let params = engine.params()?.remove(0);
        let curv = pool.install(|| measure(arch, &params, train));
        let estimates: Vec<Vec<f64>> = params.sigma.iter().map(|sg| estimate(s, sg)).collect();
        let layers = (0..arch.layers())
            .map(|l| layer_check(l, &estimates[l], &curv.hessian[l], &curv.fisher[l]))
            .collect();
        let m = Measurement {
            step,
            train_loss: loss_sum / loss_steps.max(1) as f64,
            train_s,
            curvature_s: clock.elapsed().as_secs_f64(),
            layers,
        };
        writer.add(&m, &curv, &estimates)?;
        events(Event::Measured(&m));
        done.push(m);
    }
    Ok(done)
}

/// The Hessian diagonal and Fisher at mu over `train`, standardised with
/// its own statistics as the backends do.
fn measure(arch: &Architecture, params: &Params, train: &Split) -> Curvature {
    let w: Vec<Vec<f64>> = params
        .mu
        .iter()
        .map(|l| l.iter().map(|&v| f64::from(v)).collect())
        .collect();
    curvature(
        arch,
        &w,
        &train.images,
        &train.labels,
        train.pixel_mean_std(),
    )
}

fn layer_check(layer: usize, estimate: &[f64], hessian: &[f64], fisher: &[f64]) -> LayerCheck {
    LayerCheck {
        layer,
        weights: estimate.len(),
        negative_estimates: estimate.iter().filter(|&&e| e < 0.0).count(),
        zero_hessian: hessian.iter().filter(|&&h| h == 0.0).count(),
        mesu_vs_hessian: Agreement::new(estimate, hessian),
        mesu_vs_fisher: Agreement::new(estimate, fisher),
        fisher_vs_hessian: Agreement::new(fisher, hessian),
    }
}
