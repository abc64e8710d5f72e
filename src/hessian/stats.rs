//! How well one per-weight curvature estimate tracks another: correlations
//! on log scales over the weights where both are positive, and the spread
//! of their ratio.

use serde::Serialize;

/// MESU's estimate against one target (the Hessian diagonal or the Fisher).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    /// Weights where both are positive (and finite): the ones compared.
    pub count: usize,
    /// Pearson correlation of log10(estimate) with log10(target).
    pub pearson_log10: f64,
    /// Spearman (rank) correlation, average ranks for ties.
    pub spearman: f64,
    /// Quartiles of estimate / target.
    pub ratio_median: f64,
    pub ratio_q1: f64,
    pub ratio_q3: f64,
}

impl Agreement {
    pub fn new(estimate: &[f64], target: &[f64]) -> Agreement {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        let (e, t): (Vec<f64>, Vec<f64>) = estimate
            .iter()
            .zip(target)
            .filter(|&(&e, &t)| ok(e) && ok(t))
            .map(|(e, t)| (*e, *t))
            .unzip();
        let log = |v: &[f64]| v.iter().map(|x| x.log10()).collect::<Vec<_>>();
        let mut ratio: Vec<f64> = e.iter().zip(&t).map(|(a, b)| a / b).collect();
        ratio.sort_by(f64::total_cmp);
        Agreement {
            count: e.len(),
            pearson_log10: pearson(&log(&e), &log(&t)),
            spearman: pearson(&ranks(&e), &ranks(&t)),
            ratio_median: quantile(&ratio, 0.5),
            ratio_q1: quantile(&ratio, 0.25),
            ratio_q3: quantile(&ratio, 0.75),
        }
    }
}

/// Pearson correlation; NaN with fewer than two points or a constant side.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.len() < 2 {
        return f64::NAN;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks from 1, ties sharing their average rank.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && v[order[end]] == v[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        order[start..end].iter().for_each(|&i| out[i] = rank);
        start = end;
    }
    out
}

/// The q-quantile of sorted values, interpolated linearly between order
/// statistics (numpy's default); NaN when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let at = q * last as f64;
    let (lo, f) = (at.floor() as usize, at.fract());
    match sorted.get(lo + 1) {
        Some(hi) if f > 0.0 => sorted[lo] + f * (hi - sorted[lo]),
        _ => sorted[lo],
    }
}
