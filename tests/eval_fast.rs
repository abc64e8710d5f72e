//! The fast evaluation kernels against the f64 reference and against the V0
//! kernels, at awkward shapes: chunks and splits that end inside an image
//! tile, widths that are not multiples of 4, 1 to 3 runs, bias on and off,
//! inputs from MNIST-sparse to dense, outputs poisoned with NaN first.

mod common;

use common::{calibration_error, mnist, random_split, reference_predictions, rel_err, to_f64};
use mesu::backend::wgpu::{Engine, EvalKernels, ImageTiles, Kernels, Plan};
use mesu::data::similarity_order;
use mesu::data::{PIXELS, Split};
use mesu::model::{Architecture, EngineConfig, EvalResult, Params};
use mesu::optim::{Hyper, RunSpec};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};

const TOL: f64 = 1e-5;

struct Case {
    hidden: &'static [usize],
    bias: bool,
    runs: usize,
    samples: usize,
    chunk: usize,
    images: usize,
    /// Fraction of pixels set to zero (MNIST: 0.81, Fashion-MNIST: 0.5).
    zeros: f64,
}

fn split(n: usize, zeros: f64, seed: u64) -> Split {
    let mut s = random_split(n, seed);
    let mut rng = StdRng::seed_from_u64(seed + 1);
    for b in s.images.iter_mut() {
        if rng.random_bool(zeros) {
            *b = 0;
        }
    }
    s
}

fn evaluate(
    c: &Case,
    (kernels, plan): (EvalKernels, Plan),
    params: &[Params],
    test: &Split,
    perms: &[Vec<u32>],
) -> Vec<EvalResult> {
    let mut ctx = common::gpu().expect("checked by the caller");
    ctx.plan = plan;
    let arch = Architecture::new(PIXELS, c.hidden, 10, c.bias).unwrap();
    let runs = (0..c.runs as u64)
        .map(|s| RunSpec {
            seed: 21 + s,
            hyper: Hyper::default(),
        })
        .collect();
    let cfg = EngineConfig {
        test_samples: c.samples,
        eval_chunk: c.chunk,
        ..Default::default()
    };
    let kernels = Kernels {
        eval: kernels,
        ..Default::default()
    };
    let mut engine = Engine::with_kernels(ctx, arch, runs, cfg, kernels).unwrap();
    engine.set_params(params).unwrap();
    let set = engine.add_eval_set(test).unwrap();
    engine.poison_eval(set);
    engine.evaluate(set, perms, 3).unwrap()
}

fn check(c: Case) {
    if common::gpu().is_none() {
        return;
    }
    let arch = Architecture::new(PIXELS, c.hidden, 10, c.bias).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let params: Vec<Params> = (0..c.runs as u64)
        .map(|r| {
            let mut p = Params::init(&arch, 70 + r, true);
            for s in p.sigma.iter_mut().flatten() {
                *s = rng.random_range(0.02..0.3);
            }
            p
        })
        .collect();
    let test = split(c.images, c.zeros, 9);
    let perms: Vec<Vec<u32>> = (0..c.runs)
        .map(|_| {
            let mut p: Vec<u32> = (0..PIXELS as u32).collect();
            p.shuffle(&mut rng);
            p
        })
        .collect();
    let fast = evaluate(
        &c,
        (EvalKernels::Fast, Plan::CpuAdapter),
        &params,
        &test,
        &perms,
    );
    let v0 = evaluate(
        &c,
        (EvalKernels::V0, Plan::CpuAdapter),
        &params,
        &test,
        &perms,
    );
    // The GPU plan: the tiled GEMM; v0's first layer as workgroup rows.
    let tiled = evaluate(&c, (EvalKernels::Fast, Plan::Gpu), &params, &test, &perms);
    let v0_rows = evaluate(&c, (EvalKernels::V0, Plan::Gpu), &params, &test, &perms);
    for r in 0..c.runs {
        let pred = reference_predictions(
            &arch,
            &params[r],
            21 + r as u64,
            3,
            c.samples,
            &test,
            &perms[r],
        );
        let preds: Vec<u32> = pred.iter().map(|p| p.pred as u32).collect();
        let h_ref: Vec<f64> = pred.iter().flat_map(|p| [p.h_pred, p.h_alea]).collect();
        let entropies = |res: &EvalResult| -> Vec<f32> {
            res.scores
                .iter()
                .flat_map(|s| [s.h_pred, s.h_alea])
                .collect()
        };
        for (name, res) in [
            ("fast", &fast[r]),
            ("v0", &v0[r]),
            ("tiled", &tiled[r]),
            ("v0 rows", &v0_rows[r]),
        ] {
            let got: Vec<u32> = res.scores.iter().map(|s| s.pred).collect();
            assert_eq!(
                got, preds,
                "{name}, run {r}: predictions differ from the reference"
            );
            let err = rel_err(&entropies(res), &h_ref);
            let cal = calibration_error(&res.scores, &pred, &test.labels);
            println!(
                "{} {name} run {r}: max relative error: entropies {err:.2e}, calibration terms {cal:.2e}",
                arch.describe()
            );
            assert!(
                err < TOL,
                "{name}: relative error {err:.2e} exceeds {TOL:.0e}"
            );
            assert!(
                cal < TOL,
                "{name}: calibration terms: relative error {cal:.2e} exceeds {TOL:.0e}"
            );
        }
        assert_eq!(fast[r].correct, v0[r].correct);
        let err = rel_err(&entropies(&fast[r]), &to_f64(&entropies(&v0[r])));
        assert!(err < TOL, "fast vs v0: relative error {err:.2e}");
    }
}

