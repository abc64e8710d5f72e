mod common;

use mesu::backend::wgpu::{GpuContext, Plan, native_int64};
use mesu::reference::{box_muller4, philox4x32_10};

#[test]
fn random123_known_answers() {
    assert_eq!(
        philox4x32_10([0; 4], [0; 2]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    // Random123's kat_vectors: all-ones counter and key, and the pi digits.
    assert_eq!(
        philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        philox4x32_10(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

/// Both products of the WGSL Philox: 16-bit halves, and the native 64-bit
/// multiply of the GPU plan where the device has shader-int64.
#[test]
fn gpu_stream_equals_rust_stream_bit_for_bit() {
    let Some(ctx) = common::gpu() else { return };
    let key = [0xdead_beef, 0x0123_4567];
    let counters: Vec<[u32; 4]> = (0..1000u32)
        .map(|i| [i, i.wrapping_mul(2_654_435_761), 7 * i + 3, u32::MAX - i])
        .chain([[0; 4], [u32::MAX; 4]])
        .collect();
    let emulated = GpuContext {
        plan: Plan::CpuAdapter,
        ..ctx.clone()
    };
    let native = GpuContext {
        plan: Plan::Gpu,
        ..ctx
    };
    assert!(!native_int64(&emulated));
    if !native_int64(&native) {
        eprintln!(
            "no shader-int64 on {}: the native product is not tested",
            native.describe()
        );
    }
    for ctx in [emulated, native] {
        let gpu = mesu::backend::wgpu::philox_on_gpu(&ctx, key, &counters).unwrap();
        for (c, g) in counters.iter().zip(&gpu) {
            assert_eq!(
                *g,
                philox4x32_10(*c, key),
                "counter {c:?}, int64 {}",
                native_int64(&ctx)
            );
        }
    }
}

#[test]
fn box_muller_gives_standard_normals() {
    let n = 50_000u32;
    let z: Vec<f64> = (0..n)
        .flat_map(|i| box_muller4(philox4x32_10([i, 0, 0, 0], [1, 2])))
        .collect();
    let mean = z.iter().sum::<f64>() / z.len() as f64;
    let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64;
    assert!(mean.abs() < 0.01, "mean {mean}");
    assert!((var - 1.0).abs() < 0.01, "variance {var}");
    assert!(z.iter().all(|v| v.is_finite()));
}
