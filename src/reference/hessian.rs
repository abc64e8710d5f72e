//! The curvature the Hessian check compares MESU's sigma with, in the
//! plainest form: the diagonal of the loss Hessian with respect to the
//! weights and the diagonal empirical Fisher, both at deterministic weights
//! and averaged over the examples, one example and one class at a time.

use super::net::{backward, forward, loss_grad, weight_grads};
use crate::hessian::Curvature;
use crate::model::Architecture;

/// The closed form of MESU_SPEC.md: a weight enters the logits linearly
/// (ReLU'' = 0 almost everywhere), so d2L/dw_ji^2 = x_i^2 v_j^T (diag(p) -
/// p p^T) v_j, with v_j = dz_out/dz_j, taken here by back-propagating each
/// class's unit vector. `x` holds the examples' inputs, [B][n_in].
pub fn curvature(arch: &Architecture, w: &[Vec<f64>], x: &[f64], labels: &[u8]) -> Curvature {
    let (layers, classes, n_in0) = (arch.layers(), arch.n_out(arch.layers() - 1), arch.n_in(0));
    let scale = 1.0 / labels.len() as f64;
    let mut hessian: Vec<Vec<f64>> = (0..layers).map(|l| vec![0.0; arch.params(l)]).collect();
    let mut fisher = hessian.clone();
    for (b, &y) in labels.iter().enumerate() {
        let xb = &x[b * n_in0..(b + 1) * n_in0];
        let f = forward(arch, w, xb, 1);
        let (_, delta) = loss_grad(&f.acts[layers - 1], &[y], classes);
        let grads = weight_grads(
            arch,
            &backward(arch, w, &f.acts, delta.clone(), 1),
            &f.acts,
            xb,
            1,
        );
        for (fl, gl) in fisher.iter_mut().zip(&grads) {
            for (fe, g) in fl.iter_mut().zip(gl) {
                *fe += g * g * scale;
            }
        }
        // softmax - onehot + onehot = softmax.
        let p: Vec<f64> = (0..classes)
            .map(|c| delta[c] + f64::from(c == y as usize))
            .collect();
        // jac[c][l][j] = d logit_c / d z_lj.
        let jac: Vec<Vec<Vec<f64>>> = (0..classes)
            .map(|c| {
                let unit = (0..classes).map(|k| f64::from(k == c)).collect();
                backward(arch, w, &f.acts, unit, 1)
            })
            .collect();
        for l in 0..layers {
            let (n_in, n_out) = (arch.n_in(l), arch.n_out(l));
            let input = if l == 0 { xb } else { &f.acts[l - 1] };
            for j in 0..n_out {
                let mean: f64 = (0..classes).map(|c| p[c] * jac[c][l][j]).sum();
                let coef: f64 = (0..classes)
                    .map(|c| p[c] * (jac[c][l][j] - mean).powi(2))
                    .sum();
                for i in 0..n_in {
                    hessian[l][j * n_in + i] += coef * input[i] * input[i] * scale;
                }
                if arch.bias {
                    hessian[l][n_out * n_in + j] += coef * scale;
                }
            }
        }
    }
    Curvature { hessian, fisher }
}
