use std::marker::PhantomData;

use bytemuck::Pod;
use wgpu::util::DeviceExt;

use super::{GpuContext, GpuError};

/// A storage buffer of `len` elements of `T`, readable back to the host.
pub struct GpuBuffer<T: Pod> {
    pub buffer: wgpu::Buffer,
    len: usize,
    _t: PhantomData<T>,
}

const USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl<T: Pod> GpuBuffer<T> {
    /// Zero-filled buffer; checks the adapter's binding limit first.
    pub fn zeroed(ctx: &GpuContext, label: &'static str, len: usize) -> Result<Self, GpuError> {
        let bytes = (len.max(1) * size_of::<T>()) as u64;
        ctx.check_binding(label, bytes)?;
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.next_multiple_of(4),
            usage: USAGE,
            mapped_at_creation: false,
        });
        Ok(Self {
            buffer,
            len,
            _t: PhantomData,
        })
    }

    pub fn from_slice(ctx: &GpuContext, label: &'static str, data: &[T]) -> Result<Self, GpuError> {
        ctx.check_binding(label, std::mem::size_of_val(data) as u64)?;
        if data.is_empty() {
            return Self::zeroed(ctx, label, 0);
        }
        let buffer = ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(data),
                usage: USAGE,
            });
        Ok(Self {
            buffer,
            len: data.len(),
            _t: PhantomData,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Overwrite from the start (ordered before the next submit).
    pub fn write(&self, ctx: &GpuContext, data: &[T]) {
        assert!(data.len() <= self.len, "write past the end of a GPU buffer");
        if !data.is_empty() {
            ctx.queue
                .write_buffer(&self.buffer, 0, bytemuck::cast_slice(data));
        }
    }

    /// Fill every element with `value` (tests poison outputs with NaN).
    pub fn fill(&self, ctx: &GpuContext, value: T) {
        self.write(ctx, &vec![value; self.len]);
    }

    /// Copy the whole buffer back to the host (waits for the GPU).
    pub fn read(&self, ctx: &GpuContext) -> Result<Vec<T>, GpuError> {
        let bytes = (self.len * size_of::<T>()) as u64;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&self.buffer, 0, &staging, 0, bytes);
        ctx.queue.submit(Some(encoder.finish()));
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        ctx.wait()?;
        rx.recv()
            .map_err(|e| GpuError::Runtime(e.to_string()))?
            .map_err(|e| GpuError::Runtime(format!("readback failed: {e}")))?;
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| GpuError::Runtime(format!("readback failed: {e}")))?;
        let out = bytemuck::cast_slice(&view).to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }
}

/// A uniform buffer holding one `T` per slot at the device's uniform-offset
/// alignment, so that many steps are recorded into one submit, each binding
/// its own slot: one bind group (group 1, binding 0) at a dynamic offset.
pub struct StepUniforms<T: Pod> {
    pub buffer: wgpu::Buffer,
    /// The layout every kernel's group 1 shares, and the group over `buffer`.
    pub layout: wgpu::BindGroupLayout,
    pub group: wgpu::BindGroup,
    stride: u64,
    capacity: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> StepUniforms<T> {
    pub fn new(ctx: &GpuContext, capacity: usize) -> Self {
        let align = ctx.limits.min_uniform_buffer_offset_alignment as u64;
        let stride = (size_of::<T>() as u64).next_multiple_of(align);
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("step uniforms"),
            size: stride * capacity as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let layout = super::shader::step_layout(ctx, size_of::<T>() as u64);
        let group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("step uniforms"),
            layout: &layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new(size_of::<T>() as u64),
                }),
            }],
        });
        Self {
            buffer,
            layout,
            group,
            stride,
            capacity,
            _t: PhantomData,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Write slots 0..values.len().
    pub fn write(&self, ctx: &GpuContext, values: &[T]) {
        assert!(values.len() <= self.capacity, "too many step slots");
        let mut bytes = vec![0u8; self.stride as usize * values.len()];
        for (i, v) in values.iter().enumerate() {
            let at = i * self.stride as usize;
            bytes[at..at + size_of::<T>()].copy_from_slice(bytemuck::bytes_of(v));
        }
        if !bytes.is_empty() {
            ctx.queue.write_buffer(&self.buffer, 0, &bytes);
        }
    }

    /// The dynamic offset of slot `slot`.
    pub fn offset(&self, slot: usize) -> u32 {
        assert!(slot < self.capacity, "step slot past the end");
        (self.stride * slot as u64) as u32
    }
}
