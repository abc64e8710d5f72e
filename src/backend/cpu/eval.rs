//! Evaluation: one fresh draw of K networks (noise domain 1, counter step
//! = eval_id), the first layer for all K samples at once as a sparse sum
//! over each tile of similar images' nonzero pixels, the other layers as a
//! GEMM per sample, then the prediction and entropies.

use multiversion::multiversion;
use rayon::prelude::*;

use super::forward::{gemm, log_softmax, relu, sample_weights};
use super::train::{RunState, draw_noise};
use crate::data::Split;
use crate::data::similarity_order;
use crate::model::{Architecture, DOMAIN_EVAL, Score};

/// Images per tile: each first-layer weight loaded serves this many images.
const TILE: usize = 4;
/// First-layer outputs (over every sample) summed at once: TILE x BLOCK
/// accumulators fill 16 AVX2 or 8 AVX-512 registers.
const BLOCK: usize = 32;
/// Tiles per work item (one GEMM per sample of the layers above).
const CHUNK_TILES: usize = 32;

/// A split registered for evaluation, in tiles of TILE similar images:
/// each tile's union of nonzero pixels and, per such pixel, the pixel's
/// byte in each of the tile's images (0 where an image lacks it).
pub struct EvalData {
    labels: Vec<u8>,
    /// Slot -> example: similar images side by side, so tiles share pixels.
    order: Vec<u32>,
    /// Tile t's pixels and bytes are entries tile_start[t]..tile_start[t + 1].
    tile_start: Vec<usize>,
    pixels: Vec<u32>,
    bytes: Vec<[f32; TILE]>,
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
        let mut data = EvalData {
            labels: split.labels.clone(),
            tile_start: vec![0],
            pixels: Vec::new(),
            bytes: Vec::new(),
            order: Vec::new(),
            x_scale,
            x_shift,
        };
        for first in (0..order.len()).step_by(TILE) {
            let slots = first..order.len().min(first + TILE);
            for p in 0..pixels {
                let mut b = [0f32; TILE];
                for (t, slot) in slots.clone().enumerate() {
                    b[t] = f32::from(image(slot)[p]);
                }
                if b.iter().any(|&v| v != 0.0) {
                    data.pixels.push(p as u32);
                    data.bytes.push(b);
                }
            }
            data.tile_start.push(data.pixels.len());
        }
        data.order = order;
        data
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    fn tiles(&self) -> usize {
        self.tile_start.len() - 1
    }
}

/// One tile's first layer on one block of outputs: out[t][c] = scale *
/// sum_p bytes[p][t] * stripe[pixel p][c] + offset[c] for c <
/// offset.len(), the sum a fused chain in pixel order. A pixel an image
/// lacks adds an exact zero, so each image's values are the same bits
/// whatever its tile. `out` holds the tile's rows, `row_len` apart.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn tile_block(
    (pixels, bytes): (&[u32], &[[f32; TILE]]),
    stripe: &[f32],
    scale: f32,
    offset: &[f32],
    out: &mut [f32],
    row_len: usize,
) {
    let mut acc = [[0f32; BLOCK]; TILE];
    for (&p, x) in pixels.iter().zip(bytes) {
        let at = p as usize * BLOCK;
        let w: &[f32; BLOCK] = stripe[at..at + BLOCK].try_into().unwrap();
        for (a, &x) in acc.iter_mut().zip(x) {
            fma_row(a, x, w);
        }
    }
    for (row, a) in out.chunks_mut(row_len).zip(&acc) {
        for ((o, &v), &c) in row.iter_mut().zip(a).zip(offset) {
            *o = scale.mul_add(v, c);
        }
    }
}

/// a[j] = fma(x, w[j], a[j]): one loop the vectoriser turns into whole
/// registers (nested over the tile, LLVM fell back to scalar FMAs).
#[inline(always)]
fn fma_row(a: &mut [f32; BLOCK], x: f32, w: &[f32; BLOCK]) {
    for (a, &w) in a.iter_mut().zip(w) {
        *a = x.mul_add(w, *a);
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
    // First layer as stripes of BLOCK outputs, [block][pixel][BLOCK] with
    // output k * n0 + j of pixel perm[i] at (k * n0 + j) / BLOCK, perm[i],
    // (k * n0 + j) % BLOCK: a block's stripe stays in cache while every
    // tile of a work item walks it. And the part of z that does not
    // depend on the pixels.
    let (n_in, n0) = (arch.n_in(0), arch.n_out(0));
    let kn = samples * n0;
    let stripe_len = n_in * BLOCK;
    let mut table = vec![0f32; kn.div_ceil(BLOCK) * stripe_len];
    let mut offset = vec![0f32; kn];
    for (k, wk) in w.iter().map(|wk| &wk[0]).enumerate() {
        for j in 0..n0 {
            let c = k * n0 + j;
            let stripe = &mut table[c / BLOCK * stripe_len..][..stripe_len];
            let row = &wk[j * n_in..(j + 1) * n_in];
            for (i, &v) in row.iter().enumerate() {
                stripe[perm[i] as usize * BLOCK + c % BLOCK] = v;
            }
            let bias = if arch.bias { wk[n0 * n_in + j] } else { 0.0 };
            offset[c] = data.x_shift * row.iter().sum::<f32>() + bias;
        }
    }
    let classes = arch.n_out(layers - 1);
    let tiles: Vec<usize> = (0..data.tiles()).step_by(CHUNK_TILES).collect();
    let per_chunk: Vec<Vec<Score>> = tiles
        .par_iter()
        .map(|&first_tile| {
            let first_slot = first_tile * TILE;
            let rows = (CHUNK_TILES * TILE).min(data.len() - first_slot);
            let mut act = vec![0f32; rows.next_multiple_of(TILE) * kn];
            for (b, stripe) in table.chunks(stripe_len).enumerate() {
                let cols = b * BLOCK..kn.min((b + 1) * BLOCK);
                for (t, out) in act.chunks_mut(TILE * kn).enumerate() {
                    let e = data.tile_start[first_tile + t]..data.tile_start[first_tile + t + 1];
                    tile_block(
                        (&data.pixels[e.clone()], &data.bytes[e]),
                        stripe,
                        data.x_scale,
                        &offset[cols.clone()],
                        &mut out[cols.start..],
                        kn,
                    );
                }
            }
            act.truncate(rows * kn);
            for l in 1..layers {
                relu(&mut act);
                let (n_in, n_out) = (arch.n_in(l), arch.n_out(l));
                let mut out = vec![0f32; rows * samples * n_out];
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
                        (rows, n_in, n_out),
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
                    let n = data.order[first_slot + r] as usize;
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
