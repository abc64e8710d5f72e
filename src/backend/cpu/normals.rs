//! Standard normals as the WGSL `box_muller4` draws them, in f32 with
//! branch-free polynomial log (a 6-term fit) and sincos (Cephes) that LLVM
//! vectorises. Max error against f64 Box-Muller on the same u32: see
//! docs/cpu-backend.md and tests/cpu_backend.rs.

use multiversion::multiversion;

use crate::philox::{LANES, philox_block};

/// Normals per Philox block: four per counter.
pub const BLOCK: usize = 4 * LANES;

/// 2^-24: a 24-bit integer to [0, 1).
const SCALE: f32 = 5.960_464_5e-8;

/// ln(x) for x in (0, 1] (Cephes logf; no special cases needed there).
#[inline(always)]
fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) as i32) - 126;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = m < std::f32::consts::FRAC_1_SQRT_2;
    let e = (e - small as i32) as f32;
    let m = if small { m + m - 1.0 } else { m - 1.0 };
    let z = m * m;
    // Six coefficients where Cephes has nine: a least-squares fit of
    // (ln(1 + m) - m + m^2/2) / m^3 on Chebyshev nodes of the m range,
    // weighted for relative error. The same max error of sqrt(-2 ln u) as
    // Cephes over 4M draws (3.5e-7, the f32 rounding), relative 2.1e-7.
    let mut y = -1.006_938_8e-1;
    for c in [
        1.598_767_3e-1,
        -1.715_499_8e-1,
        1.992_809_9e-1,
        -2.498_255e-1,
        3.333_421e-1,
    ] {
        y = y * m + c;
    }
    let y = m * z * y + e * -2.121_944_4e-4 - 0.5 * z;
    (m + y) + e * 0.693_359_4
}

/// (cos, sin) of 2 pi u for u = n * 2^-24, n a 24-bit integer: the
/// quadrant comes exactly from n, the rest is within +-pi/4.
#[inline(always)]
fn cos_sin_turns(n: u32) -> (f32, f32) {
    let q = (n + (1 << 21)) >> 22;
    let f = (n as i32 - (q << 22) as i32) as f32;
    let x = f * (std::f32::consts::TAU * SCALE);
    let z = x * x;
    let s = ((-1.951_529_6e-4 * z + 8.332_161e-3) * z - 1.666_665_5e-1) * z * x + x;
    let c = ((2.443_315_7e-5 * z - 1.388_731_6e-3) * z + 4.166_664_6e-2) * z * z - 0.5 * z + 1.0;
    let swap = q & 1 == 1;
    let (c, s) = if swap { (s, c) } else { (c, s) };
    let cos = f32::from_bits(c.to_bits() ^ (((q + 1) & 2) << 30));
    let sin = f32::from_bits(s.to_bits() ^ ((q & 2) << 30));
    (cos, sin)
}

/// Box-Muller on LANES pairs of words (a, b): (r cos, r sin) with
/// r = sqrt(-2 ln u1), u1 from a and the angle from b.
#[inline(always)]
fn box_muller(a: &[u32; LANES], b: &[u32; LANES]) -> ([f32; LANES], [f32; LANES]) {
    let mut z0 = [0f32; LANES];
    let mut z1 = [0f32; LANES];
    for i in 0..LANES {
        let u1 = ((a[i] >> 8) + 1) as i32 as f32 * SCALE;
        let r = (-2.0 * ln(u1)).sqrt();
        let (c, s) = cos_sin_turns(b[i] >> 8);
        z0[i] = r * c;
        z1[i] = r * s;
    }
    (z0, z1)
}

/// The BLOCK normals of counters (group0 + 0..LANES, rest): element 4g + j is
/// box_muller4(philox(group0 + g, ...))[j].
#[inline(always)]
fn block(group0: u32, rest: [u32; 3], key: [u32; 2], out: &mut [f32; BLOCK]) {
    let [x0, x1, x2, x3] = philox_block([group0, rest[0], rest[1], rest[2]], key);
    // Words (0, 1) and (2, 3) apart, each a plain lane loop (selecting
    // between them per lane made LLVM gather).
    let (a0, a1) = box_muller(&x0, &x1);
    let (b0, b1) = box_muller(&x2, &x3);
    for g in 0..LANES {
        out[4 * g] = a0[g];
        out[4 * g + 1] = a1[g];
        out[4 * g + 2] = b0[g];
        out[4 * g + 3] = b1[g];
    }
}

/// Elements first.. of one noise row: out[i] = eps of element first + i
/// under counter (e / 4, rest[0] = sample, rest[1] = step, rest[2] =
/// layer | domain << 16). Fastest when `first` is a multiple of BLOCK.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub fn fill_normals(out: &mut [f32], first: usize, rest: [u32; 3], key: [u32; 2]) {
    let mut buf = [0f32; BLOCK];
    let mut e = first;
    let mut done = 0;
    while done < out.len() {
        let base = e / BLOCK * BLOCK;
        let skip = e - base;
        let take = (BLOCK - skip).min(out.len() - done);
        if take == BLOCK {
            // Whole blocks straight into the output.
            let dst = (&mut out[done..done + BLOCK]).try_into().unwrap();
            block((base / 4) as u32, rest, key, dst);
        } else {
            block((base / 4) as u32, rest, key, &mut buf);
            out[done..done + take].copy_from_slice(&buf[skip..skip + take]);
        }
        done += take;
        e += take;
    }
}
