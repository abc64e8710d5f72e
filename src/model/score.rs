//! What evaluation yields (per example, per run): shared by every backend.

/// Per-example evaluation output (`struct Score`): the predicted class,
/// whether it is right, predictive and aleatoric entropy in bits, and what
/// calibration needs of the predictive distribution p = mean over the K
/// samples of softmax (src/metrics.rs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Score {
    pub pred: u32,
    pub correct: u32,
    pub h_pred: f32,
    pub h_alea: f32,
    /// max over classes of p: the confidence binned by the ECE.
    pub p_max: f32,
    /// 1 when argmax p (the first on ties) is the label.
    pub p_max_correct: u32,
    /// ln p of the label, from the log-softmax values (finite where p
    /// itself would underflow f32).
    pub ln_p_true: f32,
    /// sum over classes of (p_c - [c = label])^2.
    pub brier: f32,
}

impl Score {
    /// Epistemic uncertainty: predictive minus aleatoric entropy.
    pub fn epistemic(&self) -> f32 {
        self.h_pred - self.h_alea
    }
}

/// Handle of a split registered with `Backend::add_eval_set`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalSet(pub usize);

/// One run's evaluation of one split.
#[derive(Clone, Debug)]
pub struct EvalResult {
    pub correct: usize,
    pub total: usize,
    /// Per example, in split order.
    pub scores: Vec<Score>,
}

impl EvalResult {
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }
}
