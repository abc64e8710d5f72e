//! The sampled forward pass of one weight sample, w = mu + sigma * eps:
//! batch 1 as fused matrix-vector products that never store w, larger
//! batches as a GEMM (matrixmultiply) on the materialised sample.

use multiversion::multiversion;

/// Lanes of the explicit accumulators: a fixed summation order, so the
/// bits do not depend on the instruction set the dispatcher picked.
const ACC: usize = 16;

/// out[e] = mu[e] + sigma[e] * eps[e].
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub fn sample_weights(mu: &[f32], sigma: &[f32], eps: &[f32], out: &mut [f32]) {
    for (((o, m), s), e) in out.iter_mut().zip(mu).zip(sigma).zip(eps) {
        *o = m + s * e;
    }
}

/// sum_i (mu + sigma * eps)[i] * x[i] over one row, in ACC lanes.
#[inline(always)]
fn sampled_dot(mu: &[f32], sigma: &[f32], eps: &[f32], x: &[f32]) -> f32 {
    let n = x.len();
    let full = n / ACC * ACC;
    let mut acc = [0f32; ACC];
    for i0 in (0..full).step_by(ACC) {
        let (m, s, e, v) = (
            &mu[i0..i0 + ACC],
            &sigma[i0..i0 + ACC],
            &eps[i0..i0 + ACC],
            &x[i0..i0 + ACC],
        );
        for l in 0..ACC {
            acc[l] += (m[l] + s[l] * e[l]) * v[l];
        }
    }
    for i in full..n {
        acc[i - full] += (mu[i] + sigma[i] * eps[i]) * x[i];
    }
    let mut width = ACC / 2;
    while width > 0 {
        for l in 0..width {
            acc[l] += acc[l + width];
        }
        width /= 2;
    }
    acc[0]
}

/// Batch 1: out[j] = sum_i w[j][i] x[i] (+ w's bias j) of one layer's sample.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub fn sampled_matvec(mu: &[f32], sigma: &[f32], eps: &[f32], x: &[f32], out: &mut [f32]) {
    let (n_in, n_out) = (x.len(), out.len());
    for (j, o) in out.iter_mut().enumerate() {
        let row = j * n_in..(j + 1) * n_in;
        *o = sampled_dot(&mu[row.clone()], &sigma[row.clone()], &eps[row], x);
    }
    if mu.len() > n_out * n_in {
        let b = n_out * n_in;
        for (j, o) in out.iter_mut().enumerate() {
            *o += mu[b + j] + sigma[b + j] * eps[b + j];
        }
    }
}

/// A strided view of a matrix for `gemm`: (data, row stride, column stride).
pub type View<'a, T = f32> = (&'a [T], usize, usize);

/// matrixmultiply's GEMM for one element type.
type Kernel<T> = unsafe fn(
    usize,
    usize,
    usize,
    T,
    *const T,
    isize,
    isize,
    *const T,
    isize,
    isize,
    T,
    *mut T,
    isize,
    isize,
);

/// The element types `gemm` multiplies: f32 for training and evaluation,
/// f64 for the Hessian check's curvature.
pub trait Gemm: Copy {
    const KERNEL: Kernel<Self>;
}

impl Gemm for f32 {
    const KERNEL: Kernel<f32> = matrixmultiply::sgemm;
}

impl Gemm for f64 {
    const KERNEL: Kernel<f64> = matrixmultiply::dgemm;
}

/// Whether an m x n view with these strides stays inside `len`.
fn fits(len: usize, m: usize, n: usize, rs: usize, cs: usize) -> bool {
    m == 0 || n == 0 || (m - 1) * rs + (n - 1) * cs < len
}

/// C (m x n) = alpha A (m x k) B (k x n) + beta C, through matrixmultiply
/// (runtime-dispatched AVX/FMA kernels; beta = 0 never reads C).
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: Gemm>(
    (m, k, n): (usize, usize, usize),
    alpha: T,
    (a, rsa, csa): View<T>,
    (b, rsb, csb): View<T>,
    beta: T,
    c: &mut [T],
    (rsc, csc): (usize, usize),
) {
    assert!(
        fits(a.len(), m, k, rsa, csa)
            && fits(b.len(), k, n, rsb, csb)
            && fits(c.len(), m, n, rsc, csc),
        "gemm operand out of bounds"
    );
    // SAFETY: the three views were checked to lie inside their slices, and
    // C is borrowed mutably, so it cannot alias A or B.
    unsafe {
        T::KERNEL(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            rsc as isize,
            csc as isize,
        );
    }
}

/// Batch > 1: out[b][j] = sum_i w[j][i] input[b][i] + bias_j, w materialised.
pub fn gemm_forward(w: &[f32], input: &[f32], n_in: usize, out: &mut [f32]) {
    let n_out = w.len() / n_in;
    let batch = input.len() / n_in;
    let beta = if w.len() > n_out * n_in {
        for row in out.chunks_mut(n_out) {
            row.copy_from_slice(&w[n_out * n_in..]);
        }
        1.0
    } else {
        0.0
    };
    gemm(
        (batch, n_in, n_out),
        1.0,
        (input, n_in, 1),
        (w, 1, n_in),
        beta,
        out,
        (n_out, 1),
    );
}

pub fn relu(v: &mut [f32]) {
    for x in v {
        *x = x.max(0.0);
    }
}

/// log_softmax of one row of logits into `out`.
pub fn log_softmax(z: &[f32], out: &mut [f32]) {
    let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let sum: f32 = z.iter().map(|v| (v - m).exp()).sum();
    let lse = m + sum.ln();
    for (o, v) in out.iter_mut().zip(z) {
        *o = v - lse;
    }
}

/// Loss of one sample summed over the batch, -sum_b log_softmax[y_b], and
/// dL/dz = softmax - onehot into `delta` ([B][C] like the logits).
pub fn loss_delta(logits: &[f32], labels: &[u8], delta: &mut [f32]) -> f64 {
    let classes = logits.len() / labels.len();
    let mut loss = 0.0;
    for ((z, d), &y) in logits
        .chunks(classes)
        .zip(delta.chunks_mut(classes))
        .zip(labels)
    {
        log_softmax(z, d);
        loss -= f64::from(d[y as usize]);
        for (c, v) in d.iter_mut().enumerate() {
            *v = v.exp() - f32::from(c == y as usize);
        }
    }
    loss
}
