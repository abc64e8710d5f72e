//! Philox4x32-10 (Salmon et al., SC'11), the one counter-based generator of
//! every noise draw and of the OOD permutation: the same stream as
//! shaders/common/structs.wgsl. Written lane-wise with 32x32 -> 64-bit
//! products so that LLVM vectorises the block form (vpmuludq on x86, umull
//! on aarch64) inside the CPU backend's multiversioned callers.

/// Counters per block of the CPU backend: two AVX-512 vectors of u32, so
/// that every step of Philox and of the Box-Muller polynomials has two
/// independent chains in flight (16 lanes: 1300 M normals/s, 32: 1670,
/// 64: spills, 1270).
pub const LANES: usize = 32;

/// The noise domains (word 3's high half of a Philox counter): training
/// draws, evaluation draws, the OOD set's permutation.
pub const DOMAIN_TRAIN: u32 = 0;
pub const DOMAIN_EVAL: u32 = 1;
pub const DOMAIN_OOD_PERMUTATION: u32 = 2;

const M0: u64 = 0xD251_1F53;
const M1: u64 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// The Philox key of a run's seed.
pub fn philox_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The outputs of counters (c0 + lane, c1, c2, c3) for lane in 0..N,
/// word-major: `out[w][lane]` is word w of that lane's result.
#[inline(always)]
pub fn philox_lanes<const N: usize>(counter: [u32; 4], key: [u32; 2]) -> [[u32; N]; 4] {
    let mut c0: [u32; N] = std::array::from_fn(|i| counter[0].wrapping_add(i as u32));
    let mut c1 = [counter[1]; N];
    let mut c2 = [counter[2]; N];
    let mut c3 = [counter[3]; N];
    let (mut k0, mut k1) = (key[0], key[1]);
    for _ in 0..10 {
        for i in 0..N {
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

/// `philox_lanes` on LANES counters: the CPU backend's block.
#[inline(always)]
pub fn philox_block(counter: [u32; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
    philox_lanes::<LANES>(counter, key)
}

/// The four output words of one counter.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    philox_lanes::<1>(counter, key).map(|[w]| w)
}
