use mesu::metrics::{
    Calibration, CalibrationMatrix, OodAuroc, StreamMetrics, auroc, expected_calibration_error,
    windowed_mean,
};
use mesu::model::Score;

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

/// 15 bins of width 1/15: a confidence on an edge belongs to the bin below
/// it, and empty bins (here 0-1, 4-13) add nothing.
#[test]
fn expected_calibration_error_of_hand_made_pairs() {
    let pairs = [
        (3.0 / 15.0, true), // on the edge 0.2: bin 2, (2/15, 3/15]
        (0.19, false),      // bin 2
        (0.21, true),       // bin 3
        (0.95, true),       // bin 14, with 1.0 (the last edge)
        (0.97, true),
        (0.99, false),
        (1.0, true),
    ];
    // Per bin, |confidences - right|: bin 2 |0.39 - 1|, bin 3 |0.21 - 1|,
    // bin 14 |3.91 - 3|; over 7 examples.
    let want = (0.61 + 0.79 + 0.91) / 7.0;
    assert!(close(expected_calibration_error(&pairs), want));
    // (With 0.2 in bin 3, bins 2 and 3 would add |0.19 - 0| + |0.41 - 2|.)
    assert!(!close(want, (0.19 + 1.59 + 0.91) / 7.0));
    assert!(close(expected_calibration_error(&[(0.6, true)]), 0.4));
    assert!(close(
        expected_calibration_error(&[(0.5, true), (0.5, false)]),
        0.0
    ));
    assert!(expected_calibration_error(&[]).is_nan());
    assert!(expected_calibration_error(&[(f64::NAN, true)]).is_nan());
}

fn score(p_max: f32, p_max_correct: bool, p_true: f32, brier: f32) -> Score {
    Score {
        p_max,
        p_max_correct: u32::from(p_max_correct),
        ln_p_true: p_true.ln(),
        brier,
        ..Score::default()
    }
}

#[test]
fn calibration_of_hand_made_scores() {
    // p = (0.75, 0.25), label 0: Brier 0.25^2 + 0.25^2.
    // p = (0.55, 0.45), label 1: Brier 0.55^2 + 0.55^2, argmax wrong.
    let scores = [
        score(0.75, true, 0.75, 0.125),
        score(0.55, false, 0.45, 0.605),
    ];
    let c = Calibration::from_scores(&scores);
    let near = |a: f64, b: f64| (a - b).abs() < 1e-6;
    assert!(near(c.ece, (0.25 + 0.55) / 2.0), "{c:?}");
    assert!(near(c.nll, -(0.75f64.ln() + 0.45f64.ln()) / 2.0), "{c:?}");
    assert!(near(c.brier, (0.125 + 0.605) / 2.0), "{c:?}");
    let none = Calibration::from_scores(&[]);
    assert!(none.ece.is_nan() && none.nll.is_nan() && none.brier.is_nan());
}

/// The reference's per-example terms, from its predictive distribution.
#[test]
fn reference_calibration_terms_by_hand() {
    let p = mesu::reference::Prediction {
        pred: 1,
        h_pred: 0.0,
        h_alea: 0.0,
        ln_p: [0.1f64, 0.6, 0.3].map(f64::ln).to_vec(),
    };
    let t = p.calibration_terms(2);
    assert!(close(t.p_max, 0.6) && !t.right && close(t.ln_p_true, 0.3f64.ln()));
    assert!(close(t.brier, 0.01 + 0.36 + 0.49));
    assert!(p.calibration_terms(1).right);
}

/// The mean over seen tasks comes from full rows only, as the accuracy
/// curves; the newest task's figures from the diagonal.
#[test]
fn calibration_matrix_means_full_rows() {
    let mut m = CalibrationMatrix::new(2);
    let c = |x: f64| Calibration {
        ece: x,
        nll: 10.0 * x,
        brier: 100.0 * x,
    };
    m.set(0, 0, c(0.1));
    m.set(1, 1, c(0.3));
    assert_eq!(m.at(1, 1), c(0.3));
    assert_eq!(m.mean_seen(0), c(0.1));
    assert!(m.mean_seen(1).ece.is_nan(), "row 1 lacks task 0");
    m.set(1, 0, c(0.2));
    let mean = m.mean_seen(1);
    assert!(close(mean.ece, 0.25) && close(mean.nll, 2.5) && close(mean.brier, 25.0));
    assert!(m.at(0, 1).nll.is_nan(), "not evaluated");
}
