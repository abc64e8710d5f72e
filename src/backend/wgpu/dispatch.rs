use std::sync::Arc;

use super::{Cost, Kernel, grid};

/// One recorded kernel launch: pipeline, static bindings (group 0), the
/// invocation count and its work; group 1 is the step uniform, its slot
/// chosen at record time by dynamic offset.
pub struct Dispatch {
    pub kernel: Arc<Kernel>,
    pub group0: wgpu::BindGroup,
    pub threads: usize,
    pub cost: Cost,
}

impl Dispatch {
    /// Record the launch reading the step uniform at byte `step_offset`.
    pub fn record(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        step: (&wgpu::BindGroup, u32),
        max_per_dim: u32,
    ) {
        let (x, y) = grid(self.threads, self.kernel.workgroup, max_per_dim);
        pass.set_pipeline(&self.kernel.pipeline);
        pass.set_bind_group(0, &self.group0, &[]);
        pass.set_bind_group(1, step.0, &[step.1]);
        pass.dispatch_workgroups(x, y, 1);
    }
}
