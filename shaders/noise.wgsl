// eps[r][k][e] for one layer: Philox keyed by the run, counter (e/4, k, step, layer|domain).
// One invocation per four elements, one vec4 store (rows of `stride` floats).

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> runs: array<Run>;
@group(0) @binding(2) var<storage, read_write> eps: array<vec4<f32>>;
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn noise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let groups = layer.stride / 4u;
    let id = linear_id(gid, nwg, WG);
    if (id >= layer.runs * st.samples * groups) { return; }
    let g = id % groups;
    let rk = id / groups;              // r * K + k
    let k = rk % st.samples;
    let run = runs[rk / st.samples];
    eps[id] = box_muller4(philox(noise_counter(g, k, st.step, layer.index, st.domain),
                                 vec2<u32>(run.key0, run.key1)));
}

// Test hook: the raw Philox stream for counters (i, 1, 2, 3) under `key`.
@group(0) @binding(3) var<storage, read_write> raw: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> raw_in: array<vec4<u32>>; // [key.xy, count, _] then counters

@compute @workgroup_size(WG)
fn philox_raw(@builtin(global_invocation_id) gid: vec3<u32>) {
    let count = raw_in[0].z;
    if (gid.x >= count) { return; }
    raw[gid.x] = philox(raw_in[gid.x + 1u], raw_in[0].xy);
}
