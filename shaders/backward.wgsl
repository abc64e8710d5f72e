// Error through one layer (l >= 1) for every run, sample and example:
// delta_in[r][k][b][i] = [x_i > 0] * sum_j w_k[j][i] * delta_out[r][k][b][j],
// where x = act_in is this layer's (post-ReLU) input.

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> mu: array<f32>;
@group(0) @binding(2) var<storage, read> sigma: array<f32>;
@group(0) @binding(3) var<storage, read> eps: array<f32>;
@group(0) @binding(4) var<storage, read> delta_out: array<f32>;
@group(0) @binding(5) var<storage, read> act_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> delta_in: array<f32>;
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, WG);
    if (id >= layer.runs * st.samples * st.batch * layer.n_in) { return; }
    let i = id % layer.n_in;
    let t = id / layer.n_in;            // (r * K + k) * B + b
    let rk = t / st.batch;
    let r = rk / st.samples;
    var g = 0.0;
    if (act_in[id] > 0.0) {
        let w = r * layer.stride + i;
        let e = rk * layer.stride + i;
        let d = t * layer.n_out;
        for (var j = 0u; j < layer.n_out; j++) {
            let o = j * layer.n_in;
            g += (mu[w + o] + sigma[w + o] * eps[e + o]) * delta_out[d + j];
        }
    }
    delta_in[id] = g;
}
