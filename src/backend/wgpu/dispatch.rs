use std::sync::Arc;

use super::{Cost, Kernel, grid};

/// One recorded kernel launch: pipeline, static bindings (group 0), the
/// invocation count and its work; group 1 is the step slot chosen at record
/// time.
pub struct Dispatch {
    pub kernel: Arc<Kernel>,
    pub group0: wgpu::BindGroup,
    pub threads: usize,
    pub cost: Cost,
}

impl Dispatch {
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>, slot: usize, max_per_dim: u32) {
        let (x, y) = grid(self.threads, self.kernel.workgroup, max_per_dim);
        let steps = self
            .kernel
            .step_groups
            .get()
            .expect("step groups made with the dispatch");
        pass.set_pipeline(&self.kernel.pipeline);
        pass.set_bind_group(0, &self.group0, &[]);
        pass.set_bind_group(1, &steps[slot], &[]);
        pass.dispatch_workgroups(x, y, 1);
    }
}
