// The first layer, whose input is the permuted, standardised image: the
// input is gathered once per step into x0, then the sampled forward and the
// fused update read mu, sigma, eps and x0 as vec4 rows (n_in % 4 == 0, rows
// padded to `stride`). One workgroup per weight row keeps the per-row values
// (delta, bias, run) uniform: on a CPU adapter those are scalar loads.

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> runs: array<Run>;
@group(0) @binding(2) var<storage, read_write> mu: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> sigma: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> eps: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> x0: array<vec4<f32>>;   // [halves][R][B][n_in]
@group(0) @binding(6) var<storage, read_write> act_out: array<f32>;    // [R][K][B][n_out]
@group(0) @binding(7) var<storage, read> delta: array<f32>;            // [R][K][B][n_out]
@group(0) @binding(8) var<storage, read_write> bad: array<atomic<u32>>; // [R][L] first bad step
@group(0) @binding(9) var<storage, read_write> penalty: array<vec4<f32>>; // [R][stride], see rule
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;
// 1 (batch-1 training): the kernel draws the layer's noise from Philox
// instead of reading the noise launch's eps. In the forward each (k, j)
// row is drawn by exactly one invocation.
override DRAW_NOISE: u32 = 0u;
// 1 (with DRAW_NOISE, the CPU-adapter plan): the forward stores what it
// draws for the update to read. 0 (the GPU plan): the update draws it
// again, cheaper on a GPU than writing and reading K floats per weight.
override KEEP_NOISE: u32 = 0u;
// 1: batch-1 training, the forward also gathers the next step's input.
override PREFETCH: u32 = 0u;

var<workgroup> partial: array<f32, WG>;

fn workgroup_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}


// Where the input of (run r, example b) starts in x0, in quads: batch-1
// training keeps two inputs, the step's and the next one.
fn x0_row(r: u32, b: u32) -> u32 {
    return ((st.x_half * layer.runs + r) * st.batch + b) * (layer.n_in / 4u);
}

// x0[r][b] = standardised pixels of example b of run r under its permutation.
@compute @workgroup_size(WG)
fn gather_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let quads = layer.n_in / 4u;
    let id = linear_id(gid, nwg, WG);
    if (id >= layer.runs * st.batch * quads) { return; }
    let q = id % quads;
    let rb = id / quads;
    let r = rb / st.batch;
    let b = rb % st.batch;
    x0[x0_row(r, b) + q] = pixel_quad(example_index(r, b), r, q, layer.n_in);
}

// Noise quad `g` of the layer for sample k of run r: drawn (DRAW_NOISE),
// and stored when `owner` and KEEP_NOISE, or read.
fn noise_quad(r: u32, k: u32, g: u32, owner: bool) -> vec4<f32> {
    let at = (r * st.samples + k) * layer.stride / 4u + g;
    if (DRAW_NOISE == 0u) { return eps[at]; }
    let run = runs[r];
    let z = box_muller4(philox(noise_counter(g, k, st.step, layer.index, st.domain),
                               vec2<u32>(run.key0, run.key1)));
    if (KEEP_NOISE == 1u && owner) { eps[at] = z; }
    return z;
}

// Batch-1 training (PREFETCH): the next step's input, gathered into the
// half of x0 this step does not read, one quad per invocation of the
// launch (`lanes` of them), so the next step needs no gather launch. A
// submit's last step gathers what the next submit's gather launch writes
// again; the split's last step gathers its own example (no next one).
fn prefetch_input(id: u32, lanes: u32) {
    let quads = layer.n_in / 4u;
    let next = select(1u, 0u, st.pos + 1u >= st.examples);
    for (var i = id; i < layer.runs * quads; i += lanes) {
        let r = i / quads;
        let q = i % quads;
        let at = ((1u - st.x_half) * layer.runs + r) * quads + q;
        x0[at] = pixel_quad(example_index(r, next), r, q, layer.n_in);
    }
}

// One invocation per output pair (r, k, b, j), (r, k + 1, b, j) for even
// k, reading the weight row as vec4s once for both samples.
@compute @workgroup_size(WG)
fn forward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let pairs = (st.samples + 1u) / 2u;
    let out = linear_id(gid, nwg, WG);
    if (PREFETCH == 1u) { prefetch_input(out, nwg.x * nwg.y * WG); }
    if (out >= layer.runs * pairs * st.batch * layer.n_out) { return; }
    let j = out % layer.n_out;
    let rpb = out / layer.n_out;
    let rp = rpb / st.batch;
    let b = rpb % st.batch;
    let r = rp / pairs;
    let k0 = (rp % pairs) * 2u;
    let two = k0 + 1u < st.samples;
    let quads = layer.n_in / 4u;
    let w = r * layer.stride / 4u + j * quads;
    let x = x0_row(r, b);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    for (var q = 0u; q < quads; q++) {
        let m = mu[w + q];
        let s = sigma[w + q];
        let xq = x0[x + q];
        acc0 += (m + s * noise_quad(r, k0, j * quads + q, true)) * xq;
        if (two) { acc1 += (m + s * noise_quad(r, k0 + 1u, j * quads + q, true)) * xq; }
    }
    finish_input(r, k0, b, j, acc0);
    if (two) { finish_input(r, k0 + 1u, b, j, acc1); }
}

