//! `mesu [flags]`: one run of the permuted-task stream.

use std::io::IsTerminal;
use std::path::PathBuf;

use mesu::backend::profile_table;
use mesu::backend::{Device, DeviceChoice};
use mesu::config::{Ood, RunIdentity, UtcFormat, load_data, utc_now, validate_shared};
use mesu::launch::{stream_config, stream_run};
use mesu::report;
use mesu::report::run_group;
use mesu::report::{Prior, RunFolder};
use mesu::stream::Resume;

use super::args::TrainArgs;
use super::progress::StreamProgress;

pub fn run(args: &TrainArgs, choice: DeviceChoice) -> mesu::Result<()> {
    let (settings, mut shared) = (args.settings()?, args.stream.shared());
    validate_shared(&shared)?;
    settings.validate()?;
    let shape = settings.shape();
    let cfg = stream_config(&shape, &shared)?;
    let data = load_data(&shared)?;
    let device = Device::open(&choice)?;
    shared.backend = device.kind();
    let adapter = device.describe();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(format!(
            "{}-{}",
            utc_now(UtcFormat::Compact),
            settings.hyper.optimizer
        ))
    });
    println!(
        "mesu {}: {} on {}, {} tasks of {} {} images, {} -> {}",
        env!("CARGO_PKG_VERSION"),
        settings.hyper.optimizer,
        cfg.arch.describe(),
        shared.tasks,
        data.train.len(),
        shared.dataset.name(),
        adapter,
        out.display()
    );
    if data.train.len() < settings.batch_size {
        return Err(mesu::Error::TooFewExamples(data.train.len()));
    }
    let run = stream_run(&settings, &shared, &adapter, &data, out.clone());
    let identity = RunIdentity::new(&settings, &shared).to_json();
    let mut folder = RunFolder::open(&out, &identity, args.stream.force())?;
    let resume = match std::mem::replace(&mut folder.prior, Prior::Fresh) {
        Prior::Complete => {
            println!(
                "{} already holds this run, complete: nothing to do (--force runs it again)",
                out.display()
            );
            return Ok(());
        }
        Prior::Resume(checkpoint) => {
            let p = checkpoint.position;
            println!(
                "resuming from its checkpoint: task {} of {}, step {} of the task's {}",
                p.task + 1,
                shared.tasks,
                p.epoch * data.train.len() / settings.batch_size + p.batch,
                cfg.epochs * (data.train.len() / settings.batch_size)
            );
            Some(Resume {
                runs: vec![*checkpoint],
            })
        }
        Prior::Extend(checkpoint) => {
            println!(
                "extending its finished {}-task run to {} tasks (the same bits as a {}-task run)",
                checkpoint.position.task, shared.tasks, shared.tasks
            );
            Some(Resume {
                runs: vec![*checkpoint],
            })
        }
        Prior::Fresh => None,
    };
    let mut progress = StreamProgress::new(shared.tasks, std::io::stdout().is_terminal(), None);
    let result = run_group(&device, &data, &cfg, &[run], resume.as_ref(), &mut progress);
    progress.finish();
    if let Err(e) = folder.settle() {
        eprintln!("warning: {e} (settled when the folder is next used)");
    }
    if let Err(mesu::Error::Interrupted { .. }) = &result {
        println!(
            "stopped: `mesu --resume {0}` (or the same command) continues it; results so far in {0}",
            out.display()
        );
    }
    let outcome = result?;
    if let Some(msg) = &outcome.runs[0].diverged {
        return Err(format!("{msg} (results so far: {})", out.display()).into());
    }
    println!(
        "\n{}",
        report::summary_table(&outcome.runs[0].metrics(), shared.tasks)
    );
    println!(
        "calibration of the predictive distribution (mean over samples of softmax):\n{}",
        report::calibration_table(&outcome.runs[0].calibration, shared.tasks)
    );
    if let (Some(o), Some((kind, _))) = (outcome.runs[0].ood.last(), &data.ood) {
        let set = match shared.ood {
            Ood::PermutedMnist => "MNIST test set under a permutation of its own".to_string(),
            _ => format!("{} test set (unpermuted)", kind.name()),
        };
        println!(
            "OOD AUROC after task {}, {set} against the newest task's: \
             epistemic {:.3}, aleatoric {:.3}, predictive {:.3}\n",
            o.task + 1,
            o.epistemic,
            o.aleatoric,
            o.predictive
        );
    }
    if let Some((method, rows)) = &outcome.profile {
        println!("profile ({method}):\n{}", profile_table(rows));
    }
    let s = &outcome.timing;
    println!(
        "wall {:.1} s (train {:.1} s at {:.0} steps/s, evaluation {:.1} s) on {adapter}\nresults: {}",
        s.wall_s,
        s.train_s,
        s.steps_per_s,
        s.eval_s,
        out.display()
    );
    Ok(())
}
