// Fast evaluation: the first layer runs over the nonzero pixels of tiles of
// images, its K weight samples materialised once per evaluation as
// w[r][k][row][c] (vec4 over outputs, rows = inputs then the bias); the
// others as a GEMM: `gemm_direct` over weights materialised the same way on
// CPU adapters, the 2D-tiled `gemm_tile` sampling its weights as it stages
// them in the GPU plan. Layouts and costs: docs/perf-notes-eval.md.
// Training at batch > 1 runs the same GEMMs for every layer below the
// output (the first reads the gathered input, shared by the samples).

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> mu: array<f32>;
@group(0) @binding(2) var<storage, read> sigma: array<f32>;
@group(0) @binding(3) var<storage, read> eps: array<f32>;
@group(0) @binding(4) var<storage, read_write> w_out: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> offset_out: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> offset: array<vec4<f32>>;  // [R][K][ROW4]
@group(0) @binding(8) var<storage, read> perm: array<u32>;          // [R][n_in]
@group(0) @binding(9) var<storage, read> tiles: array<u32>;         // per entry: pixel, 8 bytes
@group(0) @binding(10) var<storage, read> tile_start: array<u32>;   // entry range per tile
@group(0) @binding(11) var<storage, read> act_in: array<f32>;       // [R][K][B][n_in]
@group(0) @binding(12) var<storage, read_write> act_out: array<f32>; // [R][K][B][n_out]
@group(0) @binding(13) var<storage, read> act_in4: array<vec4<f32>>; // act_in as vec4
@group(0) @binding(14) var<storage, read> mu4: array<vec4<f32>>;     // mu, sigma, eps as vec4
@group(0) @binding(15) var<storage, read> sigma4: array<vec4<f32>>;
@group(0) @binding(16) var<storage, read> eps4: array<vec4<f32>>;
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;
override ROW4: u32 = 1u; // vec4 per row of w: the outputs, padded with zeros
// 1: the first layer's rows are stored at the original pixel (evaluation
// reads raw images); 0: in input order (training gathers its input).
override PERMUTE_INPUT: u32 = 1u;

// Register blocks are fixed: lavapipe (Mesa 22) keeps a function array in
// memory, one gather per lane and access, so the blocks are mat4x4 values
// (columns: 4 images or rows, each a vec4 of outputs) indexed by constants.
fn w_rows() -> u32 {
    return layer.n_in + layer.has_bias;
}

// w[r][k][row][c] = mu + sigma * eps_k (the expression of forward.wgsl, so the
// values are the same f32), one invocation per 4 rows x 1 vec4 of outputs.
// When n_in % 4 == 0 the 4 weights of an output over the 4 rows are read as
// vec4 (12 loads per 16 weights instead of 48). With PERMUTE_INPUT the first
// layer's input rows are stored at the original pixel perm[i], so the image
// tiles need no permutation.
@compute @workgroup_size(WG)
fn sample_weights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n4 = ROW4;
    let quads = (w_rows() + 3u) / 4u;
    let id = linear_id(gid, nwg, WG);
    if (id >= layer.runs * st.samples * quads * n4) { return; }
    let c = id % n4;
    let row0 = (id / n4) % quads * 4u;
    let rk = id / (n4 * quads);
    let r = rk / st.samples;
    var v = mat4x4<f32>(); // column t: row row0 + t
    if (layer.n_in % 4u == 0u && row0 < layer.n_in) {
        var t = mat4x4<f32>(); // column q: output 4c + q over the 4 rows
        for (var q = 0u; q < 4u; q++) {
            let j = c * 4u + q;
            if (j < layer.n_out) {
                let e = j * layer.n_in + row0;
                let m = (r * layer.stride + e) / 4u;
                t[q] = mu4[m] + sigma4[m] * eps4[(rk * layer.stride + e) / 4u];
            }
        }
        v = transpose(t);
    } else {
        for (var i = 0u; i < 4u; i++) {
            let row = min(row0 + i, w_rows() - 1u);
            for (var q = 0u; q < 4u; q++) {
                let j = c * 4u + q;
                if (j < layer.n_out) {
                    var e = layer.n_out * layer.n_in + j;
                    if (row < layer.n_in) { e = j * layer.n_in + row; }
                    let m = r * layer.stride + e;
                    v[i][q] = mu[m] + sigma[m] * eps[rk * layer.stride + e];
                }
            }
        }
    }
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + i;
        if (row < w_rows()) {
            var dest = row;
            if (PERMUTE_INPUT == 1u && layer.index == 0u && row < layer.n_in) {
                dest = perm[r * layer.n_in + row];
            }
            w_out[(rk * w_rows() + dest) * n4 + c] = v[i];
        }
    }
}

