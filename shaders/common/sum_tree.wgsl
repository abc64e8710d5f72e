// Workgroup sums by a tree in workgroup memory (the fallback where the
// device has no subgroup operations; twin: common/sum_subgroup.wgsl). The
// including kernel declares `partial: array<f32, WG>` in workgroup memory
// and takes `Lanes` as an entry-point argument.

struct Lanes {
    @builtin(local_invocation_index) lane: u32,
}

// The sum of `value` over the workgroup (WG a power of two), valid in lane
// 0 only. Called by every lane in uniform control flow; the first barrier
// keeps a lane from overwriting a slot that the previous sum still reads.
fn lane0_sum(at: Lanes, value: f32) -> f32 {
    workgroupBarrier();
    partial[at.lane] = value;
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (at.lane < s) { partial[at.lane] += partial[at.lane + s]; }
    }
    var total = 0.0;
    if (at.lane == 0u) { total = partial[0]; }
    return total;
}
