//! mesu: a compute engine for Bayesian continual learning with MESU
//! (Metaplasticity from Synaptic Uncertainty), on any wgpu GPU or a native
//! CPU backend.
//!
//! Data flows one way: data -> config (one run's settings, each defined
//! once in config::defs; identity, validation) -> backend (the wgpu engine
//! or the CPU one, behind the `Backend` trait: forward, loss, backward,
//! update, evaluate; shared math in model and optim) -> stream (the task
//! loop, telling observers; launch turns settings into its inputs) ->
//! metrics -> report (the results folders, an observer; plot draws for it,
//! the sweep and the Hessian check). The Hessian check (hessian) trains one
//! unpermuted task through the stream's chunked trainer and compares sigma
//! with the loss curvature at mu. Every fallible call returns `mesu::Result`.

pub mod authors_config;
pub mod backend;
pub mod config;
pub mod data;
mod error;
pub mod hessian;
pub mod launch;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod philox;
pub mod plot;
pub mod reference;
pub mod report;
pub mod reproduce;
pub mod stream;
pub mod sweep;

pub use error::{Error, Result};
