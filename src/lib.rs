//! mesu: a compute engine for Bayesian continual learning with MESU
//! (Metaplasticity from Synaptic Uncertainty), on any wgpu GPU or a native
//! CPU backend.
//!
//! Data flows one way: config (one run's settings) -> data -> backend (the
//! wgpu engine or the CPU one, behind the `Backend` trait: forward, loss,
//! backward, update, evaluate; shared math in model and optim) -> stream
//! (the task loop, telling observers) -> metrics -> report (the results
//! folders, an observer). The Hessian check (hessian) drives a backend
//! through one unpermuted task itself and compares sigma with the loss
//! curvature at mu. Every fallible call returns `mesu::Result`.

pub mod authors_config;
pub mod backend;
pub mod config;
pub mod data;
mod error;
pub mod hessian;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod reference;
pub mod report;
pub mod reproduce;
pub mod stream;
pub mod sweep;

pub use error::{Error, Result};
