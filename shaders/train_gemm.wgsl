// Training at batch > 1 as GEMMs: the error through a hidden layer, and the
// fused update with the weight gradient of each sample as a GEMM over the
// batch. On CPU adapters over each sample's materialised weights
// w[r][k][row][c] (sampled_gemm.wgsl's sample_weights: vec4 over outputs,
// rows = inputs then the bias), each invocation owning 8 x 8 outputs as
// 2 x 2 mat4x4 blocks read directly; in the GPU plan 2D-tiled through
// workgroup memory (common/gemm_tile.wgsl), the backward sampling its
// weights as it stages them. Operands are read as vec4 where the widths are
// multiples of 4 (the vec4 views alias the scalar bindings).

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> runs: array<Run>;
@group(0) @binding(2) var<storage, read_write> mu: array<f32>;
@group(0) @binding(3) var<storage, read_write> sigma: array<f32>;
@group(0) @binding(5) var<storage, read> eps4: array<vec4<f32>>;     // [R][K][stride]
@group(0) @binding(6) var<storage, read> w: array<vec4<f32>>;        // [R][K][rows][ROW4]
@group(0) @binding(7) var<storage, read> delta: array<f32>;          // [R][K][B][n_out]
@group(0) @binding(8) var<storage, read> delta4: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> act_in: array<f32>;         // see input_row
@group(0) @binding(10) var<storage, read> act_in4: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> delta_in: array<f32>; // [R][K][B][n_in]
@group(0) @binding(12) var<storage, read_write> bad: array<atomic<u32>>; // [R][L] first bad step
@group(0) @binding(13) var<storage, read_write> penalty: array<vec4<f32>>; // [R][stride], see rule
@group(0) @binding(14) var<storage, read> mu4: array<vec4<f32>>;     // mu, sigma as vec4 (read only)
@group(0) @binding(15) var<storage, read> sigma4: array<vec4<f32>>;
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;
override ROW4: u32 = 1u; // vec4 per row of w
// 1: n_out is a multiple of 4, so rows of the errors can be read as vec4 (a
// constant, so the branch compiles away; common/gemm_tile.wgsl's IN4 likewise
// for the inputs).
override OUT4: u32 = 0u;

// dC/dz of outputs j0..j0+3 of example b of sample rk: zero past n_out, or
// with OUT4 whatever follows (it only meets outputs that are never stored).
fn delta_quad(rk: u32, b: u32, j0: u32) -> vec4<f32> {
    let at = (rk * st.batch + b) * layer.n_out + j0;
    if (OUT4 == 1u) { return delta4[at / 4u]; }
    var d = vec4<f32>(0.0);
    for (var q = 0u; q < 4u; q++) {
        if (j0 + q < layer.n_out) { d[q] = delta[at + q]; }
    }
    return d;
}

// Index of weight (j, i) in a run's parameters; i = n_in is j's bias.
fn param_index(j: u32, i: u32) -> u32 {
    if (i == layer.n_in) { return layer.n_out * layer.n_in + j; }
    return j * layer.n_in + i;
}

// Noise of sample rk at outputs j (column m) and inputs i0..i0+3.
fn noise_block(rk: u32, j: vec4<u32>, i0: u32) -> mat4x4<f32> {
    var e = mat4x4<f32>();
    if (IN4 == 1u && i0 < layer.n_in) {
        for (var m = 0u; m < 4u; m++) { e[m] = eps_quad(rk, (j[m] * layer.n_in + i0) / 4u); }
        return e;
    }
    let i = quad(i0, layer.n_in + layer.has_bias);
    for (var m = 0u; m < 4u; m++) {
        e[m] = vec4<f32>(eps_at(rk, param_index(j[m], i.x)), eps_at(rk, param_index(j[m], i.y)),
                         eps_at(rk, param_index(j[m], i.z)), eps_at(rk, param_index(j[m], i.w)));
    }
    return e;
}

// The noise of parameter e of sample rk.
fn eps_at(rk: u32, e: u32) -> f32 {
    return eps_quad(rk, e / 4u)[e % 4u];
}

