// The output layer of a training step in one kernel: the sampled forward of
// the last layer, the softmax cross-entropy and dC/dz, and the error back
// through the layer to its (post-ReLU) input. One invocation per (run,
// sample, example), so a batch-1 step is a handful of invocations instead of
// four launches. At batch 1 (BATCH_ONE) one workgroup per run does it all:
// its lanes draw their samples' noise for the layer, as the noise kernel
// would, and then update the layer themselves, so no other launch has to
// wait for the errors. (The next step's input is gathered ahead by the
// first layer's forward: binding x0, images and perm here too would take
// this kernel past the 16 storage buffers of DX12 tier 2 and GL.)

// The last layer's shape, bound as a storage buffer, not a uniform: Mesa
// lavapipe 22.3 inlines uniform-buffer values that bound loops or steer
// branches, re-optimises the kernel with them, and keeps doing so, at every
// bind (every step, ~30 ms), where the result passes its size test: here at
// a hidden width of 24 or less. Storage loads are never inlined. The entry
// point copies it once into `layer` (private), which the code reads: a
// storage read may alias the buffers the kernel writes, so read in place
// it would be reloaded after every store. See docs/performance.md,
// "Batch-1 width cliff".
@group(0) @binding(0) var<storage, read> layer_shape: Layer;          // the last layer
var<private> layer: Layer;
@group(0) @binding(1) var<storage, read> runs: array<Run>;
@group(0) @binding(2) var<storage, read_write> mu: array<f32>;
@group(0) @binding(3) var<storage, read_write> sigma: array<f32>;
@group(0) @binding(4) var<storage, read_write> eps: array<vec4<f32>>; // [R][K][stride]
@group(0) @binding(5) var<storage, read> act_in: array<f32>;          // [R][K][B][n_in]
@group(0) @binding(6) var<storage, read_write> logits: array<f32>;    // [R][K][B][n_out]
@group(0) @binding(7) var<storage, read_write> delta: array<f32>;     // dC/dlogits, same shape
@group(0) @binding(8) var<storage, read_write> delta_in: array<f32>;  // dC/d(input), as act_in
@group(0) @binding(9) var<storage, read_write> loss: array<f32>;      // [R][K][B], accumulated
@group(0) @binding(14) var<storage, read_write> bad: array<atomic<u32>>; // [R][L] first bad step
@group(0) @binding(15) var<storage, read_write> penalty: array<vec4<f32>>; // [R][stride], see rule
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;
// 1: batch 1, one workgroup per run: draws the layer's noise and updates
// mu and sigma of the layer (common/param_update.wgsl).
override BATCH_ONE: u32 = 0u;
// 1 (the GPU plan): at batch 1 the run's samples spread over the lanes
// phase by phase (`wide_errors`) instead of a lane per sample; at B > 1 a
// workgroup per (run, sample, example) row (`row_errors`) instead of an
// invocation.
override WIDE: u32 = 0u;

var<workgroup> partial: array<f32, WG>;

fn noise_at(p: Param, k: u32) -> f32 {
    let n = (p.r * st.samples + k) * layer.stride + p.e;
    return eps[n / 4u][n % 4u];
}

fn weight(r: u32, k: u32, e: u32) -> f32 {
    let w = r * layer.stride + e;
    let n = (r * st.samples + k) * layer.stride + e;
    return mu[w] + sigma[w] * eps[n / 4u][n % 4u];
}

// Noise quad g of sample k of run r (batch 1: drawn here, stored for the
// update).
fn draw_noise(r: u32, k: u32, g: u32) {
    let run = runs[r];
    let quads = layer.stride / 4u;
    eps[(r * st.samples + k) * quads + g] =
        box_muller4(philox(noise_counter(g, k, st.step, layer.index, st.domain), vec2<u32>(run.key0, run.key1)));
}

// Logit j of (run, sample, example) `id` = (r * K + k) * B + b.
fn logit(id: u32, r: u32, k: u32, j: u32) {
    let x = id * layer.n_in;
    var z = 0.0;
    for (var i = 0u; i < layer.n_in; i++) {
        z += weight(r, k, j * layer.n_in + i) * act_in[x + i];
    }
    if (layer.has_bias == 1u) { z += weight(r, k, layer.n_out * layer.n_in + j); }
    logits[id * layer.n_out + j] = z;
}

// The loss of `id` and its dC/dz (after its logits).
fn sample_loss(id: u32, r: u32) {
    loss[id] += cross_entropy(id * layer.n_out, labels[example_index(r, id % st.batch)]);
}

