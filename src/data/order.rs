//! The evaluation order of a split: similar images side by side.

/// Most images a nearest-neighbour chain is built over at once: the chain
/// costs O(n^2) distances, so a large split is ordered in blocks.
const CHAIN_BLOCK: usize = 2048;

/// An evaluation order that puts similar images in the same tile, so that a
/// tile's union of nonzero pixels (the first layer's work) shrinks: the
/// images of each label in turn, each label's as a greedy nearest-neighbour
/// chain in Hamming distance between their nonzero-pixel masks (MNIST test
/// split: 354 -> 240 pixels per tile of 8). Order only schedules the work:
/// an image's sums walk its tile's pixels in pixel order, and the pixels it
/// lacks add exact zeros, so its logits are the same bits in any tile.
pub fn similarity_order(images: &[u8], labels: &[u8], pixels: usize) -> Vec<u32> {
    let words = pixels.div_ceil(64);
    let masks: Vec<u64> = images
        .chunks(pixels)
        .flat_map(|img| {
            (0..words).map(move |w| {
                img.iter()
                    .skip(64 * w)
                    .take(64)
                    .enumerate()
                    .fold(0u64, |m, (b, &p)| m | u64::from(p != 0) << b)
            })
        })
        .collect();
    let mask = |i: u32| &masks[i as usize * words..(i as usize + 1) * words];
    let distance = |a: u32, b: u32| -> u32 {
        mask(a)
            .iter()
            .zip(mask(b))
            .map(|(x, y)| (x ^ y).count_ones())
            .sum()
    };
    let mut by_label: Vec<Vec<u32>> = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        let l = usize::from(l);
        if by_label.len() <= l {
            by_label.resize(l + 1, Vec::new());
        }
        by_label[l].push(i as u32);
    }
    let mut order = Vec::with_capacity(labels.len());
    for block in by_label.iter().flat_map(|ids| ids.chunks(CHAIN_BLOCK)) {
        let mut left = block[1..].to_vec();
        let mut last = block[0];
        order.push(last);
        while !left.is_empty() {
            // The nearest remaining image; ties go to the earliest in file order.
            let (k, _) = left
                .iter()
                .enumerate()
                .min_by_key(|&(_, &j)| (distance(last, j), j))
                .expect("left is not empty");
            last = left.swap_remove(k);
            order.push(last);
        }
    }
    order
}
