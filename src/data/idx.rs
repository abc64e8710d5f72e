//! Validation of IDX files before they reach the `mnist` crate, which panics on any problem.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::{CLASSES, DataError, IMAGE_SIDE, PIXELS};

const IMAGE_MAGIC: u32 = 2051;
const LABEL_MAGIC: u32 = 2049;

/// Which of the two IDX layouts a file should have.
#[derive(Clone, Copy)]
pub(crate) enum IdxKind {
    Images,
    Labels,
}

impl IdxKind {
    fn header_len(self) -> u64 {
        match self {
            IdxKind::Images => 16,
            IdxKind::Labels => 8,
        }
    }
    fn magic(self) -> u32 {
        match self {
            IdxKind::Images => IMAGE_MAGIC,
            IdxKind::Labels => LABEL_MAGIC,
        }
    }
    fn item_len(self) -> u64 {
        match self {
            IdxKind::Images => PIXELS as u64,
            IdxKind::Labels => 1,
        }
    }
}

/// Checks existence, gzip, magic, header counts/dims, exact size and (labels) class range.
pub(crate) fn validate(
    path: &Path,
    kind: IdxKind,
    n: u32,
    fix: &'static str,
) -> Result<(), DataError> {
    let io_err = |source: io::Error| DataError::Io {
        path: path.to_path_buf(),
        source,
        fix,
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DataError::Missing {
                path: path.to_path_buf(),
                dir_missing: path.parent().is_some_and(|d| !d.is_dir()),
                fix,
            });
        }
        Err(e) => return Err(io_err(e)),
    };
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(DataError::Header {
            path: path.to_path_buf(),
            what: "not a regular file".into(),
            fix,
        });
    }
    let actual = meta.len();
    let expected = kind.header_len() + u64::from(n) * kind.item_len();

    // Read the header (or as much of it as exists) to diagnose before judging the size.
    let mut head = Vec::with_capacity(16);
    (&mut file)
        .take(kind.header_len())
        .read_to_end(&mut head)
        .map_err(io_err)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(DataError::Gzipped {
            path: path.to_path_buf(),
            fix,
        });
    }
    let size_err = || DataError::Size {
        path: path.to_path_buf(),
        expected,
        actual,
        fix,
    };
    if (head.len() as u64) < kind.header_len() {
        return Err(size_err());
    }
    let word = |i: usize| {
        u32::from_be_bytes([
            head[4 * i],
            head[4 * i + 1],
            head[4 * i + 2],
            head[4 * i + 3],
        ])
    };
    let header_err = |what: String| DataError::Header {
        path: path.to_path_buf(),
        what,
        fix,
    };
    if word(0) != kind.magic() {
        return Err(header_err(format!(
            "magic number {} (0x{:08x}), expected {} (big-endian)",
            word(0),
            word(0),
            kind.magic()
        )));
    }
    if word(1) != n {
        return Err(header_err(format!("item count {}, expected {n}", word(1))));
    }
    if let IdxKind::Images = kind
        && (word(2), word(3)) != (IMAGE_SIDE as u32, IMAGE_SIDE as u32)
    {
        return Err(header_err(format!(
            "image size {}x{}, expected {IMAGE_SIDE}x{IMAGE_SIDE}",
            word(2),
            word(3)
        )));
    }
    if actual != expected {
        return Err(size_err());
    }
    if let IdxKind::Labels = kind {
        let mut labels = Vec::with_capacity(n as usize);
        file.read_to_end(&mut labels).map_err(io_err)?;
        if let Some((index, &value)) = labels
            .iter()
            .enumerate()
            .find(|(_, l)| usize::from(**l) >= CLASSES)
        {
            return Err(DataError::Label {
                path: path.to_path_buf(),
                index,
                value,
                fix,
            });
        }
    }
    Ok(())
}
