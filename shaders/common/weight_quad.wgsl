// Sampled weights w = mu + sigma * eps formed where a GEMM stages them, never
// stored (the expression of forward.wgsl and sample_weights, so the values
// are the same f32). The including kernel binds `mu4` and `sigma4`, the
// layer's [R][stride] as vec4, and common/eps_quad.wgsl.

// Quad g of run r's parameters in sample rk = r * K + k.
fn weight_quad(r: u32, rk: u32, g: u32) -> vec4<f32> {
    let m = r * (layer.stride / 4u) + g;
    return mu4[m] + sigma4[m] * eps_quad(rk, g);
}

// Parameters e..e+3 of run r in sample rk at any alignment: one quad, or
// the two it straddles. Past the run's parameters it reads its last quad
// (callers mask those lanes).
fn weights4(r: u32, rk: u32, e: u32) -> vec4<f32> {
    let last = layer.stride / 4u - 1u;
    let lo = weight_quad(r, rk, min(e / 4u, last));
    if (e % 4u == 0u) { return lo; }
    let hi = weight_quad(r, rk, min(e / 4u + 1u, last));
    switch e % 4u {
        case 1u: { return vec4<f32>(lo.yzw, hi.x); }
        case 2u: { return vec4<f32>(lo.zw, hi.xy); }
        default: { return vec4<f32>(lo.w, hi.xyz); }
    }
}

// The weights of output j from inputs i..i+3, zero past either end.
fn row_weights(r: u32, rk: u32, j: u32, i: u32) -> vec4<f32> {
    if (j >= layer.n_out || i >= layer.n_in) { return vec4<f32>(0.0); }
    let inside = vec4<u32>(i) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(layer.n_in);
    return select(vec4<f32>(0.0), weights4(r, rk, j * layer.n_in + i), inside);
}
