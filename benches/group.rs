//! A batched group of R seeds against R separate runs, at the paper's
//! protocol (784-H-10, batch 1, K = 10 train and test samples):
//! `cargo bench --bench group [-- R [H]]` (R = 8, H = 50 by default; issue
//! 24's goal is at R = 32, H = 512). A task is 60000 training steps and one
//! evaluation of the 10000 test images; both engines are measured in the
//! same run, alternately, and the task time is extrapolated from median
//! rates. Prints a table and writes target/bench-group-R-H.csv.

mod common;

use common::median;

use std::time::Instant;

use mesu::Error;
use mesu::backend::wgpu::{AdapterChoice, Engine, GpuContext};
use mesu::data::{CLASSES, DatasetKind, PIXELS, load};
use mesu::model::{Architecture, EngineConfig};
use mesu::optim::{Hyper, RunSpec};

/// An engine of `r` seeds of 784-`hidden`-10, trained a little so every
/// pipeline is compiled.
fn engine(r: usize, hidden: usize, data: &mesu::data::Dataset) -> (Engine, mesu::model::EvalSet) {
    let ctx = GpuContext::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}"));
    let arch = Architecture::new(PIXELS, &[hidden], CLASSES, false).unwrap();
    let runs = (0..r as u64)
        .map(|seed| RunSpec {
            seed,
            hyper: Hyper::default(),
        })
        .collect();
    let mut e = Engine::new(ctx, arch, runs, EngineConfig::default()).unwrap();
    e.set_train_data(&data.train).unwrap();
    let perms = vec![(0..PIXELS as u32).collect::<Vec<_>>(); r];
    e.set_task(&perms).unwrap();
    e.set_order(&vec![(0..data.train.len() as u32).collect::<Vec<_>>(); r])
        .unwrap();
    train(&mut e, 0, 20);
    let test = e.add_eval_set(&data.test).unwrap();
    e.evaluate(test, &perms, 0).unwrap();
    (e, test)
}

/// Train; a run whose sigma crosses zero (MESU does at step 0 for some
/// seeds) stops being checked but costs the same, so timing goes on.
fn train(e: &mut Engine, first: usize, steps: usize) {
    match e.train_steps(first, steps) {
        Ok(_) | Err(Error::Diverged { .. }) => {}
        Err(err) => panic!("{err}"),
    }
}

fn main() {
    // cargo bench passes `--bench` too: the numbers are R, then H.
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let r = numbers.first().copied().unwrap_or(8);
    let hidden = numbers.get(1).copied().unwrap_or(50);
    let data = load(DatasetKind::Mnist, std::path::Path::new("data/mnist"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut alone, alone_test) = engine(1, hidden, &data);
    let (mut group, group_test) = engine(r, hidden, &data);
    let adapter = alone.ctx.describe();
    let steps = 400;
    let (mut rate1, mut rate_r, mut eval1, mut eval_r) = (vec![], vec![], vec![], vec![]);
    for i in 0..5 {
        let first = 100 + i * steps;
        for (e, rates) in [(&mut alone, &mut rate1), (&mut group, &mut rate_r)] {
            let t = Instant::now();
            train(e, first, steps);
            rates.push(steps as f64 / t.elapsed().as_secs_f64());
        }
        for (e, test, secs) in [
            (&mut alone, alone_test, &mut eval1),
            (&mut group, group_test, &mut eval_r),
        ] {
            let perms = vec![(0..PIXELS as u32).collect::<Vec<_>>(); e.run_count()];
            let t = Instant::now();
            e.evaluate(test, &perms, 1 + i as u32).unwrap();
            secs.push(t.elapsed().as_secs_f64());
        }
    }
    let (rate1, rate_r, eval1, eval_r) =
        (median(rate1), median(rate_r), median(eval1), median(eval_r));
    let task_steps = data.train.len() as f64;
    let task1 = task_steps / rate1 + eval1;
    let task_r = task_steps / rate_r + eval_r;
    let separate = r as f64 * task1;
    println!("adapter: {adapter}, 784-{hidden}-10");
    let diverged = group.divergences().iter().filter(|d| d.is_some()).count();
    if diverged > 0 {
        println!("({diverged} of the {r} seeds diverged early; their steps cost the same)");
    }
    println!("{:<56} {:>12}", "benchmark (median of 5)", "value");
    let rows = [
        ("steps/s, 1 run".to_string(), rate1),
        (
            format!("steps/s, group of {r} (each step moves every run)"),
            rate_r,
        ),
        (
            "evaluation of 10000 images x 10 samples, 1 run, s".into(),
            eval1,
        ),
        (format!("evaluation, group of {r}, s"), eval_r),
        ("task (60000 steps + 1 evaluation), 1 run, s".into(), task1),
        (
            format!("task, {r} separate runs one after another, s"),
            separate,
        ),
        (format!("task, group of {r}, s"), task_r),
        (
            format!("speed-up of the group over {r} separate runs"),
            separate / task_r,
        ),
    ];
    let mut csv = String::from("benchmark,value\n");
    for (name, value) in &rows {
        println!("{name:<56} {value:>12.2}");
        csv.push_str(&format!("\"{name}\",{value}\n"));
    }
    std::fs::create_dir_all("target").ok();
    let path = format!("target/bench-group-{r}-{hidden}.csv");
    std::fs::write(&path, csv).unwrap_or_else(|e| panic!("write {path}: {e}"));
    println!("wrote {path}");
}
