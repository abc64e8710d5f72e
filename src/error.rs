//! The library's one error type: every fallible public function returns
//! `mesu::Result`; the binary turns the error into its message. Each
//! message says what went wrong, where, and what to do. It sits below every
//! other module: the layers' own error types (`data::DataError`,
//! `backend::wgpu::GpuError`, `report::ReportError`) convert into it where
//! they are defined.

/// A layer's own error, kept as the source.
pub type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing or corrupt data, or a fetch that failed.
    #[error(transparent)]
    Data(Source),
    /// No adapter, a device that cannot be opened, a runtime failure.
    #[error(transparent)]
    Gpu(Source),
    /// A model, batch or group of runs that does not fit the device or the
    /// machine's memory, with the figures (a sweep runs such a group in
    /// halves).
    #[error("{0}")]
    TooLarge(String),
    /// A results folder that cannot be written.
    #[error(transparent)]
    Report(Source),
    /// A run's mu or sigma left the finite floats.
    #[error(
        "run {run} diverged: layer {layer} has a non-finite mu or sigma after training step {step}; \
         lower the learning rates, set --clamp-grad, or check N and sigma_prior"
    )]
    Diverged { run: usize, layer: usize, step: u64 },
    /// Settings no run can use, naming the flag or the setting.
    #[error("{0}")]
    Settings(String),
    /// Stopped on request (Ctrl-C, SIGTERM) after writing a checkpoint.
    #[error("stopped during task {}; the checkpoint is saved: rerun the same command to resume", task + 1)]
    Interrupted { task: usize },
    /// Stopped on request by a command that does not resume, saying what
    /// it kept.
    #[error("{0}")]
    Stopped(String),
    #[error(
        "the training split has fewer examples ({0}) than one batch: lower --batch-size or raise --train-limit"
    )]
    TooFewExamples(usize),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A settings message.
impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Settings(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::Settings(message.into())
    }
}
