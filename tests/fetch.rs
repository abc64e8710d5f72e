//! A run gets the data it lacks the way data/fetch.sh does (the one
//! implementation), checks every checksum, never writes into a folder named
//! by --data-dir, and fails clearly when the download fails or is turned off.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A folder laid out like a fresh checkout: data/fetch.sh and SHA256SUMS,
/// no dataset.
fn fresh_root(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("mesu-fetch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("data")).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for f in ["fetch.sh", "SHA256SUMS"] {
        std::fs::copy(repo.join(f), root.join("data").join(f)).unwrap();
    }
    root
}

/// A local MNIST source: CI's MESU_DATA_SOURCE, else this checkout's files.
fn source() -> PathBuf {
    match std::env::var_os("MESU_DATA_SOURCE") {
        Some(dir) => PathBuf::from(dir),
        None => {
            common::mnist();
            Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
        }
    }
}

fn mesu_in(root: &Path, source: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mesu"))
        .args(args)
        .current_dir(root)
        .env("MESU_DATA_SOURCE", source)
        .output()
        .expect("run mesu")
}

/// A one-task stream on the CPU into `out`.
fn tiny(out: &str) -> Vec<&str> {
    let mut args = common::TINY_STREAM.to_vec();
    args.extend(["--backend", "cpu", "--out", out]);
    args
}

#[test]
fn the_fetch_script_installs_checked_files_from_a_local_source() {
    let root = fresh_root("lib");
    let dir = root.join("data/mnist");
    assert!(!mesu::data::present(&dir));
    let status = Command::new("bash")
        .args([mesu::data::FETCH_SCRIPT, "mnist"])
        .current_dir(&root)
        .env("MESU_DATA_SOURCE", source())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(mesu::data::present(&dir));
    let data = mesu::data::load(mesu::data::DatasetKind::Mnist, &dir).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (60000, 10000));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_run_on_an_empty_data_folder_fetches_then_trains() {
    let root = fresh_root("cli");
    let stdout = common::succeeded(&mesu_in(&root, &source(), &tiny("run")));
    assert!(
        stdout.contains("fetching it with `bash data/fetch.sh mnist`"),
        "{stdout}"
    );
    assert!(mesu::data::present(&root.join("data/mnist")));
    assert!(root.join("run/metrics.json").is_file());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn no_fetch_and_data_dir_never_download() {
    let root = fresh_root("off");
    let out = mesu_in(
        &root,
        &source(),
        &[&tiny("run")[..], &["--no-fetch"]].concat(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("file not found") && stderr.contains("fetch.sh"),
        "{stderr}"
    );
    assert!(!root.join("data/mnist").exists());
    let elsewhere = root.join("elsewhere");
    let out = mesu_in(
        &root,
        &source(),
        &[
            &tiny("run")[..],
            &["--data-dir", elsewhere.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(!out.status.success());
    assert!(!elsewhere.exists() && !root.join("data/mnist").exists());
    assert!(
        !root.join("run").exists(),
        "no results folder for a failed start"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_corrupted_source_is_refused_naming_the_file() {
    let root = fresh_root("corrupt");
    let bad = root.join("bad-source");
    std::fs::create_dir_all(&bad).unwrap();
    let src = source();
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, bad.join(f.file_name().unwrap())).unwrap();
    }
    let victim = std::fs::read_dir(&bad)
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| p.to_string_lossy().contains("t10k-labels"))
        .expect("a test-labels file in the source");
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let out = mesu_in(&root, &bad, &tiny("run"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(
        stderr.contains(victim.file_name().unwrap().to_str().unwrap()),
        "{stderr}"
    );
    assert!(stderr.contains("could not fetch mnist"), "{stderr}");
    assert!(!mesu::data::present(&root.join("data/mnist")));
    std::fs::remove_dir_all(&root).unwrap();
}

/// The binary fetches with its own copy of the script: from a folder with
/// no data/fetch.sh, and never running one planted where it runs.
#[test]
fn a_run_fetches_with_its_own_script_from_any_folder() {
    let root = std::env::temp_dir().join(format!("mesu-fetch-anywhere-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("data")).unwrap();
    let marker = root.join("planted-script-ran");
    std::fs::write(
        root.join("data/fetch.sh"),
        format!("touch '{}'; exit 1\n", marker.display()),
    )
    .unwrap();
    let stdout = common::succeeded(&mesu_in(&root, &source(), &tiny("run")));
    assert!(stdout.contains("fetching it"), "{stdout}");
    assert!(!marker.exists(), "the binary ran the planted data/fetch.sh");
    assert!(mesu::data::present(&root.join("data/mnist")));
    assert!(root.join("run/metrics.json").is_file());
    std::fs::remove_dir_all(&root).unwrap();
}

/// Files already in the data folder are checked against SHA256SUMS before
/// a run uses them (cached by size and mtime): one changed byte is refused
/// naming the file.
#[test]
fn a_changed_file_in_the_data_folder_is_refused_before_use() {
    let root = fresh_root("recheck");
    common::succeeded(&mesu_in(&root, &source(), &tiny("run")));
    let dir = root.join("data/mnist");
    assert!(
        dir.join(".mesu-sha256").is_file(),
        "the verified sums are cached"
    );
    // A second run uses the cache and still trains.
    let again = tiny("run2");
    common::succeeded(&mesu_in(&root, &source(), &again));
    let victim = dir.join("t10k-images-idx3-ubyte");
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&victim, bytes).unwrap();
    let third = tiny("run3");
    let out = mesu_in(&root, &source(), &third);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(stderr.contains("t10k-images-idx3-ubyte"), "{stderr}");
    assert!(!root.join("run3").exists());
    std::fs::remove_dir_all(&root).unwrap();
}