// dC/d(input) of a hidden layer l >= 1 through the sampled weights:
// delta_in[rk][b][i] = [x > 0] sum_j w_k[i][j] delta[rk][b][j], one
// invocation per (rk, 8 examples, 8 inputs): 16 loads per 256 FMAs.
@compute @workgroup_size(WG)
fn backward_gemm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, WG);
    let i_blocks = (layer.n_in + 7u) / 8u;
    let b_blocks = (st.batch + 7u) / 8u;
    let i0 = id % i_blocks * 8u;
    let b0 = (id / i_blocks) % b_blocks * 8u;
    let rk = id / (i_blocks * b_blocks);
    if (rk >= layer.runs * st.samples) { return; }
    let rows = layer.n_in + layer.has_bias;
    let w_lo = (vec4<u32>(rk * rows) + quad(i0, layer.n_in)) * ROW4;
    let w_hi = (vec4<u32>(rk * rows) + quad(i0 + 4u, layer.n_in)) * ROW4;
    let b_lo = quad(b0, st.batch);
    let b_hi = quad(b0 + 4u, st.batch);
    // Column m: example b0 + m (or b0 + 4 + m), over 4 inputs.
    var a0 = mat4x4<f32>(); // examples lo, inputs lo
    var a1 = mat4x4<f32>(); // examples lo, inputs hi
    var a2 = mat4x4<f32>(); // examples hi, inputs lo
    var a3 = mat4x4<f32>(); // examples hi, inputs hi
    for (var c = 0u; c < ROW4; c++) {
        let wl = mat4x4<f32>(w[w_lo.x + c], w[w_lo.y + c], w[w_lo.z + c], w[w_lo.w + c]);
        let wh = mat4x4<f32>(w[w_hi.x + c], w[w_hi.y + c], w[w_hi.z + c], w[w_hi.w + c]);
        let j0 = c * 4u;
        let d_lo = mat4x4<f32>(delta_quad(rk, b_lo.x, j0), delta_quad(rk, b_lo.y, j0),
                               delta_quad(rk, b_lo.z, j0), delta_quad(rk, b_lo.w, j0));
        let d_hi = mat4x4<f32>(delta_quad(rk, b_hi.x, j0), delta_quad(rk, b_hi.y, j0),
                               delta_quad(rk, b_hi.z, j0), delta_quad(rk, b_hi.w, j0));
        // (d * W)[q] = dot(d, w row of input q)
        a0 += mat4x4<f32>(d_lo[0] * wl, d_lo[1] * wl, d_lo[2] * wl, d_lo[3] * wl);
        a1 += mat4x4<f32>(d_lo[0] * wh, d_lo[1] * wh, d_lo[2] * wh, d_lo[3] * wh);
        a2 += mat4x4<f32>(d_hi[0] * wl, d_hi[1] * wl, d_hi[2] * wl, d_hi[3] * wl);
        a3 += mat4x4<f32>(d_hi[0] * wh, d_hi[1] * wh, d_hi[2] * wh, d_hi[3] * wh);
    }
    store_errors(rk, b0, i0, a0);
    store_errors(rk, b0, i0 + 4u, a1);
    store_errors(rk, b0 + 4u, i0, a2);
    store_errors(rk, b0 + 4u, i0 + 4u, a3);
}

