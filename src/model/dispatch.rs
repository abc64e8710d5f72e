use std::sync::Arc;

use crate::gpu::{Kernel, grid};

/// One recorded kernel launch: pipeline, static bindings (group 0), the
/// step-uniform binding (group 1, dynamic offset) and the invocation count.
pub struct Dispatch {
    pub kernel: Arc<Kernel>,
    pub group0: wgpu::BindGroup,
    pub group1: wgpu::BindGroup,
    pub threads: usize,
}

impl Dispatch {
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>, step_offset: u32, max_per_dim: u32) {
        let (x, y) = grid(self.threads, self.kernel.workgroup, max_per_dim);
        pass.set_pipeline(&self.kernel.pipeline);
        pass.set_bind_group(0, &self.group0, &[]);
        pass.set_bind_group(1, &self.group1, &[step_offset]);
        pass.dispatch_workgroups(x, y, 1);
    }
}
