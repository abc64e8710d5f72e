// Shared by every kernel: parameter structs, Philox4x32-10 and Box-Muller.
// Prepended to each kernel file by src/backend/wgpu/shader.rs.

// One training step or one evaluation chunk (uniform; one bind group per
// slot of the step uniforms, see `Kernel::step_groups`).
struct Step {
    step: u32,          // noise counter: global training step or evaluation index
    pos: u32,           // index into `order` of this batch's first example
    batch: u32,         // B: examples in this dispatch
    samples: u32,       // K: weight samples
    domain: u32,        // 0 = training noise, 1 = evaluation noise
    order_stride: u32,  // per-run stride into `order` (0: all runs share it)
    x_scale: f32,       // pixel byte -> standardised input: byte * x_scale + x_shift
    x_shift: f32,
    examples: u32,      // examples in the split: stride of per-example outputs
    x_half: u32,        // batch-1 training: the half of x0 (two inputs) this step reads
    _pad0: u32,
    _pad1: u32,
}

// Static shape of one layer for R runs.
struct Layer {
    n_in: u32,
    n_out: u32,
    params: u32,        // P = n_out * n_in (+ n_out bias), per run
    has_bias: u32,
    index: u32,
    n_layers: u32,
    runs: u32,
    relu: u32,          // 1: ReLU after this layer (all but the last)
    stride: u32,        // per-run (and per-sample) stride of mu, sigma, eps: P rounded up to 4
    shared_input: u32,  // 1: the input is [R][B][n_in], the same for every sample (layer 0)
    _pad1: u32,
    _pad2: u32,
}

// Per-run hyperparameters (see src/optim).
struct Run {
    key0: u32,
    key1: u32,
    optimizer: u32,     // 0 MESU, 1 BGD, 2 BGD as published (sign flipped), 3 SGD,
                        // 4 online EWC, 5 stream EWC, 6 SI
    step_pass: u32,     // 0 train, 1 Fisher pass (online EWC's task end), 2 hold
    lr_mu: f32,
    lr_sigma: f32,
    mu_prior: f32,
    sigma_prior_sq: f32,
    inv_n_prior: f32,   // 1 / (N * sigma_prior^2)
    clamp_grad: f32,
    strength: f32,      // the penalty gradient's coefficient: EWC lambda, SI 2c
    gamma: f32,         // EWC's decay of F
    xi: f32,            // SI's damping
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}

// Linear invocation index for 2D dispatches (x capped at 65535 workgroups).
fn linear_id(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 {
    return gid.x + gid.y * nwg.x * wg;
}

// first + 0..3, indices past `end` replaced by the last valid one (the
// rows or columns of a register block that overhang a matrix).
fn quad(first: u32, end: u32) -> vec4<u32> {
    return min(vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(end - 1u));
}

// mulhilo(a, b), the 32x32 -> 64-bit product as (hi, lo), comes from
// common/mulhilo32.wgsl or common/mulhilo64.wgsl (shader.rs picks one).

// Philox4x32-10 (Salmon et al., SC'11).
fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

// Counter of the noise of element group `group` (4 elements) of one layer.
fn noise_counter(group: u32, sample: u32, step: u32, layer: u32, domain: u32) -> vec4<u32> {
    return vec4<u32>(group, sample, step, layer | (domain << 16u));
}

// Four standard normals from four u32 by two Box-Muller transforms.
fn box_muller4(x: vec4<u32>) -> vec4<f32> {
    let scale = 5.9604644775390625e-8; // 2^-24
    let u1a = f32((x.x >> 8u) + 1u) * scale; // (0, 1]: log never sees 0
    let u2a = f32(x.y >> 8u) * scale;        // [0, 1)
    let u1b = f32((x.z >> 8u) + 1u) * scale;
    let u2b = f32(x.w >> 8u) * scale;
    let two_pi = 6.283185307179586;
    let ra = sqrt(-2.0 * log(u1a));
    let rb = sqrt(-2.0 * log(u1b));
    return vec4<f32>(ra * cos(two_pi * u2a), ra * sin(two_pi * u2a),
                     rb * cos(two_pi * u2b), rb * sin(two_pi * u2b));
}
