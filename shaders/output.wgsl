// The output layer's logits -> the prediction and the entropies
// (evaluation), or the loss and its gradient (the v0 training kernels; the
// fast ones fuse the output layer in output_layer.wgsl).

@group(0) @binding(0) var<uniform> layer: Layer;      // the last layer
@group(0) @binding(1) var<storage, read> logits: array<f32>;   // [R][K][B][C]
@group(0) @binding(2) var<storage, read_write> delta: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>; // [R][K][B], accumulated
@group(0) @binding(4) var<storage, read_write> scores: array<Score>; // [R][examples]
@group(1) @binding(0) var<uniform> st: Step;

override WG: u32 = 64u;

// src/model/score.rs
struct Score {
    pred: u32,
    correct: u32,
    h_pred: f32,
    h_alea: f32,
    p_max: f32,
    p_max_correct: u32,
    ln_p_true: f32,
    brier: f32,
}

fn logits_base(r: u32, k: u32, b: u32) -> u32 {
    return ((r * st.samples + k) * st.batch + b) * layer.n_out;
}

@compute @workgroup_size(WG)
fn loss_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, WG);
    if (id >= layer.runs * st.batch) { return; }
    let r = id / st.batch;
    let b = id % st.batch;
    let y = labels[example_index(r, b)];
    for (var k = 0u; k < st.samples; k++) {
        loss[(r * st.samples + k) * st.batch + b] += cross_entropy(logits_base(r, k, b), y);
    }
}

// Log-sum-exp of the first LSE_CACHE samples, computed once per example.
const LSE_CACHE: u32 = 32u;

// Class = argmax of the mean over K of log-softmax; entropies in bits;
// the calibration terms of p = the mean over K of softmax.
@compute @workgroup_size(WG)
fn predict(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let id = linear_id(gid, nwg, WG);
    if (id >= layer.runs * st.batch) { return; }
    let r = id / st.batch;
    let b = id % st.batch;
    let n = example_index(r, b);
    let inv_k = 1.0 / f32(st.samples);
    let inv_ln2 = 1.4426950408889634;
    var lse: array<f32, LSE_CACHE>;
    var h_alea = 0.0;
    for (var k = 0u; k < st.samples; k++) {
        let base = logits_base(r, k, b);
        let l = log_sum_exp(base);
        if (k < LSE_CACHE) { lse[k] = l; }
        for (var c = 0u; c < layer.n_out; c++) {
            let lp = logits[base + c] - l;
            h_alea -= exp(lp) * lp * inv_ln2;
        }
    }
    let y = labels[n];
    var best = 0u;
    var best_score = -3.4e38;
    var h_pred = 0.0;
    var p_max = -1.0;
    var p_top = 0u;
    var ln_p_true = 0.0;
    var brier = 0.0;
    for (var c = 0u; c < layer.n_out; c++) {
        var mean_log = 0.0;
        // p_c = exp(m) * s / K with m the running maximum of the
        // log-probabilities: ln p_c stays finite where p_c underflows.
        var m = -3.4e38;
        var s = 0.0;
        for (var k = 0u; k < st.samples; k++) {
            let base = logits_base(r, k, b);
            var l = 0.0;
            if (k < LSE_CACHE) { l = lse[k]; } else { l = log_sum_exp(base); }
            let lp = logits[base + c] - l;
            mean_log += lp;
            if (lp > m) { s = s * exp(m - lp) + 1.0; m = lp; } else { s += exp(lp - m); }
        }
        mean_log *= inv_k;
        let ln_p = m + log(s * inv_k);
        let mean_p = exp(ln_p);
        if (mean_log > best_score) { best_score = mean_log; best = c; }
        if (mean_p > p_max) { p_max = mean_p; p_top = c; }
        if (mean_p > 0.0) { h_pred -= mean_p * ln_p * inv_ln2; }
        if (c == y) { ln_p_true = ln_p; }
        let miss = mean_p - select(0.0, 1.0, c == y);
        brier += miss * miss;
    }
    // One sample: the predictive distribution is that sample's, so the
    // epistemic part is exactly 0, not the rounding of two formulas.
    if (st.samples == 1u) { h_pred = h_alea; }
    scores[r * st.examples + st.pos + b] = Score(best, select(0u, 1u, best == y), h_pred,
        h_alea * inv_k, p_max, select(0u, 1u, p_top == y), ln_p_true, brier);
}
