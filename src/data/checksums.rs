//! The canonical sha256 of every dataset file (data/SHA256SUMS, built into
//! the binary), checked on the bytes a run loads from a folder the fetch
//! fills. A small cache in that folder (name, size, mtime, sha256 per
//! file) spares the hash while a file is unchanged.

use std::fmt::Write as _;
use std::fs::Metadata;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use super::DataError;

/// data/SHA256SUMS: "<sha256>  <folder>/<file>" per line.
pub const SHA256SUMS: &str = include_str!("../../data/SHA256SUMS");

/// The cache's name in a data folder.
const CACHE: &str = ".mesu-sha256";

/// The canonical sha256 of `folder/file` (e.g. "mnist/t10k-labels-idx1-ubyte").
pub fn expected(folder: &str, file: &str) -> Option<&'static str> {
    let key = format!("{folder}/{file}");
    SHA256SUMS.lines().find_map(|line| {
        let (sum, name) = line.split_once("  ")?;
        (name == key).then_some(sum)
    })
}

/// The hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A cache line's key: the file's name, size and modification time.
fn stamp(file: &str, meta: &Metadata) -> Option<String> {
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some(format!(
        "{file} {} {}.{:09}",
        meta.len(),
        mtime.as_secs(),
        mtime.subsec_nanos()
    ))
}

/// Checks the files of one data folder against their canonical sums.
pub struct Verifier {
    dir: PathBuf,
    folder: &'static str,
    cached: Vec<String>,
    verified: Vec<String>,
}

impl Verifier {
    /// For `dir`, whose files are listed in SHA256SUMS under `folder`.
    pub fn new(dir: &Path, folder: &'static str) -> Self {
        let cached = std::fs::read_to_string(dir.join(CACHE))
            .map(|t| t.lines().map(String::from).collect())
            .unwrap_or_default();
        Verifier {
            dir: dir.to_path_buf(),
            folder,
            cached,
            verified: Vec::new(),
        }
    }

    /// `bytes` are the whole of `file`, read through an open file with `meta`.
    pub fn check(
        &mut self,
        file: &str,
        meta: &Metadata,
        bytes: &[u8],
        fix: &'static str,
    ) -> Result<(), DataError> {
        let path = self.dir.join(file);
        let want = expected(self.folder, file).ok_or_else(|| DataError::Checksum {
            path: path.clone(),
            why: format!("no checksum for {}/{file} in data/SHA256SUMS", self.folder),
            fix,
        })?;
        let line = stamp(file, meta).map(|s| format!("{s} {want}"));
        if let Some(line) = &line
            && self.cached.contains(line)
        {
            self.verified.push(line.clone());
            return Ok(());
        }
        let got = sha256_hex(bytes);
        if got != want {
            return Err(DataError::Checksum {
                path,
                why: format!("sha256 {got}, expected {want}"),
                fix,
            });
        }
        self.verified.extend(line);
        Ok(())
    }

    /// Record what was verified, when it differs from the cache: through a
    /// fresh temporary file renamed over the cache. A folder that cannot be
    /// written keeps no cache (the next run hashes again).
    pub fn save(self) {
        let mut lines = self.verified;
        lines.sort();
        let mut old = self.cached;
        old.sort();
        if lines == old {
            return;
        }
        let tmp = self.dir.join(format!("{CACHE}.{}.tmp", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(lines.join("\n").as_bytes())?;
                f.write_all(b"\n")?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, self.dir.join(CACHE)));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
