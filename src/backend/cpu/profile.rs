//! `--profile` on the CPU: host wall time per phase of a step, each phase
//! being one parallel region over every run.

use std::time::Instant;

use crate::backend::ProfileRow;

#[derive(Clone, Copy, Debug)]
pub enum Phase {
    Noise,
    Forward,
    Backward,
    Update,
    Evaluation,
}

const NAMES: [&str; 5] = ["noise", "forward", "backward", "update", "evaluation"];

/// Calls and nanoseconds per phase.
#[derive(Default)]
pub struct PhaseTimes {
    calls: [u64; 5],
    nanos: [f64; 5],
}

impl PhaseTimes {
    pub fn add(&mut self, phase: Phase, since: Instant) {
        let i = phase as usize;
        self.calls[i] += 1;
        self.nanos[i] += since.elapsed().as_nanos() as f64;
    }

    pub fn rows(&self) -> Vec<ProfileRow> {
        let total: f64 = self.nanos.iter().sum();
        (0..NAMES.len())
            .filter(|&i| self.calls[i] > 0)
            .map(|i| ProfileRow {
                name: NAMES[i].to_string(),
                calls: self.calls[i],
                total_ms: self.nanos[i] / 1e6,
                mean_us: self.nanos[i] / 1e3 / self.calls[i] as f64,
                gflops: 0.0,
                gbytes: 0.0,
                share: if total > 0.0 {
                    self.nanos[i] / total
                } else {
                    0.0
                },
            })
            .collect()
    }
}
