// The 4 normals of quad g (parameters 4g..4g+3) of one layer for sample
// rk = r * K + k: the one place the tiled GEMMs and the GEMM update read
// the noise, so that its source can change (stored by the noise launch, or
// drawn again from its Philox counter). The including kernel binds `eps4`,
// the layer's noise [R][K][stride] as vec4.
fn eps_quad(rk: u32, g: u32) -> vec4<f32> {
    return eps4[rk * (layer.stride / 4u) + g];
}
