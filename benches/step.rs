//! Training-step and evaluation throughput at the paper's shapes
//! (784-50-10, batch 1, K = 10) on the default adapter:
//! `cargo bench --bench step`. Prints a table and writes target/bench-step.csv.
//! Training and evaluation each run with the V0 kernels (the baseline) and
//! the fast ones; training also at the wide shape 784-1024-1024-10, B = 64.

mod common;

use common::{median, one_run};

use std::time::Instant;

use mesu::backend::wgpu::{
    AdapterChoice, Engine, EvalKernels, GpuContext, Kernels, TrainKernels, dispatch_overhead_us,
    peak_gflops,
};
use mesu::data::{CLASSES, DatasetKind, PIXELS, load};
use mesu::model::{Architecture, EngineConfig};
use mesu::optim::{Hyper, RunSpec};

/// A wide shape, 784-h-h-10 at batch B, K = 10, one run, with
/// the fast kernels (the GEMM path) and the v0 ones alternated: training
/// steps/s and dense-equivalent GFLOP/s (forward, backward and weight
/// gradients: 6 FLOPs per weight, sample and example) as a share of the
/// peak; then one profiled step of the fast kernels for each GEMM kernel's
/// own rate. On a GPU each sample times 20 steps of the fast kernels in one
/// call (one readback, at the end), 2 of the v0 ones; a step is seconds on
/// a CPU adapter, so there one. Returns the CSV rows.
fn wide_training(
    data: &mesu::data::Dataset,
    (peak, on_gpu): (f64, bool),
    h: usize,
    batch: usize,
) -> String {
    let arch = Architecture::new(PIXELS, &[h, h], CLASSES, false).unwrap();
    let runs = one_run(batch);
    let engine = |kernels| {
        let cfg = EngineConfig {
            batch,
            ..Default::default()
        };
        let ctx = GpuContext::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}"));
        let train = Kernels {
            train: kernels,
            ..Default::default()
        };
        let mut e = Engine::with_kernels(ctx, arch.clone(), runs.clone(), cfg, train).unwrap();
        e.set_train_data(&data.train).unwrap();
        e.set_task(&[(0..PIXELS as u32).collect()]).unwrap();
        e.train_steps(0, 1).unwrap(); // warm-up: pipelines, caches
        e
    };
    let mut engines = [
        (
            "fast",
            engine(TrainKernels::Fast),
            if on_gpu { 20 } else { 1 },
        ),
        ("v0", engine(TrainKernels::V0), if on_gpu { 2 } else { 1 }),
    ];
    let mut secs = vec![Vec::new(); engines.len()];
    for i in 0..3 {
        for ((_, e, steps), s) in engines.iter_mut().zip(&mut secs) {
            let t = Instant::now();
            e.train_steps(1 + i * *steps, *steps).unwrap();
            s.push(t.elapsed().as_secs_f64() / *steps as f64);
        }
    }
    let weights = (0..arch.layers())
        .map(|l| arch.params(l) as f64)
        .sum::<f64>();
    let k = EngineConfig::default().train_samples;
    let dense = 6.0 * (k * batch) as f64 * weights;
    let name = format!("784-{h}-{h}-10, B = {batch}, K = {k}");
    let medians: Vec<f64> = secs.into_iter().map(median).collect();
    let speedup = medians[1] / medians[0];
    println!(
        "{:<52} {:>12.1}",
        format!("train {name}: speed-up, fast over v0"),
        speedup
    );
    let key = format!("wide{h}");
    let mut csv = format!("{key}_train_speedup_fast_over_v0,{speedup}\n");
    for ((kernels, _, _), &secs) in engines.iter().zip(&medians) {
        let gflops = dense / secs / 1e9;
        let share = gflops / peak;
        println!(
            "{:<52} {:>12.3}",
            format!("train {name}, {kernels}: steps/s"),
            1.0 / secs
        );
        println!(
            "{:<52} {:>12.2}",
            format!("  {kernels}: GFLOP/s (dense-equivalent)"),
            gflops
        );
        println!(
            "{:<52} {:>11.1}%",
            format!("  {kernels}: share of peak"),
            share * 100.0
        );
        csv += &format!(
            "{key}_train_{kernels}_steps_per_s,{}\n{key}_train_{kernels}_gflops,{gflops}\n{key}_train_{kernels}_share_of_peak,{share}\n",
            1.0 / secs
        );
    }
    let fast = &mut engines[0].1;
    fast.enable_profiling();
    fast.train_steps(1 + 3 * engines[0].2, 2).unwrap();
    for row in fast.profile().unwrap_or_default() {
        let kernel = row.name.trim_start_matches("train/");
        let gemms = [
            "gemm_direct",
            "gemm_tile",
            "backward_gemm",
            "backward_tile",
            "update_gemm",
            "update_tile",
        ];
        if !gemms.contains(&kernel) {
            continue;
        }
        let share = row.gflops / peak;
        println!(
            "{:<52} {:>12.2}",
            format!("  fast: {kernel}, GFLOP/s ({:.1}% of peak)", share * 100.0),
            row.gflops
        );
        csv += &format!(
            "{key}_{kernel}_gflops,{}\n{key}_{kernel}_share_of_peak,{share}\n",
            row.gflops
        );
    }
    csv
}

