//! Plain-Rust f64 twin of every kernel, for tests: the same Philox stream,
//! the sampled forward, the loss and its gradient, backward, the MESU and
//! baseline updates, the prediction with its entropies, and the Hessian
//! diagonal and empirical Fisher of the Hessian check.

mod baselines;
mod hessian;
mod net;
mod philox;

pub use crate::philox::philox4x32_10;
pub use baselines::{end_task, penalised_step, plain_grad};
pub use hessian::curvature;
pub use net::{
    CalibrationTerms, Forward, Prediction, StepOutput, backward, forward, input_batch, loss,
    loss_grad, predict, sample_weights, step, update, weight_grads,
};
pub use philox::{box_muller4, layer_noise, noise};
