// Training at batch > 1 as GEMMs over each sample's materialised weights
// w[r][k][row][c] (eval.wgsl's sample_weights: vec4 over outputs, rows =
// inputs then the bias): the error through a hidden layer, and the fused
// update with the weight gradient of each sample as a GEMM over the batch.
// Each invocation owns a 4 x 4 block; operands are read as vec4 where the
// widths are multiples of 4 (the vec4 views alias the scalar bindings).

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> runs: array<Run>;
@group(0) @binding(2) var<storage, read_write> mu: array<f32>;
@group(0) @binding(3) var<storage, read_write> sigma: array<f32>;
@group(0) @binding(4) var<storage, read> eps: array<f32>;            // [R][K][stride]
@group(0) @binding(5) var<storage, read> eps4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> w: array<vec4<f32>>;        // [R][K][rows][ROW4]
@group(0) @binding(7) var<storage, read> delta: array<f32>;          // [R][K][B][n_out]
@group(0) @binding(8) var<storage, read> delta4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> act_in: array<f32>;         // see input_row
@group(0) @binding(10) var<storage, read> act_in4: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> delta_in: array<f32>; // [R][K][B][n_in]
@group(0) @binding(12) var<storage, read_write> bad: array<atomic<u32>>; // [R][L] first bad step
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;
override ROW4: u32 = 1u; // vec4 per row of w

const LANES = vec4<u32>(0u, 1u, 2u, 3u);

// first + 0..3, indices past `end` replaced by the last valid one.
fn quad(first: u32, end: u32) -> vec4<u32> {
    return min(vec4<u32>(first) + LANES, vec4<u32>(end - 1u));
}

// dC/dz of outputs j0..j0+3 of example b of sample rk; zero past n_out.
fn delta_quad(rk: u32, b: u32, j0: u32) -> vec4<f32> {
    let at = (rk * st.batch + b) * layer.n_out + j0;
    if (layer.n_out % 4u == 0u) { return delta4[at / 4u]; }
    var d = vec4<f32>(0.0);
    for (var q = 0u; q < 4u; q++) {
        if (j0 + q < layer.n_out) { d[q] = delta[at + q]; }
    }
    return d;
}

// Inputs i0..i0+3 of example b of sample k of run r: 1 at the bias column
// (i = n_in), zero past it.
fn input_quad(r: u32, k: u32, b: u32, i0: u32) -> vec4<f32> {
    let at = input_row(r, k, b) + i0;
    if (layer.n_in % 4u == 0u && i0 < layer.n_in) { return act_in4[at / 4u]; }
    var x = vec4<f32>(0.0);
    for (var q = 0u; q < 4u; q++) {
        let i = i0 + q;
        if (i < layer.n_in) { x[q] = act_in[at + q]; }
        if (i == layer.n_in && layer.has_bias == 1u) { x[q] = 1.0; }
    }
    return x;
}

// Index of weight (j, i) in a run's parameters; i = n_in is j's bias.
fn param_index(j: u32, i: u32) -> u32 {
    if (i == layer.n_in) { return layer.n_out * layer.n_in + j; }
    return j * layer.n_in + i;
}

// Noise of sample rk at outputs j (column m) and inputs i0..i0+3.
fn noise_block(rk: u32, j: vec4<u32>, i0: u32) -> mat4x4<f32> {
    let base = rk * layer.stride;
    var e = mat4x4<f32>();
    if (layer.n_in % 4u == 0u && i0 < layer.n_in) {
        for (var m = 0u; m < 4u; m++) { e[m] = eps4[(base + j[m] * layer.n_in + i0) / 4u]; }
        return e;
    }
    let i = quad(i0, layer.n_in + layer.has_bias);
    for (var m = 0u; m < 4u; m++) {
        e[m] = vec4<f32>(eps[base + param_index(j[m], i.x)], eps[base + param_index(j[m], i.y)],
                         eps[base + param_index(j[m], i.z)], eps[base + param_index(j[m], i.w)]);
    }
    return e;
}

