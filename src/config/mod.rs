//! One run's settings: the defaults are the paper's protocol; each of the
//! 17 per-run settings defined once (defs), validation, folder names, the
//! run's identity (every setting that changes its numbers) and config.json,
//! the flags that repeat a recorded run, size-capped reading of setting
//! files, and the data the settings ask for. A sweep expands grids of these.
//! Below the backend: nothing here reaches a device or the stream.

mod dataset;
pub mod defs;
pub mod file;
pub mod identity;
mod naming;
mod repeat;
mod settings;
mod validate;

pub use dataset::load_data;
pub use defs::{SETTINGS, Setting, SettingValue, parse_count};
pub use identity::{EarlierPart, ResumePoint, RunConfig, RunIdentity};
pub use naming::{UtcFormat, hidden_name, parse_hidden, utc_now};
pub use repeat::{Flag, repeat_flags};
pub use settings::{MAX_TASKS, Ood, RunSettings, Shape, Shared};
pub use validate::validate_shared;
