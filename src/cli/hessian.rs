//! `mesu hessian`: the Hessian check from the command line.

use std::path::PathBuf;
use std::time::Instant;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use mesu::backend::{Device, DeviceChoice};
use mesu::config::identity::{HessianIdentity, HessianSettings};
use mesu::config::{Ood, load_data, validate_shared};
use mesu::hessian::{self, Event, LayerCheck, Study};
use mesu::optim::Optimizer;
use mesu::report::{claim, settle_replaced};
use serde_json::json;

use super::args::TrainArgs;
use mesu::config::{UtcFormat, utc_now};

/// Flags of the stream that mean nothing here, refused when given.
const NOT_HERE: [&str; 10] = [
    "tasks",
    "epochs",
    "test_samples",
    "eval",
    "eval_every",
    "test_limit",
    "ood",
    "profile",
    "config",
    "resume",
];

/// Hides the stream's flags that `mesu hessian` refuses from its help.
pub fn hide_stream_flags(cli: clap::Command) -> clap::Command {
    cli.mut_subcommand("hessian", |c| {
        NOT_HERE
            .iter()
            .fold(c, |c, id| c.mut_arg(*id, |a| a.hide(true)))
    })
}

/// Seconds between two progress lines while training.
const PROGRESS_SECS: f64 = 30.0;

#[derive(Args, Debug)]
pub struct HessianArgs {
    #[command(flatten)]
    train: TrainArgs,
    /// Training steps at which to measure, increasing (1e6 is about 17
    /// epochs of MNIST at batch 1).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000,1000000",
          value_parser = parse_step, help_heading = "Hessian")]
    at: Vec<u64>,
    /// Weights per layer written to hessian.csv and plotted (a draw seeded
    /// by --seed, the same at every checkpoint); the correlations always
    /// use every weight.
    #[arg(long, default_value_t = 500, help_heading = "Hessian")]
    weights: usize,
    /// Write and plot every weight.
    #[arg(long, help_heading = "Hessian")]
    all_weights: bool,
}

/// "1000", "1e6": a whole number of steps.
fn parse_step(s: &str) -> Result<u64, String> {
    let v: f64 = s.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    if !(v >= 1.0 && v.fract() == 0.0 && v <= 1e15) {
        return Err(format!(
            "{s:?}: expected a whole number of steps, at least 1"
        ));
    }
    Ok(v as u64)
}

