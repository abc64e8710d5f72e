// Input side shared by the kernels of the first layer: the u8 images live on
// the GPU once; the per-task permutation gather and the standardisation
// happen here, per read.

@group(0) @binding(10) var<storage, read> images: array<u32>; // u8 pixels, 4 per word
@group(0) @binding(11) var<storage, read> order: array<u32>;  // example sequence per run
@group(0) @binding(12) var<storage, read> perm: array<u32>;   // [R][pixels]
@group(0) @binding(13) var<storage, read> labels: array<u32>;

fn example_index(r: u32, b: u32) -> u32 {
    return order[r * st.order_stride + st.pos + b];
}

// Standardised pixel i of the permuted image `img` for run r.
fn pixel(img: u32, r: u32, i: u32, pixels: u32) -> f32 {
    let off = img * pixels + perm[r * pixels + i];
    let byte = (images[off >> 2u] >> ((off & 3u) * 8u)) & 0xffu;
    return f32(byte) * st.x_scale + st.x_shift;
}

// Pixels 4q..4q+3 of `img` for run r.
fn pixel_quad(img: u32, r: u32, q: u32, pixels: u32) -> vec4<f32> {
    let i = q * 4u;
    return vec4<f32>(pixel(img, r, i, pixels), pixel(img, r, i + 1u, pixels),
                     pixel(img, r, i + 2u, pixels), pixel(img, r, i + 3u, pixels));
}
