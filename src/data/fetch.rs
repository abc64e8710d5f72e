//! Getting a dataset a run needs, as torchvision's `download=True` does:
//! through data/fetch.sh, the one implementation (the same sources and
//! checksums by hand, in CI and from the binary).

use std::path::Path;
use std::process::Command;

use super::{DataError, DatasetKind, FILES};

/// The fetch script, relative to the folder that holds `data/`.
pub const SCRIPT: &str = "data/fetch.sh";

/// Whether `dir` holds the four raw IDX files.
pub fn present(dir: &Path) -> bool {
    FILES.iter().all(|f| dir.join(f).is_file())
}

/// Installs `kind` into `root`/data/<its folder> with `bash data/fetch.sh`
/// run from `root`; every file's sha256 is checked there.
pub fn fetch(kind: DatasetKind, root: &Path) -> Result<(), DataError> {
    let script = root.join(SCRIPT);
    let manual = format!("bash {SCRIPT} {}", kind.name());
    if !script.is_file() {
        return Err(DataError::Fetch {
            dataset: kind.name(),
            why: format!(
                "{} is not here (run mesu from the repository's root)",
                script.display()
            ),
            manual,
        });
    }
    let status = Command::new("bash")
        .arg(SCRIPT)
        .arg(kind.name())
        .current_dir(root)
        .status()
        .map_err(|e| DataError::Fetch {
            dataset: kind.name(),
            why: format!("cannot run bash: {e}"),
            manual: manual.clone(),
        })?;
    if !status.success() {
        return Err(DataError::Fetch {
            dataset: kind.name(),
            why: format!("{SCRIPT} failed ({status}; its message is above)"),
            manual,
        });
    }
    Ok(())
}