#[test]
fn fast_matches_reference_two_hidden_layers_with_bias_three_runs() {
    check(Case {
        hidden: &[37, 13],
        bias: true,
        runs: 3,
        samples: 3,
        chunk: 21,
        images: 29,
        zeros: 0.81,
    });
}

#[test]
fn fast_matches_reference_dense_input_no_bias() {
    check(Case {
        hidden: &[13],
        bias: false,
        runs: 2,
        samples: 5,
        chunk: 9,
        images: 19,
        zeros: 0.5,
    });
}

/// The GPU plan's tiled hidden-layer GEMM past one 64 x 64 tile: chunks of
/// 72 images (a last one of 28), 13 inputs to 70 outputs, then 70 inputs.
#[test]
fn fast_matches_reference_past_one_tile() {
    check(Case {
        hidden: &[13, 70],
        bias: false,
        runs: 2,
        samples: 3,
        chunk: 72,
        images: 100,
        zeros: 0.81,
    });
}

#[test]
fn fast_matches_reference_without_hidden_layer() {
    check(Case {
        hidden: &[],
        bias: true,
        runs: 2,
        samples: 4,
        chunk: 100,
        images: 11,
        zeros: 0.0,
    });
}

#[test]
fn image_tiles_list_the_nonzero_pixels_of_each_tile() {
    let pixels = 3;
    // Image 0: pixels (0, 5, 0); images 1..8 zero but image 2 pixel 2 = 7;
    // image 8 (second tile, alone): pixel 0 = 9.
    let mut images = vec![0u8; 9 * pixels];
    images[1] = 5;
    images[2 * pixels + 2] = 7;
    images[8 * pixels] = 9;
    let t = ImageTiles::new(&images, pixels, 8).unwrap();
    assert_eq!(t.start, vec![0, 2, 3]);
    assert_eq!(t.entries, vec![1, 5, 0, 2, 7 << 16, 0, 0, 9, 0]);
}

/// Mean count of a tile's nonzero pixels (the first layer's work per tile)
/// with the images in `order`.
fn pixels_per_tile(split: &Split, order: &[u32]) -> f64 {
    let slots: Vec<u8> = order
        .iter()
        .flat_map(|&n| &split.images[n as usize * PIXELS..(n as usize + 1) * PIXELS])
        .copied()
        .collect();
    let t = ImageTiles::new(&slots, PIXELS, 8).unwrap();
    t.start.last().copied().unwrap() as f64 / (t.start.len() - 1) as f64
}

#[test]
fn similarity_order_groups_labels_and_shrinks_mnist_tiles() {
    // Two labels; within label 0, images 0 and 3 are identical, 2 far away.
    let pixels = 4;
    let images = [
        [1, 1, 0, 0], // 0, label 0
        [0, 0, 0, 9], // 1, label 1
        [0, 0, 9, 9], // 2, label 0
        [1, 1, 0, 0], // 3, label 0
        [1, 0, 0, 0], // 4, label 0
    ]
    .concat();
    let order = similarity_order(&images, &[0, 1, 0, 0, 0], pixels);
    assert_eq!(order, [0, 3, 4, 2, 1]);

    // The real test split: a permutation of it, tiles of 8 that share more
    // pixels than in file order (354 -> 240 on average).
    let test = mnist().test;
    let order = similarity_order(&test.images, &test.labels, PIXELS);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert!(sorted.iter().copied().eq(0..test.len() as u32));
    let file_order: Vec<u32> = (0..test.len() as u32).collect();
    let (before, after) = (
        pixels_per_tile(&test, &file_order),
        pixels_per_tile(&test, &order),
    );
    assert!(before > 350.0 && after < 245.0, "{before} -> {after}");
}
