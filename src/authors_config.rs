//! `mesu --config FILE.json`: a configuration file in the format of the
//! authors' JAX repository (kellian-cottart/mesu-pmnist, `configurations/`),
//! turned into this command's flags. Flags given on the command line win:
//! a setting the file holds is left out when its flag is given explicitly.
//! An unknown key, or a value this engine cannot run, is an error naming it.

use serde_json::{Map, Value};

/// Keys of the file read for their effect on the run only in the authors'
/// code (evaluation batching, how many permutations run in parallel): they
/// do not change results here, so they are accepted and not used.
const NO_EFFECT: [&str; 2] = ["test_batch_size", "max_parallel_permutation"];

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

pub use crate::config::Flag;
use crate::config::file::read_setting_file;

fn flag(name: &str, value: impl Into<String>) -> Flag {
    vec![name.into(), value.into()]
}

/// The flags a configuration stands for, in order, e.g. `[["--hidden",
/// "50"], ["--optimizer", "mesu"], ...]`: a file of the authors' format, or
/// a results folder's config.json (see `config::repeat_flags`).
pub fn flags(text: &str) -> Result<Vec<Flag>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let top = value.as_object().ok_or("not a JSON object")?;
    if top.contains_key("identity") {
        return crate::config::repeat_flags(text);
    }
    let mut out = Vec::new();
    // Their baselines are "optimizer": "sgd" plus a block naming the method,
    // which wins (keys come in alphabetical order).
    let (mut optimizer, mut method) = (None, None);
    for (key, v) in top {
        let name = match key.as_str() {
            "network" => {
                let net = string(key, v)?.to_lowercase();
                if !matches!(net.as_str(), "bayesianmlp" | "mlp") {
                    return Err(format!(
                        "network {net:?}: only bayesianmlp and mlp run here"
                    ));
                }
                continue;
            }
            "network_params" => {
                network(object(key, v)?, &mut out)?;
                continue;
            }
            "optimizer" => {
                // Their bgd.py and foovbdiagonal.py both carry the published
                // sign of the square-root term: ours is foovb-published
                // (`--optimizer bgd` is the corrected rule of the spec).
                optimizer = Some(match string(key, v)?.to_lowercase().as_str() {
                    "mesu" => "mesu",
                    "bgd" | "foovbdiagonal" => "foovb-published",
                    "sgd" => "sgd",
                    other => return Err(format!("optimizer {other:?} has no counterpart here")),
                });
                continue;
            }
            "optimizer_params" => {
                for (k, v) in object(key, v)? {
                    let name = match k.as_str() {
                        "lr_mu" | "lr" => "--lr-mu",
                        "lr_sigma" => "--lr-sigma",
                        "mu_prior" => "--mu-prior",
                        "sigma_prior" => "--sigma-prior",
                        "N" => "--n",
                        "clamp_grad" => "--clamp-grad",
                        _ => return Err(format!("unknown key optimizer_params.{k}")),
                    };
                    out.push(flag(name, number(k, v)?));
                }
                continue;
            }
            "online-ewc" | "stream-ewc" => {
                method = Some(if key == "online-ewc" {
                    "online-ewc"
                } else {
                    "stream-ewc"
                });
                for (k, v) in object(key, v)? {
                    let name = match k.as_str() {
                        "importance" => "--ewc-lambda",
                        "downweighting" => "--ewc-gamma",
                        _ => return Err(format!("unknown key {key}.{k}")),
                    };
                    out.push(flag(name, number(k, v)?));
                }
                continue;
            }
            "si" => {
                method = Some("si");
                for (k, v) in object(key, v)? {
                    if k != "coefficient" {
                        return Err(format!("unknown key si.{k}"));
                    }
                    out.push(flag("--si-c", number(k, v)?));
                }
                continue;
            }
            "ewc" => return Err(
                "ewc (one anchor per task) has no counterpart here; online-ewc and stream-ewc do"
                    .into(),
            ),
            "task" => {
                let task = string(key, v)?.to_lowercase();
                let (dataset, permute) = match task.as_str() {
                    "permutedmnist" => ("mnist", true),
                    "permutedfashionmnist" => ("fashion", true),
                    "mnist" => ("mnist", false),
                    "fashionmnist" | "fashion" => ("fashion", false),
                    _ => {
                        return Err(format!(
                            "task {task:?}: only MNIST and Fashion-MNIST, permuted or not"
                        ));
                    }
                };
                out.push(flag("--dataset", dataset));
                if !permute {
                    out.push(vec!["--no-permute".into()]);
                }
                continue;
            }
            "n_train_samples" => "--train-samples",
            "n_test_samples" => "--test-samples",
            "n_tasks" => "--tasks",
            "epochs" => "--epochs",
            "train_batch_size" => "--batch-size",
            "seed" => "--seed",
            k if NO_EFFECT.contains(&k) => continue,
            _ => return Err(format!("unknown key {key}")),
        };
        out.push(flag(name, number(key, v)?));
    }
    if let Some(name) = method.or(optimizer) {
        out.insert(0, flag("--optimizer", name));
    }
    Ok(out)
}

