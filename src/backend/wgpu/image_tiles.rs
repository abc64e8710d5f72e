/// The nonzero pixels of tiles of `per_tile` consecutive images, for the
/// sparse first layer of evaluation (shaders/sampled_gemm.wgsl, `forward_sparse`).
/// Per tile, every pixel that is nonzero in any of its images, in original
/// pixel order, as one entry of `1 + per_tile / 4` words: the pixel, then the
/// tile's bytes of that pixel packed four to a word (zero past the last image).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageTiles {
    pub per_tile: usize,
    pub entries: Vec<u32>,
    /// Entry range of tile t: start[t]..start[t + 1].
    pub start: Vec<u32>,
}

impl ImageTiles {
    /// Words of one entry.
    pub fn words(per_tile: usize) -> usize {
        1 + per_tile.div_ceil(4)
    }

    /// Tiles of `images` (u8, `pixels` per image); None when the entries
    /// would not be indexable by u32.
    pub fn new(images: &[u8], pixels: usize, per_tile: usize) -> Option<Self> {
        let words = Self::words(per_tile);
        let mut entries = Vec::new();
        let mut start = vec![0u32];
        for tile in images.chunks(pixels * per_tile) {
            for p in 0..pixels {
                let bytes = tile.iter().skip(p).step_by(pixels);
                if bytes.clone().all(|&b| b == 0) {
                    continue;
                }
                entries.push(p as u32);
                let mut packed = vec![0u32; words - 1];
                for (m, &b) in bytes.enumerate() {
                    packed[m / 4] |= (b as u32) << (8 * (m % 4));
                }
                entries.extend(packed);
            }
            // The kernel indexes words with u32.
            u32::try_from(entries.len()).ok()?;
            start.push((entries.len() / words) as u32);
        }
        Some(ImageTiles {
            per_tile,
            entries,
            start,
        })
    }
}
