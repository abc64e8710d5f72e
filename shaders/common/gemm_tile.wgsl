// The GPU plan's 2D-tiled GEMMs: a workgroup of 256 invocations computes a
// 64 x 64 output tile, each invocation 4 rows x 4 columns as a mat4x4
// value (column m: row m of its 4, a vec4 over its 4 columns; a function
// array would live in memory on lavapipe, see sampled_gemm.wgsl). Per pass
// TK = 16 steps of the inner dimension are staged in workgroup memory, both
// tiles as [TK][64] in vec4 (A transposed, so an invocation reads its 4
// rows as one vec4): each inner step is 2 vec4 loads and 16 FMAs, and each
// invocation stages exactly one quad of each tile per pass. The including
// kernel binds `layer`, `st`, `act_in` and `act_in4`, with
// common/layer_input.wgsl.

const TILE: u32 = 64u;
const TQ: u32 = 16u;            // vec4 across a tile; TQ x TQ invocations
const TK: u32 = 16u;            // inner steps per pass: 64 rows x 4 quads = 256
const A_TILE: u32 = 0u;         // offsets of the two tiles in `stage`
const B_TILE: u32 = TK * TQ;
var<workgroup> stage: array<vec4<f32>, 2u * TK * TQ>; // 8 KiB

// 1: n_in is a multiple of 4, so input rows can be read as vec4 (a constant,
// so the branch compiles away).
override IN4: u32 = 0u;

// The tile of a workgroup over a rows x cols output, per batched matrix:
// (matrix, first row, first column); past the last matrix for the spare
// workgroups of the grid.
fn tile_origin(wid: vec3<u32>, nwg: vec3<u32>, rows: u32, cols: u32) -> vec3<u32> {
    let group = wid.x + wid.y * nwg.x;
    let col_tiles = (cols + TILE - 1u) / TILE;
    let row_tiles = (rows + TILE - 1u) / TILE;
    return vec3<u32>(group / (col_tiles * row_tiles), group / col_tiles % row_tiles * TILE,
                     group % col_tiles * TILE);
}

// Stage invocation lid's quad along the inner dimension, transposed: tile
// row lid / 4, inner steps 4 (lid % 4) .. +3 of the pass.
fn put_across(tile: u32, lid: u32, v: vec4<f32>) {
    let row = lid / 4u;
    let k = lid % 4u * 4u;
    for (var t = 0u; t < 4u; t++) { stage[tile + (k + t) * TQ + row / 4u][row % 4u] = v[t]; }
}

// acc += outer products of the staged pass: rows lid / TQ * 4 .. +3 of A,
// columns lid % TQ * 4 .. +3 of B.
fn tile_product(acc: mat4x4<f32>, lid: u32) -> mat4x4<f32> {
    var a = acc;
    for (var kk = 0u; kk < TK; kk++) {
        a = outer_add(a, stage[B_TILE + kk * TQ + lid % TQ], stage[A_TILE + kk * TQ + lid / TQ]);
    }
    return a;
}

// acc += the outer product of the columns w and the rows x: column m += w x[m].
fn outer_add(acc: mat4x4<f32>, w: vec4<f32>, x: vec4<f32>) -> mat4x4<f32> {
    return acc + mat4x4<f32>(w * x.x, w * x.y, w * x.z, w * x.w);
}

// Inputs i0..i0+3 of example b of sample k of run r: 1 at the bias column
// (i = n_in), zero past it.
fn input_quad(r: u32, k: u32, b: u32, i0: u32) -> vec4<f32> {
    let at = input_row(r, k, b) + i0;
    if (IN4 == 1u && i0 < layer.n_in) { return act_in4[at / 4u]; }
    var x = vec4<f32>(0.0);
    for (var q = 0u; q < 4u; q++) {
        let i = i0 + q;
        if (i < layer.n_in) { x[q] = act_in[at + q]; }
        if (i == layer.n_in && layer.has_bias == 1u) { x[q] = 1.0; }
    }
    return x;
}
