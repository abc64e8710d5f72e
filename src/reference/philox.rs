/// Philox4x32-10 (Salmon et al., SC'11), the generator of shaders/common/structs.wgsl.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for _ in 0..10 {
        let p0 = 0xD251_1F53u64 * c[0] as u64;
        let p1 = 0xCD9E_8D57u64 * c[2] as u64;
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k = [
            k[0].wrapping_add(0x9E37_79B9),
            k[1].wrapping_add(0xBB67_AE85),
        ];
    }
    c
}

/// Four standard normals from four u32, as the WGSL `box_muller4` (in f64).
pub fn box_muller4(x: [u32; 4]) -> [f64; 4] {
    let scale = 2f64.powi(-24);
    let pair = |a: u32, b: u32| {
        let u1 = ((a >> 8) + 1) as f64 * scale;
        let u2 = (b >> 8) as f64 * scale;
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        (r * t.cos(), r * t.sin())
    };
    let (z0, z1) = pair(x[0], x[1]);
    let (z2, z3) = pair(x[2], x[3]);
    [z0, z1, z2, z3]
}

/// eps of element `e` of `layer`, sample `sample`, at noise counter `step`.
pub fn noise(key: [u32; 2], step: u32, layer: u32, domain: u32, sample: u32, e: usize) -> f64 {
    let c = [(e / 4) as u32, sample, step, layer | (domain << 16)];
    box_muller4(philox4x32_10(c, key))[e % 4]
}

/// The whole noise of one layer: [K][P].
pub fn layer_noise(
    key: [u32; 2],
    step: u32,
    layer: u32,
    domain: u32,
    samples: usize,
    params: usize,
) -> Vec<Vec<f64>> {
    (0..samples)
        .map(|k| {
            (0..params)
                .map(|e| noise(key, step, layer, domain, k as u32, e))
                .collect()
        })
        .collect()
}
