//! The pixel permutations of the stream: every task's, and the permuted-MNIST
//! OOD set's, which must be none of them.

use mesu::data::{PIXELS, ood_permutation, task_permutation};

fn is_permutation(p: &[u32]) -> bool {
    let mut seen = vec![false; p.len()];
    p.iter()
        .all(|&i| !std::mem::replace(&mut seen[i as usize], true))
}

#[test]
fn the_ood_permutation_is_fixed_per_seed_and_no_task_permutation() {
    for seed in [0, 1, 1000] {
        let ood = ood_permutation(seed, PIXELS);
        assert!(is_permutation(&ood) && ood.len() == PIXELS);
        assert_eq!(ood, ood_permutation(seed, PIXELS), "fixed per seed");
        let moved = ood
            .iter()
            .enumerate()
            .filter(|(i, p)| *i as u32 != **p)
            .count();
        assert!(
            moved > PIXELS * 9 / 10,
            "a real shuffle: {moved} pixels moved"
        );
        for task in 0..10 {
            assert_ne!(
                ood,
                task_permutation(seed, task, PIXELS),
                "seed {seed} task {task}"
            );
        }
    }
    assert_ne!(ood_permutation(0, PIXELS), ood_permutation(1, PIXELS));
}
