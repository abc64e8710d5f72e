// Fast evaluation: the K weight samples are materialised once per evaluation
// as w[r][k][row][c] (vec4 over outputs, rows = inputs then the bias), the
// first layer runs over the nonzero pixels of tiles of images, the others as
// a tiled GEMM. Layouts and costs: docs/perf-notes-eval.md.

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> mu: array<f32>;
@group(0) @binding(2) var<storage, read> sigma: array<f32>;
@group(0) @binding(3) var<storage, read> eps: array<f32>;
@group(0) @binding(4) var<storage, read_write> w_out: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> offset_out: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> offset: array<vec4<f32>>;  // [R][K][NB * TV]
@group(0) @binding(8) var<storage, read> perm: array<u32>;          // [R][n_in]
@group(0) @binding(9) var<storage, read> tiles: array<u32>;         // per entry: pixel, TM bytes
@group(0) @binding(10) var<storage, read> tile_start: array<u32>;   // entry range per tile
@group(0) @binding(11) var<storage, read> act_in: array<f32>;       // [R][K][B][n_in]
@group(0) @binding(12) var<storage, read_write> act_out: array<f32>; // [R][K][B][n_out]
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;
override NB: u32 = 1u;   // column blocks: a row of w holds NB * TV vec4
override TV: u32 = 1u;   // vec4 columns per invocation
override TM: u32 = 1u;   // rows (images) per invocation
override GN: u32 = 1u;   // GEMM: invocations along columns in a workgroup
override TK: u32 = 8u;   // GEMM: inputs per workgroup-memory stage

// Register block bounds (function arrays need constant sizes; the host keeps
// TV <= MAX_TV, TM <= MAX_TM and TM * TV <= MAX_ACC; src/model/eval_fast.rs).
const MAX_ACC: u32 = 128u;
const MAX_TM: u32 = 16u;
const MAX_TV: u32 = 16u;

fn w_rows() -> u32 {
    return layer.n_in + layer.has_bias;
}

// w[r][k][row][c] = mu + sigma * eps_k (the expression of forward.wgsl, so the
// values are the same f32). The first layer's input rows are stored at the
// original pixel perm[i], so the image tiles need no permutation.
@compute @workgroup_size(WG)
fn sample_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n4 = NB * TV;
    let id = linear_id(gid, nwg, WG);
    if (id >= layer.runs * st.samples * w_rows() * n4) { return; }
    let c = id % n4;
    let row = (id / n4) % w_rows();
    let rk = id / (n4 * w_rows());
    let r = rk / st.samples;
    var v = vec4<f32>(0.0);
    for (var q = 0u; q < 4u; q++) {
        let j = c * 4u + q;
        if (j < layer.n_out) {
            var e = layer.n_out * layer.n_in + j;
            if (row < layer.n_in) { e = j * layer.n_in + row; }
            let m = r * layer.params + e;
            v[q] = mu[m] + sigma[m] * eps[rk * layer.params + e];
        }
    }
    var dest = row;
    if (layer.index == 0u && row < layer.n_in) { dest = perm[r * layer.n_in + row]; }
    w_out[(rk * w_rows() + dest) * n4 + c] = v;
}

// First layer: x_i = byte_i * x_scale + x_shift, so
// z_j = x_scale * sum_{byte_i != 0} byte_i w[i][j] + (x_shift * sum_i w[i][j] + bias_j).
// This kernel forms the bracket once per sample.
@compute @workgroup_size(WG)
fn row_sums(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n4 = NB * TV;
    let id = linear_id(gid, nwg, WG);
    if (id >= layer.runs * st.samples * n4) { return; }
    let c = id % n4;
    let base = (id / n4) * w_rows() * n4 + c;
    var s = vec4<f32>(0.0);
    for (var i = 0u; i < layer.n_in; i++) { s += w[base + i * n4]; }
    var o = st.x_shift * s;
    if (layer.has_bias == 1u) { o += w[base + layer.n_in * n4]; }
    offset_out[id] = o;
}

fn activate(z: f32) -> f32 {
    if (layer.relu == 1u) { return max(z, 0.0); }
    return z;
}

// Write the valid lanes of output vec4 column c of example b of sample rk.
fn store4(rk: u32, b: u32, c: u32, z: vec4<f32>) {
    let out = (rk * st.batch + b) * layer.n_out;
    for (var q = 0u; q < 4u; q++) {
        let j = c * 4u + q;
        if (j < layer.n_out) { act_out[out + j] = activate(z[q]); }
    }
}

