//! The Hessian diagonal and the empirical Fisher over a whole training set,
//! fast: the examples go in chunks through GEMMs (forward, the Jacobians of
//! the logits, and the per-weight sums), runs of chunks in parallel on
//! rayon's pool, added in a fixed order.
//! Same closed form as `reference::curvature`, which checks it.

use rayon::prelude::*;

use crate::backend::cpu::gemm;
use crate::model::Architecture;

/// Per layer (weights [n_out][n_in] then bias, like the parameters), the
/// mean over the examples of the loss Hessian's diagonal and of the squared
/// per-example gradient, at deterministic weights.
#[derive(Clone, Debug)]
pub struct Curvature {
    pub hessian: Vec<Vec<f64>>,
    pub fisher: Vec<Vec<f64>>,
}

impl Curvature {
    fn zeros(arch: &Architecture) -> Curvature {
        let zeros: Vec<Vec<f64>> = (0..arch.layers())
            .map(|l| vec![0.0; arch.params(l)])
            .collect();
        Curvature {
            hessian: zeros.clone(),
            fisher: zeros,
        }
    }

    fn add(mut self, other: Curvature) -> Curvature {
        let pairs = self.hessian.iter_mut().zip(&other.hessian);
        for (a, b) in pairs.chain(self.fisher.iter_mut().zip(&other.fisher)) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        self
    }
}

/// Examples per chunk: big enough for the GEMMs, small enough for cache.
const CHUNK: usize = 128;

/// Runs of chunks summed one after the other, then added in order: the
/// same bits at any thread count, as training gives.
const GROUPS: usize = 16;

/// `images` holds the examples' bytes, [n][n_in(0)], standardised as
/// (byte / 255 - mean) / std in f64; `w` the weights per layer.
pub fn curvature(
    arch: &Architecture,
    w: &[Vec<f64>],
    images: &[u8],
    labels: &[u8],
    (mean, std): (f64, f64),
) -> Curvature {
    let n_in = arch.n_in(0);
    let n = labels.len();
    assert_eq!(images.len(), n * n_in, "images and labels disagree");
    let chunks = n.div_ceil(CHUNK);
    let per_group = chunks.div_ceil(GROUPS);
    let groups: Vec<Curvature> = (0..GROUPS)
        .into_par_iter()
        .map(|g| {
            let mut acc = Curvature::zeros(arch);
            for c in g * per_group..((g + 1) * per_group).min(chunks) {
                let rows = c * CHUNK..((c + 1) * CHUNK).min(n);
                let x: Vec<f64> = images[rows.start * n_in..rows.end * n_in]
                    .iter()
                    .map(|&b| (b as f64 / 255.0 - mean) / std)
                    .collect();
                accumulate(arch, w, x, &labels[rows], &mut acc);
            }
            acc
        })
        .collect();
    let mut total = groups
        .into_iter()
        .fold(Curvature::zeros(arch), Curvature::add);
    let scale = 1.0 / n.max(1) as f64;
    for v in total.hessian.iter_mut().chain(total.fisher.iter_mut()) {
        v.iter_mut().for_each(|x| *x *= scale);
    }
    total
}

/// Adds the sums over one chunk of examples (`x`: their inputs, [m][n_in]).
fn accumulate(
    arch: &Architecture,
    w: &[Vec<f64>],
    x: Vec<f64>,
    labels: &[u8],
    acc: &mut Curvature,
) {
    let (layers, m) = (arch.layers(), labels.len());
    let classes = arch.n_out(layers - 1);
    // inputs[l]: layer l's input, [m][n_in(l)]; the last entry: the logits.
    let mut inputs = vec![x];
    for l in 0..layers {
        let (n_in, n_out) = (arch.n_in(l), arch.n_out(l));
        let mut z = vec![0.0; m * n_out];
        gemm(
            (m, n_in, n_out),
            1.0,
            (&inputs[l], n_in, 1),
            (&w[l], 1, n_in),
            0.0,
            &mut z,
            (n_out, 1),
        );
        for row in z.chunks_mut(n_out) {
            if arch.bias {
                row.iter_mut()
                    .zip(&w[l][n_out * n_in..])
                    .for_each(|(v, b)| *v += b);
            }
            if l + 1 < layers {
                row.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
        inputs.push(z);
    }
    let p: Vec<f64> = inputs[layers].chunks(classes).flat_map(softmax).collect();
    // jac: [m][classes][n_out(l)], d logit / d z_l; the identity at the top.
    let mut jac = vec![0.0; m * classes * classes];
    for b in 0..m {
        for c in 0..classes {
            jac[(b * classes + c) * classes + c] = 1.0;
        }
    }
    for l in (0..layers).rev() {
        let (n_in, n_out) = (arch.n_in(l), arch.n_out(l));
        // Per example and unit: the Hessian coefficient v^T (diag p - p p^T) v
        // (as a variance under p, never negative) and the loss gradient.
        let mut coef = vec![0.0; m * n_out];
        let mut grad2 = vec![0.0; m * n_out];
        for b in 0..m {
            let pb = &p[b * classes..(b + 1) * classes];
            let jb = &jac[b * classes * n_out..(b + 1) * classes * n_out];
            for j in 0..n_out {
                let col = |c: usize| jb[c * n_out + j];
                let mean: f64 = (0..classes).map(|c| pb[c] * col(c)).sum();
                coef[b * n_out + j] = (0..classes).map(|c| pb[c] * (col(c) - mean).powi(2)).sum();
                // sum_c (p_c - onehot_c) v_c = mean - v_y.
                let g = mean - col(labels[b] as usize);
                grad2[b * n_out + j] = g * g;
            }
        }
        let x2: Vec<f64> = inputs[l].iter().map(|v| v * v).collect();
        for (sums, per_unit) in [(&mut acc.hessian[l], &coef), (&mut acc.fisher[l], &grad2)] {
            // sums[j][i] += sum_b per_unit[b][j] * x[b][i]^2.
            gemm(
                (n_out, m, n_in),
                1.0,
                (per_unit, 1, n_out),
                (&x2, n_in, 1),
                1.0,
                &mut sums[..n_out * n_in],
                (n_in, 1),
            );
            if arch.bias {
                for row in per_unit.chunks(n_out) {
                    sums[n_out * n_in..]
                        .iter_mut()
                        .zip(row)
                        .for_each(|(s, v)| *s += v);
                }
            }
        }
        if l > 0 {
            // d logit / d z_{l-1} = (d logit / d z_l) W_l, where the unit is active.
            let mut below = vec![0.0; m * classes * n_in];
            gemm(
                (m * classes, n_out, n_in),
                1.0,
                (&jac, n_out, 1),
                (&w[l], n_in, 1),
                0.0,
                &mut below,
                (n_in, 1),
            );
            for (b, rows) in below.chunks_mut(classes * n_in).enumerate() {
                let active = &inputs[l][b * n_in..(b + 1) * n_in];
                for row in rows.chunks_mut(n_in) {
                    row.iter_mut().zip(active).for_each(|(v, a)| {
                        if *a <= 0.0 {
                            *v = 0.0
                        }
                    });
                }
            }
            jac = below;
        }
    }
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - top).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}