/// The peak rate from a launch long enough to time (0.2 s or more): on a
/// GPU lavapipe's launch (64 Ki lanes x 2048 iterations) is over in
/// ~0.1 ms, below the cost of the submit around it.
fn timed_peak(ctx: &GpuContext) -> f64 {
    let lanes = if ctx.info.device_type == wgpu::DeviceType::Cpu {
        64 * 1024
    } else {
        1 << 20
    };
    let mut iterations = 2048;
    loop {
        let t = Instant::now();
        let gflops = peak_gflops(ctx, lanes, iterations, 3).unwrap_or_else(|e| panic!("{e}"));
        // Four launches were timed (one warm-up, three measured).
        if t.elapsed().as_secs_f64() / 4.0 >= 0.2 || iterations >= 1 << 20 {
            return gflops;
        }
        iterations *= 4;
    }
}

fn main() {
    let data = load(DatasetKind::Mnist, std::path::Path::new("data/mnist"))
        .unwrap_or_else(|e| panic!("{e}"));
    let ctx = GpuContext::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}"));
    let adapter = ctx.describe();
    // The device's achievable f32 rate, measured in the same run.
    let peak = timed_peak(&ctx);
    // The fixed cost of a launch: what a batch-1 step pays per kernel.
    let launch_us = dispatch_overhead_us(&ctx, 1000, 5).unwrap_or_else(|e| panic!("{e}"));
    let arch = Architecture::new(PIXELS, &[50], CLASSES, false).unwrap();
    let runs = vec![RunSpec {
        seed: 0,
        hyper: Hyper::default(),
    }];
    // Training: the fast kernels and the v0 ones, alternating windows.
    let perm = vec![(0..PIXELS as u32).collect::<Vec<_>>()];
    let mut engines: Vec<(&str, Engine)> = [("fast", TrainKernels::Fast), ("v0", TrainKernels::V0)]
        .into_iter()
        .map(|(name, kernels)| {
            let ctx = GpuContext::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}"));
            let train = Kernels {
                train: kernels,
                ..Default::default()
            };
            let mut e =
                Engine::with_kernels(ctx, arch.clone(), runs.clone(), Default::default(), train)
                    .unwrap();
            e.set_train_data(&data.train).unwrap();
            e.set_task(&perm).unwrap();
            e.train_steps(0, 20).unwrap(); // warm-up: pipelines, caches
            (name, e)
        })
        .collect();
    let steps = 500;
    let mut rates = vec![Vec::new(); engines.len()];
    for i in 0..5 {
        for ((_, e), r) in engines.iter_mut().zip(&mut rates) {
            let t = Instant::now();
            e.train_steps(100 + i * steps, steps).unwrap();
            r.push(steps as f64 / t.elapsed().as_secs_f64());
        }
    }
    let names: Vec<&str> = engines.iter().map(|(n, _)| *n).collect();
    drop(engines);
    let train_rates: Vec<f64> = rates.into_iter().map(median).collect();
    // Evaluation: a fresh engine per kernel set; one untimed evaluation
    // first (the driver compiles pipelines on first use).
    let images = data.test.len() as f64;
    let samples = EngineConfig::default().test_samples as f64;
    let dense_flop = 2.0 * images * samples * (PIXELS * 50 + 50 * CLASSES) as f64;
    let mut evals = Vec::new();
    for (name, kernels) in [("v0", EvalKernels::V0), ("fast", EvalKernels::Fast)] {
        let ctx = GpuContext::new(&AdapterChoice::default()).unwrap_or_else(|e| panic!("{e}"));
        let eval = Kernels {
            eval: kernels,
            ..Default::default()
        };
        let mut e = Engine::with_kernels(ctx, arch.clone(), runs.clone(), Default::default(), eval)
            .unwrap();
        let test = e.add_eval_set(&data.test).unwrap();
        e.evaluate(test, &perm, 0).unwrap();
        let secs: Vec<f64> = (1..4)
            .map(|i| {
                let t = Instant::now();
                e.evaluate(test, &perm, i).unwrap();
                t.elapsed().as_secs_f64()
            })
            .collect();
        evals.push((name, median(secs)));
    }
    println!("adapter: {adapter}");
    println!("{:<52} {:>12}", "benchmark (median)", "value");
    for (name, rate) in names.iter().zip(&train_rates) {
        println!(
            "{:<52} {:>12.0}",
            format!("train steps/s (784-50-10, B=1, K=10), {name}"),
            rate
        );
    }
    let train_speedup = train_rates[0] / train_rates[1];
    println!(
        "{:<52} {:>12.2}",
        "training speed-up, fast over v0", train_speedup
    );
    println!(
        "{:<52} {:>12.1}",
        "peak f32 (independent FMA chains), GFLOP/s", peak
    );
    println!(
        "{:<52} {:>12.1}",
        "dispatch overhead, us per empty launch", launch_us
    );
    let mut csv = format!(
        "benchmark,value\npeak_gflops,{peak}\ndispatch_overhead_us,{launch_us}\n\
         train_steps_per_s,{}\ntrain_v0_steps_per_s,{}\ntrain_speedup_fast_over_v0,{train_speedup}\n",
        train_rates[0], train_rates[1]
    );
    for (name, secs) in &evals {
        let per_s = images * samples / secs;
        let gflops = dense_flop / secs / 1e9;
        println!(
            "{:<52} {:>12.3}",
            format!("evaluate 10000 images x 10 samples, {name} (s)"),
            secs
        );
        println!(
            "{:<52} {:>12.0}",
            format!("  {name}: images x samples / s"),
            per_s
        );
        println!(
            "{:<52} {:>12.2}",
            format!("  {name}: GFLOP/s (dense-equivalent)"),
            gflops
        );
        let share = gflops / peak;
        println!(
            "{:<52} {:>11.1}%",
            format!("  {name}: share of peak"),
            share * 100.0
        );
        csv += &format!(
            "eval_{name}_s,{secs}\neval_{name}_image_samples_per_s,{per_s}\neval_{name}_dense_gflops,{gflops}\neval_{name}_share_of_peak,{share}\n"
        );
    }
    let speedup = evals[0].1 / evals[1].1;
    println!(
        "{:<52} {:>12.1}",
        "evaluation speed-up, fast over v0", speedup
    );
    csv += &format!("eval_speedup_fast_over_v0,{speedup}\n");
    let on_gpu = ctx.info.device_type != wgpu::DeviceType::Cpu;
    csv += &wide_training(&data, (peak, on_gpu), 1024, 64);
    // The largest shape needs a GPU's memory (its weight samples are 671 MB,
    // past lavapipe's 128 MiB binding) and time.
    if on_gpu {
        csv += &wide_training(&data, (peak, on_gpu), 4096, 128);
    }
    std::fs::create_dir_all("target").ok();
    std::fs::write("target/bench-step.csv", csv).unwrap();
}
