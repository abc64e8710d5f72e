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
