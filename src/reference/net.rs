use crate::model::{Architecture, Penalty, Rule};
use crate::optim::Hyper;

/// Standardised, permuted inputs [B][pixels]: x_i = (img[perm[i]] / 255 - mean) / std.
pub fn input_batch(
    images: &[u8],
    pixels: usize,
    perm: &[u32],
    indices: &[u32],
    mean: f64,
    std: f64,
) -> Vec<f64> {
    indices
        .iter()
        .flat_map(|&n| {
            let img = &images[n as usize * pixels..(n as usize + 1) * pixels];
            perm.iter()
                .map(move |&p| (img[p as usize] as f64 / 255.0 - mean) / std)
        })
        .collect()
}

/// w = mu + sigma * eps for one layer and one sample.
pub fn sample_weights(mu: &[f64], sigma: &[f64], eps: &[f64]) -> Vec<f64> {
    mu.iter()
        .zip(sigma)
        .zip(eps)
        .map(|((m, s), e)| m + s * e)
        .collect()
}

/// Outputs of every layer for one weight sample: [B][n_out] each,
/// post-ReLU for hidden layers, logits last.
pub struct Forward {
    pub acts: Vec<Vec<f64>>,
}

pub fn forward(arch: &Architecture, w: &[Vec<f64>], x: &[f64], batch: usize) -> Forward {
    let mut acts: Vec<Vec<f64>> = Vec::new();
    for l in 0..arch.layers() {
        let (n_in, n_out) = (arch.n_in(l), arch.n_out(l));
        let input = if l == 0 { x } else { &acts[l - 1] };
        let mut out = vec![0.0; batch * n_out];
        for b in 0..batch {
            for j in 0..n_out {
                let mut z: f64 = (0..n_in)
                    .map(|i| w[l][j * n_in + i] * input[b * n_in + i])
                    .sum();
                if arch.bias {
                    z += w[l][n_out * n_in + j];
                }
                out[b * n_out + j] = if l + 1 < arch.layers() { z.max(0.0) } else { z };
            }
        }
        acts.push(out);
    }
    Forward { acts }
}

fn log_softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    z.iter().map(|v| v - lse).collect()
}

/// Loss of one sample summed over the batch, and dL/dz = softmax - onehot.
pub fn loss_grad(logits: &[f64], labels: &[u8], classes: usize) -> (f64, Vec<f64>) {
    let mut loss = 0.0;
    let mut delta = Vec::with_capacity(logits.len());
    for (b, &y) in labels.iter().enumerate() {
        let ls = log_softmax(&logits[b * classes..(b + 1) * classes]);
        loss -= ls[y as usize];
        delta.extend(
            ls.iter()
                .enumerate()
                .map(|(c, v)| v.exp() - (c == y as usize) as u8 as f64),
        );
    }
    (loss, delta)
}

/// dL/d(pre-activation) of every layer from that of the last one.
pub fn backward(
    arch: &Architecture,
    w: &[Vec<f64>],
    acts: &[Vec<f64>],
    delta_last: Vec<f64>,
    batch: usize,
) -> Vec<Vec<f64>> {
    let layers = arch.layers();
    let mut deltas = vec![Vec::new(); layers];
    deltas[layers - 1] = delta_last;
    for l in (1..layers).rev() {
        let (n_in, n_out) = (arch.n_in(l), arch.n_out(l));
        let mut d = vec![0.0; batch * n_in];
        for b in 0..batch {
            for i in 0..n_in {
                if acts[l - 1][b * n_in + i] > 0.0 {
                    d[b * n_in + i] = (0..n_out)
                        .map(|j| w[l][j * n_in + i] * deltas[l][b * n_out + j])
                        .sum();
                }
            }
        }
        deltas[l - 1] = d;
    }
    deltas
}

