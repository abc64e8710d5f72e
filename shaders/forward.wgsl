// Sampled forward of any layer for all runs, samples and examples:
// act_out[r][k][b][j] = act(sum_i (mu + sigma * eps_k)[j][i] * x[r][k][b][i] + bias).
// Training uses it for the hidden layers (and, in the v0 kernels, for the
// first layer too, whose input is shared by the samples).

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> mu: array<f32>;
@group(0) @binding(2) var<storage, read> sigma: array<f32>;
@group(0) @binding(3) var<storage, read> eps: array<f32>;
@group(0) @binding(4) var<storage, read_write> act_out: array<f32>;
@group(0) @binding(5) var<storage, read> act_in: array<f32>;
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;

struct Out { r: u32, k: u32, b: u32, j: u32, valid: bool }

fn output_of(id: u32) -> Out {
    let j = id % layer.n_out;
    let t = id / layer.n_out;
    let b = t % st.batch;
    let rk = t / st.batch;
    return Out(rk / st.samples, rk % st.samples, b, j,
               id < layer.runs * st.samples * st.batch * layer.n_out);
}

fn weight(r: u32, k: u32, e: u32) -> f32 {
    let w = r * layer.stride + e;
    return mu[w] + sigma[w] * eps[(r * st.samples + k) * layer.stride + e];
}

fn finish(o: Out, dot: f32) {
    var z = dot;
    if (layer.has_bias == 1u) { z += weight(o.r, o.k, layer.n_out * layer.n_in + o.j); }
    if (layer.relu == 1u) { z = max(z, 0.0); }
    act_out[((o.r * st.samples + o.k) * st.batch + o.b) * layer.n_out + o.j] = z;
}

@compute @workgroup_size(WG)
fn forward_hidden(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = output_of(linear_id(gid, nwg, WG));
    if (!o.valid) { return; }
    let x = input_row(o.r, o.k, o.b);
    var dot = 0.0;
    for (var i = 0u; i < layer.n_in; i++) {
        dot += weight(o.r, o.k, o.j * layer.n_in + i) * act_in[x + i];
    }
    finish(o, dot);
}
