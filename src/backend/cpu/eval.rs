//! Evaluation: one fresh draw of K networks (noise domain 1, counter step
//! = eval_id), the first layer as one GEMM over all K samples on the
//! pixels that are nonzero somewhere in a chunk of similar images, the
//! other layers as a GEMM per sample, then the prediction and entropies.

use rayon::prelude::*;

use super::forward::{gemm, log_softmax, relu, sample_weights};
use super::train::{RunState, draw_noise};
use crate::data::Split;
use crate::data::similarity_order;
use crate::model::{Architecture, DOMAIN_EVAL, Score};

/// Images per chunk (one GEMM of the first layer).
const CHUNK: usize = 128;

/// A chunk of slots: its union of nonzero pixels and its pixel bytes on
/// those columns, as f32 ([rows][pixels.len()]).
struct Chunk {
    first_slot: usize,
    rows: usize,
    pixels: Vec<u32>,
    bytes: Vec<f32>,
}

/// A split registered for evaluation.
pub struct EvalData {
    labels: Vec<u8>,
    /// Slot -> example: similar images side by side, so chunks share pixels.
    order: Vec<u32>,
    chunks: Vec<Chunk>,
    x_scale: f32,
    x_shift: f32,
}

impl EvalData {
    pub fn new(split: &Split, pixels: usize) -> Self {
        let (x_scale, x_shift) = split.byte_standardisation();
        let order = similarity_order(&split.images, &split.labels, pixels);
        let image = |slot: usize| {
            let n = order[slot] as usize;
            &split.images[n * pixels..(n + 1) * pixels]
        };
        let chunks = (0..order.len())
            .step_by(CHUNK)
            .map(|first_slot| {
                let rows = CHUNK.min(order.len() - first_slot);
                let used: Vec<u32> = (0..pixels as u32)
                    .filter(|&p| (0..rows).any(|r| image(first_slot + r)[p as usize] != 0))
                    .collect();
                let bytes = (0..rows)
                    .flat_map(|r| {
                        used.iter()
                            .map(move |&p| f32::from(image(first_slot + r)[p as usize]))
                    })
                    .collect();
                Chunk {
                    first_slot,
                    rows,
                    pixels: used,
                    bytes,
                }
            })
            .collect();
        EvalData {
            labels: split.labels.clone(),
            order,
            chunks,
            x_scale,
            x_shift,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }
}

/// Class = argmax of the mean over K of log-softmax; entropies in bits;
/// the calibration terms of p = the mean over K of softmax
/// (shaders/output.wgsl `predict`).
fn score(logits: &[f32], samples: usize, label: u8) -> Score {
    let classes = logits.len() / samples;
    let y = label as usize;
    let mut lp = vec![0f32; logits.len()];
    for (z, o) in logits.chunks(classes).zip(lp.chunks_mut(classes)) {
        log_softmax(z, o);
    }
    let inv_k = 1.0 / samples as f32;
    let inv_ln2 = std::f32::consts::LOG2_E;
    let h_alea: f32 = -lp.iter().map(|&v| v.exp() * v * inv_ln2).sum::<f32>();
    let (mut best, mut best_score, mut h_pred) = (0, -3.4e38f32, 0f32);
    let (mut p_max, mut p_top, mut ln_p_true, mut brier) = (-1f32, 0, 0f32, 0f32);
    for c in 0..classes {
        let mean_log = (0..samples).map(|k| lp[k * classes + c]).sum::<f32>() * inv_k;
        // p_c = exp(m) * s / K with m the running maximum of the
        // log-probabilities: ln p_c stays finite where p_c underflows.
        let (m, s) = (0..samples).fold((-3.4e38f32, 0f32), |(m, s), k| {
            let v = lp[k * classes + c];
            if v > m {
                (v, s * (m - v).exp() + 1.0)
            } else {
                (m, s + (v - m).exp())
            }
        });
        let ln_p = m + (s * inv_k).ln();
        let mean_p = ln_p.exp();
        if mean_log > best_score {
            best_score = mean_log;
            best = c;
        }
        if mean_p > p_max {
            p_max = mean_p;
            p_top = c;
        }
        if mean_p > 0.0 {
            h_pred -= mean_p * ln_p * inv_ln2;
        }
        if c == y {
            ln_p_true = ln_p;
        }
        let miss = mean_p - if c == y { 1.0 } else { 0.0 };
        brier += miss * miss;
    }
    // One sample: the predictive distribution is that sample's, so the
    // epistemic part is exactly 0, not the rounding of two formulas.
    if samples == 1 {
        h_pred = h_alea;
    }
    Score {
        pred: best as u32,
        correct: u32::from(best == y),
        h_pred,
        h_alea: h_alea * inv_k,
        p_max,
        p_max_correct: u32::from(p_top == y),
        ln_p_true,
        brier,
    }
}

/// Every example's score under one run's parameters, in split order.
pub fn evaluate_run(
    arch: &Architecture,
    run: &RunState,
    data: &EvalData,
    perm: &[u32],
    samples: usize,
    eval_id: u32,
) -> Vec<Score> {
    let layers = arch.layers();
    // w[k][l]: sample k's weights of layer l.
    let mut w: Vec<Vec<Vec<f32>>> = (0..samples)
        .map(|_| (0..layers).map(|l| vec![0f32; arch.params(l)]).collect())
        .collect();
    w.par_iter_mut().enumerate().for_each(|(k, wk)| {
        draw_noise(wk, k, run.key, eval_id, DOMAIN_EVAL);
        for (l, wl) in wk.iter_mut().enumerate() {
            let eps = wl.clone();
            sample_weights(&run.mu[l], &run.sigma[l], &eps, wl);
        }
    });
    // First layer as [pixel][k * n_out + j], rows at the original pixel perm[i],
    // and the part of z that does not depend on the pixels.
    let (n_in, n0) = (arch.n_in(0), arch.n_out(0));
    let kn = samples * n0;
    let mut table = vec![0f32; n_in * kn];
    let mut offset = vec![0f32; kn];
    for (k, wk) in w.iter().map(|wk| &wk[0]).enumerate() {
        for j in 0..n0 {
            let row = &wk[j * n_in..(j + 1) * n_in];
            for (i, &v) in row.iter().enumerate() {
                table[perm[i] as usize * kn + k * n0 + j] = v;
            }
            let bias = if arch.bias { wk[n0 * n_in + j] } else { 0.0 };
            offset[k * n0 + j] = data.x_shift * row.iter().sum::<f32>() + bias;
        }
    }
    let classes = arch.n_out(layers - 1);
    let per_chunk: Vec<Vec<Score>> = data
        .chunks
        .par_iter()
        .map(|c| {
            let u = c.pixels.len();
            let mut b = vec![0f32; u * kn];
            for (dst, &p) in b.chunks_mut(kn).zip(&c.pixels) {
                dst.copy_from_slice(&table[p as usize * kn..(p as usize + 1) * kn]);
            }
            let mut act: Vec<f32> = (0..c.rows).flat_map(|_| offset.iter().copied()).collect();
            if u > 0 {
                let x = (&c.bytes[..], u, 1);
                gemm(
                    (c.rows, u, kn),
                    data.x_scale,
                    x,
                    (&b, kn, 1),
                    1.0,
                    &mut act,
                    (kn, 1),
                );
            }
            for l in 1..layers {
                relu(&mut act);
                let (n_in, n_out) = (arch.n_in(l), arch.n_out(l));
                let mut out = vec![0f32; c.rows * samples * n_out];
                for (k, wk) in w.iter().map(|wk| &wk[l]).enumerate() {
                    let beta = if arch.bias {
                        for row in out.chunks_mut(samples * n_out) {
                            row[k * n_out..(k + 1) * n_out].copy_from_slice(&wk[n_out * n_in..]);
                        }
                        1.0
                    } else {
                        0.0
                    };
                    gemm(
                        (c.rows, n_in, n_out),
                        1.0,
                        (&act[k * n_in..], samples * n_in, 1),
                        (wk, 1, n_in),
                        beta,
                        &mut out[k * n_out..],
                        (samples * n_out, 1),
                    );
                }
                act = out;
            }
            act.chunks(samples * classes)
                .enumerate()
                .map(|(r, logits)| {
                    let n = data.order[c.first_slot + r] as usize;
                    score(logits, samples, data.labels[n])
                })
                .collect()
        })
        .collect();
    let mut scores = vec![Score::default(); data.len()];
    for (slot, s) in per_chunk.into_iter().flatten().enumerate() {
        scores[data.order[slot] as usize] = s;
    }
    scores
}
