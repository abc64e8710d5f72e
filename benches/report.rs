//! The cost of rewriting a run's results folder after a task, at 200 tasks
//! (the paper's stream): every file and plot, median of 9 rewrites.

use std::time::Instant;

use mesu::report::{RunFiles, Summary, write_run};
use mesu::stream::{RunRecord, Timing, sigma_stats};
use serde_json::json;

fn main() {
    let t = 200;
    let matrix: Vec<Vec<f64>> = (0..t)
        .map(|i| {
            (0..t)
                .map(|j| {
                    if j <= i {
                        0.9 + 0.0004 * j as f64
                    } else {
                        f64::NAN
                    }
                })
                .collect()
        })
        .collect();
    let sigma: Vec<_> = (0..t)
        .flat_map(|task| (0..2).map(move |l| sigma_stats(task, l, &[0.1, 0.2, 0.3])))
        .collect();
    let loss: Vec<[f64; 2]> = (0..t)
        .map(|i| [0.3 * 60000.0 / (i + 1) as f64, 60000.0])
        .collect();
    let record = RunRecord {
        matrix,
        sigma,
        loss,
        ..RunRecord::new(t)
    };
    let rec = RunFiles {
        config: &json!({}),
        record: &record,
        tasks_done: t,
        summary: &Summary::Timing(Timing::default()),
        complete: true,
    };
    let dir = std::env::temp_dir().join(format!("mesu-bench-report-{}", std::process::id()));
    let mut ms: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            write_run(&dir, &rec).expect("write the results folder");
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "write_run, {t} tasks: median {:.1} ms (min {:.1}, max {:.1})",
        ms[4], ms[0], ms[8]
    );
    std::fs::remove_dir_all(&dir).ok();
}
