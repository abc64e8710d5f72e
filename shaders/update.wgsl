// Fused update of any layer, one invocation per (run, parameter): forms
// g_mu = 1/K sum_k dL_k/dw and g_sigma = 1/K sum_k eps_k dL_k/dw from the
// errors and inputs of the step (dL_k/dw[j][i] = sum_b delta_k[b][j] x_k[b][i]),
// then updates mu and sigma in place from their old values.

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> runs: array<Run>;
@group(0) @binding(2) var<storage, read_write> mu: array<f32>;
@group(0) @binding(3) var<storage, read_write> sigma: array<f32>;
@group(0) @binding(4) var<storage, read> eps: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;   // [R][K][B][n_out]
@group(0) @binding(6) var<storage, read> act_in: array<f32>;  // [R][K][B][n_in] (see input_row)
@group(0) @binding(7) var<storage, read_write> bad: array<atomic<u32>>; // [R][L] first bad step
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;

struct Param { r: u32, e: u32, j: u32, i: u32, bias: bool, valid: bool }

fn param_of(id: u32) -> Param {
    let e = id % layer.params;
    let weights = layer.n_out * layer.n_in;
    let bias = e >= weights;
    return Param(id / layer.params, e, select(e / layer.n_in, e - weights, bias),
                 e % layer.n_in, bias, id < layer.runs * layer.params);
}

fn delta_at(p: Param, k: u32, b: u32) -> f32 {
    return delta[((p.r * st.samples + k) * st.batch + b) * layer.n_out + p.j];
}

fn noise_at(p: Param, k: u32) -> f32 {
    return eps[(p.r * st.samples + k) * layer.stride + p.e];
}

fn apply(p: Param, g_mu_sum: f32, g_sigma_sum: f32) {
    let run = runs[p.r];
    let w = p.r * layer.stride + p.e;
    let ms = rule(run, mu[w], sigma[w], g_mu_sum, g_sigma_sum, st.samples);
    mu[w] = ms.x;
    sigma[w] = ms.y;
    if (!healthy(run, ms)) {
        atomicMin(&bad[p.r * layer.n_layers + layer.index], st.step);
    }
}

@compute @workgroup_size(WG)
fn update_hidden(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = param_of(linear_id(gid, nwg, WG));
    if (!p.valid) { return; }
    var gm = 0.0;
    var gs = 0.0;
    for (var k = 0u; k < st.samples; k++) {
        var gw = 0.0;
        for (var b = 0u; b < st.batch; b++) {
            var x = 1.0;
            if (!p.bias) { x = act_in[input_row(p.r, k, b) + p.i]; }
            gw += delta_at(p, k, b) * x;
        }
        gm += gw;
        gs += noise_at(p, k) * gw;
    }
    apply(p, gm, gs);
}
