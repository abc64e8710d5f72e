//! dL/d(pre-activation) of the hidden layers of one weight sample, and the
//! per-sample weight gradients of batches > 1 (batch 1 forms them inside
//! the update as delta_j * input_i).

use multiversion::multiversion;

use super::forward::gemm;

/// Batch 1: d_prev[i] = [a_prev[i] > 0] sum_j w[j][i] d[j], w = mu + sigma * eps
/// (rows in order j = 0.., the same order at any thread count).
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub fn backprop_matvec(
    mu: &[f32],
    sigma: &[f32],
    eps: &[f32],
    d: &[f32],
    a_prev: &[f32],
    d_prev: &mut [f32],
) {
    let n_in = a_prev.len();
    d_prev.fill(0.0);
    for (j, &dj) in d.iter().enumerate() {
        let row = j * n_in..(j + 1) * n_in;
        for (((o, m), s), e) in d_prev
            .iter_mut()
            .zip(&mu[row.clone()])
            .zip(&sigma[row.clone()])
            .zip(&eps[row])
        {
            *o += (m + s * e) * dj;
        }
    }
    for (o, &a) in d_prev.iter_mut().zip(a_prev) {
        if a <= 0.0 {
            *o = 0.0;
        }
    }
}

/// Batch > 1: D_prev (B x n_in) = [A_prev > 0] (D (B x n_out) W (n_out x n_in)).
pub fn backprop_gemm(w: &[f32], d: &[f32], a_prev: &[f32], n_in: usize, d_prev: &mut [f32]) {
    let batch = a_prev.len() / n_in;
    let n_out = d.len() / batch;
    gemm(
        (batch, n_out, n_in),
        1.0,
        (d, n_out, 1),
        (w, n_in, 1),
        0.0,
        d_prev,
        (n_in, 1),
    );
    for (o, &a) in d_prev.iter_mut().zip(a_prev) {
        if a <= 0.0 {
            *o = 0.0;
        }
    }
}

/// Batch > 1: the sample's dL/dw of one layer into `g` (weights then bias):
/// G (n_out x n_in) = D^T (n_out x B) A (B x n_in), bias_j = sum_b D[b][j].
pub fn weight_grads(d: &[f32], input: &[f32], n_in: usize, g: &mut [f32]) {
    let batch = input.len() / n_in;
    let n_out = d.len() / batch;
    let (weights, bias) = g.split_at_mut(n_out * n_in);
    gemm(
        (n_out, batch, n_in),
        1.0,
        (d, 1, n_out),
        (input, n_in, 1),
        0.0,
        weights,
        (n_in, 1),
    );
    if !bias.is_empty() {
        bias.fill(0.0);
        for row in d.chunks(n_out) {
            for (b, v) in bias.iter_mut().zip(row) {
                *b += v;
            }
        }
    }
}
