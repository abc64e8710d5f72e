//! `--config FILE.json` in the authors' format (mesu-pmnist's
//! configurations/): every field of their permuted-MNIST files maps to a
//! flag, flags on the command line win, an unknown key is an error naming it.

use mesu::authors_config::{expand_args, flags};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

fn pairs(flags: &[String]) -> Vec<(String, String)> {
    flags
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

#[test]
fn every_field_of_a_pmnist_configuration_maps() {
    let got = pairs(&flags(&read("authors-mesu.json")).unwrap());
    let want = [
        ("--hidden", "200,200"),
        ("--optimizer", "mesu"),
        ("--lr-mu", "0.46"),
        ("--lr-sigma", "1.58"),
        ("--mu-prior", "0"),
        ("--sigma-prior", "0.02"),
        ("--n", "5800000"),
        ("--clamp-grad", "1"),
        ("--dataset", "mnist"),
        ("--train-samples", "8"),
        ("--test-samples", "6"),
        ("--tasks", "3"),
        ("--epochs", "2"),
        ("--batch-size", "100"),
        ("--seed", "42"),
    ];
    for (flag, value) in want {
        assert!(
            got.contains(&(flag.to_string(), value.to_string())),
            "{flag} {value} missing from {got:?}"
        );
    }
    assert_eq!(got.len(), want.len(), "{got:?}");
}

#[test]
fn the_optimizers_map() {
    for (theirs, ours) in [
        ("bgd", "bgd"),
        ("foovbdiagonal", "foovb-published"),
        ("sgd", "sgd"),
    ] {
        let got = flags(&format!(r#"{{"optimizer": "{theirs}"}}"#)).unwrap();
        assert_eq!(got, ["--optimizer", ours]);
    }
    let err = flags(r#"{"optimizer": "foovbmatrixvariate"}"#).unwrap_err();
    assert!(err.contains("foovbmatrixvariate"), "{err}");
}

#[test]
fn an_unknown_key_fails_naming_it() {
    let err = flags(&read("authors-unknown-key.json")).unwrap_err();
    assert!(err.contains("dropout"), "{err}");
    let err = flags(r#"{"optimizer_params": {"lr_mu": 1, "beta": 2}}"#).unwrap_err();
    assert!(err.contains("optimizer_params.beta"), "{err}");
    let err = flags(r#"{"network_params": {"layers": [784, 50, 10], "bias": true}}"#).unwrap_err();
    assert!(err.contains("network_params.bias"), "{err}");
}

#[test]
fn flags_on_the_command_line_win() {
    let file = format!("{FIXTURES}/authors-mesu.json");
    let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let out = expand_args(args(&[
        "mesu",
        "--config",
        &file,
        "--seed",
        "3",
        "--hidden=50",
    ]))
    .unwrap();
    assert_eq!(out[0], "mesu");
    assert!(!out.iter().any(|a| a.starts_with("--config")), "{out:?}");
    // The command line's --seed and --hidden only, the file's others.
    assert_eq!(out.iter().filter(|a| *a == "--seed").count(), 1);
    assert_eq!(out[out.len() - 3..], ["--seed", "3", "--hidden=50"]);
    assert!(!out.iter().any(|a| a == "--hidden"), "{out:?}");
    assert!(out.windows(2).any(|w| w == ["--n", "5800000"]));
    // Without --config nothing changes.
    let plain = args(&["mesu", "--tasks", "2"]);
    assert_eq!(expand_args(plain.clone()).unwrap(), plain);
    let err = expand_args(args(&["mesu", "--config=/nonexistent.json"])).unwrap_err();
    assert!(err.contains("/nonexistent.json"), "{err}");
}

/// The command refuses a file with an unknown key before doing anything.
#[test]
fn the_command_names_an_unknown_key() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesu"))
        .args(["--config", &format!("{FIXTURES}/authors-unknown-key.json")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key dropout"), "{err}");
}
