//! The flags that repeat the run a results folder's config.json records
//! (`mesu --config DIR/config.json`, `mesu --resume DIR`): read strictly
//! into a typed `RunConfig`, so only known settings become flags.

use super::SETTINGS;
use super::identity::RunConfig;

/// One flag with its value, if it takes one: `["--seed", "3"]`, `["--bias"]`.
pub type Flag = Vec<String>;

fn flag(name: &str, value: impl ToString) -> Flag {
    vec![name.into(), value.to_string()]
}

/// The flags of config.json's text `text`: every setting of its identity,
/// and its data folder. An unknown key or a value of the wrong type is an
/// error naming it.
pub fn repeat_flags(text: &str) -> Result<Vec<Flag>, String> {
    let config: RunConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let id = &config.identity;
    let mut out: Vec<Flag> = SETTINGS
        .iter()
        .filter_map(|s| Some(flag(&s.flag(), s.get(&id.run)?)))
        .collect();
    out.push(flag("--tasks", id.tasks));
    out.push(flag("--dataset", id.dataset.name()));
    out.push(flag("--eval-every", id.eval_every));
    out.extend(id.train_limit.map(|n| flag("--train-limit", n)));
    out.extend(id.test_limit.map(|n| flag("--test-limit", n)));
    out.push(flag("--ood", id.ood.name()));
    if !id.backend.is_empty() {
        out.push(flag("--backend", &id.backend));
    }
    if id.eval_all {
        out.push(flag("--eval", "all"));
    }
    let switches = [
        ("--bias", id.bias),
        ("--shuffle", id.shuffle),
        ("--no-permute", !id.permute),
    ];
    out.extend(switches.iter().filter(|s| s.1).map(|s| vec![s.0.into()]));
    if !config.data_dir.as_os_str().is_empty() {
        let dir = config.data_dir.to_str().ok_or("data_dir: not UTF-8")?;
        out.push(flag("--data-dir", dir));
    }
    Ok(out)
}
