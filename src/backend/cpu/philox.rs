//! Philox4x32-10 (Salmon et al., SC'11) on LANES consecutive counters at
//! once, the generator of shaders/common.wgsl. Written lane-wise with
//! 32x32 -> 64-bit products so that LLVM vectorises it (vpmuludq on x86,
//! umull on aarch64) inside the multiversioned callers.

/// Counters per block: two AVX-512 vectors of u32, so that every step of
/// Philox and of the Box-Muller polynomials has two independent chains in
/// flight (16 lanes: 1300 M normals/s, 32: 1670, 64: spills, 1270).
pub const LANES: usize = 32;

const M0: u64 = 0xD251_1F53;
const M1: u64 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// The outputs of counters (c0 + lane, c1, c2, c3) for lane in 0..LANES,
/// word-major: `out[w][lane]` is word w of that lane's result.
#[inline(always)]
pub fn philox_block(counter: [u32; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
    let mut c0: [u32; LANES] = std::array::from_fn(|i| counter[0].wrapping_add(i as u32));
    let mut c1 = [counter[1]; LANES];
    let mut c2 = [counter[2]; LANES];
    let mut c3 = [counter[3]; LANES];
    let (mut k0, mut k1) = (key[0], key[1]);
    for _ in 0..10 {
        for i in 0..LANES {
            // High and low halves apart: LLVM lowers the high one as a
            // vector mulhu (even/odd vpmuludq) and the low one as vpmulld.
            let hi0 = ((M0 * c0[i] as u64) >> 32) as u32;
            let hi1 = ((M1 * c2[i] as u64) >> 32) as u32;
            let lo0 = c0[i].wrapping_mul(M0 as u32);
            let lo1 = c2[i].wrapping_mul(M1 as u32);
            c0[i] = hi1 ^ c1[i] ^ k0;
            c1[i] = lo1;
            c2[i] = hi0 ^ c3[i] ^ k1;
            c3[i] = lo0;
        }
        k0 = k0.wrapping_add(W0);
        k1 = k1.wrapping_add(W1);
    }
    [c0, c1, c2, c3]
}
