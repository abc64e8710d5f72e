// Softmax over the classes of one logit row (`logits[base..base + n_out]`
// of the last layer). Prepended to the kernels that turn logits into a loss
// or a prediction.

fn log_sum_exp(base: u32) -> f32 {
    var m = logits[base];
    for (var c = 1u; c < layer.n_out; c++) { m = max(m, logits[base + c]); }
    var s = 0.0;
    for (var c = 0u; c < layer.n_out; c++) { s += exp(logits[base + c] - m); }
    return m + log(s);
}

// The cross-entropy of class y for the row at `base`, with dC/dz = softmax -
// onehot written to `delta` (the 1/K over samples is applied in the update).
fn cross_entropy(base: u32, y: u32) -> f32 {
    let lse = log_sum_exp(base);
    for (var c = 0u; c < layer.n_out; c++) {
        delta[base + c] = exp(logits[base + c] - lse) - select(0.0, 1.0, c == y);
    }
    return lse - logits[base + y];
}
