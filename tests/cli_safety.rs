//! The command line against hostile and careless input: a refused sweep
//! writes nothing, parallel jobs of one sweep do not race, `--force` loses
//! nothing before the new run has trained, any argument bytes and any
//! setting file fail with a message (never a panic or a hang), job lines
//! survive the shell, and a results folder's config.json cannot smuggle
//! flags in.

mod common;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A fresh folder for `name`, gone when the test starts.
fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesu-safety-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn mesu_cmd<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesu"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Runs mesu; fails the test if it takes longer than `limit`.
fn mesu_within<S: AsRef<OsStr>>(args: &[S], limit: Duration) -> Output {
    let child = mesu_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mesu");
    common::wait_bounded(child, limit)
        .unwrap_or_else(|| panic!("mesu did not finish within {limit:?}"))
}

fn mesu<S: AsRef<OsStr>>(args: &[S]) -> Output {
    mesu_within(args, Duration::from_secs(300))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failure with a message: non-zero, no panic.
fn refused(out: &Output, what: &str) -> String {
    let err = stderr(out);
    assert!(!out.status.success(), "{what} should fail");
    assert!(!err.contains("panicked"), "{what} panicked: {err}");
    assert_ne!(out.status.code(), Some(101), "{what}: {err}");
    err
}

/// The flags of a tiny CPU run (1 task of 50 images) into `dir`.
fn tiny(dir: &Path, seed: &str) -> Vec<OsString> {
    let flags = [
        "--backend",
        "cpu",
        "--no-fetch",
        "--tasks",
        "1",
        "--train-limit",
        "50",
        "--test-limit",
        "50",
        "--test-samples",
        "2",
        "--ood",
        "none",
        "--seed",
        seed,
        "--out",
    ];
    let mut args: Vec<OsString> = flags.iter().map(OsString::from).collect();
    args.push(dir.into());
    args
}

/// Issue 22, item 5: a sweep refused by its folder's lock writes nothing.
#[test]
fn a_sweep_refused_by_the_lock_writes_nothing() {
    let dir = temp("locked-sweep");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sweep.json"), "the user's plan").unwrap();
    let lock = std::fs::File::create(dir.join(".mesu.lock")).unwrap();
    lock.try_lock().unwrap();
    let out = mesu(&[
        OsStr::new("sweep"),
        "--backend".as_ref(),
        "cpu".as_ref(),
        "--tasks".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        dir.as_os_str(),
    ]);
    let err = refused(&out, "a sweep into a locked folder");
    assert!(err.contains("in use"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("sweep.json")).unwrap(),
        "the user's plan"
    );
    drop(lock);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 22, item 5: `--collect` (and jobs of one sweep) write a sweep
/// folder's shared files one at a time, so parallel ones all succeed.
#[test]
fn parallel_collects_of_one_sweep_all_succeed() {
    let dir = temp("collect");
    std::fs::create_dir_all(dir.join("runs")).unwrap();
    for round in 0..3 {
        let children: Vec<_> = (0..12)
            .map(|_| {
                mesu_cmd(&[OsStr::new("sweep"), "--collect".as_ref(), dir.as_os_str()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "round {round}: {}", stderr(&out));
        }
    }
    assert!(dir.join("summary.csv").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 22, item 6: `--force` keeps the old results until the new run has
/// trained: a new run killed before it saved anything leaves them in place.
#[test]
fn force_keeps_old_results_until_the_new_run_has_trained() {
    common::real_dir(mesu::data::DatasetKind::Mnist);
    let dir = temp("force");
    let old = tiny(&dir, "1");
    common::succeeded(&mesu(&old));
    let metrics = std::fs::read(dir.join("metrics.json")).unwrap();
    // Other settings over the whole training set: its first task takes
    // minutes, so it is killed long before it saves anything.
    let mut child = mesu_cmd(&[
        OsStr::new("--backend"),
        "cpu".as_ref(),
        "--no-fetch".as_ref(),
        "--tasks".as_ref(),
        "1".as_ref(),
        "--seed".as_ref(),
        "2".as_ref(),
        "--force".as_ref(),
        "--out".as_ref(),
        dir.as_os_str(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Until the new run holds the folder (the old results moved or gone).
    let start = Instant::now();
    while dir.join("metrics.json").exists() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    // The old settings again: the folder still holds them, complete.
    let stdout = common::succeeded(&mesu(&old));
    assert!(stdout.contains("nothing to do"), "{stdout}");
    assert_eq!(std::fs::read(dir.join("metrics.json")).unwrap(), metrics);
    assert!(!dir.join(".mesu-replaced").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 22, item 8: arguments that are not UTF-8 are paths like any
/// other, or refused with a message; never a panic.
#[test]
fn arguments_that_are_not_utf8_never_panic() {
    common::real_dir(mesu::data::DatasetKind::Mnist);
    let base = temp("bytes");
    std::fs::create_dir_all(&base).unwrap();
    let odd = |name: &[u8]| base.join(OsStr::from_bytes(name));
    // A results folder named with byte 0xff is that folder.
    let out_dir = odd(b"res\xff");
    common::succeeded(&mesu(&tiny(&out_dir, "0")));
    assert!(out_dir.join("metrics.json").is_file());
    let stdout = common::succeeded(&mesu(&tiny(&out_dir, "0")));
    assert!(stdout.contains("nothing to do"), "{stdout}");
    // Elsewhere: a message.
    let jobs = base.join("jobs.txt");
    let cases: Vec<Vec<OsString>> = vec![
        vec![
            "sweep".into(),
            "--backend".into(),
            "cpu".into(),
            "--emit-jobs".into(),
            jobs.clone().into(),
            "--data-dir".into(),
            odd(b"data\xff").into(),
        ],
        vec!["--adapter".into(), OsStr::from_bytes(b"gpu\xff").into()],
        vec!["--config".into(), odd(b"c\xff.json").into()],
        vec!["--resume".into(), odd(b"r\xff").into()],
        vec!["--n".into(), OsStr::from_bytes(b"1\xff").into()],
        vec![OsStr::from_bytes(b"--\xff").into()],
    ];
    for args in cases {
        refused(&mesu(&args), &format!("{args:?}"));
    }
    assert!(!jobs.exists(), "a refused job file was written");
    std::fs::remove_dir_all(&base).unwrap();
}

/// Issue 22, item 10: a setting file must be a small regular file: a
/// device, a FIFO or a huge file is refused at once.
#[test]
fn setting_files_are_small_regular_files() {
    let base = temp("files");
    std::fs::create_dir_all(&base).unwrap();
    let fifo = base.join("fifo.json");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let huge = base.join("huge.json");
    std::fs::write(&huge, vec![b' '; 2 << 20]).unwrap();
    let results = base.join("results");
    std::fs::create_dir_all(&results).unwrap();
    std::os::unix::fs::symlink("/dev/zero", results.join("config.json")).unwrap();
    let quick = Duration::from_secs(20);
    for (file, needle) in [
        (Path::new("/dev/zero"), "not a regular file"),
        (fifo.as_path(), "not a regular file"),
        (huge.as_path(), "larger than"),
    ] {
        let err = refused(
            &mesu_within(&[OsStr::new("--config"), file.as_ref()], quick),
            "--config",
        );
        assert!(err.contains(needle), "{file:?}: {err}");
        let grid = [
            OsStr::new("sweep"),
            "--backend".as_ref(),
            "cpu".as_ref(),
            "--dry-run".as_ref(),
            "--grid".as_ref(),
            file.as_ref(),
        ];
        let err = refused(&mesu_within(&grid, quick), "--grid");
        assert!(err.contains(needle), "{file:?}: {err}");
    }
    let resume = [OsStr::new("--resume"), results.as_os_str()];
    let err = refused(&mesu_within(&resume, quick), "--resume");
    assert!(err.contains("config.json"), "{err}");
    std::fs::remove_dir_all(&base).unwrap();
}

/// Issue 22, item 11: a negative or out-of-range number gets its own
/// check's message naming its flag, at once.
#[test]
fn numbers_out_of_range_get_their_own_message() {
    let cases: [(&[&str], &str); 12] = [
        (&["--n", "-1"], "--n must be a positive number"),
        (
            &["--hidden", "-5"],
            "--hidden <HIDDEN>': expected a whole number",
        ),
        (&["--hidden", "50,-5"], "not a negative one"),
        (&["--lr-mu", "-1e-3"], "--lr-mu must be a positive number"),
        (&["--mu-prior", "-inf"], "--mu-prior must be finite"),
        (
            &["--tasks", "-2"],
            "--tasks <TASKS>': expected a whole number",
        ),
        (
            &["--epochs", "2.5"],
            "--epochs <EPOCHS>': expected a whole number",
        ),
        (&["--seed", "-1"], "not a negative one"),
        (&["--threads", "100000"], "--threads"),
        (&["--threads", "-1"], "--threads"),
        (
            &["sweep", "--dry-run", "--n", "-1,2"],
            "--n must be a positive",
        ),
        (&["sweep", "--dry-run", "--seeds", "-3"], "--seeds"),
    ];
    for (args, needle) in cases {
        let mut all = args.to_vec();
        all.extend(["--backend", "cpu", "--no-fetch", "--out", "/nonexistent/x"]);
        let out = mesu_within(&all, Duration::from_secs(20));
        let err = refused(&out, &format!("{args:?}"));
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
    }
    // The message of a non-finite sigma prior is about the sigma prior.
    let err = refused(&mesu(&["--sigma-prior", "inf"]), "--sigma-prior inf");
    assert!(err.contains("--sigma-prior must be finite"), "{err}");
    assert!(!err.contains(" N"), "{err}");
    // `mesu hessian` offers no flag it refuses.
    let help = common::succeeded(&mesu(&["hessian", "--help"]));
    let offered: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .filter_map(|l| l.split([' ', '<']).next())
        .collect();
    assert!(offered.contains(&"hidden"), "{help}");
    for refused_there in ["resume", "config", "tasks", "ood"] {
        assert!(
            !offered.contains(&refused_there),
            "--{refused_there} in {help}"
        );
    }
}

/// Issue 22, item 13: every argument of a job line survives the shell as
/// it was given; one that would break its line is refused.
#[test]
fn job_lines_survive_the_shell() {
    let base = temp("jobs");
    std::fs::create_dir_all(&base).unwrap();
    let marker = base.join("ran");
    let tricky = format!("d 'x' \"y\" $(touch {}) `id` ; &", marker.display());
    let jobs = base.join("jobs.txt");
    let sweep = |data_dir: &str| {
        mesu(&[
            "sweep",
            "--backend",
            "cpu",
            "--seeds",
            "2",
            "--max-group",
            "1",
            "--data-dir",
            data_dir,
            "--out",
            base.join("sweep").to_str().unwrap(),
            "--emit-jobs",
            jobs.to_str().unwrap(),
        ])
    };
    common::succeeded(&sweep(&tricky));
    let text = std::fs::read_to_string(&jobs).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in lines {
        // The words of the line as a shell reads them.
        let script = format!("set -- {line}; shift; for a; do printf '%s\\0' \"$a\"; done");
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        assert!(out.status.success(), "{line}");
        let words: Vec<String> = out
            .stdout
            .split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8(w.to_vec()).unwrap())
            .collect();
        let at = words.iter().position(|w| w == "--data-dir").unwrap();
        assert_eq!(words[at + 1], tricky, "{line}");
    }
    assert!(!marker.exists(), "a job line ran a command");
    for bad in ["a\nb", "a\rb", "a\tb\u{1b}[2J"] {
        let _ = std::fs::remove_file(&jobs);
        let err = refused(&sweep(bad), "a control character in a job line");
        assert!(err.contains("control character"), "{err}");
        assert!(!jobs.exists(), "a refused job file was written");
    }
    std::fs::remove_dir_all(&base).unwrap();
}

/// Issue 22, item 14: a results folder's config.json is read with a
/// strict schema: a key it does not define is refused, never a flag.
#[test]
fn a_results_config_cannot_smuggle_flags() {
    common::real_dir(mesu::data::DatasetKind::Mnist);
    let base = temp("smuggle");
    let run = base.join("run");
    common::succeeded(&mesu(&tiny(&run, "0")));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let elsewhere = base.join("elsewhere");
    // The config.json as written repeats the run: nothing to do.
    let stdout = common::succeeded(&mesu(&[
        OsStr::new("--config"),
        run.join("config.json").as_os_str(),
        "--out".as_ref(),
        run.as_os_str(),
    ]));
    assert!(stdout.contains("nothing to do"), "{stdout}");
    let plant: [(&[&str], &str); 6] = [
        (&["out"], "out"),
        (&["identity", "out"], "out"),
        (&["identity", "run", "out"], "out"),
        (&["identity", "run", "hyper", "out"], "out"),
        (&["hyper", "out"], "out"),
        (&["provenance", "out"], "out"),
    ];
    for (i, (path, key)) in plant.iter().enumerate() {
        let mut edited = config.clone();
        let mut at = &mut edited;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = elsewhere.to_str().unwrap().into();
        let file = base.join(format!("edited{i}.json"));
        std::fs::write(&file, serde_json::to_string(&edited).unwrap()).unwrap();
        let err = refused(
            &mesu(&[OsStr::new("--config"), file.as_os_str()]),
            &format!("{path:?}"),
        );
        assert!(err.contains(key), "{path:?}: {err}");
        assert!(!elsewhere.exists(), "{path:?} redirected the run");
    }
    // A recorded value of the wrong kind is refused too, naming it.
    let mut edited = config.clone();
    edited["identity"]["dataset"] = "mnist --out /tmp/x".into();
    let file = base.join("edited-value.json");
    std::fs::write(&file, serde_json::to_string(&edited).unwrap()).unwrap();
    let err = refused(
        &mesu(&[OsStr::new("--config"), file.as_os_str()]),
        "dataset",
    );
    assert!(err.contains("dataset"), "{err}");
    std::fs::remove_dir_all(&base).unwrap();
}