// dC/d(input) of a hidden layer l >= 1 through the sampled weights:
// delta_in[rk][b][i] = [x > 0] sum_j w_k[i][j] delta[rk][b][j], one
// invocation per (rk, 4 examples, 4 inputs).
@compute @workgroup_size(WG)
fn backward_gemm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, WG);
    let i_blocks = (layer.n_in + 3u) / 4u;
    let b_blocks = (st.batch + 3u) / 4u;
    let i0 = id % i_blocks * 4u;
    let b0 = (id / i_blocks) % b_blocks * 4u;
    let rk = id / (i_blocks * b_blocks);
    if (rk >= layer.runs * st.samples) { return; }
    let i = quad(i0, layer.n_in);
    let b = quad(b0, st.batch);
    let rows = layer.n_in + layer.has_bias;
    let w_row = (vec4<u32>(rk * rows) + i) * ROW4;
    var acc = mat4x4<f32>(); // column m: example b0 + m, over the 4 inputs
    for (var c = 0u; c < ROW4; c++) {
        let wc = mat4x4<f32>(w[w_row.x + c], w[w_row.y + c], w[w_row.z + c], w[w_row.w + c]);
        acc += mat4x4<f32>(delta_quad(rk, b.x, c * 4u) * wc, delta_quad(rk, b.y, c * 4u) * wc,
                           delta_quad(rk, b.z, c * 4u) * wc, delta_quad(rk, b.w, c * 4u) * wc);
    }
    for (var m = 0u; m < 4u; m++) {
        for (var q = 0u; q < 4u; q++) {
            if (b0 + m < st.batch && i0 + q < layer.n_in) {
                let at = (rk * st.batch + b0 + m) * layer.n_in + i0 + q;
                delta_in[at] = select(0.0, acc[m][q], act_in[at] > 0.0);
            }
        }
    }
}

// The fused update of any layer: per sample k the weight gradient
// G_k[j][i] = sum_b delta_k[b][j] x_k[b][i] over the batch, then
// g_mu = 1/K sum_k G_k and g_sigma = 1/K sum_k eps_k G_k, and the rule on the
// old mu and sigma. One invocation per (run, 4 outputs, 4 inputs), the bias
// being input n_in.
@compute @workgroup_size(WG)
fn update_gemm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, WG);
    let i_blocks = (layer.n_in + layer.has_bias + 3u) / 4u;
    let j_blocks = (layer.n_out + 3u) / 4u;
    let i0 = id % i_blocks * 4u;
    let j0 = (id / i_blocks) % j_blocks * 4u;
    let r = id / (i_blocks * j_blocks);
    if (r >= layer.runs) { return; }
    let j = quad(j0, layer.n_out);
    var gm = mat4x4<f32>(); // column m: output j0 + m, over the 4 inputs
    var gs = mat4x4<f32>();
    for (var k = 0u; k < st.samples; k++) {
        let rk = r * st.samples + k;
        var g = mat4x4<f32>();
        for (var b = 0u; b < st.batch; b++) {
            let d = delta_quad(rk, b, j0);
            let x = input_quad(r, k, b, i0);
            g += mat4x4<f32>(x * d.x, x * d.y, x * d.z, x * d.w);
        }
        let e = noise_block(rk, j, i0);
        gm += g;
        gs += mat4x4<f32>(e[0] * g[0], e[1] * g[1], e[2] * g[2], e[3] * g[3]);
    }
    let run = runs[r];
    var ok = true;
    for (var m = 0u; m < 4u; m++) {
        for (var q = 0u; q < 4u; q++) {
            if (j0 + m < layer.n_out && i0 + q < layer.n_in + layer.has_bias) {
                let at = r * layer.stride + param_index(j0 + m, i0 + q);
                let ms = rule(run, mu[at], sigma[at], gm[m][q], gs[m][q], st.samples);
                mu[at] = ms.x;
                sigma[at] = ms.y;
                ok = ok && healthy(run, ms);
            }
        }
    }
    if (!ok) { atomicMin(&bad[r * layer.n_layers + layer.index], st.step); }
}
