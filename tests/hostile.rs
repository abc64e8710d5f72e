//! A repeatable hostile probe of the `mesu` binary (issue 22's closing bar):
//! tables of bad numbers for every numeric flag of every subcommand, odd
//! paths for every path flag, a results folder tampered at every file, and
//! runs killed (SIGKILL, SIGTERM) at random moments then resumed. Every case
//! runs under a time bound and must end without a panic, either succeeding
//! or refusing with a short message, and write nothing outside its `--out`
//! (each case runs in an empty sentinel folder, with a second one that a
//! planted symlink points at). A resumed run must match an uninterrupted one
//! bit for bit. `MESU_PROBE_FULL=1` runs every case of every table (the
//! default runs a rotating third of them, every flag and value still seen).

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How one case ended.
enum Outcome {
    Exited {
        code: Option<i32>,
        stderr: String,
    },
    /// Still running at the bound (then killed).
    Running,
}

fn full() -> bool {
    std::env::var("MESU_PROBE_FULL").as_deref() == Ok("1")
}

/// The probe's tally: every case, and every broken promise with its case.
#[derive(Default)]
struct Tally {
    cases: usize,
    /// How the cases ended: succeeded, refused, still running at the bound.
    ended: [usize; 3],
    panics: Vec<String>,
    hangs: Vec<String>,
    bad_refusals: Vec<String>,
    corruptions: Vec<String>,
    outside_writes: Vec<String>,
}

impl Tally {
    fn report(&self, what: &str) {
        eprintln!(
            "hostile probe ({what}): {} cases ({:?} succeeded/refused/long), {} panics, {} hangs, {} refusals without a message, \
             {} silent corruptions, {} writes outside --out",
            self.cases,
            self.ended,
            self.panics.len(),
            self.hangs.len(),
            self.bad_refusals.len(),
            self.corruptions.len(),
            self.outside_writes.len()
        );
        let all: Vec<&String> = [
            &self.panics,
            &self.hangs,
            &self.bad_refusals,
            &self.corruptions,
            &self.outside_writes,
        ]
        .into_iter()
        .flatten()
        .collect();
        assert!(all.is_empty(), "{what}: {all:#?}");
    }
}

/// A case's folders: `cwd`, where the binary runs and which must stay
/// empty, `outside`, which planted symlinks point at and which must stay as
/// it was, and `root`, where the case puts its own paths.
struct Sandbox {
    root: PathBuf,
    cwd: PathBuf,
    outside: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let root = std::env::temp_dir().join(format!("mesu-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let cwd = root.join("cwd");
        let outside = root.join("outside");
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("precious.txt"), "the user's file").unwrap();
        Sandbox { root, cwd, outside }
    }

    /// A fresh path under the case folder, nothing there yet.
    fn fresh(&self, name: &str) -> PathBuf {
        let p = self.root.join(name);
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::remove_file(&p);
        p
    }

    /// What `cwd` and `outside` hold, as names and contents.
    fn sentinels(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut seen = BTreeMap::new();
        for dir in [&self.cwd, &self.outside] {
            walk(dir, &mut seen);
        }
        seen
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn walk(dir: &Path, seen: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            seen.insert(p.clone(), Vec::new());
            walk(&p, seen);
        } else {
            seen.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
        }
    }
}