// The GPU plan: one workgroup per output (r, k, b, j), its lanes over the
// row's quads (each drawing its noise at batch 1), summed by a tree in
// workgroup memory (or by subgroups, common/sum_*.wgsl). Lane 0 adds the
// bias and stores.
@compute @workgroup_size(WG)
fn forward_input_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      at: Lanes) {
    let lane = at.lane;
    let row = workgroup_index(wid, nwg);
    if (PREFETCH == 1u) { prefetch_input(row * WG + lane, nwg.x * nwg.y * WG); }
    if (row >= layer.runs * st.samples * st.batch * layer.n_out) { return; }
    let j = row % layer.n_out;
    let rkb = row / layer.n_out;
    let b = rkb % st.batch;
    let rk = rkb / st.batch;
    let quads = layer.n_in / 4u;
    let w = (rk / st.samples) * layer.stride / 4u + j * quads;
    let x = x0_row(rk / st.samples, b);
    var acc = vec4<f32>(0.0);
    for (var q = lane; q < quads; q += WG) {
        let z = noise_quad(rk / st.samples, rk % st.samples, j * quads + q, true);
        acc += (mu[w + q] + sigma[w + q] * z) * x0[x + q];
    }
    let z = lane0_sum(at, acc.x + acc.y + acc.z + acc.w);
    if (lane == 0u) { finish_input(rk / st.samples, rk % st.samples, b, j, vec4<f32>(z, 0.0, 0.0, 0.0)); }
}

fn finish_input(r: u32, k: u32, b: u32, j: u32, acc: vec4<f32>) {
    var z = acc.x + acc.y + acc.z + acc.w;
    if (layer.has_bias == 1u) {
        let e = layer.n_out * layer.n_in + j;
        let wb = r * layer.stride + e;
        // A bias quad holds the biases of outputs 4m..4m+3 (n_in % 4 == 0):
        // each draws it, output 4m stores it (with the row padding).
        let nz = noise_quad(r, k, e / 4u, j % 4u == 0u)[e % 4u];
        z += mu[wb / 4u][wb % 4u] + sigma[wb / 4u][wb % 4u] * nz;
    }
    if (layer.relu == 1u) { z = max(z, 0.0); }
    act_out[(((r * st.samples + k) * st.batch + b) * layer.n_out) + j] = z;
}

fn flag(r: u32) {
    atomicMin(&bad[r * layer.n_layers + layer.index], st.step);
}

// BLOCKS workgroups per weight row (r, j), their lanes over the row's quads:
// g_mu = 1/K sum_k sum_b delta_k[b][j] x[b], g_sigma = 1/K sum_k eps_k sum_b
// delta_k[b][j] x[b]; mu and sigma updated in place. Batch 1 only (the GEMM
// path updates at B > 1), so with DRAW_NOISE each noise quad is drawn once;
// the GPU plan gives each quad its own lane, so a lane draws K quads in
// sequence, not K times its share of the row.
override BLOCKS: u32 = 1u;

@compute @workgroup_size(WG)
fn update_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lane: u32) {
    let group = workgroup_index(wid, nwg);
    let row = group / BLOCKS;
    if (row >= layer.runs * layer.n_out) { return; }
    let block = group % BLOCKS;
    let r = row / layer.n_out;
    let j = row % layer.n_out;
    let run = runs[r];
    let quads = layer.n_in / 4u;
    let w = r * layer.stride / 4u + j * quads;
    for (var q = block * WG + lane; q < quads; q += BLOCKS * WG) {
        var gm = vec4<f32>(0.0);
        var gs = vec4<f32>(0.0);
        for (var b = 0u; b < st.batch; b++) {
            let x = x0[x0_row(r, b) + q];
            var dm = 0.0;
            var ds = vec4<f32>(0.0);
            for (var k = 0u; k < st.samples; k++) {
                let rk = r * st.samples + k;
                let d = delta[(rk * st.batch + b) * layer.n_out + j];
                dm += d;
                ds += noise_quad(r, k, j * quads + q, false) * d;
            }
            gm += x * dm;
            gs += x * ds;
        }
        let m = mu[w + q];
        let s = sigma[w + q];
        var m_new = m;
        var s_new = s;
        var ok = true;
        for (var c = 0u; c < 4u; c++) {
            let ms = rule(run, m[c], s[c], gm[c], gs[c], st.samples, (w + q) * 4u + c);
            m_new[c] = ms.x;
            s_new[c] = ms.y;
            ok = ok && healthy(ms);
        }
        mu[w + q] = m_new;
        sigma[w + q] = s_new;
        if (!ok) { flag(r); }
    }
    if (block == 0u && lane == 0u && layer.has_bias == 1u) {
        let e = layer.n_out * layer.n_in + j;
        let wb = r * layer.stride + e;
        var gm = 0.0;
        var gs = 0.0;
        for (var b = 0u; b < st.batch; b++) {
            for (var k = 0u; k < st.samples; k++) {
                let rk = r * st.samples + k;
                let d = delta[(rk * st.batch + b) * layer.n_out + j];
                gm += d;
                gs += noise_quad(r, k, e / 4u, false)[e % 4u] * d;
            }
        }
        let ms = rule(run, mu[wb / 4u][wb % 4u], sigma[wb / 4u][wb % 4u], gm, gs, st.samples, wb);
        mu[wb / 4u][wb % 4u] = ms.x;
        sigma[wb / 4u][wb % 4u] = ms.y;
        if (!healthy(ms)) { flag(r); }
    }
}
