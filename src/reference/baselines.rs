//! The penalised baselines (online and stream EWC, SI) in f64: SGD on the
//! plain loss of a deterministic net plus the penalty, and their task ends.

use super::net::step;
use crate::model::{Architecture, Penalty, Rule};
use crate::optim::Hyper;

/// The plain-loss gradient of a deterministic net (weights = theta) on one
/// batch, per layer, and the batch's summed loss.
pub fn plain_grad(
    arch: &Architecture,
    theta: &[Vec<f64>],
    x: &[f64],
    labels: &[u8],
) -> (Vec<Vec<f64>>, f64) {
    let zeros: Vec<Vec<f64>> = theta.iter().map(|t| vec![0.0; t.len()]).collect();
    let eps: Vec<Vec<Vec<f64>>> = zeros.iter().map(|z| vec![z.clone()]).collect();
    let out = step(arch, &Hyper::default(), theta, &zeros, &eps, x, labels);
    (out.g_mu, out.loss)
}

/// One step of a penalised baseline (online or stream EWC, SI): SGD on the
/// plain loss plus the penalty, its state `pen` updated in place. Returns
/// the new theta and the plain loss.
pub fn penalised_step(
    arch: &Architecture,
    h: &Hyper,
    theta: &[Vec<f64>],
    pen: &mut [Vec<Penalty<f64>>],
    x: &[f64],
    labels: &[u8],
) -> (Vec<Vec<f64>>, f64) {
    let rule = Rule::<f64>::new(h);
    let (g, loss) = plain_grad(arch, theta, x, labels);
    let new = theta
        .iter()
        .zip(&g)
        .zip(pen.iter_mut())
        .map(|((t, g), p)| {
            t.iter()
                .zip(g)
                .zip(p.iter_mut())
                .map(|((&t, &g), p)| rule.apply(t, 0.0, g, 0.0, p).0)
                .collect()
        })
        .collect();
    (new, loss)
}

/// A task's end for a penalised baseline at theta, `batches` the task's
/// training batches (x, labels): online EWC's F_task is the mean over them
/// of the squared gradient of the batch's mean loss.
pub fn end_task(
    arch: &Architecture,
    h: &Hyper,
    theta: &[Vec<f64>],
    pen: &mut [Vec<Penalty<f64>>],
    batches: &[(Vec<f64>, Vec<u8>)],
) {
    let rule = Rule::<f64>::new(h);
    let mut fisher: Vec<Vec<f64>> = theta.iter().map(|t| vec![0.0; t.len()]).collect();
    for (x, labels) in batches {
        let (g, _) = plain_grad(arch, theta, x, labels);
        let b = labels.len() as f64;
        for (f, g) in fisher.iter_mut().flatten().zip(g.iter().flatten()) {
            *f += (g / b) * (g / b);
        }
    }
    for ((t, f), p) in theta.iter().zip(&fisher).zip(pen.iter_mut()) {
        for ((&t, &f), p) in t.iter().zip(f).zip(p.iter_mut()) {
            // The pass leaves the sum of squares in the path, as the backends.
            if h.optimizer == crate::optim::Optimizer::OnlineEwc {
                p.path = f;
            }
            rule.end_task(t, p, 1.0 / batches.len() as f64);
        }
    }
}
