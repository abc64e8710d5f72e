//! `mesu::data::load` on broken inputs must return an error naming the file and the fix, never panic.
//! Synthetic files are sparse (`set_len`), so a full-size valid set costs no disk or time.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use mesu::data::{self, DataError, DatasetKind, PIXELS};

const FILES: [(&str, u32, u32); 4] = [
    ("train-images-idx3-ubyte", 2051, 60_000),
    ("train-labels-idx1-ubyte", 2049, 60_000),
    ("t10k-images-idx3-ubyte", 2051, 10_000),
    ("t10k-labels-idx1-ubyte", 2049, 10_000),
];

/// A fresh, empty temp folder unique to this process and test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesu-data-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Writes a valid IDX file of all-zero items (so label 0, black images).
fn write_idx(path: &Path, magic: u32, n: u32) {
    let mut head: Vec<u8> = [magic, n].iter().flat_map(|w| w.to_be_bytes()).collect();
    let item = if magic == 2051 {
        head.extend([28u32, 28].iter().flat_map(|w| w.to_be_bytes()));
        PIXELS as u64
    } else {
        1
    };
    fs::write(path, &head).expect("write header");
    let f = fs::OpenOptions::new().write(true).open(path).expect("open");
    f.set_len(head.len() as u64 + u64::from(n) * item)
        .expect("set_len");
}

fn write_valid_set(dir: &Path) {
    for (name, magic, n) in FILES {
        write_idx(&dir.join(name), magic, n);
    }
}

/// Loads `dir` as MNIST, expects an error, and checks its message names `file` and the fix.
fn expect_err(dir: &Path, file: &str) -> String {
    let err: DataError = match data::load(DatasetKind::Mnist, dir) {
        Ok(_) => panic!("load of {} should fail", dir.display()),
        Err(e) => e,
    };
    let msg = err.to_string();
    let path = dir.join(file);
    assert!(
        msg.contains(&*path.to_string_lossy()),
        "message should name {}: {msg}",
        path.display()
    );
    assert!(
        msg.contains("bash data/fetch.sh"),
        "message should say how to fix: {msg}"
    );
    assert!(
        msg.contains("--data-dir"),
        "message should mention --data-dir: {msg}"
    );
    let _ = fs::remove_dir_all(dir);
    msg
}

