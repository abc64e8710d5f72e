//! Launches of shaders/sampled_gemm.wgsl, shared by evaluation and batched
//! training: each sample's weights materialised as vec4 rows over outputs,
//! the GEMM of a layer (over those weights on CPU adapters, sampling them
//! in its tile loader in the GPU plan), and the first layer of evaluation
//! over the nonzero pixels of image tiles.

use super::Engine;
use super::cost::{self, Shapes};
use super::dispatch::Dispatch;
use super::{GpuBuffer, Overrides, Plan, Shader};

/// `gemm_direct`: the rows and vec4 columns each invocation owns.
const DIRECT_BLOCK: (usize, usize) = (8, 2);

/// Rows and columns of an output tile of the tiled GEMMs
/// (shaders/common/gemm_tile.wgsl).
const TILE: usize = 64;

/// Output tiles of a rows x cols product, per batched matrix.
pub fn tiles(rows: usize, cols: usize) -> usize {
    rows.div_ceil(TILE) * cols.div_ceil(TILE)
}

/// Whether layer l's inputs come in whole vec4 (IN4 of the tiled GEMMs).
pub fn in4(e: &Engine, l: usize) -> (&'static str, u32) {
    ("IN4", e.arch.n_in(l).is_multiple_of(4) as u32)
}

/// Images per tile of the first layer (fixed by `forward_sparse`): every
/// weight vec4 it loads serves this many images.
pub const IMAGES_PER_TILE: usize = 8;

/// Vec4 per row of a layer's materialised weights: its outputs padded with
/// zeros (to pairs of vec4 with `pairs`, as `forward_sparse` takes two).
pub fn row4(n_out: usize, pairs: bool) -> usize {
    let n4 = n_out.div_ceil(4);
    if pairs { n4.next_multiple_of(2) } else { n4 }
}

pub fn row_overrides(row4: usize) -> Overrides {
    vec![("ROW4", row4 as u32)]
}

/// Rows of layer l's materialised weights: its inputs, then the bias.
pub fn weight_rows(e: &Engine, l: usize) -> usize {
    e.arch.n_in(l) + e.arch.bias as usize
}

/// A buffer for the `samples` weight samples of layer l of every run.
pub fn weight_buffer(
    e: &Engine,
    l: usize,
    cols: usize,
    samples: usize,
) -> Result<GpuBuffer<f32>, super::GpuError> {
    let n = e.runs.len() * samples * weight_rows(e, l) * cols * 4;
    GpuBuffer::zeroed(&e.ctx, "weight samples", n)
}

/// w = mu + sigma * eps for the first `samples` noise samples of layer l,
/// into `w` (`cols` vec4 per row). With `permute` the first layer's rows
/// go to the original pixels through `perm` (evaluation of raw images).
pub fn sample_weights(
    e: &Engine,
    l: usize,
    cols: usize,
    w: &GpuBuffer<f32>,
    perm: &GpuBuffer<u32>,
    samples: usize,
    permute: bool,
) -> Dispatch {
    let mut overrides = row_overrides(cols);
    overrides.push(("PERMUTE_INPUT", permute as u32));
    e.tuned_dispatch(
        Shader::SampledGemm,
        "sample_weights",
        overrides,
        &e.layer_bindings(
            l,
            [
                ("w_out", w.buffer.as_entire_binding()),
                ("perm", perm.buffer.as_entire_binding()),
                ("mu4", e.mu[l].buffer.as_entire_binding()),
                ("sigma4", e.sigma[l].buffer.as_entire_binding()),
                ("eps4", e.eps[l].buffer.as_entire_binding()),
            ],
        ),
        e.runs.len() * samples * weight_rows(e, l).div_ceil(4) * cols,
        cost::sample_weights(e.shapes(samples, 1), &e.arch, l),
    )
}

