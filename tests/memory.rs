//! Sizes no machine holds are refused before anything is allocated, with
//! the estimate and the memory available (on a GPU, or the adapter's
//! buffer limit), on every backend, in a single run and in a sweep (never
//! "memory allocation failed" and an abort).

mod common;

use std::path::PathBuf;

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesu-memory-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The run fails with an exit status (no signal) and the memory message.
fn refused(args: &[&str]) {
    let out = common::mesu(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && out.status.code().is_some(),
        "{args:?}: {:?}\n{stderr}",
        out.status
    );
    let said = format!("{stdout}{stderr}");
    // Host memory, or on a GPU the adapter's per-buffer limit, with figures.
    let host = said.contains("need about") && said.contains("available");
    let device = said.contains("binds at most");
    assert!(host || device, "{args:?}:\n{said}");
    assert!(!said.contains("memory allocation"), "{said}");
}

fn tiny<'a>(out: &'a str, device: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = common::TINY_STREAM.to_vec();
    args.extend(["--no-fetch", "--out", out]);
    args.extend(device.iter().map(String::as_str));
    args.extend(extra);
    args
}

#[test]
fn sizes_beyond_the_memory_are_refused_with_the_estimate() {
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["--hidden", "2000000000"],
        vec!["--train-samples", "1000000000"],
        vec!["--test-samples", "1000000000"],
        // The largest batch a split allows, on a wide layer: 480 GB of activations.
        vec![
            "--batch-size",
            "60000",
            "--train-limit",
            "60000",
            "--hidden",
            "100000",
        ],
    ];
    if tables_beyond_memory() {
        cases.push(vec!["--tasks", "65535"]);
    }
    for device in common::backends() {
        for case in &cases {
            let dir = out_dir("run");
            let mut args = tiny(dir.to_str().unwrap(), &device, &[]);
            // A later flag of the case replaces the default one.
            for pair in case.chunks(2) {
                match args.iter().position(|a| *a == pair[0]) {
                    Some(i) => args[i + 1] = pair[1],
                    None => args.extend(pair),
                }
            }
            refused(&args);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Whether the T x T tables of the most tasks (32 bytes per cell, 137 GB)
/// exceed this machine's memory.
fn tables_beyond_memory() -> bool {
    let tables = 32 * 65_535u64 * 65_535;
    mesu::memory::available().is_some_and(|a| a < tables)
}

/// The sweep sizes its groups by device memory per run; what grows with
/// the tasks is checked when the group starts.
#[test]
fn a_sweep_refuses_a_group_beyond_the_memory() {
    if !tables_beyond_memory() {
        return;
    }
    let dir = out_dir("sweep");
    let device = ["--backend".to_string(), "cpu".into()];
    let mut args = vec!["sweep"];
    args.extend(tiny(dir.to_str().unwrap(), &device, &[]));
    let at = args.iter().position(|a| *a == "--tasks").unwrap();
    args[at + 1] = "65535";
    refused(&args);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_plan_within_the_memory_passes_and_saturates_beyond_u64() {
    use mesu::memory::{MemoryPlan, bytes};
    let mut plan = MemoryPlan::default();
    plan.add("small", bytes(&[1000, 4]));
    assert!(plan.check("lower it").is_ok());
    plan.add("huge", bytes(&[usize::MAX, usize::MAX]));
    assert_eq!(plan.total(), u64::MAX);
    let msg = plan.check("lower it").unwrap_err().to_string();
    assert!(msg.contains("huge") && msg.contains("lower it"), "{msg}");
}
