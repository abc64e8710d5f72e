use super::cost;
use super::dispatch::Dispatch;
use super::uniforms::{DOMAIN_EVAL, Score, StepUniform};
use super::{DeviceSplit, Engine, EngineError};
use crate::gpu::{GpuBuffer, Shader};

/// Handle of a split registered with `Engine::add_eval_set`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalSet(pub(super) usize);

/// One run's evaluation of one split.
#[derive(Clone, Debug)]
pub struct EvalResult {
    pub correct: usize,
    pub total: usize,
    /// Per example, in split order.
    pub scores: Vec<Score>,
}

impl EvalResult {
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }
}

/// Sampled forward over a whole split in chunks of images, then the
/// prediction head; one fresh draw of K networks per evaluation.
pub struct EvalGraph {
    split: DeviceSplit,
    _order: GpuBuffer<u32>,
    perm: GpuBuffer<u32>,
    scores: GpuBuffer<Score>,
    chunk: usize,
    dispatches: Vec<Dispatch>,
    _acts: Vec<GpuBuffer<f32>>,
    _x0: GpuBuffer<f32>,
}

impl EvalGraph {
    pub fn new(e: &Engine, split: DeviceSplit) -> Result<Self, EngineError> {
        let r = e.runs.len();
        let k = e.cfg.test_samples;
        let widest = (0..e.arch.layers())
            .map(|l| e.arch.n_out(l))
            .max()
            .unwrap_or(1);
        let limit = e.ctx.limits.max_storage_buffer_binding_size as usize;
        let fit = (limit / (4 * r * k * widest)).max(1);
        let chunk = e.cfg.eval_chunk.min(split.len).min(fit).max(1);
        let identity: Vec<u32> = (0..split.len as u32).collect();
        let perm: Vec<u32> = (0..r).flat_map(|_| 0..e.arch.n_in(0) as u32).collect();
        let acts = (0..e.arch.layers())
            .map(|l| GpuBuffer::zeroed(&e.ctx, "eval activations", r * k * chunk * e.arch.n_out(l)))
            .collect::<Result<Vec<_>, _>>()?;
        let order = GpuBuffer::from_slice(&e.ctx, "eval order", &identity)?;
        let perm = GpuBuffer::from_slice(&e.ctx, "eval permutation", &perm)?;
        let scores = GpuBuffer::zeroed(&e.ctx, "scores", r * split.len)?;
        let input = [&split.images.buffer, &order.buffer, &perm.buffer];
        let x0 = GpuBuffer::zeroed(&e.ctx, "eval input", r * chunk * e.arch.n_in(0))?;
        let mut dispatches = e.forward_dispatches(&x0, &acts, input, k, chunk);
        let last = e.arch.layers() - 1;
        let shader = (Shader::Output, "predict");
        dispatches.push(e.dispatch(
            shader.0,
            shader.1,
            &[
                (0, e.layers[last].as_entire_binding()),
                (1, acts[last].buffer.as_entire_binding()),
                (4, scores.buffer.as_entire_binding()),
                (11, order.buffer.as_entire_binding()),
                (13, split.labels.buffer.as_entire_binding()),
            ],
            r * chunk,
            cost::predict(e.shapes(k, chunk), &e.arch),
        ));
        Ok(EvalGraph {
            split,
            _order: order,
            perm,
            scores,
            chunk,
            dispatches,
            _acts: acts,
            _x0: x0,
        })
    }

    pub fn run(
        &self,
        e: &Engine,
        perm: &[u32],
        eval_id: u32,
    ) -> Result<Vec<EvalResult>, EngineError> {
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
                _pad: [0; 3],
            })
            .collect();
        let noise = e.noise_dispatches();
        let per_submit = e
            .uniforms
            .capacity()
            .min((e.launches_per_submit() - noise.len()) / self.dispatches.len())
            .max(1);
        for (i, group) in chunks.chunks(per_submit).enumerate() {
            e.uniforms.write(&e.ctx, group);
            let first = noise.iter().filter(|_| i == 0).map(|d| (d, 0));
            let rest = (0..group.len()).flat_map(|c| self.dispatches.iter().map(move |d| (d, c)));
            e.submit("eval", first.chain(rest))?;
        }
        let scores = self.scores.read(&e.ctx)?;
        Ok(scores
            .chunks(n)
            .map(|s| EvalResult {
                correct: s.iter().map(|x| x.correct as usize).sum(),
                total: n,
                scores: s.to_vec(),
            })
            .collect())
    }
}
