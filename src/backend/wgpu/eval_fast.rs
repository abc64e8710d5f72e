//! The fast evaluation kernels (shaders/sampled_gemm.wgsl): the first layer
//! runs over the nonzero pixels of image tiles with each sample's weights
//! materialised once per evaluation, the other layers as a GEMM (over
//! weights materialised the same way on CPU adapters, sampling them in its
//! tile loader in the GPU plan).

use super::Engine;
use super::dispatch::Dispatch;
use super::image_tiles::ImageTiles;
use super::sampled_gemm::{self, IMAGES_PER_TILE, row4};
use super::{GpuBuffer, GpuContext};
use crate::Error;

/// Buffers and dispatches of the fast path for one evaluation split.
pub struct FastEval {
    /// After the noise, once per evaluation: materialised weights, row sums.
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
        let mut prologue = Vec::new();
        let mut per_chunk = Vec::new();
        let mut weights = Vec::new();
        let first4 = row4(arch.n_out(0), true);
        let offset = GpuBuffer::zeroed(&e.ctx, "first-layer offsets", rk * first4 * 4)?;
        for l in 0..arch.layers() {
            let shapes = e.shapes(e.cfg.test_samples, chunk);
            if l > 0 && tiled_gemm {
                per_chunk.push(sampled_gemm::gemm_tile(
                    e,
                    l,
                    &acts[l - 1],
                    &acts[l],
                    shapes,
                ));
                continue;
            }
            let cols = row4(arch.n_out(l), l == 0);
            let w = sampled_gemm::weight_buffer(e, l, cols, e.cfg.test_samples)?;
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
                prologue.push(sampled_gemm::row_sums(e, cols, &w, &offset));
                per_chunk.push(sampled_gemm::forward_sparse(
                    e,
                    (cols, &w),
                    &offset,
                    [&entries, &start],
                    &acts[0],
                    chunk,
                ));
            } else {
                per_chunk.push(sampled_gemm::gemm_direct(
                    e,
                    l,
                    (cols, &w),
                    &acts[l - 1],
                    &acts[l],
                    shapes,
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
