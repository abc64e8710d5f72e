//! `.ci/apt-mirror.sh`: CI adds bookworm-backports on the mirror the
//! machine's apt already uses, so the project names no mirror host.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh apt configuration folder holding `files` (path, contents).
fn apt_dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesu-apt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sources.list.d")).unwrap();
    for (path, text) in files {
        std::fs::write(dir.join(path), text).unwrap();
    }
    dir
}

/// The script's output for `suite`, or None when it exits non-zero.
fn mirror(dir: &Path, suite: &str) -> Option<String> {
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/apt-mirror.sh"))
        .arg(suite)
        .env("APT_SOURCES_DIR", dir)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
}

#[test]
fn deb822_sources_give_the_first_enabled_uri_and_its_key() {
    let dir = apt_dir(
        "deb822",
        &[(
            "sources.list.d/debian.sources",
            "# a comment\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n\
             Enabled: no\n\nTypes: deb-src deb\nURIs: http://on.example/debian http://two.example/\n\
             Suites: bookworm bookworm-updates\nComponents: main\nSigned-By: /k.gpg\n\n\
             Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n",
        )],
    );
    assert_eq!(
        mirror(&dir, "bookworm").as_deref(),
        Some("http://on.example/debian /k.gpg")
    );
    assert_eq!(
        mirror(&dir, "bookworm-security").as_deref(),
        Some("http://sec.example/debian-security")
    );
    assert_eq!(mirror(&dir, "trixie"), None);
}

#[test]
fn one_line_sources_give_the_uri_after_the_options() {
    let dir = apt_dir(
        "oneline",
        &[(
            "sources.list",
            "# deb http://commented.example/debian bookworm main\n\
             deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://m.example/debian bookworm main\n",
        )],
    );
    assert_eq!(
        mirror(&dir, "bookworm").as_deref(),
        Some("http://m.example/debian /usr/share/keyrings/k.gpg")
    );
}

#[test]
fn no_sources_is_a_failure_not_a_guess() {
    assert_eq!(mirror(&apt_dir("empty", &[]), "bookworm"), None);
}
