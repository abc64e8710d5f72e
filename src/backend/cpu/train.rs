//! One run's training state and the phases of a step. Each phase is a
//! pure function of its inputs per work item (a noise chunk, a sample, a
//! slice of parameters), so the bits do not depend on the thread count.

use rayon::prelude::*;

use super::backward::{backprop_gemm, backprop_matvec, weight_grads};
use super::forward::{gemm_forward, loss_delta, relu, sample_weights, sampled_matvec};
use super::normals::{BLOCK, fill_normals};
use super::update::{Grads, LayerGrads, Span, update_span};
use crate::model::{Architecture, DOMAIN_TRAIN, Params, Penalty, Rule};
use crate::optim::RunSpec;
use crate::philox::philox_key;

/// Normals per noise work item (a multiple of the Philox block).
const NOISE_CHUNK: usize = 4096;
const _: () = assert!(NOISE_CHUNK.is_multiple_of(BLOCK));
/// Parameters per update work item, about.
const UPDATE_CHUNK: usize = 2048;

/// eps of sample k, every layer ([P] each): counters (e / 4, k, step, l | domain << 16).
pub fn draw_noise(eps: &mut [Vec<f32>], k: usize, key: [u32; 2], step: u32, domain: u32) {
    eps.par_iter_mut().enumerate().for_each(|(l, row)| {
        let rest = [k as u32, step, l as u32 | (domain << 16)];
        row.par_chunks_mut(NOISE_CHUNK)
            .enumerate()
            .for_each(|(c, part)| fill_normals(part, c * NOISE_CHUNK, rest, key));
    });
}

/// The training split on the host: pixels as bytes and their standardisation.
pub struct TrainData {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub pixels: usize,
    /// byte * x_scale + x_shift = (byte / 255 - mean) / std.
    pub x_scale: f32,
    pub x_shift: f32,
}

impl TrainData {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
}

/// One weight sample's intermediates of the current step.
struct Sample {
    /// Per layer this step's noise, [P].
    eps: Vec<Vec<f32>>,
    /// Per layer [B][n_out]: post-ReLU, logits last.
    acts: Vec<Vec<f32>>,
    /// Per layer dL/d(pre-activation), [B][n_out].
    deltas: Vec<Vec<f32>>,
    /// Batch > 1: per layer the sampled weights, then this sample's dL/dw.
    w: Vec<Vec<f32>>,
    /// -sum_b log_softmax[y_b] of this sample.
    loss: f64,
}

impl Sample {
    /// Hidden deltas (and, at batch > 1, dL/dw) of this sample.
    fn backward(&mut self, arch: &Architecture, mu: &[Vec<f32>], sigma: &[Vec<f32>], x: &[f32]) {
        let batch_one = x.len() == arch.n_in(0);
        for l in (1..arch.layers()).rev() {
            let (lower, upper) = self.deltas.split_at_mut(l);
            if batch_one {
                let e = &self.eps[l];
                backprop_matvec(
                    &mu[l],
                    &sigma[l],
                    e,
                    &upper[0],
                    &self.acts[l - 1],
                    &mut lower[l - 1],
                );
            } else {
                backprop_gemm(
                    &self.w[l],
                    &upper[0],
                    &self.acts[l - 1],
                    arch.n_in(l),
                    &mut lower[l - 1],
                );
            }
        }
        if !batch_one {
            for l in 0..arch.layers() {
                let input = if l == 0 { x } else { &self.acts[l - 1][..] };
                weight_grads(&self.deltas[l], input, arch.n_in(l), &mut self.w[l]);
            }
        }
    }
}

/// One run: parameters, its rule and key, and the buffers of a step.
pub struct RunState {
    pub mu: Vec<Vec<f32>>,
    pub sigma: Vec<Vec<f32>>,
    /// A penalised baseline's state per layer (empty for the other rules).
    pub penalty: Vec<Vec<Penalty<f32>>>,
    pub key: [u32; 2],
    pub rule: Rule<f32>,
    /// The step's standardised input [B][n_in] and labels.
    x: Vec<f32>,
    labels: Vec<u8>,
    samples: Vec<Sample>,
    /// Sum of the sample losses since the last take_loss.
    loss: f64,
    /// Per layer, the first step that left a non-finite mu or sigma.
    pub first_bad: Vec<Option<u64>>,
}

impl RunState {
    pub fn new(
        arch: &Architecture,
        spec: &RunSpec,
        params: Params,
        batch: usize,
        k: usize,
    ) -> Self {
        let layers = arch.layers();
        let per_layer =
            |n: &dyn Fn(usize) -> usize| (0..layers).map(|l| vec![0f32; n(l)]).collect();
        let samples = (0..k)
            .map(|_| Sample {
                eps: per_layer(&|l| arch.params(l)),
                acts: per_layer(&|l| batch * arch.n_out(l)),
                deltas: per_layer(&|l| batch * arch.n_out(l)),
                w: if batch > 1 {
                    per_layer(&|l| arch.params(l))
                } else {
                    Vec::new()
                },
                loss: 0.0,
            })
            .collect();
        RunState {
            mu: params.mu,
            sigma: params.sigma,
            penalty: params.penalty,
            key: philox_key(spec.seed),
            rule: Rule::new(&spec.hyper),
            x: vec![0.0; batch * arch.n_in(0)],
            labels: vec![0; batch],
            samples,
            loss: 0.0,
            first_bad: vec![None; layers],
        }
    }