// First layer over tiles of TM images: one invocation per (run, sample, tile,
// column block) walks the pixels that are nonzero in any image of its tile,
// loading each weight vec4 once for all TM images.
@compute @workgroup_size(WG)
fn forward_sparse(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n4 = NB * TV;
    let tiles_here = (st.batch + TM - 1u) / TM;
    let id = linear_id(gid, nwg, WG);
    if (id >= layer.runs * st.samples * tiles_here * NB) { return; }
    let jb = id % NB;
    let tile = (id / NB) % tiles_here;
    let rk = id / (NB * tiles_here);
    let words = 1u + (TM + 3u) / 4u;
    let w_base = rk * w_rows() * n4 + jb * TV;
    let first = st.pos / TM + tile;
    var acc: array<vec4<f32>, MAX_ACC>;
    var x: array<f32, MAX_TM>;
    for (var e = tile_start[first]; e < tile_start[first + 1u]; e++) {
        let at = e * words;
        for (var q = 0u; q < words - 1u; q++) {
            let bytes = tiles[at + 1u + q];
            for (var s = 0u; s < 4u; s++) { x[q * 4u + s] = f32((bytes >> (8u * s)) & 0xffu); }
        }
        let row = w_base + tiles[at] * n4;
        for (var v = 0u; v < TV; v++) {
            let wv = w[row + v];
            for (var m = 0u; m < TM; m++) { acc[m * TV + v] += x[m] * wv; }
        }
    }
    for (var m = 0u; m < TM; m++) {
        let b = tile * TM + m;
        if (b >= st.batch) { break; }
        for (var v = 0u; v < TV; v++) {
            let c = jb * TV + v;
            store4(rk, b, c, st.x_scale * acc[m * TV + v] + offset[rk * n4 + c]);
        }
    }
}

// Hidden layers: act_out[rk] = act(act_in[rk] (B x n_in) * w[rk] (n_in x n) + bias),
// batched over rk. A workgroup of (WG / GN) x GN invocations computes a
// (WG / GN * TM) x (GN * TV) vec4 tile, staging TK inputs of both operands in
// workgroup memory; each invocation keeps a TM x TV vec4 block in registers.
const A_CAP: u32 = 1024u;
const B_CAP: u32 = 512u;
var<workgroup> a_tile: array<f32, A_CAP>;        // [bm][TK]
var<workgroup> b_tile: array<vec4<f32>, B_CAP>;  // [TK][bn]

@compute @workgroup_size(WG)
fn gemm(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let n4 = NB * TV;
    let bm = WG / GN * TM;
    let bn = GN * TV;
    let col_tiles = (n4 + bn - 1u) / bn;
    let row_tiles = (st.batch + bm - 1u) / bm;
    let group = wid.x + wid.y * nwg.x;
    let ct = group % col_tiles;
    let rt = (group / col_tiles) % row_tiles;
    let rk = group / (col_tiles * row_tiles);
    if (rk >= layer.runs * st.samples) { return; }
    let lr = lid / GN;
    let lc = lid % GN;
    let w_base = rk * w_rows() * n4;
    var acc: array<vec4<f32>, MAX_ACC>;
    var bv: array<vec4<f32>, MAX_TV>;
    for (var k0 = 0u; k0 < layer.n_in; k0 += TK) {
        for (var q = lid; q < bm * TK; q += WG) {
            let m = rt * bm + q / TK;
            let k = k0 + q % TK;
            var a = 0.0;
            if (m < st.batch && k < layer.n_in) { a = act_in[(rk * st.batch + m) * layer.n_in + k]; }
            a_tile[q] = a;
        }
        for (var q = lid; q < TK * bn; q += WG) {
            let k = k0 + q / bn;
            let c = ct * bn + q % bn;
            var b = vec4<f32>(0.0);
            if (k < layer.n_in && c < n4) { b = w[w_base + k * n4 + c]; }
            b_tile[q] = b;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            for (var v = 0u; v < TV; v++) { bv[v] = b_tile[kk * bn + lc * TV + v]; }
            for (var m = 0u; m < TM; m++) {
                let a = a_tile[(lr * TM + m) * TK + kk];
                for (var v = 0u; v < TV; v++) { acc[m * TV + v] += a * bv[v]; }
            }
        }
        workgroupBarrier();
    }
    for (var m = 0u; m < TM; m++) {
        let b = rt * bm + lr * TM + m;
        if (b >= st.batch) { break; }
        for (var v = 0u; v < TV; v++) {
            let c = ct * bn + lc * TV + v;
            if (c >= n4) { break; }
            var z = acc[m * TV + v];
            if (layer.has_bias == 1u) { z += w[w_base + layer.n_in * n4 + c]; }
            store4(rk, b, c, z);
        }
    }
}
