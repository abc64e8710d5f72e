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

/// The flags a configuration stands for, in order, e.g. `["--hidden", "50",
/// "--optimizer", "mesu", ...]`.
pub fn flags(text: &str) -> Result<Vec<String>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let top = value.as_object().ok_or("not a JSON object")?;
    let mut out = Vec::new();
    for (key, v) in top {
        let flag = match key.as_str() {
            "network" => {
                let net = string(key, v)?;
                if !matches!(net, "bayesianmlp" | "mlp") {
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
                let name = match string(key, v)? {
                    "mesu" => "mesu",
                    "bgd" => "bgd",
                    "foovbdiagonal" => "foovb-published",
                    "sgd" => "sgd",
                    other => return Err(format!("optimizer {other:?} has no counterpart here")),
                };
                out.extend(["--optimizer".into(), name.into()]);
                continue;
            }
            "optimizer_params" => {
                for (k, v) in object(key, v)? {
                    let flag = match k.as_str() {
                        "lr_mu" => "--lr-mu",
                        "lr_sigma" => "--lr-sigma",
                        "mu_prior" => "--mu-prior",
                        "sigma_prior" => "--sigma-prior",
                        "N" => "--n",
                        "clamp_grad" => "--clamp-grad",
                        _ => return Err(format!("unknown key optimizer_params.{k}")),
                    };
                    out.extend([flag.into(), number(k, v)?]);
                }
                continue;
            }
            "task" => {
                let dataset = match string(key, v)? {
                    "PermutedMNIST" => "mnist",
                    "PermutedFashionMNIST" => "fashion",
                    other => return Err(format!("task {other:?}: only permuted MNIST streams")),
                };
                out.extend(["--dataset".into(), dataset.into()]);
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
        out.extend([flag.into(), number(key, v)?]);
    }
    Ok(out)
}

fn network(params: &Map<String, Value>, out: &mut Vec<String>) -> Result<(), String> {
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
                out.extend(["--hidden".into(), hidden.join(",")]);
            }
            "activation_fn" => {
                let f = string(k, v)?;
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

/// The command line with `--config FILE` (or `--config=FILE`) replaced by
/// the file's flags, placed first and left out where the command line gives
/// the same flag itself. Without `--config` the arguments come back as given.
pub fn expand_args(args: Vec<String>) -> Result<Vec<String>, String> {
    let at = args
        .iter()
        .position(|a| a == "--config" || a.starts_with("--config="));
    let Some(at) = at.filter(|&at| at > 0) else {
        return Ok(args);
    };
    let mut rest = args;
    let arg = rest.remove(at);
    let path = match arg.strip_prefix("--config=") {
        Some(p) => p.to_string(),
        None if at < rest.len() => rest.remove(at),
        None => return Err("--config needs a file".into()),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("--config {path}: {e}"))?;
    let from_file = flags(&text).map_err(|e| format!("--config {path}: {e}"))?;
    let program = rest.remove(0);
    let given = |flag: &str| {
        rest.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    let mut out = vec![program];
    for pair in from_file.chunks(2) {
        if !given(&pair[0]) {
            out.extend_from_slice(pair);
        }
    }
    out.extend(rest);
    Ok(out)
}
