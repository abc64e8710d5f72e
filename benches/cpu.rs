//! The CPU backend's throughput: `cargo bench --bench cpu`. Training steps/s
//! at the paper's protocol (784-50-10, batch 1, K = 10) on 1 thread and on
//! every thread, a per-phase profile of it, one evaluation of 10000 images
//! x 10 samples, the wide shapes 784-512-10 (B = 1) and 784-1024-1024-10
//! (B = 64), and the raw normals/s of the noise kernel. Medians of repeats:
//! the machine is shared and noisy. Inputs are synthetic MNIST-like images
//! (about 19 % nonzero pixels), so no data files are needed.

mod common;

use common::{median, median_secs, one_run};

use std::time::Instant;

use mesu::backend::Backend;
use mesu::backend::cpu::{CpuBackend, fill_normals};
use mesu::data::{DatasetKind, PIXELS, Split, load};
use mesu::model::{Architecture, EngineConfig};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn split(n: usize, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    Split {
        images: (0..n * PIXELS)
            .map(|i| {
                let (r, c) = ((i % PIXELS) / 28, i % 28);
                let centre = (4..24).contains(&r) && (6..22).contains(&c);
                if centre && rng.random_bool(0.6) {
                    rng.random()
                } else {
                    0
                }
            })
            .collect(),
        labels: (0..n).map(|_| rng.random_range(0..10u8)).collect(),
    }
}

fn backend(hidden: &[usize], batch: usize, threads: usize, train: &Split) -> CpuBackend {
    let arch = Architecture::new(PIXELS, hidden, 10, false).unwrap();
    let runs = one_run(batch);
    let cfg = EngineConfig {
        batch,
        ..Default::default()
    };
    let mut cpu = CpuBackend::new(arch, runs, &cfg, Some(threads)).unwrap();
    cpu.set_train_data(train).unwrap();
    let order: Vec<u32> = (0..train.len() as u32).collect();
    cpu.set_task(&[(0..PIXELS as u32).collect()]).unwrap();
    cpu.set_order(&[order]).unwrap();
    cpu
}

/// Median and best steps/s over `reps` timed runs of `steps` steps each
/// (the best tells what the machine gives when the other users pause).
fn steps_per_s(cpu: &mut CpuBackend, steps: usize, reps: usize) -> (f64, f64) {
    let per_epoch = cpu.batches_per_epoch().unwrap();
    let mut pos = 0;
    let mut run = |n: usize| {
        if pos + n > per_epoch {
            pos = 0;
        }
        cpu.train_steps(pos, n).unwrap();
        pos += n;
    };
    run(steps.clamp(1, 50));
    let rates: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            run(steps);
            steps as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    let best = rates.iter().copied().fold(0.0, f64::max);
    (median(rates), best)
}

fn main() {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let train = split(6000, 1);
    let mut rows: Vec<(String, String)> = Vec::new();
    // `cargo bench --bench cpu -- WORD`: only the sections whose name
    // contains WORD (steps, eval, wide, normals).
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|w| name.contains(w.as_str()));

    for threads in [1, all] {
        if !want("steps") {
            break;
        }
        let mut cpu = backend(&[50], 1, threads, &train);
        let (rate, best) = steps_per_s(&mut cpu, 2000, 7);
        rows.push((
            format!("784-50-10 B=1 K=10, {}", cpu.describe()),
            format!(
                "{rate:.0} steps/s ({:.0} us/step; best of 7 {best:.0})",
                1e6 / rate
            ),
        ));
        cpu.enable_profiling();
        cpu.train_steps(0, 2000).unwrap();
        for r in cpu.profile().unwrap() {
            rows.push((
                format!("  phase {} ({threads} thr)", r.name),
                format!(
                    "{:.1} us ({:.0} %, {:.1} GFLOP/s, {:.1} GB/s)",
                    r.mean_us,
                    100.0 * r.share,
                    r.gflops,
                    r.gbytes
                ),
            ));
        }
    }

    if want("eval") {
        evaluation(all, &train, &mut rows);
    }
    if want("wide") {
        wide(all, &train, &mut rows);
    }
    if want("normals") {
        normals(&mut rows);
    }

    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!("{:w$}  median", "cpu backend");
    for (name, v) in rows {
        println!("{name:w$}  {v}");
    }
}

fn evaluation(all: usize, train: &Split, rows: &mut Vec<(String, String)>) {
    let mut cpu = backend(&[50], 1, all, train);
    // The MNIST test split when data/ has it (its sparsity sets the first
    // layer's work), else synthetic images.
    let (test, what) = match load(DatasetKind::Mnist, &DatasetKind::Mnist.default_dir()) {
        Ok(d) => (d.test, "MNIST test split"),
        Err(_) => (split(10000, 2), "synthetic images"),
    };
    let set = cpu.add_eval_set(&test).unwrap();
    let perm = vec![(0..PIXELS as u32).collect::<Vec<_>>()];
    cpu.evaluate(set, &perm, 0).unwrap();
    let reps = 9;
    let cpu_before = cpu_seconds();
    let secs = median_secs(reps, |i| {
        cpu.evaluate(set, &perm, i as u32).unwrap();
    });
    let cpu_each = (cpu_seconds() - cpu_before) / reps as f64;
    rows.push((
        format!("evaluation {} x 10, 784-50-10 ({what})", test.len()),
        format!(
            "{:.1} ms wall, {:.1} ms CPU (all threads, mean of {reps})",
            secs * 1e3,
            cpu_each * 1e3
        ),
    ));
}

fn wide(all: usize, train: &Split, rows: &mut Vec<(String, String)>) {
    let mut wide = backend(&[512], 1, all, train);
    let (rate, _) = steps_per_s(&mut wide, 200, 5);
    rows.push((
        "784-512-10 B=1 K=10".into(),
        format!("{rate:.0} steps/s ({:.2} ms/step)", 1e3 / rate),
    ));

    let mut wider = backend(&[1024, 1024], 64, all, train);
    let (rate, _) = steps_per_s(&mut wider, 3, 3);
    // Forward, backward and weight gradients: 6 FLOPs per weight, sample and example.
    let params = (784 * 1024 + 1024 * 1024 + 1024 * 10) as f64;
    let gflops = 6.0 * params * 10.0 * 64.0 * rate / 1e9;
    rows.push((
        "784-1024-1024-10 B=64 K=10".into(),
        format!(
            "{rate:.2} steps/s ({:.0} ms/step, {gflops:.0} GFLOP/s)",
            1e3 / rate
        ),
    ));
}

fn normals(rows: &mut Vec<(String, String)>) {
    let mut out = vec![0f32; 1 << 20];
    let rate = median(
        (0..9)
            .map(|i| {
                let t = Instant::now();
                fill_normals(&mut out, 0, [i, 0, 0], [1, 2]);
                out.len() as f64 / t.elapsed().as_secs_f64()
            })
            .collect(),
    );
    rows.push((
        "normals/s, 1 thread (Philox + Box-Muller)".into(),
        format!("{:.0} M/s", rate / 1e6),
    ));
}

/// CPU seconds this process has used, every thread (user + system; Linux
/// /proc, clock ticks of 10 ms; 0 elsewhere): under a shared machine's
/// load it counts only our own work, where wall time counts the waits.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the ")" closing the command name: utime and stime are
    // the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}
