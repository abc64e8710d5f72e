use wgpu::util::DeviceExt;

use super::cost::Shapes;
use super::dispatch::Dispatch;
use super::eval::{EvalGraph, EvalKernels};
use super::train::{TrainGraph, TrainKernels};
use super::uniforms::{LayerUniform, RunUniform, StepUniform};
use super::{
    Cost, GpuBuffer, GpuContext, GpuError, Overrides, PipelineCache, Profiler, Shader, StepUniforms,
};
use super::{DeviceSplit, TILE_WORKGROUP, WORKGROUP};
use crate::Error;
use crate::backend::{ProfileRow, policy};
use crate::model::{
    Architecture, DOMAIN_TRAIN, EngineConfig, EvalResult, EvalSet, Params, Pass, Penalty,
};
use crate::optim::RunSpec;

/// Which kernels train and evaluate: the production ones by default; the
/// first simple ones (V0) and the forced GPU tilings are kept as oracles
/// and bench baselines, reached through `Engine::with_kernels`.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kernels {
    pub train: TrainKernels,
    pub eval: EvalKernels,
}

/// GPU copies of every intermediate of the last training step, for tests.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct Intermediates {
    /// Per layer [R][K][P].
    pub eps: Vec<Vec<f32>>,
    /// Per layer, its output [R][K][B][n_out] (post-ReLU; logits last).
    pub acts: Vec<Vec<f32>>,
    /// Per layer, dC/d(pre-activation) per sample [R][K][B][n_out].
    pub deltas: Vec<Vec<f32>>,
}

/// The engine: model state for R runs, the kernels, and the graphs of a
/// training step and of evaluation.
pub struct Engine {
    pub ctx: GpuContext,
    pub arch: Architecture,
    pub runs: Vec<RunSpec>,
    pub cfg: EngineConfig,
    pub(super) kernels: Kernels,
    pub(super) cache: std::cell::RefCell<PipelineCache>,
    pub(super) layers: Vec<wgpu::Buffer>,
    pub(super) run_buf: GpuBuffer<RunUniform>,
    pub(super) mu: Vec<GpuBuffer<f32>>,
    pub(super) sigma: Vec<GpuBuffer<f32>>,
    /// Per layer, the penalised baselines' state as vec4 per parameter
    /// (anchor, importance, path, 0), [R][stride]; one unused vec4 when no
    /// run of the group has a penalty.
    pub(super) penalty: Vec<GpuBuffer<f32>>,
    pub(super) eps: Vec<GpuBuffer<f32>>,
    pub(super) uniforms: StepUniforms<StepUniform>,
    noise: Vec<Dispatch>,
    train: Option<TrainGraph>,
    pub(super) evals: Vec<EvalGraph>,
    profiler: Option<std::cell::RefCell<Profiler>>,
    /// Training steps taken: the noise counter of the next step.
    step: u64,
    /// Per run, where it diverged (layer, step), once reported.
    diverged: Vec<Option<(usize, u64)>>,
}

impl Engine {
    /// Allocate R runs of `arch`, each initialised from its seed.
    pub fn new(
        ctx: GpuContext,
        arch: Architecture,
        runs: Vec<RunSpec>,
        cfg: EngineConfig,
    ) -> Result<Self, Error> {
        Self::with_kernels(ctx, arch, runs, cfg, Kernels::default())
    }

