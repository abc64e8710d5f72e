//! Long runs that lose nothing: an interrupted run resumes to the bits of
//! an uninterrupted one; results folders are locked and protected.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mesu::report::{CHECKPOINT, Checkpoint, ROWS};

use common::{interrupted, mesu};

const CALIBRATION: &str = "calibration.csv";

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
    assert_eq!(
        read(a, CALIBRATION),
        read(b, CALIBRATION),
        "{CALIBRATION} differs"
    );
    assert_same_training(a, b);
}

/// `b` resumed from `kept`'s first `done` tasks: its calibration rows of
/// those tasks are `kept`'s, the later ones `a`'s; the rest as
/// `assert_same_run`.
fn assert_same_run_since(a: &Path, b: &Path, kept: &Path, done: usize) {
    let lines = |d: &Path| String::from_utf8(read(d, CALIBRATION)).unwrap();
    let (a_rows, b_rows, kept_rows) = (lines(a), lines(b), lines(kept));
    let after_task = |l: &str| l.split(',').next().unwrap().parse::<usize>().ok();
    let expected: Vec<&str> = a_rows
        .lines()
        .map(|l| match after_task(l) {
            Some(i) if i < done => kept_rows
                .lines()
                .find(|k| {
                    k.starts_with(&format!("{i},")) && k.split(',').nth(1) == l.split(',').nth(1)
                })
                .unwrap(),
            _ => l,
        })
        .collect();
    assert_eq!(
        b_rows.lines().collect::<Vec<_>>(),
        expected,
        "{CALIBRATION} differs"
    );
    assert_same_training(a, b);
}