// delta_in of examples b0..b0+3 (columns) and inputs i0..i0+3 that exist,
// masked by the ReLU of the input.
fn store_errors(rk: u32, b0: u32, i0: u32, acc: mat4x4<f32>) {
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
// old mu and sigma. One invocation per (run, 8 outputs, 8 inputs), the bias
// being input n_in: 4 loads per 64 FMAs of the gradient.
@compute @workgroup_size(WG)
fn update_gemm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, WG);
    let i_blocks = (layer.n_in + layer.has_bias + 7u) / 8u;
    let j_blocks = (layer.n_out + 7u) / 8u;
    let i0 = id % i_blocks * 8u;
    let j0 = (id / i_blocks) % j_blocks * 8u;
    let r = id / (i_blocks * j_blocks);
    if (r >= layer.runs) { return; }
    let j_lo = quad(j0, layer.n_out);
    let j_hi = quad(j0 + 4u, layer.n_out);
    // Per (outputs, inputs) quad pair: column m is output m of the quad.
    var gm = array<mat4x4<f32>, 4>();
    var gs = array<mat4x4<f32>, 4>();
    for (var k = 0u; k < st.samples; k++) {
        let rk = r * st.samples + k;
        var g0 = mat4x4<f32>(); // outputs lo, inputs lo
        var g1 = mat4x4<f32>(); // outputs lo, inputs hi
        var g2 = mat4x4<f32>(); // outputs hi, inputs lo
        var g3 = mat4x4<f32>(); // outputs hi, inputs hi
        for (var b = 0u; b < st.batch; b++) {
            let d_lo = delta_quad(rk, b, j0);
            let d_hi = delta_quad(rk, b, j0 + 4u);
            let x_lo = input_quad(r, k, b, i0);
            let x_hi = input_quad(r, k, b, i0 + 4u);
            g0 += mat4x4<f32>(x_lo * d_lo.x, x_lo * d_lo.y, x_lo * d_lo.z, x_lo * d_lo.w);
            g1 += mat4x4<f32>(x_hi * d_lo.x, x_hi * d_lo.y, x_hi * d_lo.z, x_hi * d_lo.w);
            g2 += mat4x4<f32>(x_lo * d_hi.x, x_lo * d_hi.y, x_lo * d_hi.z, x_lo * d_hi.w);
            g3 += mat4x4<f32>(x_hi * d_hi.x, x_hi * d_hi.y, x_hi * d_hi.z, x_hi * d_hi.w);
        }
        gm[0] += g0;
        gm[1] += g1;
        gm[2] += g2;
        gm[3] += g3;
        gs[0] += noisy(noise_block(rk, j_lo, i0), g0);
        gs[1] += noisy(noise_block(rk, j_lo, i0 + 4u), g1);
        gs[2] += noisy(noise_block(rk, j_hi, i0), g2);
        gs[3] += noisy(noise_block(rk, j_hi, i0 + 4u), g3);
    }
    let run = runs[r];
    let ok = apply_block(run, r, j0, i0, gm[0], gs[0]) & apply_block(run, r, j0, i0 + 4u, gm[1], gs[1])
           & apply_block(run, r, j0 + 4u, i0, gm[2], gs[2]) & apply_block(run, r, j0 + 4u, i0 + 4u, gm[3], gs[3]);
    if (!ok) { atomicMin(&bad[r * layer.n_layers + layer.index], st.step); }
}

// The elementwise product eps_k * G_k of one block.
fn noisy(e: mat4x4<f32>, g: mat4x4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(e[0] * g[0], e[1] * g[1], e[2] * g[2], e[3] * g[3]);
}

// The rule on the parameters of outputs j0..j0+3 and inputs i0..i0+3 that
// exist; whether all of them stay healthy.
fn apply_block(run: Run, r: u32, j0: u32, i0: u32, gm: mat4x4<f32>, gs: mat4x4<f32>) -> bool {
    var ok = true;
    for (var m = 0u; m < 4u; m++) {
        for (var q = 0u; q < 4u; q++) {
            if (j0 + m < layer.n_out && i0 + q < layer.n_in + layer.has_bias) {
                let at = r * layer.stride + param_index(j0 + m, i0 + q);
                let ms = rule(run, mu[at], sigma[at], gm[m][q], gs[m][q], st.samples, at);
                mu[at] = ms.x;
                sigma[at] = ms.y;
                ok = ok && healthy(ms);
            }
        }
    }
    return ok;
}

// The GPU plan's backward_gemm: delta_in[rk] = [x > 0] delta[rk] (B x n_out)
// * W_rk^T (n_out x n_in) in 64 x 64 tiles of (examples, inputs), the
// weights of output j sampled as the B tile is staged (row j of W^T is a run
// of the parameters: common/weight_quad.wgsl).
// dC/dz of outputs j0..j0+3 of example b of sample rk, zero past the batch
// or the layer.
fn staged_errors(rk: u32, b: u32, j0: u32) -> vec4<f32> {
    if (b < st.batch && j0 < layer.n_out) { return delta_quad(rk, b, j0); }
    return vec4<f32>(0.0);
}

