// Fused update of any layer, one invocation per (run, parameter)
// (common/param_update.wgsl).

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> runs: array<Run>;
@group(0) @binding(2) var<storage, read_write> mu: array<f32>;
@group(0) @binding(3) var<storage, read_write> sigma: array<f32>;
@group(0) @binding(4) var<storage, read> eps: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;   // [R][K][B][n_out]
@group(0) @binding(6) var<storage, read> act_in: array<f32>;  // [R][K][B][n_in] (see input_row)
@group(0) @binding(7) var<storage, read_write> bad: array<atomic<u32>>; // [R][L] first bad step
@group(0) @binding(8) var<storage, read_write> penalty: array<vec4<f32>>; // [R][stride], see rule
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;

fn noise_at(p: Param, k: u32) -> f32 {
    return eps[(p.r * st.samples + k) * layer.stride + p.e];
}

@compute @workgroup_size(WG)
fn update_hidden(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = param_of(linear_id(gid, nwg, WG));
    if (p.valid) { update_param(p); }
}
