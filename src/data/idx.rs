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
    pub(crate) fn header_len(self) -> u64 {
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

/// Opens `path` for reading only if it is a regular file (after
/// symlinks): a FIFO or a device would block the open or the read forever.
/// The open does not block (O_NONBLOCK), and the type is checked again on
/// the opened file, so a file swapped in between is refused too.
pub(crate) fn open_regular(path: &Path, fix: &'static str) -> Result<File, DataError> {
    let io_err = |source: io::Error| DataError::Io {
        path: path.to_path_buf(),
        source,
        fix,
    };
    let not_regular = |meta: &std::fs::Metadata| DataError::NotRegular {
        path: path.to_path_buf(),
        what: file_kind(meta),
        fix,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DataError::Missing {
                path: path.to_path_buf(),
                dir_missing: path.parent().is_some_and(|d| !d.is_dir()),
                fix,
            });
        }
        Err(e) => return Err(io_err(e)),
    };
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    Ok(file)
}

/// What a non-regular file is, for the message.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// One IDX file, read once: checks gzip, magic, header counts/dims, exact
/// size and (labels) class range, and returns the whole file with the
/// metadata of the opened file.
pub(crate) fn read(
    path: &Path,
    kind: IdxKind,
    n: u32,
    fix: &'static str,
) -> Result<(Vec<u8>, std::fs::Metadata), DataError> {
    let io_err = |source: io::Error| DataError::Io {
        path: path.to_path_buf(),
        source,
        fix,
    };
    let mut file = open_regular(path, fix)?;
    let meta = file.metadata().map_err(io_err)?;
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
    let mut bytes = head;
    bytes.reserve_exact((expected - kind.header_len()) as usize);
    (&mut file)
        .take(expected - kind.header_len())
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 != expected {
        // Shortened while being read.
        return Err(size_err());
    }
    if let IdxKind::Labels = kind {
        let labels = &bytes[kind.header_len() as usize..];
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
    Ok((bytes, meta))
}