/// dL/dw of every layer (weights then bias, like the parameters).
pub fn weight_grads(
    arch: &Architecture,
    deltas: &[Vec<f64>],
    acts: &[Vec<f64>],
    x: &[f64],
    batch: usize,
) -> Vec<Vec<f64>> {
    (0..arch.layers())
        .map(|l| {
            let (n_in, n_out) = (arch.n_in(l), arch.n_out(l));
            let input = if l == 0 { x } else { &acts[l - 1] };
            let mut g = vec![0.0; arch.params(l)];
            for b in 0..batch {
                for j in 0..n_out {
                    let d = deltas[l][b * n_out + j];
                    for i in 0..n_in {
                        g[j * n_in + i] += d * input[b * n_in + i];
                    }
                    if arch.bias {
                        g[n_out * n_in + j] += d;
                    }
                }
            }
            g
        })
        .collect()
}

/// One parameter's update from its old (mu, sigma) and the sample-averaged
/// gradients, in f64: the shared rule of `crate::model::Rule` (a penalised
/// baseline's state starts empty here; see `penalised_step`).
pub fn update(h: &Hyper, mu: f64, sigma: f64, g_mu: f64, g_sigma: f64) -> (f64, f64) {
    Rule::<f64>::new(h).apply(mu, sigma, g_mu, g_sigma, &mut Penalty::default())
}

/// Everything one training step computes, per sample k where it applies.
pub struct StepOutput {
    pub mu: Vec<Vec<f64>>,
    pub sigma: Vec<Vec<f64>>,
    /// C = -sum_b 1/K sum_k log_softmax[y_b].
    pub loss: f64,
    pub g_mu: Vec<Vec<f64>>,
    pub g_sigma: Vec<Vec<f64>>,
    /// [k][layer][B * n_out].
    pub acts: Vec<Vec<Vec<f64>>>,
    pub deltas: Vec<Vec<Vec<f64>>>,
}

/// One training step of one run: `eps[l][k]` is the noise of layer l, sample k.
#[allow(clippy::too_many_arguments)]
pub fn step(
    arch: &Architecture,
    hyper: &Hyper,
    mu: &[Vec<f64>],
    sigma: &[Vec<f64>],
    eps: &[Vec<Vec<f64>>],
    x: &[f64],
    labels: &[u8],
) -> StepOutput {
    let batch = labels.len();
    let samples = eps[0].len();
    let layers = arch.layers();
    let mut g_mu: Vec<Vec<f64>> = (0..layers).map(|l| vec![0.0; arch.params(l)]).collect();
    let mut g_sigma = g_mu.clone();
    let (mut loss, mut all_acts, mut all_deltas) = (0.0, Vec::new(), Vec::new());
    // eps is [layer][sample]: k indexes the inner level, which clippy misreads.
    #[allow(clippy::needless_range_loop)]
    for k in 0..samples {
        let w: Vec<_> = (0..layers)
            .map(|l| sample_weights(&mu[l], &sigma[l], &eps[l][k]))
            .collect();
        let f = forward(arch, &w, x, batch);
        let (lk, delta) = loss_grad(&f.acts[layers - 1], labels, arch.n_out(layers - 1));
        loss += lk / samples as f64;
        let deltas = backward(arch, &w, &f.acts, delta, batch);
        let gw = weight_grads(arch, &deltas, &f.acts, x, batch);
        for l in 0..layers {
            for (e, g) in gw[l].iter().enumerate() {
                g_mu[l][e] += g / samples as f64;
                g_sigma[l][e] += eps[l][k][e] * g / samples as f64;
            }
        }
        all_acts.push(f.acts);
        all_deltas.push(deltas);
    }
    let (mut new_mu, mut new_sigma) = (mu.to_vec(), sigma.to_vec());
    for l in 0..layers {
        for e in 0..arch.params(l) {
            let (m, s) = update(hyper, mu[l][e], sigma[l][e], g_mu[l][e], g_sigma[l][e]);
            new_mu[l][e] = m;
            new_sigma[l][e] = s;
        }
    }
    StepOutput {
        mu: new_mu,
        sigma: new_sigma,
        loss,
        g_mu,
        g_sigma,
        acts: all_acts,
        deltas: all_deltas,
    }
}

