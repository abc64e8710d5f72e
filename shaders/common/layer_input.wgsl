// Where a layer's input row for (run r, sample k, example b) starts: per
// sample, or shared by the samples (the first layer's gathered image,
// [R][B][n_in]). Prepended to the generic forward and update kernels.

fn input_row(r: u32, k: u32, b: u32) -> u32 {
    if (layer.shared_input == 1u) { return (r * st.batch + b) * layer.n_in; }
    return ((r * st.samples + k) * st.batch + b) * layer.n_in;
}
