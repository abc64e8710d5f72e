//! MNIST / Fashion-MNIST loading: raw IDX files from `data/<dataset>/` (see `data/fetch.sh`),
//! validated up front so that bad files give an error naming the file and the fix, not a panic.

mod checksums;
mod fetch;
mod idx;
mod order;
mod tasks;

pub use checksums::{SHA256SUMS, sha256_hex};
pub use fetch::{SCRIPT as FETCH_SCRIPT, fetch, present};
pub use order::similarity_order;
pub use tasks::{epoch_order, ood_permutation, task_permutation};

use std::path::{Path, PathBuf};

use idx::IdxKind;

pub const IMAGE_SIDE: usize = 28;
pub const PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
pub const CLASSES: usize = 10;

/// Images in the training and test splits of MNIST and Fashion-MNIST.
pub const TRAIN_LEN: u32 = 60_000;
pub const TEST_LEN: u32 = 10_000;
const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
/// The four raw IDX files of a dataset's folder.
const FILES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    Mnist,
    Fashion,
}

impl DatasetKind {
    /// The other dataset: the paper's OOD set for a permuted-MNIST stream is
    /// Fashion-MNIST's test split.
    pub fn other(self) -> DatasetKind {
        match self {
            DatasetKind::Mnist => DatasetKind::Fashion,
            DatasetKind::Fashion => DatasetKind::Mnist,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::Fashion => "fashion",
        }
    }

    /// Its folder under data/, as data/SHA256SUMS names it.
    pub fn folder(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::Fashion => "fashion-mnist",
        }
    }

    /// Where the fetch puts the files, relative to the working folder.
    pub fn default_dir(self) -> PathBuf {
        Path::new("data").join(self.folder())
    }

    fn fix(self) -> &'static str {
        match self {
            DatasetKind::Mnist => {
                "fix: run `bash data/fetch.sh`, or pass `--data-dir DIR` naming a folder with the four raw MNIST IDX files"
            }
            DatasetKind::Fashion => {
                "fix: run `bash data/fetch.sh fashion`, or pass `--data-dir DIR` naming a folder with the four raw Fashion-MNIST IDX files"
            }
        }
    }
}

/// One split: `images` holds `len() * PIXELS` bytes, row-major, in file order.
#[derive(Clone, Default)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// (scale, shift) with byte * scale + shift = (byte / 255 - mean) / std,
    /// the split's standardisation as every backend applies it, in f32.
    pub fn byte_standardisation(&self) -> (f32, f32) {
        let (mean, std) = self.pixel_mean_std();
        ((1.0 / (255.0 * std)) as f32, (-mean / std) as f32)
    }

    /// Mean and population std of all pixels scaled to x/255; (0, 0) when empty.
    pub fn pixel_mean_std(&self) -> (f64, f64) {
        if self.images.is_empty() {
            return (0.0, 0.0);
        }
        // A histogram makes the sums exact and avoids 47M float additions.
        let mut hist = [0u64; 256];
        for &p in &self.images {
            hist[p as usize] += 1;
        }
        let n = self.images.len() as f64;
        let mean = hist
            .iter()
            .enumerate()
            .map(|(v, &c)| v as f64 * c as f64)
            .sum::<f64>()
            / n
            / 255.0;
        let var = hist
            .iter()
            .enumerate()
            .map(|(v, &c)| c as f64 * (v as f64 / 255.0 - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }

    /// Keep the first `n` examples (no-op if there are fewer).
    pub fn truncate(&mut self, n: usize) {
        self.images.truncate(n * PIXELS);
        self.labels.truncate(n);
    }
}

// Summarised by hand: a derived Debug would print 47 MB of pixels.
impl std::fmt::Debug for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Split {{ len: {} }}", self.len())
    }
}

#[derive(Clone, Debug)]
pub struct Dataset {
    pub kind: DatasetKind,
    pub train: Split,
    pub test: Split,
    /// Out-of-distribution test images (another dataset's test split), for
    /// the OOD AUROC after each task; None when not asked for.
    pub ood: Option<(DatasetKind, Split)>,
}

