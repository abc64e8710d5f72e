//! The peak-rate kernel the benchmarks divide by.

mod common;

#[test]
fn peak_kernel_reports_a_finite_positive_rate() {
    let Some(ctx) = common::gpu() else { return };
    let gflops = mesu::backend::wgpu::peak_gflops(&ctx, 4096, 256, 3).unwrap();
    println!("peak {gflops:.1} GFLOP/s on {}", ctx.describe());
    assert!(gflops.is_finite() && gflops > 0.0, "{gflops}");
}

#[test]
fn dispatch_overhead_is_measured_per_launch() {
    let Some(ctx) = common::gpu() else { return };
    let us = mesu::backend::wgpu::dispatch_overhead_us(&ctx, 200, 3).unwrap();
    println!("{us:.1} us per empty dispatch on {}", ctx.describe());
    // A launch costs something, and far less than the 0.1 s a hung submit would.
    assert!(us.is_finite() && us > 0.0 && us < 1e5, "{us}");
}
