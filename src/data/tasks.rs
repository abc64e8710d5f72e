//! The task stream: every task is a fixed pixel permutation drawn from the
//! run seed, and each epoch's example order is file order unless shuffled.

use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

use crate::philox::{DOMAIN_OOD_PERMUTATION, philox_key, philox4x32_10};

/// The pixel permutation of task `task` (the first task is permuted too).
pub fn task_permutation(seed: u64, task: usize, pixels: usize) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..pixels as u32).collect();
    let stream = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (task as u64).wrapping_add(0x7461_736b);
    perm.shuffle(&mut StdRng::seed_from_u64(stream));
    perm
}

/// The pixel permutation of a permuted-MNIST OOD set: fixed per seed and
/// drawn from its own Philox stream (domain `DOMAIN_OOD_PERMUTATION`), so it
/// is none of the tasks' permutations and needs no other generator's state.
pub fn ood_permutation(seed: u64, pixels: usize) -> Vec<u32> {
    let key = philox_key(seed);
    let mut perm: Vec<u32> = (0..pixels as u32).collect();
    // Fisher-Yates; one Philox word per swap, mapped to 0..=i by a
    // multiply-shift (bias below 2^-22 for 784 pixels).
    for i in (1..pixels).rev() {
        let word = philox4x32_10([i as u32, 0, DOMAIN_OOD_PERMUTATION, 0], key)[0];
        let j = ((u64::from(word) * (i as u64 + 1)) >> 32) as usize;
        perm.swap(i, j);
    }
    perm
}

/// The example order of one epoch: MNIST file order, or a seeded shuffle.
pub fn epoch_order(n: usize, shuffle: bool, seed: u64, task: usize, epoch: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    if shuffle {
        let stream =
            seed ^ ((task as u64) << 32 | epoch as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
        order.shuffle(&mut StdRng::seed_from_u64(stream));
    }
    order
}
