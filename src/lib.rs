//! mesu: a GPU engine for Bayesian continual learning with MESU
//! (Metaplasticity from Synaptic Uncertainty).
//!
//! Data flows one way: data -> backend (the wgpu engine or the CPU one:
//! forward, loss, backward, update, evaluate; shared math in model and
//! optim) -> stream -> metrics -> report.

pub mod backend;
pub mod config;
pub mod data;
mod error;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod reference;
pub mod report;
pub mod stream;
pub mod sweep;

pub use error::{Error, Result};
