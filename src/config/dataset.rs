//! The data a stream's settings ask for: the dataset cut to its limits,
//! fetched into its default folder when missing, and the OOD split.

use std::path::Path;

use super::Shared;
use crate::Result;
use crate::data::{self, Dataset, DatasetKind};

/// Fetches `kind` when `shared` allows it, `dir` is its default folder
/// (a folder named by --data-dir is never written) and files are missing.
fn fetch_if_missing(shared: &Shared, kind: DatasetKind, dir: &Path) -> Result<()> {
    if !shared.fetch || dir != kind.default_dir() || data::present(dir) {
        return Ok(());
    }
    println!(
        "{} is not in {}: fetching it with `bash {} {}` (checksums checked; --no-fetch turns this off)",
        kind.name(),
        dir.display(),
        data::FETCH_SCRIPT,
        kind.name()
    );
    Ok(data::fetch(kind, Path::new("."))?)
}

/// Loads the dataset of `shared`, cut to its limits, fetching it first
/// into its default folder when it is missing there.
pub fn load_data(shared: &Shared) -> Result<Dataset> {
    fetch_if_missing(shared, shared.dataset, &shared.data_dir)?;
    let mut data = data::load(shared.dataset, &shared.data_dir).map_err(|e| e.to_string())?;
    if let Some(n) = shared.train_limit {
        data.train.truncate(n);
    }
    if let Some(n) = shared.test_limit {
        data.test.truncate(n);
    }
    data.ood = load_ood(shared)?;
    Ok(data)
}

/// The OOD test split `shared.ood` asks for, cut to the test limit; with
/// `Ood::Auto`, none (and a note) when the other dataset is missing.
fn load_ood(shared: &Shared) -> Result<Option<(DatasetKind, data::Split)>> {
    let Some((kind, required)) = shared.ood.source(shared.dataset) else {
        return Ok(None);
    };
    if required {
        fetch_if_missing(shared, kind, &kind.default_dir())?;
    }
    let mut split = match data::load(kind, &kind.default_dir()) {
        Ok(d) => d.test,
        Err(e) if required => return Err(format!("--ood: {e}").into()),
        Err(_) => {
            println!(
                "no OOD evaluation: {} is not in {} (bash data/fetch.sh {}; --ood none hides this note)",
                kind.name(),
                kind.default_dir().display(),
                kind.name()
            );
            return Ok(None);
        }
    };
    if let Some(n) = shared.test_limit {
        split.truncate(n);
    }
    Ok(Some((kind, split)))
}
