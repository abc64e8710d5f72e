use mesu::metrics::{OodAuroc, StreamMetrics, auroc, windowed_mean};

const N: f64 = f64::NAN;

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-12
}

fn assert_all(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!(close(*g, *w), "got {got:?}, want {want:?}");
    }
}

#[test]
fn metrics_of_a_hand_computed_matrix() {
    // Row i = after training task i; NaN = not evaluated (future tasks).
    let r = vec![
        vec![0.90, N, N],
        vec![0.70, 0.80, N],
        vec![0.60, 0.75, 0.95],
    ];
    let m = StreamMetrics::from_matrix(&r);
    assert_all(&m.mean_all, &[0.90, 0.75, (0.60 + 0.75 + 0.95) / 3.0]);
    // The paper's curve: the tasks before the newest, in the same row.
    assert_all(&m.mean_earlier, &[N, 0.70, (0.60 + 0.75) / 2.0]);
    assert_all(&m.plasticity, &[0.90, 0.80, 0.95]);
    // BWT after task 1: 0.70 - 0.90; after task 2: ((0.60-0.90) + (0.75-0.80)) / 2.
    assert_all(&m.bwt, &[N, -0.20, -0.175]);
    // Forgetting after task 2: task 0 best 0.90 -> 0.60, task 1 best 0.80 -> 0.75.
    assert_all(&m.forgetting, &[N, 0.20, 0.175]);
    assert!(close(m.rigidity_resilience, 1.0 / 0.05));
    assert_all(&m.mean_last5, &m.mean_all);
}

#[test]
fn windowed_means_use_only_the_latest_tasks() {
    let t = 7;
    // R[i][j] = j for seen tasks.
    let r: Vec<Vec<f64>> = (0..t)
        .map(|i| (0..t).map(|j| if j <= i { j as f64 } else { N }).collect())
        .collect();
    assert!(close(
        windowed_mean(&r, 6, 5),
        (2 + 3 + 4 + 5 + 6) as f64 / 5.0
    ));
    assert!(close(windowed_mean(&r, 6, 20), 3.0));
    assert!(close(windowed_mean(&r, 1, 5), 0.5));
    // Forward-transfer entries (evaluated before training) do not enter the means.
    let mut r2 = r.clone();
    r2[0][3] = 0.1;
    assert!(close(windowed_mean(&r2, 0, 5), 0.0));
}

#[test]
fn auroc_known_values() {
    assert!(close(auroc(&[2.0, 3.0], &[0.0, 1.0]), 1.0));
    assert!(close(auroc(&[0.0, 1.0], &[2.0, 3.0]), 0.0));
    assert!(close(auroc(&[1.0], &[1.0]), 0.5));
    // pos {1, 3}, neg {2, 0}: pairs won 3 of 4.
    assert!(close(auroc(&[1.0, 3.0], &[2.0, 0.0]), 0.75));
    assert!(auroc(&[], &[1.0]).is_nan());
    assert!(auroc(&[1.0, f64::NAN], &[0.5]).is_nan());
    assert!(auroc(&[1.0], &[f64::NAN, f64::NAN]).is_nan());
}

#[test]
fn ood_auroc_scores_each_uncertainty() {
    // (predictive, aleatoric) entropies. In-distribution: confident and
    // certain; OOD: higher epistemic (p - a) and predictive entropy, but
    // aleatoric that ties half the time.
    let in_dist = [(0.2, 0.1), (0.3, 0.2)];
    let ood = [(1.0, 0.2), (0.9, 0.1)];
    let o = OodAuroc::new(4, &in_dist, &ood);
    assert_eq!(o.task, 4);
    assert!(close(o.epistemic, 1.0));
    assert!(close(o.predictive, 1.0));
    // Aleatoric pairs: 0.2 vs (0.1, 0.2) -> 1 + 0.5; 0.1 vs (0.1, 0.2) -> 0.5 + 0.
    assert!(close(o.aleatoric, 2.0 / 4.0));
}

/// With `--eval-every`, rows between full evaluations hold only the newest
/// task: their windowed means, BWT and forgetting are NaN (not the newest
/// task's accuracy passed off as a mean), plasticity is the diagonal, and
/// forgetting's best earlier accuracy comes from the rows that hold it.
#[test]
fn metrics_come_from_full_rows_only() {
    let r = vec![vec![0.90, N, N], vec![N, 0.80, N], vec![0.60, 0.75, 0.95]];
    let m = StreamMetrics::from_matrix(&r);
    assert_all(&m.mean_all, &[0.90, N, (0.60 + 0.75 + 0.95) / 3.0]);
    assert_all(&m.mean_earlier, &[N, N, (0.60 + 0.75) / 2.0]);
    assert_all(&m.mean_last5, &[0.90, N, (0.60 + 0.75 + 0.95) / 3.0]);
    assert_all(&m.plasticity, &[0.90, 0.80, 0.95]);
    assert_all(&m.bwt, &[N, N, ((0.60 - 0.90) + (0.75 - 0.80)) / 2.0]);
    // Task 0's best before row 2 is row 0 (row 1 did not evaluate it).
    assert_all(
        &m.forgetting,
        &[N, N, ((0.90 - 0.60) + (0.80 - 0.75)) / 2.0],
    );
}