#[test]
fn synthetic_valid_set_loads() {
    let dir = scratch("valid");
    write_valid_set(&dir);
    let ds = data::load(DatasetKind::Mnist, &dir).expect("valid synthetic set");
    assert_eq!((ds.train.len(), ds.test.len()), (60_000, 10_000));
    assert_eq!(ds.train.images.len(), 60_000 * PIXELS);
    assert_eq!(ds.test.pixel_mean_std(), (0.0, 0.0));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn missing_dir() {
    let dir = std::env::temp_dir().join(format!("mesu-data-{}-nonexistent", std::process::id()));
    let msg = expect_err(&dir, "train-images-idx3-ubyte");
    assert!(msg.contains("folder does not exist"), "{msg}");
}

#[test]
fn missing_file() {
    let dir = scratch("missing-file");
    write_valid_set(&dir);
    fs::remove_file(dir.join("t10k-images-idx3-ubyte")).unwrap();
    let msg = expect_err(&dir, "t10k-images-idx3-ubyte");
    assert!(msg.contains("not found"), "{msg}");
}

#[test]
fn truncated_file() {
    let dir = scratch("truncated");
    write_valid_set(&dir);
    let p = dir.join("train-images-idx3-ubyte");
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(1_000_000)
        .unwrap();
    let msg = expect_err(&dir, "train-images-idx3-ubyte");
    assert!(msg.contains("47040016") && msg.contains("1000000"), "{msg}");
}

#[test]
fn shorter_than_header() {
    let dir = scratch("tiny");
    write_valid_set(&dir);
    fs::write(dir.join("t10k-labels-idx1-ubyte"), [0, 0, 8]).unwrap();
    let msg = expect_err(&dir, "t10k-labels-idx1-ubyte");
    assert!(msg.contains("10008") && msg.contains("found 3"), "{msg}");
}

#[test]
fn wrong_magic() {
    let dir = scratch("magic");
    write_valid_set(&dir);
    write_idx(&dir.join("train-labels-idx1-ubyte"), 2051, 60_000);
    let msg = expect_err(&dir, "train-labels-idx1-ubyte");
    assert!(msg.contains("magic") && msg.contains("2049"), "{msg}");
}

#[test]
fn wrong_count_and_dims() {
    let dir = scratch("count");
    write_valid_set(&dir);
    write_idx(&dir.join("t10k-images-idx3-ubyte"), 2051, 9_999);
    let msg = expect_err(&dir, "t10k-images-idx3-ubyte");
    assert!(msg.contains("9999") && msg.contains("10000"), "{msg}");

    let dir = scratch("dims");
    write_valid_set(&dir);
    let p = dir.join("train-images-idx3-ubyte");
    let mut bytes = fs::read(&p).unwrap();
    bytes[8..12].copy_from_slice(&32u32.to_be_bytes());
    fs::write(&p, bytes).unwrap();
    let msg = expect_err(&dir, "train-images-idx3-ubyte");
    assert!(msg.contains("32x28"), "{msg}");
}

#[test]
fn gzipped_file() {
    let dir = scratch("gzip");
    write_valid_set(&dir);
    fs::write(
        dir.join("train-images-idx3-ubyte"),
        [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
    )
    .unwrap();
    let msg = expect_err(&dir, "train-images-idx3-ubyte");
    assert!(msg.contains("gzip"), "{msg}");
}

#[test]
fn bad_label_byte() {
    let dir = scratch("label");
    write_valid_set(&dir);
    let p = dir.join("t10k-labels-idx1-ubyte");
    let mut bytes = fs::read(&p).unwrap();
    bytes[8 + 1234] = 10;
    fs::write(&p, bytes).unwrap();
    let msg = expect_err(&dir, "t10k-labels-idx1-ubyte");
    assert!(msg.contains("label 10 at index 1234"), "{msg}");
}

#[test]
fn fashion_hint() {
    let dir = scratch("fashion");
    let Err(err) = data::load(DatasetKind::Fashion, &dir) else {
        panic!("empty dir must fail")
    };
    let msg = err.to_string();
    assert!(msg.contains("bash data/fetch.sh fashion"), "{msg}");
    let _ = fs::remove_dir_all(&dir);
}

fn class_counts(labels: &[u8]) -> Vec<usize> {
    let mut c = vec![0; data::CLASSES];
    for &l in labels {
        c[l as usize] += 1;
    }
    c
}

#[test]
fn real_mnist() {
    let ds = data::load(DatasetKind::Mnist, &common::real_dir(DatasetKind::Mnist))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((ds.train.len(), ds.test.len()), (60_000, 10_000));
    assert_eq!(ds.train.images.len(), 60_000 * PIXELS);
    assert_eq!(ds.test.images.len(), 10_000 * PIXELS);
    assert_eq!(
        class_counts(&ds.train.labels),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        class_counts(&ds.test.labels),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let (mean, std) = ds.train.pixel_mean_std();
    assert!(
        (mean - 0.1307).abs() < 1e-4 && (std - 0.3081).abs() < 1e-4,
        "mean {mean} std {std}"
    );
    // File order: the first training digit is the well-known 5, the first test digit a 7.
    assert_eq!((ds.train.labels[0], ds.test.labels[0]), (5, 7));

    let mut train = ds.train;
    train.truncate(100);
    assert_eq!((train.len(), train.images.len()), (100, 100 * PIXELS));
}

#[test]
fn real_fashion() {
    let ds = data::load(
        DatasetKind::Fashion,
        &common::real_dir(DatasetKind::Fashion),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((ds.train.len(), ds.test.len()), (60_000, 10_000));
    // Fashion-MNIST is balanced: 6000 / 1000 per class.
    assert!(class_counts(&ds.train.labels).iter().all(|&c| c == 6000));
    assert!(class_counts(&ds.test.labels).iter().all(|&c| c == 1000));
}

/// `data::load` on a background thread, failing the test if it has not
/// returned within a minute (a FIFO blocks an ordinary open for ever).
fn load_within_a_minute(dir: &Path) -> Result<(), DataError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(data::load(DatasetKind::Mnist, &dir).map(|_| ()));
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("data::load hung on a non-regular file")
}

#[cfg(unix)]
#[test]
fn fifo_and_device_files_are_refused_without_blocking() {
    for (name, victim) in [("fifo", 1), ("device", 3), ("folder", 0)] {
        let dir = scratch(name);
        write_valid_set(&dir);
        let file = FILES[victim].0;
        let path = dir.join(file);
        fs::remove_file(&path).unwrap();
        match name {
            "fifo" => {
                let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
            }
            "device" => std::os::unix::fs::symlink("/dev/zero", &path).unwrap(),
            _ => fs::create_dir(&path).unwrap(),
        }
        let msg = load_within_a_minute(&dir)
            .expect_err("a non-regular data file must be refused")
            .to_string();
        let what = match name {
            "fifo" => "a FIFO",
            "device" => "a device",
            _ => "a folder",
        };
        assert!(
            msg.contains(what) && msg.contains("not a regular file"),
            "{msg}"
        );
        expect_err(&dir, file);
    }
}
