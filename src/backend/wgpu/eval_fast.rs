//! The fast evaluation kernels (shaders/eval.wgsl): each sample's weights are
//! materialised once per evaluation, the first layer runs over the nonzero
//! pixels of image tiles, the other layers as a tiled GEMM.

use super::Engine;
use super::cost;
use super::dispatch::Dispatch;
use super::image_tiles::ImageTiles;
use super::sampled_gemm::{self, row_overrides, row4};
use super::{GpuBuffer, GpuContext, Shader};
use crate::Error;

/// Images per tile of the first layer (fixed by `forward_sparse`): every
/// weight vec4 it loads serves this many images.
pub const IMAGES_PER_TILE: usize = 8;
/// Buffers and dispatches of the fast path for one evaluation split.
pub struct FastEval {
    /// After the noise, once per evaluation: weights, row sums.
    pub prologue: Vec<Dispatch>,
    /// Per chunk: every layer's forward.
    pub per_chunk: Vec<Dispatch>,
    weights: Vec<GpuBuffer<f32>>,
    offset: GpuBuffer<f32>,
    _tiles: [GpuBuffer<u32>; 2],
}

impl FastEval {
    /// `perm` holds each run's permutation, `acts` each layer's output for
    /// `chunk` images (a multiple of IMAGES_PER_TILE).
    pub fn new(
        e: &Engine,
        images: &[u8],
        perm: &GpuBuffer<u32>,
        acts: &[GpuBuffer<f32>],
        chunk: usize,
        tiled_gemm: bool,
    ) -> Result<Self, Error> {
        let arch = &e.arch;
        let rk = e.runs.len() * e.cfg.test_samples;
        let tiles = ImageTiles::new(images, arch.n_in(0), IMAGES_PER_TILE).ok_or_else(|| {
            Error::Settings("evaluation split too large to index its pixels".into())
        })?;
        let entries = GpuBuffer::from_slice(&e.ctx, "image tiles", &tiles.entries)?;
        let start = GpuBuffer::from_slice(&e.ctx, "image tile starts", &tiles.start)?;
        let shapes = e.shapes(e.cfg.test_samples, 1);
        let mut prologue = Vec::new();
        let mut per_chunk = Vec::new();
        let mut weights = Vec::new();
        let first4 = row4(arch.n_out(0), true);
        let offset = GpuBuffer::zeroed(&e.ctx, "first-layer offsets", rk * first4 * 4)?;
        for l in 0..arch.layers() {
            let cols = row4(arch.n_out(l), l == 0);
            let w = sampled_gemm::weight_buffer(e, l, cols, e.cfg.test_samples)?;
            let layer = e.layers[l].as_entire_binding();
            prologue.push(sampled_gemm::sample_weights(
                e,
                l,
                cols,
                &w,
                perm,
                e.cfg.test_samples,
                true,
            ));
            if l == 0 {
                prologue.push(e.tuned_dispatch(
                    Shader::Eval,
                    "row_sums",
                    row_overrides(cols),
                    &[
                        (0, layer.clone()),
                        (5, w.buffer.as_entire_binding()),
                        (6, offset.buffer.as_entire_binding()),
                    ],
                    rk * cols,
                    cost::row_sums(shapes, arch),
                ));
                per_chunk.push(e.tuned_dispatch(
                    Shader::Eval,
                    "forward_sparse",
                    row_overrides(cols),
                    &[
                        (0, layer),
                        (5, w.buffer.as_entire_binding()),
                        (7, offset.buffer.as_entire_binding()),
                        (9, entries.buffer.as_entire_binding()),
                        (10, start.buffer.as_entire_binding()),
                        (12, acts[0].buffer.as_entire_binding()),
                    ],
                    rk * chunk.div_ceil(IMAGES_PER_TILE) * cols / 2,
                    // Dense-equivalent: the sparse kernel skips zero pixels.
                    cost::forward(e.shapes(e.cfg.test_samples, chunk), arch, 0),
                ));
            } else {
                per_chunk.push(sampled_gemm::gemm(
                    e,
                    l,
                    (cols, &w),
                    &acts[l - 1],
                    &acts[l],
                    e.shapes(e.cfg.test_samples, chunk),
                    tiled_gemm,
                ));
            }
            weights.push(w);
        }
        Ok(FastEval {
            prologue,
            per_chunk,
            weights,
            offset,
            _tiles: [entries, start],
        })
    }

    /// Fill the materialised weights and offsets with NaN (tests).
    pub fn poison(&self, ctx: &GpuContext) {
        for buf in self.weights.iter().chain([&self.offset]) {
            buf.fill(ctx, f32::NAN);
        }
    }
}
