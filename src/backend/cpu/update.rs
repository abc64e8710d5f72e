//! The fused update of one layer's parameters: the sample-averaged
//! gradients g_mu = (1/K) sum_k dL_k/dw and g_sigma = (1/K) sum_k eps_k
//! dL_k/dw, then the shared `Rule<f32>::apply`, 16 parameters at a time.

use multiversion::multiversion;

use crate::model::{Pass, Penalty, Rule, healthy};
use crate::optim::Optimizer;

const LANES: usize = 16;

/// Where the per-sample dL/dw of one layer come from.
pub enum Grads<'a> {
    /// Batch 1: dL/dw[j][i] = delta_k[j] * input_k[i], dL/dbias_j = delta_k[j].
    Outer {
        deltas: Vec<&'a [f32]>,
        inputs: Vec<&'a [f32]>,
    },
    /// Batch > 1: per sample, weights then bias like the parameters.
    Stored(Vec<&'a [f32]>),
}

/// What the update of one layer reads.
pub struct LayerGrads<'a> {
    /// The step's noise, per sample [P].
    pub eps: Vec<&'a [f32]>,
    pub n_in: usize,
    pub n_out: usize,
    pub grads: Grads<'a>,
}

impl LayerGrads<'_> {
    fn samples(&self) -> usize {
        match &self.grads {
            Grads::Outer { deltas, .. } => deltas.len(),
            Grads::Stored(g) => g.len(),
        }
    }

    /// Sample k's gradients of elements e..e + w as (scale, row): dL/dw = scale * row[l].
    #[inline(always)]
    fn grad_row(&self, k: usize, e: usize, w: usize) -> (f32, &[f32]) {
        let weights = self.n_out * self.n_in;
        match &self.grads {
            Grads::Outer { deltas, inputs } if e < weights => {
                let (j, i) = (e / self.n_in, e % self.n_in);
                (deltas[k][j], &inputs[k][i..i + w])
            }
            Grads::Outer { deltas, .. } => (1.0, &deltas[k][e - weights..e - weights + w]),
            Grads::Stored(g) => (1.0, &g[k][e..e + w]),
        }
    }
}

/// Update `w` <= LANES parameters starting at element `e` (within one row).
#[inline(always)]
fn lanes(
    rule: &Rule<f32>,
    layer: &LayerGrads,
    e: usize,
    w: usize,
    mu: &mut [f32],
    sigma: &mut [f32],
    penalty: Option<&mut [Penalty<f32>]>,
) -> bool {
    let samples = layer.samples();
    let mut g_mu = [0f32; LANES];
    let mut g_sigma = [0f32; LANES];
    for k in 0..samples {
        let eps = &layer.eps[k][e..e + w];
        let (scale, row) = layer.grad_row(k, e, w);
        for l in 0..w {
            let g = scale * row[l];
            g_mu[l] += g;
            g_sigma[l] += eps[l] * g;
        }
    }
    let inv_k = 1.0 / samples as f32;
    let mut bad = false;
    // One loop per case, so the rules without a state loop as before.
    macro_rules! each {
        ($l:ident, $pen:expr) => {
            for $l in 0..w {
                let (g_m, g_s) = (g_mu[$l] * inv_k, g_sigma[$l] * inv_k);
                let (m, s) = rule.apply(mu[$l], sigma[$l], g_m, g_s, $pen);
                bad |= !healthy(m, s);
                mu[$l] = m;
                sigma[$l] = s;
            }
        };
    }
    match penalty {
        Some(p) => each!(l, &mut p[l]),
        None => {
            let mut unused = Penalty::default();
            each!(l, &mut unused)
        }
    }
    bad
}

/// One update work item: elements first..first + mu.len() of a layer.
pub struct Span<'a> {
    pub first: usize,
    pub mu: &'a mut [f32],
    pub sigma: &'a mut [f32],
    /// A penalised baseline's state of these elements.
    pub penalty: Option<&'a mut [Penalty<f32>]>,
}

/// Update one span with a rule whose optimizer (and clamp being off) the
/// compiler sees as constants.
#[inline(always)]
fn span(rule: &Rule<f32>, layer: &LayerGrads, at: &mut Span) -> bool {
    let Span {
        first,
        mu,
        sigma,
        penalty,
    } = at;
    let first = *first;
    let weights = layer.n_out * layer.n_in;
    let mut bad = false;
    let mut done = 0;
    while done < mu.len() {
        let e = first + done;
        // Blocks stay inside one weight row (or inside the bias).
        let row_end = if e < weights {
            (e / layer.n_in + 1) * layer.n_in
        } else {
            weights + layer.n_out
        };
        let w = (row_end - e).min(LANES).min(mu.len() - done);
        let (m, s) = (&mut mu[done..done + w], &mut sigma[done..done + w]);
        let p = penalty.as_deref_mut().map(|p| &mut p[done..done + w]);
        bad |= if w == LANES {
            lanes(rule, layer, e, LANES, m, s, p)
        } else {
            lanes(rule, layer, e, w, m, s, p)
        };
        done += w;
    }
    bad
}

/// Update a span of a layer in place; true if any new mu or sigma is
/// non-finite.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub fn update_span(rule: &Rule<f32>, layer: &LayerGrads, mut at: Span) -> bool {
    let r = *rule;
    if r.pass != Pass::Train {
        // A task end's Fisher pass: rare, no need to specialise.
        return span(&r, layer, &mut at);
    }
    let clamp = r.clamp_grad > 0.0;
    macro_rules! with {
        ($o:expr) => {
            if clamp {
                let clamped = Rule {
                    optimizer: $o,
                    pass: Pass::Train,
                    ..r
                };
                span(&clamped, layer, &mut at)
            } else {
                let unclamped = Rule {
                    optimizer: $o,
                    pass: Pass::Train,
                    clamp_grad: 0.0,
                    ..r
                };
                span(&unclamped, layer, &mut at)
            }
        };
    }
    match r.optimizer {
        Optimizer::Mesu => with!(Optimizer::Mesu),
        Optimizer::Bgd => with!(Optimizer::Bgd),
        Optimizer::FoovbPublished => with!(Optimizer::FoovbPublished),
        Optimizer::Sgd => with!(Optimizer::Sgd),
        Optimizer::OnlineEwc => with!(Optimizer::OnlineEwc),
        Optimizer::StreamEwc => with!(Optimizer::StreamEwc),
        Optimizer::Si => with!(Optimizer::Si),
    }
}