// First layer: x_i = byte_i * x_scale + x_shift, so
// z_j = x_scale * sum_{byte_i != 0} byte_i w[i][j] + (x_shift * sum_i w[i][j] + bias_j).
// This kernel forms the bracket once per sample.
@compute @workgroup_size(WG)
fn row_sums(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n4 = ROW4;
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

fn store_block(rk: u32, first_b: u32, c: u32, z: mat4x4<f32>) {
    let o = offset[rk * ROW4 + c];
    for (var m = 0u; m < 4u; m++) {
        if (first_b + m < st.batch) { store4(rk, first_b + m, c, st.x_scale * z[m] + o); }
    }
}

// First layer over tiles of 8 images: one invocation per (run, sample, tile,
// pair of output vec4) walks the pixels that are nonzero in any image of its
// tile, loading each weight vec4 once for all 8 images.
@compute @workgroup_size(WG)
fn forward_sparse(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let pairs = ROW4 / 2u;
    let tiles_here = (st.batch + 7u) / 8u;
    let id = linear_id(gid, nwg, WG);
    if (id >= layer.runs * st.samples * tiles_here * pairs) { return; }
    let c = (id % pairs) * 2u;
    let tile = (id / pairs) % tiles_here;
    let rk = id / (pairs * tiles_here);
    let w_base = rk * w_rows() * ROW4 + c;
    let first = st.pos / 8u + tile;
    var a0 = mat4x4<f32>(); // images 0-3, outputs c
    var a1 = mat4x4<f32>(); // images 0-3, outputs c + 1
    var a2 = mat4x4<f32>(); // images 4-7, outputs c
    var a3 = mat4x4<f32>(); // images 4-7, outputs c + 1
    for (var e = tile_start[first]; e < tile_start[first + 1u]; e++) {
        let at = e * 3u;
        let row = w_base + tiles[at] * ROW4;
        let x_lo = vec4<f32>(unpack4xU8(tiles[at + 1u]));
        let x_hi = vec4<f32>(unpack4xU8(tiles[at + 2u]));
        let w0 = w[row];
        let w1 = w[row + 1u];
        a0 = outer_add(a0, w0, x_lo);
        a1 = outer_add(a1, w1, x_lo);
        a2 = outer_add(a2, w0, x_hi);
        a3 = outer_add(a3, w1, x_hi);
    }
    let b = tile * 8u;
    store_block(rk, b, c, a0);
    store_block(rk, b, c + 1u, a1);
    store_block(rk, b + 4u, c, a2);
    store_block(rk, b + 4u, c + 1u, a3);
}

// Where input row b of sample rk starts (input_row: shared by the samples in
// the first layer).
fn a_row(rk: u32, b: u32) -> u32 {
    return input_row(rk / st.samples, rk % st.samples, b);
}

// The GPU plan's forward of a layer, in training (every layer below the
// output; the first reads the gathered input) and for evaluation's hidden
// layers: act_out[rk] = act(act_in[rk] (B x n_in) * W_rk (n_in x n_out) + bias)
// in 64 x 64 tiles (common/gemm_tile.wgsl), the weights sampled as the B
// tile is staged (common/weight_quad.wgsl), so none are stored.
// Inputs i..i+3 of example b of sample rk, zero past the batch or the row.
fn staged_input(rk: u32, b: u32, i: u32) -> vec4<f32> {
    if (b < st.batch && i < layer.n_in) { return input_quad(rk / st.samples, rk % st.samples, b, i); }
    return vec4<f32>(0.0);
}

@compute @workgroup_size(WG)
fn gemm_tile(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = tile_origin(wid, nwg, st.batch, layer.n_out);
    let rk = o.x;
    if (rk >= layer.runs * st.samples) { return; }
    let r = rk / st.samples;
    // What this invocation stages: example b's and output j's quad of inputs.
    let b = o.y + lid / 4u;
    let j = o.z + lid / 4u;
    var acc = mat4x4<f32>();
    // A pass's quads are loaded into registers during the previous pass's
    // products, so a workgroup alone on its SM does not wait for them.
    let i = lid % 4u * 4u;
    var x = staged_input(rk, b, i);
    var w = row_weights(r, rk, j, i);
    for (var k0 = 0u; k0 < layer.n_in; k0 += TK) {
        put_across(A_TILE, lid, x);
        put_across(B_TILE, lid, w);
        workgroupBarrier();
        if (k0 + TK < layer.n_in) {
            x = staged_input(rk, b, k0 + TK + i);
            w = row_weights(r, rk, j, k0 + TK + i);
        }
        acc = tile_product(acc, lid);
        workgroupBarrier();
    }
    let c = o.z / 4u + lid % TQ; // the invocation's vec4 of outputs
    var bias = vec4<f32>(0.0);
    if (layer.has_bias == 1u) { bias = weights4(r, rk, layer.n_out * layer.n_in + c * 4u); }
    for (var m = 0u; m < 4u; m++) {
        let row = o.y + lid / TQ * 4u + m;
        if (row < st.batch) { store4(rk, row, c, acc[m] + bias); }
    }
}

// The same product without workgroup memory, for CPU adapters (where a
// workgroup-memory load costs as much as a storage load and every barrier
// suspends the workgroup): one invocation per 8 rows x 2 vec4 of outputs,
// reading its inputs and weights directly (the inputs as vec4 when n_in % 4
// == 0: 16 loads per 256 FMAs). Measured on lavapipe at 784-1024, B = 64:
// 4 x 1 blocks 454 ms, 4 x 2 165 ms, 8 x 2 ~95 ms, 8 x 4 ~140 ms (spills).
@compute @workgroup_size(WG)
fn gemm_direct(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, WG);
    let row_blocks = (st.batch + 7u) / 8u;
    let pairs = (ROW4 + 1u) / 2u;
    let c = id % pairs * 2u;
    let first = (id / pairs) % row_blocks * 8u;
    let rk = id / (pairs * row_blocks);
    if (rk >= layer.runs * st.samples) { return; }
    // An odd last column reads column c again and is not stored.
    let c1 = min(c + 1u, ROW4 - 1u);
    let w_base = rk * w_rows() * ROW4;
    // Rows past the batch read the last row again and are not stored.
    let rows = quad(first, st.batch);
    let rows_hi = quad(first + 4u, st.batch);
    let a = vec4<u32>(a_row(rk, rows.x), a_row(rk, rows.y), a_row(rk, rows.z), a_row(rk, rows.w));
    let ah = vec4<u32>(a_row(rk, rows_hi.x), a_row(rk, rows_hi.y), a_row(rk, rows_hi.z), a_row(rk, rows_hi.w));
    var acc0 = mat4x4<f32>(); // rows 0-3, outputs c
    var acc1 = mat4x4<f32>(); // rows 0-3, outputs c + 1
    var acc2 = mat4x4<f32>(); // rows 4-7, outputs c
    var acc3 = mat4x4<f32>(); // rows 4-7, outputs c + 1
    if (layer.n_in % 4u == 0u) {
        let a4 = a / 4u;
        let ah4 = ah / 4u;
        for (var k4 = 0u; k4 < layer.n_in / 4u; k4++) {
            let x = transpose(mat4x4<f32>(act_in4[a4.x + k4], act_in4[a4.y + k4],
                                          act_in4[a4.z + k4], act_in4[a4.w + k4]));
            let xh = transpose(mat4x4<f32>(act_in4[ah4.x + k4], act_in4[ah4.y + k4],
                                           act_in4[ah4.z + k4], act_in4[ah4.w + k4]));
            for (var q = 0u; q < 4u; q++) {
                let wk = w_base + (k4 * 4u + q) * ROW4;
                let w0 = w[wk + c];
                let w1 = w[wk + c1];
                acc0 = outer_add(acc0, w0, x[q]);
                acc1 = outer_add(acc1, w1, x[q]);
                acc2 = outer_add(acc2, w0, xh[q]);
                acc3 = outer_add(acc3, w1, xh[q]);
            }
        }
    } else {
        for (var k = 0u; k < layer.n_in; k++) {
            let x = vec4<f32>(act_in[a.x + k], act_in[a.y + k], act_in[a.z + k], act_in[a.w + k]);
            let xh = vec4<f32>(act_in[ah.x + k], act_in[ah.y + k], act_in[ah.z + k], act_in[ah.w + k]);
            let w0 = w[w_base + k * ROW4 + c];
            let w1 = w[w_base + k * ROW4 + c1];
            acc0 = outer_add(acc0, w0, x);
            acc1 = outer_add(acc1, w1, x);
            acc2 = outer_add(acc2, w0, xh);
            acc3 = outer_add(acc3, w1, xh);
        }
    }
    var bias0 = vec4<f32>(0.0);
    var bias1 = vec4<f32>(0.0);
    if (layer.has_bias == 1u) {
        bias0 = w[w_base + layer.n_in * ROW4 + c];
        bias1 = w[w_base + layer.n_in * ROW4 + c1];
    }
    for (var m = 0u; m < 4u; m++) {
        if (first + m < st.batch) {
            store4(rk, first + m, c, acc0[m] + bias0);
            if (c + 1u < ROW4) { store4(rk, first + m, c + 1u, acc1[m] + bias1); }
        }
        if (first + 4u + m < st.batch) {
            store4(rk, first + 4u + m, c, acc2[m] + bias0);
            if (c + 1u < ROW4) { store4(rk, first + 4u + m, c + 1u, acc3[m] + bias1); }
        }
    }
}
