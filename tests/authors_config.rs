//! `--config FILE.json` in the authors' format (mesu-pmnist's
//! configurations/): every field of their permuted-MNIST files maps to a
//! flag, flags on the command line win, an unknown key is an error naming it.

use mesu::authors_config::{expand_args, flags};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

fn pairs(flags: &[Vec<String>]) -> Vec<(String, String)> {
    flags
        .iter()
        .map(|f| (f[0].clone(), f.get(1).cloned().unwrap_or_default()))
        .collect()
}

fn pairs_of(text: &str) -> Vec<(String, String)> {
    pairs(&flags(text).unwrap())
}

fn pair(flag: &str, value: &str) -> (String, String) {
    (flag.into(), value.into())
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

/// Their bgd.py and foovbdiagonal.py both flip the square-root term's
/// sign, so both are foovb-published here (our bgd is the spec's rule).
#[test]
fn the_optimizers_map() {
    for (theirs, ours) in [
        ("bgd", "foovb-published"),
        ("foovbdiagonal", "foovb-published"),
        ("sgd", "sgd"),
        ("MESU", "mesu"),
    ] {
        let got = pairs_of(&format!(r#"{{"optimizer": "{theirs}"}}"#));
        assert_eq!(got, [pair("--optimizer", ours)]);
    }
    let err = flags(r#"{"optimizer": "foovbmatrixvariate"}"#).unwrap_err();
    assert!(err.contains("foovbmatrixvariate"), "{err}");
}

/// Their baselines are SGD plus a block naming the method; SGD's rate is "lr".
#[test]
fn the_baseline_configurations_map() {
    let online = r#"{"network": "mlp", "optimizer": "sgd", "optimizer_params": {"lr": 0.002},
        "online-ewc": {"importance": 2, "downweighting": 0.2}}"#;
    let got = pairs_of(online);
    assert_eq!(got[0], pair("--optimizer", "online-ewc"), "{got:?}");
    for want in [
        ("--lr-mu", "0.002"),
        ("--ewc-lambda", "2"),
        ("--ewc-gamma", "0.2"),
    ] {
        assert!(
            got.contains(&pair(want.0, want.1)),
            "{want:?} missing from {got:?}"
        );
    }
    assert_eq!(got.iter().filter(|p| p.0 == "--optimizer").count(), 1);
    let stream = r#"{"optimizer": "sgd", "stream-ewc": {"importance": 5, "downweighting": 0.2}}"#;
    assert_eq!(pairs_of(stream)[0], pair("--optimizer", "stream-ewc"));
    let si = pairs_of(r#"{"optimizer": "sgd", "si": {"coefficient": 1e-8}}"#);
    assert_eq!(si, [pair("--optimizer", "si"), pair("--si-c", "1e-8")]);
    let err = flags(r#"{"si": {"coefficient": 1, "xi": 2}}"#).unwrap_err();
    assert!(err.contains("si.xi"), "{err}");
    let err = flags(r#"{"ewc": {"importance": 1}}"#).unwrap_err();
    assert!(err.contains("ewc"), "{err}");
}

/// Their MNIST OOD configurations train one unpermuted task ("task": "MNIST").
#[test]
fn an_unpermuted_task_maps_to_no_permute() {
    let mut got = pairs_of(r#"{"task": "MNIST", "n_tasks": 1, "epochs": 1000}"#);
    got.sort();
    assert_eq!(
        got,
        [
            pair("--dataset", "mnist"),
            pair("--epochs", "1000"),
            pair("--no-permute", ""),
            pair("--tasks", "1"),
        ]
    );
    let bias = pairs_of(r#"{"network_params": {"layers": [784, 50, 10], "use_bias": true}}"#);
    assert!(bias.contains(&pair("--bias", "")), "{bias:?}");
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

fn strings(args: Vec<std::ffi::OsString>) -> Vec<String> {
    args.into_iter().map(|a| a.into_string().unwrap()).collect()
}

#[test]
fn flags_on_the_command_line_win() {
    let file = format!("{FIXTURES}/authors-mesu.json");
    let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let out = strings(
        expand_args(args(&[
            "mesu",
            "--config",
            &file,
            "--seed",
            "3",
            "--hidden=50",
        ]))
        .unwrap(),
    );
    assert_eq!(out[0], "mesu");
    assert!(!out.iter().any(|a| a.starts_with("--config")), "{out:?}");
    // The command line's --seed and --hidden only, the file's others.
    assert_eq!(out.iter().filter(|a| *a == "--seed").count(), 1);
    assert_eq!(out[out.len() - 3..], ["--seed", "3", "--hidden=50"]);
    assert!(!out.iter().any(|a| a == "--hidden"), "{out:?}");
    assert!(out.windows(2).any(|w| w == ["--n", "5800000"]));
    // Without --config nothing changes.
    let plain = args(&["mesu", "--tasks", "2"]);
    assert_eq!(strings(expand_args(plain.clone()).unwrap()), plain);
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
