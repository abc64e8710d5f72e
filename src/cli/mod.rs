//! The binary's modules: flags, one file per subcommand, progress.

pub mod args;
pub mod hessian;
pub mod progress;
pub mod reproduce;
pub mod run;
pub mod sweep;
pub mod sweep_run;