fn network(params: &Map<String, Value>, out: &mut Vec<Flag>) -> Result<(), String> {
    for (k, v) in params {
        match k.as_str() {
            "layers" => {
                let sizes: Vec<u64> = v
                    .as_array()
                    .and_then(|a| a.iter().map(Value::as_u64).collect())
                    .ok_or("network_params.layers: not a list of sizes")?;
                let hidden = match sizes.as_slice() {
                    [784, hidden @ .., 10] if !hidden.is_empty() => hidden,
                    _ => {
                        return Err(format!(
                            "network_params.layers {sizes:?}: 784, hidden..., 10"
                        ));
                    }
                };
                let hidden: Vec<String> = hidden.iter().map(u64::to_string).collect();
                out.push(flag("--hidden", hidden.join(",")));
            }
            "use_bias" => {
                if v.as_bool()
                    .ok_or("network_params.use_bias: not true or false")?
                {
                    out.push(vec!["--bias".into()]);
                }
            }
            "activation_fn" => {
                let f = string(k, v)?.to_lowercase();
                if f != "relu" {
                    return Err(format!("network_params.activation_fn {f:?}: only relu"));
                }
            }
            _ => return Err(format!("unknown key network_params.{k}")),
        }
    }
    Ok(())
}

fn string<'a>(key: &str, v: &'a Value) -> Result<&'a str, String> {
    v.as_str().ok_or_else(|| format!("{key}: not a string"))
}

fn object<'a>(key: &str, v: &'a Value) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{key}: not an object"))
}

fn number(key: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("{key}: not a number")),
    }
}

/// Where `args` gives `name` (`--config F` or `--config=F`), past the program.
fn position(args: &[OsString], name: &str) -> Option<usize> {
    args.iter()
        .position(|a| expands_to(a, name))
        .filter(|&at| at > 0)
}

/// Whether `args` (the program's name left out) gives `flag` itself.
fn gives(args: &[OsString], flag: &str) -> bool {
    args.iter().any(|a| expands_to(a, flag))
}

/// Whether `arg` is `flag` or `flag=...`.
fn expands_to(arg: &OsStr, flag: &str) -> bool {
    arg.to_str()
        .is_some_and(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
}

/// The command line with `--config FILE` (or `--config=FILE`) replaced by
/// the file's flags, placed first and left out where the command line gives
/// the same flag itself; `--resume DIR` stands for `--config DIR/config.json
/// --out DIR`. Without either the arguments come back as given. Arguments
/// need not be UTF-8 (paths); flags and `--flag=value` forms must be.
pub fn expand_args<A: Into<OsString>>(args: Vec<A>) -> Result<Vec<OsString>, String> {
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let (at, resume) = match (position(&args, "--config"), position(&args, "--resume")) {
        (Some(_), Some(_)) => {
            return Err(
                "--config and --resume: give one (--resume DIR reads DIR/config.json)".into(),
            );
        }
        (Some(at), None) => (at, false),
        (None, Some(at)) => (at, true),
        (None, None) => return Ok(args),
    };
    let mut rest = args;
    let arg = rest.remove(at);
    let name = if resume { "--resume" } else { "--config" };
    let given_path: OsString = match arg.to_str().and_then(|a| a.split_once('=')) {
        Some((_, p)) => p.into(),
        None if at < rest.len() => rest.remove(at),
        None => {
            return Err(format!(
                "{name} needs a {}",
                if resume { "results folder" } else { "file" }
            ));
        }
    };
    let shown = Path::new(&given_path).display().to_string();
    let path = if resume {
        let config = Path::new(&given_path).join("config.json");
        if !config.is_file() {
            return Err(format!(
                "--resume {shown}: no config.json there, so not a results folder of mesu"
            ));
        }
        if gives(&rest[1..], "--out") {
            return Err("--resume DIR continues the run in DIR: leave out --out".into());
        }
        rest.extend([OsString::from("--out"), given_path.clone()]);
        config
    } else {
        PathBuf::from(&given_path)
    };
    let fail = |e: String| format!("{name} {}: {e}", path.display());
    let text = read_setting_file(&path).map_err(fail)?;
    let from_file = flags(&text).map_err(fail)?;
    let program = rest.remove(0);
    let mut out = vec![program];
    for f in from_file {
        if !gives(&rest, &f[0]) {
            out.extend(f.into_iter().map(OsString::from));
        }
    }
    out.extend(rest);
    Ok(out)
}

/// Whether `arg` is `--config`/`--resume` (or their `=` forms).
pub fn expands(arg: &OsStr) -> bool {
    expands_to(arg, "--config") || expands_to(arg, "--resume")
}
