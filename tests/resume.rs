//! Long runs that lose nothing: an interrupted run resumes to the bits of
//! an uninterrupted one; results folders are locked and protected.

mod common;

use std::path::{Path, PathBuf};

use mesu::report::{CHECKPOINT, Checkpoint};

use common::{interrupted, mesu};

const RUN: [&str; 12] = [
    "--tasks",
    "3",
    "--train-limit",
    "1200",
    "--test-limit",
    "200",
    "--ood",
    "none",
    "--backend",
    "cpu",
    "--threads",
    "1",
];

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesu-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

/// The results that must not depend on the interruption.
fn assert_same_run(a: &Path, b: &Path) {
    for f in ["accuracy_matrix.csv", "calibration.csv", "sigma_stats.csv"] {
        assert_eq!(read(a, f), read(b, f), "{f} differs");
    }
    let (ca, cb) = (
        Checkpoint::read(a).unwrap().unwrap(),
        Checkpoint::read(b).unwrap().unwrap(),
    );
    assert_eq!(ca.params, cb.params, "final parameters differ");
    assert_eq!(ca.position, cb.position);
}

/// `RUN` with `extra`, whole and interrupted in task 2 then resumed: the
/// same accuracy matrix, sigma statistics and final parameters (and, for a
/// penalised baseline, its penalty state) bit for bit. Returns the final
/// checkpoint.
fn resumes_to_the_same_bits(name: &str, extra: &[&str]) -> Checkpoint {
    let (whole, parts) = (
        out_dir(&format!("{name}-whole")),
        out_dir(&format!("{name}-parts")),
    );
    let (w, p) = (whole.to_str().unwrap(), parts.to_str().unwrap());
    fn run<'a>(extra: &[&'a str], dir: &'a str) -> Vec<&'a str> {
        [&RUN[..], extra, &["--out", dir]].concat()
    }
    assert!(mesu(&run(extra, w)).status.success());
    let (code, stderr) = interrupted(&run(extra, p), "task 2/3: ");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("rerun the same command to resume"),
        "{stderr}"
    );
    let stopped = Checkpoint::read(&parts)
        .unwrap()
        .expect("a checkpoint at the stop");
    assert_eq!(stopped.position.task, 1, "stopped in task 2");
    // `--resume DIR` stands for the command that made DIR.
    let stdout = common::succeeded(&mesu(&["--resume", p]));
    assert!(
        stdout.contains("resuming from its checkpoint: task 2 of 3"),
        "{stdout}"
    );
    assert_same_run(&whole, &parts);
    // A finished run is left alone.
    let again = mesu(&run(extra, p));
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to do"));
    let last = Checkpoint::read(&whole).unwrap().unwrap();
    std::fs::remove_dir_all(&whole).unwrap();
    std::fs::remove_dir_all(&parts).unwrap();
    last
}

#[test]
fn an_interrupted_run_resumes_to_the_same_bits() {
    let last = resumes_to_the_same_bits("mesu", &[]);
    assert!(last.params.penalty.is_empty(), "MESU has no penalty state");
}

/// Online EWC's state (anchor, Fisher, the task end before the stop) is in
/// the checkpoint. Ten identical samples of its deterministic net make its
/// steps as slow as MESU's, so the stop lands inside task 2.
#[test]
fn an_interrupted_online_ewc_run_resumes_to_the_same_bits() {
    let online_ewc = ["--optimizer", "online-ewc", "--train-samples", "10"];
    let c = resumes_to_the_same_bits("online-ewc", &online_ewc);
    let fisher = c
        .params
        .penalty
        .iter()
        .flatten()
        .filter(|p| p.importance > 0.0)
        .count();
    assert!(fisher > 0, "no Fisher information in the checkpoint");
    assert_eq!(
        c.params.penalty[0][0].anchor, c.params.mu[0][0],
        "anchored at the last task end"
    );
}

#[test]
fn an_interrupted_sweep_group_resumes_to_the_same_bits() {
    let sweep = |dir: &str| -> Vec<String> {
        [&["sweep", "--seeds", "2"][..], &RUN[..], &["--out", dir]]
            .concat()
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let (whole, parts) = (out_dir("sweep-whole"), out_dir("sweep-parts"));
    let args = sweep(whole.to_str().unwrap());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(mesu(&args).status.success());
    let args = sweep(parts.to_str().unwrap());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stderr) = interrupted(&args, "task 2/3: ");
    assert_eq!(code, Some(130), "{stderr}");
    let out = mesu(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("resuming its runs from task 2"));
    for run in std::fs::read_dir(whole.join("runs")).unwrap() {
        let name = run.unwrap().file_name();
        assert_same_run(
            &whole.join("runs").join(&name),
            &parts.join("runs").join(&name),
        );
    }
    std::fs::remove_dir_all(&whole).unwrap();
    std::fs::remove_dir_all(&parts).unwrap();
}

