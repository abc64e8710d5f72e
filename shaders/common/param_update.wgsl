// The fused update of one parameter of any layer: forms g_mu = 1/K sum_k
// dL_k/dw and g_sigma = 1/K sum_k eps_k dL_k/dw from the step's errors and
// inputs (dL_k/dw[j][i] = sum_b delta_k[b][j] x_k[b][i]), then updates mu and
// sigma in place from their old values. The including kernel binds layer,
// st, runs, mu, sigma, penalty, delta, act_in and bad, and defines
// noise_at(p, k).

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

fn update_param(p: Param) {
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
    let run = runs[p.r];
    let w = p.r * layer.stride + p.e;
    let ms = rule(run, mu[w], sigma[w], gm, gs, st.samples, w);
    mu[w] = ms.x;
    sigma[w] = ms.y;
    if (!healthy(ms)) {
        atomicMin(&bad[p.r * layer.n_layers + layer.index], st.step);
    }
}
