// Philox's 32x32 -> 64-bit product as (hi, lo) by one native 64-bit
// multiply (the shader-int64 feature); the same bits as mulhilo32.wgsl.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let p = u64(a) * u64(b);
    return vec2<u32>(u32(p >> 32u), u32(p & 0xfffffffflu));
}