#[test]
fn folders_of_other_settings_and_bad_checkpoints_are_refused() {
    let dir = out_dir("protect");
    let d = dir.to_str().unwrap();
    let short = [
        "--tasks",
        "1",
        "--train-limit",
        "200",
        "--test-limit",
        "100",
        "--ood",
        "none",
    ];
    assert!(mesu(&[&short[..], &["--out", d]].concat()).status.success());
    let before = read(&dir, "accuracy_matrix.csv");
    // Other settings: refused, naming what differs; nothing overwritten.
    let other = mesu(&[&short[..], &["--out", d, "--seed", "4"]].concat());
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(!other.status.success());
    assert!(
        stderr.contains("other settings") && stderr.contains("seed 0 -> 4"),
        "{stderr}"
    );
    assert_eq!(read(&dir, "accuracy_matrix.csv"), before);
    // --force replaces them.
    let forced = mesu(&[&short[..], &["--out", d, "--seed", "4", "--force"]].concat());
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    // A truncated checkpoint of an unfinished run is refused, and kept.
    let metrics = String::from_utf8(read(&dir, "metrics.json"))
        .unwrap()
        .replace("\"complete\": true", "\"complete\": false");
    std::fs::write(dir.join("metrics.json"), metrics).unwrap();
    let bytes = read(&dir, CHECKPOINT);
    std::fs::write(dir.join(CHECKPOINT), &bytes[..bytes.len() / 2]).unwrap();
    let bad = mesu(&[&short[..], &["--out", d, "--seed", "4"]].concat());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        stderr.contains(CHECKPOINT) && stderr.contains("not a usable checkpoint"),
        "{stderr}"
    );
    assert_eq!(
        read(&dir, CHECKPOINT).len(),
        bytes.len() / 2,
        "the checkpoint was kept"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_writer_is_refused() {
    let dir = out_dir("lock");
    let _held = mesu::report::lock_folder(&dir).unwrap();
    let out = mesu(&[
        "--tasks",
        "1",
        "--train-limit",
        "100",
        "--test-limit",
        "50",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("is in use by mesu (process"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unwritable_out_fails_before_training() {
    let file = std::env::temp_dir().join(format!("mesu-resume-file-{}", std::process::id()));
    std::fs::write(&file, "a user's file").unwrap();
    let out = mesu(&["--tasks", "1", "--out", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(file.to_str().unwrap()), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("task 1/1"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "a user's file");
    std::fs::remove_file(&file).unwrap();
}

/// A finished run given more tasks goes on from its last checkpoint, to the
/// bits of a run of all the tasks; not where the schedule would move
/// (`--eval-every`).
#[test]
fn a_finished_run_extends_to_more_tasks() {
    let (long, grown) = (out_dir("long"), out_dir("grown"));
    let (l, g) = (long.to_str().unwrap(), grown.to_str().unwrap());
    let two = [&RUN[..], &["--out", g]].concat();
    let mut two: Vec<&str> = two;
    let at = two.iter().position(|a| *a == "--tasks").unwrap();
    two[at + 1] = "2";
    common::succeeded(&mesu(&two));
    let stdout = common::succeeded(&mesu(&[&RUN[..], &["--out", g]].concat()));
    assert!(
        stdout.contains("extending its finished 2-task run to 3 tasks"),
        "{stdout}"
    );
    common::succeeded(&mesu(&[&RUN[..], &["--out", l]].concat()));
    assert_same_run(&long, &grown);
    // With --eval-every the last row of the shorter stream was full only
    // because it was the last: other settings.
    let four = [&RUN[..], &["--out", g, "--eval-every", "2"]].concat();
    let mut four: Vec<&str> = four;
    let at = four.iter().position(|a| *a == "--tasks").unwrap();
    four[at + 1] = "4";
    let out = mesu(&four);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("other settings"));
    std::fs::remove_dir_all(&long).unwrap();
    std::fs::remove_dir_all(&grown).unwrap();
}
