use super::{GpuBuffer, GpuContext, GpuError};
use crate::data::Split;

/// A dataset split resident on the GPU: u8 pixels packed four to a word,
/// labels, and the standardisation of that split.
pub struct DeviceSplit {
    pub images: GpuBuffer<u32>,
    pub labels: GpuBuffer<u32>,
    pub len: usize,
    pub pixels: usize,
    /// byte * x_scale + x_shift = (byte / 255 - mean) / std.
    pub x_scale: f32,
    pub x_shift: f32,
}

impl DeviceSplit {
    pub fn upload(ctx: &GpuContext, split: &Split, pixels: usize) -> Result<Self, GpuError> {
        let (x_scale, x_shift) = split.byte_standardisation();
        let words: Vec<u32> = split
            .images
            .chunks(4)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u32, |w, (i, &b)| w | (b as u32) << (8 * i))
            })
            .collect();
        let labels: Vec<u32> = split.labels.iter().map(|&l| l as u32).collect();
        Ok(DeviceSplit {
            images: GpuBuffer::from_slice(ctx, "images", &words)?,
            labels: GpuBuffer::from_slice(ctx, "labels", &labels)?,
            len: split.len(),
            pixels,
            x_scale,
            x_shift,
        })
    }
}