// Inputs i0..i0+3 of example b of sample k of run r (the bias column
// included), zero past the batch or the row.
fn staged_inputs(r: u32, k: u32, b: u32, i0: u32) -> vec4<f32> {
    if (b < st.batch && i0 < layer.n_in + layer.has_bias) { return input_quad(r, k, b, i0); }
    return vec4<f32>(0.0);
}

@compute @workgroup_size(WG)
fn backward_tile(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = tile_origin(wid, nwg, st.batch, layer.n_in);
    let rk = o.x;
    if (rk >= layer.runs * st.samples) { return; }
    let r = rk / st.samples;
    let b = o.y + lid / 4u;            // stages example b's errors, transposed
    let i0 = o.z + lid % TQ * 4u;      // and the weights of inputs i0..i0+3
    var acc = mat4x4<f32>();
    // A pass's quads are loaded into registers during the previous pass's
    // products (as gemm_tile).
    var d = staged_errors(rk, b, lid % 4u * 4u);
    var w = row_weights(r, rk, lid / TQ, i0);
    for (var k0 = 0u; k0 < layer.n_out; k0 += TK) {
        put_across(A_TILE, lid, d);
        stage[B_TILE + lid] = w;
        workgroupBarrier();
        if (k0 + TK < layer.n_out) {
            d = staged_errors(rk, b, k0 + TK + lid % 4u * 4u);
            w = row_weights(r, rk, k0 + TK + lid / TQ, i0);
        }
        acc = tile_product(acc, lid);
        workgroupBarrier();
    }
    store_errors(rk, o.y + lid / TQ * 4u, i0, acc);
}

// The GPU plan's update_gemm: per run a 64 x 64 tile of (outputs, inputs and
// the bias); per sample k the gradient G_k over the batch in passes of TK
// examples (both tiles staged as they lie: errors and inputs are rows over
// the tile's outputs and inputs), then the sums and the rule as update_gemm.
@compute @workgroup_size(WG)
fn update_tile(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = tile_origin(wid, nwg, layer.n_out, layer.n_in + layer.has_bias);
    let r = o.x;
    if (r >= layer.runs) { return; }
    let jq = o.y + lid % TQ * 4u;      // stages the errors of outputs jq..jq+3
    let i0 = o.z + lid % TQ * 4u;      // and inputs i0..i0+3, of example lid / TQ
    let j0 = o.y + lid / TQ * 4u;      // owns outputs j0..j0+3 at inputs i0..i0+3
    let js = quad(j0, layer.n_out);
    var gm = mat4x4<f32>();
    var gs = mat4x4<f32>();
    var g = mat4x4<f32>();
    // Pass p is sample p / passes, examples p % passes * TK..; its quads
    // are loaded into registers during pass p - 1's products (as gemm_tile).
    let passes = (st.batch + TK - 1u) / TK;
    var d = staged_errors(r * st.samples, lid / TQ, jq);
    var x = staged_inputs(r, 0u, lid / TQ, i0);
    for (var p = 0u; p < st.samples * passes; p++) {
        stage[A_TILE + lid] = d;
        stage[B_TILE + lid] = x;
        workgroupBarrier();
        let next = p + 1u;
        if (next < st.samples * passes) {
            let b = next % passes * TK + lid / TQ;
            d = staged_errors(r * st.samples + next / passes, b, jq);
            x = staged_inputs(r, next / passes, b, i0);
        }
        g = tile_product(g, lid);
        workgroupBarrier();
        if (next % passes == 0u) {
            gm += g;
            gs += noisy(noise_block(r * st.samples + p / passes, js, i0), g);
            g = mat4x4<f32>();
        }
    }
    if (!apply_block(runs[r], r, j0, i0, gm, gs)) {
        atomicMin(&bad[r * layer.n_layers + layer.index], st.step);
    }
}
