//! Plain-Rust f64 twin of every kernel, for tests: the same Philox stream,
//! the sampled forward, the loss and its gradient, backward, the MESU and
//! baseline updates, the prediction with its entropies, and the Hessian
//! diagonal and empirical Fisher of the Hessian check.

mod hessian;
mod net;
mod philox;
mod update;

pub use hessian::curvature;
pub use net::{
    CalibrationTerms, Forward, Prediction, StepOutput, backward, forward, input_batch, loss,
    loss_grad, predict, sample_weights, step, weight_grads,
};
pub use philox::{box_muller4, layer_noise, noise, philox4x32_10};
pub use update::{end_task, penalised_step, plain_grad, update};
