//! The fast evaluation kernels (shaders/eval.wgsl): each sample's weights are
//! materialised once per evaluation, the first layer runs over the nonzero
//! pixels of image tiles, the other layers as a tiled GEMM.

use super::cost;
use super::dispatch::Dispatch;
use super::image_tiles::ImageTiles;
use super::{Engine, EngineError, WORKGROUP};
use crate::gpu::{GpuBuffer, GpuContext, Overrides, Shader};

/// Images per tile of the first layer (fixed by `forward_sparse`): every
/// weight vec4 it loads serves this many images.
pub const IMAGES_PER_TILE: usize = 8;
/// GEMM: most invocations along columns, and the workgroup-memory
/// capacities (A_CAP floats, B_CAP vec4) of shaders/eval.wgsl.
const GEMM_MAX_GN: usize = 8;
const GEMM_ROWS: usize = 4;
const A_CAP: usize = 1024;
const B_CAP: usize = 512;

/// Vec4 per row of layer `l`'s materialised weights: its outputs padded with
/// zeros, to pairs of vec4 in the first layer (`forward_sparse` takes two).
fn row4(n_out: usize, first: bool) -> usize {
    let n4 = n_out.div_ceil(4);
    if first { n4.next_multiple_of(2) } else { n4 }
}

fn row_overrides(row4: usize) -> Overrides {
    vec![("ROW4", row4 as u32)]
}

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
    ) -> Result<Self, EngineError> {
        let arch = &e.arch;
        let rk = e.runs.len() * e.cfg.test_samples;
        let tiles = ImageTiles::new(images, arch.n_in(0), IMAGES_PER_TILE).ok_or_else(|| {
            EngineError::Config("evaluation split too large to index its pixels".into())
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
            let rows = arch.n_in(l) + arch.bias as usize;
            let w = GpuBuffer::zeroed(&e.ctx, "weight samples", rk * rows * cols * 4)?;
            let layer = e.layers[l].as_entire_binding();
            prologue.push(e.tuned_dispatch(
                Shader::Eval,
                "sample_weights",
                row_overrides(cols),
                &[
                    (0, layer.clone()),
                    (1, e.mu[l].buffer.as_entire_binding()),
                    (2, e.sigma[l].buffer.as_entire_binding()),
                    (3, e.eps[l].buffer.as_entire_binding()),
                    (4, w.buffer.as_entire_binding()),
                    (8, perm.buffer.as_entire_binding()),
                ],
                rk * rows * cols,
                cost::sample_weights(shapes, arch, l),
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
                per_chunk.push(gemm(e, l, cols, &w, acts, rk, chunk, tiled_gemm));
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

/// The GEMM of hidden layer `l` (`cols` vec4 outputs), each invocation
/// GEMM_ROWS rows x 1 vec4: tiled through workgroup memory in workgroups of
/// (WG / GN) x GN invocations, or reading directly (for CPU adapters:
/// measured on lavapipe, 76 -> 16 ms per 2000-image chunk at 50 -> 10).
#[allow(clippy::too_many_arguments)]
fn gemm(
    e: &Engine,
    l: usize,
    cols: usize,
    w: &GpuBuffer<f32>,
    acts: &[GpuBuffer<f32>],
    rk: usize,
    chunk: usize,
    tiled: bool,
) -> Dispatch {
    let wg = WORKGROUP as usize;
    let bindings = [
        (0, e.layers[l].as_entire_binding()),
        (5, w.buffer.as_entire_binding()),
        (11, acts[l - 1].buffer.as_entire_binding()),
        (12, acts[l].buffer.as_entire_binding()),
    ];
    let cost = cost::forward(e.shapes(e.cfg.test_samples, chunk), &e.arch, l);
    if !tiled {
        let threads = rk * chunk.div_ceil(GEMM_ROWS) * cols;
        let overrides = row_overrides(cols);
        return e.tuned_dispatch(
            Shader::Eval,
            "gemm_direct",
            overrides,
            &bindings,
            threads,
            cost,
        );
    }
    // A power of two, so that it divides the workgroup.
    let gn = 1 << cols.min(GEMM_MAX_GN).ilog2();
    let bm = wg / gn * GEMM_ROWS;
    let tk = 16.min(A_CAP / bm).min(B_CAP / gn).max(1);
    let groups = rk * chunk.div_ceil(bm) * cols.div_ceil(gn);
    let mut overrides = row_overrides(cols);
    overrides.extend([("GN", gn as u32), ("TK", tk as u32)]);
    e.tuned_dispatch(
        Shader::Eval,
        "gemm",
        overrides,
        &bindings,
        groups * wg,
        cost,
    )
}