// The error of `id` to input i of the layer (after its dC/dz).
fn error_in(id: u32, r: u32, k: u32, i: u32) {
    let x = id * layer.n_in;
    var g = 0.0;
    if (act_in[x + i] > 0.0) {
        for (var j = 0u; j < layer.n_out; j++) {
            g += weight(r, k, j * layer.n_in + i) * delta[id * layer.n_out + j];
        }
    }
    delta_in[x + i] = g;
}

// Forward, loss, dC/dz and the error to the input of (run, sample, example)
// `id` = (r * K + k) * B + b, in one invocation (the CPU-adapter plan).
fn sample_errors(id: u32) {
    let rk = id / st.batch;
    let r = rk / st.samples;
    let k = rk % st.samples;
    if (BATCH_ONE == 1u) {
        for (var g = 0u; g < layer.stride / 4u; g++) { draw_noise(r, k, g); }
    }
    for (var j = 0u; j < layer.n_out; j++) { logit(id, r, k, j); }
    sample_loss(id, r);
    for (var i = 0u; i < layer.n_in; i++) { error_in(id, r, k, i); }
}

// The same at batch 1 for the K samples of run r in the GPU plan: each
// phase spread over the workgroup's lanes (noise quads, then logits, then
// losses, then errors), a barrier between phases; the same sums in the
// same order.
fn wide_errors(r: u32, lane: u32) {
    let quads = layer.stride / 4u;
    let rk0 = r * st.samples;
    for (var i = lane; i < st.samples * quads; i += WG) { draw_noise(r, i / quads, i % quads); }
    storageBarrier();
    for (var i = lane; i < st.samples * layer.n_out; i += WG) {
        logit(rk0 + i / layer.n_out, r, i / layer.n_out, i % layer.n_out);
    }
    storageBarrier();
    for (var k = lane; k < st.samples; k += WG) { sample_loss(rk0 + k, r); }
    storageBarrier();
    for (var i = lane; i < st.samples * layer.n_in; i += WG) {
        error_in(rk0 + i / layer.n_in, r, i / layer.n_in, i % layer.n_in);
    }
}

// The GPU plan at B > 1, llm.c's fused classifier: one workgroup per
// (run, sample, example) row `id`. Each logit is a dot product over the
// lanes and a workgroup sum (common/sum_*.wgsl); lane 0 adds the bias,
// then forms the loss and dC/dz; the error to the input is spread over the
// lanes by input. (Loop bounds
// come from `layer_shape`, read-only storage, so the barriers in the loop
// are in uniform control flow; `layer` is private.)
fn row_errors(id: u32, at: Lanes) {
    let lane = at.lane;
    let rk = id / st.batch;
    let r = rk / st.samples;
    let k = rk % st.samples;
    let x = id * layer.n_in;
    for (var j = 0u; j < layer_shape.n_out; j++) {
        var z = 0.0;
        for (var i = lane; i < layer.n_in; i += WG) {
            z += weight(r, k, j * layer.n_in + i) * act_in[x + i];
        }
        z = lane0_sum(at, z);
        if (lane == 0u) {
            if (layer.has_bias == 1u) { z += weight(r, k, layer.n_out * layer.n_in + j); }
            logits[id * layer.n_out + j] = z;
        }
    }
    if (lane == 0u) { sample_loss(id, r); }
    // dC/dz, written by lane 0, is read by every lane.
    storageBarrier();
    for (var i = lane; i < layer.n_in; i += WG) { error_in(id, r, k, i); }
}

@compute @workgroup_size(WG)
fn output_layer(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(workgroup_id) wid: vec3<u32>, at: Lanes) {
    let lane = at.lane;
    layer = layer_shape;
    if (BATCH_ONE == 0u && WIDE == 1u) {
        let id = wid.x + wid.y * nwg.x;
        if (id < layer_shape.runs * st.samples * st.batch) { row_errors(id, at); }
        return;
    }
    if (BATCH_ONE == 0u) {
        let id = linear_id(gid, nwg, WG);
        if (id < layer.runs * st.samples * st.batch) { sample_errors(id); }
        return;
    }
    let r = wid.x + wid.y * nwg.x;
    if (r >= layer.runs) { return; }
    if (WIDE == 1u) {
        wide_errors(r, lane);
    } else {
        for (var k = lane; k < st.samples; k += WG) { sample_errors(r * st.samples + k); }
    }
    // The samples' noise and errors, written above, are read by every lane.
    storageBarrier();
    for (var e = lane; e < layer.params; e += WG) {
        update_param(param_of(r * layer.params + e));
    }
}
