// The device's achievable f32 FMA rate: 8 independent vec4 FMA chains per
// invocation (enough to hide FMA latency), no memory traffic in the loop.

@group(0) @binding(0) var<storage, read_write> sink: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> iterations: vec4<u32>;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn peak(@builtin(global_invocation_id) gid: vec3<u32>) {
    let seed = f32(gid.x) * 1e-9;
    let b = vec4<f32>(0.999999, 0.999998, 0.999997, 0.999996);
    let c = vec4<f32>(1e-7) + seed;
    var a0 = vec4<f32>(seed); var a1 = a0 + 0.1; var a2 = a0 + 0.2; var a3 = a0 + 0.3;
    var a4 = a0 + 0.4; var a5 = a0 + 0.5; var a6 = a0 + 0.6; var a7 = a0 + 0.7;
    for (var i = 0u; i < iterations.x; i++) {
        a0 = fma(a0, b, c); a1 = fma(a1, b, c); a2 = fma(a2, b, c); a3 = fma(a3, b, c);
        a4 = fma(a4, b, c); a5 = fma(a5, b, c); a6 = fma(a6, b, c); a7 = fma(a7, b, c);
    }
    // Written so that no chain is dead code; the host never reads it.
    sink[gid.x] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}
