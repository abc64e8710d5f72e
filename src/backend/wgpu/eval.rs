use super::GpuBuffer;
use super::dispatch::Dispatch;
use super::eval_fast::FastEval;
use super::output::predict_dispatch;
use super::sampled_gemm;
use super::sampled_gemm::IMAGES_PER_TILE;
use super::uniforms::StepUniform;
use super::{DeviceSplit, Engine};
use crate::Error;
use crate::data::similarity_order;
use crate::model::{DOMAIN_EVAL, EvalResult, EvalSet, Score};

/// Kernels of evaluation: the training forward kernels over the permuted
/// pixels (`V0`, kept as the baseline), or shaders/sampled_gemm.wgsl (`Fast`: its
/// hidden-layer GEMM tiled through workgroup memory in the GPU plan, sampling
/// its weights as it stages them, and reading weights materialised once per
/// evaluation directly in the CPU-adapter plan).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EvalKernels {
    V0,
    #[default]
    Fast,
}

/// Sampled forward over a whole split in chunks of images, then the
/// prediction head; one fresh draw of K networks per evaluation.
pub struct EvalGraph {
    split: DeviceSplit,
    /// Slot -> example: the order the kernels walk the split in (similar
    /// images side by side, `similarity_order`); scores come back per slot.
    order: Vec<u32>,
    _order: GpuBuffer<u32>,
    perm: GpuBuffer<u32>,
    scores: GpuBuffer<Score>,
    chunk: usize,
    /// Once per evaluation, after the noise.
    prologue: Vec<Dispatch>,
    /// Once per chunk.
    dispatches: Vec<Dispatch>,
    acts: Vec<GpuBuffer<f32>>,
    fast: Option<FastEval>,
    /// V0's gathered input.
    _x0: Option<GpuBuffer<f32>>,
}

impl EvalGraph {
    pub fn new(e: &Engine, split: DeviceSplit, host: &crate::data::Split) -> Result<Self, Error> {
        let r = e.runs.len();
        let k = e.cfg.test_samples;
        let widest = (0..e.arch.layers())
            .map(|l| e.arch.n_out(l))
            .max()
            .unwrap_or(1);
        let limit = e.ctx.limits.max_storage_buffer_binding_size as usize;
        let fit = (limit / (4 * r * k * widest)).max(1);
        let mut chunk = e.cfg.eval_chunk.min(split.len).min(fit).max(1);
        if e.kernels.eval != EvalKernels::V0 {
            // Chunks start on a tile boundary.
            chunk = (chunk / IMAGES_PER_TILE).max(1) * IMAGES_PER_TILE;
        }
        let order = similarity_order(&host.images, &host.labels, split.pixels);
        let perm: Vec<u32> = (0..r).flat_map(|_| 0..e.arch.n_in(0) as u32).collect();
        let acts = (0..e.arch.layers())
            .map(|l| GpuBuffer::zeroed(&e.ctx, "eval activations", r * k * chunk * e.arch.n_out(l)))
            .collect::<Result<Vec<_>, _>>()?;
        let order_buf = GpuBuffer::from_slice(&e.ctx, "eval order", &order)?;
        let perm = GpuBuffer::from_slice(&e.ctx, "eval permutation", &perm)?;
        let scores = GpuBuffer::zeroed(&e.ctx, "scores", r * split.len)?;
        let (mut fast, mut dispatches, mut x0) = (None, Vec::new(), None);
        match e.kernels.eval {
            EvalKernels::V0 => {
                let input = [&split.images.buffer, &order_buf.buffer, &perm.buffer];
                let x = x0.insert(GpuBuffer::zeroed(
                    &e.ctx,
                    "eval input",
                    r * chunk * e.arch.n_in(0),
                )?);
                let layers = e.arch.layers();
                dispatches =
                    e.forward_dispatches(x, &acts, input, (k, chunk, layers), Default::default());
            }
            EvalKernels::Fast => {
                let tiled = sampled_gemm::tiles_by_default(e);
                let pixels = split.pixels;
                let slots: Vec<u8> = order
                    .iter()
                    .flat_map(|&n| &host.images[n as usize * pixels..(n as usize + 1) * pixels])
                    .copied()
                    .collect();
                let f = fast.insert(FastEval::new(e, &slots, &perm, &acts, chunk, tiled)?);
                dispatches.append(&mut f.per_chunk);
            }
        }
        let prologue = fast.as_mut().map(|f| std::mem::take(&mut f.prologue));
        let last = e.arch.layers() - 1;
        dispatches.push(predict_dispatch(
            e,
            &acts[last],
            &scores,
            [&order_buf, &split.labels],
            chunk,
        ));
        Ok(EvalGraph {
            split,
            order,
            _order: order_buf,
            perm,
            scores,
            chunk,
            prologue: prologue.unwrap_or_default(),
            dispatches,
            acts,
            fast,
            _x0: x0,
        })
    }

    pub fn run(&self, e: &Engine, perm: &[u32], eval_id: u32) -> Result<Vec<EvalResult>, Error> {
        self.perm.write(&e.ctx, perm);
        let n = self.split.len;
        let chunks: Vec<StepUniform> = (0..n.div_ceil(self.chunk))
            .map(|c| StepUniform {
                step: eval_id,
                pos: (c * self.chunk) as u32,
                batch: self.chunk.min(n - c * self.chunk) as u32,
                samples: e.cfg.test_samples as u32,
                domain: DOMAIN_EVAL,
                order_stride: 0,
                x_scale: self.split.x_scale,
                x_shift: self.split.x_shift,
                examples: n as u32,
                x_half: 0,
                _pad: [0; 2],
            })
            .collect();
        let noise = e.noise_dispatches();
        let per_submit = e
            .uniforms
            .capacity()
            .min(
                (e.launches_per_submit() - noise.len() - self.prologue.len())
                    / self.dispatches.len(),
            )
            .max(1);
        for (i, group) in chunks.chunks(per_submit).enumerate() {
            e.uniforms.write(&e.ctx, group);
            let first = noise
                .iter()
                .chain(&self.prologue)
                .filter(|_| i == 0)
                .map(|d| (d, 0));
            let rest = (0..group.len()).flat_map(|c| self.dispatches.iter().map(move |d| (d, c)));
            e.submit("eval", first.chain(rest))?;
        }
        let scores = self.scores.read(&e.ctx)?;
        Ok(scores
            .chunks(n)
            .map(|per_slot| {
                let mut scores = per_slot.to_vec();
                for (slot, &example) in self.order.iter().enumerate() {
                    scores[example as usize] = per_slot[slot];
                }
                EvalResult {
                    correct: scores.iter().map(|x| x.correct as usize).sum(),
                    total: n,
                    scores,
                }
            })
            .collect())
    }
}

impl Engine {
    /// Poison the outputs of evaluating `set` (tests: an unwritten element
    /// shows as NaN).
    #[doc(hidden)]
    pub fn poison_eval(&self, set: EvalSet) {
        let g = &self.evals[set.0];
        for buf in self.eps.iter().chain(&g.acts) {
            buf.fill(&self.ctx, f32::NAN);
        }
        if let Some(f) = &g.fast {
            f.poison(&self.ctx);
        }
        let nan = f32::NAN;
        g.scores.fill(
            &self.ctx,
            Score {
                pred: u32::MAX,
                correct: u32::MAX,
                h_pred: nan,
                h_alea: nan,
                p_max: nan,
                p_max_correct: u32::MAX,
                ln_p_true: nan,
                brier: nan,
            },
        );
    }
}
