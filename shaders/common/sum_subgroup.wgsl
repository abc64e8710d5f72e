// Workgroup sums through subgroup operations where the device has them
// (twin: common/sum_tree.wgsl, the same contract): one subgroupAdd per
// subgroup, then lane 0 adds the subgroups' sums, two barriers instead of
// log2(WG) + 1.

struct Lanes {
    @builtin(local_invocation_index) lane: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(num_subgroups) n_sg: u32,
}

fn lane0_sum(at: Lanes, value: f32) -> f32 {
    let s = subgroupAdd(value);
    workgroupBarrier();
    if (at.sg_lane == 0u) { partial[at.sg] = s; }
    workgroupBarrier();
    var total = 0.0;
    if (at.lane == 0u) {
        for (var i = 0u; i < at.n_sg; i++) { total += partial[i]; }
    }
    return total;
}