/// act_out = act(act_in w + bias) of layer l (`cols` vec4 outputs) over its
/// materialised weights `w`, for `shapes.batch` rows per sample, reading
/// directly in blocks of DIRECT_BLOCK (for CPU adapters: measured on
/// lavapipe, 76 -> 16 ms per 2000-image chunk at 50 -> 10).
pub fn gemm_direct(
    e: &Engine,
    l: usize,
    (cols, w): (usize, &GpuBuffer<f32>),
    act_in: &GpuBuffer<f32>,
    act_out: &GpuBuffer<f32>,
    shapes: Shapes,
) -> Dispatch {
    let rk = shapes.runs * shapes.samples;
    let threads = rk * shapes.batch.div_ceil(DIRECT_BLOCK.0) * cols.div_ceil(DIRECT_BLOCK.1);
    e.tuned_dispatch(
        Shader::SampledGemm,
        "gemm_direct",
        row_overrides(cols),
        &[
            ("layer", e.layers[l].as_entire_binding()),
            ("w", w.buffer.as_entire_binding()),
            ("act_in", act_in.buffer.as_entire_binding()),
            ("act_in4", act_in.buffer.as_entire_binding()),
            ("act_out", act_out.buffer.as_entire_binding()),
        ],
        threads,
        cost::gemm(shapes, &e.arch, l),
    )
}

/// The same product in the GPU plan, the weights w = mu + sigma eps_k
/// sampled as each 64 x 64 tile stages them (none stored): one workgroup
/// per (run, sample, tile of rows and outputs).
pub fn gemm_tile(
    e: &Engine,
    l: usize,
    act_in: &GpuBuffer<f32>,
    act_out: &GpuBuffer<f32>,
    shapes: Shapes,
) -> Dispatch {
    let rk = shapes.runs * shapes.samples;
    e.tile_dispatch(
        Shader::SampledGemm,
        "gemm_tile",
        vec![in4(e, l)],
        &[
            ("layer", e.layers[l].as_entire_binding()),
            ("mu4", e.mu[l].buffer.as_entire_binding()),
            ("sigma4", e.sigma[l].buffer.as_entire_binding()),
            ("eps4", e.eps[l].buffer.as_entire_binding()),
            ("act_in", act_in.buffer.as_entire_binding()),
            ("act_in4", act_in.buffer.as_entire_binding()),
            ("act_out", act_out.buffer.as_entire_binding()),
        ],
        rk * tiles(shapes.batch, e.arch.n_out(l)),
        cost::forward(shapes, &e.arch, l),
    )
}

/// Whether the GEMMs tile through workgroup memory and sample their weights
/// in the tile loaders: in the GPU plan, not on CPU adapters (where a
/// workgroup-memory load costs a storage load, and the weights sampled
/// once per step are read by fewer loads).
pub fn tiles_by_default(e: &Engine) -> bool {
    e.ctx.plan == Plan::Gpu
}

/// The first layer's offsets: per run and sample, the sum of each
/// output's weight rows (`cols` vec4), once per evaluation.
pub fn row_sums(e: &Engine, cols: usize, w: &GpuBuffer<f32>, offset: &GpuBuffer<f32>) -> Dispatch {
    let rk = e.runs.len() * e.cfg.test_samples;
    let shapes = e.shapes(e.cfg.test_samples, 1);
    e.tuned_dispatch(
        Shader::SampledGemm,
        "row_sums",
        row_overrides(cols),
        &[
            ("layer", e.layers[0].as_entire_binding()),
            ("w", w.buffer.as_entire_binding()),
            ("offset_out", offset.buffer.as_entire_binding()),
        ],
        rk * cols,
        cost::row_sums(shapes, &e.arch),
    )
}

/// The first layer over the nonzero pixels of each tile of
/// `IMAGES_PER_TILE` images (`tiles`: entries and their starts) into
/// `act0`, for a chunk of `chunk` images.
pub fn forward_sparse(
    e: &Engine,
    (cols, w): (usize, &GpuBuffer<f32>),
    offset: &GpuBuffer<f32>,
    [entries, start]: [&GpuBuffer<u32>; 2],
    act0: &GpuBuffer<f32>,
    chunk: usize,
) -> Dispatch {
    let rk = e.runs.len() * e.cfg.test_samples;
    e.tuned_dispatch(
        Shader::SampledGemm,
        "forward_sparse",
        row_overrides(cols),
        &[
            ("layer", e.layers[0].as_entire_binding()),
            ("w", w.buffer.as_entire_binding()),
            ("offset", offset.buffer.as_entire_binding()),
            ("tiles", entries.buffer.as_entire_binding()),
            ("tile_start", start.buffer.as_entire_binding()),
            ("act_out", act0.buffer.as_entire_binding()),
        ],
        rk * chunk.div_ceil(IMAGES_PER_TILE) * cols / 2,
        // Dense-equivalent: the sparse kernel skips zero pixels.
        cost::forward(e.shapes(e.cfg.test_samples, chunk), &e.arch, 0),
    )
}
