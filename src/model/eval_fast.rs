//! The fast evaluation kernels (shaders/eval.wgsl): each sample's weights are
//! materialised once per evaluation, the first layer runs over the nonzero
//! pixels of image tiles, the other layers as a tiled GEMM.

use super::dispatch::Dispatch;
use super::image_tiles::ImageTiles;
use super::{Engine, EngineError, WORKGROUP};
use crate::gpu::{GpuBuffer, GpuContext, Overrides, Shader};

/// Images per tile of the first layer: every weight vec4 it loads serves
/// this many images (more: fewer loads, but more zero pixels multiplied).
pub const IMAGES_PER_TILE: usize = 8;
/// Register-block bounds of shaders/eval.wgsl (MAX_TV, MAX_ACC).
const MAX_TV: usize = 16;
const MAX_ACC: usize = 128;
/// GEMM: rows per invocation, most invocations along columns, and the
/// workgroup-memory capacities (A_CAP floats, B_CAP vec4) it stages through.
const GEMM_ROWS: usize = 2;
const GEMM_MAX_GN: usize = 8;
const A_CAP: usize = 1024;
const B_CAP: usize = 512;

/// A layer's outputs as `blocks` column blocks of `per_block` vec4.
#[derive(Clone, Copy, Debug)]
struct Columns {
    blocks: usize,
    per_block: usize,
}

impl Columns {
    fn new(n_out: usize, max_per_block: usize) -> Self {
        let n4 = n_out.div_ceil(4);
        let blocks = n4.div_ceil(max_per_block);
        Columns {
            blocks,
            per_block: n4.div_ceil(blocks),
        }
    }

    /// Vec4 per row of the materialised weights (padded with zeros).
    fn vec4s(self) -> usize {
        self.blocks * self.per_block
    }

    fn overrides(self) -> Overrides {
        vec![("NB", self.blocks as u32), ("TV", self.per_block as u32)]
    }
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
    ) -> Result<Self, EngineError> {
        let arch = &e.arch;
        let rk = e.runs.len() * e.cfg.test_samples;
        let tiles = ImageTiles::new(images, arch.n_in(0), IMAGES_PER_TILE).ok_or_else(|| {
            EngineError::Config("evaluation split too large to index its pixels".into())
        })?;
        let entries = GpuBuffer::from_slice(&e.ctx, "image tiles", &tiles.entries)?;
        let start = GpuBuffer::from_slice(&e.ctx, "image tile starts", &tiles.start)?;
        let mut prologue = Vec::new();
        let mut per_chunk = Vec::new();
        let mut weights = Vec::new();
        let first = Columns::new(arch.n_out(0), MAX_TV.min(MAX_ACC / IMAGES_PER_TILE));
        let offset = GpuBuffer::zeroed(&e.ctx, "first-layer offsets", rk * first.vec4s() * 4)?;
        for l in 0..arch.layers() {
            let cols = if l == 0 {
                first
            } else {
                Columns::new(arch.n_out(l), MAX_TV.min(MAX_ACC / GEMM_ROWS))
            };
            let rows = arch.n_in(l) + arch.bias as usize;
            let w = GpuBuffer::zeroed(&e.ctx, "weight samples", rk * rows * cols.vec4s() * 4)?;
            let layer = e.layers[l].as_entire_binding();
            prologue.push(e.tuned_dispatch(
                Shader::Eval,
                "sample_weights",
                WORKGROUP,
                cols.overrides(),
                &[
                    (0, layer.clone()),
                    (1, e.mu[l].buffer.as_entire_binding()),
                    (2, e.sigma[l].buffer.as_entire_binding()),
                    (3, e.eps[l].buffer.as_entire_binding()),
                    (4, w.buffer.as_entire_binding()),
                    (8, perm.buffer.as_entire_binding()),
                ],
                rk * rows * cols.vec4s(),
            ));
            if l == 0 {
                prologue.push(e.tuned_dispatch(
                    Shader::Eval,
                    "row_sums",
                    WORKGROUP,
                    cols.overrides(),
                    &[
                        (0, layer.clone()),
                        (5, w.buffer.as_entire_binding()),
                        (6, offset.buffer.as_entire_binding()),
                    ],
                    rk * cols.vec4s(),
                ));
                let mut overrides = cols.overrides();
                overrides.push(("TM", IMAGES_PER_TILE as u32));
                per_chunk.push(e.tuned_dispatch(
                    Shader::Eval,
                    "forward_sparse",
                    WORKGROUP,
                    overrides,
                    &[
                        (0, layer),
                        (5, w.buffer.as_entire_binding()),
                        (7, offset.buffer.as_entire_binding()),
                        (9, entries.buffer.as_entire_binding()),
                        (10, start.buffer.as_entire_binding()),
                        (12, acts[0].buffer.as_entire_binding()),
                    ],
                    rk * chunk.div_ceil(IMAGES_PER_TILE) * cols.blocks,
                ));
            } else {
                per_chunk.push(gemm(e, l, cols, &w, acts, rk, chunk));
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

/// The tiled GEMM of hidden layer `l`: workgroups of (WG / GN) x GN
/// invocations, each GEMM_ROWS rows x `cols.per_block` vec4.
fn gemm(
    e: &Engine,
    l: usize,
    cols: Columns,
    w: &GpuBuffer<f32>,
    acts: &[GpuBuffer<f32>],
    rk: usize,
    chunk: usize,
) -> Dispatch {
    let wg = WORKGROUP as usize;
    // A power of two, so that it divides the workgroup.
    let gn = 1 << cols.blocks.min(GEMM_MAX_GN).ilog2();
    let bm = wg / gn * GEMM_ROWS;
    let bn = gn * cols.per_block;
    let tk = 16.min(A_CAP / bm).min(B_CAP / bn).max(1);
    let groups = rk * chunk.div_ceil(bm) * cols.vec4s().div_ceil(bn);
    let mut overrides = cols.overrides();
    overrides.extend([
        ("TM", GEMM_ROWS as u32),
        ("GN", gn as u32),
        ("TK", tk as u32),
    ]);
    e.tuned_dispatch(
        Shader::Eval,
        "gemm",
        WORKGROUP,
        overrides,
        &[
            (0, e.layers[l].as_entire_binding()),
            (5, w.buffer.as_entire_binding()),
            (11, acts[l - 1].buffer.as_entire_binding()),
            (12, acts[l].buffer.as_entire_binding()),
        ],
        groups * wg,
    )
}