/// The loss C alone, as a function of (mu, sigma) at fixed noise (for
/// finite-difference checks of the gradients).
pub fn loss(
    arch: &Architecture,
    mu: &[Vec<f64>],
    sigma: &[Vec<f64>],
    eps: &[Vec<Vec<f64>>],
    x: &[f64],
    labels: &[u8],
) -> f64 {
    let samples = eps[0].len();
    (0..samples)
        .map(|k| {
            let w: Vec<_> = (0..arch.layers())
                .map(|l| sample_weights(&mu[l], &sigma[l], &eps[l][k]))
                .collect();
            let f = forward(arch, &w, x, labels.len());
            loss_grad(
                &f.acts[arch.layers() - 1],
                labels,
                arch.n_out(arch.layers() - 1),
            )
            .0
        })
        .sum::<f64>()
        / samples as f64
}

/// Class (argmax of the mean over K of log-softmax), entropies in bits, and
/// the predictive distribution p = the mean over K of softmax, as ln p.
#[derive(Clone, Debug)]
pub struct Prediction {
    pub pred: usize,
    pub h_pred: f64,
    pub h_alea: f64,
    pub ln_p: Vec<f64>,
}

/// What `Score` carries for calibration, of one example with its label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CalibrationTerms {
    /// max over classes of p.
    pub p_max: f64,
    /// Whether argmax p (the first on ties) is the label.
    pub right: bool,
    pub ln_p_true: f64,
    /// sum over classes of (p_c - [c = label])^2.
    pub brier: f64,
}

impl Prediction {
    pub fn calibration_terms(&self, label: usize) -> CalibrationTerms {
        let p: Vec<f64> = self.ln_p.iter().map(|v| v.exp()).collect();
        let top = (0..p.len()).fold(0, |best, c| if p[c] > p[best] { c } else { best });
        CalibrationTerms {
            p_max: p[top],
            right: top == label,
            ln_p_true: self.ln_p[label],
            brier: p
                .iter()
                .enumerate()
                .map(|(c, &v)| (v - f64::from(u8::from(c == label))).powi(2))
                .sum(),
        }
    }
}

pub fn predict(
    arch: &Architecture,
    mu: &[Vec<f64>],
    sigma: &[Vec<f64>],
    eps: &[Vec<Vec<f64>>],
    x: &[f64],
    batch: usize,
) -> Vec<Prediction> {
    let samples = eps[0].len();
    let classes = arch.n_out(arch.layers() - 1);
    let log_probs: Vec<Vec<f64>> = (0..samples)
        .map(|k| {
            let w: Vec<_> = (0..arch.layers())
                .map(|l| sample_weights(&mu[l], &sigma[l], &eps[l][k]))
                .collect();
            let logits = forward(arch, &w, x, batch).acts.pop().expect("one layer");
            logits.chunks(classes).flat_map(log_softmax).collect()
        })
        .collect();
    (0..batch)
        .map(|b| {
            let at = |k: usize, c: usize| log_probs[k][b * classes + c];
            let k = samples as f64;
            let mean_log: Vec<f64> = (0..classes)
                .map(|c| (0..samples).map(|s| at(s, c)).sum::<f64>() / k)
                .collect();
            let pred = (0..classes).fold(0, |best, c| {
                if mean_log[c] > mean_log[best] {
                    c
                } else {
                    best
                }
            });
            // ln of the mean of exp, shifted by the maximum so that it stays
            // finite where the mean underflows.
            let ln_p: Vec<f64> = (0..classes)
                .map(|c| {
                    let m = (0..samples).map(|s| at(s, c)).fold(f64::MIN, f64::max);
                    m + ((0..samples).map(|s| (at(s, c) - m).exp()).sum::<f64>() / k).ln()
                })
                .collect();
            let h_pred = -ln_p
                .iter()
                .map(|&l| l.exp() * l / std::f64::consts::LN_2)
                .sum::<f64>();
            let h_alea = -(0..samples)
                .flat_map(|s| (0..classes).map(move |c| (s, c)))
                .map(|(s, c)| at(s, c).exp() * at(s, c) / std::f64::consts::LN_2)
                .sum::<f64>()
                / k;
            Prediction {
                pred,
                h_pred,
                h_alea,
                ln_p,
            }
        })
        .collect()
}
