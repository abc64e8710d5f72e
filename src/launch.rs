//! A run's settings as the stream takes them: the stream settings of a
//! group's shape, and each run with its config.json and results folder.

use std::path::PathBuf;

use crate::Result;
use crate::config::{Ood, RunConfig, RunSettings, Shape, Shared};
use crate::data::Dataset;
use crate::stream::{StreamConfig, StreamRun};

/// The stream settings of a group of runs of `shape`.
pub fn stream_config(shape: &Shape, shared: &Shared) -> Result<StreamConfig> {
    Ok(StreamConfig {
        tasks: shared.tasks,
        arch: shape.architecture(shared.bias)?,
        engine: shape.engine_config(),
        epochs: shape.epochs,
        shuffle: shared.shuffle,
        eval_all: shared.eval_all,
        eval_every: shared.eval_every,
        profile: shared.profile,
        permute: shared.permute,
        ood_permuted: shared.ood == Ood::PermutedMnist,
    })
}

/// A run ready for `run_group`.
pub fn stream_run(
    run: &RunSettings,
    shared: &Shared,
    adapter: &str,
    data: &Dataset,
    out: PathBuf,
) -> StreamRun {
    StreamRun {
        seed: run.seed,
        hyper: run.hyper.clone(),
        config: RunConfig::new(run, shared, adapter, data).to_json(),
        out,
    }
}