    /// `new` with other kernels than the production ones (tests, benches).
    #[doc(hidden)]
    pub fn with_kernels(
        ctx: GpuContext,
        arch: Architecture,
        runs: Vec<RunSpec>,
        cfg: EngineConfig,
        kernels: Kernels,
    ) -> Result<Self, Error> {
        cfg.check(runs.len())?;
        if !arch.n_in(0).is_multiple_of(4) {
            return Err(Error::Settings(format!(
                "the input width must be a multiple of 4 (got {})",
                arch.n_in(0)
            )));
        }
        let r = runs.len();
        let k_max = cfg.train_samples.max(cfg.test_samples);
        let mut mu = Vec::new();
        let mut sigma = Vec::new();
        let mut penalty = Vec::new();
        let penalised = runs.iter().any(|s| s.hyper.optimizer.is_penalised());
        let mut eps = Vec::new();
        let mut layers = Vec::new();
        for l in 0..arch.layers() {
            let p = arch.stride(l);
            mu.push(GpuBuffer::zeroed(&ctx, "mu", r * p)?);
            sigma.push(GpuBuffer::zeroed(&ctx, "sigma", r * p)?);
            let pen_len = if penalised { 4 * r * p } else { 4 };
            penalty.push(GpuBuffer::zeroed(&ctx, "penalty", pen_len)?);
            eps.push(GpuBuffer::zeroed(&ctx, "noise", r * k_max * p)?);
            layers.push(
                ctx.device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("layer"),
                        contents: bytemuck::bytes_of(&LayerUniform::new(&arch, l, r)),
                        // STORAGE: the fused output layer reads its shape
                        // from storage (output_layer.wgsl says why).
                        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::STORAGE,
                    }),
            );
        }
        let run_uniforms: Vec<_> = runs.iter().map(RunUniform::new).collect();
        let run_buf = GpuBuffer::from_slice(&ctx, "runs", &run_uniforms)?;
        let uniforms = StepUniforms::new(&ctx, cfg.steps_per_submit);
        let mut engine = Engine {
            ctx,
            arch,
            runs,
            cfg,
            kernels,
            cache: PipelineCache::with_step_layout(uniforms.layout.clone()).into(),
            layers,
            run_buf,
            mu,
            sigma,
            penalty,
            eps,
            uniforms,
            noise: Vec::new(),
            train: None,
            evals: Vec::new(),
            profiler: None,
            step: 0,
            diverged: vec![None; r],
        };
        engine.noise = (0..engine.arch.layers())
            .map(|l| engine.noise_dispatch(l))
            .collect();
        let init: Vec<_> = engine
            .runs
            .iter()
            .map(|s| Params::for_run(&engine.arch, s))
            .collect();
        engine.set_params(&init)?;
        Ok(engine)
    }

    pub fn run_count(&self) -> usize {
        self.runs.len()
    }

    /// Training steps taken so far.
    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// Set the noise counter of the next step (resuming from a checkpoint).
    pub fn set_steps_taken(&mut self, steps: u64) {
        self.step = steps;
    }

    /// Time every kernel from now on; returns how (timestamps or host time).
    pub fn enable_profiling(&mut self) -> &'static str {
        let p = Profiler::new(&self.ctx);
        let method = p.method();
        self.profiler = Some(std::cell::RefCell::new(p));
        method
    }

    /// Per-kernel totals so far, when profiling.
    pub fn profile(&self) -> Option<Vec<ProfileRow>> {
        self.profiler.as_ref().map(|p| p.borrow().rows())
    }

    /// Most launches one submit may hold (the profiler's query set).
    pub(super) fn launches_per_submit(&self) -> usize {
        self.profiler
            .as_ref()
            .map_or(usize::MAX, |p| p.borrow().max_launches())
    }

    /// Record `launches` (dispatch, step-uniform slot) of `phase` (train,
    /// eval) in one compute pass and submit them. Profiling timestamps each
    /// launch and waits for the submit.
    pub(super) fn submit<'a>(
        &self,
        phase: &'static str,
        launches: impl IntoIterator<Item = (&'a Dispatch, usize)>,
    ) -> Result<(), Error> {
        let max_dim = self.ctx.limits.max_compute_workgroups_per_dimension;
        let mut profiler = self.profiler.as_ref().map(|p| p.borrow_mut());
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for (d, slot) in launches {
                match profiler.as_mut() {
                    Some(p) => {
                        p.begin(&mut pass, phase, d.kernel.name, d.cost);
                        d.record(&mut pass, self.step(slot), max_dim);
                        p.end(&mut pass);
                    }
                    None => d.record(&mut pass, self.step(slot), max_dim),
                }
            }
        }
        if let Some(p) = profiler.as_mut() {
            p.resolve(&mut encoder);
        }
        let start = std::time::Instant::now();
        self.ctx.queue.submit(Some(encoder.finish()));
        if let Some(p) = profiler.as_mut() {
            self.ctx.wait()?;
            p.collect(&self.ctx, phase, start.elapsed())?;
        }
        Ok(())
    }

    /// Batch 1 with the fast kernels, the latency path: the first layer's
    /// forward and the fused output layer draw their layers' training noise
    /// (each noise row has one invocation), so those layers have no noise
    /// launch; the output layer's kernel, one workgroup per run, also
    /// updates that layer, and the first layer's forward gathers the next
    /// step's input.
    pub(super) fn fused_batch_one(&self) -> bool {
        self.cfg.batch == 1 && self.kernels.train != TrainKernels::V0
    }

    /// The noise launches of a training step.
    fn train_noise(&self) -> Vec<&Dispatch> {
        let last = self.arch.layers() - 1;
        let drawn = |l: usize| {
            (l == 0 && self.draws_input_noise()) || (l == last && self.fused_batch_one())
        };
        (0..=last)
            .filter(|&l| !drawn(l))
            .map(|l| &self.noise[l])
            .collect()
    }

    pub(super) fn shapes(&self, samples: usize, batch: usize) -> Shapes {
        Shapes {
            runs: self.runs.len(),
            samples,
            batch,
        }
    }

    /// Layer `l`'s shape, mu, sigma and eps under their WGSL names, then
    /// `rest`: the group-0 bindings of a per-layer kernel.
    pub(super) fn layer_bindings<'a, const N: usize>(
        &'a self,
        l: usize,
        rest: [(&'static str, wgpu::BindingResource<'a>); N],
    ) -> Vec<(&'static str, wgpu::BindingResource<'a>)> {
        [
            ("layer", self.layers[l].as_entire_binding()),
            ("mu", self.mu[l].buffer.as_entire_binding()),
            ("sigma", self.sigma[l].buffer.as_entire_binding()),
            ("eps", self.eps[l].buffer.as_entire_binding()),
        ]
        .into_iter()
        .chain(rest)
        .collect()
    }

    /// The step uniform's bind group and the dynamic offset of `slot`.
    fn step(&self, slot: usize) -> (&wgpu::BindGroup, u32) {
        (&self.uniforms.group, self.uniforms.offset(slot))
    }

    /// A launch of `entry` of `shader` with its group-0 bindings.
    pub(super) fn dispatch(
        &self,
        shader: Shader,
        entry: &'static str,
        entries: &[(&str, wgpu::BindingResource<'_>)],
        threads: usize,
        cost: Cost,
    ) -> Dispatch {
        self.tuned_dispatch(shader, entry, Vec::new(), entries, threads, cost)
    }

    /// `dispatch` of a pipeline with its own override constants.
    pub(super) fn tuned_dispatch(
        &self,
        shader: Shader,
        entry: &'static str,
        overrides: Overrides,
        entries: &[(&str, wgpu::BindingResource<'_>)],
        threads: usize,
        cost: Cost,
    ) -> Dispatch {
        self.launch(
            shader,
            entry,
            (WORKGROUP, overrides),
            entries,
            threads,
            cost,
        )
    }

    /// A launch of a 2D-tiled GEMM (shaders/common/gemm_tile.wgsl): one
    /// workgroup of TILE_WORKGROUP invocations per output tile.
    pub(super) fn tile_dispatch(
        &self,
        shader: Shader,
        entry: &'static str,
        overrides: Overrides,
        entries: &[(&str, wgpu::BindingResource<'_>)],
        tiles: usize,
        cost: Cost,
    ) -> Dispatch {
        let threads = tiles * TILE_WORKGROUP as usize;
        let sized = (TILE_WORKGROUP, overrides);
        self.launch(shader, entry, sized, entries, threads, cost)
    }

    fn launch(
        &self,
        shader: Shader,
        entry: &'static str,
        (workgroup, overrides): (u32, Overrides),
        entries: &[(&str, wgpu::BindingResource<'_>)],
        threads: usize,
        cost: Cost,
    ) -> Dispatch {
        let kernel = self
            .cache
            .borrow_mut()
            .tuned_kernel(&self.ctx, shader, entry, workgroup, overrides);
        Dispatch {
            group0: kernel.bind(&self.ctx, entries),
            kernel,
            threads,
            cost,
        }
    }

    /// Upload every run's parameters (and the penalised baselines' state).
    pub fn set_params(&self, params: &[Params]) -> Result<(), Error> {
        policy::check_params(&self.arch, &self.runs, params)?;
        let penalised = self.runs.iter().any(|s| s.hyper.optimizer.is_penalised());
        for l in 0..self.arch.layers() {
            let stride = self.arch.stride(l);
            let padded = |v: &Vec<f32>| {
                let mut v = v.clone();
                v.resize(stride, 0.0);
                v
            };
            let mu: Vec<f32> = params.iter().flat_map(|p| padded(&p.mu[l])).collect();
            let sigma: Vec<f32> = params.iter().flat_map(|p| padded(&p.sigma[l])).collect();
            self.mu[l].write(&self.ctx, &mu);
            self.sigma[l].write(&self.ctx, &sigma);
            if penalised {
                let pen: Vec<f32> = params
                    .iter()
                    .flat_map(|p| {
                        let mut v: Vec<f32> = p.penalty.get(l).map_or(Vec::new(), |pen| {
                            pen.iter()
                                .flat_map(|q| [q.anchor, q.importance, q.path, 0.0])
                                .collect()
                        });
                        v.resize(4 * stride, 0.0);
                        v
                    })
                    .collect();
                self.penalty[l].write(&self.ctx, &pen);
            }
        }
        Ok(())
    }

    /// Read every run's parameters back.
    pub fn params(&self) -> Result<Vec<Params>, Error> {
        let mut out: Vec<Params> = (0..self.runs.len())
            .map(|_| Params {
                mu: Vec::new(),
                sigma: Vec::new(),
                penalty: Vec::new(),
            })
            .collect();
        for l in 0..self.arch.layers() {
            let (p, stride) = (self.arch.params(l), self.arch.stride(l));
            let mu = self.mu[l].read(&self.ctx)?;
            let sigma = self.sigma[l].read(&self.ctx)?;
            for (r, o) in out.iter_mut().enumerate() {
                o.mu.push(mu[r * stride..r * stride + p].to_vec());
                o.sigma.push(sigma[r * stride..r * stride + p].to_vec());
            }
            if self.runs.iter().any(|s| s.hyper.optimizer.is_penalised()) {
                let pen = self.penalty[l].read(&self.ctx)?;
                for (r, o) in out.iter_mut().enumerate() {
                    if self.runs[r].hyper.optimizer.is_penalised() {
                        let run = &pen[4 * r * stride..4 * (r * stride + p)];
                        o.penalty.push(
                            run.chunks_exact(4)
                                .map(|q| Penalty {
                                    anchor: q[0],
                                    importance: q[1],
                                    path: q[2],
                                })
                                .collect(),
                        );
                    }
                }
            }
        }
        Ok(out)
    }

    /// The runs' rules in the coming steps: each run's pass (`RunUniform::pass`).
    pub(crate) fn set_passes(&self, passes: &[Pass]) {
        let runs: Vec<RunUniform> = self
            .runs
            .iter()
            .zip(passes)
            .map(|(s, p)| RunUniform {
                step_pass: p.code(),
                ..RunUniform::new(s)
            })
            .collect();
        self.run_buf.write(&self.ctx, &runs);
    }

    /// Put the training split on the GPU (once per stream).
    pub fn set_train_data(&mut self, split: &crate::data::Split) -> Result<(), Error> {
        let split = DeviceSplit::upload(&self.ctx, split, self.arch.n_in(0))?;
        let graph = TrainGraph::new(self, split)?;
        self.train = Some(graph);
        Ok(())
    }

    fn train_graph(&self) -> Result<&TrainGraph, Error> {
        self.train
            .as_ref()
            .ok_or_else(|| Error::Settings("no training data set".into()))
    }

    /// The pixel permutation of the current task, one per run.
    pub fn set_task(&self, perms: &[Vec<u32>]) -> Result<(), Error> {
        let flat = self.flatten_per_run(perms, self.arch.n_in(0), "permutation")?;
        self.train_graph()?.perm.write(&self.ctx, &flat);
        Ok(())
    }

    /// The example order of the coming epoch, one per run (indices into the split).
    pub fn set_order(&self, orders: &[Vec<u32>]) -> Result<(), Error> {
        let g = self.train_graph()?;
        let flat = self.flatten_per_run(orders, g.split.len, "example order")?;
        g.order.write(&self.ctx, &flat);
        Ok(())
    }

    pub(super) fn flatten_per_run(
        &self,
        per_run: &[Vec<u32>],
        len: usize,
        what: &str,
    ) -> Result<Vec<u32>, Error> {
        policy::check_per_run(per_run, self.runs.len(), len, len, what)?;
        Ok(per_run.concat())
    }

    /// Batches per epoch (a last partial batch is dropped).
    pub fn batches_per_epoch(&self) -> Result<usize, Error> {
        Ok(self.train_graph()?.split.len / self.cfg.batch)
    }

    /// Per run, the (layer, step) where its sigma went bad, once reported.
    pub fn divergences(&self) -> &[Option<(usize, u64)>] {
        &self.diverged
    }

    /// Train `count` steps on batches first_batch.. of the current epoch
    /// order. Returns each run's mean loss per example over these steps, and
    /// fails on the first non-finite mu or sigma of a run not
    /// reported before. The steps are taken either way: runs are
    /// independent, so the others can go on (see `divergences`).
    pub fn train_steps(&mut self, first_batch: usize, count: usize) -> Result<Vec<f64>, Error> {
        policy::check_batches(first_batch, count, self.batches_per_epoch()?)?;
        let g = self.train.as_ref().expect("checked above");
        let noise = self.train_noise();
        let launches = noise.len() + g.dispatches.len();
        let per_submit = self
            .uniforms
            .capacity()
            .min(self.launches_per_submit() / launches)
            .max(1);
        let mut done = 0;
        while done < count {
            let n = (count - done).min(per_submit);
            let steps: Vec<StepUniform> = (0..n)
                .map(|s| {
                    let step = self.step + (done + s) as u64;
                    self.train_uniform(g, step, first_batch + done + s)
                })
                .collect();
            self.uniforms.write(&self.ctx, &steps);
            let noise = &noise;
            let step_launches = (0..n).flat_map(|s| {
                // The steps after a submit's first had their input gathered ahead.
                let gathered = (g.gathers_ahead && s > 0) as usize;
                noise
                    .iter()
                    .copied()
                    .chain(g.dispatches.iter().skip(gathered))
                    .map(move |d| (d, s))
            });
            self.submit("train", step_launches)?;
            done += n;
        }
        self.step += count as u64;
        let bad = g.bad.read(&self.ctx)?;
        let losses = g.loss.read(&self.ctx)?;
        g.loss.fill(&self.ctx, 0.0);
        // bad is [R][layers]: the first step with a non-finite value, or u32::MAX.
        let first_bad = bad.chunks(self.arch.layers()).map(|steps| {
            steps
                .iter()
                .map(|&s| (s != u32::MAX).then_some(u64::from(s)))
        });
        policy::record_divergences(&mut self.diverged, first_bad)?;
        // loss is [R][K][B]: the mean over samples, per example.
        let kb = self.cfg.train_samples * self.cfg.batch;
        Ok(losses
            .chunks(kb)
            .map(|l| l.iter().map(|&x| x as f64).sum::<f64>() / (count * kb) as f64)
            .collect())
    }

    /// The uniform of training step `step` on batch `batch` of the epoch.
    fn train_uniform(&self, g: &TrainGraph, step: u64, batch: usize) -> StepUniform {
        StepUniform {
            step: step as u32,
            pos: (batch * self.cfg.batch) as u32,
            batch: self.cfg.batch as u32,
            samples: self.cfg.train_samples as u32,
            domain: DOMAIN_TRAIN,
            order_stride: g.split.len as u32,
            x_scale: g.split.x_scale,
            x_shift: g.split.x_shift,
            examples: g.split.len as u32,
            x_half: (g.gathers_ahead && step % 2 == 1) as u32,
            _pad: [0; 2],
        }
    }

    /// Poison the step's intermediates (tests: an unwritten element shows as NaN).
    #[doc(hidden)]
    pub fn poison_intermediates(&self) -> Result<(), Error> {
        let g = self.train_graph()?;
        for buf in self.eps.iter().chain(&g.acts).chain(&g.deltas) {
            buf.fill(&self.ctx, f32::NAN);
        }
        Ok(())
    }

    /// Read the intermediates of the last step (tests).
    #[doc(hidden)]
    pub fn intermediates(&self) -> Result<Intermediates, Error> {
        let g = self.train_graph()?;
        let k = self.cfg.train_samples;
        if self.draws_input_noise() && !self.keeps_input_noise() && self.step > 0 {
            // The first layer's kernels drew the last step's noise twice
            // and stored it nowhere: the noise launch draws it once more.
            self.uniforms
                .write(&self.ctx, &[self.train_uniform(g, self.step - 1, 0)]);
            self.submit("noise", [(&self.noise[0], 0)])?;
        }
        let read = |bufs: &[GpuBuffer<f32>]| -> Result<Vec<Vec<f32>>, GpuError> {
            bufs.iter().map(|b| b.read(&self.ctx)).collect()
        };
        let eps = read(&self.eps)?
            .iter()
            .enumerate()
            .map(|(l, e)| {
                let (p, stride) = (self.arch.params(l), self.arch.stride(l));
                e.chunks(stride)
                    .take(self.runs.len() * k)
                    .flat_map(|row| row[..p].iter().copied())
                    .collect()
            })
            .collect();
        Ok(Intermediates {
            eps,
            acts: read(&g.acts)?,
            deltas: read(&g.deltas)?,
        })
    }

    /// Put a split on the GPU for evaluation (test set, OOD set).
    pub fn add_eval_set(&mut self, split: &crate::data::Split) -> Result<EvalSet, Error> {
        let device = DeviceSplit::upload(&self.ctx, split, self.arch.n_in(0))?;
        let graph = EvalGraph::new(self, device, split)?;
        self.evals.push(graph);
        Ok(EvalSet(self.evals.len() - 1))
    }

    /// Evaluate every run on `set` under each run's permutation, with a
    /// fresh draw of `test_samples` networks identified by `eval_id`.
    pub fn evaluate(
        &mut self,
        set: EvalSet,
        perms: &[Vec<u32>],
        eval_id: u32,
    ) -> Result<Vec<EvalResult>, Error> {
        let flat = self.flatten_per_run(perms, self.arch.n_in(0), "permutation")?;
        let g = &self.evals[set.0];
        g.run(self, &flat, eval_id)
    }

    pub(super) fn noise_dispatches(&self) -> &[Dispatch] {
        &self.noise
    }
}
