//! Getting a dataset a run needs, as torchvision's `download=True` does:
//! through data/fetch.sh, the one implementation (the same sources and
//! checksums by hand, in CI and from the binary). The binary runs its own
//! built-in copy of the script, never one found where it runs, so it works
//! from any folder and runs nothing a folder planted.

use std::path::Path;
use std::process::Command;

use super::{DataError, DatasetKind, FILES};

/// The fetch script, relative to the repository's root (for messages and
/// by-hand use).
pub const SCRIPT: &str = "data/fetch.sh";

/// The script's text, built into the binary.
const SCRIPT_TEXT: &str = include_str!("../../data/fetch.sh");

/// Whether `dir` holds the four raw IDX files.
pub fn present(dir: &Path) -> bool {
    FILES.iter().all(|f| dir.join(f).is_file())
}

/// Installs `kind` into `root`/data/<its folder> with the built-in fetch
/// script; every file's sha256 is checked there.
pub fn fetch(kind: DatasetKind, root: &Path) -> Result<(), DataError> {
    let manual = format!("bash {SCRIPT} {}", kind.name());
    let fail = |why: String| DataError::Fetch {
        dataset: kind.name(),
        why,
        manual: manual.clone(),
    };
    let data = root.join("data");
    std::fs::create_dir_all(&data)
        .map_err(|e| fail(format!("cannot create {}: {e}", data.display())))?;
    let data = data
        .canonicalize()
        .map_err(|e| fail(format!("cannot resolve {}: {e}", data.display())))?;
    let status = Command::new("bash")
        .arg("-c")
        .arg(SCRIPT_TEXT)
        .arg(SCRIPT)
        .arg(kind.name())
        .env("MESU_DATA_ROOT", &data)
        .status()
        .map_err(|e| fail(format!("cannot run bash: {e}")))?;
    if !status.success() {
        return Err(fail(format!(
            "{SCRIPT} failed ({status}; its message is above)"
        )));
    }
    Ok(())
}