/// Every message names the offending file (or folder) and ends with what to run to fix it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: file not found{}; {fix}", if *.dir_missing { " (its folder does not exist)" } else { "" })]
    Missing {
        path: PathBuf,
        dir_missing: bool,
        fix: &'static str,
    },
    #[error(
        "could not fetch {dataset}: {why}. Fetch it by hand with `{manual}` (MESU_DATA_SOURCE=DIR takes a local copy), or pass --data-dir DIR naming a folder with the four raw IDX files"
    )]
    Fetch {
        dataset: &'static str,
        why: String,
        manual: String,
    },
    #[error("{path}: cannot read: {source}; {fix}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
        fix: &'static str,
    },
    #[error("{path}: still gzip-compressed (starts with 1f 8b), expected the raw IDX file; {fix}")]
    Gzipped { path: PathBuf, fix: &'static str },
    #[error(
        "{path}: wrong size: expected {expected} bytes, found {actual} (truncated or corrupt); {fix}"
    )]
    Size {
        path: PathBuf,
        expected: u64,
        actual: u64,
        fix: &'static str,
    },
    #[error("{path}: not a valid IDX file: {what}; {fix}")]
    Header {
        path: PathBuf,
        what: String,
        fix: &'static str,
    },
    #[error("{path}: label {value} at index {index} is not a class in 0..{CLASSES}; {fix}")]
    Label {
        path: PathBuf,
        index: usize,
        value: u8,
        fix: &'static str,
    },
    #[error(
        "{path}: the data folder path is not valid UTF-8, which the mnist loader needs; pass `--data-dir DIR` with a UTF-8 path"
    )]
    NonUtf8Path { path: PathBuf },
    #[error("{path}: {what}, not a regular file: the data files are the four raw IDX files; {fix}")]
    NotRegular {
        path: PathBuf,
        what: &'static str,
        fix: &'static str,
    },
    #[error(
        "{path}: checksum mismatch ({why}): the file is corrupt or not the canonical dataset; delete it to fetch it again; {fix}"
    )]
    Checksum {
        path: PathBuf,
        why: String,
        fix: &'static str,
    },
}

impl From<DataError> for crate::Error {
    fn from(e: DataError) -> Self {
        crate::Error::Data(Box::new(e))
    }
}

/// Loads the full train (60000) and test (10000) splits of `kind` from the
/// raw IDX files in `dir`, each file read once. In the dataset's default
/// folder (where the fetch installs it) every file's sha256 is checked
/// against data/SHA256SUMS on the bytes loaded, cached by size and mtime.
pub fn load(kind: DatasetKind, dir: &Path) -> Result<Dataset, DataError> {
    let fix = kind.fix();
    let mut verifier =
        is_default_dir(kind, dir).then(|| checksums::Verifier::new(dir, kind.folder()));
    let mut read = |name: &str, idx_kind: IdxKind, n: u32| -> Result<Vec<u8>, DataError> {
        let (mut bytes, meta) = idx::read(&dir.join(name), idx_kind, n, fix)?;
        if let Some(v) = verifier.as_mut() {
            v.check(name, &meta, &bytes, fix)?;
        }
        bytes.drain(..idx_kind.header_len() as usize);
        Ok(bytes)
    };
    let train = Split {
        images: read(TRAIN_IMAGES, IdxKind::Images, TRAIN_LEN)?,
        labels: read(TRAIN_LABELS, IdxKind::Labels, TRAIN_LEN)?,
    };
    let test = Split {
        images: read(TEST_IMAGES, IdxKind::Images, TEST_LEN)?,
        labels: read(TEST_LABELS, IdxKind::Labels, TEST_LEN)?,
    };
    if let Some(v) = verifier {
        v.save();
    }
    Ok(Dataset {
        kind,
        train,
        test,
        ood: None,
    })
}

/// Whether `dir` is `kind`'s default folder (the same folder, however named).
fn is_default_dir(kind: DatasetKind, dir: &Path) -> bool {
    match (dir.canonicalize(), kind.default_dir().canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
