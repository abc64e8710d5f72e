//! The CPU evaluation's sums do not depend on which images share an
//! image's tile: the same image scores the same bits in any split order.

mod common;

use mesu::backend::Backend;
use mesu::backend::cpu::CpuBackend;
use mesu::data::{PIXELS, Split};
use mesu::model::{Architecture, EngineConfig, Score};
use mesu::optim::{Hyper, RunSpec};

/// Every field of a score as bits.
fn bits(s: &Score) -> [u32; 8] {
    bytemuck::cast(*s)
}

#[test]
fn an_image_scores_the_same_bits_whatever_its_neighbours() {
    let mut test = common::mnist().test;
    test.truncate(1500);
    // The same images back to front: other tiles, other unions of pixels.
    let n = test.len();
    let reversed = Split {
        images: (0..n)
            .rev()
            .flat_map(|i| test.images[i * PIXELS..(i + 1) * PIXELS].to_vec())
            .collect(),
        labels: test.labels.iter().rev().copied().collect(),
    };
    let arch = Architecture::new(PIXELS, &[50], 10, false).unwrap();
    let runs = vec![RunSpec {
        seed: 3,
        hyper: Hyper::default(),
    }];
    let cfg = EngineConfig::default();
    let mut cpu = CpuBackend::new(arch, runs, &cfg, Some(2)).unwrap();
    let perm = vec![(0..PIXELS as u32).rev().collect::<Vec<_>>()];
    let forward = cpu.add_eval_set(&test).unwrap();
    let backward = cpu.add_eval_set(&reversed).unwrap();
    let a = cpu.evaluate(forward, &perm, 7).unwrap().remove(0);
    let b = cpu.evaluate(backward, &perm, 7).unwrap().remove(0);
    let differ = (0..n)
        .filter(|&i| bits(&a.scores[i]) != bits(&b.scores[n - 1 - i]))
        .count();
    assert_eq!(differ, 0, "{differ} of {n} images scored other bits");
    assert_eq!(a.correct, b.correct);
}
