//! The peak-rate kernel the benchmarks divide by.

mod common;

#[test]
fn peak_kernel_reports_a_finite_positive_rate() {
    let Some(ctx) = common::gpu() else { return };
    let gflops = mesu::gpu::peak_gflops(&ctx, 4096, 256, 3).unwrap();
    println!("peak {gflops:.1} GFLOP/s on {}", ctx.describe());
    assert!(gflops.is_finite() && gflops > 0.0, "{gflops}");
}
