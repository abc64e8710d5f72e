//! The wgpu engine behind the seam: `Backend` by the engine's own calls.

use super::Engine;
use crate::Error;
use crate::backend::{Backend, ProfileRow, policy};
use crate::data::Split;
use crate::model::{Architecture, EvalResult, EvalSet, Params};
use crate::optim::RunSpec;

impl Backend for Engine {
    fn describe(&self) -> String {
        self.ctx.describe()
    }
    fn arch(&self) -> &Architecture {
        &self.arch
    }
    fn runs(&self) -> &[RunSpec] {
        &self.runs
    }
    fn set_train_data(&mut self, split: &Split) -> Result<(), Error> {
        Engine::set_train_data(self, split)
    }
    fn add_eval_set(&mut self, split: &Split) -> Result<EvalSet, Error> {
        Engine::add_eval_set(self, split)
    }
    fn set_task(&mut self, perms: &[Vec<u32>]) -> Result<(), Error> {
        Engine::set_task(self, perms)
    }
    fn set_order(&mut self, orders: &[Vec<u32>]) -> Result<(), Error> {
        Engine::set_order(self, orders)
    }
    fn batches_per_epoch(&self) -> Result<usize, Error> {
        Engine::batches_per_epoch(self)
    }
    fn engine_batch(&self) -> usize {
        self.cfg.batch
    }
    fn train_steps(&mut self, first_batch: usize, count: usize) -> Result<Vec<f64>, Error> {
        Engine::train_steps(self, first_batch, count)
    }
    fn divergences(&self) -> &[Option<(usize, u64)>] {
        Engine::divergences(self)
    }
    fn steps_taken(&self) -> u64 {
        Engine::steps_taken(self)
    }
    fn set_steps_taken(&mut self, steps: u64) {
        Engine::set_steps_taken(self, steps)
    }
    fn evaluate(
        &mut self,
        set: EvalSet,
        perms: &[Vec<u32>],
        eval_id: u32,
    ) -> Result<Vec<EvalResult>, Error> {
        Engine::evaluate(self, set, perms, eval_id)
    }
    fn params(&self) -> Result<Vec<Params>, Error> {
        Engine::params(self)
    }
    fn set_params(&mut self, params: &[Params]) -> Result<(), Error> {
        Engine::set_params(self, params)
    }
    fn end_task(&mut self) -> Result<(), Error> {
        policy::end_task(self, |e, passes| e.set_passes(passes))
    }
    fn enable_profiling(&mut self) -> &'static str {
        Engine::enable_profiling(self)
    }
    fn profile(&self) -> Option<Vec<ProfileRow>> {
        Engine::profile(self)
    }
}
