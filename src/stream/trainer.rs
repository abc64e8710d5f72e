//! Training in chunks of steps: many steps per submit, few enough that a
//! progress report (a small readback) and a stop request come about every
//! `REPORT_SECS`. The stream and the Hessian check both train through it.

use std::time::Instant;

use crate::Error;
use crate::backend::Backend;

/// Seconds between two progress reports.
const REPORT_SECS: f64 = 0.5;
/// The bounds of a chunk, in steps.
const CHUNK_STEPS: (usize, usize) = (16, 4096);

/// The size of the next chunk, sized from the measured rate.
pub struct Chunks {
    size: usize,
}

impl Default for Chunks {
    fn default() -> Self {
        Chunks {
            size: CHUNK_STEPS.0,
        }
    }
}

impl Chunks {
    /// Trains one chunk of at most `max` steps from batch `batch` of the
    /// current epoch; returns the steps taken and each run's mean loss per
    /// example (or the engine's error, `Error::Diverged` among them).
    pub fn train(
        &mut self,
        engine: &mut dyn Backend,
        batch: usize,
        max: usize,
    ) -> (usize, Result<Vec<f64>, Error>) {
        let n = self.size.min(max);
        let started = Instant::now();
        let trained = engine.train_steps(batch, n);
        let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-6);
        self.size = ((rate * REPORT_SECS) as usize).clamp(CHUNK_STEPS.0, CHUNK_STEPS.1);
        (n, trained)
    }
}
