//! Setting files (--config, a results folder's config.json, a sweep's
//! --grid) are small: anything but a regular file, or a file over the cap,
//! is refused before it is read (a FIFO would hang, /dev/zero never ends).

use std::io::Read;
use std::path::Path;

/// The most bytes a setting file may hold.
pub const MAX_BYTES: u64 = 1 << 20;

/// The text of the setting file `path`; an error says why it is refused.
pub fn read_setting_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let too_big = || format!("larger than {} KiB: not a setting file", MAX_BYTES >> 10);
    if meta.len() > MAX_BYTES {
        return Err(too_big());
    }
    let mut text = String::new();
    // Capped again while reading: the file may grow after the check.
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_BYTES {
        return Err(too_big());
    }
    Ok(text)
}
