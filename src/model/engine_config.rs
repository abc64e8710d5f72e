//! The shapes of one batched execution, whatever backend runs it.

use crate::Error;

/// Shapes of one batched execution.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Examples per training step (B).
    pub batch: usize,
    /// Weight samples per training step (K).
    pub train_samples: usize,
    /// Weight samples per evaluation.
    pub test_samples: usize,
    /// Most test images per evaluation dispatch.
    pub eval_chunk: usize,
    /// Most steps recorded into one submit.
    pub steps_per_submit: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            batch: 1,
            train_samples: 10,
            test_samples: 10,
            eval_chunk: 2000,
            steps_per_submit: 256,
        }
    }
}

impl EngineConfig {
    /// The checks every backend makes: at least one run, and every size
    /// at least 1.
    pub fn check(&self, runs: usize) -> Result<(), Error> {
        if runs == 0 {
            return Err(Error::Settings("no runs to execute".into()));
        }
        for (what, v) in [
            ("batch size", self.batch),
            ("train samples", self.train_samples),
            ("test samples", self.test_samples),
            ("eval chunk", self.eval_chunk),
            ("steps per submit", self.steps_per_submit),
        ] {
            if v == 0 {
                return Err(Error::Settings(format!("{what} must be at least 1")));
            }
        }
        Ok(())
    }
}
