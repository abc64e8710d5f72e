//! The shapes of one batched execution, whatever backend runs it.

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