/// Runs mesu in `cwd`; kills it after `limit`.
fn run_bounded(args: &[OsString], cwd: &Path, limit: Duration) -> Outcome {
    let child = Command::new(env!("CARGO_BIN_EXE_mesu"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mesu");
    let Some(out) = common::wait_bounded(child, limit) else {
        return Outcome::Running;
    };
    Outcome::Exited {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn is_panic(code: Option<i32>, stderr: &str) -> bool {
    code == Some(101)
        || code.is_none()
        || stderr.contains("panicked at")
        || stderr.contains("RUST_BACKTRACE")
}

/// A refusal's message: an `error:` line, short enough to read.
fn good_refusal(stderr: &str) -> bool {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    stderr.contains("error") && !lines.is_empty() && lines.len() <= 12
}

/// What a case may do besides refusing with a message.
#[derive(Clone, Copy, PartialEq)]
enum Allow {
    /// It may also succeed.
    Success,
    /// It may also succeed or still be running (a valid but long run).
    Long,
}

/// Runs one case and files any broken promise in `tally`; returns whether it
/// succeeded.
fn case(tally: &mut Tally, sb: &Sandbox, name: &str, args: &[OsString], allow: Allow) -> bool {
    tally.cases += 1;
    let before = sb.sentinels();
    let limit = if allow == Allow::Long { 4 } else { 20 };
    let outcome = run_bounded(args, &sb.cwd, Duration::from_secs(limit));
    if std::env::var_os("MESU_PROBE_VERBOSE").is_some() {
        let how = match &outcome {
            Outcome::Running => "still running".to_string(),
            Outcome::Exited { code, stderr } => {
                format!("{code:?} {}", stderr.lines().last().unwrap_or(""))
            }
        };
        eprintln!("{name}: {how}");
    }
    if sb.sentinels() != before {
        tally
            .outside_writes
            .push(format!("{name}: {:?}", sb.sentinels().keys()));
    }
    match outcome {
        Outcome::Running if allow == Allow::Long => {
            tally.ended[2] += 1;
            false
        }
        Outcome::Running => {
            tally.hangs.push(name.to_string());
            false
        }
        Outcome::Exited { code, stderr } if is_panic(code, &stderr) => {
            tally.panics.push(format!("{name}: {code:?} {stderr}"));
            false
        }
        Outcome::Exited { code: Some(0), .. } => {
            tally.ended[0] += 1;
            true
        }
        Outcome::Exited { stderr, .. } => {
            tally.ended[1] += 1;
            if !good_refusal(&stderr) {
                tally.bad_refusals.push(format!("{name}: {stderr}"));
            }
            false
        }
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn data_dir() -> OsString {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/mnist")
        .into()
}

/// The flags of a tiny CPU run of `tasks` tasks, data from the crate.
fn tiny(tasks: usize, train: usize, test: usize) -> Vec<OsString> {
    let mut a = os(&[
        "--backend",
        "cpu",
        "--threads",
        "1",
        "--no-fetch",
        "--ood",
        "none",
        "--clamp-grad",
        "1",
        "--test-samples",
        "2",
        "--train-samples",
        "2",
    ]);
    a.extend(os(&["--tasks", &tasks.to_string()]));
    a.extend(os(&["--train-limit", &train.to_string()]));
    a.extend(os(&["--test-limit", &test.to_string()]));
    a.push("--data-dir".into());
    a.push(data_dir());
    a
}

/// `flags` with `flag` set to `value` (replacing it when present).
fn with(flags: &[OsString], flag: &str, value: OsString) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < flags.len() {
        if flags[i] == flag {
            i += 2;
        } else {
            out.push(flags[i].clone());
            i += 1;
        }
    }
    out.push(flag.into());
    out.push(value);
    out
}

const BAD_NUMBERS: &[&str] = &[
    "-1",
    "0",
    "99999999999999999999",
    "4294967297",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "",
    "garbage",
    "1,,2",
    "0x10",
];

/// Whether case `i` of a table runs: all of them with MESU_PROBE_FULL=1,
/// a rotating third otherwise.
fn picked(i: usize) -> bool {
    full() || i.is_multiple_of(3)
}

/// The stream's numeric flags (no subcommand), and the sweep's (lists) and
/// the Hessian check's.
/// Every numeric run setting's flag (the settings table, so the probe
/// follows it), less `except`, then `extra`: a subcommand's own numbers.
fn numeric_flags(except: &[&str], extra: &[&str]) -> Vec<String> {
    mesu::config::SETTINGS
        .iter()
        .filter(|s| s.kind != mesu::config::defs::Kind::Optimizer)
        .map(|s| s.flag())
        .filter(|f| !except.contains(&f.as_str()))
        .chain(extra.iter().map(|f| f.to_string()))
        .collect()
}

/// The stream's numbers, beside the settings' in a run and a sweep.
const STREAM_NUMERIC: &[&str] = &[
    "--tasks",
    "--train-limit",
    "--eval-every",
    "--test-limit",
    "--threads",
];
const SWEEP_NUMERIC: &[&str] = &[
    "--seeds",
    "--max-group",
    "--group-memory-mib",
    "--only-group",
];
/// `mesu reproduce`'s own numbers (its probe plans and never trains).
const REPRODUCE_NUMERIC: &[&str] = &[
    "--tasks",
    "--seeds",
    "--seed",
    "--max-group",
    "--group-memory-mib",
    "--only-group",
    "--train-limit",
    "--test-limit",
    "--threads",
];
const HESSIAN_NUMERIC: &[&str] = &["--at", "--weights", "--train-limit", "--threads"];

/// The base flags of each subcommand's probe: tiny, on the CPU.
fn base_of(sub: &str, out: &Path) -> Vec<OsString> {
    let mut a: Vec<OsString> = match sub {
        "run" => tiny(1, 20, 20),
        "sweep" => {
            let mut a = os(&["sweep"]);
            a.extend(tiny(1, 20, 20));
            a
        }
        "hessian" => {
            let mut a = os(&[
                "hessian",
                "--backend",
                "cpu",
                "--threads",
                "1",
                "--no-fetch",
                "--at",
                "5,10",
                "--weights",
                "5",
                "--train-limit",
                "20",
                "--train-samples",
                "2",
                "--clamp-grad",
                "1",
            ]);
            a.push("--data-dir".into());
            a.push(data_dir());
            a
        }
        "reproduce" => os(&[
            "reproduce",
            "fig3",
            "--dry-run",
            "--backend",
            "cpu",
            "--threads",
            "1",
        ]),
        _ => os(&["info", "--backend", "cpu", "--threads", "1"]),
    };
    if sub != "info" {
        a.push("--out".into());
        a.push(out.into());
    }
    a
}

/// Every numeric flag of every subcommand, with every bad number: refused
/// with a message, or a valid run; never a panic, a hang or a stray write.
#[test]
fn bad_numbers_of_every_subcommand() {
    let mut tally = Tally::default();
    let sb = Sandbox::new("numbers");
    let sweep = [STREAM_NUMERIC, SWEEP_NUMERIC].concat();
    let tables: [(&str, Vec<String>); 5] = [
        ("run", numeric_flags(&[], STREAM_NUMERIC)),
        ("sweep", numeric_flags(&[], &sweep)),
        // The Hessian check trains one epoch and evaluates no test set.
        (
            "hessian",
            numeric_flags(&["--epochs", "--test-samples"], HESSIAN_NUMERIC),
        ),
        (
            "reproduce",
            REPRODUCE_NUMERIC.iter().map(|f| f.to_string()).collect(),
        ),
        ("info", vec!["--threads".into()]),
    ];
    let mut i = 0;
    for (sub, flags) in tables {
        for flag in flags {
            for value in BAD_NUMBERS {
                i += 1;
                if !picked(i) {
                    continue;
                }
                let out = sb.fresh("out");
                let args = with(&base_of(sub, &out), &flag, value.into());
                case(
                    &mut tally,
                    &sb,
                    &format!("{sub} {flag} {value:?}"),
                    &args,
                    Allow::Long,
                );
            }
        }
    }
    tally.report("bad numbers");
}

/// The odd things a path can be, made under the sandbox.
fn odd_paths(sb: &Sandbox) -> Vec<(&'static str, OsString)> {
    let file = sb.root.join("a-file");
    std::fs::write(&file, "not what you think").unwrap();
    let dir = sb.root.join("a-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = sb.root.join("a-fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let link = sb.root.join("a-link");
    std::os::unix::fs::symlink(&sb.outside, &link).unwrap();
    let mut bytes = sb.root.as_os_str().as_bytes().to_vec();
    bytes.extend_from_slice(b"/bad\xff\xfename");
    let mut newline = sb.root.as_os_str().to_owned();
    newline.push("/new\nline $(touch pwned)");
    let long = sb.root.join("x".repeat(300));
    let longer = sb.root.join(vec!["y".repeat(200); 25].join("/"));
    vec![
        ("regular file", file.into()),
        ("folder", dir.into()),
        ("missing", sb.root.join("missing/deeper").into()),
        ("/dev/null", "/dev/null".into()),
        ("fifo", fifo.into()),
        ("symlink to outside", link.into()),
        ("non-UTF-8", OsString::from_vec(bytes)),
        ("newline", newline),
        ("long name", long.into()),
        ("long path", longer.into()),
        ("empty", "".into()),
    ]
}

/// Every path flag with every odd path: never a panic, a hang (a tiny run
/// ends well within the bound; `sweep --emit-jobs FIFO` once blocked past
/// SIGTERM) or a write outside --out (a symlink given as --out is the user's choice of folder,
/// so its target is not a sentinel there).
#[test]
fn odd_paths_for_every_path_flag() {
    let mut tally = Tally::default();
    let sb = Sandbox::new("paths");
    let paths = odd_paths(&sb);
    let flags: [(&str, &str); 10] = [
        ("run", "--out"),
        ("run", "--data-dir"),
        ("run", "--config"),
        ("run", "--resume"),
        ("sweep", "--grid"),
        ("sweep", "--out"),
        ("sweep", "--emit-jobs"),
        ("sweep", "--collect"),
        ("reproduce", "--emit-jobs"),
        ("reproduce", "--collect"),
    ];
    let mut i = 0;
    for (sub, flag) in flags {
        for (kind, path) in &paths {
            i += 1;
            if !picked(i) && !matches!(*kind, "fifo" | "non-UTF-8" | "newline") {
                continue;
            }
            let out = sb.fresh("out");
            let mut args = base_of(sub, &out);
            if flag == "--resume" {
                args = os(&["--resume"]);
            }
            let args = with(&args, flag, path.clone());
            let name = format!("{sub} {flag} {kind}");
            if *kind == "symlink to outside" && flag.ends_with("out") {
                // The user named that folder: writing there is the point.
                let snapshot = Sandbox {
                    root: sb.root.clone(),
                    cwd: sb.cwd.clone(),
                    outside: sb.root.join("nothing"),
                };
                case(&mut tally, &snapshot, &name, &args, Allow::Success);
                std::mem::forget(snapshot);
                for e in std::fs::read_dir(&sb.outside).unwrap().flatten() {
                    if e.file_name() != "precious.txt" {
                        let _ = std::fs::remove_dir_all(e.path());
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            } else {
                case(&mut tally, &sb, &name, &args, Allow::Success);
            }
        }
    }
    tally.report("odd paths");
}

/// The two files that must match an uninterrupted run bit for bit.
const COMPARED: &[&str] = &["accuracy_matrix.csv", "sigma_stats.csv"];

fn results(dir: &Path) -> Vec<Option<Vec<u8>>> {
    COMPARED
        .iter()
        .map(|f| std::fs::read(dir.join(f)).ok())
        .collect()
}

/// The flags of the resumable tiny run (3 tasks) into `out`.
fn stream(out: &Path, seed: &str) -> Vec<OsString> {
    let mut a = tiny(3, 200, 100);
    a.extend(os(&["--seed", seed]));
    a.push("--out".into());
    a.push(out.into());
    a
}

fn resume(out: &Path) -> Vec<OsString> {
    vec!["--resume".into(), out.into()]
}

/// A finished run's folder, made once per test.
fn finished(sb: &Sandbox, name: &str, seed: &str) -> PathBuf {
    let dir = sb.root.join(name);
    let out = run_bounded(&stream(&dir, seed), &sb.cwd, Duration::from_secs(120));
    assert!(
        matches!(out, Outcome::Exited { code: Some(0), .. }),
        "the reference run failed"
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// One way of spoiling a file of a results folder.
type Tamper = fn(&Path, &Path, &Path);

fn tampers() -> Vec<(&'static str, Tamper)> {
    vec![
        ("truncated", |f, _, _| {
            let b = std::fs::read(f).unwrap_or_default();
            std::fs::write(f, &b[..b.len() / 2]).unwrap();
        }),
        ("emptied", |f, _, _| std::fs::write(f, "").unwrap()),
        ("garbage", |f, _, _| {
            std::fs::write(f, "\u{0}garbage{{[\n").unwrap()
        }),
        ("flipped byte", |f, _, _| {
            let mut b = std::fs::read(f).unwrap_or_default();
            if !b.is_empty() {
                let at = b.len() * 2 / 3;
                b[at] ^= 0x10;
            }
            std::fs::write(f, b).unwrap();
        }),
        ("deleted", |f, _, _| {
            let _ = std::fs::remove_file(f);
        }),
        ("other run's", |f, other, _| {
            let _ = std::fs::copy(other.join(f.file_name().unwrap()), f);
        }),
        ("symlink to outside", |f, _, outside| {
            let _ = std::fs::remove_file(f);
            std::os::unix::fs::symlink(outside.join("precious.txt"), f).unwrap();
        }),
    ]
}

/// A finished run's folder with a file spoiled, then `--resume` (and
/// `--resume --tasks 4`, extending): refused with a message, or finished
/// with the uninterrupted run's numbers. Also an edited config.json and
/// planted extra files.
#[test]
fn tampered_results_folders_resume_exactly_or_are_refused() {
    let mut tally = Tally::default();
    let sb = Sandbox::new("tamper");
    let reference = finished(&sb, "reference", "0");
    let other = finished(&sb, "other", "1");
    let expected = results(&reference);
    let files = [
        "config.json",
        "metrics.json",
        "checkpoint.safetensors",
        "rows.jsonl",
        "accuracy_matrix.csv",
        "sigma_stats.csv",
        "calibration.csv",
        "complete",
    ];
    let mut i = 0;
    for file in files {
        for (how, tamper) in tampers() {
            i += 1;
            if !picked(i) && !matches!(file, "config.json" | "checkpoint.safetensors") {
                continue;
            }
            let dir = sb.fresh("victim");
            copy_dir(&reference, &dir);
            tamper(&dir.join(file), &other, &sb.outside);
            let name = format!("{file} {how}, --resume");
            if case(&mut tally, &sb, &name, &resume(&dir), Allow::Success)
                && results(&dir) != expected
            {
                tally.corruptions.push(name);
            }
        }
    }
    for (edit, from, to) in [
        ("seed", "\"seed\": 0", "\"seed\": 7"),
        ("tasks", "\"tasks\": 3", "\"tasks\": 2"),
        (
            "unknown key",
            "\"seed\": 0",
            "\"seed\": 0, \"out\": \"/elsewhere\"",
        ),
        ("lr", "\"lr_mu\": 1.0", "\"lr_mu\": 0.5"),
    ] {
        let dir = sb.fresh("victim");
        copy_dir(&reference, &dir);
        let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
        std::fs::write(dir.join("config.json"), text.replacen(from, to, 1)).unwrap();
        let name = format!("config.json {edit} edited, --resume");
        if case(&mut tally, &sb, &name, &resume(&dir), Allow::Success) && results(&dir) != expected
        {
            tally.corruptions.push(name);
        }
    }
    for (planted, link) in [
        ("notes.txt", false),
        (".mesu.lock", true),
        ("config.json.tmp", true),
        ("checkpoint.safetensors.tmp", true),
        ("rows.jsonl.tmp", true),
        ("plots", true),
    ] {
        let dir = sb.fresh("victim");
        copy_dir(&reference, &dir);
        let _ = std::fs::remove_file(dir.join("complete"));
        if link {
            let _ = std::fs::remove_file(dir.join(planted));
            std::os::unix::fs::symlink(sb.outside.join("precious.txt"), dir.join(planted)).unwrap();
        } else {
            std::fs::write(dir.join(planted), "the user's notes").unwrap();
        }
        let name = format!("planted {planted}, --resume");
        if case(&mut tally, &sb, &name, &resume(&dir), Allow::Success) && results(&dir) != expected
        {
            tally.corruptions.push(name);
        }
    }
    tally.report("tampered folders");
}

/// A tiny deterministic generator for the kill moments.
fn moments(n: usize, seed: u64, most_ms: u64) -> Vec<u64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) % most_ms
        })
        .collect()
}

/// Starts `args`, signals it after `after`; returns once it has ended,
/// or files a hang when it outlives the signal by 20 s.
fn interrupt(
    tally: &mut Tally,
    sb: &Sandbox,
    name: &str,
    args: &[OsString],
    after: Duration,
    sig: i32,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesu"))
        .args(args)
        .current_dir(&sb.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mesu");
    std::thread::sleep(after);
    // SAFETY: signalling our own child by its id.
    unsafe { libc::kill(child.id() as i32, sig) };
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().ok();
            tally
                .hangs
                .push(format!("{name}: did not end after the signal"));
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("panicked at") || out.status.code() == Some(101) {
        tally.panics.push(format!("{name}: {stderr}"));
    }
}

/// A tiny run killed (SIGKILL or SIGTERM) at random moments, sometimes
/// again during its resume, then resumed to the end: the same bits as the
/// uninterrupted run. A folder killed before it holds anything may be
/// refused by `--resume`; then the first command is repeated.
#[test]
fn killed_runs_resume_bit_identically() {
    let mut tally = Tally::default();
    let sb = Sandbox::new("kill");
    let reference = finished(&sb, "reference", "0");
    let expected = results(&reference);
    let start = Instant::now();
    let probe = |name: &str| {
        let dir = sb.root.join(name);
        run_bounded(&stream(&dir, "0"), &sb.cwd, Duration::from_secs(120));
        start.elapsed()
    };
    let whole = probe("timing").as_millis() as u64;
    let kills = if full() { 40 } else { 8 };
    let seed = std::env::var("MESU_PROBE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(22);
    let at = moments(kills * 2, seed, whole.max(200));
    for k in 0..kills {
        let dir = sb.fresh("killed");
        let sig = if k % 2 == 0 {
            libc::SIGKILL
        } else {
            libc::SIGTERM
        };
        let name = format!(
            "kill {k} ({}) at {} ms",
            if sig == libc::SIGKILL { "KILL" } else { "TERM" },
            at[2 * k]
        );
        interrupt(
            &mut tally,
            &sb,
            &name,
            &stream(&dir, "0"),
            Duration::from_millis(at[2 * k]),
            sig,
        );
        if k % 3 == 1 {
            interrupt(
                &mut tally,
                &sb,
                &format!("{name}, resume"),
                &resume(&dir),
                Duration::from_millis(at[2 * k + 1]),
                libc::SIGKILL,
            );
        }
        tally.cases += 1;
        let resumed = run_bounded(&resume(&dir), &sb.cwd, Duration::from_secs(120));
        let ok = match resumed {
            Outcome::Exited { code: Some(0), .. } => true,
            Outcome::Exited { code, stderr }
                if !is_panic(code, &stderr) && good_refusal(&stderr) =>
            {
                let again = run_bounded(&stream(&dir, "0"), &sb.cwd, Duration::from_secs(120));
                match again {
                    Outcome::Exited { code: Some(0), .. } => true,
                    Outcome::Exited { stderr, .. } => {
                        tally.bad_refusals.push(format!(
                            "{name}: resume refused ({}), rerun failed: {stderr}",
                            stderr.trim()
                        ));
                        false
                    }
                    Outcome::Running => {
                        tally.hangs.push(format!("{name}: rerun"));
                        false
                    }
                }
            }
            Outcome::Exited { code, stderr } if is_panic(code, &stderr) => {
                tally.panics.push(format!("{name}: resume {stderr}"));
                false
            }
            Outcome::Exited { stderr, .. } => {
                tally.bad_refusals.push(format!("{name}: resume {stderr}"));
                false
            }
            Outcome::Running => {
                tally.hangs.push(format!("{name}: resume"));
                false
            }
        };
        if ok && results(&dir) != expected {
            tally.corruptions.push(name);
        }
    }
    tally.report("killed runs");
}

/// Sizes past the machine's memory are refused with the estimate before
/// anything is allocated (found by the full probe: `--hidden 4294967297`,
/// `--train-samples`, `--test-samples` and `sweep --seeds` of 2^32 + 1
/// aborted with "memory allocation failed").
#[test]
fn sizes_past_the_machine_are_refused_before_allocating() {
    let mut tally = Tally::default();
    let sb = Sandbox::new("sizes");
    let huge = "4294967297";
    for (sub, flag) in [
        ("run", "--hidden"),
        ("run", "--train-samples"),
        ("run", "--test-samples"),
        ("sweep", "--seeds"),
        ("reproduce", "--seeds"),
        ("hessian", "--train-samples"),
        ("hessian", "--hidden"),
    ] {
        let out = sb.fresh("out");
        let args = with(&base_of(sub, &out), flag, huge.into());
        let name = format!("{sub} {flag} {huge}");
        assert!(
            !case(&mut tally, &sb, &name, &args, Allow::Success),
            "{name} ran"
        );
    }
    assert_eq!(tally.ended[1], tally.cases, "every case refused");
    tally.report("huge sizes");
}