pub fn run(args: &HessianArgs, matches: &ArgMatches, choice: DeviceChoice) -> mesu::Result<()> {
    if let Some(id) = NOT_HERE
        .iter()
        .find(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
    {
        return Err(format!(
            "--{} does not apply to `mesu hessian`: it trains one unpermuted task for the steps of --at",
            id.replace('_', "-")
        )
        .into());
    }
    let settings = args.train.settings()?;
    settings.validate()?;
    if settings.hyper.optimizer != Optimizer::Mesu {
        return Err(format!(
            "`mesu hessian` checks MESU's curvature estimate; --optimizer {} has none",
            settings.hyper.optimizer
        )
        .into());
    }
    if !args.at.windows(2).all(|w| w[0] < w[1]) {
        return Err("--at: the steps must be increasing, e.g. 1000,10000,100000".into());
    }
    if args.weights == 0 && !args.all_weights {
        return Err("--weights must be at least 1 (or pass --all-weights)".into());
    }
    let mut shared = args.train.stream.shared();
    (shared.tasks, shared.ood) = (1, Ood::Off);
    validate_shared(&shared)?;
    let arch = settings.shape().architecture(shared.bias)?;
    let data = load_data(&shared)?;
    if data.train.len() < settings.batch_size {
        return Err(mesu::Error::TooFewExamples(data.train.len()));
    }
    let device = Device::open(&choice)?;
    let adapter = device.describe();
    let out = args.train.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(format!("{}-hessian", utc_now(UtcFormat::Compact)))
    });
    let weights = (!args.all_weights).then_some(args.weights);
    let identity = HessianIdentity {
        hessian: HessianSettings {
            run: settings.clone(),
            bias: shared.bias,
            dataset: shared.dataset,
            shuffle: shared.shuffle,
            train_limit: shared.train_limit,
            at: args.at.clone(),
            weights,
        },
    }
    .to_json();
    let files = hessian::files(&arch);
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let (_lock, same) = claim(&out, &identity, args.train.stream.force(), &names)?;
    #[derive(serde::Deserialize)]
    struct Completion {
        complete: bool,
    }
    let complete = std::fs::read_to_string(out.join("hessian.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Completion>(&text).ok())
        .is_some_and(|c| c.complete);
    if same && complete {
        println!(
            "{} already holds this check, complete: nothing to do (--force runs it again)",
            out.display()
        );
        return Ok(());
    }
    let study = Study {
        config: json!({
            "name": settings.name(),
            "command": "hessian",
            "crate_version": env!("CARGO_PKG_VERSION"),
            "adapter": adapter,
            "architecture": arch.describe(),
            "sizes": arch.sizes,
            "bias": shared.bias,
            "hyper": settings.hyper,
            "batch_size": settings.batch_size,
            "train_samples": settings.train_samples,
            "seed": settings.seed,
            "dataset": shared.dataset.name(),
            "data_dir": shared.data_dir,
            "shuffle": shared.shuffle,
            "train_images": data.train.len(),
            "at": args.at,
            "weights": weights,
            "identity": identity,
        }),
        arch,
        settings,
        shuffle: shared.shuffle,
        at: args.at.clone(),
        weights,
        out: out.clone(),
    };
    println!(
        "mesu {} hessian: mesu on {}, {} unpermuted {} images, N {}, checkpoints at {:?} steps, {} -> {}",
        env!("CARGO_PKG_VERSION"),
        study.arch.describe(),
        data.train.len(),
        shared.dataset.name(),
        study.settings.hyper.n,
        study.at,
        adapter,
        out.display()
    );
    let (start, mut last) = (Instant::now(), Instant::now());
    let per_epoch = (data.train.len() / study.settings.batch_size) as f64;
    let result = hessian::run(&device, &data.train, &study, &mut |event| match event {
        Event::Trained { step, target, loss } if last.elapsed().as_secs_f64() >= PROGRESS_SECS => {
            last = Instant::now();
            println!(
                "  step {step} of {target} (epoch {:.2}), loss {loss:.4}, {:.0} s",
                step as f64 / per_epoch,
                start.elapsed().as_secs_f64()
            );
        }
        Event::Trained { .. } => {}
        Event::Measured(m) => {
            last = Instant::now();
            println!(
                "step {} (epoch {:.2}): training loss {:.4}; train {:.1} s, curvature {:.1} s",
                m.step,
                m.step as f64 / per_epoch,
                m.train_loss,
                m.train_s,
                m.curvature_s
            );
            for layer in &m.layers {
                println!("{}", describe(layer));
            }
        }
    });
    if let Err(e) = settle_replaced(&out, &names) {
        eprintln!("warning: {e} (settled when the folder is next used)");
    }
    result?;
    println!(
        "wall {:.1} s on {adapter}\nresults: {}",
        start.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

/// One layer's line: correlations of MESU's estimate with the Hessian
/// diagonal and the Fisher, and the ratio's quartiles.
fn describe(c: &LayerCheck) -> String {
    let (h, f) = (&c.mesu_vs_hessian, &c.mesu_vs_fisher);
    format!(
        "  layer {}: vs Hessian r(log) {:.3}, Spearman {:.3}, mesu/H median {} [IQR {}..{}] over {} of {} weights; \
         vs Fisher r(log) {:.3}, Spearman {:.3}",
        c.layer + 1,
        h.pearson_log10,
        h.spearman,
        figure(h.ratio_median),
        figure(h.ratio_q1),
        figure(h.ratio_q3),
        h.count,
        c.weights,
        f.pearson_log10,
        f.spearman
    )
}

/// Three significant figures, in exponent form when far from 1.
fn figure(x: f64) -> String {
    if x != 0.0 && !(1e-2..1e4).contains(&x.abs()) {
        format!("{x:.2e}")
    } else {
        format!("{x:.3}")
    }
}
