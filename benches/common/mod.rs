//! Helpers shared by the benches (`mod common;`).
#![allow(dead_code)] // each bench uses a different subset

use std::time::Instant;

use mesu::optim::{Hyper, RunSpec};

/// The middle value (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median over `reps` calls of `f(i)` of their wall seconds.
pub fn median_secs(reps: usize, mut f: impl FnMut(usize)) -> f64 {
    median(
        (0..reps)
            .map(|i| {
                let t = Instant::now();
                f(i);
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// One run of seed 0 at batch B. The batch sums the errors: rates of 1/B
/// keep every sigma positive.
pub fn one_run(batch: usize) -> Vec<RunSpec> {
    vec![RunSpec {
        seed: 0,
        hyper: Hyper {
            lr_mu: 1.0 / batch as f64,
            lr_sigma: 1.0 / batch as f64,
            ..Hyper::default()
        },
    }]
}
