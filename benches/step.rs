//! Training-step and evaluation throughput at the paper's shapes
//! (784-50-10, batch 1, K = 10) on the default adapter:
//! `cargo bench --bench step`. Prints a table and writes target/bench-step.csv.

use std::time::Instant;

use mesu::data::{CLASSES, DatasetKind, PIXELS, load};
use mesu::gpu::{AdapterChoice, GpuContext};
use mesu::model::{Architecture, Engine, EngineConfig};
use mesu::optim::{Hyper, RunSpec};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let data = load(DatasetKind::Mnist, std::path::Path::new("data/mnist"))
        .unwrap_or_else(|e| panic!("{e}"));
    let ctx = GpuContext::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}"));
    let adapter = ctx.describe();
    let arch = Architecture::new(PIXELS, &[50], CLASSES, false).unwrap();
    let runs = vec![RunSpec {
        seed: 0,
        hyper: Hyper::default(),
    }];
    let mut e = Engine::new(ctx, arch, runs, EngineConfig::default()).unwrap();
    e.set_train_data(&data.train).unwrap();
    let test = e.add_eval_set(&data.test).unwrap();
    let perm = vec![(0..PIXELS as u32).collect::<Vec<_>>()];
    e.set_task(&perm).unwrap();
    e.train_steps(0, 20).unwrap(); // warm-up: pipelines, caches
    let steps = 500;
    let step_rates: Vec<f64> = (0..5)
        .map(|i| {
            let t = Instant::now();
            e.train_steps(100 + i * steps, steps).unwrap();
            steps as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    let eval_secs: Vec<f64> = (0..3)
        .map(|i| {
            let t = Instant::now();
            e.evaluate(test, &perm, i).unwrap();
            t.elapsed().as_secs_f64()
        })
        .collect();
    let rate = median(step_rates);
    let eval = median(eval_secs);
    let images_samples = data.test.len() as f64 * 10.0 / eval;
    println!("adapter: {adapter}");
    println!("{:<44} {:>12}", "benchmark (median)", "value");
    println!(
        "{:<44} {:>12.0}",
        "train steps/s (784-50-10, B=1, K=10)", rate
    );
    println!(
        "{:<44} {:>12.3}",
        "evaluate 10000 images x 10 samples (s)", eval
    );
    println!(
        "{:<44} {:>12.0}",
        "evaluation images x samples / s", images_samples
    );
    let csv = format!(
        "benchmark,value\ntrain_steps_per_s,{rate}\neval_task_s,{eval}\neval_image_samples_per_s,{images_samples}\n"
    );
    std::fs::create_dir_all("target").ok();
    std::fs::write("target/bench-step.csv", csv).unwrap();
}
