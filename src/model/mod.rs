//! What every backend shares: the architecture and its parameters, the
//! shapes of a batched execution, the update rules per parameter, and what
//! evaluation yields.

mod arch;
mod engine_config;
mod rules;
mod score;

pub use crate::philox::{DOMAIN_EVAL, DOMAIN_OOD_PERMUTATION, DOMAIN_TRAIN};
pub use arch::{Architecture, Params};
pub use engine_config::EngineConfig;
pub use rules::{Pass, Penalty, Rule, healthy};
pub use score::{EvalResult, EvalSet, Score};
