//! The f64 noise of the kernels: Box-Muller on the production Philox stream.

use crate::philox::philox4x32_10;

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