/// Training and accuracy, which no evaluation order changes.
fn assert_same_training(a: &Path, b: &Path) {
    for f in ["accuracy_matrix.csv", "sigma_stats.csv"] {
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
    // The first part's command is kept beside the resume's, with where the
    // resume took over.
    let config: serde_json::Value = serde_json::from_slice(&read(&parts, "config.json")).unwrap();
    let command = |provenance: &serde_json::Value| -> Vec<String> {
        serde_json::from_value(provenance["command_line"].clone()).unwrap()
    };
    let earlier = config["earlier_parts"].as_array().expect("earlier_parts");
    assert_eq!(earlier.len(), 1, "{config:#}");
    assert_eq!(command(&earlier[0]["provenance"])[1..], run(extra, p)[..]);
    // RUN's --threads 1 is the first part's; --resume takes the machine's.
    let adapter = earlier[0]["adapter"].as_str().unwrap();
    assert!(adapter.ends_with(" 1 thread)"), "{adapter}");
    assert_eq!(command(&config["provenance"])[1..], ["--resume", p]);
    assert_eq!(
        config["provenance"]["resumed_from"]["tasks_done"],
        stopped.position.task
    );
    assert_eq!(
        config["provenance"]["resumed_from"]["steps"],
        stopped.position.steps
    );
    let whole_config: serde_json::Value =
        serde_json::from_slice(&read(&whole, "config.json")).unwrap();
    assert!(whole_config.get("earlier_parts").is_none());
    assert!(whole_config["provenance"].get("resumed_from").is_none());
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
    // A copy of one run's folder at this stop, put back after a second stop
    // in task 3: its checkpoint then stands behind the other run's, as a
    // kill between two runs' checkpoints leaves them.
    let names: Vec<_> = std::fs::read_dir(parts.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let behind = parts.join("runs").join(&names[1]);
    let kept = out_dir("sweep-kept");
    copy_dir(&behind, &kept);
    let (code, stderr) = interrupted(&args, "task 3/3: ");
    assert_eq!(code, Some(130), "{stderr}");
    std::fs::remove_dir_all(&behind).unwrap();
    copy_dir(&kept, &behind);
    let out = mesu(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("checkpoints stand at 2 places"), "{stdout}");
    assert!(stdout.contains("resuming its runs from task 2"), "{stdout}");
    assert!(stdout.contains("resuming its runs from task 3"), "{stdout}");
    for run in std::fs::read_dir(whole.join("runs")).unwrap() {
        let name = run.unwrap().file_name();
        assert_same_run(
            &whole.join("runs").join(&name),
            &parts.join("runs").join(&name),
        );
    }
    std::fs::remove_dir_all(&whole).unwrap();
    std::fs::remove_dir_all(&parts).unwrap();
    std::fs::remove_dir_all(&kept).unwrap();
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

/// A small net's stream of `tasks` tasks into `dir`, plus `extra`: fast
/// enough for the folder's refusals and repairs.
fn tiny(tasks: &str, dir: &Path, extra: &[&str]) -> std::process::Output {
    let flags = [
        "--tasks",
        tasks,
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
        "--hidden",
        "8",
        "--out",
        dir.to_str().unwrap(),
    ];
    mesu(&[&flags[..], extra].concat())
}

/// Runs mesu expecting a refusal: exit 1, no panic; returns stderr.
fn refused(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Edits a JSON file of `dir` in place.
fn edit_json(dir: &Path, file: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&read(dir, file)).unwrap();
    edit(&mut v);
    std::fs::write(dir.join(file), serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// Makes `dir`'s run look unfinished, as a stop before its last files does.
fn unfinish(dir: &Path) {
    edit_json(dir, "metrics.json", |m| m["complete"] = false.into());
}

/// The version in a checkpoint's header.
fn checkpoint_version(dir: &Path) -> String {
    let bytes = read(dir, CHECKPOINT);
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"]["version"]
        .as_str()
        .unwrap()
        .to_string()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A kill between a run's last writes used to leave metrics.json saying
/// complete beside a checkpoint one task behind, and `--resume` said
/// "nothing to do". The checkpoint decides: the last task is redone, to
/// the bits of the whole run.
#[test]
fn a_folder_whose_last_files_disagree_is_repaired() {
    let (whole, parts) = (out_dir("repair-whole"), out_dir("repair-parts"));
    let (w, p) = (whole.to_str().unwrap(), parts.to_str().unwrap());
    common::succeeded(&mesu(&[&RUN[..], &["--out", w]].concat()));
    let (code, stderr) = interrupted(&[&RUN[..], &["--out", p]].concat(), "task 2/3: ");
    assert_eq!(code, Some(130), "{stderr}");
    let behind = (read(&parts, CHECKPOINT), read(&parts, ROWS));
    common::succeeded(&mesu(&["--resume", p]));
    std::fs::write(parts.join(CHECKPOINT), &behind.0).unwrap();
    std::fs::write(parts.join(ROWS), &behind.1).unwrap();
    let stdout = common::succeeded(&mesu(&["--resume", p]));
    assert!(
        stdout.contains("resuming from its checkpoint: task 2 of 3"),
        "{stdout}"
    );
    assert_same_run(&whole, &parts);
    std::fs::remove_dir_all(&whole).unwrap();
    std::fs::remove_dir_all(&parts).unwrap();
}

/// An extension (`--tasks 3` on a finished 2-task run) writes config.json
/// first; a kill before its first checkpoint used to make every later
/// resume panic (index out of bounds). It resumes, to the bits of a
/// 3-task run; a mix of files that cannot resume is refused, never a panic.
#[test]
fn an_interrupted_extension_resumes_and_mixed_files_never_panic() {
    let (long, grown) = (out_dir("ext-long"), out_dir("ext-grown"));
    common::succeeded(&tiny("3", &long, &[]));
    common::succeeded(&tiny("2", &grown, &[]));
    let two_tasks = read(&grown, CHECKPOINT);
    // What the extending run writes before its first checkpoint.
    edit_json(&grown, "config.json", |c| {
        c["tasks"] = 3.into();
        c["identity"]["tasks"] = 3.into();
    });
    unfinish(&grown);
    let stdout = common::succeeded(&mesu(&["--resume", grown.to_str().unwrap()]));
    assert!(
        stdout.contains("extending its finished 2-task run"),
        "{stdout}"
    );
    assert_same_run(&long, &grown);
    // A 2-task run's checkpoint behind a 3-task run's files, not at its end:
    // refused with a message.
    let mut c = Checkpoint::read(&long).unwrap().unwrap();
    c.position.task = 1;
    c.identity["tasks"] = 2.into();
    if let mesu::report::Stored::Rows(mark) = &mut c.record {
        mark.rows = 1;
    }
    c.write(&long).unwrap();
    unfinish(&long);
    let stderr = refused(&mesu(&["--resume", long.to_str().unwrap()]));
    assert!(
        stderr.contains("other settings") && stderr.contains("tasks 2 -> 3"),
        "{stderr}"
    );
    // A finished 2-task checkpoint in a 3-task folder that says complete.
    std::fs::write(long.join(CHECKPOINT), &two_tasks).unwrap();
    let out = mesu(&["--resume", long.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    std::fs::remove_dir_all(&long).unwrap();
    std::fs::remove_dir_all(&grown).unwrap();
}

/// Another run's checkpoint, or a config.json edited after the run began,
/// used to resume silently with the wrong numbers: refused, naming the
/// setting and both sides.
#[test]
fn a_checkpoint_of_other_settings_is_refused() {
    let (a, b) = (out_dir("ident-a"), out_dir("ident-b"));
    common::succeeded(&tiny("2", &a, &[]));
    common::succeeded(&tiny("2", &b, &["--seed", "1"]));
    unfinish(&a);
    let own = (read(&a, CHECKPOINT), read(&a, ROWS));
    std::fs::copy(b.join(CHECKPOINT), a.join(CHECKPOINT)).unwrap();
    std::fs::copy(b.join(ROWS), a.join(ROWS)).unwrap();
    let stderr = refused(&mesu(&["--resume", a.to_str().unwrap()]));
    assert!(stderr.contains("run.seed 1 -> 0"), "{stderr}");
    // The run's own checkpoint, but config.json's seed edited.
    std::fs::write(a.join(CHECKPOINT), &own.0).unwrap();
    std::fs::write(a.join(ROWS), &own.1).unwrap();
    edit_json(&a, "config.json", |c| {
        c["seed"] = 5.into();
        c["identity"]["run"]["seed"] = 5.into();
    });
    let stderr = refused(&mesu(&["--resume", a.to_str().unwrap()]));
    assert!(stderr.contains("run.seed 0 -> 5"), "{stderr}");
    std::fs::remove_dir_all(&a).unwrap();
    std::fs::remove_dir_all(&b).unwrap();
}

/// A flipped byte anywhere, a header that does not hold together, rows
/// that are not the checkpoint's: refused, naming the file; a row an
/// interrupted append left half-written is dropped.
#[test]
fn a_damaged_or_inconsistent_checkpoint_is_refused() {
    let dir = out_dir("damaged");
    let d = dir.to_str().unwrap();
    common::succeeded(&tiny("2", &dir, &[]));
    unfinish(&dir);
    let good = read(&dir, CHECKPOINT);
    for at in [good.len() - 3, good.len() / 2, 40] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(dir.join(CHECKPOINT), &bad).unwrap();
        let stderr = refused(&mesu(&["--resume", d]));
        assert!(
            stderr.contains("not a usable checkpoint"),
            "byte {at}: {stderr}"
        );
    }
    std::fs::write(dir.join(CHECKPOINT), &good).unwrap();
    // Well-formed files whose header says task 10 of 2, or a position that
    // is not one of this stream's.
    let c = Checkpoint::read(&dir).unwrap().unwrap();
    for (task, epoch, why) in [(9, 0, "task 10 of a 2-task run"), (2, 5, "not a position")] {
        let mut bad = c.clone();
        bad.position.task = task;
        bad.position.epoch = epoch;
        if let mesu::report::Stored::Rows(mark) = &mut bad.record {
            mark.rows = task;
        }
        bad.write(&dir).unwrap();
        let stderr = refused(&mesu(&["--resume", d]));
        assert!(stderr.contains(why), "{stderr}");
    }
    std::fs::write(dir.join(CHECKPOINT), &good).unwrap();
    let rows = read(&dir, ROWS);
    std::fs::write(dir.join(ROWS), &rows[..rows.len() - 5]).unwrap();
    let stderr = refused(&mesu(&["--resume", d]));
    assert!(stderr.contains(ROWS), "{stderr}");
    let mut edited = rows.clone();
    edited[20] ^= 0x01;
    std::fs::write(dir.join(ROWS), &edited).unwrap();
    let stderr = refused(&mesu(&["--resume", d]));
    assert!(stderr.contains("CRC-32"), "{stderr}");
    std::fs::write(dir.join(ROWS), [&rows[..], b"{\"task\":2,\"acc"].concat()).unwrap();
    common::succeeded(&mesu(&["--resume", d]));
    assert_eq!(read(&dir, ROWS), rows, "the half-written row dropped");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What grows with the stream's length is appended to rows.jsonl, one row
/// a task; the checkpoint rewritten after every task stays the size of
/// the parameters (it held four T x T tables: 288 MB at 3000 tasks).
#[test]
fn the_checkpoint_does_not_grow_with_the_stream() {
    let (one, eight) = (out_dir("grow-1"), out_dir("grow-8"));
    common::succeeded(&tiny("1", &one, &[]));
    common::succeeded(&tiny("8", &eight, &[]));
    let size = |d: &Path| read(d, CHECKPOINT).len() as i64;
    assert!(
        (size(&eight) - size(&one)).abs() < 64,
        "{} vs {} bytes",
        size(&one),
        size(&eight)
    );
    assert_eq!(read(&eight, ROWS).split(|&b| b == b'\n').count(), 9);
    std::fs::remove_dir_all(&one).unwrap();
    std::fs::remove_dir_all(&eight).unwrap();
}

/// A kill during task 1 used to leave no config.json, so `--resume` did
/// not know the folder: config.json is written before the first step.
#[test]
fn config_json_is_written_before_training() {
    let dir = out_dir("first");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesu"))
        .args([
            "--tasks",
            "1",
            "--train-limit",
            "60000",
            "--ood",
            "none",
            "--backend",
            "cpu",
            "--threads",
            "1",
            "--out",
            dir.to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mesu");
    let clock = std::time::Instant::now();
    while !dir.join("config.json").exists() && clock.elapsed().as_secs() < 300 {
        assert!(child.try_wait().unwrap().is_none(), "mesu ended early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let task_done = dir.join("metrics.json").exists();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!task_done, "config.json came only with the task's results");
    // Nothing else before training (`--force` tells a started run by it).
    for f in [ROWS, CHECKPOINT] {
        assert!(!dir.join(f).exists(), "{f} before the first step");
    }
    let config: serde_json::Value = serde_json::from_slice(&read(&dir, "config.json")).unwrap();
    assert_eq!(config["identity"]["tasks"], 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A link planted in a results folder (the lock, a temporary's name, a
/// result's) used to make a run write through it, outside --out: the
/// folder is refused and the link's target left alone.
#[test]
fn a_results_folder_holding_links_is_refused() {
    let target = std::env::temp_dir().join(format!("mesu-resume-target-{}", std::process::id()));
    for name in [
        ".mesu.lock",
        "config.json.tmp",
        "checkpoint.safetensors.tmp",
        "metrics.json",
    ] {
        std::fs::write(&target, "a user's file").unwrap();
        let dir = out_dir("links");
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(&target, dir.join(name)).unwrap();
        let stderr = refused(&tiny("1", &dir, &[]));
        assert!(stderr.contains("symbolic link"), "{name}: {stderr}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "a user's file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::remove_file(&target).unwrap();
}

/// A folder made by mesu before rows.jsonl (checkpoint format 2, as the
/// long runs started then have) resumes and extends, checked against its
/// config.json's identity, to the bits of this mesu's run; its next
/// checkpoint is written in format 3. Its calibration rows keep the bits
/// its own mesu evaluated them with (the CPU evaluation's sums have
/// changed order since, in the last bits); the rows evaluated after the
/// resume are this mesu's.
#[test]
fn a_version_2_folder_resumes_and_extends() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2-run");
    let (old, now, longer) = (out_dir("v2-old"), out_dir("v2-now"), out_dir("v2-long"));
    common::succeeded(&tiny("2", &now, &[]));
    copy_dir(&fixture, &old);
    assert_eq!(checkpoint_version(&old), "2");
    unfinish(&old);
    common::succeeded(&mesu(&["--resume", old.to_str().unwrap()]));
    assert_same_run_since(&now, &old, &fixture, 2);
    assert_eq!(checkpoint_version(&old), "3");
    std::fs::remove_dir_all(&old).unwrap();
    copy_dir(&fixture, &old);
    common::succeeded(&tiny("3", &longer, &[]));
    let stdout = common::succeeded(&mesu(&["--resume", old.to_str().unwrap(), "--tasks", "3"]));
    assert!(
        stdout.contains("extending its finished 2-task run"),
        "{stdout}"
    );
    assert_same_run_since(&longer, &old, &fixture, 2);
    for d in [&old, &now, &longer] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