    /// K: weight samples per step.
    pub fn samples_per_step(&self) -> usize {
        self.samples.len()
    }

    /// The sum of the sample losses since the last call.
    pub fn take_loss(&mut self) -> f64 {
        std::mem::take(&mut self.loss)
    }

    /// The batch of examples order[pos..pos + B] through the permutation.
    pub fn gather(&mut self, data: &TrainData, perm: &[u32], order: &[u32], pos: usize) {
        let n_in = perm.len();
        for (b, &n) in order[pos..pos + self.labels.len()].iter().enumerate() {
            let img = &data.images[n as usize * data.pixels..(n as usize + 1) * data.pixels];
            for (x, &p) in self.x[b * n_in..(b + 1) * n_in].iter_mut().zip(perm) {
                *x = f32::from(img[p as usize]) * data.x_scale + data.x_shift;
            }
            self.labels[b] = data.labels[n as usize];
        }
    }

    /// Every sample's noise of this step.
    pub fn noise(&mut self, step: u64) {
        let key = self.key;
        self.samples.par_iter_mut().enumerate().for_each(|(k, s)| {
            draw_noise(&mut s.eps, k, key, step as u32, DOMAIN_TRAIN);
        });
    }

    /// Every sample's forward pass, loss and output-layer delta. With
    /// `draw` (the step), each sample first draws its own noise, so the
    /// forward reads it from cache rather than from memory. With
    /// `and_backward`, each sample's backward follows its forward in the
    /// same work item (one parallel region less per step).
    pub fn forward(&mut self, arch: &Architecture, draw: Option<u64>, and_backward: bool) {
        let RunState {
            mu,
            sigma,
            x,
            labels,
            samples,
            key,
            ..
        } = self;
        let last = arch.layers() - 1;
        samples.par_iter_mut().enumerate().for_each(|(k, s)| {
            if let Some(step) = draw {
                draw_noise(&mut s.eps, k, *key, step as u32, DOMAIN_TRAIN);
            }
            for l in 0..=last {
                let e = &s.eps[l][..];
                let (before, rest) = s.acts.split_at_mut(l);
                let input = if l == 0 { &x[..] } else { &before[l - 1][..] };
                let out = &mut rest[0];
                if labels.len() == 1 {
                    sampled_matvec(&mu[l], &sigma[l], e, input, out);
                } else {
                    sample_weights(&mu[l], &sigma[l], e, &mut s.w[l]);
                    gemm_forward(&s.w[l], input, arch.n_in(l), out);
                }
                if l < last {
                    relu(out);
                }
            }
            s.loss = loss_delta(&s.acts[last], labels, &mut s.deltas[last]);
            if and_backward {
                s.backward(arch, mu, sigma, x);
            }
        });
        self.loss += self.samples.iter().map(|s| s.loss).sum::<f64>();
    }

    /// Every sample's hidden deltas (and, at batch > 1, its dL/dw).
    pub fn backward(&mut self, arch: &Architecture) {
        let RunState {
            mu,
            sigma,
            x,
            samples,
            ..
        } = self;
        samples
            .par_iter_mut()
            .for_each(|s| s.backward(arch, mu, sigma, x));
    }

    /// The fused update of every layer; records the layers gone non-finite.
    pub fn update(&mut self, arch: &Architecture, step: u64) {
        let RunState {
            mu,
            sigma,
            penalty,
            x,
            samples,
            rule,
            first_bad,
            ..
        } = self;
        let batch_one = x.len() == arch.n_in(0);
        for l in 0..arch.layers() {
            let grads = if batch_one {
                Grads::Outer {
                    deltas: samples.iter().map(|s| &s.deltas[l][..]).collect(),
                    inputs: samples
                        .iter()
                        .map(|s| if l == 0 { &x[..] } else { &s.acts[l - 1][..] })
                        .collect(),
                }
            } else {
                Grads::Stored(samples.iter().map(|s| &s.w[l][..]).collect())
            };
            let layer = LayerGrads {
                eps: samples.iter().map(|s| &s.eps[l][..]).collect(),
                n_in: arch.n_in(l),
                n_out: arch.n_out(l),
                grads,
            };
            let chunk = UPDATE_CHUNK.div_ceil(layer.n_in) * layer.n_in;
            let mut pen_chunks = penalty.get_mut(l).map(|p| p.chunks_mut(chunk));
            let spans: Vec<Span> = mu[l]
                .chunks_mut(chunk)
                .zip(sigma[l].chunks_mut(chunk))
                .enumerate()
                .map(|(c, (mu, sigma))| Span {
                    first: c * chunk,
                    mu,
                    sigma,
                    penalty: pen_chunks.as_mut().and_then(Iterator::next),
                })
                .collect();
            let bad = spans
                .into_par_iter()
                .map(|at| update_span(rule, &layer, at))
                .reduce(|| false, |a, b| a | b);
            if bad && first_bad[l].is_none() {
                first_bad[l] = Some(step);
            }
        }
    }
}
